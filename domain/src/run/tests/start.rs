//! Starting a run: only for an active agent, with an input and limits that obey the rules.

use serde_json::json;

use super::*;
use crate::agent::AgentStatus;
use crate::run::fixtures::{WEATHER_TOOL, final_answer};

fn with_input(input: Vec<Message>) -> RunCommand {
    start_with(|command| {
        if let RunCommand::StartRun { input: field, .. } = command {
            *field = input;
        }
    })
}

fn with_limits(steps: u32, budget: i64) -> RunCommand {
    start_with(|command| {
        if let RunCommand::StartRun {
            max_steps,
            budget_micros,
            ..
        } = command
        {
            *max_steps = steps;
            *budget_micros = budget;
        }
    })
}

fn with_agent_status(status: AgentStatus) -> RunCommand {
    start_with(|command| {
        if let RunCommand::StartRun { agent, .. } = command {
            agent.status = status;
        }
    })
}

fn with_key(key: &str) -> RunCommand {
    start_with(|command| {
        if let RunCommand::StartRun {
            idempotency_key, ..
        } = command
        {
            *idempotency_key = Some(key.to_owned());
        }
    })
}

#[test]
fn starts_a_queued_run_pinned_to_the_agent_configuration() {
    given_nothing()
        .when(start())
        .then_expect_events(vec![run_started()]);
}

#[test]
fn starts_a_run_without_an_idempotency_key() {
    let mut expected = run_started();
    if let RunEvent::RunStarted(started) = &mut expected {
        started.idempotency_key = None;
    }
    given_nothing()
        .when(start_with(|command| {
            if let RunCommand::StartRun {
                idempotency_key, ..
            } = command
            {
                *idempotency_key = None;
            }
        }))
        .then_expect_events(vec![expected]);
}

#[test]
fn rejects_starting_a_run_that_exists() {
    given(vec![run_started()])
        .when(start())
        .then_expect_error(RunError::AlreadyExists);
}

#[test]
fn rejects_running_a_paused_agent() {
    given_nothing()
        .when(with_agent_status(AgentStatus::Paused))
        .then_expect_error(RunError::AgentNotActive {
            status: AgentStatus::Paused,
        });
}

#[test]
fn rejects_running_an_archived_agent() {
    given_nothing()
        .when(with_agent_status(AgentStatus::Archived))
        .then_expect_error_message("cannot run an agent that is archived");
}

#[test]
fn accepts_a_history_of_one_hundred_messages_with_tool_results() {
    let mut input = vec![Message::text(Role::System, "Answer briefly.")];
    input.push(fixtures::tool_answer());
    input.push(Message::tool_output(
        "call-1",
        &json!({ "temperature_c": -4.5 }),
    ));
    input.push(Message::tool_error("call-2", "mail server down"));
    input.push(final_answer());
    input.resize(100, question());
    let result = given_nothing().when(with_input(input)).inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn rejects_an_empty_input() {
    given_nothing()
        .when(with_input(Vec::new()))
        .then_expect_error(invalid("input", "must contain between 1 and 100 messages"));
}

#[test]
fn rejects_an_input_of_101_messages() {
    given_nothing()
        .when(with_input(vec![question(); 101]))
        .then_expect_error(invalid("input", "must contain between 1 and 100 messages"));
}

#[test]
fn accepts_a_message_of_100_000_characters() {
    let input = vec![Message::text(Role::User, "é".repeat(100_000))];
    let result = given_nothing().when(with_input(input)).inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn rejects_a_message_of_100_001_characters() {
    given_nothing()
        .when(with_input(vec![Message::text(
            Role::User,
            "a".repeat(100_001),
        )]))
        .then_expect_error(invalid(
            "input[0].content",
            "must be at most 100000 characters",
        ));
}

#[test]
fn rejects_a_blank_user_message() {
    given_nothing()
        .when(with_input(vec![Message::text(Role::User, " \n")]))
        .then_expect_error(invalid("input[0].content", "must not be empty"));
}

#[test]
fn rejects_a_message_holding_nul() {
    given_nothing()
        .when(with_input(vec![Message::text(Role::User, "a\0b")]))
        .then_expect_error(invalid(
            "input[0].content",
            "must not contain NUL characters",
        ));
}

#[test]
fn rejects_a_tool_result_without_its_tool_call_id() {
    let mut result = Message::tool_output("call-1", &json!(1));
    result.tool_call_id = None;
    given_nothing()
        .when(with_input(vec![question(), result]))
        .then_expect_error(invalid("input[1].tool_call_id", "is required for a tool"));
}

#[test]
fn rejects_a_tool_call_id_on_a_user_message() {
    let mut message = question();
    message.tool_call_id = Some("call-1".to_owned());
    given_nothing()
        .when(with_input(vec![message]))
        .then_expect_error(invalid("input[0].tool_call_id", "is only for a tool"));
}

#[test]
fn rejects_tool_calls_on_a_user_message() {
    let mut message = question();
    message.tool_calls = fixtures::tool_answer().tool_calls;
    given_nothing()
        .when(with_input(vec![message]))
        .then_expect_error(invalid("input[0].tool_calls", "are only for an assistant"));
}

#[test]
fn accepts_the_limits_at_their_bounds() {
    for (steps, budget) in [(1, 1), (100, 1_000_000_000_000)] {
        let result = given_nothing()
            .when(with_limits(steps, budget))
            .inspect_result();
        assert!(result.is_ok(), "{steps} steps, {budget} micros: {result:?}");
    }
}

#[test]
fn rejects_limits_out_of_range_all_at_once() {
    given_nothing()
        .when(with_limits(0, 0))
        .then_expect_error(RunError::Invalid(vec![
            FieldError::new("max_steps", "must be between 1 and 100"),
            FieldError::new("budget_micros", "must be between 1 and 1000000000000"),
        ]));
    given_nothing()
        .when(with_limits(101, 1_000_000_000_001))
        .then_expect_error(RunError::Invalid(vec![
            FieldError::new("max_steps", "must be between 1 and 100"),
            FieldError::new("budget_micros", "must be between 1 and 1000000000000"),
        ]));
}

#[test]
fn rejects_an_idempotency_key_outside_printable_ascii() {
    given_nothing()
        .when(with_key("clé"))
        .then_expect_error(invalid(
            "idempotency_key",
            "must hold only printable ASCII characters",
        ));
}

#[test]
fn rejects_an_idempotency_key_of_256_characters() {
    given_nothing()
        .when(with_key(&"k".repeat(256)))
        .then_expect_error(invalid("idempotency_key", "must be at most 255 characters"));
}

#[test]
fn reports_every_violation_of_every_message() {
    let mut call = fixtures::tool_answer();
    call.tool_calls[1].tool_call_id = "call-1".to_owned();
    call.tool_calls[0].tool_name = String::new();
    call.tool_calls[0].arguments = json!({ "city": "O\0slo" });
    given_nothing()
        .when(with_input(vec![Message::text(Role::System, ""), call]))
        .then_expect_error(RunError::Invalid(vec![
            FieldError::new("input[0].content", "must not be empty"),
            FieldError::new("input[1].tool_calls", "must not repeat a tool_call_id"),
            FieldError::new("input[1].tool_calls[0].tool_name", "must not be empty"),
            FieldError::new(
                "input[1].tool_calls[0].arguments",
                "must not contain NUL characters",
            ),
        ]));
}

#[test]
fn accepts_tool_calls_in_the_input_whatever_their_tool() {
    let mut call = fixtures::tool_answer();
    call.tool_calls[0].tool_id = Uuid::from_u128(99);
    assert_ne!(call.tool_calls[0].tool_id, WEATHER_TOOL);
    let result = given_nothing()
        .when(with_input(vec![question(), call]))
        .inspect_result();
    assert!(result.is_ok(), "{result:?}");
}
