//! Billing reads (scope `billing:read`): the caller's own account, usage per day,
//! invoices and ledger, from the Postgres read models.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use domain::api_key::Scope;
use domain::billing::{BILLING_ACCOUNT_AGGREGATE_TYPE, Meter};
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use projections::billing::{self, AccountView, InvoiceView, LedgerPage, UsageDay};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::point_in_time::{AsOfParams, read_as_of};

/// The most days one usage request may span.
const MAX_USAGE_DAYS: i64 = 366;
/// Days a usage request spans when it names no `from`.
const DEFAULT_USAGE_DAYS: i64 = 31;

/// `GET /v1/billing/usage` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Only this meter; every meter when left out.
    pub meter: Option<Meter>,
    /// First day, `YYYY-MM-DD` (UTC); default 30 days before `to`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC), included; default today. At most 366 days after `from`.
    pub to: Option<String>,
}

/// Usage per meter per day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Days with usage, by day and then meter; days without usage are left out.
    pub items: Vec<UsageDay>,
}

/// The tenant's invoices.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceList {
    pub items: Vec<InvoiceView>,
}

/// `GET /v1/billing/ledger` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerParams {
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

crate::point_in_time::read_schema! {
    /// The billing account: its read model, or with `as_of` / `as_of_version` its state folded
    /// from the store as it was then.
    AccountRead(AccountView)
}

#[utoipa::path(
    get, path = "/v1/billing/account", tag = "billing",
    params(AsOfParams, ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible")),
    responses(
        (status = 200, description = "Balance, quotas and this period's usage; with `as_of` / `as_of_version`, the account's state then", body = AccountRead),
        (status = 422, description = "A bad `as_of` or `as_of_version`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `billing:read`", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// The tenant's billing account: balance, quotas with their use, usage today and this
/// month. An account nothing was billed to yet reads as empty. With `as_of` or
/// `as_of_version`, the account's state as it was then.
pub async fn get_account(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<AsOfParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let principal = auth.require(Scope::BillingRead)?;
    let tenant = principal.tenant_id;
    let kind = BILLING_ACCOUNT_AGGREGATE_TYPE;
    if let Some(then) = read_as_of(&state, tenant, &params, kind, tenant, "billing account").await?
    {
        return Ok(then);
    }
    wait_for_token(&state, tenant, &headers).await?;
    billing::account(&state.pool, tenant, Utc::now())
        .await
        .map(|account| Json(account).into_response())
        .map_err(|err| Problem::internal(&err))
}

#[utoipa::path(
    get, path = "/v1/billing/usage", tag = "billing",
    params(UsageParams, ("X-Consistency-Token" = Option<String>, Header)),
    responses(
        (status = 200, body = UsageReport),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad meter, date or range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Usage per meter per UTC day over a range of at most 366 days.
pub async fn get_usage(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<UsageParams>,
    headers: HeaderMap,
) -> Result<Json<UsageReport>, Problem> {
    let principal = auth.require(Scope::BillingRead)?;
    let (from, to) = usage_range(&params, Utc::now().date_naive())?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    let items = billing::usage(&state.pool, principal.tenant_id, params.meter, from, to)
        .await
        .map_err(|err| Problem::internal(&err))?;
    Ok(Json(UsageReport { from, to, items }))
}

/// The days a usage request covers; 422s name the parameter at fault.
fn usage_range(params: &UsageParams, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), Problem> {
    let to = match &params.to {
        Some(text) => parse_day("to", text)?,
        None => today,
    };
    let from = match &params.from {
        Some(text) => parse_day("from", text)?,
        None => to - chrono::Duration::days(DEFAULT_USAGE_DAYS - 1),
    };
    if from > to {
        return Err(Problem::invalid_field("from", "must not be after `to`"));
    }
    if (to - from).num_days() + 1 > MAX_USAGE_DAYS {
        return Err(Problem::invalid_field(
            "to",
            format!("must be at most {MAX_USAGE_DAYS} days from `from`, both included"),
        ));
    }
    Ok((from, to))
}

/// A day written exactly `YYYY-MM-DD`.
fn parse_day(field: &str, text: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| Problem::invalid_field(field, "must be a day written YYYY-MM-DD"))
}

#[utoipa::path(
    get, path = "/v1/billing/invoices", tag = "billing",
    params(("X-Consistency-Token" = Option<String>, Header)),
    responses(
        (status = 200, body = InvoiceList),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// The tenant's invoices, oldest month first (one per month at most).
pub async fn list_invoices(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
) -> Result<Json<InvoiceList>, Problem> {
    let principal = auth.require(Scope::BillingRead)?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    let items = billing::invoices(&state.pool, principal.tenant_id)
        .await
        .map_err(|err| Problem::internal(&err))?;
    Ok(Json(InvoiceList { items }))
}

#[utoipa::path(
    get, path = "/v1/billing/invoices/{id}", tag = "billing",
    params(("id" = uuid::Uuid, Path), ("X-Consistency-Token" = Option<String>, Header)),
    responses(
        (status = 200, body = InvoiceView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// One invoice with its lines.
pub async fn get_invoice(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(id): UuidPath,
    headers: HeaderMap,
) -> Result<Json<InvoiceView>, Problem> {
    let principal = auth.require(Scope::BillingRead)?;
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    billing::invoice(&state.pool, principal.tenant_id, id)
        .await
        .map_err(|err| Problem::internal(&err))?
        .map(Json)
        .ok_or_else(|| Problem::not_found("invoice"))
}

#[utoipa::path(
    get, path = "/v1/billing/ledger", tag = "billing",
    params(LedgerParams, ("X-Consistency-Token" = Option<String>, Header)),
    responses(
        (status = 200, body = LedgerPage),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Credits and usage charges in the order they happened, each with the balance after it,
/// a page at a time.
pub async fn get_ledger(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<LedgerParams>,
    headers: HeaderMap,
) -> Result<Json<LedgerPage>, Problem> {
    let principal = auth.require(Scope::BillingRead)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 1 and 200"));
    }
    let after = match &params.cursor {
        Some(cursor) => Some(billing::decode_ledger_cursor(cursor).ok_or_else(|| {
            Problem::invalid_field("cursor", "not a cursor returned by this API")
        })?),
        None => None,
    };
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    billing::ledger(&state.pool, principal.tenant_id, after, limit)
        .await
        .map(Json)
        .map_err(|err| Problem::internal(&err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(from: Option<&str>, to: Option<&str>) -> UsageParams {
        UsageParams {
            meter: None,
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        }
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn field_of(result: Result<(NaiveDate, NaiveDate), Problem>) -> String {
        result.unwrap_err().errors[0].field.clone()
    }

    #[test]
    fn defaults_to_the_31_days_up_to_today() {
        let today = day("2025-03-09");
        assert_eq!(
            usage_range(&params(None, None), today).unwrap(),
            (day("2025-02-07"), today)
        );
    }

    #[test]
    fn accepts_a_range_of_up_to_366_days() {
        let today = day("2025-03-09");
        let range = params(Some("2024-01-01"), Some("2024-12-31"));
        assert_eq!(
            usage_range(&range, today).unwrap(),
            (day("2024-01-01"), day("2024-12-31"))
        );
        let one_day = params(Some("2025-01-01"), Some("2025-01-01"));
        assert!(usage_range(&one_day, today).is_ok());
    }

    #[test]
    fn names_the_parameter_at_fault() {
        let today = day("2025-03-09");
        for (from, to, field) in [
            (Some("2025-1-01"), None, "from"),
            (Some("yesterday"), None, "from"),
            (None, Some("2025-02-30"), "to"),
            (None, Some("+2025-01-01"), "to"),
            (Some("2025-03-02"), Some("2025-03-01"), "from"),
            (Some("2024-01-01"), Some("2025-01-01"), "to"),
        ] {
            assert_eq!(field_of(usage_range(&params(from, to), today)), field);
        }
    }
}
