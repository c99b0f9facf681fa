//! What the engine does next, given a run's events and its invocations' outcomes.

use chrono::{TimeZone, Utc};
use cqrs_es::Aggregate;
use domain::agent::ModelConfig;
use domain::run::*;
use serde_json::json;

use super::*;

const ME: &str = "engine-me";
const OTHER: &str = "engine-other";
const TOOL: Uuid = Uuid::from_u128(7);
const INVOCATION: Uuid = Uuid::from_u128(9);
const MEMORY: Uuid = Uuid::from_u128(11);

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap()
}

fn run_of(events: Vec<RunEvent>) -> Run {
    let mut run = Run::default();
    for event in events {
        run.apply(event);
    }
    run
}

fn started() -> RunEvent {
    RunEvent::RunStarted(RunStarted {
        run_id: Uuid::from_u128(1),
        tenant_id: Uuid::from_u128(2),
        agent_id: Uuid::from_u128(3),
        agent_config_version: 1,
        model: ModelConfig {
            provider: "scripted".into(),
            name: "demo".into(),
            temperature: 0.0,
            max_output_tokens: 100,
        },
        system_prompt: String::new(),
        tool_ids: vec![TOOL],
        input: vec![Message::text(Role::User, "hi")],
        max_steps: 10,
        budget_micros: 1_000_000,
        idempotency_key: None,
        created_at: at(),
    })
}

fn leased(engine_id: &str, lease_generation: u32) -> RunEvent {
    RunEvent::RunLeaseAcquired(RunLeaseAcquired {
        engine_id: engine_id.into(),
        lease_generation,
        lease_until: at(),
        acquired_at: at(),
    })
}

fn released(lease_generation: u32) -> RunEvent {
    RunEvent::RunLeaseReleased(RunLeaseReleased {
        engine_id: ME.into(),
        lease_generation,
        released_at: at(),
    })
}

fn model_started(step: u32) -> RunEvent {
    RunEvent::ModelCallStarted(ModelCallStarted {
        step,
        messages_in: 1,
        estimated_cost_micros: 10,
        started_at: at(),
    })
}

fn model_failed(step: u32) -> RunEvent {
    RunEvent::ModelCallFailed(ModelCallFailed {
        step,
        error: format!("overloaded {step}"),
        failed_at: at(),
    })
}

/// Model call 1 answered with one call of the tool, requested as step 2.
fn calling_the_tool(approval: bool) -> Vec<RunEvent> {
    let call = ToolCallRequest {
        tool_call_id: "c1".into(),
        tool_id: TOOL,
        tool_name: "memory_record".into(),
        arguments: json!({"content": "x"}),
    };
    vec![
        started(),
        leased(ME, 1),
        model_started(1),
        RunEvent::ModelCallCompleted(ModelCallCompleted {
            step: 1,
            output: Message {
                role: Role::Assistant,
                content: String::new(),
                tool_call_id: None,
                tool_calls: vec![call.clone()],
            },
            usage: ModelUsage::default(),
            latency_ms: 1,
            cost_micros: 10,
            spent_micros: 10,
            completed_at: at(),
        }),
        RunEvent::ToolCallRequested(ToolCallRequested {
            step: 2,
            model_call_step: 1,
            tool_call_id: call.tool_call_id,
            tool_id: TOOL,
            tool_name: call.tool_name,
            arguments: call.arguments,
            requires_approval: approval,
            requested_at: at(),
        }),
    ]
}

fn with(mut events: Vec<RunEvent>, more: impl IntoIterator<Item = RunEvent>) -> Vec<RunEvent> {
    events.extend(more);
    events
}

fn invoked() -> RunEvent {
    RunEvent::ToolInvocationRecorded(ToolInvocationRecorded {
        step: 2,
        tool_call_id: "c1".into(),
        invocation_id: INVOCATION,
        recorded_at: at(),
    })
}

fn memory_recorded() -> Outcomes {
    Outcomes::from([(
        INVOCATION,
        InvocationOutcome::Succeeded {
            output: json!({"memory_id": MEMORY}),
            memory_id: Some(MEMORY),
        },
    )])
}

#[test]
fn a_queued_run_is_taken_and_a_stopped_one_is_left_alone() {
    assert_eq!(
        next(&run_of(vec![started()]), ME, &Outcomes::new()),
        Next::Acquire
    );
    let cancelled = RunEvent::RunCancelled(RunCancelled {
        stop_reason: StopReason::Cancelled,
        by: "api_key:k".into(),
        reason: None,
        cancelled_at: at(),
    });
    let run = run_of(vec![started(), leased(ME, 1), cancelled]);
    assert_eq!(next(&run, ME, &Outcomes::new()), Next::Finished);
    assert_eq!(next(&Run::default(), ME, &Outcomes::new()), Next::Finished);
}

#[test]
fn the_lease_holder_begins_the_first_model_call_and_others_keep_off() {
    let run = run_of(vec![started(), leased(ME, 1)]);
    assert_eq!(
        next(&run, ME, &Outcomes::new()),
        Next::Work {
            generation: 1,
            work: Work::BeginModelCall { step: 1 }
        }
    );
    assert_eq!(next(&run, OTHER, &Outcomes::new()), Next::LeasedElsewhere);
}

#[test]
fn a_model_call_begun_but_not_recorded_is_called_again() {
    let run = run_of(vec![started(), leased(ME, 1), model_started(1)]);
    let work = Some(Work::CallModel { step: 1 });
    assert_eq!(super::work(&run, &Outcomes::new()), work);
}

#[test]
fn a_requested_tool_call_is_invoked_then_waited_for_without_the_lease() {
    let run = run_of(calling_the_tool(false));
    assert_eq!(
        super::work(&run, &Outcomes::new()),
        Some(Work::InvokeTool { step: 2 })
    );
    let run = run_of(with(calling_the_tool(false), [invoked()]));
    assert_eq!(
        next(&run, ME, &Outcomes::new()),
        Next::Wait { held: Some(1) }
    );
    let run = run_of(with(calling_the_tool(false), [invoked(), released(1)]));
    assert_eq!(next(&run, ME, &Outcomes::new()), Next::Wait { held: None });
}

#[test]
fn a_finished_invocation_makes_the_waiting_run_worth_taking_again() {
    let events = with(calling_the_tool(false), [invoked(), released(1)]);
    let run = run_of(events.clone());
    assert_eq!(next(&run, OTHER, &memory_recorded()), Next::Acquire);
    let run = run_of(with(events, [leased(OTHER, 2)]));
    let Next::Work {
        generation: 2,
        work,
    } = next(&run, OTHER, &memory_recorded())
    else {
        panic!("expected work under the second lease");
    };
    assert!(
        matches!(work, Work::FinishToolCall { step: 2, .. }),
        "{work:?}"
    );
}

#[test]
fn a_memory_record_call_owes_a_memory_write_before_the_next_model_call() {
    let completed = RunEvent::ToolCallCompleted(ToolCallCompleted {
        step: 2,
        tool_call_id: "c1".into(),
        output: json!({"memory_id": MEMORY}),
        completed_at: at(),
    });
    let events = with(calling_the_tool(false), [invoked(), completed]);
    let run = run_of(events.clone());
    assert_eq!(invocations_to_observe(&run), [INVOCATION]);
    assert_eq!(
        super::work(&run, &memory_recorded()),
        Some(Work::RecordMemoryWrite {
            memory_id: MEMORY,
            tool_call_id: "c1".into()
        })
    );
    let written = RunEvent::MemoryWriteRecorded(MemoryWriteRecorded {
        step: 3,
        memory_id: MEMORY,
        tool_call_id: Some("c1".into()),
        recorded_at: at(),
    });
    let run = run_of(with(events, [written]));
    assert!(invocations_to_observe(&run).is_empty());
    assert_eq!(
        super::work(&run, &Outcomes::new()),
        Some(Work::BeginModelCall { step: 4 })
    );
}

#[test]
fn a_call_awaiting_approval_is_not_invoked_until_approved() {
    let run = run_of(calling_the_tool(true));
    assert_eq!(run.status(), Some(RunStatus::RequiresAction));
    assert_eq!(
        next(&run, ME, &Outcomes::new()),
        Next::Wait { held: Some(1) }
    );
    let approved = RunEvent::ToolCallApproved(ToolCallApproved {
        step: 2,
        tool_call_id: "c1".into(),
        approver: "api_key:k".into(),
        reason: None,
        approvals_remaining: 0,
        approved_at: at(),
    });
    let run = run_of(with(calling_the_tool(true), [released(1), approved]));
    assert_eq!(next(&run, OTHER, &Outcomes::new()), Next::Acquire);
}

#[test]
fn three_failed_model_calls_in_a_row_fail_the_run() {
    let two = vec![
        started(),
        leased(ME, 1),
        model_started(1),
        model_failed(1),
        model_started(2),
        model_failed(2),
    ];
    assert_eq!(
        super::work(&run_of(two.clone()), &Outcomes::new()),
        Some(Work::BeginModelCall { step: 3 })
    );
    let three = run_of(with(two, [model_started(3), model_failed(3)]));
    let Some(Work::FailRun { error }) = super::work(&three, &Outcomes::new()) else {
        panic!("expected the run to fail");
    };
    assert!(error.contains("3 times in a row: overloaded 3"), "{error}");
}
