//! The crate's error type.

/// Advancing a run failed for a reason outside the run: the store, NATS, the database.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("store: {0}")]
    Store(#[from] eventstore::StoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("read model: {0}")]
    Projection(#[from] projections::ProjectionError),
    #[error("nats: {0}")]
    Nats(String),
    #[error("quota check: {0}")]
    Quota(String),
    #[error("{0}")]
    Invalid(String),
}

impl EngineError {
    /// Wraps any NATS client error.
    pub fn nats(err: impl std::fmt::Display) -> Self {
        Self::Nats(err.to_string())
    }
}
