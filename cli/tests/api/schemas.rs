//! The checked-in contract: schemas/ matches the code, and what the platform publishes
//! matches schemas/.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jsonschema::Validator;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn schemas_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas")).to_path_buf()
}

/// The checked-in schema at `relative` (to schemas/), compiled.
pub fn validator(relative: &str) -> Validator {
    let path = schemas_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("schema JSON");
    jsonschema::validator_for(&schema)
        .unwrap_or_else(|err| panic!("{relative} is not a valid schema: {err}"))
}

/// Every way `instance` breaks the schema.
pub fn violations(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|err| format!("{} at {}", err, err.instance_path()))
        .collect()
}

/// Checks each published event of `aggregate_type` against the envelope's schema and its
/// type's; returns the event type names seen.
pub fn check_published(events: &[(String, Value)], aggregate_type: &str) -> BTreeSet<String> {
    let envelope = validator("events/cloudevent.json");
    let mut seen = BTreeSet::new();
    for (_, event) in events {
        assert_eq!(
            violations(&envelope, event),
            Vec::<String>::new(),
            "{event}"
        );
        let kind = event["type"].as_str().expect("type");
        let (name, version) = kind
            .strip_prefix(&format!("agentos.{aggregate_type}."))
            .and_then(|rest| rest.split_once(".v"))
            .unwrap_or_else(|| panic!("unexpected type {kind}"));
        if aggregate_type == domain::agent::AGENT_AGGREGATE_TYPE {
            assert_eq!(
                version,
                domain::agent::AgentEvent::version_of(name),
                "{kind} is written in its current version"
            );
        }
        let schema = validator(&format!("events/{aggregate_type}/{name}.v{version}.json"));
        assert_eq!(
            violations(&schema, &event["data"]),
            Vec::<String>::new(),
            "{event}"
        );
        seen.insert(name.to_owned());
    }
    seen
}

#[test]
fn the_checked_in_schemas_match_the_code() {
    let drifted = cli::schemas::check(&schemas_dir()).expect("read schemas/");
    assert!(
        drifted.is_empty(),
        "schemas/ drifted from the code, run `cargo run -p cli -- schemas`: {drifted:?}"
    );
}

#[tokio::test]
async fn every_published_event_matches_its_schema() {
    let app = spawn_app().await;
    let agent = app.an_agent("contract").await;
    app.command_ok(agent.id, "pause", &json!({"reason": "checking"}))
        .await;
    app.command_ok(agent.id, "resume", &json!({})).await;
    app.command_ok(agent.id, "config", &json!({"metadata": {"k": "v"}}))
        .await;
    app.command_ok(agent.id, "archive", &json!({})).await;

    let events = app.published_agent_events(5).await;

    let seen = check_published(&events, "agent");
    let every_type: BTreeSet<String> = domain::agent::AgentEvent::TYPES
        .iter()
        .map(|&t| t.to_owned())
        .collect();
    assert_eq!(seen, every_type, "the flow covers every event type");

    app.stop().await;
}

#[tokio::test]
async fn a_payload_that_breaks_the_contract_fails_validation() {
    let app = spawn_app().await;
    app.an_agent("contract").await;
    let events = app.published_agent_events(1).await;
    let event = &events[0].1;
    let created = validator("events/agent/AgentCreated.v1.json");
    let envelope = validator("events/cloudevent.json");
    assert!(created.is_valid(&event["data"]));

    let mut wrong_name = event["data"].clone();
    wrong_name["config"]["name"] = json!(42);
    assert!(!created.is_valid(&wrong_name));
    let mut no_tenant = event["data"].clone();
    no_tenant
        .as_object_mut()
        .expect("object")
        .remove("tenant_id");
    assert!(!created.is_valid(&no_tenant));
    let mut wrong_temperature = event["data"].clone();
    wrong_temperature["config"]["model"]["temperature"] = json!("hot");
    assert!(!created.is_valid(&wrong_temperature));
    let mut no_type = event.clone();
    no_type.as_object_mut().expect("object").remove("type");
    assert!(!envelope.is_valid(&no_type));
    let mut wrong_sequence = event.clone();
    wrong_sequence["sequence"] = json!("1");
    assert!(!envelope.is_valid(&wrong_sequence));

    app.stop().await;
}

#[tokio::test]
async fn every_published_tool_event_matches_its_schema() {
    let app = spawn_app().await;
    let agent = app.an_agent("caller").await;
    let tool = app
        .a_tool(&crate::tooling::tool_body("weather", "http://127.0.0.1:9/"))
        .await;
    let path = |action: &str| format!("/v1/tools/{}/{action}", tool.id);
    app.post(
        &path("versions"),
        &json!({"input_schema": {"type": "object"}}),
        &[],
    )
    .await;
    app.post(&path("deprecate"), &json!({"reason": "old"}), &[])
        .await;
    let body = crate::tooling::invocation_body(agent.id, json!({"city": "Oslo"}), "k");
    let call = app
        .invoke(tool.id, &body)
        .await
        .accepted(reqwest::StatusCode::ACCEPTED);
    app.finished_invocation(call.id).await;
    app.post(&path("disable"), &json!({}), &[]).await;

    let mut seen = BTreeSet::new();
    for (aggregate_type, count) in [("tool", 4), ("tool_invocation", 3)] {
        for (_, event) in app.published_events(aggregate_type, count).await {
            let kind = event["type"].as_str().expect("type");
            let name = kind
                .strip_prefix(&format!("agentos.{aggregate_type}."))
                .and_then(|rest| rest.strip_suffix(".v1"))
                .unwrap_or_else(|| panic!("unexpected type {kind}"));
            let schema = validator(&format!("events/{aggregate_type}/{name}.v1.json"));
            assert_eq!(
                violations(&schema, &event["data"]),
                Vec::<String>::new(),
                "{event}"
            );
            seen.insert(name.to_owned());
        }
    }
    for name in [
        "ToolRegistered",
        "ToolVersionPublished",
        "ToolDeprecated",
        "ToolDisabled",
    ] {
        assert!(seen.contains(name), "{name} in {seen:?}");
    }
    for name in [
        "InvocationRequested",
        "InvocationStarted",
        "InvocationFailed",
    ] {
        assert!(seen.contains(name), "{name} in {seen:?}");
    }
    app.stop().await;
}
