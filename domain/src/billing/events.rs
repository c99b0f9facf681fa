//! Facts recorded about a billing account. Once stored they are never changed: add a new
//! version (and an upcaster) instead of editing a payload.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{InvoiceLine, Meter, QuotaPeriod};

/// Something that happened to a billing account, stored as `{"<EventType>": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum BillingEvent {
    /// The account was opened by the first command sent to it.
    BillingAccountOpened(BillingAccountOpened),
    /// Credits were added to the balance.
    CreditsGranted(CreditsGranted),
    /// Usage was recorded and charged to the balance.
    UsageRecorded(UsageRecorded),
    /// A usage took a meter over its quota for the current period.
    QuotaExceeded(QuotaExceeded),
    /// A quota was set or replaced.
    QuotaSet(QuotaSet),
    /// A quota was removed.
    QuotaRemoved(QuotaRemoved),
    /// A month's usage was invoiced.
    InvoiceIssued(InvoiceIssued),
}

/// A tenant's billing account was opened, with a balance of zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BillingAccountOpened {
    /// The tenant the account belongs to; also the account's aggregate id.
    pub tenant_id: Uuid,
    /// When the account was opened.
    pub opened_at: DateTime<Utc>,
}

/// Credits were added to the balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreditsGranted {
    /// Micro-units added.
    pub amount_micros: i64,
    /// The balance afterwards, in micro-units.
    pub balance_after_micros: i64,
    /// Why, if the caller said.
    pub reason: Option<String>,
    /// When the credits were granted.
    pub granted_at: DateTime<Utc>,
}

/// The event that caused a usage, so every charge can be traced to its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageSource {
    /// The id of the causing event.
    pub event_id: Uuid,
    /// The aggregate type of the causing event, such as `run`; 1 to 64 characters, one line.
    pub aggregate_type: String,
    /// The aggregate id of the causing event; 1 to 255 characters, one line.
    pub aggregate_id: String,
    /// The run the usage belongs to, if any.
    pub run_id: Option<Uuid>,
}

/// Usage of one meter was recorded and charged at the price in force at the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageRecorded {
    /// What was used.
    pub meter: Meter,
    /// How many units.
    pub quantity: i64,
    /// Micro-units charged per unit.
    pub unit_price_micros: i64,
    /// `quantity × unit_price_micros`, the micro-units charged.
    pub amount_micros: i64,
    /// The version of the price book the unit price came from.
    pub price_book_version: u32,
    /// The key that makes recording this usage idempotent: the id of the causing event.
    pub idempotency_key: String,
    /// The event that caused the usage.
    pub source: UsageSource,
    /// The UTC day of the usage, `YYYY-MM-DD`.
    pub day: String,
    /// The UTC month of the usage, `YYYY-MM`; the usage is invoiced with this month.
    pub month: String,
    /// The balance afterwards, in micro-units; negative when usage outran the credits.
    pub balance_after_micros: i64,
    /// When the usage was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A usage took a meter's usage in the current period past its quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaExceeded {
    /// The meter over quota.
    pub meter: Meter,
    /// The quota's period.
    pub period: QuotaPeriod,
    /// The period that went over: `YYYY-MM-DD` or `YYYY-MM`.
    pub period_key: String,
    /// The quota's limit.
    pub limit: i64,
    /// Units used in the period, including the usage that crossed the limit.
    pub used: i64,
    /// When the quota was exceeded.
    pub exceeded_at: DateTime<Utc>,
}

/// A quota was set on a meter, replacing any earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaSet {
    /// The meter capped.
    pub meter: Meter,
    /// Units allowed per period.
    pub limit: i64,
    /// The period the limit applies to.
    pub period: QuotaPeriod,
    /// When the quota was set.
    pub set_at: DateTime<Utc>,
}

/// The quota on a meter was removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaRemoved {
    /// The meter no longer capped.
    pub meter: Meter,
    /// When the quota was removed.
    pub removed_at: DateTime<Utc>,
}

/// The usage recorded in one month was invoiced; the month is closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceIssued {
    /// The invoice's id.
    pub invoice_id: Uuid,
    /// The month invoiced, `YYYY-MM`.
    pub period: String,
    /// One line per meter used in the month, sorted by meter.
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines' amounts, in micro-units.
    pub total_micros: i64,
    /// When the invoice was issued.
    pub issued_at: DateTime<Utc>,
}

impl BillingEvent {
    /// Every event type name, as returned by [`DomainEvent::event_type`].
    pub const TYPES: &'static [&'static str] = &[
        "BillingAccountOpened",
        "CreditsGranted",
        "UsageRecorded",
        "QuotaExceeded",
        "QuotaSet",
        "QuotaRemoved",
        "InvoiceIssued",
    ];

    /// When the event happened, as stated by the command that caused it.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::BillingAccountOpened(event) => event.opened_at,
            Self::CreditsGranted(event) => event.granted_at,
            Self::UsageRecorded(event) => event.recorded_at,
            Self::QuotaExceeded(event) => event.exceeded_at,
            Self::QuotaSet(event) => event.set_at,
            Self::QuotaRemoved(event) => event.removed_at,
            Self::InvoiceIssued(event) => event.issued_at,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::BillingAccountOpened(_) => "BillingAccountOpened",
            Self::CreditsGranted(_) => "CreditsGranted",
            Self::UsageRecorded(_) => "UsageRecorded",
            Self::QuotaExceeded(_) => "QuotaExceeded",
            Self::QuotaSet(_) => "QuotaSet",
            Self::QuotaRemoved(_) => "QuotaRemoved",
            Self::InvoiceIssued(_) => "InvoiceIssued",
        }
    }
}

impl DomainEvent for BillingEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
