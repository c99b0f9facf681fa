//! Which events each command causes, decided without changing the account.

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::FieldError;

use super::invoice::parse_month;
use super::validation::{UsageCharge, charge_usage, validate_grant, validate_limit};
use super::{
    BillingAccount, BillingAccountOpened, BillingCommand, BillingError, BillingEvent,
    CreditsGranted, InvoiceIssued, Meter, QuotaExceeded, QuotaPeriod, QuotaRemoved, QuotaSet,
    UsageRecorded, day_key, invoice_total, month_key,
};

impl BillingAccount {
    /// The events a command causes: `BillingAccountOpened` first when the account is new,
    /// then the command's own events.
    pub(super) fn decide(
        &self,
        command: BillingCommand,
    ) -> Result<Vec<BillingEvent>, BillingError> {
        let tenant_id = command.tenant_id();
        if self.tenant_id.is_some_and(|owner| owner != tenant_id) {
            return Err(BillingError::NotFound);
        }
        let opening = (!self.exists()).then(|| {
            BillingEvent::BillingAccountOpened(BillingAccountOpened {
                tenant_id,
                opened_at: command.now(),
            })
        });
        let events = match command {
            BillingCommand::GrantCredits {
                amount_micros,
                reason,
                now,
                ..
            } => vec![self.grant_credits(amount_micros, reason, now)?],
            BillingCommand::RecordUsage {
                meter,
                quantity,
                idempotency_key,
                source,
                price_book,
                now,
                ..
            } => {
                let charge = charge_usage(meter, quantity, &idempotency_key, &source, &price_book)?;
                if self.has_recent_usage(&idempotency_key) {
                    return Err(BillingError::DuplicateUsage);
                }
                let usage = UsageRecorded {
                    meter,
                    quantity,
                    unit_price_micros: charge.unit_price_micros,
                    amount_micros: charge.amount_micros,
                    price_book_version: price_book.version,
                    idempotency_key,
                    source,
                    day: day_key(now),
                    month: month_key(now),
                    balance_after_micros: self.balance_after_charging(charge)?,
                    recorded_at: now,
                };
                self.record_usage(usage)?
            }
            BillingCommand::SetQuota {
                meter,
                limit,
                period,
                now,
                ..
            } => {
                validate_limit(limit)?;
                vec![BillingEvent::QuotaSet(QuotaSet {
                    meter,
                    limit,
                    period,
                    set_at: now,
                })]
            }
            BillingCommand::RemoveQuota { meter, now, .. } => {
                if self.quota(meter).is_none() {
                    return Err(BillingError::NoSuchQuota);
                }
                vec![BillingEvent::QuotaRemoved(QuotaRemoved {
                    meter,
                    removed_at: now,
                })]
            }
            BillingCommand::CloseBillingPeriod {
                period,
                invoice_id,
                now,
                ..
            } => vec![self.close_period(period, invoice_id, now)?],
        };
        Ok(opening.into_iter().chain(events).collect())
    }

    fn grant_credits(
        &self,
        amount_micros: i64,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<BillingEvent, BillingError> {
        validate_grant(amount_micros, reason.as_deref())?;
        let balance_after_micros =
            self.balance_micros
                .checked_add(amount_micros)
                .ok_or_else(|| {
                    invalid(
                        "amount_micros",
                        "would take the balance above the largest amount that can be held",
                    )
                })?;
        Ok(BillingEvent::CreditsGranted(CreditsGranted {
            amount_micros,
            balance_after_micros,
            reason,
            granted_at: now,
        }))
    }

    fn balance_after_charging(&self, charge: UsageCharge) -> Result<i64, BillingError> {
        self.balance_micros
            .checked_sub(charge.amount_micros)
            .ok_or_else(|| {
                invalid(
                    "quantity",
                    "would take the balance below the smallest amount that can be held",
                )
            })
    }

    /// The usage, and `QuotaExceeded` when it is the one that takes its period past the
    /// limit. A month already invoiced takes no more usage, so every usage lands on exactly
    /// one invoice.
    fn record_usage(&self, usage: UsageRecorded) -> Result<Vec<BillingEvent>, BillingError> {
        if self.invoiced_periods.contains(&usage.month) {
            return Err(BillingError::PeriodAlreadyClosed);
        }
        let exceeded = self.quota_crossed_by(usage.meter, usage.quantity, usage.recorded_at);
        let mut events = vec![BillingEvent::UsageRecorded(usage)];
        events.extend(exceeded.map(BillingEvent::QuotaExceeded));
        Ok(events)
    }

    /// A quota is exceeded once per period: by the usage that takes the period's total from
    /// at most the limit to above it.
    fn quota_crossed_by(
        &self,
        meter: Meter,
        quantity: i64,
        now: DateTime<Utc>,
    ) -> Option<QuotaExceeded> {
        let quota = self.quota(meter)?;
        let period_key = quota.period.key_of(now);
        let used_before = self.tracked_usage(meter, quota.period, &period_key)?;
        let used = used_before.saturating_add(quantity);
        (used_before <= quota.limit && quota.limit < used).then_some(QuotaExceeded {
            meter,
            period: quota.period,
            period_key,
            limit: quota.limit,
            used,
            exceeded_at: now,
        })
    }

    /// Usage of `meter` so far in the period `period_key`, or `None` for a day before the
    /// latest one, which is no longer tracked (and no longer current).
    fn tracked_usage(&self, meter: Meter, period: QuotaPeriod, period_key: &str) -> Option<i64> {
        match (period, self.latest_day_usage.get(&meter)) {
            (QuotaPeriod::Day, Some(latest)) if latest.day.as_str() > period_key => None,
            _ => Some(self.usage_in(meter, period_key)),
        }
    }

    fn close_period(
        &self,
        period: String,
        invoice_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<BillingEvent, BillingError> {
        let (year, month) = parse_month(&period)
            .ok_or_else(|| invalid("period", "must be a month written YYYY-MM"))?;
        if self.invoiced_periods.contains(&period) {
            return Err(BillingError::PeriodAlreadyClosed);
        }
        if (year, month) >= (now.year(), now.month()) {
            return Err(BillingError::PeriodNotEnded);
        }
        let lines = self
            .monthly_usage
            .get(&period)
            .map(|tally| tally.lines().to_vec())
            .unwrap_or_default();
        Ok(BillingEvent::InvoiceIssued(InvoiceIssued {
            invoice_id,
            total_micros: invoice_total(&lines),
            lines,
            period,
            issued_at: now,
        }))
    }
}

fn invalid(field: &str, message: &str) -> BillingError {
    BillingError::Invalid(vec![FieldError::new(field, message)])
}
