//! Webhook subscription reads and their delivery logs (scope `admin`).

use ::webhooks::DeliveryList;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use domain::api_key::Scope;
use domain::webhook::WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE;
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use projections::page::decode_cursor;
use projections::webhooks::{self as subscriptions, WebhookList, WebhookView};
use serde::Deserialize;

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::point_in_time::{AsOfParams, read_as_of};

/// `GET /v1/webhooks` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListWebhooksParams {
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /v1/webhooks/{id}/deliveries` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesParams {
    /// `pending`, `delivered`, `failed` or `cancelled`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    params(ListWebhooksParams, ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible")),
    responses(
        (status = 200, body = WebhookList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Lists the tenant's webhook subscriptions, oldest first; secrets are never shown.
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<ListWebhooksParams>,
    headers: HeaderMap,
) -> Result<Json<WebhookList>, Problem> {
    let principal = auth.require(Scope::Admin)?;
    let limit = page_limit(params.limit)?;
    check_cursor(params.cursor.as_deref())?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    subscriptions::list_webhooks(
        &state.pool,
        principal.tenant_id,
        limit,
        params.cursor.as_deref(),
    )
    .await
    .map(Json)
    .map_err(|err| Problem::internal(&err))
}

crate::point_in_time::read_schema! {
    /// A webhook subscription: its read model, or with `as_of` / `as_of_version` its state folded from the
    /// store as it was then.
    WebhookRead(WebhookView)
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = uuid::Uuid, Path), AsOfParams, ("X-Consistency-Token" = Option<String>, Header)),
    responses(
        (status = 200, description = "The subscription; with `as_of` / `as_of_version`, its state then", body = WebhookRead),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One of the tenant's webhook subscriptions; with `as_of` or `as_of_version`, its state
/// as it was then.
pub async fn get_webhook(
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
        WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE,
        id,
        "webhook subscription",
    )
    .await?
    {
        return Ok(then);
    }
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    visible_webhook(&state, principal.tenant_id, id)
        .await
        .map(|webhook| Json(webhook).into_response())
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = uuid::Uuid, Path), ListDeliveriesParams),
    responses(
        (status = 200, description = "Newest first", body = DeliveryList),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// A subscription's delivery log, newest first: each event it was sent, its attempts,
/// the last status code or error, and when the next attempt is due.
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(id): UuidPath,
    QueryParams(params): QueryParams<ListDeliveriesParams>,
    headers: HeaderMap,
) -> Result<Json<DeliveryList>, Problem> {
    let principal = auth.require(Scope::Admin)?;
    if let Some(status) = &params.status
        && !::webhooks::log::STATUSES.contains(&status.as_str())
    {
        return Err(Problem::invalid_field(
            "status",
            "must be pending, delivered, failed or cancelled",
        ));
    }
    let limit = page_limit(params.limit)?;
    check_cursor(params.cursor.as_deref())?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    visible_webhook(&state, principal.tenant_id, id).await?;
    ::webhooks::log::list_deliveries(
        &state.pool,
        principal.tenant_id,
        id,
        params.status.as_deref(),
        limit,
        params.cursor.as_deref(),
    )
    .await
    .map(Json)
    .map_err(|err| Problem::internal(&err))
}

async fn visible_webhook(
    state: &AppState,
    tenant_id: uuid::Uuid,
    id: uuid::Uuid,
) -> Result<WebhookView, Problem> {
    subscriptions::get_webhook(&state.pool, tenant_id, id)
        .await
        .map_err(|err| Problem::internal(&err))?
        .ok_or_else(|| Problem::not_found("webhook subscription"))
}

fn page_limit(limit: Option<i64>) -> Result<i64, Problem> {
    let limit = limit.unwrap_or(50);
    if (1..=200).contains(&limit) {
        Ok(limit)
    } else {
        Err(Problem::invalid_field("limit", "must be between 1 and 200"))
    }
}

// Only the decoded id reaches the database, never the cursor's text.
fn check_cursor(cursor: Option<&str>) -> Result<(), Problem> {
    match cursor {
        Some(cursor) if decode_cursor(cursor).is_none() => Err(Problem::invalid_field(
            "cursor",
            "not a cursor returned by this API",
        )),
        _ => Ok(()),
    }
}
