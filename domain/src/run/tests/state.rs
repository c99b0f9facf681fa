//! The state `apply` rebuilds, the accessors the engine reads, and the small types.

use cqrs_es::Aggregate;
use serde_json::json;

use super::*;
use crate::run::fixtures::{
    WEATHER_TOOL, calling_tools, final_answer, invocation_recorded, model_call_completed,
    model_call_started, tool_answer,
};

fn replay(events: Vec<RunEvent>) -> Run {
    let mut run = Run::default();
    for event in events {
        run.apply(event);
    }
    run
}

fn decided(approved: bool) -> RunEvent {
    let reason = Some("Do not mail customers.".to_owned());
    if approved {
        RunEvent::ToolCallApproved(ToolCallApproved {
            step: 3,
            tool_call_id: "call-2".to_owned(),
            approver: "user:ola".to_owned(),
            reason,
            approvals_remaining: 0,
            approved_at: at(5),
        })
    } else {
        RunEvent::ToolCallRejected(ToolCallRejected {
            step: 3,
            tool_call_id: "call-2".to_owned(),
            approver: "user:ola".to_owned(),
            reason,
            approvals_remaining: 0,
            rejected_at: at(5),
        })
    }
}

fn steps_of<'a>(calls: impl Iterator<Item = (u32, &'a ToolCallStep)>) -> Vec<u32> {
    calls.map(|(step, _)| step).collect()
}

#[test]
fn a_new_run_does_not_exist() {
    let run = Run::default();
    assert!(!run.exists());
    assert_eq!(run.id(), None);
    assert_eq!(run.status(), None);
    assert!(!run.is_terminal());
    assert_eq!(run.next_step(), 1);
    assert_eq!(run.lease_generation(), 0);
}

#[test]
fn a_started_run_is_queued_with_its_agent_limits_and_input() {
    let run = replay(vec![run_started()]);
    assert!(run.exists());
    assert_eq!(run.id(), Some(RUN));
    assert_eq!(run.tenant_id(), Some(TENANT));
    assert_eq!(run.agent_id(), Some(AGENT));
    assert_eq!(run.agent_config_version(), 3);
    assert_eq!(run.model(), Some(&agent_facts().model));
    assert_eq!(run.system_prompt(), agent_facts().system_prompt);
    assert_eq!(run.tool_ids(), agent_facts().tool_ids);
    assert_eq!(run.status(), Some(RunStatus::Queued));
    assert_eq!(run.max_steps(), MAX_STEPS);
    assert_eq!(run.budget_micros(), BUDGET);
    assert_eq!(run.spent_micros(), 0);
    assert_eq!(run.idempotency_key(), Some("client-key-1"));
    assert_eq!(run.input(), [question()]);
    assert_eq!(run.conversation(), [question()]);
    assert_eq!(run.created_at(), Some(at(0)));
    assert_eq!(run.lease(), None);
}

#[test]
fn the_first_lease_makes_a_queued_run_running() {
    let run = replay(running());
    assert_eq!(run.status(), Some(RunStatus::Running));
    let lease = run.lease().unwrap();
    assert_eq!(lease.engine_id, ENGINE);
    assert_eq!(lease.lease_generation, 1);
    assert_eq!(lease.lease_until, at(2));
    assert_eq!(run.lease_generation(), 1);
}

#[test]
fn a_run_waiting_for_approval_shows_what_to_invoke_and_what_to_decide() {
    let run = replay(calling_tools(true));
    assert_eq!(run.status(), Some(RunStatus::RequiresAction));
    assert_eq!(run.next_step(), 4);
    assert_eq!(run.spent_micros(), CALL_COST);
    assert_eq!(steps_of(run.pending_tool_calls()), vec![2, 3]);
    assert_eq!(steps_of(run.pending_approvals()), vec![3]);
    assert_eq!(steps_of(run.tool_calls_to_invoke()), vec![2]);
    assert_eq!(run.conversation(), [question(), tool_answer()]);
    assert_eq!(run.messages_in(1), Some(&[question()][..]));
    assert_eq!(run.last_answer(), Some(&tool_answer()));
    let call = run.step(2).unwrap().tool_call().unwrap();
    assert_eq!(call.tool_id, WEATHER_TOOL);
    assert_eq!(call.model_call_step, 1);
}

#[test]
fn the_last_approval_lets_the_run_run_again() {
    let run = replay(and(calling_tools(true), [decided(true)]));
    assert_eq!(run.status(), Some(RunStatus::Running));
    assert_eq!(steps_of(run.pending_approvals()), Vec::<u32>::new());
    assert_eq!(steps_of(run.tool_calls_to_invoke()), vec![2, 3]);
    let approval = run.step(3).unwrap().tool_call().unwrap().approval.clone();
    assert_eq!(approval.map(|decision| decision.approved), Some(true));
}

#[test]
fn a_rejected_call_fails_and_tells_the_model_why() {
    let run = replay(and(calling_tools(true), [decided(false)]));
    assert_eq!(run.status(), Some(RunStatus::Running));
    let step = run.step(3).unwrap();
    assert_eq!(step.status, StepStatus::Failed);
    assert_eq!(step.finished_at, Some(at(5)));
    let rejection = run.conversation().last().unwrap();
    assert_eq!(rejection.role, Role::Tool);
    assert_eq!(rejection.tool_call_id.as_deref(), Some("call-2"));
    let content: Value = serde_json::from_str(&rejection.content).unwrap();
    assert_eq!(
        content,
        json!({
            "error": "the tool call was rejected by a reviewer",
            "reason": "Do not mail customers."
        })
    );
    assert!(!rejection.content.contains("ola"));
}

#[test]
fn tool_results_join_the_conversation_in_the_order_recorded() {
    let run = replay(and(
        calling_tools(false),
        [
            invocation_recorded(3, "call-2", 4),
            RunEvent::ToolCallCompleted(ToolCallCompleted {
                step: 3,
                tool_call_id: "call-2".to_owned(),
                output: json!("sent"),
                completed_at: at(5),
            }),
            RunEvent::ToolCallFailed(ToolCallFailed {
                step: 2,
                tool_call_id: "call-1".to_owned(),
                error: "HTTP 502".to_owned(),
                failed_at: at(6),
            }),
        ],
    ));
    assert_eq!(
        &run.conversation()[2..],
        [
            Message::tool_output("call-2", &json!("sent")),
            Message::tool_error("call-1", "HTTP 502"),
        ]
    );
    assert_eq!(run.conversation()[2].content, "sent");
    assert_eq!(run.conversation()[3].content, r#"{"error":"HTTP 502"}"#);
    assert_eq!(
        run.step(3).unwrap().tool_call().unwrap().invocation_id,
        Some(INVOCATION)
    );
    assert_eq!(run.pending_steps().count(), 0);
}

#[test]
fn a_completed_run_keeps_its_output_usage_and_no_lease() {
    let run = replay(and(
        running(),
        [
            model_call_started(1, 1, 2),
            model_call_completed(1, final_answer(), CALL_COST, 3),
            RunEvent::RunCompleted(RunCompleted {
                stop_reason: StopReason::EndTurn,
                output: Some(final_answer()),
                completed_at: at(3),
            }),
        ],
    ));
    assert_eq!(run.status(), Some(RunStatus::Completed));
    assert!(run.is_terminal());
    assert_eq!(run.stop_reason(), Some(StopReason::EndTurn));
    assert_eq!(run.output(), Some(&final_answer()));
    assert_eq!(run.finished_at(), Some(at(3)));
    assert_eq!(run.lease(), None);
    assert_eq!(run.usage(), fixtures::usage());
    let call = run.step(1).unwrap().model_call().unwrap();
    assert_eq!(call.latency_ms, Some(900));
    assert_eq!(call.cost_micros, CALL_COST);
}

#[test]
fn a_cancelled_run_names_who_cancelled_it() {
    let run = replay(and(
        running(),
        [cancelled_event(CANCELLED_BY_AGENT_PAUSED, None, 4)],
    ));
    assert_eq!(run.status(), Some(RunStatus::Cancelled));
    assert_eq!(run.stop_reason(), Some(StopReason::Cancelled));
    assert_eq!(run.cancelled_by(), Some("system:agent-paused"));
}

#[test]
fn expired_leases_are_counted_and_freed() {
    let run = replay(and(
        running(),
        [RunEvent::RunLeaseExpired(RunLeaseExpired {
            engine_id: ENGINE.to_owned(),
            lease_generation: 1,
            lease_until: at(2),
            expirations: 1,
            expired_at: at(3),
        })],
    ));
    assert_eq!(run.lease(), None);
    assert_eq!(run.lease_expirations(), 1);
    assert_eq!(run.lease_generation(), 1);
    assert_eq!(run.status(), Some(RunStatus::Running));
}

#[test]
fn applying_events_out_of_order_never_panics() {
    let run = replay(vec![
        model_call_completed(7, final_answer(), 5, 0),
        decided(false),
        invocation_recorded(9, "call-1", 1),
        RunEvent::ModelCallFailed(ModelCallFailed {
            step: 2,
            error: "boom".to_owned(),
            failed_at: at(2),
        }),
        RunEvent::RunTimedOut(RunTimedOut {
            stop_reason: StopReason::Error,
            timeout_ms: 1,
            timed_out_at: at(3),
        }),
    ]);
    // Without a RunStarted the run still does not exist, so every command is NotFound.
    assert!(!run.exists());
    assert!(run.steps().is_empty());
}

#[test]
fn the_aggregate_type_is_run() {
    assert_eq!(Run::TYPE, "run");
    assert_eq!(Run::TYPE, RUN_AGGREGATE_TYPE);
}

#[test]
fn a_run_round_trips_through_json() {
    let run = replay(and(calling_tools(true), [decided(false)]));
    let json = serde_json::to_string(&run).unwrap();
    assert_eq!(serde_json::from_str::<Run>(&json).unwrap(), run);
}

// --- Side effect keys --------------------------------------------------------------------

#[test]
fn side_effect_keys_name_the_run_the_step_and_the_tool_call() {
    assert_eq!(
        side_effect_key(RUN, 3, None),
        "run/01960000-0000-7000-8000-0000000000d1/step/3"
    );
    assert_eq!(
        side_effect_key(RUN, 3, Some("call-7")),
        "run/01960000-0000-7000-8000-0000000000d1/step/3/call/call-7"
    );
}

#[test]
fn the_longest_side_effect_key_fits_in_255_printable_ascii_characters() {
    let key = side_effect_key(RUN, u32::MAX, Some(&"~".repeat(MAX_TOOL_CALL_ID_CHARS)));
    assert!(key.len() <= 190, "{} characters", key.len());
    assert!(key.chars().all(|c| c.is_ascii_graphic()));
}

// --- Small types -------------------------------------------------------------------------

#[test]
fn statuses_and_reasons_print_and_serialize_as_snake_case_words() {
    for (status, word) in [
        (RunStatus::Queued, "queued"),
        (RunStatus::Running, "running"),
        (RunStatus::RequiresAction, "requires_action"),
        (RunStatus::Completed, "completed"),
        (RunStatus::Failed, "failed"),
        (RunStatus::Cancelled, "cancelled"),
        (RunStatus::TimedOut, "timed_out"),
    ] {
        assert_eq!(status.to_string(), word);
        assert_eq!(serde_json::to_value(status).unwrap(), word);
    }
    for (reason, word) in [
        (StopReason::EndTurn, "end_turn"),
        (StopReason::MaxSteps, "max_steps"),
        (StopReason::BudgetExhausted, "budget_exhausted"),
        (StopReason::QuotaExceeded, "quota_exceeded"),
        (StopReason::Cancelled, "cancelled"),
        (StopReason::Error, "error"),
    ] {
        assert_eq!(reason.to_string(), word);
        assert_eq!(serde_json::to_value(reason).unwrap(), word);
    }
    for (kind, word) in [
        (StepKind::ModelCall, "model_call"),
        (StepKind::ToolCall, "tool_call"),
        (StepKind::MemoryWrite, "memory_write"),
    ] {
        assert_eq!(kind.to_string(), word);
    }
    for (status, word) in [
        (StepStatus::Pending, "pending"),
        (StepStatus::Succeeded, "succeeded"),
        (StepStatus::Failed, "failed"),
    ] {
        assert_eq!(status.to_string(), word);
    }
    assert_eq!(Role::Tool.as_str(), "tool");
}

#[test]
fn a_message_without_tool_calls_may_leave_them_out_of_its_json() {
    let message: Message =
        serde_json::from_value(json!({ "role": "user", "content": "Hi", "tool_call_id": null }))
            .unwrap();
    assert_eq!(message, Message::text(Role::User, "Hi"));
}
