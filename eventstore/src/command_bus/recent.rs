//! The aggregates a bus wrote last, kept at the version it wrote, so that the next
//! command on one of them skips the load.
//!
//! An entry goes stale when another process (or a lost race) writes the aggregate. That
//! is harmless: the command decides on the older state, and then either its append
//! conflicts on the version it took, or the domain or the `If-Match` check answers from
//! that older state; in each case the bus runs the command again on the stored aggregate.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keeps at most [`RecentAggregates::BUDGET_BYTES`] of aggregates (measured as JSON).
pub(super) struct RecentAggregates<A> {
    entries: Mutex<Entries<A>>,
}

struct Entries<A> {
    by_id: HashMap<String, Entry<A>>,
    bytes: usize,
}

struct Entry<A> {
    aggregate: A,
    version: u64,
    bytes: usize,
}

impl<A: serde::Serialize> RecentAggregates<A> {
    /// What the cache may hold; memory stays bounded whatever the aggregates hold.
    pub(super) const BUDGET_BYTES: usize = 16 << 20;
    /// Larger aggregates are not kept: they would crowd out many others.
    const LARGEST_BYTES: usize = Self::BUDGET_BYTES / 256;

    pub(super) fn new() -> Self {
        Self {
            entries: Mutex::new(Entries {
                by_id: HashMap::new(),
                bytes: 0,
            }),
        }
    }

    /// Takes the aggregate out (a concurrent command on it then loads it from the store).
    pub(super) fn take(&self, id: &str) -> Option<(A, u64)> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.by_id.remove(id)?;
        entries.bytes -= entry.bytes;
        Some((entry.aggregate, entry.version))
    }

    /// Keeps `aggregate` at `version`, making room by dropping other entries.
    pub(super) fn put(&self, id: &str, aggregate: A, version: u64) {
        let Ok(bytes) = serde_json::to_vec(&aggregate).map(|json| json.len()) else {
            return;
        };
        if bytes > Self::LARGEST_BYTES {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(old) = entries.by_id.remove(id) {
            entries.bytes -= old.bytes;
        }
        while entries.bytes + bytes > Self::BUDGET_BYTES {
            // Any entry will do: a dropped one only costs its next command a load.
            let Some(victim) = entries.by_id.keys().next().cloned() else {
                break;
            };
            if let Some(old) = entries.by_id.remove(&victim) {
                entries.bytes -= old.bytes;
            }
        }
        entries.bytes += bytes;
        entries.by_id.insert(
            id.to_owned(),
            Entry {
                aggregate,
                version,
                bytes,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aggregate_is_taken_once_at_the_version_it_was_kept() {
        let recent = RecentAggregates::new();
        recent.put("a", vec![1_u8, 2], 7);
        assert_eq!(recent.take("a"), Some((vec![1, 2], 7)));
        assert_eq!(recent.take("a"), None);
    }

    #[test]
    fn the_budget_bounds_what_is_kept() {
        let recent = RecentAggregates::new();
        let big = "x".repeat(RecentAggregates::<String>::LARGEST_BYTES - 2);
        for n in 0..1_000 {
            recent.put(&n.to_string(), big.clone(), 1);
        }
        let entries = recent.entries.lock().unwrap();
        assert!(entries.bytes <= RecentAggregates::<String>::BUDGET_BYTES);
        assert_eq!(entries.by_id.len(), 256);
        drop(entries);
        recent.put(
            "huge",
            "x".repeat(RecentAggregates::<String>::BUDGET_BYTES),
            1,
        );
        assert_eq!(recent.take("huge"), None);
    }
}
