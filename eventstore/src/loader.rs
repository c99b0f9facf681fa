//! Loading an aggregate: its latest snapshot, if any, plus the events after it, each
//! upcast to its current version before it is applied — up to now, or up to a past
//! version or time (the audit's point-in-time state folds with this same code).
//!
//! Snapshots are a cache of the folded state, written every [`SNAPSHOT_EVERY`] events;
//! the events stay the truth. A snapshot that no longer deserializes (the aggregate's
//! state changed shape) is ignored and the aggregate is folded from its first event, and
//! deleting every snapshot is always safe. cqrs-es 0.5's own snapshot mode applies events
//! twice, which is why this lives here.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::Value;
use sqlx::PgPool;

use crate::StoreError;

/// A snapshot is written when a command takes an aggregate past a multiple of this.
pub const SNAPSHOT_EVERY: u64 = 100;

/// Reads aggregates from the store.
#[derive(Clone)]
pub struct AggregateLoader {
    pool: PgPool,
    upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
}

/// How far to fold an aggregate's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Every event.
    Latest,
    /// Events up to this sequence.
    Version(u64),
    /// Events in sequence order until the first that occurred after this time.
    Time(DateTime<Utc>),
}

#[derive(sqlx::FromRow)]
struct EventRow {
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    /// Read for upcasters, which may take facts from it (such as the actor).
    metadata: String,
}

/// A row of [`LOAD`]: the snapshot first (if any), then the events after it.
#[derive(sqlx::FromRow)]
struct LoadRow {
    is_snapshot: bool,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
}

/// The latest snapshot at or below sequence `$3` and the events after it up to `$3`, in
/// one round trip.
const LOAD: &str = "
WITH snapshot AS (
    SELECT last_sequence, payload FROM snapshots
     WHERE aggregate_type = $1 AND aggregate_id = $2 AND last_sequence <= $3
     ORDER BY last_sequence DESC LIMIT 1)
SELECT true AS is_snapshot, last_sequence AS sequence, '' AS event_type, '' AS event_version,
       payload::text AS payload, '' AS metadata
  FROM snapshot
UNION ALL
SELECT false, sequence, event_type, event_version, payload::text, metadata::text
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2
   AND sequence > COALESCE((SELECT last_sequence FROM snapshot), 0) AND sequence <= $3
 ORDER BY is_snapshot DESC, sequence";

const EVENTS_AFTER: &str = "
SELECT sequence, event_type, event_version, payload::text AS payload,
       metadata::text AS metadata
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 AND sequence <= $4
 ORDER BY sequence";

impl AggregateLoader {
    /// A loader over `pool`'s store that upcasts with `upcasters`.
    pub fn new(pool: PgPool, upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        Self {
            pool,
            upcasters: Arc::new(upcasters),
        }
    }

    /// The aggregate's state and version (the sequence of its last event; 0 when new).
    pub async fn load<A: Aggregate>(&self, aggregate_id: &str) -> Result<(A, u64), StoreError> {
        self.load_as_of(aggregate_id, AsOf::Latest).await
    }

    /// The aggregate's state and version as they were at `as_of` (version 0: it did not
    /// exist yet). A snapshot is used only if it is not past that point.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id), err)]
    pub async fn load_as_of<A: Aggregate>(
        &self,
        aggregate_id: &str,
        as_of: AsOf,
    ) -> Result<(A, u64), StoreError> {
        let upto = match as_of {
            AsOf::Latest => i64::MAX,
            AsOf::Version(version) => i64::try_from(version).unwrap_or(i64::MAX),
            AsOf::Time(time) => self.version_at(A::TYPE, aggregate_id, time).await?,
        };
        let rows: Vec<LoadRow> = sqlx::query_as(LOAD)
            .bind(A::TYPE)
            .bind(aggregate_id)
            .bind(upto)
            .fetch_all(&self.pool)
            .await?;
        let mut rows = rows.into_iter().peekable();
        let (mut aggregate, mut version) = match rows.next_if(|row| row.is_snapshot) {
            None => (A::default(), 0),
            Some(snapshot) => match serde_json::from_str::<A>(&snapshot.payload) {
                Ok(aggregate) => (
                    aggregate,
                    u64::try_from(snapshot.sequence).unwrap_or_default(),
                ),
                Err(err) => {
                    tracing::warn!(%err, aggregate_type = A::TYPE, aggregate_id, "snapshot ignored: it no longer matches the aggregate's state");
                    return self.fold_from_start(aggregate_id, upto).await;
                }
            },
        };
        for row in rows {
            let event = EventRow {
                sequence: row.sequence,
                event_type: row.event_type,
                event_version: row.event_version,
                payload: row.payload,
                metadata: row.metadata,
            };
            version = u64::try_from(event.sequence).unwrap_or_default();
            aggregate.apply(self.decode::<A>(aggregate_id, event)?);
        }
        Ok((aggregate, version))
    }

    /// The aggregate folded from its first event up to sequence `upto`, ignoring any
    /// snapshot.
    async fn fold_from_start<A: Aggregate>(
        &self,
        aggregate_id: &str,
        upto: i64,
    ) -> Result<(A, u64), StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(EVENTS_AFTER)
            .bind(A::TYPE)
            .bind(aggregate_id)
            .bind(0_i64)
            .bind(upto)
            .fetch_all(&self.pool)
            .await?;
        let (mut aggregate, mut version) = (A::default(), 0);
        for row in rows {
            version = u64::try_from(row.sequence).unwrap_or_default();
            aggregate.apply(self.decode::<A>(aggregate_id, row)?);
        }
        Ok((aggregate, version))
    }

    /// One stored event as the aggregate's current event type.
    fn decode<A: Aggregate>(
        &self,
        aggregate_id: &str,
        row: EventRow,
    ) -> Result<A::Event, StoreError> {
        let upcasters: Vec<&dyn EventUpcaster> = self
            .upcasters
            .iter()
            .map(AsRef::as_ref)
            .filter(|u| u.can_upcast(&row.event_type, &row.event_version))
            .collect();
        if upcasters.is_empty() {
            // The common case decodes straight from the text, never through a `Value`.
            return Ok(serde_json::from_str(&row.payload)?);
        }
        let event = SerializedEvent::new(
            aggregate_id.to_owned(),
            usize::try_from(row.sequence).unwrap_or_default(),
            A::TYPE.to_owned(),
            row.event_type,
            row.event_version,
            serde_json::from_str(&row.payload)?,
            serde_json::from_str(&row.metadata).unwrap_or(Value::Null),
        );
        Ok(serde_json::from_value(
            upcast(&self.upcasters, event).payload,
        )?)
    }

    /// The last sequence of the aggregate's longest prefix of events that occurred at or
    /// before `time`.
    async fn version_at(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        time: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MIN(sequence) FILTER (WHERE occurred_at > $3) - 1, MAX(sequence), 0)
               FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(time)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Stores `aggregate` at `version` as the aggregate's snapshot, replacing older ones.
    pub async fn save_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
        aggregate: &A,
        version: u64,
    ) -> Result<(), StoreError> {
        let payload = serde_json::to_string(aggregate)?;
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        sqlx::query(
            "WITH stale AS (
                 DELETE FROM snapshots
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND last_sequence < $3)
             INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
             VALUES ($1, $2, $3, $3, $4::jsonb)
             ON CONFLICT DO NOTHING",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(version)
        .bind(payload)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// `event` taken to its current version by whichever of `upcasters` claim it, in order:
/// each takes it one version further, so each is asked again after the one before.
pub fn upcast(upcasters: &[Box<dyn EventUpcaster>], mut event: SerializedEvent) -> SerializedEvent {
    for upcaster in upcasters {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            event = upcaster.upcast(event);
        }
    }
    event
}

/// Whether a command that took an aggregate from `before` to `after` should snapshot it.
pub fn snapshot_due(before: u64, after: u64) -> bool {
    after / SNAPSHOT_EVERY > before / SNAPSHOT_EVERY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_due_each_time_a_multiple_is_passed() {
        assert!(!snapshot_due(0, 99));
        assert!(snapshot_due(99, 100));
        assert!(snapshot_due(98, 103));
        assert!(!snapshot_due(100, 199));
        assert!(snapshot_due(150, 250));
    }
}
