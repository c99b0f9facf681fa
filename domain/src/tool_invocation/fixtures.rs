//! Sample values shared by the tool invocation tests.

use serde_json::{Value, json};
use uuid::Uuid;

use super::{InvocationRequested, ToolInvocationEvent, ToolSnapshot};
use crate::tool::ToolStatus;
use crate::tool::fixtures::{TENANT, TOOL, TOOL_NAME, at, http_kind, output_schema, version_one};

pub(crate) use crate::tool::fixtures::{OTHER_TENANT, checker};

pub(crate) const INVOCATION: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00c1);
pub(crate) const AGENT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00a1);
pub(crate) const RUN: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00d1);
pub(crate) const IDEMPOTENCY_KEY: &str = "run-00d1/step-3/call-7";

/// Version 1 of the weather tool, active.
pub(crate) fn snapshot() -> ToolSnapshot {
    ToolSnapshot {
        tool_id: TOOL,
        name: TOOL_NAME.to_owned(),
        status: ToolStatus::Active,
        version: version_one(),
    }
}

/// Arguments that match the weather tool's input schema.
pub(crate) fn arguments() -> Value {
    json!({ "city": "Oslo", "days": 3 })
}

/// An output that matches the weather tool's output schema.
pub(crate) fn output() -> Value {
    json!({ "temperature_c": -4.5 })
}

pub(crate) fn invocation_requested() -> ToolInvocationEvent {
    ToolInvocationEvent::InvocationRequested(InvocationRequested {
        invocation_id: INVOCATION,
        tenant_id: TENANT,
        tool_id: TOOL,
        tool_name: TOOL_NAME.to_owned(),
        tool_version: 1,
        kind: http_kind(),
        output_schema: Some(output_schema()),
        agent_id: AGENT,
        run_id: Some(RUN),
        step: Some(3),
        tool_call_id: Some("call-7".to_owned()),
        arguments: arguments(),
        idempotency_key: IDEMPOTENCY_KEY.to_owned(),
        requested_at: at(0),
    })
}
