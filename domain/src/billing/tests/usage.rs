//! Recording usage: pricing, the balance, idempotency keys and closed months.

use chrono::TimeZone;

use super::*;
use crate::billing::fixtures::{
    CAUSE, RUN, granted, on, opened, record_usage, record_usage_priced, usage_recorded, used,
};

#[test]
fn records_usage_at_the_price_books_unit_price_and_charges_the_balance() {
    BillingTest::with(())
        .given(vec![opened(), granted(1_000_000, 1_000_000)])
        .when(record_usage(Meter::LlmOutputTokens, 1_000, "u1", at(10)))
        .then_expect_events(vec![used(
            Meter::LlmOutputTokens,
            1_000,
            "u1",
            985_000,
            at(10),
        )]);
}

#[test]
fn records_the_source_price_and_utc_day_and_month_of_the_usage() {
    let now = Utc.with_ymd_and_hms(2025, 1, 31, 23, 59, 59).unwrap();
    BillingTest::with(())
        .given(vec![opened()])
        .when(record_usage(Meter::MemoryItems, 2, "u1", now))
        .then_expect_events(vec![BillingEvent::UsageRecorded(UsageRecorded {
            meter: Meter::MemoryItems,
            quantity: 2,
            unit_price_micros: 100,
            amount_micros: 200,
            price_book_version: 1,
            idempotency_key: "u1".to_owned(),
            source: UsageSource {
                event_id: CAUSE,
                aggregate_type: "run".to_owned(),
                aggregate_id: RUN.to_string(),
                run_id: Some(RUN),
            },
            day: "2025-01-31".to_owned(),
            month: "2025-01".to_owned(),
            balance_after_micros: -200,
            recorded_at: now,
        })]);
}

#[test]
fn records_usage_that_takes_the_balance_below_zero() {
    BillingTest::with(())
        .given(vec![opened(), granted(1_000, 1_000)])
        .when(record_usage(Meter::ToolInvocations, 3, "u1", at(10)))
        .then_expect_events(vec![used(Meter::ToolInvocations, 3, "u1", -2_000, at(10))]);
}

#[test]
fn records_usage_of_a_meter_priced_at_zero() {
    let book = priced(Meter::MemoryItems, 0);
    let mut expected = usage_recorded(Meter::MemoryItems, 7, "u1", 0, at(10));
    expected.unit_price_micros = 0;
    expected.amount_micros = 0;
    expected.price_book_version = 9;
    BillingTest::with(())
        .given(vec![opened()])
        .when(record_usage_priced(
            Meter::MemoryItems,
            7,
            "u1",
            book,
            at(10),
        ))
        .then_expect_events(vec![BillingEvent::UsageRecorded(expected)]);
}
#[test]
fn rejects_a_usage_whose_idempotency_key_was_recorded_recently() {
    BillingTest::with(())
        .given(vec![
            opened(),
            used(Meter::ToolInvocations, 1, "u1", -1_000, at(1)),
        ])
        .when(record_usage(Meter::LlmInputTokens, 5, "u1", at(10)))
        .then_expect_error(BillingError::DuplicateUsage);
}

#[test]
fn forgets_an_idempotency_key_once_1000_newer_ones_are_recorded() {
    let mut given = vec![opened()];
    given.extend((0..=RECENT_USAGE_KEYS).map(|n| {
        let balance = -1_000 * (n as i64 + 1);
        used(Meter::ToolInvocations, 1, &format!("u{n}"), balance, at(1))
    }));
    // "u0" is the 1,001st key from the end, so only the service's unique claim stops it.
    BillingTest::with(())
        .given(given.clone())
        .when(usage_with_key("u0"))
        .then_expect_events(vec![used(
            Meter::ToolInvocations,
            1,
            "u0",
            -1_002_000,
            at(10),
        )]);
    BillingTest::with(())
        .given(given)
        .when(usage_with_key("u1"))
        .then_expect_error(BillingError::DuplicateUsage);
}

#[test]
fn rejects_a_usage_in_a_month_already_invoiced() {
    BillingTest::with(())
        .given(vec![
            opened(),
            BillingEvent::InvoiceIssued(InvoiceIssued {
                invoice_id: fixtures::INVOICE,
                period: "2025-01".to_owned(),
                lines: vec![],
                total_micros: 0,
                issued_at: on(2, 1),
            }),
        ])
        .when(record_usage(Meter::LlmInputTokens, 5, "late", on(1, 31)))
        .then_expect_error(BillingError::PeriodAlreadyClosed);
}

#[test]
fn rejects_a_usage_whose_amount_overflows() {
    let book = priced(Meter::LlmInputTokens, i64::MAX / 10);
    BillingTest::with(())
        .given(vec![opened()])
        .when(record_usage_priced(
            Meter::LlmInputTokens,
            11,
            "u1",
            book,
            at(10),
        ))
        .then_expect_error(invalid(
            "quantity",
            "multiplied by the unit price must fit in a 64-bit amount of micro-units",
        ));
}

#[test]
fn rejects_a_usage_that_would_take_the_balance_below_the_smallest_amount() {
    BillingTest::with(())
        .given(vec![
            opened(),
            used(Meter::MemoryItems, 1, "u0", i64::MIN + 99, at(1)),
        ])
        .when(record_usage(Meter::MemoryItems, 1, "u1", at(10)))
        .then_expect_error(invalid(
            "quantity",
            "would take the balance below the smallest amount that can be held",
        ));
}
