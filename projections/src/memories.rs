//! The memory read models in Postgres: `memories` (each memory's current revision, with a
//! full-text search vector under a GIN index) and `memory_revisions` (every revision and
//! who caused it). Content is unsealed with the memory's data key from `data_keys` in the
//! same database; a key that is gone (the memory was forgotten) means no content, never an
//! error, so a replay after a forget rebuilds everything but the content.

mod queries;

use chrono::{DateTime, Utc};
use domain::memory::{MEMORY_AGGREGATE_TYPE, MemoryEvent, MemorySource, SealedContent};
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
        let memory_event: MemoryEvent = serde_json::from_value(event.tagged_payload())?;
        let keys = match sealed_content(&memory_event) {
            Some(sealed) => find_data_keys(&mut *conn, &[sealed.key_id]).await?,
            None => DataKeys::default(),
        };
        match memory_event {
            MemoryEvent::MemoryRecorded(recorded) => {
                let content = unseal(&keys, id, recorded.revision, &recorded.content);
                let revision = Revision {
                    number: recorded.revision,
                    content,
                    content_chars: recorded.content_chars,
                    tags: &recorded.tags,
                    importance: recorded.importance,
                    source: &recorded.source,
                    at: recorded.recorded_at,
                };
                let inserted = sqlx::query(
                    "INSERT INTO memories (id, tenant_id, agent_id, kind, status, content,
                         content_chars, tags, importance, revision, source, version, created_at,
                         updated_at)
                     VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10, $11, $12, $12)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(recorded.tenant_id)
                .bind(recorded.agent_id)
                .bind(recorded.kind.as_str())
                .bind(&revision.content)
                .bind(as_i32(revision.content_chars))
                .bind(revision.tags)
                .bind(revision.importance)
                .bind(as_i32(revision.number))
                .bind(Json(revision.source))
                .bind(version)
                .bind(revision.at)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if inserted == 1 {
                    insert_revision(conn, event, id, &revision).await?;
                }
            }
            MemoryEvent::MemoryRevised(revised) => {
                let content = unseal(&keys, id, revised.revision, &revised.content);
                let revision = Revision {
                    number: revised.revision,
                    content,
                    content_chars: revised.content_chars,
                    tags: &revised.tags,
                    importance: revised.importance,
                    source: &revised.source,
                    at: revised.revised_at,
                };
                let updated = sqlx::query(
                    "UPDATE memories SET content = $3, content_chars = $4, tags = $5,
                            importance = $6, revision = $7, source = $8, updated_at = $9,
                            version = $2
                      WHERE id = $1 AND version = $2 - 1",
                )
                .bind(id)
                .bind(version)
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
                    return check_duplicate(conn, MEMORIES_TABLE, id, version).await;
                }
                insert_revision(conn, event, id, &revision).await?;
            }
            MemoryEvent::MemoryForgotten(forgotten) => {
                let updated = sqlx::query(
                    "UPDATE memories SET status = 'forgotten', content = NULL,
                            forgotten_at = $3, forgotten_by = $4, forget_reason = $5,
                            updated_at = $3, version = $2
                      WHERE id = $1 AND version = $2 - 1",
                )
                .bind(id)
                .bind(version)
                .bind(forgotten.forgotten_at)
                .bind(event.actor.as_deref().unwrap_or_default())
                .bind(&forgotten.reason)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if updated == 0 {
                    return check_duplicate(conn, MEMORIES_TABLE, id, version).await;
                }
                sqlx::query("UPDATE memory_revisions SET content = NULL WHERE memory_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }
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

async fn insert_revision(
    conn: &mut PgConnection,
    event: &CloudEvent,
    memory_id: Uuid,
    revision: &Revision<'_>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO memory_revisions (memory_id, revision, tenant_id, content, content_chars,
             tags, importance, source, actor, event_id, revised_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (memory_id, revision) DO NOTHING",
    )
    .bind(memory_id)
    .bind(as_i32(revision.number))
    .bind(event.tenantid)
    .bind(&revision.content)
    .bind(as_i32(revision.content_chars))
    .bind(revision.tags)
    .bind(revision.importance)
    .bind(Json(revision.source))
    .bind(event.actor.as_deref().unwrap_or_default())
    .bind(event.id)
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
