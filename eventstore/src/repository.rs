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

use std::sync::Arc;

use crate::StoreError;
use crate::alongside::Alongside;
use crate::metadata::{CommandContext, IdempotencyClaim, keys};

/// The events INSERT; `$1`..`$10` are one array per column.
macro_rules! insert_events {
    () => {
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                    payload, metadata, event_id, tenant_id, occurred_at)
SELECT t.aggregate_type, t.aggregate_id, t.sequence, t.event_type, t.event_version,
       t.payload::jsonb, t.metadata::jsonb, t.event_id, t.tenant_id, t.occurred_at
  FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],
              $7::text[], $8::uuid[], $9::uuid[], $10::timestamptz[])
    AS t(aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
         metadata, event_id, tenant_id, occurred_at)"
    };
}

/// The one statement that appends a command's events (one array per column).
pub const INSERT_EVENTS: &str = insert_events!();

/// The events and the idempotency record (`$11`..`$17`) in one statement: a single
/// statement is its own transaction, so both commit or neither does.
const INSERT_EVENTS_AND_IDEMPOTENCY_KEY: &str = concat!(
    "WITH appended AS (",
    insert_events!(),
    " RETURNING 1)
INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, aggregate_type,
                              aggregate_id, version, status_code)
VALUES ($11, $12, $13, $14, $15, $16, $17)"
);

const INSERT_IDEMPOTENCY_KEY: &str = "
INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, aggregate_type,
                              aggregate_id, version, status_code)
VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Why an append wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another command appended the same aggregate version first.
    #[error("another command changed the aggregate concurrently")]
    Conflict,
    /// Another request with the same `Idempotency-Key` committed first.
    #[error("the idempotency key was used by a request that committed first")]
    IdempotencyKeyTaken,
    /// A claimed key is already held by `owner`.
    #[error("`{key}` in `{scope}` is already claimed by {owner}")]
    Claimed {
        scope: String,
        key: String,
        owner: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AppendError {
    /// SQLSTATE 23505 on the events key is an optimistic-concurrency conflict; on the
    /// idempotency key it means a twin request won.
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.code().as_deref() == Some("23505")
        {
            return if db.constraint() == Some("idempotency_keys_pkey") {
                Self::IdempotencyKeyTaken
            } else {
                Self::Conflict
            };
        }
        Self::Store(StoreError::Database(err))
    }
}

/// What every event of one command shares, beyond its metadata.
#[derive(Debug, Clone)]
pub struct AppendFacts {
    pub tenant_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub idempotency: Option<IdempotencyClaim>,
}

impl AppendFacts {
    /// The facts of a command run in `context`.
    pub fn of(context: &CommandContext) -> Self {
        Self {
            tenant_id: context.tenant_id,
            occurred_at: context.occurred_at,
            idempotency: context.idempotency.clone(),
        }
    }
}

/// The event repository every aggregate is stored through.
#[derive(Clone)]
pub struct EventRepository {
    pool: PgPool,
    reads: Arc<PostgresEventRepository>,
}

impl EventRepository {
    /// A repository on the `events` and `snapshots` tables of `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: Arc::new(PostgresEventRepository::new(pool.clone())),
            pool,
        }
    }

    /// Appends one command's events (all of one aggregate) with their idempotency record
    /// and `alongside` writes, all or nothing. The events INSERT is the first write of its
    /// transaction, so transaction-id order stays close to commit order. Without
    /// `alongside` writes the append is one statement, which is its own transaction: one
    /// round trip instead of BEGIN, the INSERTs and COMMIT.
    #[tracing::instrument(skip_all, fields(events = events.len()), err)]
    pub async fn append(
        &self,
        events: &[SerializedEvent],
        facts: &AppendFacts,
        alongside: &[Alongside],
    ) -> Result<(), AppendError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut columns = EventColumns::with_capacity(events.len());
        for event in events {
            columns.push(event, facts)?;
        }
        match (&facts.idempotency, alongside.is_empty()) {
            (None, true) => {
                columns
                    .bind(sqlx::query(INSERT_EVENTS))
                    .execute(&self.pool)
                    .await?;
            }
            (Some(claim), true) => {
                let query = columns.bind(sqlx::query(INSERT_EVENTS_AND_IDEMPOTENCY_KEY));
                bind_idempotency_record(query, facts.tenant_id, claim, last)
                    .execute(&self.pool)
                    .await?;
            }
            (idempotency, false) => {
                let mut tx = self.pool.begin().await?;
                columns
                    .bind(sqlx::query(INSERT_EVENTS))
                    .execute(&mut *tx)
                    .await?;
                if let Some(claim) = idempotency {
                    let query = sqlx::query(INSERT_IDEMPOTENCY_KEY);
                    bind_idempotency_record(query, facts.tenant_id, claim, last)
                        .execute(&mut *tx)
                        .await?;
                }
                for write in alongside {
                    write_alongside(&mut tx, write, facts.tenant_id, last).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

/// Binds the idempotency record's seven columns as the next parameters: the key, what
/// the request was, and the aggregate version its last event reached.
fn bind_idempotency_record<'q>(
    query: PgQuery<'q>,
    tenant_id: Uuid,
    claim: &'q IdempotencyClaim,
    last: &'q SerializedEvent,
) -> PgQuery<'q> {
    query
        .bind(tenant_id)
        .bind(&claim.key)
        .bind(&claim.request_hash)
        .bind(&last.aggregate_type)
        .bind(&last.aggregate_id)
        .bind(i64::try_from(last.sequence).unwrap_or(i64::MAX))
        .bind(i16::try_from(claim.status_code).unwrap_or(200))
}

async fn write_alongside(
    tx: &mut sqlx::PgTransaction<'_>,
    write: &Alongside,
    tenant_id: Uuid,
    event: &SerializedEvent,
) -> Result<(), AppendError> {
    match write {
        Alongside::Claim { scope, key } => {
            let claimed = sqlx::query(
                "INSERT INTO unique_claims (scope, claim_key, tenant_id, aggregate_type, aggregate_id)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(tenant_id)
            .bind(&event.aggregate_type)
            .bind(&event.aggregate_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                let owner: String = sqlx::query_scalar(
                    "SELECT aggregate_id FROM unique_claims WHERE scope = $1 AND claim_key = $2",
                )
                .bind(scope)
                .bind(key)
                .fetch_one(&mut **tx)
                .await?;
                return Err(AppendError::Claimed {
                    scope: scope.clone(),
                    key: key.clone(),
                    owner,
                });
            }
        }
        Alongside::PutDataKey { key_id, material } => {
            sqlx::query("INSERT INTO data_keys (key_id, tenant_id, material) VALUES ($1, $2, $3)")
                .bind(key_id)
                .bind(tenant_id)
                .bind(material)
                .execute(&mut **tx)
                .await?;
        }
        Alongside::DeleteDataKey { key_id } => {
            sqlx::query("DELETE FROM data_keys WHERE key_id = $1")
                .bind(key_id)
                .execute(&mut **tx)
                .await?;
        }
        Alongside::PutRunLease {
            run_id,
            engine_id,
            lease_generation,
            lease_until,
        } => {
            sqlx::query(
                "INSERT INTO run_leases (run_id, tenant_id, engine_id, lease_generation, lease_until)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (run_id) DO UPDATE
                    SET tenant_id = $2, engine_id = $3, lease_generation = $4,
                        lease_until = $5, reaped = false",
            )
            .bind(run_id)
            .bind(tenant_id)
            .bind(engine_id)
            .bind(i32::try_from(*lease_generation).unwrap_or(i32::MAX))
            .bind(lease_until)
            .execute(&mut **tx)
            .await?;
        }
        Alongside::DeleteRunLease {
            run_id,
            lease_generation,
        } => {
            sqlx::query("DELETE FROM run_leases WHERE run_id = $1 AND lease_generation = $2")
                .bind(run_id)
                .bind(i32::try_from(*lease_generation).unwrap_or(i32::MAX))
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
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
        let facts = facts_from_metadata(events)?;
        self.append(events, &facts, &[])
            .await
            .map_err(|err| match err {
                AppendError::Conflict => PersistenceError::OptimisticLockError,
                other => PersistenceError::UnknownError(Box::new(other)),
            })
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

/// The facts of events committed through cqrs-es' own `commit`, read back from metadata.
fn facts_from_metadata(events: &[SerializedEvent]) -> Result<AppendFacts, PersistenceError> {
    let metadata = events.first().map(|e| &e.metadata).unwrap_or(&Value::Null);
    let text = |key: &str| metadata.get(key).and_then(Value::as_str);
    let required =
        |key: &str| text(key).ok_or_else(|| invalid(format!("event metadata lacks `{key}`")));
    let tenant_id = Uuid::parse_str(required(keys::TENANT_ID)?)
        .map_err(|e| invalid(format!("tenant_id: {e}")))?;
    let occurred_at = DateTime::parse_from_rfc3339(required(keys::OCCURRED_AT)?)
        .map_err(|e| invalid(format!("occurred_at: {e}")))?
        .with_timezone(&Utc);
    let idempotency = match (text(keys::IDEMPOTENCY_KEY), text(keys::REQUEST_HASH)) {
        (Some(key), Some(hash)) => Some(IdempotencyClaim {
            key: key.to_owned(),
            request_hash: hash.to_owned(),
            status_code: text(keys::STATUS_CODE)
                .and_then(|s| s.parse().ok())
                .unwrap_or(200),
        }),
        _ => None,
    };
    Ok(AppendFacts {
        tenant_id,
        occurred_at,
        idempotency,
    })
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

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl EventColumns {
    /// Binds the columns as `$1`..`$10`.
    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(&self.aggregate_type)
            .bind(&self.aggregate_id)
            .bind(&self.sequence)
            .bind(&self.event_type)
            .bind(&self.event_version)
            .bind(&self.payload)
            .bind(&self.metadata)
            .bind(&self.event_id)
            .bind(&self.tenant_id)
            .bind(&self.occurred_at)
    }

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

    fn push(&mut self, event: &SerializedEvent, facts: &AppendFacts) -> Result<(), StoreError> {
        self.aggregate_type.push(event.aggregate_type.clone());
        self.aggregate_id.push(event.aggregate_id.clone());
        self.sequence
            .push(i64::try_from(event.sequence).map_err(|e| StoreError::Invalid(e.to_string()))?);
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
