//! Given / when / then tests of the run aggregate, and the helpers they share.

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use serde_json::Value;
use uuid::Uuid;

use super::fixtures::{
    AGENT, BUDGET, CALL_COST, ENGINE, INVOCATION, MAX_STEPS, MEMORY, RUN, TENANT, agent_facts, at,
    lease_acquired, question, run_started,
};
use super::*;

mod approval;
mod lease;
mod memory;
mod model_call;
mod start;
mod state;
mod stop_rules;
mod terminal;
mod tool_calls;

/// The lease generation the fixtures' engine holds.
const LEASE: u32 = 1;

fn given(events: Vec<RunEvent>) -> AggregateTestExecutor<Run> {
    TestFramework::<Run>::with(()).given(events)
}

fn given_nothing() -> AggregateTestExecutor<Run> {
    TestFramework::<Run>::with(()).given_no_previous_events()
}

/// A started run an engine leased, ready for its first model call.
fn running() -> Vec<RunEvent> {
    vec![run_started(), lease_acquired(ENGINE, LEASE, 1)]
}

/// `events` followed by more.
fn and(mut events: Vec<RunEvent>, more: impl IntoIterator<Item = RunEvent>) -> Vec<RunEvent> {
    events.extend(more);
    events
}

/// The start that the fixtures' `run_started` event answers.
fn start() -> RunCommand {
    RunCommand::StartRun {
        tenant_id: TENANT,
        run_id: RUN,
        agent_id: AGENT,
        agent: agent_facts(),
        input: vec![question()],
        max_steps: MAX_STEPS,
        budget_micros: BUDGET,
        idempotency_key: Some("client-key-1".to_owned()),
        now: at(0),
    }
}

/// `start()` with some fields changed.
fn start_with(change: impl FnOnce(&mut RunCommand)) -> RunCommand {
    let mut command = start();
    change(&mut command);
    command
}

fn acquire(tenant_id: Uuid, engine_id: &str) -> RunCommand {
    RunCommand::AcquireLease {
        tenant_id,
        engine_id: engine_id.to_owned(),
        lease_until: at(11),
        now: at(10),
    }
}

fn release(lease_generation: u32) -> RunCommand {
    RunCommand::ReleaseLease {
        tenant_id: TENANT,
        lease_generation,
        now: at(10),
    }
}

fn expire(lease_generation: u32, lease_until: i64) -> RunCommand {
    RunCommand::ExpireLease {
        tenant_id: TENANT,
        lease_generation,
        lease_until: at(lease_until),
        now: at(10),
    }
}

/// Begin model call `step` as an active agent under quota, estimated at [`CALL_COST`].
fn begin(step: u32) -> RunCommand {
    begin_with(step, |_| {})
}

fn begin_with(step: u32, change: impl FnOnce(&mut RunCommand)) -> RunCommand {
    let mut command = RunCommand::BeginModelCall {
        tenant_id: TENANT,
        lease_generation: LEASE,
        step,
        estimated_cost_micros: CALL_COST,
        agent_status: crate::agent::AgentStatus::Active,
        quota_exceeded: false,
        now: at(10),
    };
    change(&mut command);
    command
}

/// Complete model call `step` with `output`, no approvals, at [`CALL_COST`].
fn complete(step: u32, output: Message) -> RunCommand {
    complete_with(step, output, |_| {})
}

fn complete_with(step: u32, output: Message, change: impl FnOnce(&mut RunCommand)) -> RunCommand {
    let mut command = RunCommand::CompleteModelCall {
        tenant_id: TENANT,
        lease_generation: LEASE,
        step,
        output,
        approval_required: Vec::new(),
        usage: fixtures::usage(),
        latency_ms: 900,
        cost_micros: CALL_COST,
        now: at(10),
    };
    change(&mut command);
    command
}

fn fail_model_call(step: u32, error: &str) -> RunCommand {
    RunCommand::FailModelCall {
        tenant_id: TENANT,
        lease_generation: LEASE,
        step,
        error: error.to_owned(),
        now: at(10),
    }
}

fn record_invocation(step: u32, tool_call_id: &str) -> RunCommand {
    RunCommand::RecordToolInvocation {
        tenant_id: TENANT,
        lease_generation: LEASE,
        step,
        tool_call_id: tool_call_id.to_owned(),
        invocation_id: INVOCATION,
        now: at(10),
    }
}

fn complete_tool(step: u32, tool_call_id: &str, output: Value) -> RunCommand {
    RunCommand::CompleteToolCall {
        tenant_id: TENANT,
        lease_generation: LEASE,
        step,
        tool_call_id: tool_call_id.to_owned(),
        output,
        now: at(10),
    }
}

fn fail_tool(step: u32, tool_call_id: &str, error: &str) -> RunCommand {
    RunCommand::FailToolCall {
        tenant_id: TENANT,
        lease_generation: LEASE,
        step,
        tool_call_id: tool_call_id.to_owned(),
        error: error.to_owned(),
        now: at(10),
    }
}

fn approve(tool_call_id: &str, approved: bool) -> RunCommand {
    RunCommand::ApproveToolCall {
        tenant_id: TENANT,
        tool_call_id: tool_call_id.to_owned(),
        approved,
        approver: "user:ola".to_owned(),
        reason: None,
        now: at(10),
    }
}

fn record_memory(step: u32, tool_call_id: Option<&str>) -> RunCommand {
    RunCommand::RecordMemoryWrite {
        tenant_id: TENANT,
        lease_generation: LEASE,
        step,
        memory_id: MEMORY,
        tool_call_id: tool_call_id.map(str::to_owned),
        now: at(10),
    }
}

fn cancel(tenant_id: Uuid) -> RunCommand {
    RunCommand::CancelRun {
        tenant_id,
        by: "user:ola".to_owned(),
        reason: Some("wrong question".to_owned()),
        now: at(10),
    }
}

fn fail_run(error: &str) -> RunCommand {
    RunCommand::FailRun {
        tenant_id: TENANT,
        error: error.to_owned(),
        now: at(10),
    }
}

fn time_out() -> RunCommand {
    RunCommand::TimeOutRun {
        tenant_id: TENANT,
        timeout_ms: 600_000,
        now: at(10),
    }
}

fn completed(stop_reason: StopReason, output: Option<Message>) -> RunEvent {
    RunEvent::RunCompleted(RunCompleted {
        stop_reason,
        output,
        completed_at: at(10),
    })
}

fn cancelled_event(by: &str, reason: Option<&str>, minutes: i64) -> RunEvent {
    RunEvent::RunCancelled(RunCancelled {
        stop_reason: StopReason::Cancelled,
        by: by.to_owned(),
        reason: reason.map(str::to_owned),
        cancelled_at: at(minutes),
    })
}

/// One command of each kind that needs an existing run, sent by `tenant_id`.
fn commands_on_existing_runs(tenant_id: Uuid) -> Vec<RunCommand> {
    let with_tenant = |mut command: RunCommand| {
        set_tenant(&mut command, tenant_id);
        command
    };
    vec![
        with_tenant(acquire(TENANT, ENGINE)),
        with_tenant(release(LEASE)),
        with_tenant(expire(LEASE, 5)),
        with_tenant(begin(1)),
        with_tenant(complete(1, fixtures::final_answer())),
        with_tenant(fail_model_call(1, "provider error")),
        with_tenant(record_invocation(2, "call-1")),
        with_tenant(complete_tool(2, "call-1", Value::Null)),
        with_tenant(fail_tool(2, "call-1", "boom")),
        with_tenant(approve("call-2", true)),
        with_tenant(record_memory(4, None)),
        with_tenant(cancel(TENANT)),
        with_tenant(fail_run("boom")),
        with_tenant(time_out()),
    ]
}

fn set_tenant(command: &mut RunCommand, tenant: Uuid) {
    match command {
        RunCommand::StartRun { tenant_id, .. }
        | RunCommand::AcquireLease { tenant_id, .. }
        | RunCommand::ReleaseLease { tenant_id, .. }
        | RunCommand::ExpireLease { tenant_id, .. }
        | RunCommand::BeginModelCall { tenant_id, .. }
        | RunCommand::CompleteModelCall { tenant_id, .. }
        | RunCommand::FailModelCall { tenant_id, .. }
        | RunCommand::RecordToolInvocation { tenant_id, .. }
        | RunCommand::CompleteToolCall { tenant_id, .. }
        | RunCommand::FailToolCall { tenant_id, .. }
        | RunCommand::ApproveToolCall { tenant_id, .. }
        | RunCommand::RecordMemoryWrite { tenant_id, .. }
        | RunCommand::CancelRun { tenant_id, .. }
        | RunCommand::FailRun { tenant_id, .. }
        | RunCommand::TimeOutRun { tenant_id, .. } => *tenant_id = tenant,
    }
}

fn invalid(field: &str, message: &str) -> RunError {
    RunError::Invalid(vec![FieldError::new(field, message)])
}
