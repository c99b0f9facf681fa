//! The field rules of recording usage: quantity, idempotency key, source and price book.

use super::*;
use crate::billing::fixtures::{TENANT, opened, record_usage, record_usage_priced, source, used};

fn usage_with_source(source: UsageSource) -> BillingCommand {
    BillingCommand::RecordUsage {
        tenant_id: TENANT,
        meter: Meter::ToolInvocations,
        quantity: 1,
        idempotency_key: "u1".to_owned(),
        source,
        price_book: PriceBook::v1(),
        now: at(10),
    }
}

#[test]
fn accepts_the_largest_quantity() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(record_usage(
            Meter::LlmOutputTokens,
            MAX_USAGE_QUANTITY,
            "u1",
            at(10),
        ))
        .then_expect_events(vec![used(
            Meter::LlmOutputTokens,
            MAX_USAGE_QUANTITY,
            "u1",
            -15 * MAX_USAGE_QUANTITY,
            at(10),
        )]);
}

#[test]
fn rejects_quantities_of_zero_negative_or_more_than_the_largest() {
    for quantity in [0, -1, MAX_USAGE_QUANTITY + 1, i64::MAX] {
        BillingTest::with(())
            .given(vec![opened()])
            .when(record_usage(Meter::LlmInputTokens, quantity, "u1", at(10)))
            .then_expect_error(invalid("quantity", "must be between 1 and 1000000000000"));
    }
}

#[test]
fn accepts_idempotency_keys_of_255_printable_ascii_characters() {
    let key = format!("evt: {}~", "k".repeat(249));
    assert_eq!(key.len(), 255);
    BillingTest::with(())
        .given(vec![opened()])
        .when(usage_with_key(&key))
        .then_expect_events(vec![used(Meter::ToolInvocations, 1, &key, -1_000, at(10))]);
}

#[test]
fn rejects_empty_blank_or_overlong_idempotency_keys() {
    for (key, message) in [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        (&*"k".repeat(256), "must be at most 255 characters"),
    ] {
        BillingTest::with(())
            .given(vec![opened()])
            .when(usage_with_key(key))
            .then_expect_error(invalid("idempotency_key", message));
    }
}

#[test]
fn rejects_idempotency_keys_holding_anything_but_printable_ascii() {
    for key in ["caf\u{e9}", "line\nbreak", "tab\tbed", "nul\0", "del\u{7f}"] {
        BillingTest::with(())
            .given(vec![opened()])
            .when(usage_with_key(key))
            .then_expect_error(invalid(
                "idempotency_key",
                "must hold only printable ASCII characters",
            ));
    }
}

#[test]
fn rejects_a_source_with_a_blank_overlong_or_control_laden_aggregate() {
    let mut blank_type = source();
    blank_type.aggregate_type = " ".to_owned();
    let mut long_type = source();
    long_type.aggregate_type = "t".repeat(65);
    let mut long_id = source();
    long_id.aggregate_id = "i".repeat(256);
    let mut nul_id = source();
    nul_id.aggregate_id = "run\0".to_owned();
    let mut control_type = source();
    control_type.aggregate_type = "run\n".to_owned();
    for (source, field, message) in [
        (blank_type, "source.aggregate_type", "must not be empty"),
        (
            long_type,
            "source.aggregate_type",
            "must be at most 64 characters",
        ),
        (
            long_id,
            "source.aggregate_id",
            "must be at most 255 characters",
        ),
        (
            nul_id,
            "source.aggregate_id",
            "must not contain NUL characters",
        ),
        (
            control_type,
            "source.aggregate_type",
            "must not contain control characters",
        ),
    ] {
        BillingTest::with(())
            .given(vec![opened()])
            .when(usage_with_source(source))
            .then_expect_error(invalid(field, message));
    }
}

#[test]
fn rejects_a_price_book_without_a_price_for_the_meter_used() {
    BillingTest::with(())
        .given(vec![opened()])
        .when(record_usage_priced(
            Meter::ToolInvocations,
            1,
            "u1",
            priced(Meter::MemoryItems, 100),
            at(10),
        ))
        .then_expect_error(invalid(
            "price_book.prices.tool_invocations",
            "must be set for the meter used",
        ));
}

#[test]
fn rejects_a_price_book_at_version_zero_or_with_a_negative_price() {
    let mut book = priced(Meter::ToolInvocations, 10);
    book.version = 0;
    book.prices.insert(Meter::MemoryItems, -1);
    BillingTest::with(())
        .given(vec![opened()])
        .when(record_usage_priced(
            Meter::ToolInvocations,
            1,
            "u1",
            book,
            at(10),
        ))
        .then_expect_error(BillingError::Invalid(vec![
            FieldError::new("price_book.version", "must be at least 1"),
            FieldError::new("price_book.prices.memory_items", "must not be negative"),
        ]));
}

#[test]
fn reports_every_violation_of_a_usage_at_once() {
    let mut bad_source = source();
    bad_source.aggregate_id = String::new();
    BillingTest::with(())
        .given(vec![opened()])
        .when(BillingCommand::RecordUsage {
            tenant_id: TENANT,
            meter: Meter::LlmInputTokens,
            quantity: 0,
            idempotency_key: "é".to_owned(),
            source: bad_source,
            price_book: priced(Meter::MemoryItems, 1),
            now: at(10),
        })
        .then_expect_error(BillingError::Invalid(vec![
            FieldError::new("quantity", "must be between 1 and 1000000000000"),
            FieldError::new(
                "idempotency_key",
                "must hold only printable ASCII characters",
            ),
            FieldError::new("source.aggregate_id", "must not be empty"),
            FieldError::new(
                "price_book.prices.llm_input_tokens",
                "must be set for the meter used",
            ),
        ]));
}
