//! Looking up what a request with an `Idempotency-Key` appended the first time.

use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

/// The stored outcome of the first request that used a key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub version: i64,
    pub status_code: i16,
}

/// The record for `(tenant_id, key)`, if a request with that key has committed.
pub async fn find(
    pool: &PgPool,
    tenant_id: Uuid,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT request_hash, aggregate_type, aggregate_id, version, status_code
           FROM idempotency_keys WHERE tenant_id = $1 AND idempotency_key = $2",
    )
    .bind(tenant_id)
    .bind(key)
    .fetch_optional(pool)
    .await?)
}
