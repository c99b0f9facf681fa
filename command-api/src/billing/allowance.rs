//! The quota check of commands that consume a meter: one Redis round trip to the tenant's
//! hot billing hash.
//!
//! Only quotas refuse work. The balance does not: billing is postpaid, usage is always
//! recorded and a negative balance is settled by invoice. The check is as fresh as the
//! Redis read model (usage reaches it through the reactor and the projector, usually
//! within milliseconds), so a burst can run a little past a quota; usage past the limit is
//! still recorded and billed, and the account records `QuotaExceeded` once per period.

use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use domain::FieldError;
use domain::billing::{Meter, QuotaPeriod};
use eventstore::billing_cache::{QuotaUse, quotas_use};
use eventstore::web::Problem;
use uuid::Uuid;

use crate::AppState;

/// Refuses a command that would consume `meter` for `tenant_id` once the quota on it is
/// used up for the current period: a 402 problem naming the meter, the limit and the
/// period, with a field error on `meter` and `Retry-After` until the period ends.
///
/// A meter without a quota is never refused. When Redis cannot answer, the command is let
/// through (and a warning logged): quotas are a brake on spending, not a guard of
/// correctness, and the usage is recorded and billed either way.
pub async fn require_allowance(
    state: &AppState,
    tenant_id: Uuid,
    meter: Meter,
) -> Result<(), Problem> {
    require_allowances(state, tenant_id, &[meter]).await
}

/// [`require_allowance`] for several meters at once (one Redis round trip): refused when
/// any of them is used up.
pub async fn require_allowances(
    state: &AppState,
    tenant_id: Uuid,
    meters: &[Meter],
) -> Result<(), Problem> {
    let Some((redis, prefix)) = &state.allowances else {
        return Ok(());
    };
    let now = Utc::now();
    match quotas_use(&mut redis.clone(), prefix, tenant_id, meters, now).await {
        Ok(used) => match used.iter().find(|used| used.is_used_up()) {
            Some(used) => {
                let meter = used.meter.as_str();
                metrics::counter!("agentos_billing_quota_refusals_total", "meter" => meter)
                    .increment(1);
                Err(quota_exceeded(used, now))
            }
            None => Ok(()),
        },
        Err(err) => {
            tracing::warn!(%err, ?meters, "quota check unavailable; the command is let through");
            metrics::counter!("agentos_billing_quota_check_failures_total").increment(1);
            Ok(())
        }
    }
}

/// 402: the quota on the meter is used up until the period ends.
pub fn quota_exceeded(used: &QuotaUse, now: DateTime<Utc>) -> Problem {
    let QuotaUse {
        meter,
        quota,
        period_key,
        used,
    } = used;
    let period = quota.period;
    Problem::new(
        StatusCode::PAYMENT_REQUIRED,
        "quota-exceeded",
        format!(
            "the {meter} quota of {limit} per {period} is used up ({used} used in {period_key}); \
             raise it with PUT /v1/billing/quotas/{meter} or wait for the next {period}",
            limit = quota.limit,
        ),
    )
    .with_errors(vec![FieldError::new(
        "meter",
        format!("{meter} has used its quota of {} per {period}", quota.limit),
    )])
    .with_retry_after(seconds_until_next(period, now))
}

/// Seconds from `now` to the start of the next day or month (UTC), at least 1.
fn seconds_until_next(period: QuotaPeriod, now: DateTime<Utc>) -> u32 {
    let today = now.date_naive();
    let next = match period {
        QuotaPeriod::Day => today.succ_opt(),
        QuotaPeriod::Month => {
            let (year, month) = if today.month() == 12 {
                (today.year() + 1, 1)
            } else {
                (today.year(), today.month() + 1)
            };
            NaiveDate::from_ymd_opt(year, month, 1)
        }
    };
    let wait = next
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map_or(Duration::days(1), |start| start.and_utc() - now);
    u32::try_from(wait.num_seconds()).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::billing::Quota;

    use super::*;

    #[test]
    fn the_wait_ends_at_the_next_utc_day_or_month() {
        let now = Utc.with_ymd_and_hms(2025, 12, 31, 23, 0, 0).unwrap();
        assert_eq!(seconds_until_next(QuotaPeriod::Day, now), 3_600);
        assert_eq!(seconds_until_next(QuotaPeriod::Month, now), 3_600);
        let mid_month = Utc.with_ymd_and_hms(2025, 2, 27, 0, 0, 0).unwrap();
        assert_eq!(
            seconds_until_next(QuotaPeriod::Month, mid_month),
            2 * 86_400
        );
    }

    #[test]
    fn the_problem_names_meter_limit_and_period() {
        let now = Utc.with_ymd_and_hms(2025, 3, 9, 12, 0, 0).unwrap();
        let problem = quota_exceeded(
            &QuotaUse {
                meter: Meter::MemoryItems,
                quota: Quota {
                    limit: 10,
                    period: QuotaPeriod::Day,
                },
                period_key: "2025-03-09".into(),
                used: 10,
            },
            now,
        );
        assert_eq!(problem.status, 402);
        assert_eq!(
            problem.problem_type,
            "https://agentos.dev/problems/quota-exceeded"
        );
        for part in ["memory_items", "10 per day", "2025-03-09"] {
            assert!(problem.detail.contains(part), "{part}: {}", problem.detail);
        }
        assert_eq!(problem.errors[0].field, "meter");
    }
}
