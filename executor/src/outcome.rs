//! What carrying out a call came to, and the command that records it.

use chrono::{DateTime, Utc};
use domain::tool_invocation::{ToolInvocationCommand, failure_message};
use serde_json::Value;
use uuid::Uuid;

/// The result of carrying out one call, whatever the tool's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The tool answered with an output.
    Succeeded {
        /// What it returned.
        output: Value,
        /// How long the answering attempt took, in milliseconds.
        duration_ms: u64,
    },
    /// The tool (or the way to it) failed for good.
    Failed {
        /// What went wrong, in words fit for the invocation's `error`.
        error: String,
        /// How long the last attempt took, in milliseconds, if one was made.
        duration_ms: Option<u64>,
    },
    /// Every attempt ran out of time.
    TimedOut {
        /// The per-attempt limit that was exceeded, in milliseconds.
        timeout_ms: u64,
    },
}

impl CallOutcome {
    /// A failure with `error` made acceptable to the domain (length, control characters).
    pub fn failed(error: impl AsRef<str>, duration_ms: Option<u64>) -> Self {
        Self::Failed {
            error: failure_message(error.as_ref()),
            duration_ms,
        }
    }

    /// The command that records this outcome on invocation of `tenant_id` at `now`.
    pub fn into_command(self, tenant_id: Uuid, now: DateTime<Utc>) -> ToolInvocationCommand {
        match self {
            Self::Succeeded {
                output,
                duration_ms,
            } => ToolInvocationCommand::CompleteInvocation {
                tenant_id,
                output,
                duration_ms,
                now,
            },
            Self::Failed { error, duration_ms } => ToolInvocationCommand::FailInvocation {
                tenant_id,
                error: failure_message(&error),
                duration_ms,
                now,
            },
            Self::TimedOut { timeout_ms } => ToolInvocationCommand::TimeOutInvocation {
                tenant_id,
                timeout_ms,
                now,
            },
        }
    }

    /// A short name for logs and metrics: `succeeded`, `failed` or `timed_out`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Succeeded { .. } => "succeeded",
            Self::Failed { .. } => "failed",
            Self::TimedOut { .. } => "timed_out",
        }
    }
}
