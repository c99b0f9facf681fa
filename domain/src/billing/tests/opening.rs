//! Opening the account on first use, and keeping other tenants out.

use super::*;
use crate::billing::fixtures::{
    OTHER_TENANT, TENANT, granted, on, opened, record_usage, usage_recorded,
};

fn opened_at(now: DateTime<Utc>) -> BillingEvent {
    BillingEvent::BillingAccountOpened(BillingAccountOpened {
        tenant_id: TENANT,
        opened_at: now,
    })
}

#[test]
fn opens_the_account_before_granting_the_first_credits() {
    BillingTest::with(())
        .given_no_previous_events()
        .when(grant(TENANT, 5_000, None))
        .then_expect_events(vec![
            opened_at(at(10)),
            BillingEvent::CreditsGranted(CreditsGranted {
                amount_micros: 5_000,
                balance_after_micros: 5_000,
                reason: None,
                granted_at: at(10),
            }),
        ]);
}

#[test]
fn opens_the_account_before_recording_the_first_usage() {
    BillingTest::with(())
        .given_no_previous_events()
        .when(record_usage(Meter::LlmInputTokens, 100, "u1", at(5)))
        .then_expect_events(vec![
            opened_at(at(5)),
            BillingEvent::UsageRecorded(usage_recorded(
                Meter::LlmInputTokens,
                100,
                "u1",
                -300,
                at(5),
            )),
        ]);
}

#[test]
fn opens_the_account_before_setting_the_first_quota() {
    BillingTest::with(())
        .given_no_previous_events()
        .when(set_quota(
            TENANT,
            Meter::MemoryItems,
            50,
            QuotaPeriod::Month,
        ))
        .then_expect_events(vec![
            opened_at(at(10)),
            BillingEvent::QuotaSet(QuotaSet {
                meter: Meter::MemoryItems,
                limit: 50,
                period: QuotaPeriod::Month,
                set_at: at(10),
            }),
        ]);
}

#[test]
fn opens_the_account_before_closing_the_first_period_with_an_empty_invoice() {
    BillingTest::with(())
        .given_no_previous_events()
        .when(close_period(TENANT, "2025-01", on(2, 1)))
        .then_expect_events(vec![
            opened_at(on(2, 1)),
            BillingEvent::InvoiceIssued(InvoiceIssued {
                invoice_id: fixtures::INVOICE,
                period: "2025-01".to_owned(),
                lines: vec![],
                total_micros: 0,
                issued_at: on(2, 1),
            }),
        ]);
}

#[test]
fn does_not_open_an_open_account_again() {
    BillingTest::with(())
        .given(vec![opened(), granted(1_000, 1_000)])
        .when(grant(TENANT, 500, None))
        .then_expect_events(vec![BillingEvent::CreditsGranted(CreditsGranted {
            amount_micros: 500,
            balance_after_micros: 1_500,
            reason: None,
            granted_at: at(10),
        })]);
}

#[test]
fn a_rejected_first_command_opens_nothing() {
    BillingTest::with(())
        .given_no_previous_events()
        .when(grant(TENANT, 0, None))
        .then_expect_error(invalid(
            "amount_micros",
            "must be between 1 and 1000000000000000",
        ));
}

#[test]
fn rejects_removing_a_quota_from_a_new_account() {
    BillingTest::with(())
        .given_no_previous_events()
        .when(remove_quota(TENANT, Meter::MemoryItems))
        .then_expect_error(BillingError::NoSuchQuota);
}

#[test]
fn rejects_every_command_on_another_tenants_account_as_not_found() {
    let commands = vec![
        grant(OTHER_TENANT, 1_000, None),
        BillingCommand::RecordUsage {
            tenant_id: OTHER_TENANT,
            meter: Meter::LlmInputTokens,
            quantity: 1,
            idempotency_key: "u1".to_owned(),
            source: fixtures::source(),
            price_book: PriceBook::v1(),
            now: at(10),
        },
        set_quota(OTHER_TENANT, Meter::MemoryItems, 1, QuotaPeriod::Day),
        remove_quota(OTHER_TENANT, Meter::MemoryItems),
        close_period(OTHER_TENANT, "2024-12", at(10)),
    ];
    for command in commands {
        BillingTest::with(())
            .given(vec![opened()])
            .when(command)
            .then_expect_error(BillingError::NotFound);
    }
}

#[test]
fn another_tenant_is_not_found_even_when_its_command_is_also_invalid() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(grant(OTHER_TENANT, -1, None))
        .then_expect_error(BillingError::NotFound);
}
