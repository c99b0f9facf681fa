//! cqrs-es' `PersistedEventRepository` over postgres-es' (extended) schema. Reads are
//! postgres-es' own; the append is ours, so that the envelope columns and the
//! idempotency record are written in the same transaction as the events.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::metadata::keys;

const INSERT_EVENTS: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                    payload, metadata, event_id, tenant_id, occurred_at)
SELECT t.aggregate_type, t.aggregate_id, t.sequence, t.event_type, t.event_version,
       t.payload::jsonb, t.metadata::jsonb, t.event_id, t.tenant_id, t.occurred_at
  FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],
              $7::text[], $8::uuid[], $9::uuid[], $10::timestamptz[])
    AS t(aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
         metadata, event_id, tenant_id, occurred_at)";

const INSERT_IDEMPOTENCY_KEY: &str = "
INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, aggregate_type,
                              aggregate_id, version, status_code)
VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Another request with the same `Idempotency-Key` committed first.
#[derive(Debug, thiserror::Error)]
#[error("the idempotency key was used by a request that committed first")]
pub struct IdempotencyKeyTaken;

/// The event repository every aggregate is stored through.
pub struct EventRepository {
    pool: PgPool,
    reads: PostgresEventRepository,
}

impl EventRepository {
    /// A repository on the `events` and `snapshots` tables of `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            pool,
        }
    }

    /// Appends one command's events (all of one aggregate) in a transaction whose first
    /// write is the events INSERT, so transaction-id order stays close to commit order.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, events = events.len()), err)]
    async fn append<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
    ) -> Result<(), PersistenceError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let facts = CommandFacts::from_metadata(&first.metadata)?;
        let mut columns = EventColumns::with_capacity(events.len());
        for event in events {
            columns.push(event, &facts)?;
        }
        let mut tx = self.pool.begin().await.map_err(connection_error)?;
        sqlx::query(INSERT_EVENTS)
            .bind(&columns.aggregate_type)
            .bind(&columns.aggregate_id)
            .bind(&columns.sequence)
            .bind(&columns.event_type)
            .bind(&columns.event_version)
            .bind(&columns.payload)
            .bind(&columns.metadata)
            .bind(&columns.event_id)
            .bind(&columns.tenant_id)
            .bind(&columns.occurred_at)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        if let Some(claim) = &facts.idempotency {
            let last = events.last().unwrap_or(first);
            sqlx::query(INSERT_IDEMPOTENCY_KEY)
                .bind(facts.tenant_id)
                .bind(&claim.key)
                .bind(&claim.request_hash)
                .bind(A::TYPE)
                .bind(&last.aggregate_id)
                .bind(i64::try_from(last.sequence).unwrap_or(i64::MAX))
                .bind(claim.status_code)
                .execute(&mut *tx)
                .await
                .map_err(write_error)?;
        }
        tx.commit().await.map_err(write_error)?;
        Ok(())
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.reads.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            // cqrs-es 0.5.0's snapshot modes apply events twice; only the event-sourced
            // mode is wired, which never asks for a snapshot.
            return Err(PersistenceError::UnknownError(
                "snapshot stores are not supported".into(),
            ));
        }
        self.append::<A>(events).await
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_all_events::<A>().await
    }
}

/// What the command's metadata says about every event it produced.
struct CommandFacts {
    tenant_id: Uuid,
    occurred_at: DateTime<Utc>,
    idempotency: Option<Claim>,
}

struct Claim {
    key: String,
    request_hash: String,
    status_code: i16,
}

impl CommandFacts {
    fn from_metadata(metadata: &Value) -> Result<Self, PersistenceError> {
        let text = |key: &str| metadata.get(key).and_then(Value::as_str);
        let required =
            |key: &str| text(key).ok_or_else(|| invalid(format!("event metadata lacks `{key}`")));
        let tenant_id = Uuid::parse_str(required(keys::TENANT_ID)?)
            .map_err(|e| invalid(format!("tenant_id: {e}")))?;
        let occurred_at = DateTime::parse_from_rfc3339(required(keys::OCCURRED_AT)?)
            .map_err(|e| invalid(format!("occurred_at: {e}")))?
            .with_timezone(&Utc);
        let idempotency = match (text(keys::IDEMPOTENCY_KEY), text(keys::REQUEST_HASH)) {
            (Some(key), Some(hash)) => Some(Claim {
                key: key.to_owned(),
                request_hash: hash.to_owned(),
                status_code: text(keys::STATUS_CODE)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(200),
            }),
            _ => None,
        };
        Ok(Self {
            tenant_id,
            occurred_at,
            idempotency,
        })
    }
}

/// The INSERT's parameters, one array per column.
struct EventColumns {
    aggregate_type: Vec<String>,
    aggregate_id: Vec<String>,
    sequence: Vec<i64>,
    event_type: Vec<String>,
    event_version: Vec<String>,
    payload: Vec<String>,
    metadata: Vec<String>,
    event_id: Vec<Uuid>,
    tenant_id: Vec<Uuid>,
    occurred_at: Vec<DateTime<Utc>>,
}

impl EventColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            aggregate_type: Vec::with_capacity(n),
            aggregate_id: Vec::with_capacity(n),
            sequence: Vec::with_capacity(n),
            event_type: Vec::with_capacity(n),
            event_version: Vec::with_capacity(n),
            payload: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            event_id: Vec::with_capacity(n),
            tenant_id: Vec::with_capacity(n),
            occurred_at: Vec::with_capacity(n),
        }
    }

    fn push(
        &mut self,
        event: &SerializedEvent,
        facts: &CommandFacts,
    ) -> Result<(), PersistenceError> {
        self.aggregate_type.push(event.aggregate_type.clone());
        self.aggregate_id.push(event.aggregate_id.clone());
        self.sequence
            .push(i64::try_from(event.sequence).map_err(|e| invalid(e.to_string()))?);
        self.event_type.push(event.event_type.clone());
        self.event_version.push(event.event_version.clone());
        self.payload.push(serde_json::to_string(&event.payload)?);
        self.metadata.push(serde_json::to_string(&event.metadata)?);
        self.event_id.push(Uuid::now_v7());
        self.tenant_id.push(facts.tenant_id);
        self.occurred_at.push(facts.occurred_at);
        Ok(())
    }
}

fn invalid(message: String) -> PersistenceError {
    PersistenceError::UnknownError(message.into())
}

fn connection_error(err: sqlx::Error) -> PersistenceError {
    PersistenceError::ConnectionError(Box::new(err))
}

/// SQLSTATE 23505 on the events key is an optimistic-concurrency conflict; on the
/// idempotency key it means a twin request won.
fn write_error(err: sqlx::Error) -> PersistenceError {
    if let sqlx::Error::Database(db) = &err
        && db.code().as_deref() == Some("23505")
    {
        return if db.constraint() == Some("idempotency_keys_pkey") {
            PersistenceError::UnknownError(Box::new(IdempotencyKeyTaken))
        } else {
            PersistenceError::OptimisticLockError
        };
    }
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            connection_error(err)
        }
        other => PersistenceError::UnknownError(Box::new(other)),
    }
}
