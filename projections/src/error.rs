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
    /// A reactor's command failed for a reason that retrying the batch may cure.
    #[error("command: {0}")]
    Command(String),
    /// An event would skip a version of its aggregate: an earlier event of it has not been
    /// applied. The batch is refused (and retried) rather than applied out of order.
    #[error(
        "version gap on aggregate {aggregate_id}: the event needs the read model at version {expected}, it is at {found}"
    )]
    VersionGap {
        aggregate_id: String,
        /// The version the read model must be at for the event to apply (its sequence - 1).
        expected: u64,
        /// The version it is at (0 when the read model does not have the aggregate).
        found: u64,
    },
    /// The projector's leader lock connection failed, so another instance may lead now.
    #[error("leader lock lost: {0}")]
    LeadershipLost(String),
}

impl ProjectionError {
    /// Wraps any NATS client error.
    pub fn nats(err: impl std::fmt::Display) -> Self {
        Self::Nats(err.to_string())
    }
}
