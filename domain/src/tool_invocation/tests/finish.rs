//! Completing, failing and timing out, and the rules every command on an existing
//! invocation shares.

use serde_json::json;

use super::*;
use crate::tool_invocation::fixtures::{OTHER_TENANT, invocation_requested, output};

/// A request recorded for a version without an output schema.
fn requested_without_output_schema() -> ToolInvocationEvent {
    let ToolInvocationEvent::InvocationRequested(mut requested) = invocation_requested() else {
        unreachable!("the fixture is a request");
    };
    requested.output_schema = None;
    ToolInvocationEvent::InvocationRequested(requested)
}

fn failed_with(error: &str, duration_ms: Option<u64>) -> ToolInvocationEvent {
    ToolInvocationEvent::InvocationFailed(InvocationFailed {
        error: error.to_owned(),
        duration_ms,
        failed_at: at(10),
    })
}

// --- CompleteInvocation ------------------------------------------------------------------

#[test]
fn completes_a_running_call_with_an_output_matching_the_schema() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(complete(TENANT, output()))
        .then_expect_events(vec![succeeded(10)]);
}

#[test]
fn completes_a_call_of_a_version_without_output_schema_with_any_output() {
    given(vec![requested_without_output_schema(), started(1, 1)])
        .when(complete(TENANT, json!("free text")))
        .then_expect_events(vec![ToolInvocationEvent::InvocationSucceeded(
            InvocationSucceeded {
                output: json!("free text"),
                duration_ms: 250,
                completed_at: at(10),
            },
        )]);
}

#[test]
fn rejects_an_output_with_one_error_per_schema_failure() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(complete(TENANT, json!({ "temperature_c": "cold" })))
        .then_expect_error(invalid(
            "output/temperature_c",
            "value is not of type \"number\"",
        ));
}

#[test]
fn rejects_an_output_holding_nul_even_without_a_schema() {
    given(vec![requested_without_output_schema(), started(1, 1)])
        .when(complete(TENANT, json!({ "text": "\u{0}" })))
        .then_expect_error(invalid("output", "must not contain NUL characters"));
}

#[test]
fn rejects_completing_a_call_that_never_started() {
    given(vec![invocation_requested()])
        .when(complete(TENANT, output()))
        .then_expect_error(ToolInvocationError::InvalidTransition {
            action: "complete",
            status: ToolInvocationStatus::Requested,
        });
}

#[test]
fn two_completions_never_both_succeed() {
    let mut invocation = ToolInvocation::default();
    for event in [invocation_requested(), started(1, 1)] {
        cqrs_es::Aggregate::apply(&mut invocation, event);
    }
    let first = invocation.decide(complete(TENANT, output()), checker().as_ref());
    assert_eq!(first, Ok(succeeded(10)));
    cqrs_es::Aggregate::apply(&mut invocation, first.unwrap());
    assert_eq!(
        invocation.decide(complete(TENANT, output()), checker().as_ref()),
        Err(ToolInvocationError::InvalidTransition {
            action: "complete",
            status: ToolInvocationStatus::Succeeded,
        })
    );
}

#[test]
fn rejects_completing_a_succeeded_call() {
    given(vec![invocation_requested(), started(1, 1), succeeded(2)])
        .when(complete(TENANT, output()))
        .then_expect_error(ToolInvocationError::InvalidTransition {
            action: "complete",
            status: ToolInvocationStatus::Succeeded,
        });
}

// --- FailInvocation ----------------------------------------------------------------------

#[test]
fn fails_a_running_call_with_its_error_and_duration() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(fail(TENANT, "HTTP 502 from the tool"))
        .then_expect_events(vec![failed(10)]);
}

#[test]
fn fails_a_call_that_never_started_without_a_duration() {
    given(vec![invocation_requested()])
        .when(ToolInvocationCommand::FailInvocation {
            tenant_id: TENANT,
            error: "no executor accepts this kind".to_owned(),
            duration_ms: None,
            now: at(10),
        })
        .then_expect_events(vec![failed_with("no executor accepts this kind", None)]);
}

#[test]
fn accepts_an_error_of_4000_characters_with_line_breaks() {
    let error = format!("{}\n\t", "e".repeat(3_998));
    given(vec![invocation_requested(), started(1, 1)])
        .when(fail(TENANT, &error))
        .then_expect_events(vec![failed_with(&error, Some(250))]);
}

#[test]
fn rejects_an_error_of_4001_characters() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(fail(TENANT, &"e".repeat(4_001)))
        .then_expect_error(invalid("error", "must be at most 4000 characters"));
}

#[test]
fn rejects_an_empty_error() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(fail(TENANT, " "))
        .then_expect_error(invalid("error", "must not be empty"));
}

#[test]
fn rejects_an_error_holding_control_characters() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(fail(TENANT, "\u{1b}[31mred"))
        .then_expect_error(invalid(
            "error",
            "must not contain control characters other than tab and line breaks",
        ));
}

// --- TimeOutInvocation -------------------------------------------------------------------

#[test]
fn times_out_a_running_call() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(time_out(TENANT))
        .then_expect_events(vec![timed_out(10)]);
}

#[test]
fn times_out_a_call_that_never_started() {
    given(vec![invocation_requested()])
        .when(time_out(TENANT))
        .then_expect_events(vec![timed_out(10)]);
}

// --- Rules every command on an existing invocation shares --------------------------------

#[test]
fn rejects_every_command_on_a_finished_call() {
    for (outcome, status) in [
        (succeeded(2), ToolInvocationStatus::Succeeded),
        (failed(2), ToolInvocationStatus::Failed),
        (timed_out(2), ToolInvocationStatus::TimedOut),
    ] {
        for (action, command) in commands_on_existing_invocations(TENANT) {
            given(vec![invocation_requested(), started(1, 1), outcome.clone()])
                .when(command)
                .then_expect_error(ToolInvocationError::InvalidTransition { action, status });
        }
    }
}

#[test]
fn rejects_every_command_on_an_invocation_that_does_not_exist() {
    for (_, command) in commands_on_existing_invocations(TENANT) {
        given_nothing()
            .when(command)
            .then_expect_error(ToolInvocationError::NotFound);
    }
}

#[test]
fn reports_another_tenants_invocation_as_not_found() {
    for (_, command) in commands_on_existing_invocations(OTHER_TENANT) {
        given(vec![invocation_requested(), started(1, 1)])
            .when(command)
            .then_expect_error(ToolInvocationError::NotFound);
    }
}

#[test]
fn reports_a_status_rejection_before_invalid_fields() {
    given(vec![invocation_requested(), started(1, 1), failed(2)])
        .when(fail(TENANT, ""))
        .then_expect_error(ToolInvocationError::InvalidTransition {
            action: "fail",
            status: ToolInvocationStatus::Failed,
        });
}
