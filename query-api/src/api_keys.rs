//! API key reads (scope `admin`): a tenant's keys, never their secrets.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use domain::api_key::{API_KEY_AGGREGATE_TYPE, Scope};
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use projections::api_keys::{self, ApiKeyView};
use serde::Serialize;

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::point_in_time::{AsOfParams, read_as_of};

crate::point_in_time::read_schema! {
    /// An API key: its read model, or with `as_of` / `as_of_version` its state folded from
    /// the store as it was then (the key hash redacted).
    ApiKeyRead(ApiKeyView)
}

/// The tenant's API keys.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyView>,
}

#[utoipa::path(
    get, path = "/v1/api-keys", tag = "api-keys",
    params(("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible")),
    responses(
        (status = 200, body = ApiKeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Lists the tenant's API keys, oldest first; secrets are never shown.
pub async fn list_api_keys(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
) -> Result<Json<ApiKeyList>, Problem> {
    let principal = auth.require(Scope::Admin)?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    let items = api_keys::list_api_keys(&state.pool, principal.tenant_id)
        .await
        .map_err(|err| Problem::internal(&err))?;
    Ok(Json(ApiKeyList { items }))
}

#[utoipa::path(
    get, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = uuid::Uuid, Path), AsOfParams, ("X-Consistency-Token" = Option<String>, Header)),
    responses(
        (status = 200, body = ApiKeyRead),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One of the tenant's API keys; with `as_of` or `as_of_version`, as it was then.
pub async fn get_api_key(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(id): UuidPath,
    QueryParams(params): QueryParams<AsOfParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let principal = auth.require(Scope::Admin)?;
    let tenant = principal.tenant_id;
    if let Some(then) = read_as_of(
        &state,
        tenant,
        &params,
        API_KEY_AGGREGATE_TYPE,
        id,
        "API key",
    )
    .await?
    {
        return Ok(then);
    }
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    api_keys::get_api_key(&state.pool, principal.tenant_id, id)
        .await
        .map_err(|err| Problem::internal(&err))?
        .map(|key| Json(ApiKeyRead::Current(key)).into_response())
        .ok_or_else(|| Problem::not_found("API key"))
}
