//! Requesting calls, and the rules on what a request states.

use serde_json::json;

use super::*;
use crate::tool::fixtures::{TOOL, TOOL_NAME, builtin_kind, version_one};
use crate::tool::{ToolStatus, ToolVersion};
use crate::tool_invocation::fixtures::invocation_requested;

fn with_key(key: &str) -> ToolInvocationCommand {
    request_with(|command| {
        if let ToolInvocationCommand::RequestInvocation {
            idempotency_key, ..
        } = command
        {
            *idempotency_key = key.to_owned();
        }
    })
}

fn with_tool_call_id(id: Option<&str>) -> ToolInvocationCommand {
    request_with(|command| {
        if let ToolInvocationCommand::RequestInvocation { tool_call_id, .. } = command {
            *tool_call_id = id.map(str::to_owned);
        }
    })
}

fn with_arguments(value: Value) -> ToolInvocationCommand {
    request_with(|command| {
        if let ToolInvocationCommand::RequestInvocation { arguments, .. } = command {
            *arguments = value;
        }
    })
}

fn with_tool_status(status: ToolStatus) -> ToolInvocationCommand {
    request_with(|command| {
        if let ToolInvocationCommand::RequestInvocation { tool, .. } = command {
            tool.status = status;
        }
    })
}

/// The requested event with its key replaced, for requests accepted with another key.
fn requested_with_key(key: &str) -> ToolInvocationEvent {
    let ToolInvocationEvent::InvocationRequested(mut requested) = invocation_requested() else {
        unreachable!("the fixture is a request");
    };
    requested.idempotency_key = key.to_owned();
    ToolInvocationEvent::InvocationRequested(requested)
}

#[test]
fn requests_a_call_recording_the_version_in_force() {
    given_nothing()
        .when(request())
        .then_expect_events(vec![invocation_requested()]);
}

#[test]
fn requests_a_call_of_a_deprecated_tool() {
    given_nothing()
        .when(with_tool_status(ToolStatus::Deprecated))
        .then_expect_events(vec![invocation_requested()]);
}

#[test]
fn records_the_kind_and_output_schema_of_the_version_asked_for() {
    let version = ToolVersion {
        version: 4,
        input_schema: json!({ "type": "object" }),
        output_schema: None,
        kind: builtin_kind(),
        ..version_one()
    };
    let command = request_with(|command| {
        if let ToolInvocationCommand::RequestInvocation {
            tool,
            run_id,
            step,
            tool_call_id,
            arguments,
            ..
        } = command
        {
            tool.version = version;
            *run_id = None;
            *step = None;
            *tool_call_id = None;
            *arguments = json!({ "query": "anything goes" });
        }
    });
    given_nothing().when(command).then_expect_events(vec![
        ToolInvocationEvent::InvocationRequested(InvocationRequested {
            invocation_id: INVOCATION,
            tenant_id: TENANT,
            tool_id: TOOL,
            tool_name: TOOL_NAME.to_owned(),
            tool_version: 4,
            kind: builtin_kind(),
            output_schema: None,
            agent_id: AGENT,
            run_id: None,
            step: None,
            tool_call_id: None,
            arguments: json!({ "query": "anything goes" }),
            idempotency_key: IDEMPOTENCY_KEY.to_owned(),
            requested_at: at(0),
        }),
    ]);
}

#[test]
fn rejects_requesting_a_call_that_already_exists() {
    given(vec![invocation_requested()])
        .when(request())
        .then_expect_error(ToolInvocationError::AlreadyExists);
}

#[test]
fn rejects_a_call_of_a_disabled_tool() {
    given_nothing()
        .when(with_tool_status(ToolStatus::Disabled))
        .then_expect_error(ToolInvocationError::ToolUnavailable {
            tool_id: TOOL,
            status: ToolStatus::Disabled,
        });
}

// --- Arguments ---------------------------------------------------------------------------

#[test]
fn rejects_arguments_with_one_error_per_schema_failure() {
    given_nothing()
        .when(with_arguments(
            json!({ "city": "", "days": 15, "units": "metric" }),
        ))
        .then_expect_error(ToolInvocationError::Invalid(vec![
            FieldError::new("arguments/city", "value is shorter than 1 character"),
            FieldError::new("arguments/days", "value is greater than the maximum of 14"),
            FieldError::new(
                "arguments",
                "Additional properties are not allowed ('units' was unexpected)",
            ),
        ]));
}

#[test]
fn rejects_arguments_of_the_wrong_type() {
    given_nothing()
        .when(with_arguments(json!("Oslo")))
        .then_expect_error(invalid("arguments", "value is not of type \"object\""));
}

#[test]
fn rejects_arguments_missing_a_required_property() {
    given_nothing()
        .when(with_arguments(json!({})))
        .then_expect_error(invalid("arguments", "\"city\" is a required property"));
}

#[test]
fn rejects_arguments_holding_nul() {
    given_nothing()
        .when(with_arguments(json!({ "city": "Os\u{0}lo" })))
        .then_expect_error(invalid("arguments", "must not contain NUL characters"));
}

// --- Idempotency key ---------------------------------------------------------------------

#[test]
fn accepts_an_idempotency_key_of_255_printable_ascii_characters() {
    let key = format!(" !~{}", "k".repeat(252));
    given_nothing()
        .when(with_key(&key))
        .then_expect_events(vec![requested_with_key(&key)]);
}

#[test]
fn rejects_an_empty_or_blank_idempotency_key() {
    for key in ["", "   "] {
        given_nothing()
            .when(with_key(key))
            .then_expect_error(invalid("idempotency_key", "must not be empty"));
    }
}

#[test]
fn rejects_an_idempotency_key_of_256_characters() {
    given_nothing()
        .when(with_key(&"k".repeat(256)))
        .then_expect_error(invalid("idempotency_key", "must be at most 255 characters"));
}

#[test]
fn rejects_idempotency_keys_holding_other_than_printable_ascii() {
    for key in ["clé", "key\t1", "key\0", "key\u{7f}"] {
        given_nothing()
            .when(with_key(key))
            .then_expect_error(invalid(
                "idempotency_key",
                "must hold only printable ASCII characters",
            ));
    }
}

// --- Tool call id ------------------------------------------------------------------------

#[test]
fn rejects_an_empty_tool_call_id() {
    given_nothing()
        .when(with_tool_call_id(Some("")))
        .then_expect_error(invalid("tool_call_id", "must not be empty"));
}

#[test]
fn rejects_a_tool_call_id_of_256_characters() {
    given_nothing()
        .when(with_tool_call_id(Some(&"c".repeat(256))))
        .then_expect_error(invalid("tool_call_id", "must be at most 255 characters"));
}

#[test]
fn rejects_a_tool_call_id_holding_control_characters() {
    given_nothing()
        .when(with_tool_call_id(Some("call\n7")))
        .then_expect_error(invalid(
            "tool_call_id",
            "must not contain control characters",
        ));
}

#[test]
fn reports_every_violation_of_a_request_at_once() {
    let command = request_with(|command| {
        if let ToolInvocationCommand::RequestInvocation {
            tool_call_id,
            arguments,
            idempotency_key,
            ..
        } = command
        {
            *tool_call_id = Some(String::new());
            *arguments = json!({ "days": 0 });
            idempotency_key.clear();
        }
    });
    given_nothing()
        .when(command)
        .then_expect_error(ToolInvocationError::Invalid(vec![
            FieldError::new("tool_call_id", "must not be empty"),
            FieldError::new("arguments/days", "value is less than the minimum of 1"),
            FieldError::new("arguments", "\"city\" is a required property"),
            FieldError::new("idempotency_key", "must not be empty"),
        ]));
}
