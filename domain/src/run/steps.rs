//! The steps of a run as the state keeps them: what each one did and how it ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Message, ModelUsage, StepKind, StepStatus};

/// One step of a run, numbered from 1 in the order the steps began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    /// The step number: 1 for the first step, then one more per step.
    pub number: u32,
    /// Where the step is.
    pub status: StepStatus,
    /// When the step began (a tool call: when the model asked for it).
    pub started_at: DateTime<Utc>,
    /// When the step succeeded or failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// What the step is and what it did.
    pub details: StepDetails,
}

impl Step {
    /// What the step does.
    pub fn kind(&self) -> StepKind {
        match self.details {
            StepDetails::ModelCall(_) => StepKind::ModelCall,
            StepDetails::ToolCall(_) => StepKind::ToolCall,
            StepDetails::MemoryWrite(_) => StepKind::MemoryWrite,
        }
    }

    /// Whether the step has no outcome yet.
    pub fn is_pending(&self) -> bool {
        self.status == StepStatus::Pending
    }

    /// The details of a model call step.
    pub fn model_call(&self) -> Option<&ModelCallStep> {
        match &self.details {
            StepDetails::ModelCall(call) => Some(call),
            _ => None,
        }
    }

    /// The details of a tool call step.
    pub fn tool_call(&self) -> Option<&ToolCallStep> {
        match &self.details {
            StepDetails::ToolCall(call) => Some(call),
            _ => None,
        }
    }

    /// The details of a memory write step.
    pub fn memory_write(&self) -> Option<&MemoryWriteStep> {
        match &self.details {
            StepDetails::MemoryWrite(write) => Some(write),
            _ => None,
        }
    }
}

/// What a step is and what it did, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepDetails {
    /// A call of the language model.
    ModelCall(ModelCallStep),
    /// A tool call the model asked for.
    ToolCall(ToolCallStep),
    /// A memory the run wrote.
    MemoryWrite(MemoryWriteStep),
}

/// One call of the language model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelCallStep {
    /// How many messages of the run's conversation were sent, after the system prompt: the
    /// input is the conversation's first `messages_in` messages.
    pub messages_in: u32,
    /// The most the call was expected to cost, in micro-units, checked against the budget.
    pub estimated_cost_micros: i64,
    /// The model's answer, once it completed.
    pub output: Option<Message>,
    /// Tokens used, once it completed.
    pub usage: Option<ModelUsage>,
    /// How long the call took, in milliseconds, once it completed.
    pub latency_ms: Option<u64>,
    /// What the call cost, in micro-units; 0 until it completed.
    pub cost_micros: i64,
    /// What went wrong, if it failed.
    pub error: Option<String>,
}

/// One tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallStep {
    /// The model call step whose answer asked for this call.
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
    /// The approver's decision, once made.
    pub approval: Option<ToolCallApproval>,
    /// The tool invocation carrying the call out, once recorded.
    pub invocation_id: Option<Uuid>,
    /// What the tool returned, if the call succeeded.
    pub output: Option<Value>,
    /// What went wrong, if the call failed.
    pub error: Option<String>,
}

impl ToolCallStep {
    /// Whether the call waits for a person's decision.
    pub fn awaits_approval(&self) -> bool {
        self.requires_approval && self.approval.is_none()
    }
}

/// A person's decision on a tool call that needed approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallApproval {
    /// Whether the call was approved (`false`: rejected).
    pub approved: bool,
    /// Who decided.
    pub approver: String,
    /// Why, if the approver said.
    pub reason: Option<String>,
    /// When the decision was recorded.
    pub decided_at: DateTime<Utc>,
}

/// One memory the run wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoryWriteStep {
    /// The memory written.
    pub memory_id: Uuid,
    /// The tool call that wrote it, if one did.
    pub tool_call_id: Option<String>,
}
