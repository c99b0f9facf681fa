//! Recording, revising and forgetting through the command API, read back through the
//! query API with consistency tokens.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::{RUN, memory_body};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_recorded_memory_reads_back_with_its_version_as_etag() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;

    let reply = app
        .record_memory(agent.id, &memory_body("Prefers invoices sent by email."))
        .await;
    let memory = reply.accepted(StatusCode::CREATED);
    assert_eq!(memory.version, 1);
    let location = format!("/v1/memories/{}", memory.id);
    assert_eq!(reply.header("location"), Some(location.as_str()));

    let view = app.read_after(&location, &memory.token).await;
    assert_eq!(view.header("etag"), Some("\"1\""));
    let body = &view.body;
    assert_eq!(body["id"], memory.id.to_string());
    assert_eq!(body["agent_id"], agent.id.to_string());
    assert_eq!(body["kind"], "semantic");
    assert_eq!(body["status"], "active");
    assert_eq!(body["content"], "Prefers invoices sent by email.");
    assert_eq!(body["content_chars"], 31);
    assert_eq!(body["tags"], json!(["billing"]));
    assert_eq!(body["importance"], 0.5);
    assert_eq!(body["revision"], 1);
    assert_eq!(
        body["source"],
        json!({"run_id": RUN, "step": 3, "tool_call_id": "call_1"})
    );
    assert_eq!(body["version"], 1);
    assert!(body.get("tenant_id").is_none(), "{}", view.text);
    let unchanged = app.get(&location, &[("if-none-match", "\"1\"")]).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);

    // Defaults: no tags, importance 0.5, no source (a person wrote it).
    let plain = app
        .record_memory(
            agent.id,
            &json!({"kind": "core", "content": "Works for ACME."}),
        )
        .await
        .accepted(StatusCode::CREATED);
    let view = app
        .read_after(&format!("/v1/memories/{}", plain.id), &plain.token)
        .await;
    assert_eq!(view.body["tags"], json!([]));
    assert_eq!(view.body["importance"], 0.5);
    assert_eq!(
        view.body["source"],
        json!({"run_id": null, "step": null, "tool_call_id": null})
    );

    app.stop().await;
}

#[tokio::test]
async fn every_revision_is_kept_with_who_caused_it() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let alice = app.key_with_scopes(&["memory:write"]).await;
    let bob = app.key_with_scopes(&["memory:write"]).await;

    let memory = app
        .post(
            &format!("/v1/agents/{}/memories", agent.id),
            &memory_body("Prefers invoices sent by email."),
            &[("authorization", &alice.authorization)],
        )
        .await
        .accepted(StatusCode::CREATED);
    let other_run = Uuid::now_v7();
    let revise = format!("/v1/memories/{}/revise", memory.id);
    app.post(
        &revise,
        &json!({
            "content": "Prefers invoices sent by post.",
            "tags": ["billing", "post"],
            "importance": 0.8,
            "source": {"run_id": other_run, "step": 7},
        }),
        &[("authorization", &bob.authorization)],
    )
    .await
    .accepted(StatusCode::OK);
    let last = app
        .post(
            &revise,
            &json!({"content": "Prefers invoices sent by carrier pigeon."}),
            &[
                ("authorization", &alice.authorization),
                ("if-match", "\"2\""),
            ],
        )
        .await
        .accepted(StatusCode::OK);
    assert_eq!(last.version, 3);

    let history = app
        .read_after(&format!("/v1/memories/{}/history", memory.id), &last.token)
        .await;
    assert_eq!(history.body["memory_id"], memory.id.to_string());
    assert_eq!(history.body["agent_id"], agent.id.to_string());
    assert_eq!(history.body["status"], "active");
    let revisions = history.body["revisions"].as_array().expect("revisions");
    let column = |name: &str| {
        revisions
            .iter()
            .map(|r| r[name].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(column("revision"), [json!(1), json!(2), json!(3)]);
    assert_eq!(
        column("content"),
        [
            json!("Prefers invoices sent by email."),
            json!("Prefers invoices sent by post."),
            json!("Prefers invoices sent by carrier pigeon."),
        ]
    );
    let (alice_id, bob_id) = (alice.id.to_string(), bob.id.to_string());
    assert_eq!(
        column("actor"),
        [json!(alice_id), json!(bob_id), json!(alice_id)]
    );
    assert_eq!(
        column("source"),
        [
            json!({"run_id": RUN, "step": 3, "tool_call_id": "call_1"}),
            json!({"run_id": other_run, "step": 7, "tool_call_id": null}),
            json!({"run_id": null, "step": null, "tool_call_id": null}),
        ]
    );
    assert_eq!(
        column("tags"),
        [
            json!(["billing"]),
            json!(["billing", "post"]),
            json!(["billing", "post"])
        ]
    );
    assert_eq!(column("importance"), [json!(0.5), json!(0.8), json!(0.8)]);
    assert!(revisions.iter().all(|r| r["event_id"].is_string()));

    let view = app
        .read_after(&format!("/v1/memories/{}", memory.id), &last.token)
        .await;
    assert_eq!(view.body["revision"], 3);
    assert_eq!(
        view.body["content"],
        "Prefers invoices sent by carrier pigeon."
    );
    assert_eq!(view.header("etag"), Some("\"3\""));

    app.stop().await;
}

#[tokio::test]
async fn memories_belong_to_an_agent_of_the_tenant_that_is_not_archived() {
    let app = spawn_app().await;
    let body = memory_body("Prefers email.");

    app.record_memory(Uuid::now_v7(), &body)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let paused = app.an_agent("paused").await;
    app.command_ok(paused.id, "pause", &json!({})).await;
    app.record_memory(paused.id, &body)
        .await
        .accepted(StatusCode::CREATED);
    let archived = app.an_agent("archived").await;
    app.command_ok(archived.id, "archive", &json!({})).await;
    let reply = app.record_memory(archived.id, &body).await;
    reply.assert_problem(StatusCode::CONFLICT, "invalid-transition");
    assert!(reply.detail().contains("archived"), "{}", reply.text);

    app.stop().await;
}

#[tokio::test]
async fn a_retried_record_gets_the_first_answer_and_appends_nothing() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let path = format!("/v1/agents/{}/memories", agent.id);
    let body = memory_body("Prefers invoices sent by email.");
    let key = [("idempotency-key", "remember-email")];

    let first = app.post(&path, &body, &key).await;
    let memory = first.accepted(StatusCode::CREATED);
    let again = app.post(&path, &body, &key).await;
    assert_eq!(again.accepted(StatusCode::CREATED).id, memory.id);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    // Still the first answer once the agent is archived and would refuse new memories.
    app.command_ok(agent.id, "archive", &json!({})).await;
    let late = app.post(&path, &body, &key).await;
    assert_eq!(late.accepted(StatusCode::CREATED).id, memory.id);

    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE aggregate_type = 'memory'),
                (SELECT count(*) FROM data_keys)",
    )
    .fetch_one(&app.env.pool)
    .await
    .expect("count");
    assert_eq!(counts, (1, 1), "one event and one data key");
    app.post(&path, &memory_body("Something else."), &key)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");

    app.stop().await;
}

#[tokio::test]
async fn a_forgotten_memory_takes_no_more_commands_and_if_match_guards_changes() {
    let app = spawn_app().await;
    let agent = app.an_agent("support-bot").await;
    let memory = app.a_memory(agent.id, "Prefers email.").await;
    let revise = format!("/v1/memories/{}/revise", memory.id);

    app.post(
        &revise,
        &json!({"content": "Prefers post."}),
        &[("if-match", "\"7\"")],
    )
    .await
    .assert_problem(StatusCode::PRECONDITION_FAILED, "version-mismatch");
    let forgotten = app
        .post(
            &format!("/v1/memories/{}/forget", memory.id),
            &json!({"reason": "the customer asked"}),
            &[("if-match", "\"1\"")],
        )
        .await
        .accepted(StatusCode::OK);
    assert_eq!(forgotten.version, 2);
    for (action, body) in [("revise", json!({"content": "x"})), ("forget", json!({}))] {
        let reply = app.memory_command(memory.id, action, &body).await;
        reply.assert_problem(StatusCode::CONFLICT, "invalid-transition");
        assert!(reply.detail().contains("forgotten"), "{}", reply.text);
    }
    // The body of forget is optional.
    let other = app.a_memory(agent.id, "Prefers chat.").await;
    let reply = crate::helpers::send(app.command(
        reqwest::Method::POST,
        &format!("/v1/memories/{}/forget", other.id),
    ))
    .await;
    reply.accepted(StatusCode::OK);

    let view = app
        .read_after(&format!("/v1/memories/{}", memory.id), &forgotten.token)
        .await;
    assert_eq!(view.body["status"], "forgotten");
    assert_eq!(view.body["content"], json!(null));
    assert_eq!(view.body["forget_reason"], "the customer asked");
    assert!(view.body["forgotten_at"].is_string());
    assert!(view.body["forgotten_by"].is_string());

    app.stop().await;
}
