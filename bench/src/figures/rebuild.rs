//! The `agents` rebuild against a raw ordered COPY of the same events.

use std::time::Instant;

use futures::TryStreamExt;
use sqlx::PgPool;

/// The columns the commit-ordered reader takes, in commit order, through COPY.
const ORDERED_COPY: &str = "
COPY (SELECT transaction_id, position, event_id, tenant_id, aggregate_type, aggregate_id,
             sequence, event_type, event_version, payload::text, metadata::text, occurred_at
        FROM events ORDER BY transaction_id, position) TO STDOUT";

/// Rows per second of the raw ordered read, and how many rows it read.
pub async fn raw_ordered_read(pool: &PgPool) -> anyhow::Result<(f64, u64)> {
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    let mut rows = 0_u64;
    let mut copy = conn.copy_out_raw(ORDERED_COPY).await?;
    while let Some(chunk) = copy.try_next().await? {
        rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    Ok((rows as f64 / started.elapsed().as_secs_f64(), rows))
}

/// Events per second of `agentos projection rebuild agents`.
pub async fn rebuild_agents(pool: &PgPool) -> anyhow::Result<f64> {
    let report = projections::rebuild::rebuild_agents(pool).await?;
    Ok(report.events as f64 / report.seconds)
}
