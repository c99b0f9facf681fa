//! The crate's error type.

use domain::tool_invocation::ToolInvocationError;
use eventstore::{CommandError, StoreError};

/// The executor could not do its part; the message is redelivered and tried again.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("command: {0}")]
    Command(#[from] CommandError<ToolInvocationError>),
    #[error("nats: {0}")]
    Nats(String),
}

impl ExecutorError {
    /// Wraps any NATS client error.
    pub fn nats(err: impl std::fmt::Display) -> Self {
        Self::Nats(err.to_string())
    }
}
