//! Rebuilding the `agents` read model from the event store while the old table serves.

use std::time::Instant;

use eventstore::reader::{self, CommitCursor};
use eventstore::{CloudEvent, StoredEvent};
use sqlx::{Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::agents::{AGENTS_PROJECTION, AGENTS_TABLE, apply_event, create_table_sql, ensure_table};
use crate::{ProjectionError, checkpoint};

const PAGE: i64 = 5_000;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebuildReport {
    pub events: u64,
    pub seconds: f64,
}

/// Folds every agent event, in commit order, into a fresh table, then swaps it in under
/// the projection's checkpoint lock after catching up with what arrived meanwhile. In
/// commit order each aggregate's events come one version after the other, so the exact
/// next-version rule holds throughout the fold. The live projector then continues on the
/// new table; events it sees again are skipped as duplicates (the row already has them).
pub async fn rebuild_agents(pool: &PgPool) -> Result<RebuildReport, ProjectionError> {
    rebuild_agents_observed(pool, |_| {}).await
}

/// [`rebuild_agents`], telling `progress` how many events each page folded.
pub async fn rebuild_agents_observed(
    pool: &PgPool,
    mut progress: impl FnMut(u64) + Send,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    checkpoint::ensure(pool, AGENTS_PROJECTION).await?;
    ensure_table(pool).await?;
    let suffix = Uuid::now_v7().simple().to_string();
    let shadow = format!("agents_rebuild_{suffix}");
    pool.execute(create_table_sql(&shadow).as_str()).await?;

    let mut cursor = CommitCursor::default();
    let mut events = 0;
    loop {
        let mut tx = pool.begin().await?;
        let (applied, next) = fold_page(&mut tx, &shadow, cursor).await?;
        tx.commit().await?;
        events += applied;
        progress(applied);
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }

    let mut tx = pool.begin().await?;
    checkpoint::lock(&mut tx, AGENTS_PROJECTION).await?;
    while let (applied, Some(next)) = fold_page(&mut tx, &shadow, cursor).await? {
        events += applied;
        progress(applied);
        cursor = next;
    }
    let retired = format!("agents_retired_{suffix}");
    let swap = format!(
        "ALTER TABLE {AGENTS_TABLE} RENAME TO {retired};
         ALTER TABLE {shadow} RENAME TO {AGENTS_TABLE};
         DROP TABLE {retired};"
    );
    tx.execute(swap.as_str()).await?;
    tx.commit().await?;
    Ok(RebuildReport {
        events,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Applies one page after `cursor`; returns the count and the next cursor (None at the end).
async fn fold_page(
    conn: &mut PgConnection,
    table: &str,
    cursor: CommitCursor,
) -> Result<(u64, Option<CommitCursor>), ProjectionError> {
    let page: Vec<StoredEvent> = reader::read_after(&mut *conn, cursor, PAGE).await?;
    let Some(last) = page.last() else {
        return Ok((0, None));
    };
    let next = CommitCursor::after(last);
    for stored in &page {
        apply_event(conn, table, &CloudEvent::from_stored(stored)?).await?;
    }
    Ok((page.len() as u64, Some(next)))
}
