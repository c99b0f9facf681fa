//! The rules on the fields of run commands. Each check adds every violation it finds, so a
//! rejected command reports all of them at once.

use std::collections::HashSet;

use serde_json::Value;
use uuid::Uuid;

use super::{Message, Role};
use crate::FieldError;
use crate::rules::{
    exceeds_chars, require_free_text, require_max_chars, require_not_blank, require_single_line,
};
use crate::tool::check_storable;

/// The most steps a run may be given.
pub const MAX_STEPS: u32 = 100;
/// The most messages a run may start from.
pub const MAX_INPUT_MESSAGES: usize = 100;
/// The longest message content, and the longest tool arguments or output as compact JSON,
/// in characters.
pub const MAX_CONTENT_CHARS: usize = 100_000;
/// The largest budget, and the largest cost or estimate of one model call, in micro-units.
pub const MAX_BUDGET_MICROS: i64 = 1_000_000_000_000;
/// The longest tool call id, in characters; it fits a memory's source and an idempotency key.
pub const MAX_TOOL_CALL_ID_CHARS: usize = 128;
/// The longest tool name in a tool call, in characters.
pub const MAX_TOOL_NAME_CHARS: usize = 128;
/// The most tool calls one assistant message may hold.
pub const MAX_TOOL_CALLS_PER_MESSAGE: usize = 100;
/// How many times a run's lease may expire: the expiration that reaches this number fails it.
pub const MAX_LEASE_EXPIRATIONS: u32 = 3;
/// The longest error message, in characters: as long as a tool invocation's, so a failed
/// invocation's error always fits.
pub const MAX_ERROR_CHARS: usize = crate::tool_invocation::MAX_ERROR_CHARS;
/// The longest idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// The longest engine id, approver or canceller, in characters.
pub const MAX_ACTOR_CHARS: usize = 255;
/// The longest reason for a decision or a cancellation, in characters.
pub const MAX_REASON_CHARS: usize = 500;

pub(super) fn into_result(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The limits a run starts with, and the messages it starts from.
pub(super) fn collect_start_violations(
    errors: &mut Vec<FieldError>,
    input: &[Message],
    max_steps: u32,
    budget_micros: i64,
    idempotency_key: Option<&str>,
) {
    if input.is_empty() || input.len() > MAX_INPUT_MESSAGES {
        errors.push(FieldError::new(
            "input",
            format!("must contain between 1 and {MAX_INPUT_MESSAGES} messages"),
        ));
    }
    for (index, message) in input.iter().enumerate() {
        collect_message_violations(errors, &format!("input[{index}]"), message);
    }
    if !(1..=MAX_STEPS).contains(&max_steps) {
        errors.push(FieldError::new(
            "max_steps",
            format!("must be between 1 and {MAX_STEPS}"),
        ));
    }
    collect_micros_violations(errors, "budget_micros", budget_micros, 1);
    if let Some(key) = idempotency_key {
        collect_idempotency_key_violations(errors, key);
    }
}

/// The model's answer: an assistant message whose tool calls name the run's tools, and
/// whose approvals name its tool calls.
pub(super) fn collect_output_violations(
    errors: &mut Vec<FieldError>,
    output: &Message,
    approval_required: &[String],
    tool_ids: &[Uuid],
) {
    if output.role != Role::Assistant {
        errors.push(FieldError::new("output.role", "must be assistant"));
    }
    collect_message_violations(errors, "output", output);
    for (index, call) in output.tool_calls.iter().enumerate() {
        if !tool_ids.contains(&call.tool_id) {
            errors.push(FieldError::new(
                format!("output.tool_calls[{index}].tool_id"),
                "must be one of the run's tools",
            ));
        }
    }
    for (index, id) in approval_required.iter().enumerate() {
        if !output
            .tool_calls
            .iter()
            .any(|call| &call.tool_call_id == id)
        {
            errors.push(FieldError::new(
                format!("approval_required[{index}]"),
                "must name a tool call of the output",
            ));
        }
    }
}

/// The shape every message must have, whoever wrote it.
fn collect_message_violations(errors: &mut Vec<FieldError>, path: &str, message: &Message) {
    let content_field = format!("{path}.content");
    let may_be_empty = message.role == Role::Tool
        || (message.role == Role::Assistant && !message.tool_calls.is_empty());
    if !may_be_empty {
        require_not_blank(errors, &content_field, &message.content);
    }
    require_max_chars(errors, &content_field, &message.content, MAX_CONTENT_CHARS);
    require_free_text(errors, &content_field, &message.content);

    let id_field = format!("{path}.tool_call_id");
    match (&message.tool_call_id, message.role) {
        (Some(id), Role::Tool) => collect_tool_call_id_violations(errors, &id_field, id),
        (None, Role::Tool) => errors.push(FieldError::new(id_field, "is required for a tool")),
        (Some(_), _) => errors.push(FieldError::new(id_field, "is only for a tool")),
        (None, _) => {}
    }

    let calls_field = format!("{path}.tool_calls");
    if message.tool_calls.is_empty() {
        return;
    }
    if message.role != Role::Assistant {
        errors.push(FieldError::new(calls_field, "are only for an assistant"));
        return;
    }
    if message.tool_calls.len() > MAX_TOOL_CALLS_PER_MESSAGE {
        errors.push(FieldError::new(
            &calls_field,
            format!("must contain at most {MAX_TOOL_CALLS_PER_MESSAGE} items"),
        ));
    }
    let mut seen = HashSet::with_capacity(message.tool_calls.len());
    if !message
        .tool_calls
        .iter()
        .all(|call| seen.insert(&call.tool_call_id))
    {
        errors.push(FieldError::new(
            &calls_field,
            "must not repeat a tool_call_id",
        ));
    }
    for (index, call) in message.tool_calls.iter().enumerate() {
        let call_path = format!("{calls_field}[{index}]");
        collect_tool_call_id_violations(
            errors,
            &format!("{call_path}.tool_call_id"),
            &call.tool_call_id,
        );
        let name_field = format!("{call_path}.tool_name");
        require_not_blank(errors, &name_field, &call.tool_name);
        require_max_chars(errors, &name_field, &call.tool_name, MAX_TOOL_NAME_CHARS);
        require_single_line(errors, &name_field, &call.tool_name);
        collect_json_violations(errors, &format!("{call_path}.arguments"), &call.arguments);
    }
}

/// A tool call id goes into idempotency keys, which hold printable ASCII only, and into a
/// memory's source, which holds at most 128 characters.
pub(super) fn collect_tool_call_id_violations(errors: &mut Vec<FieldError>, field: &str, id: &str) {
    if id.is_empty() || exceeds_chars(id, MAX_TOOL_CALL_ID_CHARS) {
        errors.push(FieldError::new(
            field,
            format!("must be between 1 and {MAX_TOOL_CALL_ID_CHARS} characters"),
        ));
    }
    if !id.chars().all(|c| c.is_ascii_graphic()) {
        errors.push(FieldError::new(
            field,
            "must hold only printable ASCII characters without spaces",
        ));
    }
}

/// A JSON value Postgres can store (no NUL) that is not too large to send to a model.
pub(super) fn collect_json_violations(errors: &mut Vec<FieldError>, field: &str, value: &Value) {
    check_storable(errors, field, value);
    if exceeds_chars(&value.to_string(), MAX_CONTENT_CHARS) {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_CONTENT_CHARS} characters as JSON"),
        ));
    }
}

/// An amount of micro-units from `min` to [`MAX_BUDGET_MICROS`].
pub(super) fn collect_micros_violations(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: i64,
    min: i64,
) {
    if !(min..=MAX_BUDGET_MICROS).contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between {min} and {MAX_BUDGET_MICROS}"),
        ));
    }
}

/// An engine, approver or canceller: 1 to 255 characters on one line.
pub(super) fn collect_actor_violations(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    require_not_blank(errors, field, value);
    require_max_chars(errors, field, value, MAX_ACTOR_CHARS);
    require_single_line(errors, field, value);
}

/// An optional reason: at most 500 characters of free text.
pub(super) fn collect_reason_violations(errors: &mut Vec<FieldError>, reason: Option<&str>) {
    if let Some(reason) = reason {
        require_max_chars(errors, "reason", reason, MAX_REASON_CHARS);
        require_free_text(errors, "reason", reason);
    }
}

/// An error message: 1 to 4,000 characters of free text.
pub(super) fn collect_error_violations(errors: &mut Vec<FieldError>, error: &str) {
    require_not_blank(errors, "error", error);
    require_max_chars(errors, "error", error, MAX_ERROR_CHARS);
    require_free_text(errors, "error", error);
}

/// The key is copied into unique indexes and headers, so it is kept to printable ASCII.
fn collect_idempotency_key_violations(errors: &mut Vec<FieldError>, key: &str) {
    require_not_blank(errors, "idempotency_key", key);
    require_max_chars(errors, "idempotency_key", key, MAX_IDEMPOTENCY_KEY_CHARS);
    if !key.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        errors.push(FieldError::new(
            "idempotency_key",
            "must hold only printable ASCII characters",
        ));
    }
}
