//! The field rules of billing commands, each reporting every violation it finds.

use crate::FieldError;
use crate::rules::{require_free_text, require_max_chars, require_not_blank, require_single_line};

use super::{Meter, PriceBook, UsageSource};

/// The largest grant, in micro-units: a billion whole units.
pub const MAX_GRANT_MICROS: i64 = 1_000_000_000_000_000;
/// The largest quantity one usage may record.
pub const MAX_USAGE_QUANTITY: i64 = 1_000_000_000_000;
const MAX_REASON_CHARS: usize = 500;
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
const MAX_AGGREGATE_TYPE_CHARS: usize = 64;
const MAX_AGGREGATE_ID_CHARS: usize = 255;

/// What one usage costs: the unit price from the price book and the amount charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UsageCharge {
    pub(crate) unit_price_micros: i64,
    pub(crate) amount_micros: i64,
}

pub(crate) fn validate_grant(
    amount_micros: i64,
    reason: Option<&str>,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if !(1..=MAX_GRANT_MICROS).contains(&amount_micros) {
        errors.push(FieldError::new(
            "amount_micros",
            format!("must be between 1 and {MAX_GRANT_MICROS}"),
        ));
    }
    if let Some(reason) = reason {
        require_max_chars(&mut errors, "reason", reason, MAX_REASON_CHARS);
        require_free_text(&mut errors, "reason", reason);
    }
    into_result(errors)
}

/// Checks a usage and prices it; the charge is computed only once every field is valid.
pub(crate) fn charge_usage(
    meter: Meter,
    quantity: i64,
    idempotency_key: &str,
    source: &UsageSource,
    price_book: &PriceBook,
) -> Result<UsageCharge, Vec<FieldError>> {
    let mut errors = Vec::new();
    if !(1..=MAX_USAGE_QUANTITY).contains(&quantity) {
        errors.push(FieldError::new(
            "quantity",
            format!("must be between 1 and {MAX_USAGE_QUANTITY}"),
        ));
    }
    collect_idempotency_key_violations(&mut errors, idempotency_key);
    collect_source_violations(&mut errors, source);
    let unit_price_micros = match collect_price_violations(&mut errors, meter, price_book) {
        Some(price) if errors.is_empty() => price,
        _ => return Err(errors),
    };
    match quantity.checked_mul(unit_price_micros) {
        Some(amount_micros) => Ok(UsageCharge {
            unit_price_micros,
            amount_micros,
        }),
        None => Err(vec![FieldError::new(
            "quantity",
            "multiplied by the unit price must fit in a 64-bit amount of micro-units",
        )]),
    }
}

pub(crate) fn validate_limit(limit: i64) -> Result<(), Vec<FieldError>> {
    if limit < 0 {
        Err(vec![FieldError::new("limit", "must not be negative")])
    } else {
        Ok(())
    }
}

/// The key is copied into unique indexes and headers, so it is kept to printable ASCII.
fn collect_idempotency_key_violations(errors: &mut Vec<FieldError>, key: &str) {
    require_not_blank(errors, "idempotency_key", key);
    require_max_chars(errors, "idempotency_key", key, MAX_IDEMPOTENCY_KEY_CHARS);
    if !key.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        errors.push(FieldError::new(
            "idempotency_key",
            "must hold only printable ASCII characters",
        ));
    }
}

fn collect_source_violations(errors: &mut Vec<FieldError>, source: &UsageSource) {
    for (field, value, max) in [
        (
            "source.aggregate_type",
            &source.aggregate_type,
            MAX_AGGREGATE_TYPE_CHARS,
        ),
        (
            "source.aggregate_id",
            &source.aggregate_id,
            MAX_AGGREGATE_ID_CHARS,
        ),
    ] {
        require_not_blank(errors, field, value);
        require_max_chars(errors, field, value, max);
        require_single_line(errors, field, value);
    }
}

/// Reports a price book the caller should never have passed, and returns the unit price.
fn collect_price_violations(
    errors: &mut Vec<FieldError>,
    meter: Meter,
    price_book: &PriceBook,
) -> Option<i64> {
    if price_book.version == 0 {
        errors.push(FieldError::new("price_book.version", "must be at least 1"));
    }
    for (priced, price) in &price_book.prices {
        if *price < 0 {
            errors.push(FieldError::new(
                format!("price_book.prices.{priced}"),
                "must not be negative",
            ));
        }
    }
    let price = price_book.price_of(meter);
    if price.is_none() {
        errors.push(FieldError::new(
            format!("price_book.prices.{meter}"),
            "must be set for the meter used",
        ));
    }
    price
}

fn into_result(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
