//! Starting and restarting attempts.

use super::*;
use crate::tool_invocation::fixtures::invocation_requested;

fn start_by(executor: &str) -> ToolInvocationCommand {
    ToolInvocationCommand::StartInvocation {
        tenant_id: TENANT,
        executor: executor.to_owned(),
        attempt: 1,
        now: at(10),
    }
}

#[test]
fn starts_a_requested_call_as_attempt_one() {
    given(vec![invocation_requested()])
        .when(start(TENANT, 1))
        .then_expect_events(vec![started(1, 10)]);
}

#[test]
fn restarts_a_running_call_with_the_next_attempt() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(start(TENANT, 2))
        .then_expect_events(vec![started(2, 10)]);
}

#[test]
fn restarts_with_any_higher_attempt() {
    given(vec![invocation_requested(), started(1, 1)])
        .when(start(TENANT, 5))
        .then_expect_events(vec![started(5, 10)]);
}

#[test]
fn rejects_a_start_repeating_the_latest_attempt() {
    given(vec![invocation_requested(), started(2, 1)])
        .when(start(TENANT, 2))
        .then_expect_error(ToolInvocationError::StaleAttempt {
            attempt: 2,
            latest: 2,
        });
}

#[test]
fn rejects_a_start_with_an_older_attempt() {
    given(vec![invocation_requested(), started(1, 1), started(3, 2)])
        .when(start(TENANT, 2))
        .then_expect_error(ToolInvocationError::StaleAttempt {
            attempt: 2,
            latest: 3,
        });
}

#[test]
fn rejects_attempt_zero() {
    given(vec![invocation_requested()])
        .when(start(TENANT, 0))
        .then_expect_error(invalid("attempt", "must be at least 1"));
}

#[test]
fn rejects_an_empty_executor() {
    given(vec![invocation_requested()])
        .when(start_by(""))
        .then_expect_error(invalid("executor", "must not be empty"));
}

#[test]
fn rejects_an_executor_of_256_characters() {
    given(vec![invocation_requested()])
        .when(start_by(&"e".repeat(256)))
        .then_expect_error(invalid("executor", "must be at most 255 characters"));
}

#[test]
fn rejects_an_executor_holding_control_characters() {
    given(vec![invocation_requested()])
        .when(start_by("executor\t1"))
        .then_expect_error(invalid("executor", "must not contain control characters"));
}

#[test]
fn rejects_starting_a_finished_call() {
    for (outcome, status) in [
        (succeeded(2), ToolInvocationStatus::Succeeded),
        (failed(2), ToolInvocationStatus::Failed),
        (timed_out(2), ToolInvocationStatus::TimedOut),
    ] {
        given(vec![invocation_requested(), started(1, 1), outcome])
            .when(start(TENANT, 2))
            .then_expect_error(ToolInvocationError::InvalidTransition {
                action: "start",
                status,
            });
    }
}
