//! What a tenant is billed for, what each unit costs, and how usage is capped.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Something a tenant consumes and pays for by the unit.
///
/// The declaration order is the sort order: invoice lines list meters in this order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Meter {
    /// Tokens sent to a language model.
    LlmInputTokens,
    /// Tokens a language model generated.
    LlmOutputTokens,
    /// Calls of a tool.
    ToolInvocations,
    /// Memory items stored.
    MemoryItems,
}

impl Meter {
    /// Every meter, in sort order.
    pub const ALL: [Meter; 4] = [
        Self::LlmInputTokens,
        Self::LlmOutputTokens,
        Self::ToolInvocations,
        Self::MemoryItems,
    ];

    /// The meter as it appears in JSON, such as `llm_input_tokens`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::LlmInputTokens => "llm_input_tokens",
            Self::LlmOutputTokens => "llm_output_tokens",
            Self::ToolInvocations => "tool_invocations",
            Self::MemoryItems => "memory_items",
        }
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stretch of time a quota counts usage over, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuotaPeriod {
    /// A calendar day, keyed `YYYY-MM-DD`.
    Day,
    /// A calendar month, keyed `YYYY-MM`.
    Month,
}

impl QuotaPeriod {
    /// The period as it appears in JSON: `day` or `month`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// The key of the period that holds `now`: `YYYY-MM-DD` for a day, `YYYY-MM` for a month.
    pub fn key_of(&self, now: DateTime<Utc>) -> String {
        match self {
            Self::Day => day_key(now),
            Self::Month => month_key(now),
        }
    }
}

impl fmt::Display for QuotaPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The UTC day of `now`, written `YYYY-MM-DD`.
pub fn day_key(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%d").to_string()
}

/// The UTC month of `now`, written `YYYY-MM`.
pub fn month_key(now: DateTime<Utc>) -> String {
    now.format("%Y-%m").to_string()
}

/// A cap on how much of one meter a tenant may use per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quota {
    /// Units allowed per period; using exactly this many is still within the quota.
    pub limit: i64,
    /// The period the limit applies to.
    pub period: QuotaPeriod,
}

/// Prices in micro-units per unit of each meter, under a version number.
///
/// Every recorded usage keeps the version and unit price it was charged at, so publishing a
/// new price book never reprices usage already recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriceBook {
    /// Increases by one with every new price book; starts at 1.
    pub version: u32,
    /// Micro-units charged per unit, by meter; never negative.
    pub prices: BTreeMap<Meter, i64>,
}

impl PriceBook {
    /// The first price book.
    pub fn v1() -> Self {
        Self {
            version: 1,
            prices: BTreeMap::from([
                (Meter::LlmInputTokens, 3),
                (Meter::LlmOutputTokens, 15),
                (Meter::ToolInvocations, 1_000),
                (Meter::MemoryItems, 100),
            ]),
        }
    }

    /// The price book new usage is charged at.
    pub fn current() -> Self {
        Self::v1()
    }

    /// The price of one unit of `meter`, if this book prices it.
    pub fn price_of(&self, meter: Meter) -> Option<i64> {
        self.prices.get(&meter).copied()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn meters_print_and_serialize_as_snake_case_words_in_sort_order() {
        let words = [
            "llm_input_tokens",
            "llm_output_tokens",
            "tool_invocations",
            "memory_items",
        ];
        for (meter, word) in Meter::ALL.into_iter().zip(words) {
            assert_eq!(meter.as_str(), word);
            assert_eq!(meter.to_string(), word);
            assert_eq!(serde_json::to_value(meter).unwrap(), word);
            assert_eq!(serde_json::from_value::<Meter>(word.into()).unwrap(), meter);
        }
        assert!(Meter::ALL.is_sorted());
    }

    #[test]
    fn quota_periods_print_and_serialize_as_snake_case_words() {
        for (period, word) in [(QuotaPeriod::Day, "day"), (QuotaPeriod::Month, "month")] {
            assert_eq!(period.to_string(), word);
            assert_eq!(serde_json::to_value(period).unwrap(), word);
        }
    }

    #[test]
    fn period_keys_are_the_utc_day_and_month() {
        let now = Utc.with_ymd_and_hms(2025, 3, 9, 23, 59, 59).unwrap();
        assert_eq!(QuotaPeriod::Day.key_of(now), "2025-03-09");
        assert_eq!(QuotaPeriod::Month.key_of(now), "2025-03");
    }

    #[test]
    fn the_current_price_book_prices_every_meter() {
        let book = PriceBook::current();
        assert_eq!(book, PriceBook::v1());
        assert_eq!(book.version, 1);
        assert!(
            Meter::ALL
                .iter()
                .all(|meter| book.price_of(*meter).is_some())
        );
    }

    #[test]
    fn a_price_book_serializes_prices_keyed_by_meter() {
        let value = serde_json::to_value(PriceBook::v1()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "version": 1,
                "prices": {
                    "llm_input_tokens": 3,
                    "llm_output_tokens": 15,
                    "tool_invocations": 1000,
                    "memory_items": 100
                }
            })
        );
        assert_eq!(
            serde_json::from_value::<PriceBook>(value).unwrap(),
            PriceBook::v1()
        );
    }
}
