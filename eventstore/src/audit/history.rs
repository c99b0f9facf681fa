//! Reading the event history back in global commit order, filtered, a page at a time,
//! with a cursor that resumes exactly after the last event read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::envelope::CloudEvent;
use crate::reader::CommitCursor;
use crate::{StoreError, StoredEvent};

/// Which events to read. Every field narrows; none means every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub tenant_id: Option<Uuid>,
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    pub event_type: Option<String>,
    pub correlation_id: Option<String>,
    /// Events that occurred at or after this time.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Events that occurred before this time.
    pub occurred_until: Option<DateTime<Utc>>,
}

/// An opaque place in the commit order: after the event it was taken from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditCursor(pub CommitCursor);

const CURSOR_VERSION: &str = "a1";

impl AuditCursor {
    /// The cursor as clients see it (URL-safe base64).
    pub fn encode(&self) -> String {
        let CommitCursor {
            transaction_id,
            position,
        } = self.0;
        URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}:{transaction_id}:{position}"))
    }

    /// A cursor this module encoded, or `None`.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let mut parts = text.split(':');
        if parts.next()? != CURSOR_VERSION {
            return None;
        }
        let transaction_id = parts.next()?.parse::<i64>().ok().filter(|n| *n >= 0)?;
        let position = parts.next()?.parse::<i64>().ok().filter(|n| *n >= 0)?;
        parts.next().is_none().then_some(Self(CommitCursor {
            transaction_id,
            position,
        }))
    }
}

/// One event of the history: its CloudEvent, its link in the audit chain once the relay
/// has chained it, and the cursor that resumes after it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    #[serde(flatten)]
    pub event: CloudEvent,
    /// Place in the global commit order (the audit chain's index).
    pub chainindex: Option<i64>,
    /// The chain hash up to and including this event, hex.
    pub chainhash: Option<String>,
    /// Pass as `cursor` to read on after this event.
    pub cursor: String,
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    #[sqlx(flatten)]
    event: StoredEvent,
    chain_index: Option<i64>,
    hash: Option<Vec<u8>>,
}

/// Up to `limit` events matching `filter` after `after`, in commit order. Like the relay,
/// it reads only below the snapshot's xmin, so a later page never finds an event that
/// sorts before an earlier one.
pub async fn read_page(
    pool: &PgPool,
    filter: &AuditFilter,
    after: AuditCursor,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT e.transaction_id::text::int8 AS transaction_id, e.position, e.event_id,
                e.tenant_id, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type,
                e.event_version, e.payload::text AS payload, e.metadata::text AS metadata,
                e.occurred_at, c.chain_index, c.hash
           FROM events e LEFT JOIN audit_chain c ON c.event_id = e.event_id
          WHERE ",
    );
    push_conditions(&mut query, filter, after);
    query.push(" AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())");
    query
        .push(" ORDER BY e.transaction_id, e.position LIMIT ")
        .push_bind(limit);
    let rows: Vec<HistoryRow> = query.build_query_as().fetch_all(pool).await?;
    rows.into_iter()
        .map(|row| {
            Ok(AuditRecord {
                cursor: AuditCursor(CommitCursor::after(&row.event)).encode(),
                event: CloudEvent::from_stored(&row.event)?,
                chainindex: row.chain_index,
                chainhash: row.hash.map(hex::encode),
            })
        })
        .collect()
}

/// How many committed events match `filter` after `after` (for progress and ETA).
pub async fn count(
    pool: &PgPool,
    filter: &AuditFilter,
    after: AuditCursor,
) -> Result<u64, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new("SELECT count(*) FROM events e WHERE ");
    push_conditions(&mut query, filter, after);
    let count: i64 = query.build_query_scalar().fetch_one(pool).await?;
    Ok(u64::try_from(count).unwrap_or_default())
}

/// `<after the cursor> AND <each filter>` on `events e`.
fn push_conditions(
    query: &mut QueryBuilder<'_, Postgres>,
    filter: &AuditFilter,
    after: AuditCursor,
) {
    query
        .push("(e.transaction_id, e.position) > (")
        .push_bind(after.0.transaction_id.to_string())
        .push("::xid8, ")
        .push_bind(after.0.position)
        .push(")");
    if let Some(tenant_id) = filter.tenant_id {
        query.push(" AND e.tenant_id = ").push_bind(tenant_id);
    }
    let text_filters = [
        ("e.aggregate_type", &filter.aggregate_type),
        ("e.aggregate_id", &filter.aggregate_id),
        ("e.event_type", &filter.event_type),
        ("e.metadata ->> 'correlation_id'", &filter.correlation_id),
    ];
    for (column, value) in text_filters {
        if let Some(value) = value {
            query
                .push(format!(" AND {column} = "))
                .push_bind(value.clone());
        }
    }
    if let Some(from) = filter.occurred_from {
        query.push(" AND e.occurred_at >= ").push_bind(from);
    }
    if let Some(until) = filter.occurred_until {
        query.push(" AND e.occurred_at < ").push_bind(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_anything_else_is_refused() {
        let cursor = AuditCursor(CommitCursor {
            transaction_id: 812,
            position: 44,
        });
        assert_eq!(AuditCursor::decode(&cursor.encode()), Some(cursor));
        for bad in [
            "",
            "garbage!",
            "AAAA",
            &URL_SAFE_NO_PAD.encode("a1:1"),
            &URL_SAFE_NO_PAD.encode("a1:1:2:3"),
            &URL_SAFE_NO_PAD.encode("a1:-1:2"),
            &URL_SAFE_NO_PAD.encode("b1:1:2"),
            &URL_SAFE_NO_PAD.encode("a1:x:2"),
        ] {
            assert_eq!(AuditCursor::decode(bad), None, "{bad}");
        }
    }
}
