//! The rules that stop a run instead of beginning its next model call, and the step limit
//! on tool calls.

use super::*;
use crate::agent::AgentStatus;
use crate::run::fixtures::{calling_tools, model_call_completed, model_call_started, tool_answer};

fn with_agent(status: AgentStatus) -> RunCommand {
    begin_with(1, |command| {
        if let RunCommand::BeginModelCall { agent_status, .. } = command {
            *agent_status = status;
        }
    })
}

fn over_quota(step: u32) -> RunCommand {
    begin_with(step, |command| {
        if let RunCommand::BeginModelCall { quota_exceeded, .. } = command {
            *quota_exceeded = true;
        }
    })
}

fn estimated(step: u32, micros: i64) -> RunCommand {
    begin_with(step, |command| {
        if let RunCommand::BeginModelCall {
            estimated_cost_micros,
            ..
        } = command
        {
            *estimated_cost_micros = micros;
        }
    })
}

/// A started run an engine leased, with `max_steps` changed.
fn running_with_max_steps(max_steps: u32) -> Vec<RunEvent> {
    let mut started = run_started();
    if let RunEvent::RunStarted(event) = &mut started {
        event.max_steps = max_steps;
    }
    vec![started, lease_acquired(ENGINE, LEASE, 1)]
}

/// Both tool calls of the fixtures' answer finished, so step 4 is next.
fn tools_done() -> Vec<RunEvent> {
    and(
        calling_tools(false),
        [2, 3].map(|step| {
            RunEvent::ToolCallFailed(ToolCallFailed {
                step,
                tool_call_id: format!("call-{}", step - 1),
                error: "boom".to_owned(),
                failed_at: at(4),
            })
        }),
    )
}

// --- Paused or archived agent ------------------------------------------------------------

#[test]
fn a_paused_agent_cancels_the_run_at_its_next_model_call() {
    given(running())
        .when(with_agent(AgentStatus::Paused))
        .then_expect_events(vec![cancelled_event(
            CANCELLED_BY_AGENT_PAUSED,
            Some("the agent is paused"),
            10,
        )]);
}

#[test]
fn an_archived_agent_cancels_the_run_at_its_next_model_call() {
    given(running())
        .when(with_agent(AgentStatus::Archived))
        .then_expect_events(vec![cancelled_event(
            "system:agent-archived",
            Some("the agent is archived"),
            10,
        )]);
}

#[test]
fn a_paused_agent_goes_before_every_other_stop_rule() {
    let command = begin_with(1, |command| {
        if let RunCommand::BeginModelCall {
            agent_status,
            quota_exceeded,
            estimated_cost_micros,
            ..
        } = command
        {
            *agent_status = AgentStatus::Paused;
            *quota_exceeded = true;
            *estimated_cost_micros = BUDGET + 1;
        }
    });
    given(running())
        .when(command)
        .then_expect_events(vec![cancelled_event(
            CANCELLED_BY_AGENT_PAUSED,
            Some("the agent is paused"),
            10,
        )]);
}

// --- Quota -------------------------------------------------------------------------------

#[test]
fn a_crossed_quota_completes_the_run_before_the_step() {
    given(running())
        .when(over_quota(1))
        .then_expect_events(vec![completed(StopReason::QuotaExceeded, None)]);
}

#[test]
fn a_stopped_run_returns_the_models_last_answer() {
    given(tools_done())
        .when(over_quota(4))
        .then_expect_events(vec![completed(
            StopReason::QuotaExceeded,
            Some(tool_answer()),
        )]);
}

// --- max_steps ---------------------------------------------------------------------------

#[test]
fn a_model_call_past_max_steps_completes_the_run_instead() {
    let events = and(
        running_with_max_steps(1),
        [
            model_call_started(1, 1, 2),
            RunEvent::ModelCallFailed(ModelCallFailed {
                step: 1,
                error: "provider returned 529".to_owned(),
                failed_at: at(3),
            }),
        ],
    );
    given(events)
        .when(begin(2))
        .then_expect_events(vec![completed(StopReason::MaxSteps, None)]);
}

#[test]
fn a_model_call_at_max_steps_begins() {
    let result = given(running_with_max_steps(1))
        .when(begin(1))
        .inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn tool_calls_that_would_go_past_max_steps_complete_the_run_with_the_answer() {
    let events = and(running_with_max_steps(2), [model_call_started(1, 1, 2)]);
    given(events)
        .when(complete(1, tool_answer()))
        .then_expect_events(vec![
            model_call_completed(1, tool_answer(), CALL_COST, 10),
            completed(StopReason::MaxSteps, Some(tool_answer())),
        ]);
}

#[test]
fn tool_calls_that_reach_max_steps_exactly_are_requested() {
    let events = and(running_with_max_steps(3), [model_call_started(1, 1, 2)]);
    let result = given(events)
        .when(complete(1, tool_answer()))
        .inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

// --- Budget ------------------------------------------------------------------------------

#[test]
fn a_model_call_that_could_go_past_the_budget_completes_the_run_before_it() {
    given(running())
        .when(estimated(1, BUDGET + 1))
        .then_expect_events(vec![completed(StopReason::BudgetExhausted, None)]);
}

#[test]
fn a_model_call_that_could_spend_exactly_the_budget_begins() {
    let result = given(running()).when(estimated(1, BUDGET)).inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn the_budget_check_counts_what_was_spent_already() {
    // 300,000 spent by step 1; 700,001 more could pass the budget of 1,000,000.
    given(tools_done())
        .when(estimated(4, BUDGET - CALL_COST + 1))
        .then_expect_events(vec![completed(
            StopReason::BudgetExhausted,
            Some(tool_answer()),
        )]);
    let result = given(tools_done())
        .when(estimated(4, BUDGET - CALL_COST))
        .inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn the_quota_goes_before_max_steps_and_max_steps_before_the_budget() {
    let both = begin_with(2, |command| {
        if let RunCommand::BeginModelCall {
            quota_exceeded,
            estimated_cost_micros,
            ..
        } = command
        {
            *quota_exceeded = true;
            *estimated_cost_micros = BUDGET + 1;
        }
    });
    let failed_first = and(
        running_with_max_steps(1),
        [
            model_call_started(1, 1, 2),
            RunEvent::ModelCallFailed(ModelCallFailed {
                step: 1,
                error: "boom".to_owned(),
                failed_at: at(3),
            }),
        ],
    );
    given(failed_first.clone())
        .when(both)
        .then_expect_events(vec![completed(StopReason::QuotaExceeded, None)]);
    given(failed_first)
        .when(estimated(2, BUDGET + 1))
        .then_expect_events(vec![completed(StopReason::MaxSteps, None)]);
}
