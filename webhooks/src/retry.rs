//! When a failed delivery is tried again: exponential backoff with full jitter, the
//! longest interval once the subscription is failing, and never sooner than the
//! endpoint's `Retry-After`.

use std::time::Duration;

use rand::Rng;

/// How the delivery worker retries, marks subscriptions failing, and gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// The backoff's first interval: attempt `n` waits up to `retry_base * 2^(n-1)`.
    pub retry_base: Duration,
    /// The longest wait between attempts, and the interval of a failing subscription.
    pub retry_max: Duration,
    /// Failed attempts in a row after which the subscription is marked failing.
    pub failing_after: u32,
    /// Attempts after which a delivery is given up (until redelivered by hand).
    pub max_attempts: u32,
    /// How long an endpoint has to answer.
    pub request_timeout: Duration,
    /// How often the dispatcher looks for due deliveries while idle.
    pub poll_interval: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(60 * 60),
            failing_after: 5,
            max_attempts: 15,
            request_timeout: Duration::from_secs(15),
            poll_interval: Duration::from_millis(250),
        }
    }
}

impl DeliverySettings {
    /// The wait before the attempt after `attempts` failed ones: a random duration up to
    /// the exponential bound ("full jitter", so that endpoints that failed together are
    /// not retried together), the longest interval while the subscription is failing,
    /// and at least what the endpoint asked for in `Retry-After`, within the longest.
    pub fn next_delay(
        &self,
        attempts: u32,
        failing: bool,
        retry_after: Option<Duration>,
    ) -> Duration {
        let bound = if failing {
            self.retry_max
        } else {
            let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
            self.retry_base.saturating_mul(factor).min(self.retry_max)
        };
        let delay = if failing {
            bound
        } else {
            let millis = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
            Duration::from_millis(rand::rng().random_range(0..=millis))
        };
        delay.max(retry_after.unwrap_or_default().min(self.retry_max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DeliverySettings {
        DeliverySettings {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            ..DeliverySettings::default()
        }
    }

    #[test]
    fn each_wait_stays_under_a_bound_that_doubles_up_to_the_longest_interval() {
        let settings = settings();
        for (attempts, bound) in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (40, 60)] {
            for _ in 0..200 {
                let delay = settings.next_delay(attempts, false, None);
                assert!(delay <= Duration::from_secs(bound), "{attempts}: {delay:?}");
            }
        }
    }

    #[test]
    fn waits_are_spread_over_the_whole_interval() {
        let settings = settings();
        let delays: Vec<Duration> = (0..500)
            .map(|_| settings.next_delay(6, false, None))
            .collect();
        assert!(delays.iter().any(|d| *d < Duration::from_secs(8)));
        assert!(delays.iter().any(|d| *d > Duration::from_secs(24)));
    }

    #[test]
    fn a_failing_subscription_waits_the_longest_interval() {
        assert_eq!(
            settings().next_delay(1, true, None),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_is_honoured_within_the_longest_interval() {
        let settings = settings();
        let asked = Some(Duration::from_secs(30));
        assert!(settings.next_delay(1, false, asked) >= Duration::from_secs(30));
        let too_long = Some(Duration::from_secs(3600));
        assert_eq!(
            settings.next_delay(1, true, too_long),
            Duration::from_secs(60)
        );
    }
}
