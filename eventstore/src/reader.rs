//! Reads the event store in global commit order.
//!
//! Rows are taken only below the current snapshot's xmin: every transaction with a lower
//! id has ended, so no row can later appear before the cursor. Ordering by
//! `(transaction_id, position)` keeps that order stable.
//!
//! The ORDER BY names the table's columns: a bare `transaction_id` there would be the
//! selected `transaction_id::text::int8`, which no index provides, and every page would
//! then sort the whole table (7 s a page at 1M events, where the index takes 3 ms).

use sqlx::{PgExecutor, PgPool};

use crate::{StoreError, StoredEvent};

const READ_AFTER: &str = "
SELECT transaction_id::text::int8 AS transaction_id, position, event_id, tenant_id,
       aggregate_type, aggregate_id, sequence, event_type, event_version,
       payload::text AS payload, metadata::text AS metadata, occurred_at
  FROM events
 WHERE (transaction_id, position) > ($1::text::xid8, $2)
   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY events.transaction_id, events.position
 LIMIT $3";

/// A place in the commit order: after `(transaction_id, position)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommitCursor {
    pub transaction_id: i64,
    pub position: i64,
}

impl CommitCursor {
    /// The cursor just after `event`.
    pub fn after(event: &StoredEvent) -> Self {
        Self {
            transaction_id: event.transaction_id,
            position: event.position,
        }
    }
}

/// Pages through committed events in commit order.
#[derive(Debug, Clone)]
pub struct CommitOrderedReader {
    pool: PgPool,
}

impl CommitOrderedReader {
    /// A reader on `pool`'s event store.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Up to `limit` events after `cursor`, in commit order.
    pub async fn read_after(
        &self,
        cursor: CommitCursor,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_after(&self.pool, cursor, limit).await
    }
}

/// Up to `limit` events after `cursor`, on any connection.
pub async fn read_after<'e>(
    executor: impl PgExecutor<'e>,
    cursor: CommitCursor,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(sqlx::query_as(READ_AFTER)
        .bind(cursor.transaction_id.to_string())
        .bind(cursor.position)
        .bind(limit)
        .fetch_all(executor)
        .await?)
}
