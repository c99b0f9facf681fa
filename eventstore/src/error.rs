//! The crate's one error type for infrastructure failures.

/// A failure of the store or the services around it (never a rejected command).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("nats: {0}")]
    Nats(String),
    #[error("persistence: {0}")]
    Persistence(String),
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    /// Wraps any NATS client error, whose types differ per operation.
    pub fn nats(err: impl std::fmt::Display) -> Self {
        Self::Nats(err.to_string())
    }
}
