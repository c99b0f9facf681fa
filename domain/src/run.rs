//! The run aggregate: one execution of an agent, step by step, from its input to the
//! reason it stopped.
//!
//! Lifecycle: `queued → running ⇄ requires_action`, then `completed | failed | cancelled |
//! timed_out`, which are final. Every step is a model call, a tool call or a memory write,
//! numbered from 1, and goes `pending → succeeded | failed` (a memory write is recorded once
//! done). The engine drives a run: it reacts to each event with the next command, and
//! every command that records work is idempotent: recording something already recorded for
//! a step or tool call is rejected as [`RunError::AlreadyRecorded`], which means "done".
//!
//! Leases: an engine works on a run only while holding its lease. Taking, giving up and
//! expiring a lease are events; extending it (the heartbeat) is not, because one event per
//! heartbeat would flood the store. The engine keeps each lease's `lease_until` in a lease
//! table, extends it there with a compare-and-set on the lease generation, and the reaper
//! sends `ExpireLease` for leases that ran out there. Commands that record work carry the
//! lease generation, so an engine whose lease was taken over can no longer record anything.
//!
//! Stop rules, checked when a model call is about to begin, in this order: a paused or
//! archived agent cancels the run (`cancelled`, by `system:agent-paused` or
//! `system:agent-archived`: the agent's owner stopped it, which is a cancellation, not an
//! error); a crossed quota completes it with `quota_exceeded`; a step past `max_steps`
//! with `max_steps`; an estimate that could take the spend past the budget with
//! `budget_exhausted`. Tool calls that would go past `max_steps` are not carried out: the
//! run completes with `max_steps` instead.

mod apply;
mod commands;
mod decide;
mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod keys;
mod message;
mod status;
mod steps;
mod validation;
mod work;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::FieldError;
use crate::agent::{AgentStatus, ModelConfig};

pub use commands::RunCommand;
pub use events::{
    MemoryWriteRecorded, ModelCallCompleted, ModelCallFailed, ModelCallStarted, RunCancelled,
    RunCompleted, RunEvent, RunFailed, RunLeaseAcquired, RunLeaseExpired, RunLeaseReleased,
    RunStarted, RunTimedOut, ToolCallApproved, ToolCallCompleted, ToolCallFailed, ToolCallRejected,
    ToolCallRequested, ToolInvocationRecorded,
};
pub use keys::side_effect_key;
pub use message::{AgentFacts, Message, ModelUsage, Role, ToolCallRequest};
pub use status::{RunStatus, StepKind, StepStatus, StopReason};
pub use steps::{
    MemoryWriteStep, ModelCallStep, Step, StepDetails, ToolCallApproval, ToolCallStep,
};
pub use validation::{
    MAX_ACTOR_CHARS, MAX_BUDGET_MICROS, MAX_CONTENT_CHARS, MAX_ERROR_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS, MAX_INPUT_MESSAGES, MAX_LEASE_EXPIRATIONS, MAX_REASON_CHARS,
    MAX_STEPS, MAX_TOOL_CALL_ID_CHARS, MAX_TOOL_CALLS_PER_MESSAGE, MAX_TOOL_NAME_CHARS,
};

/// The aggregate type under which run events are stored.
pub const RUN_AGGREGATE_TYPE: &str = "run";

/// Who cancels a run whose agent was paused.
pub const CANCELLED_BY_AGENT_PAUSED: &str = "system:agent-paused";
/// Who cancels a run whose agent was archived.
pub const CANCELLED_BY_AGENT_ARCHIVED: &str = "system:agent-archived";

/// Why the run aggregate rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// No such run, or it belongs to another tenant; which one is never revealed.
    #[error("run not found")]
    NotFound,
    /// A run with this id already exists.
    #[error("run already exists")]
    AlreadyExists,
    /// Only an active agent can start a run.
    #[error("cannot run an agent that is {status}")]
    AgentNotActive {
        /// The agent's status.
        status: AgentStatus,
    },
    /// The command is not allowed in the run's current status; every command is refused
    /// once the run has stopped.
    #[error("cannot {action} a run that is {status}")]
    InvalidTransition {
        /// The attempted action, such as `cancel` or `begin a model call in`.
        action: &'static str,
        /// The status that forbids it.
        status: RunStatus,
    },
    /// One or more fields break a rule; one entry per violated rule.
    #[error("invalid run fields")]
    Invalid(Vec<FieldError>),
    /// What the command records was recorded already for this step: the command is done.
    #[error("step {step} already recorded this")]
    AlreadyRecorded {
        /// The step holding the record.
        step: u32,
    },
    /// A new step must take the next step number.
    #[error("step {step} is not the next step, {expected}")]
    WrongStep {
        /// The step the command named.
        step: u32,
        /// The run's next step number.
        expected: u32,
    },
    /// The command names a step that is not of the kind it acts on.
    #[error("step {step} is not a {kind} step of this run")]
    NoSuchStep {
        /// The step the command named.
        step: u32,
        /// The kind of step the command acts on.
        kind: StepKind,
    },
    /// The command names a tool call the run does not have (at that step).
    #[error("no tool call {tool_call_id} in this run")]
    UnknownToolCall {
        /// The step the command named, if it named one.
        step: Option<u32>,
        /// The tool call id the command named.
        tool_call_id: String,
    },
    /// A model call cannot begin while earlier steps have no outcome.
    #[error("steps {steps:?} are still pending")]
    StepsPending {
        /// The pending steps.
        steps: Vec<u32>,
    },
    /// The tool call waits for a person's approval.
    #[error("tool call {tool_call_id} at step {step} awaits approval")]
    AwaitingApproval {
        /// The tool call's step.
        step: u32,
        /// The tool call's id.
        tool_call_id: String,
    },
    /// The tool call needs no approval.
    #[error("tool call {tool_call_id} at step {step} needs no approval")]
    NotAwaitingApproval {
        /// The tool call's step.
        step: u32,
        /// The tool call's id.
        tool_call_id: String,
    },
    /// A tool call's output can only be recorded once its invocation is.
    #[error("the tool invocation of step {step} is not recorded")]
    InvocationNotRecorded {
        /// The tool call's step.
        step: u32,
    },
    /// Another engine holds the run's lease.
    #[error("engine {engine_id} holds the lease")]
    LeaseHeld {
        /// The engine holding it.
        engine_id: String,
        /// Its lease generation.
        lease_generation: u32,
    },
    /// The engine asking for the lease holds it already: the command is done.
    #[error("the lease is held already, generation {lease_generation}")]
    AlreadyLeased {
        /// The lease generation it holds.
        lease_generation: u32,
    },
    /// The command's lease generation is not the lease in force: the sender must stop.
    #[error("lease generation {lease_generation} is not the lease in force")]
    StaleLease {
        /// The generation the command named.
        lease_generation: u32,
        /// The generation in force, if any lease is held.
        current: Option<u32>,
    },
    /// The lease has not run out yet.
    #[error("the lease runs until {lease_until}")]
    LeaseNotExpired {
        /// When it runs out.
        lease_until: DateTime<Utc>,
    },
}

impl From<Vec<FieldError>> for RunError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

/// The lease an engine holds on a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    /// The engine holding it.
    pub engine_id: String,
    /// Its generation: 1 for the run's first lease, one more for each later one.
    pub lease_generation: u32,
    /// When it runs out as stated when taken; the engine extends it in its lease table.
    pub lease_until: DateTime<Utc>,
    /// When it was taken.
    pub acquired_at: DateTime<Utc>,
}

/// The state of one run, rebuilt from its events.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    agent_id: Option<Uuid>,
    agent_config_version: u32,
    model: Option<ModelConfig>,
    system_prompt: String,
    tool_ids: Vec<Uuid>,
    status: Option<RunStatus>,
    stop_reason: Option<StopReason>,
    max_steps: u32,
    budget_micros: i64,
    spent_micros: i64,
    idempotency_key: Option<String>,
    input_messages: u32,
    conversation: Vec<Message>,
    steps: Vec<Step>,
    output: Option<Message>,
    error: Option<String>,
    cancelled_by: Option<String>,
    lease: Option<Lease>,
    lease_generation: u32,
    lease_expirations: u32,
    created_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Run {
    /// The run's id, or `None` before it is started.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The owning tenant, or `None` before the run is started.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant_id
    }

    /// The agent run.
    pub fn agent_id(&self) -> Option<Uuid> {
        self.agent_id
    }

    /// The agent configuration version the run uses.
    pub fn agent_config_version(&self) -> u32 {
        self.agent_config_version
    }

    /// The model the run calls.
    pub fn model(&self) -> Option<&ModelConfig> {
        self.model.as_ref()
    }

    /// The instructions to send before the conversation on every model call.
    pub fn system_prompt(&self) -> &str {
        &self.system_prompt
    }

    /// The tools the model may call.
    pub fn tool_ids(&self) -> &[Uuid] {
        &self.tool_ids
    }

    /// The lifecycle status, or `None` before the run is started.
    pub fn status(&self) -> Option<RunStatus> {
        self.status
    }

    /// Why the run stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop_reason
    }

    /// Whether the run has stopped for good.
    pub fn is_terminal(&self) -> bool {
        self.status.is_some_and(|status| status.is_terminal())
    }

    /// The most steps the run may take.
    pub fn max_steps(&self) -> u32 {
        self.max_steps
    }

    /// The most the run's model calls may cost, in micro-units.
    pub fn budget_micros(&self) -> i64 {
        self.budget_micros
    }

    /// What the run's model calls have cost so far, in micro-units.
    pub fn spent_micros(&self) -> i64 {
        self.spent_micros
    }

    /// The client's `Idempotency-Key` the run was started with, if any.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// The messages the run started from.
    pub fn input(&self) -> &[Message] {
        let input = usize::try_from(self.input_messages).unwrap_or(usize::MAX);
        &self.conversation[..input.min(self.conversation.len())]
    }

    /// The conversation so far, which the next model call sends after the system prompt:
    /// the input, then each answer of the model and each tool result, in the order recorded.
    pub fn conversation(&self) -> &[Message] {
        &self.conversation
    }

    /// The messages model call `step` was sent, after the system prompt.
    pub fn messages_in(&self, step: u32) -> Option<&[Message]> {
        let sent = self.step(step)?.model_call()?.messages_in;
        self.conversation.get(..usize::try_from(sent).ok()?)
    }

    /// The model's last answer, if it answered at all.
    pub fn last_answer(&self) -> Option<&Message> {
        self.steps
            .iter()
            .rev()
            .find_map(|step| step.model_call()?.output.as_ref())
    }

    /// Every step, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Step number `step`.
    pub fn step(&self, step: u32) -> Option<&Step> {
        self.steps.iter().find(|candidate| candidate.number == step)
    }

    /// The number the next step takes.
    pub fn next_step(&self) -> u32 {
        self.steps
            .last()
            .map_or(1, |step| step.number.saturating_add(1))
    }

    /// The steps without an outcome yet.
    pub fn pending_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|step| step.is_pending())
    }

    /// The tool calls without an outcome yet, awaiting approval or not.
    pub fn pending_tool_calls(&self) -> impl Iterator<Item = (u32, &ToolCallStep)> {
        self.pending_steps()
            .filter_map(|step| Some((step.number, step.tool_call()?)))
    }

    /// The tool calls that wait for a person's approval.
    pub fn pending_approvals(&self) -> impl Iterator<Item = (u32, &ToolCallStep)> {
        self.pending_tool_calls()
            .filter(|(_, call)| call.awaits_approval())
    }

    /// The tool calls the engine should invoke now: pending, approved if they need to be,
    /// and without a recorded invocation.
    pub fn tool_calls_to_invoke(&self) -> impl Iterator<Item = (u32, &ToolCallStep)> {
        self.pending_tool_calls()
            .filter(|(_, call)| !call.awaits_approval() && call.invocation_id.is_none())
    }

    /// Tokens used by every model call so far.
    pub fn usage(&self) -> ModelUsage {
        self.steps
            .iter()
            .filter_map(|step| step.model_call()?.usage)
            .fold(ModelUsage::default(), ModelUsage::plus)
    }

    /// The run's result when it completed: the model's last answer, if any.
    pub fn output(&self) -> Option<&Message> {
        self.output.as_ref()
    }

    /// What went wrong, when the run failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Who cancelled the run, when it was cancelled.
    pub fn cancelled_by(&self) -> Option<&str> {
        self.cancelled_by.as_deref()
    }

    /// The lease in force, if an engine holds one.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// The generation of the latest lease taken: 0 before the first.
    pub fn lease_generation(&self) -> u32 {
        self.lease_generation
    }

    /// How many of the run's leases have expired.
    pub fn lease_expirations(&self) -> u32 {
        self.lease_expirations
    }

    /// When the run was created.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }

    /// When the run stopped.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.finished_at
    }

    /// When the run last changed in any way.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Whether the run has been started.
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }
}

impl Aggregate for Run {
    const TYPE: &'static str = RUN_AGGREGATE_TYPE;
    type Command = RunCommand;
    type Event = RunEvent;
    type Error = RunError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    // Stored events are facts: apply records them whatever the current state, never panics.
    fn apply(&mut self, event: Self::Event) {
        self.record(event);
    }
}

#[cfg(test)]
mod tests;
