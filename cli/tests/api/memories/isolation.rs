//! Every memory endpoint of both APIs: another tenant's memories and agents are missing
//! ones, each endpoint needs its scope, and none answers without a key.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{item_ids, memory_body};
use crate::helpers::{bearer, eventually, spawn_app};

/// Every command: (path, body).
fn commands(agent: Uuid, memory: Uuid) -> Vec<(String, Value)> {
    vec![
        (
            format!("/v1/agents/{agent}/memories"),
            memory_body("Hijacked."),
        ),
        (
            format!("/v1/memories/{memory}/revise"),
            json!({"content": "Hijacked."}),
        ),
        (format!("/v1/memories/{memory}/forget"), json!({})),
    ]
}

/// Every read.
fn reads(agent: Uuid, memory: Uuid) -> Vec<String> {
    vec![
        format!("/v1/memories/{memory}"),
        format!("/v1/memories/{memory}/history"),
        format!("/v1/agents/{agent}/memories"),
        format!("/v1/agents/{agent}/memories/search?q=email"),
        format!("/v1/agents/{agent}/memories/recent"),
    ]
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_change_a_memory() {
    let app = spawn_app().await;
    let agent = app.an_agent("private").await;
    let memory = app
        .a_memory(agent.id, "Prefers invoices sent by email.")
        .await;
    app.read_after(&format!("/v1/memories/{}", memory.id), &memory.token)
        .await;
    let recent = format!("/v1/agents/{}/memories/recent", agent.id);
    eventually("the hot model to hold the memory", async || {
        (item_ids(&app.get(&recent, &[]).await) == [memory.id]).then_some(())
    })
    .await;
    let intruder = bearer(&app.second_tenant().await);
    let as_intruder = [("authorization", intruder.as_str())];

    for (path, body) in commands(agent.id, memory.id) {
        app.post(&path, &body, &as_intruder)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    for path in reads(agent.id, memory.id) {
        app.get(&path, &as_intruder)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    // If-Match reveals nothing either: matching or not, the same 404.
    for version in ["\"1\"", "\"9\""] {
        let path = format!("/v1/memories/{}/forget", memory.id);
        let reply = app
            .post(
                &path,
                &json!({}),
                &[("authorization", &intruder), ("if-match", version)],
            )
            .await;
        reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
        assert!(!reply.detail().contains("version"), "{}", reply.text);
    }

    // The intruder's own memories, with the same words, never mix with ours.
    let theirs_agent = app
        .post(
            "/v1/agents",
            &crate::helpers::agent_body("theirs"),
            &as_intruder,
        )
        .await
        .accepted(StatusCode::CREATED);
    let theirs = app
        .post(
            &format!("/v1/agents/{}/memories", theirs_agent.id),
            &memory_body("Also prefers invoices by email."),
            &as_intruder,
        )
        .await
        .accepted(StatusCode::CREATED);
    let with_token = [
        ("authorization", intruder.as_str()),
        ("x-consistency-token", theirs.token.as_str()),
    ];
    for path in reads(theirs_agent.id, theirs.id)
        .into_iter()
        .skip(2)
        .take(2)
    {
        let reply = app.get(&path, &with_token).await;
        assert_eq!(item_ids(&reply), [theirs.id], "{path}: {}", reply.text);
    }
    for path in reads(agent.id, memory.id).into_iter().skip(2).take(2) {
        let reply = app.get(&path, &[]).await;
        assert_eq!(item_ids(&reply), [memory.id], "{path}: {}", reply.text);
    }

    // Nothing of ours changed.
    let view = app
        .read_after(&format!("/v1/memories/{}", memory.id), &memory.token)
        .await;
    assert_eq!(view.body["content"], "Prefers invoices sent by email.");
    assert_eq!(view.body["version"], 1);
    let ours: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'memory' AND tenant_id = $1",
    )
    .bind(app.tenant_id)
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(ours, 1);

    app.stop().await;
}

#[tokio::test]
async fn every_memory_endpoint_needs_its_scope() {
    let app = spawn_app().await;
    let agent = app.an_agent("scoped").await;
    let memory = app.a_memory(agent.id, "Prefers email.").await;
    let reader = app.key_with_scopes(&["memory:read", "agents:write"]).await;
    let writer = app.key_with_scopes(&["memory:write", "agents:read"]).await;

    for (path, body) in commands(agent.id, memory.id) {
        let reply = app
            .post(&path, &body, &[("authorization", &reader.authorization)])
            .await;
        reply.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
        assert!(reply.detail().contains("memory:write"), "{}", reply.text);
    }
    for path in reads(agent.id, memory.id) {
        let reply = app
            .get(&path, &[("authorization", &writer.authorization)])
            .await;
        reply.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
        assert!(reply.detail().contains("memory:read"), "{}", reply.text);
        let allowed = app
            .get(&path, &[("authorization", &reader.authorization)])
            .await;
        assert_ne!(
            allowed.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            allowed.text
        );
    }

    app.stop().await;
}

#[tokio::test]
async fn memory_endpoints_answer_nothing_without_a_valid_key() {
    let app = spawn_app().await;
    let agent = app.an_agent("locked").await;
    let memory = app.a_memory(agent.id, "Prefers email.").await;

    for authorization in ["", "Bearer agos_not-a-real-key"] {
        let headers = [("authorization", authorization)];
        for (path, body) in commands(agent.id, memory.id) {
            app.post(&path, &body, &headers)
                .await
                .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        }
        for path in reads(agent.id, memory.id) {
            app.get(&path, &headers)
                .await
                .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }

    app.stop().await;
}
