//! The `run_leases` table: the end of each lease as its engine extends it. Rows are written
//! and deleted beside the lease events (see `eventstore::Alongside::PutRunLease`); here are
//! the heartbeat, the reaper's claim on leases that ran out, and clean-ups.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::EngineError;

/// A lease that ran out, as the reaper claimed it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ExpiredLease {
    pub run_id: Uuid,
    pub tenant_id: Uuid,
    pub lease_generation: i32,
    pub lease_until: DateTime<Utc>,
}

/// When a lease taken or extended at `now` runs out.
pub fn lease_end(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::seconds(30))
}

/// Extends the lease `engine_id` holds on `run_id` to `lease_until`, unless it is not that
/// engine's lease of that generation any more, or the reaper claimed it: then `false`.
pub async fn extend(
    pool: &PgPool,
    run_id: Uuid,
    lease_generation: u32,
    engine_id: &str,
    lease_until: DateTime<Utc>,
) -> Result<bool, EngineError> {
    let extended = sqlx::query(
        "UPDATE run_leases SET lease_until = $4
          WHERE run_id = $1 AND lease_generation = $2 AND engine_id = $3 AND NOT reaped",
    )
    .bind(run_id)
    .bind(generation(lease_generation))
    .bind(engine_id)
    .bind(lease_until)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(extended > 0)
}

/// Claims up to `limit` leases that ran out before `now`: once claimed, no heartbeat can
/// extend them. A claimed row stays until its expiry is recorded, so a reaper that dies
/// half-way leaves it to the next pass.
pub async fn claim_expired(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ExpiredLease>, EngineError> {
    Ok(sqlx::query_as(
        "UPDATE run_leases SET reaped = true
          WHERE run_id IN (SELECT run_id FROM run_leases WHERE lease_until < $1
                            ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING run_id, tenant_id, lease_generation, lease_until",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Deletes the row of lease `lease_generation` of `run_id` (one the run no longer holds).
pub async fn forget(pool: &PgPool, run_id: Uuid, lease_generation: u32) -> Result<(), EngineError> {
    sqlx::query("DELETE FROM run_leases WHERE run_id = $1 AND lease_generation = $2")
        .bind(run_id)
        .bind(generation(lease_generation))
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes whatever lease row `run_id` has: the run has stopped.
pub async fn forget_run(pool: &PgPool, run_id: Uuid) -> Result<(), EngineError> {
    sqlx::query("DELETE FROM run_leases WHERE run_id = $1")
        .bind(run_id)
        .execute(pool)
        .await?;
    Ok(())
}

fn generation(lease_generation: u32) -> i32 {
    i32::try_from(lease_generation).unwrap_or(i32::MAX)
}
