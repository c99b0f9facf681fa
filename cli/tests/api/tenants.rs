//! Tenant isolation: another tenant's agent is indistinguishable from a missing one, and
//! every published event is addressed to its tenant.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{agent_body, bearer, eventually, spawn_app};

#[tokio::test]
async fn another_tenant_can_neither_see_nor_change_an_agent() {
    let app = spawn_app().await;
    let agent = app.an_agent("private").await;
    app.read_agent(agent.id, &agent.token).await;
    let status_path = format!("/v1/agents/{}/status", agent.id);
    eventually("the hot read model to hold the agent", async || {
        (app.get(&status_path, &[]).await.status == StatusCode::OK).then_some(())
    })
    .await;
    let intruder = bearer(&app.second_tenant().await);
    let as_intruder = [("authorization", intruder.as_str())];

    for path in [format!("/v1/agents/{}", agent.id), status_path.clone()] {
        app.get(&path, &as_intruder)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    for (action, body) in [
        ("pause", json!({})),
        ("resume", json!({})),
        ("config", json!({"name": "hijacked"})),
        ("archive", json!({})),
    ] {
        let path = format!("/v1/agents/{}/{action}", agent.id);
        app.post(&path, &body, &as_intruder)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    // If-Match never reveals another tenant's agent or its version: matching or not,
    // the answer is the same 404 (and so for an id nobody has).
    let path = format!("/v1/agents/{}/config", agent.id);
    for version in ["\"1\"", "\"7\"", "\"0\""] {
        let reply = app
            .post(
                &path,
                &json!({"name": "hijacked"}),
                &[("authorization", &intruder), ("if-match", version)],
            )
            .await;
        reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
        assert!(!reply.detail().contains("version"), "{}", reply.text);
    }
    let nobody = format!("/v1/agents/{}/pause", uuid::Uuid::now_v7());
    app.post(&nobody, &json!({}), &[("if-match", "\"3\"")])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(app.event_count().await, 1);

    let theirs = app
        .post("/v1/agents", &agent_body("theirs"), &as_intruder)
        .await
        .accepted(StatusCode::CREATED);
    let token = [
        ("authorization", intruder.as_str()),
        ("x-consistency-token", theirs.token.as_str()),
    ];
    let list = app.get("/v1/agents", &token).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.body["items"][0]["id"], theirs.id.to_string());
    let ours = app.get("/v1/agents", &[]).await;
    assert_eq!(ours.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(ours.body["items"][0]["id"], agent.id.to_string());

    let view = app.read_agent(agent.id, &agent.token).await;
    assert_eq!(view.body["name"], "private");
    assert_eq!(view.body["version"], 1);

    app.stop().await;
}

#[tokio::test]
async fn published_event_subjects_carry_the_tenant_id() {
    let app = spawn_app().await;
    let ours = app.an_agent("ours").await;
    let second = app.another_tenant("globex").await;
    let (second_key, second_tenant) = (second.api_key, second.tenant_id);
    let authorization = bearer(&second_key);
    let theirs = app
        .post(
            "/v1/agents",
            &agent_body("theirs"),
            &[("authorization", &authorization)],
        )
        .await
        .accepted(StatusCode::CREATED);

    let events = app.published_agent_events(2).await;

    let namespace = app.env.namespace.as_str();
    let expected = [
        format!("{namespace}.events.{}.agent.{}", app.tenant_id, ours.id),
        format!("{namespace}.events.{second_tenant}.agent.{}", theirs.id),
    ];
    let subjects: Vec<&str> = events.iter().map(|(subject, _)| subject.as_str()).collect();
    assert_eq!(subjects, expected);
    assert_eq!(events[0].1["tenantid"], app.tenant_id.to_string());
    assert_eq!(events[1].1["tenantid"], second_tenant.to_string());

    app.stop().await;
}
