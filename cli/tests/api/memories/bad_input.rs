//! Bad memory commands are problem+json naming what is wrong, never a 500, and append
//! nothing.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use uuid::Uuid;

use super::memory_body;
use crate::helpers::{TestApp, send, spawn_app};

/// How many memory events the store holds.
async fn memory_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'memory'")
        .fetch_one(&app.env.pool)
        .await
        .unwrap()
}

/// Record (for a new agent), revise and forget (of a new memory of it): one memory event.
async fn command_paths(app: &TestApp) -> [String; 3] {
    let agent = app.an_agent("support-bot").await;
    let memory = app.a_memory(agent.id, "Prefers email.").await;
    [
        format!("/v1/agents/{}/memories", agent.id),
        format!("/v1/memories/{}/revise", memory.id),
        format!("/v1/memories/{}/forget", memory.id),
    ]
}

#[tokio::test]
async fn malformed_json_is_a_400_on_every_command() {
    let app = spawn_app().await;

    for path in command_paths(&app).await {
        // Broken before any field, so no command's fields are looked at first.
        for body in ["{", "not json", "{,}", "{\"reason\" \"x\"}"] {
            let reply = send(
                app.command(reqwest::Method::POST, &path)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_owned()),
            )
            .await;
            reply.assert_problem(StatusCode::BAD_REQUEST, "malformed-json");
        }
    }
    assert_eq!(memory_events(&app).await, 1);

    app.stop().await;
}

#[tokio::test]
async fn wrong_types_unknown_and_missing_fields_are_422s_naming_them() {
    let app = spawn_app().await;
    let [record, revise, forget] = command_paths(&app).await;
    let with = |pointer: &str, value: Value| {
        let mut body = memory_body("Prefers email.");
        *body.pointer_mut(pointer).expect("field") = value;
        body
    };
    let without = |field: &str| {
        let mut body = memory_body("Prefers email.");
        body.as_object_mut().expect("object").remove(field);
        body
    };

    let cases = [
        (&record, with("/kind", json!("fact")), "kind"),
        (&record, with("/kind", json!(3)), "kind"),
        (&record, with("/content", json!(42)), "content"),
        (&record, with("/importance", json!("high")), "importance"),
        (&record, with("/tags", json!("billing")), "tags"),
        (
            &record,
            with("/source/run_id", json!("not-a-uuid")),
            "source.run_id",
        ),
        (&record, with("/source/step", json!(-1)), "source.step"),
        (
            &record,
            with("/source", json!({"colour": "blue"})),
            "source",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "colour": "blue"}),
            "colour",
        ),
        (&record, without("kind"), "kind"),
        (&record, without("content"), "content"),
        (
            &revise,
            json!({"content": "x", "importance": "high"}),
            "importance",
        ),
        (&revise, json!({"content": "x", "kind": "core"}), "kind"),
        (&revise, json!({"tags": ["a"]}), "content"),
        (&forget, json!({"reason": 7}), "reason"),
        (&forget, json!({"why": "no"}), "why"),
    ];
    for (path, body, field) in cases {
        let reply = app.post(path, &body, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}"
        );
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        let named = reply.error_fields().first().cloned().unwrap_or_default();
        assert!(
            named.starts_with(field) || reply.detail().contains(&format!("`{field}`")),
            "{path} {body}: {}",
            reply.text
        );
    }
    assert_eq!(memory_events(&app).await, 1);

    app.stop().await;
}

#[tokio::test]
async fn values_that_break_a_rule_are_422s_naming_the_field() {
    let app = spawn_app().await;
    let [record, revise, forget] = command_paths(&app).await;
    let many_tags: Vec<String> = (0..33).map(|i| format!("tag{i}")).collect();

    let cases = [
        (&record, json!({"kind": "core", "content": ""}), "content"),
        (
            &record,
            json!({"kind": "core", "content": "  \n "}),
            "content",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x".repeat(20_001)}),
            "content",
        ),
        (
            &record,
            json!({"kind": "core", "content": "a\u{0}b"}),
            "content",
        ),
        (
            &record,
            json!({"kind": "core", "content": "a\u{7}b"}),
            "content",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "importance": 1.5}),
            "importance",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "importance": -0.1}),
            "importance",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "tags": many_tags}),
            "tags",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "tags": ["a", "a"]}),
            "tags",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "tags": [""]}),
            "tags[0]",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "tags": ["ok", "t".repeat(65)]}),
            "tags[1]",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "tags": ["a\u{0}"]}),
            "tags[0]",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "source": {"step": 1}}),
            "source.step",
        ),
        (
            &record,
            json!({"kind": "core", "content": "x", "source": {"run_id": Uuid::now_v7(), "tool_call_id": "c".repeat(129)}}),
            "source.tool_call_id",
        ),
        (&revise, json!({"content": ""}), "content"),
        (
            &revise,
            json!({"content": "x", "importance": 2}),
            "importance",
        ),
        (&revise, json!({"content": "x", "tags": ["a", "a"]}), "tags"),
        (
            &revise,
            json!({"content": "x", "source": {"tool_call_id": "c"}}),
            "source.tool_call_id",
        ),
        (&forget, json!({"reason": "r".repeat(501)}), "reason"),
        (&forget, json!({"reason": "a\u{0}b"}), "reason"),
    ];
    for (path, body, field) in cases {
        let reply = app.post(path, &body, &[]).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(
            reply.error_fields().iter().any(|named| named == field),
            "{path} {}: {}",
            &body.to_string()[..body.to_string().len().min(120)],
            reply.text
        );
    }
    let content = "é".repeat(20_000);
    app.post(&record, &json!({"kind": "core", "content": content}), &[])
        .await
        .accepted(StatusCode::CREATED);
    assert_eq!(
        memory_events(&app).await,
        2,
        "only the valid record appended"
    );

    app.stop().await;
}

#[tokio::test]
async fn a_bad_or_unknown_id_is_a_422_or_a_404() {
    let app = spawn_app().await;
    let nobody = Uuid::now_v7();

    for path in [
        "/v1/agents/not-a-uuid/memories".to_owned(),
        "/v1/memories/not-a-uuid/revise".to_owned(),
        "/v1/memories/not-a-uuid/forget".to_owned(),
    ] {
        app.post(&path, &memory_body("x"), &[])
            .await
            .assert_invalid("id");
    }
    for (action, body) in [("revise", json!({"content": "x"})), ("forget", json!({}))] {
        app.memory_command(nobody, action, &body)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    assert_eq!(memory_events(&app).await, 0);

    app.stop().await;
}
