//! Sample values shared by the billing tests.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::{
    BillingAccountOpened, BillingCommand, BillingEvent, CreditsGranted, Meter, PriceBook,
    QuotaPeriod, QuotaSet, UsageRecorded, UsageSource, day_key, month_key,
};

pub(crate) const TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);
pub(crate) const OTHER_TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002);
pub(crate) const INVOICE: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00b1);
pub(crate) const CAUSE: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00d1);
pub(crate) const RUN: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00c1);
/// Minutes in a day, to move `at` from one day to the next.
pub(crate) const DAY: i64 = 24 * 60;

/// A fixed instant `minutes` after 2025-01-15 12:00 UTC, so tests never read the clock.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 15, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// Noon UTC on a day of 2025.
pub(crate) fn on(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, month, day, 12, 0, 0).unwrap()
}

/// A second price book that charges differently from v1.
pub(crate) fn price_book_v2() -> PriceBook {
    let mut book = PriceBook::v1();
    book.version = 2;
    book.prices.insert(Meter::LlmInputTokens, 5);
    book.prices.insert(Meter::ToolInvocations, 2_000);
    book
}

pub(crate) fn opened() -> BillingEvent {
    BillingEvent::BillingAccountOpened(BillingAccountOpened {
        tenant_id: TENANT,
        opened_at: at(0),
    })
}

pub(crate) fn granted(amount_micros: i64, balance_after_micros: i64) -> BillingEvent {
    BillingEvent::CreditsGranted(CreditsGranted {
        amount_micros,
        balance_after_micros,
        reason: None,
        granted_at: at(1),
    })
}

pub(crate) fn quota_set(meter: Meter, limit: i64, period: QuotaPeriod) -> BillingEvent {
    BillingEvent::QuotaSet(QuotaSet {
        meter,
        limit,
        period,
        set_at: at(2),
    })
}

/// The event that caused a usage. The tests key usages by short names instead of this
/// event's id so they read well; only uniqueness matters to the aggregate.
pub(crate) fn source() -> UsageSource {
    UsageSource {
        event_id: CAUSE,
        aggregate_type: "run".to_owned(),
        aggregate_id: RUN.to_string(),
        run_id: Some(RUN),
    }
}

/// Usage of `quantity` units of `meter`, keyed `key`, priced with `price_book`.
pub(crate) fn record_usage_priced(
    meter: Meter,
    quantity: i64,
    key: &str,
    price_book: PriceBook,
    now: DateTime<Utc>,
) -> BillingCommand {
    BillingCommand::RecordUsage {
        tenant_id: TENANT,
        meter,
        quantity,
        idempotency_key: key.to_owned(),
        source: source(),
        price_book,
        now,
    }
}

/// Usage of `quantity` units of `meter`, keyed `key`, priced with the v1 price book.
pub(crate) fn record_usage(
    meter: Meter,
    quantity: i64,
    key: &str,
    now: DateTime<Utc>,
) -> BillingCommand {
    record_usage_priced(meter, quantity, key, PriceBook::v1(), now)
}

/// The event `record_usage_priced` causes, given the balance it leaves.
pub(crate) fn usage_recorded_priced(
    meter: Meter,
    quantity: i64,
    key: &str,
    price_book: &PriceBook,
    balance_after_micros: i64,
    now: DateTime<Utc>,
) -> UsageRecorded {
    let unit_price_micros = price_book.price_of(meter).unwrap();
    UsageRecorded {
        meter,
        quantity,
        unit_price_micros,
        amount_micros: quantity * unit_price_micros,
        price_book_version: price_book.version,
        idempotency_key: key.to_owned(),
        source: source(),
        day: day_key(now),
        month: month_key(now),
        balance_after_micros,
        recorded_at: now,
    }
}

/// The event `record_usage` causes, given the balance it leaves.
pub(crate) fn usage_recorded(
    meter: Meter,
    quantity: i64,
    key: &str,
    balance_after_micros: i64,
    now: DateTime<Utc>,
) -> UsageRecorded {
    usage_recorded_priced(
        meter,
        quantity,
        key,
        &PriceBook::v1(),
        balance_after_micros,
        now,
    )
}

/// `usage_recorded` wrapped as an event.
pub(crate) fn used(
    meter: Meter,
    quantity: i64,
    key: &str,
    balance_after_micros: i64,
    now: DateTime<Utc>,
) -> BillingEvent {
    BillingEvent::UsageRecorded(usage_recorded(
        meter,
        quantity,
        key,
        balance_after_micros,
        now,
    ))
}
