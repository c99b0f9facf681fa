//! Loading an aggregate: its latest snapshot, if any, plus the events after it, each
//! upcast to its current version before it is applied.
//!
//! Snapshots are a cache of the folded state, written every [`SNAPSHOT_EVERY`] events;
//! the events stay the truth. A snapshot that no longer deserializes (the aggregate's
//! state changed shape) is ignored and the aggregate is folded from its first event, and
//! deleting every snapshot is always safe. cqrs-es 0.5's own snapshot mode applies events
//! twice, which is why this lives here.

use std::sync::Arc;

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

#[derive(sqlx::FromRow)]
struct EventRow {
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    /// Read for upcasters, which may take facts from it (such as the actor).
    metadata: String,
}

impl AggregateLoader {
    /// A loader over `pool`'s store that upcasts with `upcasters`.
    pub fn new(pool: PgPool, upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        Self {
            pool,
            upcasters: Arc::new(upcasters),
        }
    }

    /// The aggregate's state and version (the sequence of its last event; 0 when new).
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id), err)]
    pub async fn load<A: Aggregate>(&self, aggregate_id: &str) -> Result<(A, u64), StoreError> {
        let (mut aggregate, mut version) =
            self.snapshot::<A>(aggregate_id).await?.unwrap_or_default();
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT sequence, event_type, event_version, payload::text AS payload,
                    metadata::text AS metadata
               FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
              ORDER BY sequence",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(i64::try_from(version).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let sequence = u64::try_from(row.sequence).unwrap_or_default();
            aggregate.apply(self.decode::<A>(aggregate_id, row)?);
            version = sequence;
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

    async fn snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<(A, u64)>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT last_sequence, payload::text FROM snapshots
              WHERE aggregate_type = $1 AND aggregate_id = $2
              ORDER BY last_sequence DESC LIMIT 1",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((sequence, payload)) = row else {
            return Ok(None);
        };
        match serde_json::from_str::<A>(&payload) {
            Ok(aggregate) => Ok(Some((
                aggregate,
                u64::try_from(sequence).unwrap_or_default(),
            ))),
            Err(err) => {
                tracing::warn!(%err, aggregate_type = A::TYPE, aggregate_id, "snapshot ignored: it no longer matches the aggregate's state");
                Ok(None)
            }
        }
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
