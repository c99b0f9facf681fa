//! The hot billing hash of each tenant in Redis: its balance, its quotas and its usage in
//! the current day and month, per meter. A projection writes it (one hash per account,
//! guarded by the account's version); the command API reads it to refuse work past a
//! quota without a Postgres round trip. The names live here so both sides agree.

use chrono::{DateTime, Utc};
use domain::billing::{
    BILLING_ACCOUNT_AGGREGATE_TYPE, Meter, Quota, QuotaPeriod, day_key, month_key,
};
use uuid::Uuid;

/// The hash field holding the balance in micro-units.
pub const BALANCE_FIELD: &str = "balance_micros";

/// The hash of `tenant_id`'s account (the read model's `<prefix>:<aggregate type>:<id>`
/// convention; the account's id is the tenant id).
pub fn account_key(prefix: &str, tenant_id: Uuid) -> String {
    format!("{prefix}:{BILLING_ACCOUNT_AGGREGATE_TYPE}:{tenant_id}")
}

/// `quota:<meter>:limit`: the quota's limit, absent when the meter has no quota.
pub fn quota_limit_field(meter: Meter) -> String {
    format!("quota:{meter}:limit")
}

/// `quota:<meter>:period`: `day` or `month`.
pub fn quota_period_field(meter: Meter) -> String {
    format!("quota:{meter}:period")
}

/// What every usage counter of `meter` starts with.
pub fn used_prefix(meter: Meter) -> String {
    format!("used:{meter}:")
}

/// `used:<meter>:<period key>`: units of `meter` used in the day (`YYYY-MM-DD`) or month
/// (`YYYY-MM`) named by the key.
pub fn used_field(meter: Meter, period_key: &str) -> String {
    format!("{}{period_key}", used_prefix(meter))
}

/// A meter's quota and how much of it the current period has used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUse {
    pub meter: Meter,
    pub quota: Quota,
    /// The current period: `YYYY-MM-DD` or `YYYY-MM`.
    pub period_key: String,
    pub used: i64,
}

impl QuotaUse {
    /// Whether the period's usage has reached the limit, so that more would go past it.
    pub fn is_used_up(&self) -> bool {
        self.used >= self.quota.limit
    }
}

/// The fields [`quota_use`] reads, in order: limit, period, usage today, usage this month.
pub fn quota_use_fields(meter: Meter, now: DateTime<Utc>) -> [String; 4] {
    [
        quota_limit_field(meter),
        quota_period_field(meter),
        used_field(meter, &day_key(now)),
        used_field(meter, &month_key(now)),
    ]
}

/// Reads the values of [`quota_use_fields`]: `None` when the meter has no quota (or the
/// hash is missing or unreadable, which counts as no quota).
pub fn quota_use_from(
    meter: Meter,
    now: DateTime<Utc>,
    [limit, period, used_today, used_this_month]: [Option<String>; 4],
) -> Option<QuotaUse> {
    let limit = limit?.parse().ok()?;
    let (period, used) = match period?.as_str() {
        "day" => (QuotaPeriod::Day, used_today),
        "month" => (QuotaPeriod::Month, used_this_month),
        _ => return None,
    };
    Some(QuotaUse {
        meter,
        quota: Quota { limit, period },
        period_key: period.key_of(now),
        used: used.and_then(|used| used.parse().ok()).unwrap_or_default(),
    })
}

/// The quota use of each of `meters` that has a quota, in the periods holding `now`, from
/// `tenant_id`'s hash: one HMGET for all of them.
pub async fn quotas_use(
    redis: &mut redis::aio::ConnectionManager,
    prefix: &str,
    tenant_id: Uuid,
    meters: &[Meter],
    now: DateTime<Utc>,
) -> Result<Vec<QuotaUse>, redis::RedisError> {
    let fields: Vec<String> = meters
        .iter()
        .flat_map(|meter| quota_use_fields(*meter, now))
        .collect();
    let values: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(account_key(prefix, tenant_id))
        .arg(&fields[..])
        .query_async(redis)
        .await?;
    Ok(meters
        .iter()
        .zip(values.chunks(4))
        .filter_map(|(meter, values)| {
            let values: [Option<String>; 4] = values.to_vec().try_into().unwrap_or_default();
            quota_use_from(*meter, now, values)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 9, 12, 0, 0).unwrap()
    }

    fn values(values: [Option<&str>; 4]) -> [Option<String>; 4] {
        values.map(|value| value.map(str::to_owned))
    }

    #[test]
    fn names_the_fields_of_one_meter() {
        let prefix = "agentos";
        let tenant = Uuid::from_u128(7);
        assert_eq!(
            account_key(prefix, tenant),
            format!("agentos:billing_account:{tenant}")
        );
        assert_eq!(
            quota_use_fields(Meter::MemoryItems, noon()),
            [
                "quota:memory_items:limit",
                "quota:memory_items:period",
                "used:memory_items:2025-03-09",
                "used:memory_items:2025-03",
            ]
        );
    }

    #[test]
    fn a_daily_quota_counts_today_and_a_monthly_one_this_month() {
        let daily = quota_use_from(
            Meter::ToolInvocations,
            noon(),
            values([Some("5"), Some("day"), Some("5"), Some("40")]),
        )
        .unwrap();
        assert_eq!(daily.used, 5);
        assert_eq!(daily.period_key, "2025-03-09");
        assert!(daily.is_used_up());
        let monthly = quota_use_from(
            Meter::ToolInvocations,
            noon(),
            values([Some("50"), Some("month"), Some("5"), Some("40")]),
        )
        .unwrap();
        assert_eq!(monthly.used, 40);
        assert_eq!(monthly.period_key, "2025-03");
        assert!(!monthly.is_used_up());
    }

    #[test]
    fn no_usage_yet_is_zero_and_no_quota_is_none() {
        let fresh = quota_use_from(
            Meter::MemoryItems,
            noon(),
            values([Some("0"), Some("month"), None, None]),
        )
        .unwrap();
        assert_eq!(fresh.used, 0);
        assert!(fresh.is_used_up(), "a limit of zero allows nothing");
        assert_eq!(
            quota_use_from(Meter::MemoryItems, noon(), values([None; 4])),
            None
        );
        assert_eq!(
            quota_use_from(
                Meter::MemoryItems,
                noon(),
                values([Some("3"), Some("week"), None, None])
            ),
            None
        );
    }
}
