//! Read-your-writes: a consistency token makes a read wait, but never forever.

use cli::Role;
use eventstore::ConsistencyToken;
use reqwest::StatusCode;

use crate::helpers::{eventually, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_token_for_a_version_that_never_comes_is_a_503_with_retry_after() {
    let app = spawn_app_with(300, &[Role::All]).await;
    let agent = app.an_agent("patient").await;
    let mut token = ConsistencyToken::decode(&agent.token).expect("the API's own token");
    assert_eq!(token.aggregate_id, agent.id.to_string());
    assert_eq!(token.version, 1);
    token.version += 100;
    let future = token.encode();

    for path in [format!("/v1/agents/{}", agent.id), "/v1/agents".to_owned()] {
        let reply = app.get(&path, &[("x-consistency-token", &future)]).await;
        reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not-yet-consistent");
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert!(reply.detail().contains("300 ms"), "{}", reply.text);
    }
    let path = format!("/v1/agents/{}", agent.id);
    let current = [("x-consistency-token", agent.token.as_str())];
    let view = eventually("a read with the real token to succeed", async || {
        let reply = app.get(&path, &current).await;
        match reply.status {
            StatusCode::OK => Some(reply.body),
            // Only a projector slower than the 300 ms bound gets here.
            StatusCode::SERVICE_UNAVAILABLE => None,
            other => panic!("a read with a real token answered {other}: {}", reply.text),
        }
    })
    .await;
    assert_eq!(view["version"], 1);

    app.stop().await;
}

#[tokio::test]
async fn a_read_without_a_token_returns_what_is_there() {
    let app = spawn_app().await;
    let agent = app.an_agent("eventual").await;
    let path = format!("/v1/agents/{}", agent.id);

    let first = app.get(&path, &[]).await;
    match first.status {
        StatusCode::OK => assert_eq!(first.body["version"], 1),
        StatusCode::NOT_FOUND => {
            first.assert_problem(StatusCode::NOT_FOUND, "not-found");
        }
        other => panic!("a read without a token answered {other}: {}", first.text),
    }
    let view = eventually("the projection to catch up", async || {
        let reply = app.get(&path, &[]).await;
        (reply.status == StatusCode::OK).then_some(reply.body)
    })
    .await;
    assert_eq!(view["name"], "eventual");
    assert_eq!(view["version"], 1);

    app.stop().await;
}
