//! Where a run and each of its steps are, and why a run stopped.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a run is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for an engine to take its lease.
    Queued,
    /// An engine is working on it.
    Running,
    /// Waiting for a person to approve or reject one or more tool calls.
    RequiresAction,
    /// Stopped by a rule: the model ended its turn, or a step, budget or quota limit.
    Completed,
    /// Stopped by an error.
    Failed,
    /// Stopped on request, or because its agent was paused or archived.
    Cancelled,
    /// Stopped because it ran out of time.
    TimedOut,
}

impl RunStatus {
    /// The status as it appears in JSON, such as `requires_action`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::RequiresAction => "requires_action",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
        }
    }

    /// Whether the run has stopped for good and accepts no more commands.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rule stopped a run; set once the run is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model answered without calling a tool.
    EndTurn,
    /// The next step would have gone past the run's step limit.
    MaxSteps,
    /// The next model call could have gone past the run's budget.
    BudgetExhausted,
    /// The tenant's quota was crossed.
    QuotaExceeded,
    /// Someone cancelled the run, or its agent was paused or archived.
    Cancelled,
    /// An error stopped the run, or it ran out of time.
    Error,
}

impl StopReason {
    /// The reason as it appears in JSON, such as `budget_exhausted`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::EndTurn => "end_turn",
            Self::MaxSteps => "max_steps",
            Self::BudgetExhausted => "budget_exhausted",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a step of a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// One call of the language model.
    ModelCall,
    /// One tool call the model asked for.
    ToolCall,
    /// One memory the run wrote.
    MemoryWrite,
}

impl StepKind {
    /// The kind as it appears in JSON, such as `model_call`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ModelCall => "model_call",
            Self::ToolCall => "tool_call",
            Self::MemoryWrite => "memory_write",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one step of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Started or requested, with no outcome yet.
    Pending,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error, or (a tool call) rejected by its approver.
    Failed,
}

impl StepStatus {
    /// The status as it appears in JSON: `pending`, `succeeded` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
