//! The crate's error type.

/// A webhook store operation or a delivery run failed (not a delivery attempt: an
/// endpoint's failure is recorded in the delivery log, not returned).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store: {0}")]
    Store(#[from] eventstore::StoreError),
    #[error("projection: {0}")]
    Projection(#[from] projections::ProjectionError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}
