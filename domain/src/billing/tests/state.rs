//! The state `apply` rebuilds, and what the accessors report from it.

use cqrs_es::Aggregate;

use super::*;
use crate::billing::fixtures::{DAY, TENANT, granted, on, opened, quota_set, used};

fn invoice_issued(period: &str) -> BillingEvent {
    BillingEvent::InvoiceIssued(InvoiceIssued {
        invoice_id: fixtures::INVOICE,
        period: period.to_owned(),
        lines: vec![],
        total_micros: 0,
        issued_at: on(3, 1),
    })
}

#[test]
fn a_new_account_does_not_exist() {
    let account = BillingAccount::default();
    assert!(!account.exists());
    assert_eq!(account.tenant_id(), None);
    assert_eq!(account.opened_at(), None);
    assert_eq!(account.balance_micros(), 0);
    assert!(account.quotas().is_empty());
    assert!(account.invoiced_periods().is_empty());
}

#[test]
fn an_opened_account_belongs_to_its_tenant_with_a_zero_balance() {
    let account = replay([opened()]);
    assert!(account.exists());
    assert_eq!(account.tenant_id(), Some(TENANT));
    assert_eq!(account.opened_at(), Some(at(0)));
    assert_eq!(account.balance_micros(), 0);
}

#[test]
fn the_balance_is_the_one_the_latest_grant_or_usage_states() {
    let account = replay([opened(), granted(5_000, 5_000)]);
    assert_eq!(account.balance_micros(), 5_000);
    let account = replay([
        opened(),
        granted(5_000, 5_000),
        used(Meter::ToolInvocations, 7, "u1", -2_000, at(3)),
    ]);
    assert_eq!(account.balance_micros(), -2_000);
}

#[test]
fn usage_is_kept_for_the_latest_day_and_every_month() {
    let account = replay([
        opened(),
        used(Meter::LlmInputTokens, 10, "u1", -30, on(1, 30)),
        used(Meter::LlmInputTokens, 20, "u2", -90, on(1, 31)),
        used(Meter::LlmInputTokens, 5, "u3", -105, on(1, 31)),
        used(Meter::MemoryItems, 2, "u4", -305, on(2, 1)),
    ]);
    assert_eq!(account.usage_in(Meter::LlmInputTokens, "2025-01-31"), 25);
    assert_eq!(account.usage_in(Meter::LlmInputTokens, "2025-01"), 35);
    assert_eq!(account.usage_in(Meter::LlmInputTokens, "2025-02"), 0);
    assert_eq!(account.usage_in(Meter::MemoryItems, "2025-02-01"), 2);
    assert_eq!(account.usage_in(Meter::MemoryItems, "2025-02"), 2);
    // Only the latest day is kept per meter.
    assert_eq!(account.usage_in(Meter::LlmInputTokens, "2025-01-30"), 0);
}

#[test]
fn usage_dated_before_the_latest_day_still_counts_toward_its_month() {
    let account = replay([
        opened(),
        used(Meter::LlmInputTokens, 10, "u1", -30, at(DAY)),
        used(Meter::LlmInputTokens, 4, "u2", -42, at(0)),
    ]);
    assert_eq!(account.usage_in(Meter::LlmInputTokens, "2025-01-16"), 10);
    assert_eq!(account.usage_in(Meter::LlmInputTokens, "2025-01"), 14);
}

#[test]
fn is_over_quota_only_past_the_limit_in_the_period_of_now() {
    let input = Meter::LlmInputTokens;
    let at_limit = replay([
        opened(),
        quota_set(input, 100, QuotaPeriod::Day),
        used(input, 100, "u1", -300, at(5)),
    ]);
    assert!(!at_limit.is_over_quota(input, at(10)));
    let over = replay([
        opened(),
        quota_set(input, 100, QuotaPeriod::Day),
        used(input, 101, "u1", -303, at(5)),
    ]);
    assert!(over.is_over_quota(input, at(10)));
    assert!(!over.is_over_quota(input, at(DAY)));
    assert!(!over.is_over_quota(Meter::MemoryItems, at(10)));
}

#[test]
fn quotas_follow_the_latest_set_and_removal() {
    let account = replay([
        opened(),
        quota_set(Meter::MemoryItems, 10, QuotaPeriod::Day),
        quota_set(Meter::ToolInvocations, 5, QuotaPeriod::Day),
        quota_set(Meter::MemoryItems, 20, QuotaPeriod::Month),
        BillingEvent::QuotaRemoved(QuotaRemoved {
            meter: Meter::ToolInvocations,
            removed_at: at(3),
        }),
    ]);
    let monthly_20 = Quota {
        limit: 20,
        period: QuotaPeriod::Month,
    };
    assert_eq!(account.quota(Meter::MemoryItems), Some(monthly_20));
    assert_eq!(account.quota(Meter::ToolInvocations), None);
    assert_eq!(
        account.quotas(),
        &BTreeMap::from([(Meter::MemoryItems, monthly_20)])
    );
}

#[test]
fn invoiced_periods_are_listed_in_order() {
    let account = replay([
        opened(),
        invoice_issued("2025-02"),
        invoice_issued("2024-12"),
    ]);
    let periods: Vec<&str> = account
        .invoiced_periods()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(periods, ["2024-12", "2025-02"]);
}

#[test]
fn remembers_only_the_latest_usage_keys() {
    let mut events = vec![opened()];
    events.extend(
        (0..RECENT_USAGE_KEYS + 5).map(|n| used(Meter::MemoryItems, 1, &format!("u{n}"), 0, at(1))),
    );
    let account = replay(events);
    assert!(!account.has_recent_usage("u4"));
    assert!(account.has_recent_usage("u5"));
    assert!(account.has_recent_usage(&format!("u{}", RECENT_USAGE_KEYS + 4)));
}

/// A usage no command would record: its totals overflow when added to another.
fn huge_usage(key: &str) -> BillingEvent {
    let mut usage = fixtures::usage_recorded(Meter::MemoryItems, 1, key, i64::MIN, at(1));
    usage.quantity = i64::MAX;
    usage.amount_micros = i64::MAX;
    BillingEvent::UsageRecorded(usage)
}

#[test]
fn applying_events_out_of_order_never_panics() {
    let account = replay([
        BillingEvent::QuotaRemoved(QuotaRemoved {
            meter: Meter::MemoryItems,
            removed_at: at(0),
        }),
        huge_usage("u1"),
        huge_usage("u2"),
        invoice_issued("2025-01"),
        granted(1, 1),
    ]);
    // Without BillingAccountOpened the account is still new; the facts are kept regardless.
    assert!(!account.exists());
    assert_eq!(account.balance_micros(), 1);
    assert_eq!(account.usage_in(Meter::MemoryItems, "2025-01"), i64::MAX);
}

#[test]
fn the_aggregate_type_is_billing_account() {
    assert_eq!(BillingAccount::TYPE, "billing_account");
    assert_eq!(BillingAccount::TYPE, BILLING_ACCOUNT_AGGREGATE_TYPE);
}

#[test]
fn an_account_round_trips_through_json() {
    let account = replay([
        opened(),
        granted(5_000, 5_000),
        quota_set(Meter::LlmInputTokens, 100, QuotaPeriod::Day),
        used(Meter::LlmInputTokens, 10, "u1", 4_970, at(3)),
        invoice_issued("2024-12"),
    ]);
    let json = serde_json::to_string(&account).unwrap();
    assert_eq!(
        serde_json::from_str::<BillingAccount>(&json).unwrap(),
        account
    );
}
