//! The crate's error type.

/// A projector or read-model query failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("store: {0}")]
    Store(#[from] eventstore::StoreError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("nats: {0}")]
    Nats(String),
}

impl ProjectionError {
    /// Wraps any NATS client error.
    pub fn nats(err: impl std::fmt::Display) -> Self {
        Self::Nats(err.to_string())
    }
}
