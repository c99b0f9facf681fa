//! The billing account aggregate: one per tenant, keyed by the tenant id. It holds the
//! tenant's credit balance, charges usage at the price in force, watches quotas and
//! invoices each month once it has ended.
//!
//! Usage is always recorded, even past a quota or below a zero balance, because it already
//! happened; refusing new work is the API's job, using [`BillingAccount::is_over_quota`] and
//! [`BillingAccount::balance_micros`].

mod commands;
mod decide;
mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod invoice;
mod pricing;
mod validation;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::FieldError;
use invoice::UsageTally;

pub use commands::BillingCommand;
pub use events::{
    BillingAccountOpened, BillingEvent, CreditsGranted, InvoiceIssued, QuotaExceeded, QuotaRemoved,
    QuotaSet, UsageRecorded, UsageSource,
};
pub use invoice::{InvoiceLine, invoice_lines, invoice_total};
pub use pricing::{Meter, PriceBook, Quota, QuotaPeriod, day_key, month_key};
pub use validation::{MAX_GRANT_MICROS, MAX_USAGE_QUANTITY};

/// The aggregate type under which billing account events are stored.
pub const BILLING_ACCOUNT_AGGREGATE_TYPE: &str = "billing_account";

/// How many of the latest usage idempotency keys the account remembers. A repeat of one of
/// them is rejected as [`BillingError::DuplicateUsage`]; older keys are forgotten, so this is
/// only a second line of defence behind the unique claim the service makes when appending.
pub const RECENT_USAGE_KEYS: usize = 1_000;

/// Why the billing account rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BillingError {
    /// The account belongs to another tenant; reported exactly like a missing one.
    #[error("billing account not found")]
    NotFound,
    /// One or more fields break a rule; one entry per violated rule.
    #[error("invalid billing fields")]
    Invalid(Vec<FieldError>),
    /// Usage with this idempotency key was recorded recently.
    #[error("usage with this idempotency key was already recorded")]
    DuplicateUsage,
    /// The month was invoiced already, so it takes no more usage and no second invoice.
    #[error("billing period already closed")]
    PeriodAlreadyClosed,
    /// The month to invoice is the current month or a later one.
    #[error("billing period has not ended")]
    PeriodNotEnded,
    /// The meter has no quota to remove.
    #[error("no quota is set on this meter")]
    NoSuchQuota,
}

impl From<Vec<FieldError>> for BillingError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

/// Units of one meter used on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DailyUsage {
    day: String,
    quantity: i64,
}

/// The state of one tenant's billing account, rebuilt from its events.
///
/// Only what decisions need is kept: the balance, the quotas, each meter's usage on its
/// latest day, per-meter totals of every month, the invoiced months and the latest
/// [`RECENT_USAGE_KEYS`] idempotency keys.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingAccount {
    tenant_id: Option<Uuid>,
    opened_at: Option<DateTime<Utc>>,
    balance_micros: i64,
    quotas: BTreeMap<Meter, Quota>,
    latest_day_usage: BTreeMap<Meter, DailyUsage>,
    monthly_usage: BTreeMap<String, UsageTally>,
    invoiced_periods: BTreeSet<String>,
    recent_usage_keys: VecDeque<String>,
}

impl BillingAccount {
    /// The owning tenant, or `None` before the account is opened.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant_id
    }

    /// When the account was opened.
    pub fn opened_at(&self) -> Option<DateTime<Utc>> {
        self.opened_at
    }

    /// Whether the account has been opened.
    pub fn exists(&self) -> bool {
        self.tenant_id.is_some()
    }

    /// The balance in micro-units: credits granted minus usage charged; may be negative.
    pub fn balance_micros(&self) -> i64 {
        self.balance_micros
    }

    /// The quota on `meter`, if one is set.
    pub fn quota(&self, meter: Meter) -> Option<Quota> {
        self.quotas.get(&meter).copied()
    }

    /// Every quota set, by meter.
    pub fn quotas(&self) -> &BTreeMap<Meter, Quota> {
        &self.quotas
    }

    /// Units of `meter` used in a period: a month `YYYY-MM`, or a day `YYYY-MM-DD`. Only the
    /// latest day with usage is kept per meter, so an earlier day reads as 0.
    pub fn usage_in(&self, meter: Meter, period_key: &str) -> i64 {
        match self.latest_day_usage.get(&meter) {
            Some(latest) if latest.day == period_key => latest.quantity,
            _ => self
                .monthly_usage
                .get(period_key)
                .map_or(0, |tally| tally.quantity_of(meter)),
        }
    }

    /// Whether usage of `meter` in the quota period holding `now` is past the quota's limit.
    /// Using exactly the limit is not over it.
    pub fn is_over_quota(&self, meter: Meter, now: DateTime<Utc>) -> bool {
        self.quota(meter)
            .is_some_and(|quota| self.usage_in(meter, &quota.period.key_of(now)) > quota.limit)
    }

    /// The months already invoiced, `YYYY-MM`, in order.
    pub fn invoiced_periods(&self) -> &BTreeSet<String> {
        &self.invoiced_periods
    }

    /// Whether usage with this idempotency key is among the latest [`RECENT_USAGE_KEYS`].
    pub fn has_recent_usage(&self, idempotency_key: &str) -> bool {
        self.recent_usage_keys
            .iter()
            .any(|key| key == idempotency_key)
    }

    fn record(&mut self, usage: UsageRecorded) {
        self.balance_micros = usage.balance_after_micros;
        self.monthly_usage
            .entry(usage.month.clone())
            .or_default()
            .record(&usage);
        // Day keys sort like the days they name, so an older day never replaces a newer one.
        match self.latest_day_usage.get_mut(&usage.meter) {
            Some(latest) if latest.day == usage.day => {
                latest.quantity = latest.quantity.saturating_add(usage.quantity);
            }
            Some(latest) if latest.day > usage.day => {}
            _ => {
                self.latest_day_usage.insert(
                    usage.meter,
                    DailyUsage {
                        day: usage.day,
                        quantity: usage.quantity,
                    },
                );
            }
        }
        if self.recent_usage_keys.len() >= RECENT_USAGE_KEYS {
            self.recent_usage_keys.pop_front();
        }
        self.recent_usage_keys.push_back(usage.idempotency_key);
    }
}

impl Aggregate for BillingAccount {
    const TYPE: &'static str = BILLING_ACCOUNT_AGGREGATE_TYPE;
    type Command = BillingCommand;
    type Event = BillingEvent;
    type Error = BillingError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    // Stored events are facts: apply records them whatever the current state, never panics.
    fn apply(&mut self, event: Self::Event) {
        match event {
            BillingEvent::BillingAccountOpened(opened) => {
                self.tenant_id = Some(opened.tenant_id);
                self.opened_at = Some(opened.opened_at);
            }
            BillingEvent::CreditsGranted(granted) => {
                self.balance_micros = granted.balance_after_micros;
            }
            BillingEvent::UsageRecorded(usage) => self.record(usage),
            BillingEvent::QuotaExceeded(_) => {}
            BillingEvent::QuotaSet(set) => {
                let quota = Quota {
                    limit: set.limit,
                    period: set.period,
                };
                self.quotas.insert(set.meter, quota);
            }
            BillingEvent::QuotaRemoved(removed) => {
                self.quotas.remove(&removed.meter);
            }
            BillingEvent::InvoiceIssued(invoice) => {
                self.invoiced_periods.insert(invoice.period);
            }
        }
    }
}

#[cfg(test)]
mod tests;
