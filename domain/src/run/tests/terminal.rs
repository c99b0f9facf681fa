//! Cancelling, failing and timing out a run, and the rules every command shares: another
//! tenant's run is missing, and a stopped run accepts nothing.

use super::*;
use crate::run::fixtures::{OTHER_TENANT, calling_tools, final_answer};

fn run_failed(error: &str, minutes: i64) -> RunEvent {
    RunEvent::RunFailed(RunFailed {
        stop_reason: StopReason::Error,
        error: error.to_owned(),
        failed_at: at(minutes),
    })
}

fn timed_out(minutes: i64) -> RunEvent {
    RunEvent::RunTimedOut(RunTimedOut {
        stop_reason: StopReason::Error,
        timeout_ms: 600_000,
        timed_out_at: at(minutes),
    })
}

/// A run ended in each terminal status.
fn stopped_runs() -> Vec<(RunStatus, Vec<RunEvent>)> {
    let ended = |event: RunEvent| and(calling_tools(true), [event]);
    vec![
        (
            RunStatus::Completed,
            ended(RunEvent::RunCompleted(RunCompleted {
                stop_reason: StopReason::EndTurn,
                output: Some(final_answer()),
                completed_at: at(5),
            })),
        ),
        (RunStatus::Failed, ended(run_failed("boom", 5))),
        (
            RunStatus::Cancelled,
            ended(cancelled_event("user:ola", None, 5)),
        ),
        (RunStatus::TimedOut, ended(timed_out(5))),
    ]
}

// --- CancelRun ---------------------------------------------------------------------------

#[test]
fn cancels_a_queued_run() {
    given(vec![run_started()])
        .when(cancel(TENANT))
        .then_expect_events(vec![cancelled_event(
            "user:ola",
            Some("wrong question"),
            10,
        )]);
}

#[test]
fn cancels_a_run_waiting_for_approval() {
    given(calling_tools(true))
        .when(cancel(TENANT))
        .then_expect_events(vec![cancelled_event(
            "user:ola",
            Some("wrong question"),
            10,
        )]);
}

#[test]
fn rejects_a_canceller_holding_nul() {
    given(running())
        .when(RunCommand::CancelRun {
            tenant_id: TENANT,
            by: "user:\0".to_owned(),
            reason: None,
            now: at(10),
        })
        .then_expect_error(invalid("by", "must not contain NUL characters"));
}

// --- FailRun and TimeOutRun --------------------------------------------------------------

#[test]
fn fails_a_running_run() {
    given(running())
        .when(fail_run("model kept failing"))
        .then_expect_events(vec![run_failed("model kept failing", 10)]);
}

#[test]
fn rejects_failing_a_run_without_saying_why() {
    given(running())
        .when(fail_run(""))
        .then_expect_error(invalid("error", "must not be empty"));
}

#[test]
fn times_out_a_queued_run() {
    given(vec![run_started()])
        .when(time_out())
        .then_expect_events(vec![timed_out(10)]);
}

// --- Terminal states ---------------------------------------------------------------------

#[test]
fn a_stopped_run_rejects_every_command() {
    for (status, events) in stopped_runs() {
        for command in commands_on_existing_runs(TENANT) {
            let action = command.action();
            let result = given(events.clone()).when(command).inspect_result();
            let expected = RunError::InvalidTransition { action, status };
            assert_eq!(result, Err(expected), "{action} when {status}");
        }
        let result = given(events).when(start()).inspect_result();
        assert_eq!(result, Err(RunError::AlreadyExists), "start when {status}");
    }
}

#[test]
fn explains_an_invalid_transition_in_words() {
    given(and(running(), [timed_out(5)]))
        .when(cancel(TENANT))
        .then_expect_error_message("cannot cancel a run that is timed_out");
}

// --- Tenancy -----------------------------------------------------------------------------

#[test]
fn rejects_every_command_on_a_missing_run_as_not_found() {
    for command in commands_on_existing_runs(TENANT) {
        let action = command.action();
        let result = given_nothing().when(command).inspect_result();
        assert_eq!(result, Err(RunError::NotFound), "{action}");
    }
}

#[test]
fn rejects_every_command_on_another_tenants_run_as_not_found() {
    for command in commands_on_existing_runs(OTHER_TENANT) {
        let action = command.action();
        let result = given(calling_tools(true)).when(command).inspect_result();
        assert_eq!(result, Err(RunError::NotFound), "{action}");
    }
}

#[test]
fn checks_the_tenant_before_the_lifecycle() {
    given(and(running(), [timed_out(5)]))
        .when(cancel(OTHER_TENANT))
        .then_expect_error(RunError::NotFound);
}

#[test]
fn checks_the_lifecycle_before_the_lease() {
    given(and(running(), [run_failed("boom", 5)]))
        .when(begin_with(1, |command| {
            if let RunCommand::BeginModelCall {
                lease_generation, ..
            } = command
            {
                *lease_generation = 7;
            }
        }))
        .then_expect_error(RunError::InvalidTransition {
            action: "begin a model call in",
            status: RunStatus::Failed,
        });
}
