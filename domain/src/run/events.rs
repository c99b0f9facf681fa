//! Facts recorded about a run. Once stored they are never changed: add a new version (and
//! an upcaster) instead of editing a payload.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Message, ModelUsage, StopReason};
use crate::agent::ModelConfig;

/// Something that happened to a run, stored as `{"<EventType>": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum RunEvent {
    /// A run was created and queued.
    RunStarted(RunStarted),
    /// An engine took the run's lease.
    RunLeaseAcquired(RunLeaseAcquired),
    /// An engine gave the run's lease up.
    RunLeaseReleased(RunLeaseReleased),
    /// The reaper freed the lease of an engine that stopped extending it.
    RunLeaseExpired(RunLeaseExpired),
    /// A model call began as the next step.
    ModelCallStarted(ModelCallStarted),
    /// The model answered.
    ModelCallCompleted(ModelCallCompleted),
    /// A model call failed.
    ModelCallFailed(ModelCallFailed),
    /// The model asked for a tool call, which became the next step.
    ToolCallRequested(ToolCallRequested),
    /// A person approved a tool call.
    ToolCallApproved(ToolCallApproved),
    /// A person rejected a tool call, which failed.
    ToolCallRejected(ToolCallRejected),
    /// The tool invocation carrying a tool call out was recorded.
    ToolInvocationRecorded(ToolInvocationRecorded),
    /// A tool call returned an output.
    ToolCallCompleted(ToolCallCompleted),
    /// A tool call failed.
    ToolCallFailed(ToolCallFailed),
    /// The run wrote a memory, recorded as the next step.
    MemoryWriteRecorded(MemoryWriteRecorded),
    /// A stop rule ended the run.
    RunCompleted(RunCompleted),
    /// An error ended the run.
    RunFailed(RunFailed),
    /// The run was cancelled.
    RunCancelled(RunCancelled),
    /// The run ran out of time.
    RunTimedOut(RunTimedOut),
}

/// A run was created, queued, and pinned to one configuration of its agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunStarted {
    /// The new run's id.
    pub run_id: Uuid,
    /// The tenant that owns the run.
    pub tenant_id: Uuid,
    /// The agent run.
    pub agent_id: Uuid,
    /// The agent configuration version the run uses.
    pub agent_config_version: u32,
    /// The model the run calls.
    pub model: ModelConfig,
    /// The instructions sent before the conversation on every model call.
    pub system_prompt: String,
    /// The tools the model may call.
    pub tool_ids: Vec<Uuid>,
    /// The conversation the run starts from.
    pub input: Vec<Message>,
    /// The most steps the run may take.
    pub max_steps: u32,
    /// The most the run's model calls may cost, in micro-units.
    pub budget_micros: i64,
    /// The client's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
    /// When the run was created.
    pub created_at: DateTime<Utc>,
}

/// An engine took the run's lease; a queued run started running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunLeaseAcquired {
    /// The engine holding the lease.
    pub engine_id: String,
    /// The lease's generation: 1 for the first lease, one more for each later one.
    pub lease_generation: u32,
    /// When the lease runs out unless its engine extends it.
    pub lease_until: DateTime<Utc>,
    /// When the lease was taken.
    pub acquired_at: DateTime<Utc>,
}

/// An engine gave the run's lease up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunLeaseReleased {
    /// The engine that held the lease.
    pub engine_id: String,
    /// The generation of the lease given up.
    pub lease_generation: u32,
    /// When it was given up.
    pub released_at: DateTime<Utc>,
}

/// The reaper freed the lease of an engine that stopped extending it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunLeaseExpired {
    /// The engine that held the lease.
    pub engine_id: String,
    /// The generation of the lease that ran out.
    pub lease_generation: u32,
    /// The lease's end as last extended by its engine.
    pub lease_until: DateTime<Utc>,
    /// How many leases of this run have expired, this one included.
    pub expirations: u32,
    /// When the reaper freed the lease.
    pub expired_at: DateTime<Utc>,
}

/// A model call began as the next step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelCallStarted {
    /// The step number.
    pub step: u32,
    /// How many messages of the conversation are sent, after the system prompt.
    pub messages_in: u32,
    /// The most the call can cost, in micro-units.
    pub estimated_cost_micros: i64,
    /// When the call began.
    pub started_at: DateTime<Utc>,
}

/// The model answered a model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelCallCompleted {
    /// The model call's step.
    pub step: u32,
    /// The model's answer, an assistant message.
    pub output: Message,
    /// Tokens used.
    pub usage: ModelUsage,
    /// How long the call took, in milliseconds.
    pub latency_ms: u64,
    /// What the call cost, in micro-units.
    pub cost_micros: i64,
    /// What the run's model calls have cost so far, this one included, in micro-units.
    pub spent_micros: i64,
    /// When the answer was recorded.
    pub completed_at: DateTime<Utc>,
}

/// A model call failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelCallFailed {
    /// The model call's step.
    pub step: u32,
    /// What went wrong.
    pub error: String,
    /// When the failure was recorded.
    pub failed_at: DateTime<Utc>,
}

/// The model asked for a tool call, which became a step of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRequested {
    /// The tool call's step.
    pub step: u32,
    /// The model call step whose answer asked for the call.
    pub model_call_step: u32,
    /// The model's id for the call.
    pub tool_call_id: String,
    /// The tool to call.
    pub tool_id: Uuid,
    /// The tool's name as the model used it.
    pub tool_name: String,
    /// The arguments the model chose.
    pub arguments: Value,
    /// Whether a person must approve the call before it is carried out.
    pub requires_approval: bool,
    /// When the model asked.
    pub requested_at: DateTime<Utc>,
}

/// A person approved a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallApproved {
    /// The tool call's step.
    pub step: u32,
    /// The tool call's id.
    pub tool_call_id: String,
    /// Who approved it.
    pub approver: String,
    /// Why, if the approver said.
    pub reason: Option<String>,
    /// How many tool calls still wait for a decision; at 0 the run is running again.
    pub approvals_remaining: u32,
    /// When it was approved.
    pub approved_at: DateTime<Utc>,
}

/// A person rejected a tool call; the call failed and the model is told it was rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRejected {
    /// The tool call's step.
    pub step: u32,
    /// The tool call's id.
    pub tool_call_id: String,
    /// Who rejected it.
    pub approver: String,
    /// Why, if the approver said; shown to the model.
    pub reason: Option<String>,
    /// How many tool calls still wait for a decision; at 0 the run is running again.
    pub approvals_remaining: u32,
    /// When it was rejected.
    pub rejected_at: DateTime<Utc>,
}

/// The tool invocation carrying a tool call out was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolInvocationRecorded {
    /// The tool call's step.
    pub step: u32,
    /// The tool call's id.
    pub tool_call_id: String,
    /// The tool invocation.
    pub invocation_id: Uuid,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A tool call returned an output, which the model sees as the call's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallCompleted {
    /// The tool call's step.
    pub step: u32,
    /// The tool call's id.
    pub tool_call_id: String,
    /// What the tool returned.
    pub output: Value,
    /// When the output was recorded.
    pub completed_at: DateTime<Utc>,
}

/// A tool call failed; the model sees the error as the call's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallFailed {
    /// The tool call's step.
    pub step: u32,
    /// The tool call's id.
    pub tool_call_id: String,
    /// What went wrong.
    pub error: String,
    /// When the failure was recorded.
    pub failed_at: DateTime<Utc>,
}

/// The run wrote a memory, recorded as a step that succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoryWriteRecorded {
    /// The memory write's step.
    pub step: u32,
    /// The memory written.
    pub memory_id: Uuid,
    /// The tool call that wrote it, if one did.
    pub tool_call_id: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A stop rule ended the run: the model's turn ended, or a step, budget or quota limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunCompleted {
    /// `end_turn`, `max_steps`, `budget_exhausted` or `quota_exceeded`.
    pub stop_reason: StopReason,
    /// The model's last answer, if it answered at all.
    pub output: Option<Message>,
    /// When the run ended.
    pub completed_at: DateTime<Utc>,
}

/// An error ended the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunFailed {
    /// Always `error`.
    pub stop_reason: StopReason,
    /// What went wrong.
    pub error: String,
    /// When the run ended.
    pub failed_at: DateTime<Utc>,
}

/// The run was cancelled by someone, or by the system because its agent was paused
/// (`by` = `system:agent-paused`) or archived (`system:agent-archived`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunCancelled {
    /// Always `cancelled`.
    pub stop_reason: StopReason,
    /// Who cancelled it.
    pub by: String,
    /// Why, if given.
    pub reason: Option<String>,
    /// When the run ended.
    pub cancelled_at: DateTime<Utc>,
}

/// The run ran out of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunTimedOut {
    /// Always `error`.
    pub stop_reason: StopReason,
    /// The time limit that was exceeded, in milliseconds.
    pub timeout_ms: u64,
    /// When the run ended.
    pub timed_out_at: DateTime<Utc>,
}

impl RunEvent {
    /// Every event type name, as returned by [`DomainEvent::event_type`].
    pub const TYPES: &'static [&'static str] = &[
        "RunStarted",
        "RunLeaseAcquired",
        "RunLeaseReleased",
        "RunLeaseExpired",
        "ModelCallStarted",
        "ModelCallCompleted",
        "ModelCallFailed",
        "ToolCallRequested",
        "ToolCallApproved",
        "ToolCallRejected",
        "ToolInvocationRecorded",
        "ToolCallCompleted",
        "ToolCallFailed",
        "MemoryWriteRecorded",
        "RunCompleted",
        "RunFailed",
        "RunCancelled",
        "RunTimedOut",
    ];

    /// When the event happened, as stated by the command that caused it.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::RunStarted(event) => event.created_at,
            Self::RunLeaseAcquired(event) => event.acquired_at,
            Self::RunLeaseReleased(event) => event.released_at,
            Self::RunLeaseExpired(event) => event.expired_at,
            Self::ModelCallStarted(event) => event.started_at,
            Self::ModelCallCompleted(event) => event.completed_at,
            Self::ModelCallFailed(event) => event.failed_at,
            Self::ToolCallRequested(event) => event.requested_at,
            Self::ToolCallApproved(event) => event.approved_at,
            Self::ToolCallRejected(event) => event.rejected_at,
            Self::ToolInvocationRecorded(event) => event.recorded_at,
            Self::ToolCallCompleted(event) => event.completed_at,
            Self::ToolCallFailed(event) => event.failed_at,
            Self::MemoryWriteRecorded(event) => event.recorded_at,
            Self::RunCompleted(event) => event.completed_at,
            Self::RunFailed(event) => event.failed_at,
            Self::RunCancelled(event) => event.cancelled_at,
            Self::RunTimedOut(event) => event.timed_out_at,
        }
    }

    /// The step the event records something about, if it is about one step.
    pub fn step(&self) -> Option<u32> {
        match self {
            Self::ModelCallStarted(event) => Some(event.step),
            Self::ModelCallCompleted(event) => Some(event.step),
            Self::ModelCallFailed(event) => Some(event.step),
            Self::ToolCallRequested(event) => Some(event.step),
            Self::ToolCallApproved(event) => Some(event.step),
            Self::ToolCallRejected(event) => Some(event.step),
            Self::ToolInvocationRecorded(event) => Some(event.step),
            Self::ToolCallCompleted(event) => Some(event.step),
            Self::ToolCallFailed(event) => Some(event.step),
            Self::MemoryWriteRecorded(event) => Some(event.step),
            Self::RunStarted(_)
            | Self::RunLeaseAcquired(_)
            | Self::RunLeaseReleased(_)
            | Self::RunLeaseExpired(_)
            | Self::RunCompleted(_)
            | Self::RunFailed(_)
            | Self::RunCancelled(_)
            | Self::RunTimedOut(_) => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::RunStarted(_) => "RunStarted",
            Self::RunLeaseAcquired(_) => "RunLeaseAcquired",
            Self::RunLeaseReleased(_) => "RunLeaseReleased",
            Self::RunLeaseExpired(_) => "RunLeaseExpired",
            Self::ModelCallStarted(_) => "ModelCallStarted",
            Self::ModelCallCompleted(_) => "ModelCallCompleted",
            Self::ModelCallFailed(_) => "ModelCallFailed",
            Self::ToolCallRequested(_) => "ToolCallRequested",
            Self::ToolCallApproved(_) => "ToolCallApproved",
            Self::ToolCallRejected(_) => "ToolCallRejected",
            Self::ToolInvocationRecorded(_) => "ToolInvocationRecorded",
            Self::ToolCallCompleted(_) => "ToolCallCompleted",
            Self::ToolCallFailed(_) => "ToolCallFailed",
            Self::MemoryWriteRecorded(_) => "MemoryWriteRecorded",
            Self::RunCompleted(_) => "RunCompleted",
            Self::RunFailed(_) => "RunFailed",
            Self::RunCancelled(_) => "RunCancelled",
            Self::RunTimedOut(_) => "RunTimedOut",
        }
    }
}

impl DomainEvent for RunEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[cfg(test)]
mod tests;
