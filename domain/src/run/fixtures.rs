//! Sample values shared by the run tests.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    AgentFacts, Message, ModelCallCompleted, ModelCallStarted, ModelUsage, Role, RunEvent,
    RunLeaseAcquired, RunStarted, ToolCallRequest, ToolCallRequested, ToolInvocationRecorded,
};
use crate::agent::AgentStatus;

pub(crate) const TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);
pub(crate) const OTHER_TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002);
pub(crate) const AGENT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00a1);
pub(crate) const RUN: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00d1);
pub(crate) const WEATHER_TOOL: Uuid = Uuid::from_u128(1);
pub(crate) const EMAIL_TOOL: Uuid = Uuid::from_u128(2);
pub(crate) const INVOCATION: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00c1);
pub(crate) const MEMORY: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00e1);
pub(crate) const ENGINE: &str = "engine-1";
pub(crate) const OTHER_ENGINE: &str = "engine-2";
pub(crate) const MAX_STEPS: u32 = 10;
pub(crate) const BUDGET: i64 = 1_000_000;
/// What each model call in the fixtures costs.
pub(crate) const CALL_COST: i64 = 300_000;

/// A fixed instant `minutes` after a reference time, so tests never read the clock.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// An active agent at configuration version 3 with the weather and email tools.
pub(crate) fn agent_facts() -> AgentFacts {
    let config = crate::agent::fixtures::valid_config();
    AgentFacts {
        status: AgentStatus::Active,
        config_version: 3,
        model: config.model,
        system_prompt: config.system_prompt,
        tool_ids: vec![WEATHER_TOOL, EMAIL_TOOL],
    }
}

pub(crate) fn question() -> Message {
    Message::text(Role::User, "What is the weather in Oslo? Mail it to Kari.")
}

/// The model's final answer, without tool calls.
pub(crate) fn final_answer() -> Message {
    Message::text(Role::Assistant, "It is -4.5 °C in Oslo; I mailed Kari.")
}

pub(crate) fn weather_arguments() -> Value {
    json!({ "city": "Oslo" })
}

/// The model asks for the weather (`call-1`) and to send a mail (`call-2`).
pub(crate) fn tool_answer() -> Message {
    Message {
        role: Role::Assistant,
        content: String::new(),
        tool_call_id: None,
        tool_calls: vec![
            ToolCallRequest {
                tool_call_id: "call-1".to_owned(),
                tool_id: WEATHER_TOOL,
                tool_name: "weather.forecast".to_owned(),
                arguments: weather_arguments(),
            },
            ToolCallRequest {
                tool_call_id: "call-2".to_owned(),
                tool_id: EMAIL_TOOL,
                tool_name: "email.send".to_owned(),
                arguments: json!({ "to": "kari@example.com" }),
            },
        ],
    }
}

pub(crate) fn usage() -> ModelUsage {
    ModelUsage {
        input_tokens: 1_200,
        output_tokens: 80,
    }
}

pub(crate) fn run_started() -> RunEvent {
    let agent = agent_facts();
    RunEvent::RunStarted(RunStarted {
        run_id: RUN,
        tenant_id: TENANT,
        agent_id: AGENT,
        agent_config_version: agent.config_version,
        model: agent.model,
        system_prompt: agent.system_prompt,
        tool_ids: agent.tool_ids,
        input: vec![question()],
        max_steps: MAX_STEPS,
        budget_micros: BUDGET,
        idempotency_key: Some("client-key-1".to_owned()),
        created_at: at(0),
    })
}

pub(crate) fn lease_acquired(engine_id: &str, lease_generation: u32, minutes: i64) -> RunEvent {
    RunEvent::RunLeaseAcquired(RunLeaseAcquired {
        engine_id: engine_id.to_owned(),
        lease_generation,
        lease_until: at(minutes + 1),
        acquired_at: at(minutes),
    })
}

pub(crate) fn model_call_started(step: u32, messages_in: u32, minutes: i64) -> RunEvent {
    RunEvent::ModelCallStarted(ModelCallStarted {
        step,
        messages_in,
        estimated_cost_micros: CALL_COST,
        started_at: at(minutes),
    })
}

/// Model call `step` answered with `output`, taking the spend to `spent_micros`.
pub(crate) fn model_call_completed(
    step: u32,
    output: Message,
    spent_micros: i64,
    minutes: i64,
) -> RunEvent {
    RunEvent::ModelCallCompleted(ModelCallCompleted {
        step,
        output,
        usage: usage(),
        latency_ms: 900,
        cost_micros: CALL_COST,
        spent_micros,
        completed_at: at(minutes),
    })
}

/// The tool call `index` (0: `call-1`, 1: `call-2`) of [`tool_answer`] requested at `step`.
pub(crate) fn tool_call_requested(
    step: u32,
    index: usize,
    requires_approval: bool,
    minutes: i64,
) -> RunEvent {
    let call = tool_answer().tool_calls.swap_remove(index);
    RunEvent::ToolCallRequested(ToolCallRequested {
        step,
        model_call_step: 1,
        tool_call_id: call.tool_call_id,
        tool_id: call.tool_id,
        tool_name: call.tool_name,
        arguments: call.arguments,
        requires_approval,
        requested_at: at(minutes),
    })
}

pub(crate) fn invocation_recorded(step: u32, tool_call_id: &str, minutes: i64) -> RunEvent {
    RunEvent::ToolInvocationRecorded(ToolInvocationRecorded {
        step,
        tool_call_id: tool_call_id.to_owned(),
        invocation_id: INVOCATION,
        recorded_at: at(minutes),
    })
}

/// A run an engine leased, whose first model call asked for both tools; the mail (step 3)
/// needs approval when `approval` is set.
pub(crate) fn calling_tools(approval: bool) -> Vec<RunEvent> {
    vec![
        run_started(),
        lease_acquired(ENGINE, 1, 1),
        model_call_started(1, 1, 2),
        model_call_completed(1, tool_answer(), CALL_COST, 3),
        tool_call_requested(2, 0, false, 3),
        tool_call_requested(3, 1, approval, 3),
    ]
}
