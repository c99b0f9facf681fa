//! What the query API reads from the billing tables: always one tenant's rows only.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::billing::{InvoiceLine, Meter, Quota, QuotaPeriod};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ProjectionError;

/// A tenant's billing account: balance, quotas and the current period's usage.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// Credits granted minus usage charged, in micro-units; negative when usage outran
    /// the credits (billing is postpaid: a negative balance does not stop work).
    pub balance_micros: i64,
    /// Each meter's quota with its use in the current period, by meter.
    pub quotas: Vec<QuotaView>,
    /// Every meter's usage today and this month (UTC).
    pub usage: Vec<MeterUsage>,
    /// The account's version (0 before its first event): send a command's consistency
    /// token to read past it.
    pub version: i64,
    /// When the first billing command opened the account.
    pub opened_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A quota and how much of it the current period has used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    pub meter: Meter,
    pub limit: i64,
    pub period: QuotaPeriod,
    /// The current period: `YYYY-MM-DD` for a daily quota, `YYYY-MM` for a monthly one.
    pub period_key: String,
    /// Units used in the current period.
    pub used: i64,
}

/// One meter's usage in the current day and month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MeterUsage {
    pub meter: Meter,
    pub today: i64,
    pub this_month: i64,
}

/// Units of one meter used on one UTC day, and what they cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UsageDay {
    pub day: NaiveDate,
    #[schema(value_type = Meter)]
    pub meter: String,
    pub quantity: i64,
    pub amount_micros: i64,
}

/// An invoice and its lines, one per meter used in the month.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InvoiceView {
    pub id: Uuid,
    /// The month invoiced, `YYYY-MM`.
    pub period: String,
    #[schema(value_type = Vec<InvoiceLine>)]
    pub lines: sqlx::types::Json<Vec<InvoiceLine>>,
    pub total_micros: i64,
    pub issued_at: DateTime<Utc>,
}

/// One change to the balance: a credit or a usage charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LedgerEntry {
    /// The account version of the entry's event; entries are ordered by it.
    pub sequence: i64,
    /// `credit` or `usage`.
    pub kind: String,
    /// The change to the balance in micro-units: positive for credits, negative for usage.
    pub amount_micros: i64,
    pub balance_after_micros: i64,
    /// Usage only: the meter and units charged.
    #[schema(value_type = Option<Meter>)]
    pub meter: Option<String>,
    pub quantity: Option<i64>,
    /// Credits only: why they were granted.
    pub reason: Option<String>,
    /// Usage only: the id of the event that caused it.
    pub source_event_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

/// One page of the ledger and the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerPage {
    pub items: Vec<LedgerEntry>,
    pub next_cursor: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    balance_micros: i64,
    quotas: sqlx::types::Json<BTreeMap<Meter, Quota>>,
    version: i64,
    opened_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The tenant's account as of `now` (which decides the current day and month); an
/// account with no events yet reads as empty, at version 0.
pub async fn account(
    pool: &PgPool,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<AccountView, ProjectionError> {
    let row: Option<AccountRow> = sqlx::query_as(
        "SELECT balance_micros, quotas, version, opened_at, updated_at
           FROM billing_account WHERE id = $1 AND tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    let today = now.date_naive();
    let month_start = today.with_day(1).unwrap_or(today);
    let used: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT meter,
                COALESCE(sum(quantity) FILTER (WHERE day = $2), 0)::bigint,
                sum(quantity)::bigint
           FROM billing_usage_daily
          WHERE tenant_id = $1 AND day >= $3 AND day <= $2
          GROUP BY meter",
    )
    .bind(tenant_id)
    .bind(today)
    .bind(month_start)
    .fetch_all(pool)
    .await?;
    let usage: Vec<MeterUsage> = Meter::ALL
        .into_iter()
        .map(|meter| {
            let (today, this_month) = used
                .iter()
                .find(|(name, _, _)| name == meter.as_str())
                .map_or((0, 0), |(_, today, month)| (*today, *month));
            MeterUsage {
                meter,
                today,
                this_month,
            }
        })
        .collect();
    let Some(row) = row else {
        return Ok(AccountView {
            balance_micros: 0,
            quotas: Vec::new(),
            usage,
            version: 0,
            opened_at: None,
            updated_at: None,
        });
    };
    let quotas = row
        .quotas
        .0
        .into_iter()
        .map(|(meter, quota)| {
            let meter_usage = usage.iter().find(|u| u.meter == meter);
            let used = meter_usage.map_or(0, |u| match quota.period {
                QuotaPeriod::Day => u.today,
                QuotaPeriod::Month => u.this_month,
            });
            QuotaView {
                meter,
                limit: quota.limit,
                period: quota.period,
                period_key: quota.period.key_of(now),
                used,
            }
        })
        .collect();
    Ok(AccountView {
        balance_micros: row.balance_micros,
        quotas,
        usage,
        version: row.version,
        opened_at: Some(row.opened_at),
        updated_at: Some(row.updated_at),
    })
}

/// The tenant's usage per meter per day from `from` to `to` (both included), by day and
/// then meter name; `meter` narrows it to one meter.
pub async fn usage(
    pool: &PgPool,
    tenant_id: Uuid,
    meter: Option<Meter>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageDay>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT day, meter, quantity, amount_micros FROM billing_usage_daily
          WHERE tenant_id = $1 AND day >= $2 AND day <= $3
            AND ($4::text IS NULL OR meter = $4)
          ORDER BY day, meter",
    )
    .bind(tenant_id)
    .bind(from)
    .bind(to)
    .bind(meter.map(|meter| meter.as_str()))
    .fetch_all(pool)
    .await?)
}

/// The tenant's invoices, oldest month first.
pub async fn invoices(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<InvoiceView>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT id, period, lines, total_micros, issued_at FROM billing_invoices
          WHERE tenant_id = $1 ORDER BY period",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?)
}

/// One of the tenant's invoices.
pub async fn invoice(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<InvoiceView>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT id, period, lines, total_micros, issued_at FROM billing_invoices
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// A page of at most `limit` ledger entries after the `after` sequence, oldest first.
pub async fn ledger(
    pool: &PgPool,
    tenant_id: Uuid,
    after: Option<i64>,
    limit: i64,
) -> Result<LedgerPage, ProjectionError> {
    let mut items: Vec<LedgerEntry> = sqlx::query_as(
        "SELECT sequence, kind, amount_micros, balance_after_micros, meter, quantity, reason,
                source_event_id, occurred_at
           FROM billing_ledger
          WHERE tenant_id = $1 AND sequence > $2
          ORDER BY sequence
          LIMIT $3",
    )
    .bind(tenant_id)
    .bind(after.unwrap_or_default())
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let limit = usize::try_from(limit).unwrap_or_default();
    let next_cursor = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|last| encode_ledger_cursor(last.sequence))
    });
    Ok(LedgerPage {
        items,
        next_cursor: next_cursor.flatten(),
    })
}

/// The opaque cursor after ledger entry `sequence`.
pub fn encode_ledger_cursor(sequence: i64) -> String {
    URL_SAFE_NO_PAD.encode(sequence.to_be_bytes())
}

/// The sequence a ledger cursor points after; `None` for garbage.
pub fn decode_ledger_cursor(cursor: &str) -> Option<i64> {
    let bytes: [u8; 8] = URL_SAFE_NO_PAD.decode(cursor).ok()?.try_into().ok()?;
    Some(i64::from_be_bytes(bytes)).filter(|sequence| *sequence > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_cursors_round_trip_and_garbage_is_refused() {
        for sequence in [1, 2, 1_000, i64::MAX] {
            assert_eq!(
                decode_ledger_cursor(&encode_ledger_cursor(sequence)),
                Some(sequence)
            );
        }
        for garbage in [
            "",
            "x",
            "AAAAAAAAAAA",
            "not a cursor!",
            &encode_ledger_cursor(0),
        ] {
            assert_eq!(decode_ledger_cursor(garbage), None, "{garbage:?}");
        }
    }
}
