//! Requests to change a run. The service sends the first three kinds on behalf of people
//! (start, approve, cancel); the engine and the reaper send the rest.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{AgentFacts, Message, ModelUsage};
use crate::agent::AgentStatus;

/// A request to change a run. Every command carries the caller's tenant and the time.
///
/// Commands that record a step's work carry the `lease_generation` of the engine's lease:
/// an engine whose lease was expired and taken over can no longer record anything.
#[derive(Debug, Clone, PartialEq)]
pub enum RunCommand {
    /// Create a run of an active agent, queued for an engine.
    StartRun {
        /// The tenant that will own the run.
        tenant_id: Uuid,
        /// The id chosen by the caller for the new run.
        run_id: Uuid,
        /// The agent to run.
        agent_id: Uuid,
        /// The agent's status and configuration, looked up by the service.
        agent: AgentFacts,
        /// The conversation to start from: 1 to 100 messages.
        input: Vec<Message>,
        /// The most steps the run may take, from 1 to 100.
        max_steps: u32,
        /// The most the run's model calls may cost, in micro-units, from 1 to 10^12.
        budget_micros: i64,
        /// The client's `Idempotency-Key`, if it sent one: 1 to 255 printable ASCII characters.
        idempotency_key: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Take the run's lease: a queued run starts running. Only a run nobody holds can be
    /// taken; the reaper frees a dead engine's lease with `ExpireLease` first.
    AcquireLease {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The engine taking the lease; 1 to 255 characters, no control characters.
        engine_id: String,
        /// When the lease runs out unless the engine extends it; after `now`.
        lease_until: DateTime<Utc>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Give the lease up, for instance while the run waits for an approval.
    ReleaseLease {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The generation of the lease given up.
        lease_generation: u32,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Free the lease of an engine that stopped extending it (sent by the reaper). The third
    /// expiration of one run fails it.
    ExpireLease {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The generation of the lease that ran out.
        lease_generation: u32,
        /// The lease's end as last extended by its engine; before `now`.
        lease_until: DateTime<Utc>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Begin a model call as the next step, unless a stop rule stops the run instead.
    BeginModelCall {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The engine's lease generation.
        lease_generation: u32,
        /// The step number: the run's next step.
        step: u32,
        /// The most the call can cost, in micro-units, from 0 to 10^12.
        estimated_cost_micros: i64,
        /// The agent's status now; a paused or archived agent cancels the run.
        agent_status: AgentStatus,
        /// Whether the tenant is over a quota now; if so the run stops.
        quota_exceeded: bool,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record the model's answer to a model call.
    CompleteModelCall {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The engine's lease generation.
        lease_generation: u32,
        /// The model call's step.
        step: u32,
        /// The model's answer: an assistant message.
        output: Message,
        /// The ids of the answer's tool calls that need a person's approval.
        approval_required: Vec<String>,
        /// Tokens used.
        usage: ModelUsage,
        /// How long the call took, in milliseconds.
        latency_ms: u64,
        /// What the call cost, in micro-units, from 0 to 10^12.
        cost_micros: i64,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record that a model call failed; the run goes on, and the engine may try again.
    FailModelCall {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The engine's lease generation.
        lease_generation: u32,
        /// The model call's step.
        step: u32,
        /// What went wrong: 1 to 4,000 characters of free text.
        error: String,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record the tool invocation that carries a tool call out.
    RecordToolInvocation {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The engine's lease generation.
        lease_generation: u32,
        /// The tool call's step.
        step: u32,
        /// The tool call's id.
        tool_call_id: String,
        /// The tool invocation requested for the call.
        invocation_id: Uuid,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record what a tool call returned.
    CompleteToolCall {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The engine's lease generation.
        lease_generation: u32,
        /// The tool call's step.
        step: u32,
        /// The tool call's id.
        tool_call_id: String,
        /// What the tool returned; at most 100,000 characters as compact JSON.
        output: Value,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record that a tool call failed; the model sees the error as the call's result.
    FailToolCall {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The engine's lease generation.
        lease_generation: u32,
        /// The tool call's step.
        step: u32,
        /// The tool call's id.
        tool_call_id: String,
        /// What went wrong: 1 to 4,000 characters of free text.
        error: String,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Approve or reject a tool call that waits for a person's decision.
    ApproveToolCall {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The tool call decided on.
        tool_call_id: String,
        /// `true` to approve, `false` to reject.
        approved: bool,
        /// Who decides, set by the service from the caller's identity; 1 to 255 characters,
        /// no control characters.
        approver: String,
        /// Why, at most 500 characters of free text; a rejection's reason is shown to the model.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record a memory the run wrote, as the next step.
    RecordMemoryWrite {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The engine's lease generation.
        lease_generation: u32,
        /// The step number: the run's next step.
        step: u32,
        /// The memory written.
        memory_id: Uuid,
        /// The tool call of this run that wrote it, if one did.
        tool_call_id: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Cancel a run that has not stopped yet.
    CancelRun {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Who cancels, set by the service from the caller's identity; 1 to 255
        /// characters, no control characters.
        by: String,
        /// Why, at most 500 characters of free text.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Fail a run that has not stopped yet.
    FailRun {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// What went wrong: 1 to 4,000 characters of free text.
        error: String,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Give up a run that has not stopped yet because it ran out of time.
    TimeOutRun {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The time limit that was exceeded, in milliseconds.
        timeout_ms: u64,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}

impl RunCommand {
    /// The tenant the command is sent on behalf of.
    pub fn tenant_id(&self) -> Uuid {
        match self {
            Self::StartRun { tenant_id, .. }
            | Self::AcquireLease { tenant_id, .. }
            | Self::ReleaseLease { tenant_id, .. }
            | Self::ExpireLease { tenant_id, .. }
            | Self::BeginModelCall { tenant_id, .. }
            | Self::CompleteModelCall { tenant_id, .. }
            | Self::FailModelCall { tenant_id, .. }
            | Self::RecordToolInvocation { tenant_id, .. }
            | Self::CompleteToolCall { tenant_id, .. }
            | Self::FailToolCall { tenant_id, .. }
            | Self::ApproveToolCall { tenant_id, .. }
            | Self::RecordMemoryWrite { tenant_id, .. }
            | Self::CancelRun { tenant_id, .. }
            | Self::FailRun { tenant_id, .. }
            | Self::TimeOutRun { tenant_id, .. } => *tenant_id,
        }
    }

    /// The lease generation the command is sent under, for commands an engine sends while
    /// holding the lease.
    pub fn lease_generation(&self) -> Option<u32> {
        match self {
            Self::BeginModelCall {
                lease_generation, ..
            }
            | Self::CompleteModelCall {
                lease_generation, ..
            }
            | Self::FailModelCall {
                lease_generation, ..
            }
            | Self::RecordToolInvocation {
                lease_generation, ..
            }
            | Self::CompleteToolCall {
                lease_generation, ..
            }
            | Self::FailToolCall {
                lease_generation, ..
            }
            | Self::RecordMemoryWrite {
                lease_generation, ..
            } => Some(*lease_generation),
            _ => None,
        }
    }

    /// The action the command attempts, as the words an `InvalidTransition` error reports:
    /// "cannot {action} a run that is {status}".
    pub fn action(&self) -> &'static str {
        match self {
            Self::StartRun { .. } => "start",
            Self::AcquireLease { .. } => "acquire the lease of",
            Self::ReleaseLease { .. } => "release the lease of",
            Self::ExpireLease { .. } => "expire the lease of",
            Self::BeginModelCall { .. } => "begin a model call in",
            Self::CompleteModelCall { .. } => "complete a model call in",
            Self::FailModelCall { .. } => "fail a model call in",
            Self::RecordToolInvocation { .. } => "record a tool invocation in",
            Self::CompleteToolCall { .. } => "complete a tool call in",
            Self::FailToolCall { .. } => "fail a tool call in",
            Self::ApproveToolCall { .. } => "decide on a tool call in",
            Self::RecordMemoryWrite { .. } => "record a memory write in",
            Self::CancelRun { .. } => "cancel",
            Self::FailRun { .. } => "fail",
            Self::TimeOutRun { .. } => "time out",
        }
    }
}
