//! Price-book versions: usage keeps the price it was recorded at.

use super::*;
use crate::billing::fixtures::{
    TENANT, on, opened, price_book_v2, record_usage_priced, usage_recorded_priced,
};

const INPUT: Meter = Meter::LlmInputTokens;

fn input_used_at(
    book: &PriceBook,
    quantity: i64,
    key: &str,
    balance: i64,
    now: DateTime<Utc>,
) -> BillingEvent {
    BillingEvent::UsageRecorded(usage_recorded_priced(
        INPUT, quantity, key, book, balance, now,
    ))
}

#[test]
fn records_usage_at_the_unit_price_and_version_of_the_price_book_given() {
    let v2 = price_book_v2();
    BillingTest::with(())
        .given(vec![opened()])
        .when(record_usage_priced(INPUT, 100, "u1", v2.clone(), on(1, 20)))
        .then_expect_events(vec![BillingEvent::UsageRecorded(UsageRecorded {
            unit_price_micros: 5,
            amount_micros: 500,
            price_book_version: 2,
            ..usage_recorded_priced(INPUT, 100, "u1", &v2, -500, on(1, 20))
        })]);
}

#[test]
fn usage_priced_at_v1_keeps_its_price_on_the_invoice_after_v2_exists() {
    let given = vec![
        opened(),
        input_used_at(&PriceBook::v1(), 100, "u1", -300, on(1, 10)),
        input_used_at(&price_book_v2(), 100, "u2", -800, on(1, 20)),
    ];
    BillingTest::with(())
        .given(given)
        .when(close_period(TENANT, "2025-01", on(2, 1)))
        .then_expect_events(vec![BillingEvent::InvoiceIssued(InvoiceIssued {
            invoice_id: fixtures::INVOICE,
            period: "2025-01".to_owned(),
            lines: vec![InvoiceLine {
                meter: INPUT,
                quantity: 200,
                amount_micros: 300 + 500,
            }],
            total_micros: 800,
            issued_at: on(2, 1),
        })]);
}

#[test]
fn usage_recorded_at_v1_is_not_repriced_by_replaying_it_after_v2() {
    let v1_usage = usage_recorded_priced(INPUT, 100, "u1", &PriceBook::v1(), -300, on(1, 10));
    let account = replay([opened(), BillingEvent::UsageRecorded(v1_usage.clone())]);
    assert_eq!(account.balance_micros(), -300);
    assert_eq!(v1_usage.price_book_version, 1);
    assert_eq!(
        invoice_lines([&v1_usage], "2025-01"),
        vec![InvoiceLine {
            meter: INPUT,
            quantity: 100,
            amount_micros: 300,
        }]
    );
}
