//! Facts recorded about a tool invocation. Once stored they are never changed: add a new
//! version (and an upcaster) instead of editing a payload.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::tool::ToolKind;

/// Something that happened to a tool invocation, stored as `{"<EventType>": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[expect(
    clippy::large_enum_variant,
    reason = "an event is moved a few times and stored as JSON; boxing the request buys nothing"
)]
pub enum ToolInvocationEvent {
    /// A call of a tool was requested.
    InvocationRequested(InvocationRequested),
    /// An executor started (or restarted) the call.
    InvocationStarted(InvocationStarted),
    /// The call returned an output that matches the tool's output schema.
    InvocationSucceeded(InvocationSucceeded),
    /// The call failed.
    InvocationFailed(InvocationFailed),
    /// The call ran out of time.
    InvocationTimedOut(InvocationTimedOut),
}

/// A call of one version of a tool was requested, with arguments that match its input schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvocationRequested {
    /// The new invocation's id.
    pub invocation_id: Uuid,
    /// The tenant that owns the invocation (and the tool).
    pub tenant_id: Uuid,
    /// The tool called.
    pub tool_id: Uuid,
    /// The tool's name when the call was requested.
    pub tool_name: String,
    /// The tool version in force for this call.
    pub tool_version: u32,
    /// How that version is carried out.
    pub kind: ToolKind,
    /// That version's output schema, which the output must match; `None` when it has none.
    pub output_schema: Option<Value>,
    /// The agent making the call.
    pub agent_id: Uuid,
    /// The run the call belongs to, if any.
    pub run_id: Option<Uuid>,
    /// The run step the call belongs to, if any.
    pub step: Option<u32>,
    /// The model's id for this tool call, if any.
    pub tool_call_id: Option<String>,
    /// The arguments, matching the version's input schema.
    pub arguments: Value,
    /// The caller's key that makes repeating this request harmless.
    pub idempotency_key: String,
    /// When the call was requested.
    pub requested_at: DateTime<Utc>,
}

/// An executor started an attempt at the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvocationStarted {
    /// Which executor runs the attempt.
    pub executor: String,
    /// The attempt number: 1 for the first, growing with each restart.
    pub attempt: u32,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
}

/// The call succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvocationSucceeded {
    /// What the tool returned.
    pub output: Value,
    /// How long the successful attempt took, in milliseconds.
    pub duration_ms: u64,
    /// When the call completed.
    pub completed_at: DateTime<Utc>,
}

/// The call failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvocationFailed {
    /// What went wrong, at most 4,000 characters.
    pub error: String,
    /// How long the failed attempt took, in milliseconds, if it got to run.
    pub duration_ms: Option<u64>,
    /// When the call failed.
    pub failed_at: DateTime<Utc>,
}

/// The call was given up after running out of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvocationTimedOut {
    /// The time limit that was exceeded, in milliseconds.
    pub timeout_ms: u64,
    /// When the call was given up.
    pub timed_out_at: DateTime<Utc>,
}

impl ToolInvocationEvent {
    /// Every event type name, as returned by [`DomainEvent::event_type`].
    pub const TYPES: &'static [&'static str] = &[
        "InvocationRequested",
        "InvocationStarted",
        "InvocationSucceeded",
        "InvocationFailed",
        "InvocationTimedOut",
    ];

    /// When the event happened, as stated by the command that caused it.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::InvocationRequested(event) => event.requested_at,
            Self::InvocationStarted(event) => event.started_at,
            Self::InvocationSucceeded(event) => event.completed_at,
            Self::InvocationFailed(event) => event.failed_at,
            Self::InvocationTimedOut(event) => event.timed_out_at,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::InvocationRequested(_) => "InvocationRequested",
            Self::InvocationStarted(_) => "InvocationStarted",
            Self::InvocationSucceeded(_) => "InvocationSucceeded",
            Self::InvocationFailed(_) => "InvocationFailed",
            Self::InvocationTimedOut(_) => "InvocationTimedOut",
        }
    }
}

impl DomainEvent for ToolInvocationEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[cfg(test)]
mod tests;
