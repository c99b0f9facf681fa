//! Given / when / then tests of the tool invocation aggregate, and the helpers they share.

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use serde_json::Value;
use uuid::Uuid;

use super::fixtures::{AGENT, IDEMPOTENCY_KEY, INVOCATION, RUN, arguments, checker, snapshot};
use super::*;
use crate::tool::fixtures::{TENANT, at};

mod finish;
mod request;
mod start;
mod state;

fn given(events: Vec<ToolInvocationEvent>) -> AggregateTestExecutor<ToolInvocation> {
    TestFramework::<ToolInvocation>::with(checker()).given(events)
}

fn given_nothing() -> AggregateTestExecutor<ToolInvocation> {
    TestFramework::<ToolInvocation>::with(checker()).given_no_previous_events()
}

/// The request the fixtures' `invocation_requested` event answers.
fn request() -> ToolInvocationCommand {
    ToolInvocationCommand::RequestInvocation {
        tenant_id: TENANT,
        invocation_id: INVOCATION,
        tool: snapshot(),
        agent_id: AGENT,
        run_id: Some(RUN),
        step: Some(3),
        tool_call_id: Some("call-7".to_owned()),
        arguments: arguments(),
        idempotency_key: IDEMPOTENCY_KEY.to_owned(),
        now: at(0),
    }
}

/// `request()` with some fields changed.
fn request_with(change: impl FnOnce(&mut ToolInvocationCommand)) -> ToolInvocationCommand {
    let mut command = request();
    change(&mut command);
    command
}

fn start(tenant_id: Uuid, attempt: u32) -> ToolInvocationCommand {
    ToolInvocationCommand::StartInvocation {
        tenant_id,
        executor: "executor-1".to_owned(),
        attempt,
        now: at(10),
    }
}

fn complete(tenant_id: Uuid, output: Value) -> ToolInvocationCommand {
    ToolInvocationCommand::CompleteInvocation {
        tenant_id,
        output,
        duration_ms: 250,
        now: at(10),
    }
}

fn fail(tenant_id: Uuid, error: &str) -> ToolInvocationCommand {
    ToolInvocationCommand::FailInvocation {
        tenant_id,
        error: error.to_owned(),
        duration_ms: Some(250),
        now: at(10),
    }
}

fn time_out(tenant_id: Uuid) -> ToolInvocationCommand {
    ToolInvocationCommand::TimeOutInvocation {
        tenant_id,
        timeout_ms: 10_000,
        now: at(10),
    }
}

fn started(attempt: u32, minutes: i64) -> ToolInvocationEvent {
    ToolInvocationEvent::InvocationStarted(InvocationStarted {
        executor: "executor-1".to_owned(),
        attempt,
        started_at: at(minutes),
    })
}

fn succeeded(minutes: i64) -> ToolInvocationEvent {
    ToolInvocationEvent::InvocationSucceeded(InvocationSucceeded {
        output: fixtures::output(),
        duration_ms: 250,
        completed_at: at(minutes),
    })
}

fn failed(minutes: i64) -> ToolInvocationEvent {
    ToolInvocationEvent::InvocationFailed(InvocationFailed {
        error: "HTTP 502 from the tool".to_owned(),
        duration_ms: Some(250),
        failed_at: at(minutes),
    })
}

fn timed_out(minutes: i64) -> ToolInvocationEvent {
    ToolInvocationEvent::InvocationTimedOut(InvocationTimedOut {
        timeout_ms: 10_000,
        timed_out_at: at(minutes),
    })
}

/// One command of each kind that needs an existing invocation, with the action it reports.
fn commands_on_existing_invocations(tenant_id: Uuid) -> Vec<(&'static str, ToolInvocationCommand)> {
    vec![
        ("start", start(tenant_id, 1)),
        ("complete", complete(tenant_id, fixtures::output())),
        ("fail", fail(tenant_id, "boom")),
        ("time out", time_out(tenant_id)),
    ]
}

fn invalid(field: &str, message: &str) -> ToolInvocationError {
    ToolInvocationError::Invalid(vec![FieldError::new(field, message)])
}
