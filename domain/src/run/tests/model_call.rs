//! Model calls: beginning one as the next step, recording its answer or its failure.

use serde_json::json;

use super::*;
use crate::run::fixtures::{
    EMAIL_TOOL, calling_tools, final_answer, model_call_completed, model_call_started, tool_answer,
    tool_call_requested,
};

fn calling_model() -> Vec<RunEvent> {
    and(running(), [model_call_started(1, 1, 2)])
}

fn model_call_failed(step: u32, minutes: i64) -> RunEvent {
    RunEvent::ModelCallFailed(ModelCallFailed {
        step,
        error: "provider returned 529".to_owned(),
        failed_at: at(minutes),
    })
}

fn answered(step: u32, output: Message) -> RunEvent {
    RunEvent::ModelCallCompleted(ModelCallCompleted {
        step,
        output,
        usage: fixtures::usage(),
        latency_ms: 900,
        cost_micros: CALL_COST,
        spent_micros: CALL_COST,
        completed_at: at(10),
    })
}

fn requested(step: u32, index: usize, requires_approval: bool) -> RunEvent {
    tool_call_requested(step, index, requires_approval, 10)
}

// --- BeginModelCall ----------------------------------------------------------------------

#[test]
fn begins_the_first_model_call_with_the_input() {
    given(running())
        .when(begin(1))
        .then_expect_events(vec![model_call_started(1, 1, 10)]);
}

#[test]
fn begins_the_next_model_call_with_the_tool_results() {
    let events = and(
        calling_tools(false),
        [
            RunEvent::ToolCallFailed(ToolCallFailed {
                step: 2,
                tool_call_id: "call-1".to_owned(),
                error: "boom".to_owned(),
                failed_at: at(4),
            }),
            RunEvent::ToolCallFailed(ToolCallFailed {
                step: 3,
                tool_call_id: "call-2".to_owned(),
                error: "boom".to_owned(),
                failed_at: at(5),
            }),
        ],
    );
    // The question, the model's tool calls and both results.
    given(events)
        .when(begin(4))
        .then_expect_events(vec![model_call_started(4, 4, 10)]);
}

#[test]
fn tells_a_repeated_begin_that_the_step_is_recorded() {
    given(calling_model())
        .when(begin(1))
        .then_expect_error(RunError::AlreadyRecorded { step: 1 });
}

#[test]
fn tells_a_repeated_begin_of_a_finished_call_that_it_is_recorded_even_while_awaiting_approval() {
    given(calling_tools(true))
        .when(begin(1))
        .then_expect_error(RunError::AlreadyRecorded { step: 1 });
}

#[test]
fn rejects_a_model_call_that_skips_a_step() {
    given(running())
        .when(begin(2))
        .then_expect_error(RunError::WrongStep {
            step: 2,
            expected: 1,
        });
}

#[test]
fn rejects_a_model_call_while_tool_calls_are_pending() {
    given(calling_tools(false))
        .when(begin(4))
        .then_expect_error(RunError::StepsPending { steps: vec![2, 3] });
}

#[test]
fn rejects_a_model_call_while_a_tool_call_awaits_approval() {
    given(calling_tools(true))
        .when(begin(4))
        .then_expect_error(RunError::InvalidTransition {
            action: "begin a model call in",
            status: RunStatus::RequiresAction,
        });
}

#[test]
fn rejects_a_negative_estimate() {
    given(running())
        .when(begin_with(1, |command| {
            if let RunCommand::BeginModelCall {
                estimated_cost_micros,
                ..
            } = command
            {
                *estimated_cost_micros = -1;
            }
        }))
        .then_expect_error(invalid(
            "estimated_cost_micros",
            "must be between 0 and 1000000000000",
        ));
}

// --- CompleteModelCall -------------------------------------------------------------------

#[test]
fn an_answer_without_tool_calls_ends_the_turn_and_the_run() {
    given(calling_model())
        .when(complete(1, final_answer()))
        .then_expect_events(vec![
            answered(1, final_answer()),
            completed(StopReason::EndTurn, Some(final_answer())),
        ]);
}

#[test]
fn each_tool_call_of_an_answer_becomes_the_next_step() {
    given(calling_model())
        .when(complete(1, tool_answer()))
        .then_expect_events(vec![
            answered(1, tool_answer()),
            requested(2, 0, false),
            requested(3, 1, false),
        ]);
}

#[test]
fn marks_the_tool_calls_that_need_approval() {
    given(calling_model())
        .when(complete_with(1, tool_answer(), |command| {
            if let RunCommand::CompleteModelCall {
                approval_required, ..
            } = command
            {
                *approval_required = vec!["call-2".to_owned()];
            }
        }))
        .then_expect_events(vec![
            answered(1, tool_answer()),
            requested(2, 0, false),
            requested(3, 1, true),
        ]);
}

#[test]
fn numbers_tool_calls_after_a_memory_written_during_the_model_call() {
    let memory = RunEvent::MemoryWriteRecorded(MemoryWriteRecorded {
        step: 2,
        memory_id: MEMORY,
        tool_call_id: None,
        recorded_at: at(3),
    });
    given(and(calling_model(), [memory]))
        .when(complete(1, tool_answer()))
        .then_expect_events(vec![
            answered(1, tool_answer()),
            requested(3, 0, false),
            requested(4, 1, false),
        ]);
}

#[test]
fn tells_a_repeated_answer_that_the_step_is_recorded() {
    given(and(
        calling_model(),
        [model_call_completed(1, tool_answer(), CALL_COST, 3)],
    ))
    .when(complete(1, tool_answer()))
    .then_expect_error(RunError::AlreadyRecorded { step: 1 });
}

#[test]
fn rejects_an_answer_to_a_model_call_that_never_began() {
    given(running())
        .when(complete(1, final_answer()))
        .then_expect_error(RunError::NoSuchStep {
            step: 1,
            kind: StepKind::ModelCall,
        });
}

#[test]
fn rejects_an_answer_to_a_tool_call_step() {
    given(calling_tools(false))
        .when(complete(2, final_answer()))
        .then_expect_error_message("step 2 is not a model_call step of this run");
}

#[test]
fn rejects_an_answer_that_is_not_the_assistants() {
    given(calling_model())
        .when(complete(1, Message::text(Role::User, "Hi")))
        .then_expect_error(invalid("output.role", "must be assistant"));
}

#[test]
fn rejects_a_tool_call_of_a_tool_the_run_does_not_have() {
    let mut output = tool_answer();
    output.tool_calls[1].tool_id = Uuid::from_u128(99);
    assert_ne!(output.tool_calls[1].tool_id, EMAIL_TOOL);
    given(calling_model())
        .when(complete(1, output))
        .then_expect_error(invalid(
            "output.tool_calls[1].tool_id",
            "must be one of the run's tools",
        ));
}

#[test]
fn rejects_an_approval_for_a_tool_call_the_answer_lacks() {
    given(calling_model())
        .when(complete_with(1, tool_answer(), |command| {
            if let RunCommand::CompleteModelCall {
                approval_required, ..
            } = command
            {
                *approval_required = vec!["call-9".to_owned()];
            }
        }))
        .then_expect_error(invalid(
            "approval_required[0]",
            "must name a tool call of the output",
        ));
}

#[test]
fn rejects_tool_call_ids_that_do_not_fit_an_idempotency_key() {
    let mut output = tool_answer();
    output.tool_calls[0].tool_call_id = "call 1".to_owned();
    output.tool_calls[1].tool_call_id = "c".repeat(129);
    given(calling_model())
        .when(complete(1, output))
        .then_expect_error(RunError::Invalid(vec![
            FieldError::new(
                "output.tool_calls[0].tool_call_id",
                "must hold only printable ASCII characters without spaces",
            ),
            FieldError::new(
                "output.tool_calls[1].tool_call_id",
                "must be between 1 and 128 characters",
            ),
        ]));
}

#[test]
fn rejects_arguments_too_large_to_send_back() {
    let mut output = tool_answer();
    output.tool_calls[0].arguments = json!({ "text": "a".repeat(100_000) });
    given(calling_model())
        .when(complete(1, output))
        .then_expect_error(invalid(
            "output.tool_calls[0].arguments",
            "must be at most 100000 characters as JSON",
        ));
}

#[test]
fn rejects_a_blank_answer_without_tool_calls() {
    given(calling_model())
        .when(complete(1, Message::text(Role::Assistant, "")))
        .then_expect_error(invalid("output.content", "must not be empty"));
}

#[test]
fn rejects_a_negative_cost() {
    given(calling_model())
        .when(complete_with(1, final_answer(), |command| {
            if let RunCommand::CompleteModelCall { cost_micros, .. } = command {
                *cost_micros = -5;
            }
        }))
        .then_expect_error(invalid(
            "cost_micros",
            "must be between 0 and 1000000000000",
        ));
}

// --- FailModelCall -----------------------------------------------------------------------

#[test]
fn records_a_failed_model_call_and_keeps_the_run_going() {
    given(calling_model())
        .when(fail_model_call(1, "provider returned 529"))
        .then_expect_events(vec![model_call_failed(1, 10)]);
}

#[test]
fn tells_a_repeated_failure_that_the_step_is_recorded() {
    given(and(calling_model(), [model_call_failed(1, 3)]))
        .when(fail_model_call(1, "provider returned 529"))
        .then_expect_error(RunError::AlreadyRecorded { step: 1 });
}

#[test]
fn rejects_failing_a_model_call_that_answered() {
    given(and(
        calling_model(),
        [model_call_completed(1, tool_answer(), CALL_COST, 3)],
    ))
    .when(fail_model_call(1, "late timeout"))
    .then_expect_error(RunError::AlreadyRecorded { step: 1 });
}

#[test]
fn rejects_a_blank_model_error() {
    given(calling_model())
        .when(fail_model_call(1, "  "))
        .then_expect_error(invalid("error", "must not be empty"));
}

#[test]
fn retries_a_failed_model_call_as_the_next_step_with_the_same_messages() {
    given(and(calling_model(), [model_call_failed(1, 3)]))
        .when(begin(2))
        .then_expect_events(vec![model_call_started(2, 1, 10)]);
}
