//! The state `apply` rebuilds, and the status type.

use cqrs_es::Aggregate;
use serde_json::json;

use super::*;
use crate::tool::fixtures::{TOOL, http_kind};
use crate::tool_invocation::fixtures::{invocation_requested, output};

fn replay(events: Vec<ToolInvocationEvent>) -> ToolInvocation {
    let mut invocation = ToolInvocation::default();
    for event in events {
        invocation.apply(event);
    }
    invocation
}

#[test]
fn a_new_invocation_does_not_exist() {
    let invocation = ToolInvocation::default();
    assert!(!invocation.exists());
    assert_eq!(invocation.id(), None);
    assert_eq!(invocation.tenant_id(), None);
    assert_eq!(invocation.status(), None);
    assert_eq!(invocation.request(), None);
    assert_eq!(invocation.attempt(), 0);
}

#[test]
fn a_requested_invocation_exposes_what_the_executor_needs() {
    let invocation = replay(vec![invocation_requested()]);
    assert!(invocation.exists());
    assert_eq!(invocation.id(), Some(INVOCATION));
    assert_eq!(invocation.tenant_id(), Some(TENANT));
    assert_eq!(invocation.status(), Some(ToolInvocationStatus::Requested));
    assert_eq!(invocation.tool_id(), Some(TOOL));
    assert_eq!(invocation.tool_version(), Some(1));
    assert_eq!(invocation.kind(), Some(&http_kind()));
    assert_eq!(invocation.arguments(), Some(&arguments()));
    assert_eq!(
        invocation
            .request()
            .map(|request| request.idempotency_key.as_str()),
        Some(IDEMPOTENCY_KEY)
    );
    assert_eq!(invocation.requested_at(), Some(at(0)));
    assert_eq!(invocation.attempt(), 0);
    assert_eq!(invocation.executor(), None);
    assert_eq!(invocation.finished_at(), None);
}

#[test]
fn a_restarted_invocation_tracks_the_latest_attempt() {
    let invocation = replay(vec![invocation_requested(), started(1, 1), started(2, 5)]);
    assert_eq!(invocation.status(), Some(ToolInvocationStatus::Running));
    assert_eq!(invocation.attempt(), 2);
    assert_eq!(invocation.executor(), Some("executor-1"));
    assert_eq!(invocation.started_at(), Some(at(5)));
    assert_eq!(invocation.updated_at(), Some(at(5)));
}

#[test]
fn a_succeeded_invocation_keeps_its_output_and_duration() {
    let invocation = replay(vec![invocation_requested(), started(1, 1), succeeded(2)]);
    assert_eq!(invocation.status(), Some(ToolInvocationStatus::Succeeded));
    assert_eq!(invocation.output(), Some(&output()));
    assert_eq!(invocation.duration_ms(), Some(250));
    assert_eq!(invocation.error(), None);
    assert_eq!(invocation.finished_at(), Some(at(2)));
}

#[test]
fn a_failed_invocation_keeps_its_error() {
    let invocation = replay(vec![invocation_requested(), started(1, 1), failed(3)]);
    assert_eq!(invocation.status(), Some(ToolInvocationStatus::Failed));
    assert_eq!(invocation.error(), Some("HTTP 502 from the tool"));
    assert_eq!(invocation.duration_ms(), Some(250));
    assert_eq!(invocation.output(), None);
    assert_eq!(invocation.finished_at(), Some(at(3)));
}

#[test]
fn a_timed_out_invocation_keeps_its_limit() {
    let invocation = replay(vec![invocation_requested(), timed_out(4)]);
    assert_eq!(invocation.status(), Some(ToolInvocationStatus::TimedOut));
    assert_eq!(invocation.timeout_ms(), Some(10_000));
    assert_eq!(invocation.finished_at(), Some(at(4)));
    assert_eq!(invocation.updated_at(), Some(at(4)));
}

#[test]
fn applying_events_out_of_order_never_panics() {
    let invocation = replay(vec![
        succeeded(0),
        started(3, 1),
        ToolInvocationEvent::InvocationSucceeded(InvocationSucceeded {
            output: json!(null),
            duration_ms: 0,
            completed_at: at(2),
        }),
        timed_out(3),
    ]);
    // Without an InvocationRequested it still does not exist, so every command is NotFound.
    assert!(!invocation.exists());
    assert_eq!(invocation.attempt(), 3);
}

#[test]
fn the_aggregate_type_is_tool_invocation() {
    assert_eq!(ToolInvocation::TYPE, "tool_invocation");
    assert_eq!(ToolInvocation::TYPE, TOOL_INVOCATION_AGGREGATE_TYPE);
}

#[test]
fn an_invocation_round_trips_through_json() {
    let invocation = replay(vec![invocation_requested(), started(1, 1), failed(2)]);
    let json = serde_json::to_string(&invocation).unwrap();
    assert_eq!(
        serde_json::from_str::<ToolInvocation>(&json).unwrap(),
        invocation
    );
}

// --- ToolInvocationStatus ----------------------------------------------------------------

#[test]
fn statuses_print_and_serialize_as_snake_case_words() {
    for (status, word, terminal) in [
        (ToolInvocationStatus::Requested, "requested", false),
        (ToolInvocationStatus::Running, "running", false),
        (ToolInvocationStatus::Succeeded, "succeeded", true),
        (ToolInvocationStatus::Failed, "failed", true),
        (ToolInvocationStatus::TimedOut, "timed_out", true),
    ] {
        assert_eq!(status.as_str(), word);
        assert_eq!(status.to_string(), word);
        assert_eq!(status.is_terminal(), terminal);
        assert_eq!(serde_json::to_value(status).unwrap(), word);
        assert_eq!(
            serde_json::from_value::<ToolInvocationStatus>(word.into()).unwrap(),
            status
        );
    }
}
