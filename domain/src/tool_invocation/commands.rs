//! The requests that change a tool invocation.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::ToolSnapshot;

/// A request to change a tool invocation. Every command carries the caller's tenant and the time.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a command is built once and consumed by one decision; boxing buys nothing"
)]
pub enum ToolInvocationCommand {
    /// Request a call of a tool.
    RequestInvocation {
        /// The tenant that owns the tool and will own the invocation.
        tenant_id: Uuid,
        /// The id chosen by the caller for the new invocation.
        invocation_id: Uuid,
        /// The tool as it stands, with the version to call, looked up by the caller.
        tool: ToolSnapshot,
        /// The agent making the call.
        agent_id: Uuid,
        /// The run the call belongs to, if any.
        run_id: Option<Uuid>,
        /// The run step the call belongs to, if any.
        step: Option<u32>,
        /// The model's id for this tool call: 1 to 255 characters, no control characters.
        tool_call_id: Option<String>,
        /// The arguments; they must match the version's input schema.
        arguments: Value,
        /// 1 to 255 printable ASCII characters.
        idempotency_key: String,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record that an executor starts an attempt at a requested or running call.
    StartInvocation {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Which executor: 1 to 255 characters, no control characters.
        executor: String,
        /// The attempt number, at least 1 and above every earlier attempt.
        attempt: u32,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record the output of a running call.
    CompleteInvocation {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// What the tool returned; it must match the version's output schema, if any.
        output: Value,
        /// How long the attempt took, in milliseconds.
        duration_ms: u64,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record that a requested or running call failed.
    FailInvocation {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// What went wrong: 1 to 4,000 characters; tab and line breaks are its only control
        /// characters.
        error: String,
        /// How long the attempt took, in milliseconds, if it got to run.
        duration_ms: Option<u64>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Give up a requested or running call that ran out of time.
    TimeOutInvocation {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The time limit that was exceeded, in milliseconds.
        timeout_ms: u64,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}
