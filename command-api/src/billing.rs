//! Billing commands (scope `billing:write`): grant credits, set and remove quotas, close
//! a month. The account is the tenant's own: its id is the tenant id, so no request names
//! it. Usage is not recorded here but by the billing reactor, from the events that cause
//! it; [`require_allowance`] is the check that commands consuming a meter make first.

mod allowance;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::api_key::Scope;
use domain::billing::{BillingCommand, Meter, QuotaPeriod};
use eventstore::CommandReceipt;
use eventstore::web::Problem;
use serde::Deserialize;
use uuid::Uuid;

use crate::agents::EmptyRequest;
use crate::receipt::{CommandAccepted, accepted, respond};
use crate::request::CommandRequest;
use crate::{ApiError, AppState};

pub use allowance::{require_allowance, require_allowances};

/// Where the account is read (`GET` on the query API).
const ACCOUNT: &str = "/v1/billing/account";
const INVOICES: &str = "/v1/billing/invoices";

/// `POST /v1/billing/credits`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCreditsRequest {
    /// Micro-units to add, from 1 to 10^15.
    pub amount_micros: i64,
    /// Why, at most 500 characters.
    pub reason: Option<String>,
}

/// `PUT /v1/billing/quotas/{meter}`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuotaRequest {
    /// Units allowed per period; zero or more. Commands that would consume the meter are
    /// refused (402) once the period's usage reaches it.
    pub limit: i64,
    pub period: QuotaPeriod,
}

/// One path segment as text; checked by the handler after authentication.
#[derive(Debug, Clone)]
pub struct PathSegment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathSegment {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(segment) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::invalid_field("path", e.body_text()))?;
        Ok(Self(segment))
    }
}

/// The meter a path names, or a 422 naming `meter`.
fn parse_meter(segment: &str) -> Result<Meter, Problem> {
    Meter::ALL
        .into_iter()
        .find(|meter| meter.as_str() == segment)
        .ok_or_else(|| {
            let names: Vec<&str> = Meter::ALL.iter().map(Meter::as_str).collect();
            Problem::invalid_field("meter", format!("must be one of {}", names.join(", ")))
        })
}

#[utoipa::path(
    post, path = "/v1/billing/credits", tag = "billing",
    request_body = GrantCreditsRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response and grant nothing")),
    responses(
        (status = 200, description = "Granted; `id` is the account's (the tenant's) id", body = CommandAccepted),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `billing:write`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Adds credits to the tenant's balance.
pub async fn grant_credits(
    State(state): State<AppState>,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::BillingWrite)?;
    let body: GrantCreditsRequest = request.body()?;
    let now = Utc::now();
    let command = BillingCommand::GrantCredits {
        tenant_id: request.tenant_id(),
        amount_micros: body.amount_micros,
        reason: body.reason,
        now,
    };
    change(&state, &request, command, now).await
}

#[utoipa::path(
    put, path = "/v1/billing/quotas/{meter}", tag = "billing",
    request_body = SetQuotaRequest,
    params(
        ("meter" = Meter, Path, description = "The meter to cap"),
        ("Idempotency-Key" = Option<String>, Header),
    ),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown meter or invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Caps a meter's usage per day or month, replacing any earlier quota on it.
pub async fn set_quota(
    State(state): State<AppState>,
    PathSegment(meter): PathSegment,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::BillingWrite)?;
    let meter = parse_meter(&meter)?;
    let body: SetQuotaRequest = request.body()?;
    let now = Utc::now();
    let command = BillingCommand::SetQuota {
        tenant_id: request.tenant_id(),
        meter,
        limit: body.limit,
        period: body.period,
        now,
    };
    change(&state, &request, command, now).await
}

#[utoipa::path(
    delete, path = "/v1/billing/quotas/{meter}", tag = "billing",
    params(("meter" = Meter, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The meter has no quota", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown meter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Removes the quota on a meter.
pub async fn remove_quota(
    State(state): State<AppState>,
    PathSegment(meter): PathSegment,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::BillingWrite)?;
    let meter = parse_meter(&meter)?;
    let EmptyRequest {} = request.optional_body()?;
    let now = Utc::now();
    let command = BillingCommand::RemoveQuota {
        tenant_id: request.tenant_id(),
        meter,
        now,
    };
    change(&state, &request, command, now).await
}

#[utoipa::path(
    post, path = "/v1/billing/periods/{period}/close", tag = "billing",
    request_body(content = Option<EmptyRequest>, description = "Optional, empty"),
    params(
        ("period" = String, Path, description = "The month to invoice, `YYYY-MM`; it must have ended"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays answer with the same invoice"),
    ),
    responses(
        (status = 201, description = "Invoiced; `id` is the invoice's id", body = CommandAccepted, headers(("Location" = String, description = "The invoice"))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already closed, or not ended yet", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a month written YYYY-MM", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Invoices a month that has ended, with a line per meter used; the month takes no more
/// usage afterwards.
pub async fn close_period(
    State(state): State<AppState>,
    PathSegment(period): PathSegment,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::BillingWrite)?;
    let EmptyRequest {} = request.optional_body()?;
    let now = Utc::now();
    let invoice_id = Uuid::now_v7();
    let command = BillingCommand::CloseBillingPeriod {
        tenant_id: request.tenant_id(),
        period,
        invoice_id,
        now,
    };
    let receipt = execute(&state, &request, command, now, StatusCode::CREATED).await?;
    let invoice_id = if receipt.replayed {
        issued_invoice(&state, &receipt).await?
    } else {
        invoice_id
    };
    let body = CommandAccepted::of(&receipt)
        .map(|account| CommandAccepted {
            id: invoice_id,
            ..account
        })
        .ok_or_else(|| Problem::internal(&"stored account id is not a UUID"))?;
    Ok(respond(
        &receipt,
        StatusCode::CREATED,
        INVOICES,
        invoice_id,
        Json(body),
    ))
}

/// The invoice a replayed close issued the first time: its event is the last one the
/// command appended.
async fn issued_invoice(state: &AppState, receipt: &CommandReceipt) -> Result<Uuid, Problem> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT (payload -> 'InvoiceIssued' ->> 'invoice_id')::uuid FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
    )
    .bind(&receipt.aggregate_type)
    .bind(&receipt.aggregate_id)
    .bind(i64::try_from(receipt.version).unwrap_or(i64::MAX))
    .fetch_optional(&state.pool)
    .await
    .map_err(|err| Problem::internal(&err))?
    .flatten();
    id.ok_or_else(|| Problem::internal(&"a replayed close has no invoice event"))
}

/// Executes `command` on the caller's own account and answers with the receipt.
async fn change(
    state: &AppState,
    request: &CommandRequest,
    command: BillingCommand,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let receipt = execute(state, request, command, now, StatusCode::OK).await?;
    Ok(accepted(&receipt, StatusCode::OK, ACCOUNT))
}

/// Executes `command` on the caller's own account.
async fn execute(
    state: &AppState,
    request: &CommandRequest,
    command: BillingCommand,
    now: DateTime<Utc>,
    status: StatusCode,
) -> Result<CommandReceipt, ApiError> {
    let context = request.context(now, status)?;
    let account = request.tenant_id().to_string();
    Ok(state.billing.execute(&account, command, &context).await?)
}
