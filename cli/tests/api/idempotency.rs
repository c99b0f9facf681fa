//! `Idempotency-Key`: a retried request gets the first answer and appends nothing.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{agent_body, spawn_app};

const RETRIES: usize = 8;

#[tokio::test]
async fn a_retried_create_gets_the_first_answer_and_appends_nothing() {
    let app = spawn_app().await;
    let body = agent_body("once");
    let key = [("idempotency-key", "create-once-1")];

    let first = app.post("/v1/agents", &body, &key).await;
    let created = first.accepted(StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(app.event_count().await, 1);

    let second = app.post("/v1/agents", &body, &key).await;
    let replayed = second.accepted(StatusCode::CREATED);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.id, created.id);
    assert_eq!(replayed.version, created.version);
    assert_eq!(replayed.token, created.token);
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(app.event_count().await, 1);

    app.stop().await;
}

#[tokio::test]
async fn reusing_a_key_for_a_different_request_is_a_422_naming_the_header() {
    let app = spawn_app().await;
    let key = [("idempotency-key", "shared-key")];
    let created = app
        .post("/v1/agents", &agent_body("first"), &key)
        .await
        .accepted(StatusCode::CREATED);

    let reply = app.post("/v1/agents", &agent_body("second"), &key).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    assert_eq!(reply.error_fields(), ["Idempotency-Key"]);
    let pause = format!("/v1/agents/{}/pause", created.id);
    let reply = app.post(&pause, &json!({}), &key).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    assert_eq!(reply.error_fields(), ["Idempotency-Key"]);
    assert_eq!(app.event_count().await, 1);

    for bad_key in ["", "   ", &"k".repeat(256)] {
        let reply = app
            .post(
                "/v1/agents",
                &agent_body("third"),
                &[("idempotency-key", bad_key)],
            )
            .await;
        reply.assert_invalid("Idempotency-Key");
    }
    assert_eq!(app.event_count().await, 1);

    app.stop().await;
}

#[tokio::test]
async fn config_updates_replay_per_key() {
    let app = spawn_app().await;
    let agent = app.an_agent("keyed").await;
    let path = format!("/v1/agents/{}/config", agent.id);
    let change = json!({"description": "same change, sent three times"});

    let first = app
        .post(&path, &change, &[("idempotency-key", "config-a")])
        .await;
    assert_eq!(first.accepted(StatusCode::OK).version, 2);
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = app
        .post(&path, &change, &[("idempotency-key", "config-a")])
        .await;
    assert_eq!(retry.accepted(StatusCode::OK).version, 2);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.event_count().await, 2);

    let other_key = app
        .post(&path, &change, &[("idempotency-key", "config-b")])
        .await;
    assert_eq!(other_key.accepted(StatusCode::OK).version, 3);
    assert_eq!(other_key.header("idempotent-replayed"), None);
    let unkeyed = app.post(&path, &change, &[]).await;
    assert_eq!(unkeyed.accepted(StatusCode::OK).version, 4);
    assert_eq!(app.event_count().await, 4);

    let key_of_the_second_tenant = app.second_tenant().await;
    let authorization = format!("Bearer {key_of_the_second_tenant}");
    let theirs = app
        .post(
            "/v1/agents",
            &agent_body("theirs"),
            &[
                ("idempotency-key", "config-a"),
                ("authorization", &authorization),
            ],
        )
        .await;
    theirs.accepted(StatusCode::CREATED);
    assert_eq!(
        theirs.header("idempotent-replayed"),
        None,
        "keys are per tenant"
    );

    app.stop().await;
}

#[tokio::test]
async fn concurrent_retries_with_one_key_all_get_the_same_answer() {
    let app = spawn_app().await;
    let body = agent_body("impatient");
    let key = [("idempotency-key", "racing-create")];

    let replies = join_all((0..RETRIES).map(|_| app.post("/v1/agents", &body, &key))).await;

    let created: Vec<_> = replies
        .iter()
        .map(|reply| reply.accepted(StatusCode::CREATED))
        .collect();
    assert!(
        created
            .iter()
            .all(|c| c.id == created[0].id && c.version == 1)
    );
    let fresh = replies
        .iter()
        .filter(|reply| reply.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1, "exactly one request did the work");
    assert_eq!(app.event_count().await, 1);

    let path = format!("/v1/agents/{}/config", created[0].id);
    let change = json!({"name": "still impatient"});
    let key = [("idempotency-key", "racing-config")];
    let replies = join_all((0..RETRIES).map(|_| app.post(&path, &change, &key))).await;

    for reply in &replies {
        assert_eq!(reply.accepted(StatusCode::OK).version, 2);
    }
    assert_eq!(app.event_count().await, 2);

    app.stop().await;
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_a_422_naming_the_header() {
    let app = spawn_app().await;
    let too_long = "k".repeat(256);

    for key in [too_long.as_str(), "   "] {
        app.post(
            "/v1/agents",
            &agent_body("keyed"),
            &[("idempotency-key", key)],
        )
        .await
        .assert_invalid("Idempotency-Key");
    }
    assert_eq!(app.event_count().await, 0);

    app.stop().await;
}
