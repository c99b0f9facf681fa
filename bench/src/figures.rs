//! The figures of BENCHMARKS.md, each with the raw baseline it is compared with.

pub mod commands;
pub mod long_aggregate;
pub mod publish;
pub mod query;
pub mod rebuild;

use std::time::Duration;

use crate::workload::Phase;

/// How long and how often each figure is measured.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runs: usize,
    pub phase: Phase,
    /// Concurrent clients (and raw connections) of the command figures.
    pub clients: Vec<usize>,
    /// Size of the backlog the relay and the rebuild start from.
    pub backlog_events: usize,
    /// Messages per raw JetStream publish run.
    pub publish_messages: usize,
    /// Fixed request rate of the query API latency figure.
    pub query_rate: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            runs: 3,
            phase: Phase {
                warmup: Duration::from_secs(2),
                measure: Duration::from_secs(8),
            },
            clients: vec![1, 8, 32, 64],
            backlog_events: 1_000_000,
            publish_messages: 200_000,
            query_rate: 5_000.0,
        }
    }
}

/// A small, fast, seedable generator: the load generator must not spend CPU on this.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next_u64() % bound as u64).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_stays_below_its_bound_and_varies() {
        let mut rng = XorShift::new(7);
        let values: Vec<usize> = (0..100).map(|_| rng.below(10)).collect();
        assert!(values.iter().all(|v| *v < 10));
        assert!(values.iter().any(|v| *v != values[0]));
    }
}
