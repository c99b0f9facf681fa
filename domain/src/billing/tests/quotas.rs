//! Setting and removing quotas.

use super::*;
use crate::billing::fixtures::{TENANT, opened, quota_set};

fn quota_set_now(meter: Meter, limit: i64, period: QuotaPeriod) -> BillingEvent {
    BillingEvent::QuotaSet(QuotaSet {
        meter,
        limit,
        period,
        set_at: at(10),
    })
}

#[test]
fn sets_a_daily_quota() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(set_quota(
            TENANT,
            Meter::LlmInputTokens,
            100_000,
            QuotaPeriod::Day,
        ))
        .then_expect_events(vec![quota_set_now(
            Meter::LlmInputTokens,
            100_000,
            QuotaPeriod::Day,
        )]);
}

#[test]
fn sets_a_quota_of_zero_to_flag_any_usage() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(set_quota(
            TENANT,
            Meter::ToolInvocations,
            0,
            QuotaPeriod::Month,
        ))
        .then_expect_events(vec![quota_set_now(
            Meter::ToolInvocations,
            0,
            QuotaPeriod::Month,
        )]);
}

#[test]
fn replaces_the_quota_on_a_meter_with_a_new_limit_and_period() {
    BillingTest::with(())
        .given(vec![
            opened(),
            quota_set(Meter::MemoryItems, 10, QuotaPeriod::Day),
        ])
        .when(set_quota(
            TENANT,
            Meter::MemoryItems,
            200,
            QuotaPeriod::Month,
        ))
        .then_expect_events(vec![quota_set_now(
            Meter::MemoryItems,
            200,
            QuotaPeriod::Month,
        )]);
}

#[test]
fn rejects_a_negative_quota_limit() {
    for limit in [-1, i64::MIN] {
        BillingTest::with(())
            .given(vec![opened()])
            .when(set_quota(
                TENANT,
                Meter::MemoryItems,
                limit,
                QuotaPeriod::Day,
            ))
            .then_expect_error(invalid("limit", "must not be negative"));
    }
}

#[test]
fn removes_the_quota_on_a_meter() {
    BillingTest::with(())
        .given(vec![
            opened(),
            quota_set(Meter::MemoryItems, 10, QuotaPeriod::Day),
        ])
        .when(remove_quota(TENANT, Meter::MemoryItems))
        .then_expect_events(vec![BillingEvent::QuotaRemoved(QuotaRemoved {
            meter: Meter::MemoryItems,
            removed_at: at(10),
        })]);
}

#[test]
fn rejects_removing_a_quota_that_was_never_set() {
    BillingTest::with(())
        .given(vec![
            opened(),
            quota_set(Meter::MemoryItems, 10, QuotaPeriod::Day),
        ])
        .when(remove_quota(TENANT, Meter::ToolInvocations))
        .then_expect_error(BillingError::NoSuchQuota);
}

#[test]
fn rejects_removing_a_quota_that_was_already_removed() {
    BillingTest::with(())
        .given(vec![
            opened(),
            quota_set(Meter::MemoryItems, 10, QuotaPeriod::Day),
            BillingEvent::QuotaRemoved(QuotaRemoved {
                meter: Meter::MemoryItems,
                removed_at: at(3),
            }),
        ])
        .when(remove_quota(TENANT, Meter::MemoryItems))
        .then_expect_error(BillingError::NoSuchQuota);
}
