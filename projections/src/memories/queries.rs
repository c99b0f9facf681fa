//! Reads of the memory read models: one memory, an agent's memories a page at a time, a
//! memory's revision history, and ranked full-text recall.

use chrono::{DateTime, Utc};
use domain::memory::{MemoryKind, MemorySource};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::ProjectionError;
use crate::agents::encode_cursor;
use crate::page::split_page;

/// Every column of `memories` a view reads (the search vector stays in the database).
const VIEW_COLUMNS: &str = "id, tenant_id, agent_id, kind, status, content, content_chars, tags,
    importance, revision, source, version, created_at, updated_at, forgotten_at, forgotten_by,
    forget_reason";

/// A memory as the query API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MemoryView {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub agent_id: Uuid,
    /// `core`, `episodic` or `semantic`.
    pub kind: String,
    /// `active` or `forgotten`.
    pub status: String,
    /// The current revision's content; `null` once the memory is forgotten.
    pub content: Option<String>,
    /// How many characters the current revision held (kept after forgetting).
    pub content_chars: i32,
    pub tags: Vec<String>,
    /// From 0 to 1.
    pub importance: f64,
    /// 1 when recorded, +1 per revision.
    pub revision: i32,
    /// Which run, step and tool call caused the current revision.
    #[schema(value_type = MemorySource)]
    pub source: Json<MemorySource>,
    /// The aggregate version (its last event's sequence): the ETag.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub forgotten_at: Option<DateTime<Utc>>,
    /// Who forgot it: an API key id.
    pub forgotten_by: Option<String>,
    pub forget_reason: Option<String>,
}

/// Filters and page of an agent's memory list.
#[derive(Debug, Clone, Default)]
pub struct MemoryListFilter {
    pub agent_id: Uuid,
    pub kind: Option<MemoryKind>,
    pub limit: i64,
    /// The id the page starts after.
    pub after: Option<Uuid>,
}

/// One page of memories and the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemoryList {
    pub items: Vec<MemoryView>,
    pub next_cursor: Option<String>,
}

/// One revision of a memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MemoryRevisionView {
    pub revision: i32,
    /// The revision's content; `null` once the memory is forgotten.
    pub content: Option<String>,
    pub content_chars: i32,
    pub tags: Vec<String>,
    pub importance: f64,
    /// Which run, step and tool call caused this revision.
    #[schema(value_type = MemorySource)]
    pub source: Json<MemorySource>,
    /// Who caused it: the API key id that sent the command.
    pub actor: String,
    /// The event that recorded this revision.
    pub event_id: Uuid,
    pub revised_at: DateTime<Utc>,
}

/// Every revision of a memory, oldest first, and its forgetting if it happened.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemoryHistory {
    pub memory_id: Uuid,
    pub agent_id: Uuid,
    /// `active` or `forgotten`.
    pub status: String,
    pub revisions: Vec<MemoryRevisionView>,
    pub forgotten_at: Option<DateTime<Utc>>,
    pub forgotten_by: Option<String>,
    pub forget_reason: Option<String>,
}

/// What to recall, for one agent.
#[derive(Debug, Clone)]
pub struct MemorySearch {
    pub agent_id: Uuid,
    /// Web-search syntax: words, `"phrases"`, `or`, `-excluded`.
    pub query: String,
    pub kind: Option<MemoryKind>,
    /// Every one of these tags must be on a hit.
    pub tags: Vec<String>,
    pub limit: i64,
}

/// A recalled memory and its score.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SearchHit {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub memory: MemoryView,
    /// Relevance, importance and recency combined; higher is better.
    pub score: f64,
}

/// Memories matching a search, best first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub items: Vec<SearchHit>,
}

/// One of the tenant's memories.
pub async fn get_memory(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<MemoryView>, ProjectionError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM memories WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?)
}

/// A page of an agent's memories, oldest first (ids are UUIDv7), forgotten ones included.
pub async fn list_memories(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &MemoryListFilter,
) -> Result<MemoryList, ProjectionError> {
    let rows: Vec<MemoryView> = sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM memories
          WHERE tenant_id = $1 AND agent_id = $2
            AND ($3::uuid IS NULL OR id > $3)
            AND ($4::text IS NULL OR kind = $4)
          ORDER BY id
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(filter.agent_id)
    .bind(filter.after)
    .bind(filter.kind.map(|kind| kind.as_str()))
    .bind(filter.limit + 1)
    .fetch_all(pool)
    .await?;
    let (items, next_cursor) = split_page(rows, filter.limit, |last| encode_cursor(last.id));
    Ok(MemoryList { items, next_cursor })
}

/// Every revision of one of the tenant's memories, oldest first.
pub async fn memory_history(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<MemoryHistory>, ProjectionError> {
    let Some(memory) = get_memory(pool, tenant_id, id).await? else {
        return Ok(None);
    };
    let revisions = sqlx::query_as(
        "SELECT revision, content, content_chars, tags, importance, source, actor, event_id,
                revised_at
           FROM memory_revisions
          WHERE memory_id = $1 AND tenant_id = $2
          ORDER BY revision",
    )
    .bind(id)
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(MemoryHistory {
        memory_id: memory.id,
        agent_id: memory.agent_id,
        status: memory.status,
        revisions,
        forgotten_at: memory.forgotten_at,
        forgotten_by: memory.forgotten_by,
        forget_reason: memory.forget_reason,
    }))
}

/// How much each part weighs in a search score; they add up to 1, so scores do too.
const RELEVANCE_WEIGHT: f64 = 0.6;
const IMPORTANCE_WEIGHT: f64 = 0.25;
const RECENCY_WEIGHT: f64 = 0.15;
/// Recency halves every this many days since the last revision.
const RECENCY_HALF_LIFE_DAYS: f64 = 30.0;

/// An agent's memories matching `search`, best first: see the query API's search handler
/// for the score. Forgotten memories have no content, so they never match.
pub async fn search_memories(
    pool: &PgPool,
    tenant_id: Uuid,
    search: &MemorySearch,
) -> Result<SearchResults, ProjectionError> {
    // ts_rank_cd's normalization 32 maps a rank r to r / (r + 1), into [0, 1). The decay's
    // exponent is capped so that very old memories tie instead of underflowing (an error
    // in Postgres), and floored so that a clock running behind counts as "just now".
    let items = sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS},
                $6 * ts_rank_cd(search, query, 32)::float8
              + $7 * importance
              + $8 * power(0.5::float8, least(greatest(
                    extract(epoch FROM now() - updated_at)::float8 / 86400.0 / $9, 0.0), 200.0))
                AS score
           FROM memories, websearch_to_tsquery('english', $3) AS query
          WHERE tenant_id = $1 AND agent_id = $2 AND search @@ query
            AND ($4::text IS NULL OR kind = $4)
            AND tags @> $5::text[]
          ORDER BY score DESC, id DESC
          LIMIT $10"
    ))
    .bind(tenant_id)
    .bind(search.agent_id)
    .bind(&search.query)
    .bind(search.kind.map(|kind| kind.as_str()))
    .bind(&search.tags)
    .bind(RELEVANCE_WEIGHT)
    .bind(IMPORTANCE_WEIGHT)
    .bind(RECENCY_WEIGHT)
    .bind(RECENCY_HALF_LIFE_DAYS)
    .bind(search.limit)
    .fetch_all(pool)
    .await?;
    Ok(SearchResults { items })
}
