//! Event versioning with a real version-1 event, stored as it was before `AgentPaused`
//! became version 2: the aggregate loads it, the projections apply it (upcast), and
//! subscribers receive it as it was stored, under its version-1 type and schema.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, eventually, spawn_app};
use crate::sse::EventStream;

/// Appends, with plain SQL, the `AgentPaused` version 1 that the platform wrote before
/// version 2 existed: no `paused_by`, the actor only in the metadata.
async fn store_a_version_1_pause(
    app: &TestApp,
    agent_id: Uuid,
    sequence: i64,
    actor: &str,
) -> Uuid {
    let event_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, event_id, tenant_id, occurred_at)
         VALUES ('agent', $1, $2, 'AgentPaused', '1', $3, $4, $5, $6, now())",
    )
    .bind(agent_id.to_string())
    .bind(sequence)
    .bind(
        json!({"AgentPaused": {"reason": "stored long ago", "paused_at": "2025-06-01T09:30:00Z"}}),
    )
    .bind(json!({
        "tenant_id": app.tenant_id.to_string(),
        "actor": actor,
        "correlation_id": Uuid::now_v7().to_string(),
        "causation_id": Uuid::now_v7().to_string(),
        "occurred_at": "2025-06-01T09:30:00.000000Z",
    }))
    .bind(event_id)
    .bind(app.tenant_id)
    .execute(&app.env.pool)
    .await
    .expect("insert the version-1 event");
    event_id
}

fn schema(relative: &str) -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/");
    let text = std::fs::read_to_string(format!("{path}{relative}")).expect("schema file");
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).expect("a schema")
}

#[tokio::test]
async fn a_stored_version_1_event_is_upcast_for_the_aggregate_and_projections_and_kept_for_subscribers()
 {
    let app = spawn_app().await;
    let agent = app.an_agent("legacy").await;
    let v1_id = store_a_version_1_pause(&app, agent.id, 2, "key-from-2025").await;

    // Projections apply it, upcast: the Postgres and Redis read models show it paused.
    let view = eventually("the projection to apply the version-1 pause", async || {
        let view = app.get(&format!("/v1/agents/{}", agent.id), &[]).await;
        (view.body["version"] == 2).then_some(view)
    })
    .await;
    assert_eq!(view.body["status"], "paused");
    eventually("the hot read model to apply it", async || {
        let status = app
            .get(&format!("/v1/agents/{}/status", agent.id), &[])
            .await;
        (status.body["status"] == "paused" && status.body["version"] == 2).then_some(())
    })
    .await;

    // The aggregate loads it: paused, so it can be resumed (and not paused again).
    app.post(&format!("/v1/agents/{}/pause", agent.id), &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");
    app.command_ok(agent.id, "resume", &json!({})).await;
    let paused_again = app
        .command_ok(agent.id, "pause", &json!({"reason": "now"}))
        .await;
    assert_eq!(paused_again.version, 4);

    // Subscribers get each event as stored: the old one as version 1, the new as 2.
    let mut stream = EventStream::open(&app, "?types=AgentPaused", &app.api_key, Some(0))
        .await
        .expect("stream opens");
    let pauses = stream.next_events(2).await;
    let (old, new) = (&pauses[0].1, &pauses[1].1);
    assert_eq!(old["id"], v1_id.to_string());
    assert_eq!(old["type"], "agentos.agent.AgentPaused.v1");
    assert_eq!(old["actor"], "key-from-2025");
    assert_eq!(
        old["data"],
        json!({"reason": "stored long ago", "paused_at": "2025-06-01T09:30:00Z"})
    );
    assert!(schema("events/agent/AgentPaused.v1.json").is_valid(&old["data"]));
    assert_eq!(new["type"], "agentos.agent.AgentPaused.v2");
    let key_id = new["actor"].as_str().expect("actor").to_owned();
    assert_eq!(new["data"]["paused_by"], Value::String(key_id));
    assert!(schema("events/agent/AgentPaused.v2.json").is_valid(&new["data"]));
    assert!(!schema("events/agent/AgentPaused.v2.json").is_valid(&old["data"]));

    // The store keeps the old event as it was: never rewritten.
    let stored: (String, Value) =
        sqlx::query_as("SELECT event_version, payload FROM events WHERE event_id = $1")
            .bind(v1_id)
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    assert_eq!(stored.0, "1");
    assert!(stored.1["AgentPaused"].get("paused_by").is_none());
    app.stop().await;
}
