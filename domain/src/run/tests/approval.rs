//! Approving and rejecting tool calls that wait for a person's decision.

use super::*;
use crate::run::fixtures::{calling_tools, tool_call_requested};

fn approved(step: u32, tool_call_id: &str, approvals_remaining: u32) -> RunEvent {
    RunEvent::ToolCallApproved(ToolCallApproved {
        step,
        tool_call_id: tool_call_id.to_owned(),
        approver: "user:ola".to_owned(),
        reason: None,
        approvals_remaining,
        approved_at: at(10),
    })
}

fn rejected(step: u32, tool_call_id: &str, reason: Option<&str>) -> RunEvent {
    RunEvent::ToolCallRejected(ToolCallRejected {
        step,
        tool_call_id: tool_call_id.to_owned(),
        approver: "user:ola".to_owned(),
        reason: reason.map(str::to_owned),
        approvals_remaining: 0,
        rejected_at: at(10),
    })
}

/// Both tool calls of the fixtures' answer need approval.
fn both_awaiting() -> Vec<RunEvent> {
    let mut events = calling_tools(true);
    events[4] = tool_call_requested(2, 0, true, 3);
    events
}

#[test]
fn approves_a_tool_call() {
    given(calling_tools(true))
        .when(approve("call-2", true))
        .then_expect_events(vec![approved(3, "call-2", 0)]);
}

#[test]
fn counts_the_approvals_still_to_decide() {
    given(both_awaiting())
        .when(approve("call-1", true))
        .then_expect_events(vec![approved(2, "call-1", 1)]);
}

#[test]
fn rejects_a_tool_call_with_the_reason_for_the_model() {
    given(calling_tools(true))
        .when(RunCommand::ApproveToolCall {
            tenant_id: TENANT,
            tool_call_id: "call-2".to_owned(),
            approved: false,
            approver: "user:ola".to_owned(),
            reason: Some("Do not mail customers.".to_owned()),
            now: at(10),
        })
        .then_expect_events(vec![rejected(3, "call-2", Some("Do not mail customers."))]);
}

#[test]
fn decides_without_holding_the_lease() {
    let released = RunEvent::RunLeaseReleased(RunLeaseReleased {
        engine_id: ENGINE.to_owned(),
        lease_generation: LEASE,
        released_at: at(4),
    });
    given(and(calling_tools(true), [released]))
        .when(approve("call-2", false))
        .then_expect_events(vec![rejected(3, "call-2", None)]);
}

#[test]
fn tells_a_second_decision_that_the_first_is_recorded() {
    given(and(calling_tools(true), [approved(3, "call-2", 0)]))
        .when(approve("call-2", false))
        .then_expect_error(RunError::AlreadyRecorded { step: 3 });
}

#[test]
fn rejects_deciding_on_a_call_that_needs_no_approval() {
    given(calling_tools(true))
        .when(approve("call-1", true))
        .then_expect_error(RunError::NotAwaitingApproval {
            step: 2,
            tool_call_id: "call-1".to_owned(),
        });
}

#[test]
fn rejects_deciding_on_an_unknown_tool_call() {
    given(calling_tools(true))
        .when(approve("call-9", true))
        .then_expect_error(RunError::UnknownToolCall {
            step: None,
            tool_call_id: "call-9".to_owned(),
        });
}

#[test]
fn rejects_a_blank_approver_and_a_reason_of_501_characters_at_once() {
    given(calling_tools(true))
        .when(RunCommand::ApproveToolCall {
            tenant_id: TENANT,
            tool_call_id: "call-2".to_owned(),
            approved: true,
            approver: " ".to_owned(),
            reason: Some("r".repeat(501)),
            now: at(10),
        })
        .then_expect_error(RunError::Invalid(vec![
            FieldError::new("approver", "must not be empty"),
            FieldError::new("reason", "must be at most 500 characters"),
        ]));
}

#[test]
fn an_approved_call_can_be_invoked() {
    given(and(calling_tools(true), [approved(3, "call-2", 0)]))
        .when(record_invocation(3, "call-2"))
        .then_expect_events(vec![fixtures::invocation_recorded(3, "call-2", 10)]);
}

#[test]
fn a_rejected_call_is_done() {
    given(and(calling_tools(true), [rejected(3, "call-2", None)]))
        .when(record_invocation(3, "call-2"))
        .then_expect_error(RunError::AlreadyRecorded { step: 3 });
}
