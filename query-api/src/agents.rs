//! Agent reads.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use domain::agent::AGENT_AGGREGATE_TYPE;
use domain::api_key::Scope;
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use projections::AgentSummary;
use projections::agents::{self, AgentList, AgentListFilter, AgentView};
use serde::Deserialize;

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::params::{cursor, one_of, page_limit};
use crate::point_in_time::{AsOfParams, ReadOne};

crate::point_in_time::read_schema! {
    /// An agent: its read model, or with `as_of` / `as_of_version` its state folded from the
    /// store as it was then.
    AgentRead(AgentView)
}

/// `GET /v1/agents` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAgentsParams {
    /// `active`, `paused` or `archived`.
    pub status: Option<String>,
    /// Names starting with this (case-sensitive), at most 100 characters, no control characters.
    pub name_prefix: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/agents", tag = "agents",
    params(ListAgentsParams, ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible")),
    responses(
        (status = 200, body = AgentList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not caught up within the bound", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Lists the tenant's agents, oldest first, a page at a time.
pub async fn list_agents(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<ListAgentsParams>,
    headers: HeaderMap,
) -> Result<Json<AgentList>, Problem> {
    let principal = auth.require(Scope::AgentsRead)?;
    let filter = validate(params)?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    agents::list_agents(&state.pool, principal.tenant_id, &filter)
        .await
        .map(Json)
        .map_err(|err| Problem::internal(&err))
}

fn validate(params: ListAgentsParams) -> Result<AgentListFilter, Problem> {
    one_of(
        "status",
        params.status.as_deref(),
        &["active", "paused", "archived"],
    )?;
    if let Some(prefix) = &params.name_prefix {
        if prefix.chars().count() > 100 {
            return Err(Problem::invalid_field(
                "name_prefix",
                "must be at most 100 characters",
            ));
        }
        // Agent names may not hold control characters, and Postgres text cannot hold NUL at all.
        if prefix.chars().any(char::is_control) {
            return Err(Problem::invalid_field(
                "name_prefix",
                "must not contain control characters",
            ));
        }
    }
    let limit = page_limit(params.limit)?;
    // Only the decoded id reaches the database, never the cursor's text.
    cursor(params.cursor.as_deref(), agents::decode_cursor)?;
    Ok(AgentListFilter {
        status: params.status,
        name_prefix: params.name_prefix,
        limit,
        cursor: params.cursor,
    })
}

#[utoipa::path(
    get, path = "/v1/agents/{id}", tag = "agents",
    params(
        ("id" = uuid::Uuid, Path),
        AsOfParams,
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
        ("If-None-Match" = Option<String>, Header),
    ),
    responses(
        (status = 200, body = AgentRead, headers(("ETag" = String, description = "The agent's version"))),
        (status = 304, description = "Not modified"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One agent, with its version as ETag; with `as_of` or `as_of_version`, its state as it
/// was then.
pub async fn get_agent(read: ReadOne) -> Result<Response, Problem> {
    let tenant = read.tenant(Scope::AgentsRead)?;
    let current = agents::get_agent(read.pool(), tenant, read.id());
    read.respond((AGENT_AGGREGATE_TYPE, "agent"), current, |agent| {
        agent.version
    })
    .await
}

#[utoipa::path(
    get, path = "/v1/agents/{id}/status", tag = "agents",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 200, description = "Name, status and version from the hot (Redis) read model", body = AgentSummary),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// An agent's status from the hot read model.
pub async fn get_agent_status(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(id): UuidPath,
) -> Result<Json<AgentSummary>, Problem> {
    let principal = auth.require(Scope::AgentsRead)?;
    state
        .agent_summaries
        .get(principal.tenant_id, id)
        .await
        .map_err(|err| Problem::internal(&err))?
        .map(Json)
        .ok_or_else(|| Problem::not_found("agent"))
}
