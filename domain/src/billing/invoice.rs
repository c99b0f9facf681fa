//! Turning recorded usage into invoice lines, the same way for the aggregate and for anyone
//! recomputing an invoice from the stored events.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Meter, UsageRecorded};

/// What one meter cost in an invoiced month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLine {
    /// The meter billed.
    pub meter: Meter,
    /// Units used in the month.
    pub quantity: i64,
    /// Micro-units charged for them: the sum of the usages' amounts, each at its own price.
    pub amount_micros: i64,
}

/// The invoice lines of `period` (`YYYY-MM`): the usages whose `month` is `period`, summed
/// per meter, sorted by meter, with meters that have no usage left out.
///
/// Each line adds up the amounts the usages were charged, so a later price book never
/// changes an invoice. Sums saturate at `i64::MAX` instead of wrapping.
pub fn invoice_lines<'a>(
    usages: impl IntoIterator<Item = &'a UsageRecorded>,
    period: &str,
) -> Vec<InvoiceLine> {
    let mut tally = UsageTally::default();
    for usage in usages.into_iter().filter(|usage| usage.month == period) {
        tally.record(usage);
    }
    tally.into_lines()
}

/// The sum of the lines' amounts, saturating at the bounds of `i64`.
pub fn invoice_total(lines: &[InvoiceLine]) -> i64 {
    lines.iter().fold(0_i64, |total, line| {
        total.saturating_add(line.amount_micros)
    })
}

/// Running per-meter totals of some usages. The aggregate keeps one per month so it can
/// invoice without the events; [`invoice_lines`] folds events through the same type, so
/// both arrive at the same lines.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct UsageTally {
    /// Sorted by meter, at most one line per meter.
    lines: Vec<InvoiceLine>,
}

impl UsageTally {
    /// Adds one usage to its meter's line.
    pub(crate) fn record(&mut self, usage: &UsageRecorded) {
        match self
            .lines
            .binary_search_by_key(&usage.meter, |line| line.meter)
        {
            Ok(index) => {
                let line = &mut self.lines[index];
                line.quantity = line.quantity.saturating_add(usage.quantity);
                line.amount_micros = line.amount_micros.saturating_add(usage.amount_micros);
            }
            Err(index) => self.lines.insert(
                index,
                InvoiceLine {
                    meter: usage.meter,
                    quantity: usage.quantity,
                    amount_micros: usage.amount_micros,
                },
            ),
        }
    }

    /// Units of `meter` recorded so far.
    pub(crate) fn quantity_of(&self, meter: Meter) -> i64 {
        self.lines
            .iter()
            .find(|line| line.meter == meter)
            .map_or(0, |line| line.quantity)
    }

    /// The invoice lines, sorted by meter.
    pub(crate) fn lines(&self) -> &[InvoiceLine] {
        &self.lines
    }

    fn into_lines(self) -> Vec<InvoiceLine> {
        self.lines
    }
}

/// The year and month of a `YYYY-MM` period, or `None` if it is written any other way.
pub(crate) fn parse_month(period: &str) -> Option<(i32, u32)> {
    let bytes = period.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if bytes.len() != 7 || bytes[4] != b'-' || !digits(0..4) || !digits(5..7) {
        return None;
    }
    let year = period[0..4].parse().ok()?;
    let month = period[5..7].parse().ok()?;
    (1..=12).contains(&month).then_some((year, month))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_well_formed_month() {
        assert_eq!(parse_month("2025-01"), Some((2025, 1)));
        assert_eq!(parse_month("1999-12"), Some((1999, 12)));
    }

    #[test]
    fn refuses_months_written_any_other_way() {
        for period in [
            "",
            "2025",
            "2025-1",
            "2025-001",
            "2025/01",
            "2025-00",
            "2025-13",
            "+025-01",
            "2025-0a",
            "2025-01-01",
            "２０２５-01",
        ] {
            assert_eq!(parse_month(period), None, "{period:?}");
        }
    }
}
