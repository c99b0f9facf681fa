//! Requests to change a billing account.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Meter, PriceBook, QuotaPeriod, UsageSource};

/// A request to change a tenant's billing account. Every command carries the caller's tenant
/// and the time; the first command accepted opens the account.
#[derive(Debug, Clone, PartialEq)]
pub enum BillingCommand {
    /// Add credits to the balance.
    GrantCredits {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Micro-units to add, from 1 to 10^15.
        amount_micros: i64,
        /// Why, at most 500 characters; tab and line breaks are its only control characters.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Record usage of a meter and charge it to the balance, even past a quota or below zero.
    RecordUsage {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// What was used.
        meter: Meter,
        /// How many units, from 1 to 10^12.
        quantity: i64,
        /// The id of the event that caused the usage; 1 to 255 printable ASCII characters.
        idempotency_key: String,
        /// The event that caused the usage.
        source: UsageSource,
        /// The price book in force, looked up by the caller; it must price `meter`.
        price_book: PriceBook,
        /// When the usage happened; its UTC day and month are the usage's periods.
        now: DateTime<Utc>,
    },
    /// Cap a meter's usage per day or month, replacing any earlier quota on it.
    SetQuota {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The meter to cap.
        meter: Meter,
        /// Units allowed per period; zero or more.
        limit: i64,
        /// The period the limit applies to.
        period: QuotaPeriod,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Remove the quota on a meter.
    RemoveQuota {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The meter whose quota goes.
        meter: Meter,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Invoice the usage of a month that has ended, closing it for good.
    CloseBillingPeriod {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The month to invoice, `YYYY-MM`, before the month of `now`.
        period: String,
        /// The id chosen by the caller for the invoice.
        invoice_id: Uuid,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}

impl BillingCommand {
    /// The tenant the command is sent on behalf of.
    pub fn tenant_id(&self) -> Uuid {
        match self {
            Self::GrantCredits { tenant_id, .. }
            | Self::RecordUsage { tenant_id, .. }
            | Self::SetQuota { tenant_id, .. }
            | Self::RemoveQuota { tenant_id, .. }
            | Self::CloseBillingPeriod { tenant_id, .. } => *tenant_id,
        }
    }

    /// When the command was accepted.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::GrantCredits { now, .. }
            | Self::RecordUsage { now, .. }
            | Self::SetQuota { now, .. }
            | Self::RemoveQuota { now, .. }
            | Self::CloseBillingPeriod { now, .. } => *now,
        }
    }
}
