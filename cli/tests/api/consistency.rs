//! Read-your-writes: a consistency token makes a read wait, but never forever.

use cli::Role;
use eventstore::ConsistencyToken;
use reqwest::StatusCode;

use crate::helpers::{eventually, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_token_the_read_model_has_not_reached_in_time_is_a_503_with_retry_after() {
    // No projector runs, so the read model never reaches the write.
    let app = spawn_app_with(300, &[Role::CommandApi, Role::QueryApi, Role::Relay]).await;
    let agent = app.an_agent("patient").await;

    for path in [format!("/v1/agents/{}", agent.id), "/v1/agents".to_owned()] {
        let reply = app
            .get(&path, &[("x-consistency-token", &agent.token)])
            .await;
        reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not-yet-consistent");
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert!(reply.detail().contains("300 ms"), "{}", reply.text);
    }

    app.stop().await;
}

#[tokio::test]
async fn a_token_for_a_write_the_tenant_never_made_is_a_422_at_once() {
    let app = spawn_app().await;
    let agent = app.an_agent("real").await;
    let mut token = ConsistencyToken::decode(&agent.token).expect("the API's own token");
    assert_eq!(token.aggregate_id, agent.id.to_string());
    assert_eq!(token.version, 1);
    token.version += 100;
    let future = token.encode();
    let path = format!("/v1/agents/{}", agent.id);

    // A version that was never written,
    app.get(&path, &[("x-consistency-token", &future)])
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation")
        .assert_invalid("X-Consistency-Token");
    // and a real token shown by another tenant, fail fast instead of waiting out the bound.
    let other = app.second_tenant().await;
    let auth = crate::helpers::bearer(&other);
    app.get(
        "/v1/agents",
        &[
            ("authorization", &auth),
            ("x-consistency-token", &agent.token),
        ],
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation")
    .assert_invalid("X-Consistency-Token");

    let current = [("x-consistency-token", agent.token.as_str())];
    let view = eventually("a read with the real token to succeed", async || {
        let reply = app.get(&path, &current).await;
        (reply.status == StatusCode::OK).then_some(reply.body)
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
