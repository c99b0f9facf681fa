//! The billing read models in Postgres, all fed by one projection of the billing account
//! events: the account (`billing_account`: balance, quotas, version), usage per meter per
//! day (`billing_usage_daily`), invoices (`billing_invoices`) and the ledger of credits
//! and usage with the balance after each (`billing_ledger`).
//!
//! Every event first moves the account row to its version; the other tables are written
//! only when that succeeds, so a redelivered event changes nothing anywhere.

mod queries;

use chrono::{DateTime, Utc};
use domain::billing::{
    BILLING_ACCOUNT_AGGREGATE_TYPE, BillingEvent, CreditsGranted, UsageRecorded,
};
use eventstore::CloudEvent;
use sqlx::{Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::ProjectionError;
use crate::pg_model::{PgModel, PgProjection, check_duplicate, id_and_version};

pub use queries::{
    AccountView, InvoiceView, LedgerEntry, LedgerPage, MeterUsage, QuotaView, UsageDay, account,
    decode_ledger_cursor, encode_ledger_cursor, invoice, invoices, ledger, usage,
};

/// The projection's name (consumer and checkpoint).
pub const BILLING_PROJECTION: &str = "billing_pg";
/// The account table: one row per tenant, keyed by the tenant id (the aggregate id).
pub const BILLING_ACCOUNT_TABLE: &str = "billing_account";

/// The billing read models.
#[derive(Debug, Clone, Copy, Default)]
pub struct BillingModel;

/// The Postgres projection of billing accounts.
pub type BillingProjection = PgProjection<BillingModel>;

/// Creates the billing tables when they do not exist yet.
pub async fn ensure_tables(pool: &PgPool) -> Result<(), ProjectionError> {
    BillingProjection::new(pool.clone(), BillingModel)
        .ensure_tables()
        .await
}

#[async_trait::async_trait]
impl PgModel for BillingModel {
    fn name(&self) -> &'static str {
        BILLING_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[BILLING_ACCOUNT_AGGREGATE_TYPE]
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS billing_account (
                 id             uuid PRIMARY KEY,
                 tenant_id      uuid        NOT NULL,
                 balance_micros bigint      NOT NULL,
                 quotas         jsonb       NOT NULL,
                 version        bigint      NOT NULL,
                 opened_at      timestamptz NOT NULL,
                 updated_at     timestamptz NOT NULL);
             CREATE TABLE IF NOT EXISTS billing_usage_daily (
                 tenant_id     uuid   NOT NULL,
                 day           date   NOT NULL,
                 meter         text   NOT NULL,
                 quantity      bigint NOT NULL,
                 amount_micros bigint NOT NULL,
                 PRIMARY KEY (tenant_id, day, meter));
             CREATE TABLE IF NOT EXISTS billing_invoices (
                 id           uuid PRIMARY KEY,
                 tenant_id    uuid        NOT NULL,
                 period       text        NOT NULL,
                 lines        jsonb       NOT NULL,
                 total_micros bigint      NOT NULL,
                 issued_at    timestamptz NOT NULL);
             CREATE INDEX IF NOT EXISTS billing_invoices_tenant
                 ON billing_invoices (tenant_id, period);
             CREATE TABLE IF NOT EXISTS billing_ledger (
                 tenant_id            uuid        NOT NULL,
                 sequence             bigint      NOT NULL,
                 kind                 text        NOT NULL,
                 amount_micros        bigint      NOT NULL,
                 balance_after_micros bigint      NOT NULL,
                 meter                text,
                 quantity             bigint,
                 reason               text,
                 source_event_id      uuid,
                 occurred_at          timestamptz NOT NULL,
                 PRIMARY KEY (tenant_id, sequence));",
        )
        .await?;
        Ok(())
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &CloudEvent,
    ) -> Result<(), ProjectionError> {
        let (tenant_id, version) = id_and_version(event)?;
        let billing_event: BillingEvent = crate::decode::domain_event(event)?;
        let at = billing_event.occurred_at();
        if let BillingEvent::BillingAccountOpened(opened) = &billing_event {
            sqlx::query(
                "INSERT INTO billing_account (id, tenant_id, balance_micros, quotas, version,
                                              opened_at, updated_at)
                 VALUES ($1, $2, 0, '{}', $3, $4, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(tenant_id)
            .bind(opened.tenant_id)
            .bind(version)
            .bind(opened.opened_at)
            .execute(conn)
            .await?;
            return Ok(());
        }
        if !advance(conn, tenant_id, version, at).await? {
            return Ok(());
        }
        match billing_event {
            BillingEvent::CreditsGranted(granted) => {
                credit(conn, tenant_id, version, &granted, at).await
            }
            BillingEvent::UsageRecorded(usage) => charge(conn, tenant_id, version, &usage).await,
            BillingEvent::QuotaSet(set) => {
                sqlx::query(
                    "UPDATE billing_account
                        SET quotas = quotas || jsonb_build_object($2::text,
                                jsonb_build_object('limit', $3::bigint, 'period', $4::text))
                      WHERE id = $1",
                )
                .bind(tenant_id)
                .bind(set.meter.as_str())
                .bind(set.limit)
                .bind(set.period.as_str())
                .execute(conn)
                .await?;
                Ok(())
            }
            BillingEvent::QuotaRemoved(removed) => {
                sqlx::query("UPDATE billing_account SET quotas = quotas - $2 WHERE id = $1")
                    .bind(tenant_id)
                    .bind(removed.meter.as_str())
                    .execute(conn)
                    .await?;
                Ok(())
            }
            BillingEvent::InvoiceIssued(invoice) => {
                sqlx::query(
                    "INSERT INTO billing_invoices (id, tenant_id, period, lines, total_micros,
                                                   issued_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(invoice.invoice_id)
                .bind(tenant_id)
                .bind(&invoice.period)
                .bind(sqlx::types::Json(&invoice.lines))
                .bind(invoice.total_micros)
                .bind(invoice.issued_at)
                .execute(conn)
                .await?;
                Ok(())
            }
            BillingEvent::QuotaExceeded(_) | BillingEvent::BillingAccountOpened(_) => Ok(()),
        }
    }
}

/// Moves the account row to `version`; false when it already had it (a duplicate), a
/// [`ProjectionError::VersionGap`] when it is missing or further behind.
async fn advance(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    version: i64,
    at: DateTime<Utc>,
) -> Result<bool, ProjectionError> {
    let updated = sqlx::query(
        "UPDATE billing_account SET version = $2, updated_at = $3
          WHERE id = $1 AND version = $2 - 1",
    )
    .bind(tenant_id)
    .bind(version)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        check_duplicate(conn, BILLING_ACCOUNT_TABLE, tenant_id, version).await?;
    }
    Ok(updated > 0)
}

async fn credit(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    version: i64,
    granted: &CreditsGranted,
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    set_balance(conn, tenant_id, granted.balance_after_micros).await?;
    sqlx::query(
        "INSERT INTO billing_ledger (tenant_id, sequence, kind, amount_micros,
                                     balance_after_micros, reason, occurred_at)
         VALUES ($1, $2, 'credit', $3, $4, $5, $6)",
    )
    .bind(tenant_id)
    .bind(version)
    .bind(granted.amount_micros)
    .bind(granted.balance_after_micros)
    .bind(&granted.reason)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn charge(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    version: i64,
    usage: &UsageRecorded,
) -> Result<(), ProjectionError> {
    set_balance(conn, tenant_id, usage.balance_after_micros).await?;
    sqlx::query(
        "INSERT INTO billing_ledger (tenant_id, sequence, kind, amount_micros,
                                     balance_after_micros, meter, quantity, source_event_id,
                                     occurred_at)
         VALUES ($1, $2, 'usage', $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant_id)
    .bind(version)
    // The ledger records what each entry did to the balance: usage takes away.
    .bind(-usage.amount_micros)
    .bind(usage.balance_after_micros)
    .bind(usage.meter.as_str())
    .bind(usage.quantity)
    .bind(usage.source.event_id)
    .bind(usage.recorded_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO billing_usage_daily (tenant_id, day, meter, quantity, amount_micros)
         VALUES ($1, $2::date, $3, $4, $5)
         ON CONFLICT (tenant_id, day, meter) DO UPDATE
            SET quantity = billing_usage_daily.quantity + excluded.quantity,
                amount_micros = billing_usage_daily.amount_micros + excluded.amount_micros",
    )
    .bind(tenant_id)
    .bind(&usage.day)
    .bind(usage.meter.as_str())
    .bind(usage.quantity)
    .bind(usage.amount_micros)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_balance(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    balance_micros: i64,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE billing_account SET balance_micros = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(balance_micros)
        .execute(conn)
        .await?;
    Ok(())
}
