//! The memory read models in Postgres: `memories` (each memory's current revision, with a
//! full-text search vector under a GIN index) and `memory_revisions` (every revision and
//! who caused it). Content is unsealed with the memory's data key from `data_keys` in the
//! same database; a key that is gone (the memory was forgotten) means no content, never an
//! error, so a replay after a forget rebuilds everything but the content.

mod queries;

use chrono::{DateTime, Utc};
use domain::memory::{
    MEMORY_AGGREGATE_TYPE, MemoryEvent, MemoryForgotten, MemoryRecorded, MemorySource,
    SealedContent,
};
use eventstore::CloudEvent;
use eventstore::sealing::{DataKeys, find_data_keys, memory_binding};
use sqlx::types::Json;
use sqlx::{Executor, PgConnection};
use uuid::Uuid;

use crate::ProjectionError;
use crate::pg_model::{PgModel, PgProjection, check_duplicate, id_and_version};

pub use queries::{
    MemoryHistory, MemoryList, MemoryListFilter, MemoryRevisionView, MemorySearch, MemoryView,
    SearchHit, SearchResults, get_memory, list_memories, memory_history, search_memories,
};

/// The projection's name (consumer and checkpoint).
pub const MEMORIES_PROJECTION: &str = "memories_pg";
/// One row per memory: what reads, lists and searches serve, and what consistency tokens
/// of memory writes wait on.
pub const MEMORIES_TABLE: &str = "memories";
/// One row per revision of every memory.
pub const MEMORY_REVISIONS_TABLE: &str = "memory_revisions";

const CREATE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS memories (
    id            uuid PRIMARY KEY,
    tenant_id     uuid             NOT NULL,
    agent_id      uuid             NOT NULL,
    kind          text             NOT NULL,
    status        text             NOT NULL,
    content       text,
    content_chars integer          NOT NULL,
    tags          text[]           NOT NULL,
    importance    double precision NOT NULL,
    revision      integer          NOT NULL,
    source        jsonb            NOT NULL,
    search        tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(content, ''))) STORED,
    version       bigint           NOT NULL,
    created_at    timestamptz      NOT NULL,
    updated_at    timestamptz      NOT NULL,
    forgotten_at  timestamptz,
    forgotten_by  text,
    forget_reason text);
CREATE INDEX IF NOT EXISTS memories_agent ON memories (tenant_id, agent_id, id);
CREATE INDEX IF NOT EXISTS memories_search ON memories USING GIN (search);
CREATE TABLE IF NOT EXISTS memory_revisions (
    memory_id     uuid             NOT NULL,
    revision      integer          NOT NULL,
    tenant_id     uuid             NOT NULL,
    content       text,
    content_chars integer          NOT NULL,
    tags          text[]           NOT NULL,
    importance    double precision NOT NULL,
    source        jsonb            NOT NULL,
    actor         text             NOT NULL,
    event_id      uuid             NOT NULL,
    revised_at    timestamptz      NOT NULL,
    PRIMARY KEY (memory_id, revision));";

/// The memory read models.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoriesModel;

/// The Postgres projection of memories.
pub type MemoriesProjection = PgProjection<MemoriesModel>;

#[async_trait::async_trait]
impl PgModel for MemoriesModel {
    fn name(&self) -> &'static str {
        MEMORIES_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[MEMORY_AGGREGATE_TYPE]
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        conn.execute(CREATE_TABLES).await?;
        Ok(())
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &CloudEvent,
    ) -> Result<(), ProjectionError> {
        let (id, version) = id_and_version(event)?;
        let memory_event: MemoryEvent = crate::decode::domain_event(event)?;
        let keys = match sealed_content(&memory_event) {
            Some(sealed) => find_data_keys(&mut *conn, &[sealed.key_id]).await?,
            None => DataKeys::default(),
        };
        let written = Written { event, id, version };
        match (&memory_event, Revision::of(&memory_event, &keys, id)) {
            (MemoryEvent::MemoryRecorded(recorded), Some(revision)) => {
                record(conn, &written, recorded, &revision).await
            }
            (MemoryEvent::MemoryRevised(_), Some(revision)) => {
                revise(conn, &written, &revision).await
            }
            (MemoryEvent::MemoryForgotten(forgotten), _) => forget(conn, &written, forgotten).await,
            // Only a forget carries no revision.
            (_, None) => Ok(()),
        }
    }
}

/// The event being applied, its memory and the version it brings that memory to.
struct Written<'a> {
    event: &'a CloudEvent,
    id: Uuid,
    version: i64,
}

/// One revision as both tables store it.
struct Revision<'a> {
    number: u32,
    content: Option<String>,
    content_chars: u32,
    tags: &'a [String],
    importance: f64,
    source: &'a MemorySource,
    at: DateTime<Utc>,
}

impl<'a> Revision<'a> {
    /// The revision a record or revise event makes, its content unsealed with `keys`.
    fn of(event: &'a MemoryEvent, keys: &DataKeys, id: Uuid) -> Option<Self> {
        let (number, sealed, content_chars, tags, importance, source, at) = match event {
            MemoryEvent::MemoryRecorded(e) => (
                e.revision,
                &e.content,
                e.content_chars,
                &e.tags,
                e.importance,
                &e.source,
                e.recorded_at,
            ),
            MemoryEvent::MemoryRevised(e) => (
                e.revision,
                &e.content,
                e.content_chars,
                &e.tags,
                e.importance,
                &e.source,
                e.revised_at,
            ),
            MemoryEvent::MemoryForgotten(_) => return None,
        };
        Some(Self {
            number,
            content: unseal(keys, id, number, sealed),
            content_chars,
            tags,
            importance,
            source,
            at,
        })
    }
}

async fn record(
    conn: &mut PgConnection,
    written: &Written<'_>,
    recorded: &MemoryRecorded,
    revision: &Revision<'_>,
) -> Result<(), ProjectionError> {
    let inserted = sqlx::query(
        "INSERT INTO memories (id, tenant_id, agent_id, kind, status, content, content_chars,
             tags, importance, revision, source, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10, $11, $12, $12)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(written.id)
    .bind(recorded.tenant_id)
    .bind(recorded.agent_id)
    .bind(recorded.kind.as_str())
    .bind(&revision.content)
    .bind(as_i32(revision.content_chars))
    .bind(revision.tags)
    .bind(revision.importance)
    .bind(as_i32(revision.number))
    .bind(Json(revision.source))
    .bind(written.version)
    .bind(revision.at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        insert_revision(conn, written, revision).await?;
    }
    Ok(())
}

async fn revise(
    conn: &mut PgConnection,
    written: &Written<'_>,
    revision: &Revision<'_>,
) -> Result<(), ProjectionError> {
    let updated = sqlx::query(
        "UPDATE memories SET content = $3, content_chars = $4, tags = $5, importance = $6,
                revision = $7, source = $8, updated_at = $9, version = $2
          WHERE id = $1 AND version = $2 - 1",
    )
    .bind(written.id)
    .bind(written.version)
    .bind(&revision.content)
    .bind(as_i32(revision.content_chars))
    .bind(revision.tags)
    .bind(revision.importance)
    .bind(as_i32(revision.number))
    .bind(Json(revision.source))
    .bind(revision.at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return check_duplicate(conn, MEMORIES_TABLE, written.id, written.version).await;
    }
    insert_revision(conn, written, revision).await
}

/// Drops the content from the memory and from every revision of it.
async fn forget(
    conn: &mut PgConnection,
    written: &Written<'_>,
    forgotten: &MemoryForgotten,
) -> Result<(), ProjectionError> {
    let updated = sqlx::query(
        "UPDATE memories SET status = 'forgotten', content = NULL, forgotten_at = $3,
                forgotten_by = $4, forget_reason = $5, updated_at = $3, version = $2
          WHERE id = $1 AND version = $2 - 1",
    )
    .bind(written.id)
    .bind(written.version)
    .bind(forgotten.forgotten_at)
    .bind(written.event.actor.as_deref().unwrap_or_default())
    .bind(&forgotten.reason)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return check_duplicate(conn, MEMORIES_TABLE, written.id, written.version).await;
    }
    sqlx::query("UPDATE memory_revisions SET content = NULL WHERE memory_id = $1")
        .bind(written.id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_revision(
    conn: &mut PgConnection,
    written: &Written<'_>,
    revision: &Revision<'_>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO memory_revisions (memory_id, revision, tenant_id, content, content_chars,
             tags, importance, source, actor, event_id, revised_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (memory_id, revision) DO NOTHING",
    )
    .bind(written.id)
    .bind(as_i32(revision.number))
    .bind(written.event.tenantid)
    .bind(&revision.content)
    .bind(as_i32(revision.content_chars))
    .bind(revision.tags)
    .bind(revision.importance)
    .bind(Json(revision.source))
    .bind(written.event.actor.as_deref().unwrap_or_default())
    .bind(written.event.id)
    .bind(revision.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The sealed content an event carries, if any.
pub fn sealed_content(event: &MemoryEvent) -> Option<&SealedContent> {
    match event {
        MemoryEvent::MemoryRecorded(recorded) => Some(&recorded.content),
        MemoryEvent::MemoryRevised(revised) => Some(&revised.content),
        MemoryEvent::MemoryForgotten(_) => None,
    }
}

/// The plaintext of one revision of memory `id`, or `None` once its key is gone. Content
/// that does not open with a key that exists (tampered, or a restored wrong key) is logged
/// and counted, and also read as no content: the event can never change, so failing the
/// projection on it would stop every tenant's memories for good.
pub fn unseal(keys: &DataKeys, id: Uuid, revision: u32, sealed: &SealedContent) -> Option<String> {
    keys.open(&memory_binding(id, revision), sealed)
        .unwrap_or_else(|err| {
            tracing::error!(memory_id = %id, revision, %err, "memory content does not unseal");
            metrics::counter!("agentos_memory_unseal_failures_total").increment(1);
            None
        })
}

/// Counts and revisions are capped far below `i32::MAX` by the domain.
fn as_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
