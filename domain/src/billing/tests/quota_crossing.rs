//! When usage exceeds a quota: once, by the usage that takes its period past the limit.

use super::*;
use crate::billing::fixtures::{DAY, on, opened, quota_set, record_usage, used};

const INPUT: Meter = Meter::LlmInputTokens;

/// Input-token usage keyed `key`; with no credits the balance is -3 per token used so far.
fn input_used(quantity: i64, key: &str, used_so_far: i64, now: DateTime<Utc>) -> BillingEvent {
    used(INPUT, quantity, key, -3 * used_so_far, now)
}

fn exceeded(
    period: QuotaPeriod,
    key: &str,
    limit: i64,
    used: i64,
    now: DateTime<Utc>,
) -> BillingEvent {
    BillingEvent::QuotaExceeded(QuotaExceeded {
        meter: INPUT,
        period,
        period_key: key.to_owned(),
        limit,
        used,
        exceeded_at: now,
    })
}

fn daily(limit: i64) -> BillingEvent {
    quota_set(INPUT, limit, QuotaPeriod::Day)
}

fn monthly(limit: i64) -> BillingEvent {
    quota_set(INPUT, limit, QuotaPeriod::Month)
}

#[test]
fn reaching_exactly_the_limit_does_not_exceed_the_quota() {
    BillingTest::with(())
        .given(vec![opened(), daily(100), input_used(60, "u1", 60, at(5))])
        .when(record_usage(INPUT, 40, "u2", at(10)))
        .then_expect_events(vec![input_used(40, "u2", 100, at(10))]);
}

#[test]
fn the_usage_that_crosses_the_limit_exceeds_the_quota() {
    BillingTest::with(())
        .given(vec![
            opened(),
            daily(100),
            input_used(100, "u1", 100, at(5)),
        ])
        .when(record_usage(INPUT, 1, "u2", at(10)))
        .then_expect_events(vec![
            input_used(1, "u2", 101, at(10)),
            exceeded(QuotaPeriod::Day, "2025-01-15", 100, 101, at(10)),
        ]);
}

#[test]
fn one_usage_can_cross_the_limit_from_no_usage_at_all() {
    BillingTest::with(())
        .given(vec![opened(), daily(100)])
        .when(record_usage(INPUT, 150, "u1", at(10)))
        .then_expect_events(vec![
            input_used(150, "u1", 150, at(10)),
            exceeded(QuotaPeriod::Day, "2025-01-15", 100, 150, at(10)),
        ]);
}

#[test]
fn exceeds_a_quota_only_once_per_period() {
    BillingTest::with(())
        .given(vec![
            opened(),
            daily(100),
            input_used(150, "u1", 150, at(5)),
        ])
        .when(record_usage(INPUT, 10, "u2", at(10)))
        .then_expect_events(vec![input_used(10, "u2", 160, at(10))]);
}

#[test]
fn a_daily_quota_starts_over_the_next_day() {
    let given = vec![opened(), daily(100), input_used(150, "u1", 150, at(5))];
    BillingTest::with(())
        .given(given.clone())
        .when(record_usage(INPUT, 100, "u2", at(DAY)))
        .then_expect_events(vec![input_used(100, "u2", 250, at(DAY))]);
    BillingTest::with(())
        .given(given)
        .when(record_usage(INPUT, 101, "u2", at(DAY)))
        .then_expect_events(vec![
            input_used(101, "u2", 251, at(DAY)),
            exceeded(QuotaPeriod::Day, "2025-01-16", 100, 101, at(DAY)),
        ]);
}

#[test]
fn a_monthly_quota_counts_every_day_of_the_month() {
    BillingTest::with(())
        .given(vec![
            opened(),
            monthly(100),
            input_used(60, "u1", 60, on(1, 3)),
            input_used(40, "u2", 100, on(1, 10)),
        ])
        .when(record_usage(INPUT, 1, "u3", on(1, 31)))
        .then_expect_events(vec![
            input_used(1, "u3", 101, on(1, 31)),
            exceeded(QuotaPeriod::Month, "2025-01", 100, 101, on(1, 31)),
        ]);
}

#[test]
fn a_monthly_quota_starts_over_the_next_month() {
    let given = vec![
        opened(),
        monthly(100),
        input_used(150, "u1", 150, on(1, 10)),
    ];
    BillingTest::with(())
        .given(given.clone())
        .when(record_usage(INPUT, 100, "u2", on(2, 1)))
        .then_expect_events(vec![input_used(100, "u2", 250, on(2, 1))]);
    BillingTest::with(())
        .given(given)
        .when(record_usage(INPUT, 101, "u2", on(2, 1)))
        .then_expect_events(vec![
            input_used(101, "u2", 251, on(2, 1)),
            exceeded(QuotaPeriod::Month, "2025-02", 100, 101, on(2, 1)),
        ]);
}

#[test]
fn usage_recorded_before_the_quota_was_set_counts_toward_it() {
    BillingTest::with(())
        .given(vec![opened(), input_used(90, "u1", 90, at(1)), daily(100)])
        .when(record_usage(INPUT, 20, "u2", at(10)))
        .then_expect_events(vec![
            input_used(20, "u2", 110, at(10)),
            exceeded(QuotaPeriod::Day, "2025-01-15", 100, 110, at(10)),
        ]);
}

#[test]
fn a_zero_quota_is_exceeded_by_the_first_usage() {
    BillingTest::with(())
        .given(vec![opened(), monthly(0)])
        .when(record_usage(INPUT, 1, "u1", at(10)))
        .then_expect_events(vec![
            input_used(1, "u1", 1, at(10)),
            exceeded(QuotaPeriod::Month, "2025-01", 0, 1, at(10)),
        ]);
}

#[test]
fn raising_the_limit_above_the_usage_lets_the_quota_be_exceeded_again() {
    BillingTest::with(())
        .given(vec![
            opened(),
            daily(100),
            input_used(150, "u1", 150, at(3)),
            daily(200),
        ])
        .when(record_usage(INPUT, 60, "u2", at(10)))
        .then_expect_events(vec![
            input_used(60, "u2", 210, at(10)),
            exceeded(QuotaPeriod::Day, "2025-01-15", 200, 210, at(10)),
        ]);
}

#[test]
fn usage_dated_before_the_latest_day_exceeds_no_daily_quota() {
    BillingTest::with(())
        .given(vec![
            opened(),
            daily(100),
            input_used(50, "u1", 50, at(DAY)),
        ])
        .when(record_usage(INPUT, 150, "u2", at(10)))
        .then_expect_events(vec![input_used(150, "u2", 200, at(10))]);
}

#[test]
fn a_quota_on_another_meter_is_not_exceeded() {
    BillingTest::with(())
        .given(vec![
            opened(),
            quota_set(Meter::MemoryItems, 0, QuotaPeriod::Day),
        ])
        .when(record_usage(INPUT, 10, "u1", at(10)))
        .then_expect_events(vec![input_used(10, "u1", 10, at(10))]);
}

#[test]
fn a_removed_quota_is_not_exceeded() {
    BillingTest::with(())
        .given(vec![
            opened(),
            daily(0),
            BillingEvent::QuotaRemoved(QuotaRemoved {
                meter: INPUT,
                removed_at: at(3),
            }),
        ])
        .when(record_usage(INPUT, 10, "u1", at(10)))
        .then_expect_events(vec![input_used(10, "u1", 10, at(10))]);
}
