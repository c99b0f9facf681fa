//! What the platform publishes about memories matches schemas/, and holds no plaintext.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::schemas::check_published;

#[tokio::test]
async fn every_published_memory_event_matches_its_schema_and_is_sealed() {
    let app = spawn_app().await;
    let agent = app.an_agent("contract").await;
    let memory = app
        .a_memory(agent.id, "Prefers invoices sent by email.")
        .await;
    app.memory_command(
        memory.id,
        "revise",
        &json!({"content": "Prefers invoices sent by post.", "tags": ["post"]}),
    )
    .await
    .accepted(StatusCode::OK);
    app.memory_command(memory.id, "forget", &json!({"reason": "asked"}))
        .await
        .accepted(StatusCode::OK);

    let events = app.published_events("memory", 3).await;

    let seen = check_published(&events, "memory");
    for (subject, event) in &events {
        assert!(
            subject.ends_with(&format!(".memory.{}", memory.id)),
            "{subject}"
        );
        assert!(
            !event.to_string().contains("Prefers"),
            "plaintext published: {event}"
        );
        assert_eq!(event["data"]["agent_id"], agent.id.to_string(), "{event}");
    }
    let every_type: BTreeSet<String> = domain::memory::MemoryEvent::TYPES
        .iter()
        .map(|&t| t.to_owned())
        .collect();
    assert_eq!(seen, every_type, "the flow covers every event type");

    app.stop().await;
}
