//! Audit reads (scope `audit:read`): the tenant's event history in commit order, the
//! events of one request, and any aggregate's state at a past point.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::api_key::Scope;
use eventstore::audit::AggregateState;
use eventstore::audit::history::{AuditCursor, AuditFilter};
use eventstore::loader::AsOf;
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::ndjson::stream_events;
use crate::point_in_time::{AsOfParams, respond_as_of};

/// `GET /v1/audit/events` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditEventsParams {
    /// Only this kind of aggregate (`agent`, `api_key`, …).
    pub aggregate_type: Option<String>,
    /// Only this aggregate.
    pub aggregate_id: Option<String>,
    /// Only this event type (`AgentPaused`, …).
    pub event_type: Option<String>,
    /// Only events caused by this request (a UUID).
    pub correlation_id: Option<String>,
    /// RFC 3339: events that occurred at or after this time.
    pub from: Option<String>,
    /// RFC 3339: events that occurred before this time.
    pub until: Option<String>,
    /// 1 to 10,000, default 1,000.
    pub limit: Option<i64>,
    /// The `cursor` of the last event read: go on after it.
    pub cursor: Option<String>,
}

/// `GET /v1/audit/correlations/{id}` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CorrelationParams {
    /// 1 to 10,000, default 1,000.
    pub limit: Option<i64>,
    /// The `cursor` of the last event read: go on after it.
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/audit/events", tag = "audit",
    params(AuditEventsParams),
    responses(
        (status = 200, description = "One AuditRecord (a CloudEvent with its chain link and cursor) per line, in global commit order", body = eventstore::audit::AuditRecord, content_type = "application/x-ndjson"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// The tenant's events in global commit order, filtered, as NDJSON; resume with the last
/// line's `cursor`.
pub async fn list_audit_events(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<AuditEventsParams>,
) -> Result<Response, Problem> {
    let principal = auth.require(Scope::AuditRead)?;
    let (limit, cursor) = paging(params.limit, params.cursor.as_deref())?;
    let filter = AuditFilter {
        tenant_id: Some(principal.tenant_id),
        aggregate_type: params
            .aggregate_type
            .map(|t| known_type(&state, t))
            .transpose()?,
        aggregate_id: params
            .aggregate_id
            .map(|id| plain_text("aggregate_id", id))
            .transpose()?,
        event_type: params.event_type.map(event_type).transpose()?,
        correlation_id: params
            .correlation_id
            .map(|id| uuid_text("correlation_id", &id))
            .transpose()?,
        occurred_from: params.from.map(|t| time("from", &t)).transpose()?,
        occurred_until: params.until.map(|t| time("until", &t)).transpose()?,
    };
    if let (Some(from), Some(until)) = (filter.occurred_from, filter.occurred_until)
        && from >= until
    {
        return Err(Problem::invalid_field("until", "must be after `from`"));
    }
    stream_events(state.pool.clone(), filter, cursor, limit).await
}

#[utoipa::path(
    get, path = "/v1/audit/correlations/{id}", tag = "audit",
    params(("id" = Uuid, Path, description = "The correlation id (`X-Correlation-Id`) of a request"), CorrelationParams),
    responses(
        (status = 200, description = "Every event the request caused, across aggregates, in commit order, one AuditRecord per line", body = eventstore::audit::AuditRecord, content_type = "application/x-ndjson"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Every event caused by one request, across aggregates, in order, as NDJSON.
pub async fn list_correlated_events(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(id): UuidPath,
    QueryParams(params): QueryParams<CorrelationParams>,
) -> Result<Response, Problem> {
    let principal = auth.require(Scope::AuditRead)?;
    let (limit, cursor) = paging(params.limit, params.cursor.as_deref())?;
    let filter = AuditFilter {
        tenant_id: Some(principal.tenant_id),
        correlation_id: Some(id.to_string()),
        ..AuditFilter::default()
    };
    stream_events(state.pool.clone(), filter, cursor, limit).await
}

#[utoipa::path(
    get, path = "/v1/audit/aggregates/{aggregate_type}/{id}", tag = "audit",
    params(
        ("aggregate_type" = String, Path, description = "agent, api_key, billing_account, memory, run, tenant, tool, tool_invocation or webhook_subscription"),
        ("id" = Uuid, Path),
        AsOfParams,
    ),
    responses(
        (status = 200, body = AggregateState, headers(("ETag" = String, description = "The version folded up to"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such aggregate of this tenant at that point", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Any aggregate's state, now or as it was at `as_of` / `as_of_version`, folded from its
/// events with the same domain code that handles commands.
pub async fn get_aggregate_state(
    State(state): State<AppState>,
    auth: Authenticated,
    path: Result<Path<(String, String)>, PathRejection>,
    QueryParams(params): QueryParams<AsOfParams>,
) -> Result<Response, Problem> {
    let principal = auth.require(Scope::AuditRead)?;
    let Path((aggregate_type, id)) =
        path.map_err(|err| Problem::invalid_field("id", err.body_text()))?;
    let aggregate_type = known_type(&state, aggregate_type)?;
    let id = Uuid::parse_str(&id).map_err(|_| Problem::invalid_field("id", "must be a UUID"))?;
    let as_of = params.point()?.unwrap_or(AsOf::Latest);
    let tenant = principal.tenant_id;
    respond_as_of(&state, tenant, &aggregate_type, id, as_of, &aggregate_type).await
}

fn paging(limit: Option<i64>, cursor: Option<&str>) -> Result<(i64, AuditCursor), Problem> {
    let limit = limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(Problem::invalid_field(
            "limit",
            "must be between 1 and 10000",
        ));
    }
    let cursor = match cursor {
        Some(text) => AuditCursor::decode(text)
            .ok_or_else(|| Problem::invalid_field("cursor", "not a cursor returned by this API"))?,
        None => AuditCursor::default(),
    };
    Ok((limit, cursor))
}

fn known_type(state: &AppState, aggregate_type: String) -> Result<String, Problem> {
    if state
        .aggregate_states
        .aggregate_types()
        .any(|known| known == aggregate_type)
    {
        Ok(aggregate_type)
    } else {
        let known: Vec<_> = state.aggregate_states.aggregate_types().collect();
        Err(Problem::invalid_field(
            "aggregate_type",
            format!("must be one of {}", known.join(", ")),
        ))
    }
}

/// Up to 200 characters without control characters (Postgres text cannot hold NUL).
fn plain_text(field: &str, value: String) -> Result<String, Problem> {
    if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            field,
            "must be 1 to 200 characters without control characters",
        ));
    }
    Ok(value)
}

fn event_type(value: String) -> Result<String, Problem> {
    let valid = !value.is_empty()
        && value.len() <= 100
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(value)
    } else {
        Err(Problem::invalid_field(
            "event_type",
            "must be an event type name such as AgentPaused",
        ))
    }
}

fn uuid_text(field: &str, value: &str) -> Result<String, Problem> {
    Uuid::parse_str(value)
        .map(|id| id.to_string())
        .map_err(|_| Problem::invalid_field(field, "must be a UUID"))
}

fn time(field: &str, value: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| Problem::invalid_field(field, "must be an RFC 3339 date-time"))
}
