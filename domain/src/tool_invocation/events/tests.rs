//! The stored shape of tool invocation events.

use serde_json::json;

use super::*;
use crate::tool::fixtures::{TENANT, TOOL, at};
use crate::tool_invocation::fixtures::{AGENT, INVOCATION, RUN, invocation_requested, output};

fn one_of_each() -> Vec<ToolInvocationEvent> {
    vec![
        invocation_requested(),
        ToolInvocationEvent::InvocationStarted(InvocationStarted {
            executor: "executor-1".to_owned(),
            attempt: 1,
            started_at: at(1),
        }),
        ToolInvocationEvent::InvocationSucceeded(InvocationSucceeded {
            output: output(),
            duration_ms: 250,
            completed_at: at(2),
        }),
        ToolInvocationEvent::InvocationFailed(InvocationFailed {
            error: "HTTP 502 from the tool".to_owned(),
            duration_ms: None,
            failed_at: at(3),
        }),
        ToolInvocationEvent::InvocationTimedOut(InvocationTimedOut {
            timeout_ms: 10_000,
            timed_out_at: at(4),
        }),
    ]
}

#[test]
fn every_event_round_trips_through_json() {
    for event in one_of_each() {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<ToolInvocationEvent>(&json).unwrap(),
            event
        );
    }
}

#[test]
fn every_event_is_tagged_by_its_type_name() {
    let events = one_of_each();
    let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(types, ToolInvocationEvent::TYPES);
    for event in events {
        let value = serde_json::to_value(&event).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 1);
        assert!(object.contains_key(&event.event_type()));
        assert_eq!(event.event_version(), "1");
    }
}

#[test]
fn invocation_requested_serializes_with_an_external_tag() {
    let value = serde_json::to_value(invocation_requested()).unwrap();
    assert_eq!(
        value,
        json!({
            "InvocationRequested": {
                "invocation_id": INVOCATION,
                "tenant_id": TENANT,
                "tool_id": TOOL,
                "tool_name": "weather.forecast",
                "tool_version": 1,
                "kind": {
                    "type": "http",
                    "url": "https://tools.example.com/weather",
                    "method": "POST",
                    "timeout_ms": 10000,
                    "retries": 2
                },
                "output_schema": {
                    "type": "object",
                    "properties": { "temperature_c": { "type": "number" } },
                    "required": ["temperature_c"]
                },
                "agent_id": AGENT,
                "run_id": RUN,
                "step": 3,
                "tool_call_id": "call-7",
                "arguments": { "city": "Oslo", "days": 3 },
                "idempotency_key": "run-00d1/step-3/call-7",
                "requested_at": "2025-01-01T12:00:00Z"
            }
        })
    );
}

#[test]
fn occurred_at_is_the_time_the_event_states() {
    let times: Vec<_> = one_of_each()
        .iter()
        .map(ToolInvocationEvent::occurred_at)
        .collect();
    assert_eq!(times, vec![at(0), at(1), at(2), at(3), at(4)]);
}
