//! Tool reads (scope `tools:read`): the registry, each tool with every version it had.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use domain::api_key::Scope;
use domain::tool::TOOL_AGGREGATE_TYPE;
use eventstore::web::{Authenticated, Problem, QueryParams};
use projections::agents::decode_cursor;
use projections::tools::{self, ToolDetail, ToolList, ToolListFilter, ToolVersionView};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::params::{cursor, one_of, page_limit};
use crate::point_in_time::{AsOfParams, ReadOne};

/// `GET /v1/tools` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListToolsParams {
    /// `active`, `deprecated` or `disabled`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/tools", tag = "tools",
    params(ListToolsParams, ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible")),
    responses(
        (status = 200, body = ToolList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `tools:read`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not caught up within the bound", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Lists the tenant's tools at their latest version, oldest first, a page at a time.
pub async fn list_tools(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<ListToolsParams>,
    headers: HeaderMap,
) -> Result<Json<ToolList>, Problem> {
    let principal = auth.require(Scope::ToolsRead)?;
    one_of(
        "status",
        params.status.as_deref(),
        &["active", "deprecated", "disabled"],
    )?;
    let limit = page_limit(params.limit)?;
    cursor(params.cursor.as_deref(), decode_cursor)?;
    let filter = ToolListFilter {
        status: params.status,
        limit,
        cursor: params.cursor,
    };
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    tools::list_tools(&state.pool, principal.tenant_id, &filter)
        .await
        .map(Json)
        .map_err(|err| Problem::internal(&err))
}

crate::point_in_time::read_schema! {
    /// A tool: its read model, or with `as_of` / `as_of_version` its state folded from the
    /// store as it was then.
    ToolRead(ToolDetail)
}

#[utoipa::path(
    get, path = "/v1/tools/{id}", tag = "tools",
    params(
        ("id" = Uuid, Path),
        AsOfParams,
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
        ("If-None-Match" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "The tool and every version it had, oldest first; with `as_of` / `as_of_version`, its state then", body = ToolRead, headers(("ETag" = String, description = "The tool's aggregate version"))),
        (status = 304, description = "Not modified"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `as_of` or `as_of_version`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One tool with all its versions; with `as_of` or `as_of_version`, its state as it was
/// then.
pub async fn get_tool(read: ReadOne) -> Result<Response, Problem> {
    let tenant = read.tenant(Scope::ToolsRead)?;
    let current = tools::get_tool(read.pool(), tenant, read.id());
    read.respond((TOOL_AGGREGATE_TYPE, "tool"), current, |tool| {
        tool.tool.version
    })
    .await
}

#[utoipa::path(
    get, path = "/v1/tools/{id}/versions/{version}", tag = "tools",
    params(
        ("id" = Uuid, Path),
        ("version" = u32, Path, description = "1 for the registered version, then +1 per published one"),
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
    ),
    responses(
        (status = 200, body = ToolVersionView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tool or version", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One version of a tool; versions never change once published.
pub async fn get_tool_version(
    State(state): State<AppState>,
    auth: Authenticated,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<ToolVersionView>, Problem> {
    let principal = auth.require(Scope::ToolsRead)?;
    let Path((id, number)) = path.map_err(|e| Problem::invalid_field("id", e.body_text()))?;
    let id = Uuid::parse_str(&id).map_err(|_| Problem::invalid_field("id", "must be a UUID"))?;
    let number = number
        .parse::<u32>()
        .ok()
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| Problem::invalid_field("version", "must be a whole number from 1"))?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    tools::get_tool_version(&state.pool, principal.tenant_id, id, number)
        .await
        .map_err(|err| Problem::internal(&err))?
        .map(Json)
        .ok_or_else(|| Problem::not_found("tool version"))
}
