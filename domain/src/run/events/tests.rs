//! The stored shape of run events.

use serde_json::json;

use super::*;
use crate::run::fixtures::{
    AGENT, MEMORY, RUN, TENANT, at, final_answer, invocation_recorded, lease_acquired,
    model_call_completed, model_call_started, run_started, tool_answer, tool_call_requested,
};

fn one_of_each() -> Vec<RunEvent> {
    vec![
        run_started(),
        lease_acquired("engine-1", 1, 1),
        RunEvent::RunLeaseReleased(RunLeaseReleased {
            engine_id: "engine-1".to_owned(),
            lease_generation: 1,
            released_at: at(2),
        }),
        RunEvent::RunLeaseExpired(RunLeaseExpired {
            engine_id: "engine-1".to_owned(),
            lease_generation: 2,
            lease_until: at(2),
            expirations: 1,
            expired_at: at(3),
        }),
        model_call_started(1, 1, 4),
        model_call_completed(1, tool_answer(), 300_000, 5),
        RunEvent::ModelCallFailed(ModelCallFailed {
            step: 1,
            error: "provider returned 529".to_owned(),
            failed_at: at(6),
        }),
        tool_call_requested(2, 0, true, 7),
        RunEvent::ToolCallApproved(ToolCallApproved {
            step: 2,
            tool_call_id: "call-1".to_owned(),
            approver: "user:ola".to_owned(),
            reason: None,
            approvals_remaining: 0,
            approved_at: at(8),
        }),
        RunEvent::ToolCallRejected(ToolCallRejected {
            step: 3,
            tool_call_id: "call-2".to_owned(),
            approver: "user:ola".to_owned(),
            reason: Some("no".to_owned()),
            approvals_remaining: 0,
            rejected_at: at(9),
        }),
        invocation_recorded(2, "call-1", 10),
        RunEvent::ToolCallCompleted(ToolCallCompleted {
            step: 2,
            tool_call_id: "call-1".to_owned(),
            output: json!({ "temperature_c": -4.5 }),
            completed_at: at(11),
        }),
        RunEvent::ToolCallFailed(ToolCallFailed {
            step: 2,
            tool_call_id: "call-1".to_owned(),
            error: "HTTP 502".to_owned(),
            failed_at: at(12),
        }),
        RunEvent::MemoryWriteRecorded(MemoryWriteRecorded {
            step: 4,
            memory_id: MEMORY,
            tool_call_id: Some("call-1".to_owned()),
            recorded_at: at(13),
        }),
        RunEvent::RunCompleted(RunCompleted {
            stop_reason: StopReason::EndTurn,
            output: Some(final_answer()),
            completed_at: at(14),
        }),
        RunEvent::RunFailed(RunFailed {
            stop_reason: StopReason::Error,
            error: "boom".to_owned(),
            failed_at: at(15),
        }),
        RunEvent::RunCancelled(RunCancelled {
            stop_reason: StopReason::Cancelled,
            by: "system:agent-paused".to_owned(),
            reason: Some("the agent is paused".to_owned()),
            cancelled_at: at(16),
        }),
        RunEvent::RunTimedOut(RunTimedOut {
            stop_reason: StopReason::Error,
            timeout_ms: 600_000,
            timed_out_at: at(17),
        }),
    ]
}

#[test]
fn every_event_round_trips_through_json() {
    for event in one_of_each() {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<RunEvent>(&json).unwrap(), event);
    }
}

#[test]
fn every_event_is_tagged_by_its_type_name() {
    let events = one_of_each();
    let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(types, RunEvent::TYPES);
    for event in events {
        let value = serde_json::to_value(&event).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 1);
        assert!(object.contains_key(&event.event_type()));
        assert_eq!(event.event_version(), "1");
    }
}

#[test]
fn occurred_at_is_the_time_the_event_states() {
    let times: Vec<_> = one_of_each().iter().map(RunEvent::occurred_at).collect();
    assert_eq!(times, (0..18).map(at).collect::<Vec<_>>());
}

#[test]
fn model_call_completed_serializes_with_an_external_tag() {
    let value = serde_json::to_value(model_call_completed(1, tool_answer(), 300_000, 5)).unwrap();
    assert_eq!(
        value,
        json!({
            "ModelCallCompleted": {
                "step": 1,
                "output": {
                    "role": "assistant",
                    "content": "",
                    "tool_call_id": null,
                    "tool_calls": [
                        {
                            "tool_call_id": "call-1",
                            "tool_id": "00000000-0000-0000-0000-000000000001",
                            "tool_name": "weather.forecast",
                            "arguments": { "city": "Oslo" }
                        },
                        {
                            "tool_call_id": "call-2",
                            "tool_id": "00000000-0000-0000-0000-000000000002",
                            "tool_name": "email.send",
                            "arguments": { "to": "kari@example.com" }
                        }
                    ]
                },
                "usage": { "input_tokens": 1200, "output_tokens": 80 },
                "latency_ms": 900,
                "cost_micros": 300000,
                "spent_micros": 300000,
                "completed_at": "2025-01-01T12:05:00Z"
            }
        })
    );
}

#[test]
fn run_started_serializes_with_an_external_tag() {
    let value = serde_json::to_value(run_started()).unwrap();
    let started = &value["RunStarted"];
    assert_eq!(started["run_id"], json!(RUN));
    assert_eq!(started["tenant_id"], json!(TENANT));
    assert_eq!(started["agent_id"], json!(AGENT));
    assert_eq!(started["agent_config_version"], 3);
    assert_eq!(started["max_steps"], 10);
    assert_eq!(started["budget_micros"], 1_000_000);
    assert_eq!(started["idempotency_key"], "client-key-1");
    assert_eq!(started["input"][0]["role"], "user");
    assert_eq!(started["created_at"], "2025-01-01T12:00:00Z");
}

#[test]
fn step_names_the_step_an_event_is_about() {
    let steps: Vec<Option<u32>> = one_of_each().iter().map(RunEvent::step).collect();
    let none = None;
    assert_eq!(
        steps,
        [
            none,
            none,
            none,
            none,
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            Some(3),
            Some(2),
            Some(2),
            Some(2),
            Some(4),
            none,
            none,
            none,
            none
        ]
    );
}
