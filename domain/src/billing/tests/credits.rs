//! Granting credits.

use super::*;
use crate::billing::fixtures::{TENANT, granted, on, opened, used};

fn credits_granted(
    amount_micros: i64,
    balance_after_micros: i64,
    reason: Option<&str>,
) -> BillingEvent {
    BillingEvent::CreditsGranted(CreditsGranted {
        amount_micros,
        balance_after_micros,
        reason: reason.map(str::to_owned),
        granted_at: at(10),
    })
}

#[test]
fn grants_credits_with_a_reason() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(grant(TENANT, 2_500_000, Some("welcome credit".to_owned())))
        .then_expect_events(vec![credits_granted(
            2_500_000,
            2_500_000,
            Some("welcome credit"),
        )]);
}

#[test]
fn adds_credits_to_the_balance_left_by_earlier_grants() {
    BillingTest::with(())
        .given(vec![opened(), granted(1_000, 1_000)])
        .when(grant(TENANT, 250, None))
        .then_expect_events(vec![credits_granted(250, 1_250, None)]);
}

#[test]
fn credits_first_pay_off_a_negative_balance() {
    BillingTest::with(())
        .given(vec![
            opened(),
            used(Meter::ToolInvocations, 3, "u1", -3_000, on(1, 20)),
        ])
        .when(grant(TENANT, 1_000, None))
        .then_expect_events(vec![credits_granted(1_000, -2_000, None)]);
}

#[test]
fn accepts_the_largest_grant() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(grant(TENANT, MAX_GRANT_MICROS, None))
        .then_expect_events(vec![credits_granted(
            MAX_GRANT_MICROS,
            MAX_GRANT_MICROS,
            None,
        )]);
}

#[test]
fn rejects_grants_of_zero_negative_or_more_than_the_largest_amount() {
    for amount in [0, -1, i64::MIN, MAX_GRANT_MICROS + 1, i64::MAX] {
        BillingTest::with(())
            .given(vec![opened()])
            .when(grant(TENANT, amount, None))
            .then_expect_error(invalid(
                "amount_micros",
                "must be between 1 and 1000000000000000",
            ));
    }
}

#[test]
fn rejects_a_grant_that_would_overflow_the_balance() {
    BillingTest::with(())
        .given(vec![opened(), granted(1, i64::MAX - 10)])
        .when(grant(TENANT, 11, None))
        .then_expect_error(invalid(
            "amount_micros",
            "would take the balance above the largest amount that can be held",
        ));
}

#[test]
fn accepts_a_grant_reason_of_500_characters_laid_out_in_lines() {
    let reason = format!("{}\r\n\t-", "r".repeat(496));
    BillingTest::with(())
        .given(vec![opened()])
        .when(grant(TENANT, 1, Some(reason.clone())))
        .then_expect_events(vec![credits_granted(1, 1, Some(&reason))]);
}

#[test]
fn rejects_a_grant_reason_of_501_characters() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(grant(TENANT, 1, Some("é".repeat(501))))
        .then_expect_error(invalid("reason", "must be at most 500 characters"));
}

#[test]
fn rejects_a_grant_reason_holding_nul() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(grant(TENANT, 1, Some("promo\0code".to_owned())))
        .then_expect_error(invalid("reason", "must not contain NUL characters"));
}

#[test]
fn rejects_a_grant_reason_holding_an_escape_character() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(grant(TENANT, 1, Some("promo\u{1b}[0m".to_owned())))
        .then_expect_error(invalid(
            "reason",
            "must not contain control characters other than tab and line breaks",
        ));
}

#[test]
fn reports_every_violation_of_a_grant_at_once() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(grant(TENANT, 0, Some("x\0".repeat(300))))
        .then_expect_error(BillingError::Invalid(vec![
            FieldError::new("amount_micros", "must be between 1 and 1000000000000000"),
            FieldError::new("reason", "must be at most 500 characters"),
            FieldError::new("reason", "must not contain NUL characters"),
        ]));
}
