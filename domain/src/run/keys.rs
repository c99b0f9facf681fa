//! Idempotency keys for the side effects of a run.

use uuid::Uuid;

/// The idempotency key of one side effect of a run: a model call or a memory write is named
/// by its step, a tool call by its step and the model's tool call id.
///
/// The engine uses it for the tool invocation it requests, the usage it records and the
/// memory it writes, so redelivered events and restarted engines never repeat an effect.
/// Keys are printable ASCII and at most 190 characters (tool call ids are printable ASCII of
/// at most 128), so they fit the 255-character keys of tool invocations and billing. A
/// second effect of one step (usage of a second meter) appends its own suffix, such as
/// `/llm_output_tokens`.
pub fn side_effect_key(run_id: Uuid, step: u32, tool_call_id: Option<&str>) -> String {
    match tool_call_id {
        Some(tool_call_id) => format!("run/{run_id}/step/{step}/call/{tool_call_id}"),
        None => format!("run/{run_id}/step/{step}"),
    }
}
