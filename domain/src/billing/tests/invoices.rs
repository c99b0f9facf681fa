//! Closing a billing period: the invoice, its rejections and its recomputation from events.

use chrono::TimeZone;

use super::*;
use crate::billing::fixtures::{INVOICE, TENANT, on, opened, used};

/// Usage in December, January (four meters but no output tokens) and February.
fn usage_over_three_months() -> Vec<BillingEvent> {
    vec![
        opened(),
        used(
            Meter::LlmInputTokens,
            7,
            "dec",
            -21,
            Utc.with_ymd_and_hms(2024, 12, 31, 23, 0, 0).unwrap(),
        ),
        used(Meter::MemoryItems, 5, "jan-1", -521, on(1, 2)),
        used(Meter::LlmInputTokens, 100, "jan-2", -821, on(1, 3)),
        used(Meter::ToolInvocations, 2, "jan-3", -2_821, on(1, 20)),
        used(Meter::LlmInputTokens, 50, "jan-4", -2_971, on(1, 31)),
        used(Meter::LlmInputTokens, 1_000, "feb", -5_971, on(2, 1)),
    ]
}

fn invoice_issued(
    period: &str,
    lines: Vec<InvoiceLine>,
    total_micros: i64,
    now: DateTime<Utc>,
) -> BillingEvent {
    BillingEvent::InvoiceIssued(InvoiceIssued {
        invoice_id: INVOICE,
        period: period.to_owned(),
        lines,
        total_micros,
        issued_at: now,
    })
}

fn line(meter: Meter, quantity: i64, amount_micros: i64) -> InvoiceLine {
    InvoiceLine {
        meter,
        quantity,
        amount_micros,
    }
}

fn usages(events: &[BillingEvent]) -> impl Iterator<Item = &UsageRecorded> {
    events.iter().filter_map(|event| match event {
        BillingEvent::UsageRecorded(usage) => Some(usage),
        _ => None,
    })
}

#[test]
fn invoices_a_month_with_one_line_per_meter_used_sorted_by_meter() {
    BillingTest::with(())
        .given(usage_over_three_months())
        .when(close_period(TENANT, "2025-01", on(2, 3)))
        .then_expect_events(vec![invoice_issued(
            "2025-01",
            vec![
                line(Meter::LlmInputTokens, 150, 450),
                line(Meter::ToolInvocations, 2, 2_000),
                line(Meter::MemoryItems, 5, 500),
            ],
            2_950,
            on(2, 3),
        )]);
}

#[test]
fn invoices_an_older_month_after_a_later_one() {
    let mut given = usage_over_three_months();
    given.push(invoice_issued("2025-01", vec![], 2_950, on(2, 3)));
    BillingTest::with(())
        .given(given)
        .when(close_period(TENANT, "2024-12", on(2, 3)))
        .then_expect_events(vec![invoice_issued(
            "2024-12",
            vec![line(Meter::LlmInputTokens, 7, 21)],
            21,
            on(2, 3),
        )]);
}

#[test]
fn invoices_a_month_without_usage_with_no_lines() {
    BillingTest::with(())
        .given(usage_over_three_months())
        .when(close_period(TENANT, "2024-11", on(2, 3)))
        .then_expect_events(vec![invoice_issued("2024-11", vec![], 0, on(2, 3))]);
}

#[test]
fn closes_a_month_the_moment_it_has_ended() {
    let first_of_february = Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
    BillingTest::with(())
        .given(vec![opened()])
        .when(close_period(TENANT, "2025-01", first_of_february))
        .then_expect_events(vec![invoice_issued(
            "2025-01",
            vec![],
            0,
            first_of_february,
        )]);
}

#[test]
fn the_invoice_recomputed_from_the_events_is_the_invoice_issued() {
    let given = usage_over_three_months();
    let issued = BillingTest::with(())
        .given(given.clone())
        .when(close_period(TENANT, "2025-01", on(2, 3)))
        .inspect_result()
        .unwrap();
    let [BillingEvent::InvoiceIssued(invoice)] = issued.as_slice() else {
        panic!("expected one InvoiceIssued, got {issued:?}");
    };
    let lines = invoice_lines(usages(&given), "2025-01");
    assert_eq!(lines, invoice.lines);
    assert_eq!(invoice_total(&lines), invoice.total_micros);
}

#[test]
fn rejects_a_period_not_written_as_a_month() {
    for period in ["2025-1", "2025-13", "2025-01-01", "January", ""] {
        BillingTest::with(())
            .given(vec![opened()])
            .when(close_period(TENANT, period, on(3, 1)))
            .then_expect_error(invalid("period", "must be a month written YYYY-MM"));
    }
}

#[test]
fn rejects_closing_the_current_month() {
    let last_second_of_january = Utc.with_ymd_and_hms(2025, 1, 31, 23, 59, 59).unwrap();
    BillingTest::with(())
        .given(vec![opened()])
        .when(close_period(TENANT, "2025-01", last_second_of_january))
        .then_expect_error(BillingError::PeriodNotEnded);
}

#[test]
fn rejects_closing_a_future_month() {
    for period in ["2025-03", "2026-01"] {
        BillingTest::with(())
            .given(vec![opened()])
            .when(close_period(TENANT, period, on(2, 1)))
            .then_expect_error(BillingError::PeriodNotEnded);
    }
}

#[test]
fn rejects_closing_a_month_already_invoiced() {
    BillingTest::with(())
        .given(vec![
            opened(),
            invoice_issued("2025-01", vec![], 0, on(2, 1)),
        ])
        .when(close_period(TENANT, "2025-01", on(3, 1)))
        .then_expect_error(BillingError::PeriodAlreadyClosed);
}

#[test]
fn invoice_lines_leave_out_other_months_and_sum_per_meter() {
    let events = usage_over_three_months();
    assert_eq!(
        invoice_lines(usages(&events), "2025-02"),
        vec![line(Meter::LlmInputTokens, 1_000, 3_000)]
    );
    assert_eq!(invoice_lines(usages(&events), "2025-03"), vec![]);
}

#[test]
fn invoice_sums_saturate_instead_of_wrapping() {
    let huge = usage_recorded_at(i64::MAX - 1);
    let lines = invoice_lines([&huge, &huge], "2025-01");
    assert_eq!(lines, vec![line(Meter::MemoryItems, 2, i64::MAX)]);
    assert_eq!(
        invoice_total(&[lines[0].clone(), lines[0].clone()]),
        i64::MAX
    );
}

fn usage_recorded_at(amount_micros: i64) -> UsageRecorded {
    let mut usage = fixtures::usage_recorded(Meter::MemoryItems, 1, "u1", 0, on(1, 2));
    usage.amount_micros = amount_micros;
    usage
}
