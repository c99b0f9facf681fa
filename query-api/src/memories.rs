//! Memory reads (scope `memory:read`): one memory, its revision history, and an agent's
//! memories a page at a time. Recall (search, recent) is in [`recall`].

pub mod recall;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use domain::agent::AGENT_AGGREGATE_TYPE;
use domain::api_key::Scope;
use domain::memory::{MEMORY_AGGREGATE_TYPE, MemoryKind};
use eventstore::tenants::Principal;
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use projections::agents::decode_cursor;
use projections::memories::{self, MemoryHistory, MemoryList, MemoryListFilter, MemoryView};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::point_in_time::{AsOfParams, ReadOne};

/// `GET /v1/agents/{id}/memories` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMemoriesParams {
    /// Only memories of this kind.
    pub kind: Option<MemoryKind>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

crate::point_in_time::read_schema! {
    /// A memory: its read model, or with `as_of` / `as_of_version` its state folded from the
    /// store as it was then.
    MemoryRead(Box<MemoryView>)
}

#[utoipa::path(
    get, path = "/v1/memories/{id}", tag = "memories",
    params(
        ("id" = Uuid, Path),
        AsOfParams,
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
        ("If-None-Match" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "The current revision; `content` is null once forgotten. With `as_of` / `as_of_version`, its state then (content sealed)", body = MemoryRead, headers(("ETag" = String, description = "The memory's version"))),
        (status = 304, description = "Not modified"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `memory:read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `as_of` or `as_of_version`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not caught up within the bound", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One memory: its current revision, or `"content": null` and status `forgotten`; with
/// `as_of` or `as_of_version`, its state as it was then, its content still sealed.
pub async fn get_memory(read: ReadOne) -> Result<Response, Problem> {
    let tenant = read.tenant(Scope::MemoryRead)?;
    let current = memories::get_memory(read.pool(), tenant, read.id());
    read.respond((MEMORY_AGGREGATE_TYPE, "memory"), current, |memory| {
        memory.version
    })
    .await
}

#[utoipa::path(
    get, path = "/v1/memories/{id}/history", tag = "memories",
    params(
        ("id" = Uuid, Path),
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
    ),
    responses(
        (status = 200, description = "Every revision, oldest first, with who caused it", body = MemoryHistory),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Every revision of a memory and who caused it (the API key behind the command, and the
/// run, step and tool call). Once forgotten, every revision's content is null.
pub async fn get_memory_history(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(id): UuidPath,
    headers: HeaderMap,
) -> Result<Json<MemoryHistory>, Problem> {
    let principal = auth.require(Scope::MemoryRead)?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    memories::memory_history(&state.pool, principal.tenant_id, id)
        .await
        .map_err(|err| Problem::internal(&err))?
        .map(Json)
        .ok_or_else(|| Problem::not_found("memory"))
}

#[utoipa::path(
    get, path = "/v1/agents/{id}/memories", tag = "memories",
    params(
        ("id" = Uuid, Path, description = "Agent id"),
        ListMemoriesParams,
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
    ),
    responses(
        (status = 200, body = MemoryList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// An agent's memories, oldest first, a page at a time; forgotten ones stay listed
/// without content.
pub async fn list_memories(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(agent_id): UuidPath,
    QueryParams(params): QueryParams<ListMemoriesParams>,
    headers: HeaderMap,
) -> Result<Json<MemoryList>, Problem> {
    let principal = auth.require(Scope::MemoryRead)?;
    let limit = limit_param(params.limit, 50, 200)?;
    // Only the decoded id reaches the database, never the cursor's text.
    let after = match &params.cursor {
        Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
            Problem::invalid_field("cursor", "not a cursor returned by this API")
        })?),
        None => None,
    };
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    require_agent(&state, &principal, agent_id).await?;
    let filter = MemoryListFilter {
        agent_id,
        kind: params.kind,
        limit,
        after,
    };
    memories::list_memories(&state.pool, principal.tenant_id, &filter)
        .await
        .map(Json)
        .map_err(|err| Problem::internal(&err))
}

/// `limit`, `default` when absent; a 422 naming it outside 1 to `max`.
fn limit_param(limit: Option<i64>, default: i64, max: i64) -> Result<i64, Problem> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(Problem::invalid_field(
            "limit",
            format!("must be between 1 and {max}"),
        ))
    }
}

/// A 404 unless `agent_id` is an agent of the caller's tenant. Asked of the event store,
/// which has every agent the moment it is created, so a memory recorded just after its
/// agent never meets an agents read model that lags behind.
async fn require_agent(
    state: &AppState,
    principal: &Principal,
    agent_id: Uuid,
) -> Result<(), Problem> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events
                         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1
                           AND tenant_id = $3)",
    )
    .bind(AGENT_AGGREGATE_TYPE)
    .bind(agent_id.to_string())
    .bind(principal.tenant_id)
    .fetch_one(&state.pool)
    .await
    .map_err(|err| Problem::internal(&err))?;
    if exists {
        Ok(())
    } else {
        Err(Problem::not_found("agent"))
    }
}
