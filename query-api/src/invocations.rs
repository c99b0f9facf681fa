//! Tool invocation reads (scope `tools:read`): each call's status, outcome and duration.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use domain::api_key::Scope;
use domain::tool_invocation::TOOL_INVOCATION_AGGREGATE_TYPE;
use eventstore::web::{Authenticated, Problem, QueryParams};
use projections::page::decode_position_cursor;
use projections::tool_invocations::{
    self, InvocationList, InvocationListFilter, ToolInvocationView,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::params::{cursor, one_of, page_limit};
use crate::point_in_time::{AsOfParams, ReadOne};

/// `GET /v1/invocations` query parameters; filters combine.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListInvocationsParams {
    /// Calls made by this agent.
    pub agent_id: Option<Uuid>,
    /// Calls made within this run.
    pub run_id: Option<Uuid>,
    /// Calls of this tool.
    pub tool_id: Option<Uuid>,
    /// `requested`, `running`, `succeeded`, `failed` or `timed_out`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const STATUSES: &[&str] = &["requested", "running", "succeeded", "failed", "timed_out"];

#[utoipa::path(
    get, path = "/v1/invocations", tag = "tools",
    params(ListInvocationsParams, ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible")),
    responses(
        (status = 200, description = "Oldest request first, with outcomes and `duration_ms`", body = InvocationList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `tools:read`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not caught up within the bound", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Lists the tenant's tool invocations in the order they were requested, a page at a time.
pub async fn list_invocations(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<ListInvocationsParams>,
    headers: HeaderMap,
) -> Result<Json<InvocationList>, Problem> {
    let principal = auth.require(Scope::ToolsRead)?;
    one_of("status", params.status.as_deref(), STATUSES)?;
    let limit = page_limit(params.limit)?;
    cursor(params.cursor.as_deref(), decode_position_cursor)?;
    let filter = InvocationListFilter {
        agent_id: params.agent_id,
        run_id: params.run_id,
        tool_id: params.tool_id,
        status: params.status,
        limit,
        cursor: params.cursor,
    };
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    tool_invocations::list_invocations(&state.pool, principal.tenant_id, &filter)
        .await
        .map(Json)
        .map_err(|err| Problem::internal(&err))
}

crate::point_in_time::read_schema! {
    /// A tool invocation: its read model, or with `as_of` / `as_of_version` its state folded from the
    /// store as it was then.
    InvocationRead(Box<ToolInvocationView>)
}

#[utoipa::path(
    get, path = "/v1/invocations/{id}", tag = "tools",
    params(
        ("id" = Uuid, Path),
        AsOfParams,
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
        ("If-None-Match" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "The invocation; with `as_of` / `as_of_version`, its state then", body = InvocationRead, headers(("ETag" = String, description = "The invocation's version"))),
        (status = 304, description = "Not modified"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `as_of` or `as_of_version`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One tool invocation: the exact tool version, arguments, status, outcome and duration;
/// with `as_of` or `as_of_version`, its state as it was then.
pub async fn get_invocation(read: ReadOne) -> Result<Response, Problem> {
    let tenant = read.tenant(Scope::ToolsRead)?;
    let current = tool_invocations::get_invocation(read.pool(), tenant, read.id());
    let kind = (TOOL_INVOCATION_AGGREGATE_TYPE, "tool invocation");
    read.respond(kind, current, |invocation| invocation.version)
        .await
}
