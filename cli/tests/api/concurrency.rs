//! Optimistic concurrency: `If-Match` preconditions, and racing writers that never lose
//! an update.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

const RACERS: usize = 10;

#[tokio::test]
async fn a_stale_if_match_is_a_412_and_a_current_one_succeeds() {
    let app = spawn_app().await;
    let agent = app.an_agent("guarded").await;
    app.command_ok(agent.id, "config", &json!({"description": "v2"}))
        .await;
    let path = format!("/v1/agents/{}/config", agent.id);

    let stale = app
        .post(
            &path,
            &json!({"description": "v3?"}),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "version-mismatch");
    let ahead = app
        .post(
            &path,
            &json!({"description": "v3?"}),
            &[("if-match", "\"9\"")],
        )
        .await;
    ahead.assert_problem(StatusCode::PRECONDITION_FAILED, "version-mismatch");
    assert_eq!(app.event_count().await, 2);

    // If-Match compares strongly: a weak tag never matches, even with the right version.
    app.post(
        &path,
        &json!({"description": "weak"}),
        &[("if-match", "W/\"2\"")],
    )
    .await
    .assert_problem(StatusCode::PRECONDITION_FAILED, "version-mismatch");
    for (if_match, version) in [("\"2\"", 3), ("\"3\"", 4), ("4", 5), ("*", 6)] {
        let reply = app
            .post(
                &path,
                &json!({"description": if_match}),
                &[("if-match", if_match)],
            )
            .await;
        assert_eq!(
            reply.accepted(StatusCode::OK).version,
            version,
            "{if_match}"
        );
    }
    let pause = format!("/v1/agents/{}/pause", agent.id);
    app.post(&pause, &json!({}), &[("if-match", "\"5\"")])
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "version-mismatch");
    app.post(&pause, &json!({}), &[("if-match", "\"6\"")])
        .await
        .accepted(StatusCode::OK);

    app.stop().await;
}

#[tokio::test]
async fn racing_updates_without_if_match_lose_nothing() {
    let app = spawn_app().await;
    let agent = app.an_agent("contested").await;
    let path = format!("/v1/agents/{}/config", agent.id);
    let bodies: Vec<_> = (0..RACERS)
        .map(|i| json!({"name": format!("racer-{i}")}))
        .collect();

    let replies = join_all(bodies.iter().map(|body| app.post(&path, body, &[]))).await;

    let mut winners = Vec::new();
    for reply in &replies {
        match reply.status {
            StatusCode::OK => winners.push(reply.accepted(StatusCode::OK)),
            StatusCode::CONFLICT => {
                reply.assert_problem(StatusCode::CONFLICT, "conflict");
            }
            other => panic!("a racing update answered {other}: {}", reply.text),
        }
    }
    assert!(!winners.is_empty(), "at least one update goes through");
    let mut versions: Vec<u64> = winners.iter().map(|w| w.version).collect();
    versions.sort_unstable();
    let expected: Vec<u64> = (2..2 + winners.len() as u64).collect();
    assert_eq!(versions, expected, "each winner got its own version");
    let last = winners.iter().max_by_key(|w| w.version).expect("a winner");
    assert_eq!(app.event_count().await, 1 + winners.len() as i64);
    let view = app.read_agent(agent.id, &last.token).await;
    assert_eq!(view.body["version"], 1 + winners.len() as u64);
    assert_eq!(view.body["config_version"], 1 + winners.len() as u64);

    app.stop().await;
}

#[tokio::test]
async fn racing_updates_with_the_same_if_match_let_exactly_one_win() {
    let app = spawn_app().await;
    let agent = app.an_agent("contested").await;
    let path = format!("/v1/agents/{}/config", agent.id);
    let bodies: Vec<_> = (0..RACERS)
        .map(|i| json!({"name": format!("racer-{i}")}))
        .collect();

    let replies = join_all(
        bodies
            .iter()
            .map(|body| app.post(&path, body, &[("if-match", "\"1\"")])),
    )
    .await;

    let mut winners = Vec::new();
    for reply in &replies {
        match reply.status {
            StatusCode::OK => winners.push(reply.accepted(StatusCode::OK)),
            StatusCode::CONFLICT => {
                reply.assert_problem(StatusCode::CONFLICT, "conflict");
            }
            StatusCode::PRECONDITION_FAILED => {
                reply.assert_problem(StatusCode::PRECONDITION_FAILED, "version-mismatch");
            }
            other => panic!("a racing update answered {other}: {}", reply.text),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update wins");
    assert_eq!(winners[0].version, 2);
    assert_eq!(app.event_count().await, 2);
    let view = app.read_agent(agent.id, &winners[0].token).await;
    let winner_name = view.body["name"].as_str().expect("name");
    assert!(winner_name.starts_with("racer-"));

    app.stop().await;
}
