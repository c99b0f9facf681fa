//! Rebuilding the `agents` read model from the event store while the old table serves.

pub mod copy_text;
mod fold;

use std::time::Instant;

use domain::agent::AGENT_AGGREGATE_TYPE;
use eventstore::reader::{self, CommitCursor};
use eventstore::{CloudEvent, StoredEvent};
use futures::TryStreamExt;
use sqlx::{Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::agents::{AGENTS_PROJECTION, AGENTS_TABLE, apply_event, create_table_sql, ensure_table};
use crate::{ProjectionError, checkpoint};
use copy_text::unescape;
use fold::{AGENT_COLUMNS, FoldedAgent};

const PAGE: i64 = 5_000;
/// Rows written to the shadow table per COPY, each its own short transaction: a write
/// transaction held open for the whole fold would hold back every commit-ordered reader
/// on the server (the snapshot's xmin is cluster-wide) for as long as the fold takes.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebuildReport {
    pub events: u64,
    pub seconds: f64,
}

/// Folds every agent event into a fresh table, then swaps it in under the projection's
/// checkpoint lock after catching up with what arrived meanwhile.
///
/// The bulk of the store is read with one COPY, agent by agent in sequence order, folded
/// in memory one agent at a time and written with COPYs of a chunk of rows each (short
/// write transactions; the read-only reader takes no transaction id and holds no relay
/// back): everything committed below
/// the snapshot's xmin (every transaction below it has ended, so nothing can still join
/// that part). What committed from there on is applied event by event in commit order,
/// as the live projector does; there, each aggregate's events also come one version after
/// the other, so the exact next-version rule holds throughout. The live projector then
/// continues on the new table; events it sees again are skipped as duplicates.
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

    let (mut events, mut cursor) = fold_settled(pool, &shadow).await?;
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

/// Folds every agent event of the transactions below the snapshot's xmin into `table`;
/// returns how many events that was and the commit-order cursor just before the rest.
async fn fold_settled(pool: &PgPool, table: &str) -> Result<(u64, CommitCursor), ProjectionError> {
    let mut reader = pool.begin().await?;
    reader
        .execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    // Every transaction below `cut` has ended and this snapshot sees all that committed.
    let cut: i64 = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8")
        .fetch_one(&mut *reader)
        .await?;
    let select = format!(
        "COPY (SELECT aggregate_id, sequence, event_type, payload::text FROM events
                WHERE aggregate_type = '{AGENT_AGGREGATE_TYPE}' AND transaction_id < '{cut}'::xid8
                ORDER BY aggregate_id, sequence) TO STDOUT"
    );
    let copy_in = format!("COPY {table} ({AGENT_COLUMNS}) FROM STDIN");
    let mut writer = pool.acquire().await?;
    let mut copy_out = reader.copy_out_raw(&select).await?;
    let mut folder = Folder::default();
    let mut pending = Vec::new();
    let mut rows = String::with_capacity(COPY_CHUNK_BYTES + (64 << 10));
    while let Some(chunk) = copy_out.try_next().await? {
        pending.extend_from_slice(&chunk);
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        let complete = std::str::from_utf8(&pending[..end]).map_err(|err| {
            ProjectionError::Store(eventstore::StoreError::Invalid(err.to_string()))
        })?;
        for line in complete.split('\n') {
            folder.line(line, &mut rows)?;
        }
        pending.drain(..=end);
        if rows.len() >= COPY_CHUNK_BYTES {
            copy_rows(&mut writer, &copy_in, &rows).await?;
            rows.clear();
        }
    }
    drop(copy_out);
    folder.finish(&mut rows)?;
    copy_rows(&mut writer, &copy_in, &rows).await?;
    reader.commit().await?;
    // Everything below the cut is in; the commit-order catch-up starts at the cut.
    let cursor = CommitCursor {
        transaction_id: cut - 1,
        position: i64::MAX,
    };
    Ok((folder.events, cursor))
}

/// One COPY of text-format `rows`, committed on its own.
async fn copy_rows(
    conn: &mut PgConnection,
    statement: &str,
    rows: &str,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Turns COPY lines of one agent after another into rows.
#[derive(Debug, Default)]
struct Folder {
    current: Option<FoldedAgent>,
    current_id: String,
    events: u64,
}

impl Folder {
    /// One `aggregate_id, sequence, event_type, payload` line.
    fn line(&mut self, line: &str, rows: &mut String) -> Result<(), ProjectionError> {
        let mut columns = line.splitn(4, '\t');
        let (Some(id), Some(sequence), Some(event_type), Some(payload)) = (
            columns.next(),
            columns.next(),
            columns.next(),
            columns.next(),
        ) else {
            return Err(invalid(format!("malformed COPY line `{line}`")));
        };
        let sequence: i64 = sequence
            .parse()
            .map_err(|_| invalid(format!("sequence `{sequence}`")))?;
        let payload = unescape(payload).into_owned();
        self.events += 1;
        if id != self.current_id {
            if let Some(done) = self.current.take() {
                done.write_copy_line(rows)?;
            }
            self.current_id = id.to_owned();
            let Ok(uuid) = Uuid::parse_str(id) else {
                tracing::warn!(aggregate_id = id, "agent event with a non-UUID id skipped");
                return Ok(());
            };
            self.current = Some(FoldedAgent::created(uuid, sequence, &payload)?);
            return Ok(());
        }
        match self.current.as_mut() {
            Some(agent) => agent.apply(sequence, event_type, payload),
            None => Ok(()),
        }
    }

    fn finish(&mut self, rows: &mut String) -> Result<(), ProjectionError> {
        match self.current.take() {
            Some(done) => done.write_copy_line(rows),
            None => Ok(()),
        }
    }
}

fn invalid(message: String) -> ProjectionError {
    ProjectionError::Store(eventstore::StoreError::Invalid(message))
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
