//! Tool calls: recording their invocation, their output or their failure.

use serde_json::json;

use super::*;
use crate::run::fixtures::{calling_tools, invocation_recorded};

fn tool_completed(step: u32, tool_call_id: &str, output: Value, minutes: i64) -> RunEvent {
    RunEvent::ToolCallCompleted(ToolCallCompleted {
        step,
        tool_call_id: tool_call_id.to_owned(),
        output,
        completed_at: at(minutes),
    })
}

fn tool_failed(step: u32, tool_call_id: &str, minutes: i64) -> RunEvent {
    RunEvent::ToolCallFailed(ToolCallFailed {
        step,
        tool_call_id: tool_call_id.to_owned(),
        error: "HTTP 502 from the tool".to_owned(),
        failed_at: at(minutes),
    })
}

fn invoked() -> Vec<RunEvent> {
    and(calling_tools(false), [invocation_recorded(2, "call-1", 4)])
}

// --- RecordToolInvocation ----------------------------------------------------------------

#[test]
fn records_the_invocation_of_a_tool_call() {
    given(calling_tools(false))
        .when(record_invocation(2, "call-1"))
        .then_expect_events(vec![invocation_recorded(2, "call-1", 10)]);
}

#[test]
fn records_the_invocation_of_a_call_needing_no_approval_while_another_awaits_one() {
    given(calling_tools(true))
        .when(record_invocation(2, "call-1"))
        .then_expect_events(vec![invocation_recorded(2, "call-1", 10)]);
}

#[test]
fn tells_a_repeated_invocation_that_it_is_recorded() {
    given(invoked())
        .when(record_invocation(2, "call-1"))
        .then_expect_error(RunError::AlreadyRecorded { step: 2 });
}

#[test]
fn tells_an_invocation_of_a_finished_call_that_it_is_recorded() {
    given(and(calling_tools(false), [tool_failed(2, "call-1", 4)]))
        .when(record_invocation(2, "call-1"))
        .then_expect_error(RunError::AlreadyRecorded { step: 2 });
}

#[test]
fn rejects_invoking_a_call_that_awaits_approval() {
    given(calling_tools(true))
        .when(record_invocation(3, "call-2"))
        .then_expect_error(RunError::AwaitingApproval {
            step: 3,
            tool_call_id: "call-2".to_owned(),
        });
}

#[test]
fn rejects_a_tool_call_id_that_is_not_the_steps() {
    given(calling_tools(false))
        .when(record_invocation(2, "call-2"))
        .then_expect_error(RunError::UnknownToolCall {
            step: Some(2),
            tool_call_id: "call-2".to_owned(),
        });
}

#[test]
fn rejects_a_tool_call_at_a_model_call_step() {
    given(calling_tools(false))
        .when(record_invocation(1, "call-1"))
        .then_expect_error_message("no tool call call-1 in this run");
}

// --- CompleteToolCall --------------------------------------------------------------------

#[test]
fn records_what_an_invoked_tool_returned() {
    let output = json!({ "temperature_c": -4.5 });
    given(invoked())
        .when(complete_tool(2, "call-1", output.clone()))
        .then_expect_events(vec![tool_completed(2, "call-1", output, 10)]);
}

#[test]
fn rejects_an_output_before_the_invocation_is_recorded() {
    given(calling_tools(false))
        .when(complete_tool(2, "call-1", json!(1)))
        .then_expect_error(RunError::InvocationNotRecorded { step: 2 });
}

#[test]
fn tells_a_repeated_output_that_it_is_recorded() {
    let events = and(invoked(), [tool_completed(2, "call-1", json!(1), 5)]);
    given(events)
        .when(complete_tool(2, "call-1", json!(1)))
        .then_expect_error(RunError::AlreadyRecorded { step: 2 });
}

#[test]
fn tells_an_output_after_a_failure_that_the_step_is_recorded() {
    given(and(invoked(), [tool_failed(2, "call-1", 5)]))
        .when(complete_tool(2, "call-1", json!(1)))
        .then_expect_error(RunError::AlreadyRecorded { step: 2 });
}

#[test]
fn rejects_an_output_holding_nul() {
    given(invoked())
        .when(complete_tool(2, "call-1", json!({ "text": "a\0b" })))
        .then_expect_error(invalid("output", "must not contain NUL characters"));
}

#[test]
fn rejects_an_output_too_large_to_send_to_the_model() {
    given(invoked())
        .when(complete_tool(2, "call-1", json!("a".repeat(100_000))))
        .then_expect_error(invalid(
            "output",
            "must be at most 100000 characters as JSON",
        ));
}

// --- FailToolCall ------------------------------------------------------------------------

#[test]
fn records_a_failed_tool_call() {
    given(invoked())
        .when(fail_tool(2, "call-1", "HTTP 502 from the tool"))
        .then_expect_events(vec![tool_failed(2, "call-1", 10)]);
}

#[test]
fn records_a_call_that_failed_before_any_invocation() {
    given(calling_tools(false))
        .when(fail_tool(2, "call-1", "HTTP 502 from the tool"))
        .then_expect_events(vec![tool_failed(2, "call-1", 10)]);
}

#[test]
fn tells_a_repeated_failure_that_it_is_recorded() {
    given(and(invoked(), [tool_failed(2, "call-1", 5)]))
        .when(fail_tool(2, "call-1", "HTTP 502 from the tool"))
        .then_expect_error(RunError::AlreadyRecorded { step: 2 });
}

#[test]
fn rejects_failing_a_call_that_awaits_approval() {
    given(calling_tools(true))
        .when(fail_tool(3, "call-2", "boom"))
        .then_expect_error(RunError::AwaitingApproval {
            step: 3,
            tool_call_id: "call-2".to_owned(),
        });
}

#[test]
fn rejects_a_tool_error_of_4001_characters() {
    given(invoked())
        .when(fail_tool(2, "call-1", &"e".repeat(4_001)))
        .then_expect_error(invalid("error", "must be at most 4000 characters"));
}
