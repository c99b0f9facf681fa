//! The happy path, end to end: the CLI issues a key, the command API takes every
//! lifecycle command, the query API reads each write back.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Accepted, TestApp, agent_body, bearer, eventually, spawn_app};

#[tokio::test]
async fn an_agent_goes_through_its_whole_lifecycle_and_each_read_sees_the_write() {
    let app = spawn_app().await;

    let created = app.create_agent(&agent_body("billing-bot")).await;
    let agent = created.accepted(StatusCode::CREATED);
    assert_eq!(agent.version, 1);
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/agents/{}", agent.id).as_str())
    );
    let view = app.read_agent(agent.id, &agent.token).await;
    assert_eq!(view.header("etag"), Some("\"1\""));
    assert_eq!(view.body["id"], agent.id.to_string());
    assert_eq!(view.body["name"], "billing-bot");
    assert_eq!(view.body["status"], "active");
    assert_eq!(view.body["version"], 1);
    assert_eq!(view.body["config_version"], 1);
    assert_eq!(
        view.body["model"],
        json!({"provider": "anthropic", "name": "claude-sonnet", "temperature": 0.7, "max_output_tokens": 4096})
    );
    assert_eq!(view.body["metadata"], json!({"team": "billing"}));

    let paused = app
        .command_ok(agent.id, "pause", &json!({"reason": "maintenance"}))
        .await;
    assert_eq!(paused.version, 2);
    assert_read(&app, &paused, "status", &json!("paused")).await;

    let resumed = app.command_ok(agent.id, "resume", &json!({})).await;
    assert_eq!(resumed.version, 3);
    assert_read(&app, &resumed, "status", &json!("active")).await;

    let updated = app
        .command_ok(
            agent.id,
            "config",
            &json!({"name": "billing-bot-2", "model": {"provider": "openai", "name": "gpt-4o"}}),
        )
        .await;
    assert_eq!(updated.version, 4);
    let view = assert_read(&app, &updated, "name", &json!("billing-bot-2")).await;
    assert_eq!(view["config_version"], 2);
    assert_eq!(view["model"]["provider"], "openai");
    assert_eq!(view["model"]["temperature"], 1.0, "defaults apply");
    assert_eq!(view["description"], "answers billing questions", "kept");

    let archived = app
        .command_ok(agent.id, "archive", &json!({"reason": "replaced"}))
        .await;
    assert_eq!(archived.version, 5);
    let view = assert_read(&app, &archived, "status", &json!("archived")).await;
    assert!(view["archived_at"].is_string());

    let list = app
        .get("/v1/agents", &[("x-consistency-token", &archived.token)])
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let ids: Vec<&Value> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| &item["id"])
        .collect();
    assert_eq!(ids, [&json!(agent.id.to_string())]);
    assert_eq!(list.body["next_cursor"], Value::Null);

    let status_path = format!("/v1/agents/{}/status", agent.id);
    let summary = eventually("the hot read model to show the archive", async || {
        let reply = app.get(&status_path, &[]).await;
        (reply.status == StatusCode::OK && reply.body["version"] == 5).then_some(reply.body)
    })
    .await;
    assert_eq!(
        summary,
        json!({"id": agent.id.to_string(), "name": "billing-bot-2", "status": "archived", "version": 5})
    );

    let unchanged = app
        .get(
            &format!("/v1/agents/{}", agent.id),
            &[("if-none-match", "\"5\"")],
        )
        .await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.header("etag"), Some("\"5\""));
    assert!(unchanged.text.is_empty());
    let changed = app
        .get(
            &format!("/v1/agents/{}", agent.id),
            &[("if-none-match", "\"4\"")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    let any = app
        .get(
            &format!("/v1/agents/{}", agent.id),
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!(any.status, StatusCode::NOT_MODIFIED);

    app.stop().await;
}

/// Reads the agent with `accepted`'s token; asserts its version and that `field` is
/// `expected`; returns the body.
async fn assert_read(app: &TestApp, accepted: &Accepted, field: &str, expected: &Value) -> Value {
    let reply = app.read_agent(accepted.id, &accepted.token).await;
    let version = accepted.version.to_string();
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{version}\"").as_str())
    );
    assert_eq!(reply.body["version"], accepted.version);
    assert_eq!(&reply.body[field], expected, "{}", reply.text);
    reply.body
}

#[tokio::test]
async fn the_cli_creates_a_tenant_whose_key_the_api_accepts() {
    let app = spawn_app().await;
    let database_url = app.env.database_url.clone();

    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_agentos"))
            .args(["tenant", "create", "--name", "acme"])
            .env("DATABASE_URL", database_url)
            .output()
            .expect("run agentos")
    })
    .await
    .expect("join");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let issued: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let tenant_id = issued["tenant_id"].as_str().expect("tenant_id");
    let api_key = issued["api_key"].as_str().expect("api_key");
    assert_ne!(tenant_id, app.tenant_id.to_string());
    let authorization = bearer(api_key);
    let reply = app
        .post(
            "/v1/agents",
            &agent_body("cli-made"),
            &[("authorization", &authorization)],
        )
        .await;
    let agent = reply.accepted(StatusCode::CREATED);
    let owner: uuid::Uuid =
        sqlx::query_scalar("SELECT tenant_id FROM events WHERE aggregate_id = $1")
            .bind(agent.id.to_string())
            .fetch_one(&app.env.pool)
            .await
            .expect("event");
    assert_eq!(owner.to_string(), tenant_id);

    app.stop().await;
}
