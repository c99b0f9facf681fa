//! Run reads (scope `runs:read`): one run with its steps, an agent's runs, and a run's
//! events as they happen (`events`).

pub mod events;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use domain::api_key::Scope;
use domain::run::RUN_AGGREGATE_TYPE;
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use projections::agents::decode_cursor;
use projections::runs::{self, RunList, RunListFilter, RunView};
use serde::Deserialize;

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::params::{cursor, one_of, page_limit};
use crate::point_in_time::{AsOfParams, ReadOne};

/// `GET /v1/agents/{id}/runs` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRunsParams {
    /// `queued`, `running`, `requires_action`, `completed`, `failed`, `cancelled` or
    /// `timed_out`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const STATUSES: &[&str] = &[
    "queued",
    "running",
    "requires_action",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
];

crate::point_in_time::read_schema! {
    /// A run: its read model, or with `as_of` / `as_of_version` its state folded from the
    /// store as it was then.
    RunRead(Box<RunView>)
}

#[utoipa::path(
    get, path = "/v1/runs/{id}", tag = "runs",
    params(
        ("id" = uuid::Uuid, Path),
        AsOfParams,
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
        ("If-None-Match" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "The run with every step; with `as_of` / `as_of_version`, its state then", body = RunRead, headers(("ETag" = String, description = "The run's version"))),
        (status = 304, description = "Not modified"),
        (status = 403, description = "The key lacks `runs:read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `as_of` or `as_of_version`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not caught up within the bound", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One run: status, stop reason, limits, spend, pending approvals and every step; with
/// `as_of` or `as_of_version`, its state as it was then.
pub async fn get_run(read: ReadOne) -> Result<Response, Problem> {
    let tenant = read.tenant(Scope::RunsRead)?;
    let current = runs::get_run(read.pool(), tenant, read.id());
    read.respond((RUN_AGGREGATE_TYPE, "run"), current, |run| run.version)
        .await
}

#[utoipa::path(
    get, path = "/v1/agents/{id}/runs", tag = "runs",
    params(
        ("id" = uuid::Uuid, Path, description = "The agent"),
        ListRunsParams,
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
    ),
    responses(
        (status = 200, description = "Oldest first, without steps; another tenant's agent has none", body = RunList),
        (status = 403, description = "The key lacks `runs:read`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not caught up within the bound", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Lists an agent's runs, oldest first, a page at a time.
pub async fn list_agent_runs(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(agent_id): UuidPath,
    QueryParams(params): QueryParams<ListRunsParams>,
    headers: HeaderMap,
) -> Result<Json<RunList>, Problem> {
    let principal = auth.require(Scope::RunsRead)?;
    one_of("status", params.status.as_deref(), STATUSES)?;
    let limit = page_limit(params.limit)?;
    cursor(params.cursor.as_deref(), decode_cursor)?;
    let filter = RunListFilter {
        agent_id,
        status: params.status,
        limit,
        cursor: params.cursor,
    };
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    runs::list_runs(&state.pool, principal.tenant_id, &filter)
        .await
        .map(Json)
        .map_err(|err| Problem::internal(&err))
}
