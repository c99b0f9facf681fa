//! Postgres read models: each batch of events and the projection's checkpoint commit in
//! one transaction, so an event is applied exactly once; rows carry their aggregate's
//! version so that a redelivered event is skipped and a missing one is a loud gap.

use eventstore::{CloudEvent, Namespace};
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;
use uuid::Uuid;

use crate::runner::{Delivered, Projection, event_span};
use crate::{ProjectionError, checkpoint};

/// A read model kept in Postgres tables.
#[async_trait::async_trait]
pub trait PgModel: Send + Sync + 'static {
    /// The projection's name (consumer and checkpoint).
    fn name(&self) -> &'static str;
    /// The aggregate types whose events it applies (one: its consumer filters by it).
    fn aggregate_types(&self) -> &'static [&'static str];
    /// Creates its tables when missing; runs under a lock that serializes DDL.
    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError>;
    /// Applies one event of its aggregate types inside the batch's transaction.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &CloudEvent,
    ) -> Result<(), ProjectionError>;
}

/// Runs a [`PgModel`] as a projection.
#[derive(Debug, Clone)]
pub struct PgProjection<M> {
    pool: PgPool,
    model: M,
}

impl<M: PgModel> PgProjection<M> {
    /// A projection of `model` into `pool`'s database.
    pub fn new(pool: PgPool, model: M) -> Self {
        Self { pool, model }
    }

    /// Creates the model's tables if they are missing, so reads never depend on a
    /// projector having started first.
    pub async fn ensure_tables(&self) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        ddl_lock(&mut tx).await?;
        self.model.create_tables(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Serializes DDL of concurrent starters (CREATE TABLE IF NOT EXISTS can still collide
/// in the catalog).
pub async fn ddl_lock(conn: &mut PgConnection) -> Result<(), ProjectionError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('agentos.projections.ddl', 0))")
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl<M: PgModel> Projection for PgProjection<M> {
    fn name(&self) -> &str {
        self.model.name()
    }

    fn filter_subject(&self, namespace: &Namespace) -> String {
        match self.model.aggregate_types() {
            [one] => namespace.aggregate_type_filter(one),
            // NATS 2.9 honours one filter only: take every event, skip the others here.
            _ => format!("{}.>", namespace.subject_prefix()),
        }
    }

    async fn prepare(&self) -> Result<u64, ProjectionError> {
        checkpoint::ensure(&self.pool, self.model.name()).await?;
        self.ensure_tables().await?;
        checkpoint::read(&self.pool, self.model.name()).await
    }

    async fn apply(&self, events: &[Delivered]) -> Result<usize, ProjectionError> {
        let name = self.model.name();
        let types = self.model.aggregate_types();
        let mut tx = self.pool.begin().await?;
        let mut position = checkpoint::lock(&mut tx, name).await?;
        let mut applied = 0;
        for delivered in events {
            if delivered.stream_sequence <= position {
                continue;
            }
            let event = &delivered.event;
            if types.contains(&event.aggregatetype.as_str()) {
                self.model
                    .apply(&mut tx, event)
                    .instrument(event_span(name, event))
                    .await?;
                applied += 1;
            }
            position = delivered.stream_sequence;
        }
        checkpoint::save(&mut tx, name, position).await?;
        tx.commit().await?;
        Ok(applied)
    }
}

/// After a versioned update (`... WHERE id = $1 AND version = $2 - 1`) that matched no
/// row of `table`: fine when the row already has `version` (a duplicate), a
/// [`ProjectionError::VersionGap`] when it is missing or further behind.
pub async fn check_duplicate(
    conn: &mut PgConnection,
    table: &str,
    id: Uuid,
    version: i64,
) -> Result<(), ProjectionError> {
    let found: Option<i64> =
        sqlx::query_scalar(&format!("SELECT version FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    let found = found.unwrap_or_default();
    if found >= version {
        return Ok(());
    }
    Err(ProjectionError::VersionGap {
        aggregate_id: id.to_string(),
        expected: u64::try_from(version - 1).unwrap_or_default(),
        found: u64::try_from(found).unwrap_or_default(),
    })
}

/// After a versioned update of `table` that changed `rows_affected` rows: true when it
/// applied, false when the row already had `version` (a duplicate), and a
/// [`ProjectionError::VersionGap`] otherwise (see [`check_duplicate`]).
pub async fn applied_or_duplicate(
    conn: &mut PgConnection,
    table: &str,
    id: Uuid,
    version: i64,
    rows_affected: u64,
) -> Result<bool, ProjectionError> {
    if rows_affected > 0 {
        return Ok(true);
    }
    check_duplicate(conn, table, id, version).await?;
    Ok(false)
}

/// The event's aggregate id as a UUID and its sequence as the row version.
pub fn id_and_version(event: &CloudEvent) -> Result<(Uuid, i64), ProjectionError> {
    let id = Uuid::parse_str(&event.aggregateid).map_err(|_| {
        ProjectionError::Store(eventstore::StoreError::Invalid(format!(
            "{} id `{}` is not a UUID",
            event.aggregatetype, event.aggregateid
        )))
    })?;
    Ok((id, i64::try_from(event.sequence).unwrap_or(i64::MAX)))
}
