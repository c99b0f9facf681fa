//! How an executor runs: who it is, how much it does at once, and its timings.

use std::time::Duration;

use secrecy::SecretString;
use uuid::Uuid;

/// The signing secret used when none is configured: fine on a laptop, never in production.
pub const DEVELOPMENT_SIGNING_SECRET: &str = "agentos-development-signing-secret";

/// An executor's settings.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The name recorded on each attempt it starts; unique per process.
    pub instance: String,
    /// The HMAC key of the `X-AgentOS-Signature` header on requests to `http` tools.
    pub signing_secret: SecretString,
    /// Most calls carried out at once.
    pub concurrency: usize,
    /// How long JetStream waits for an ack (or a progress beat) before it redelivers a
    /// requested call to another executor. Beats go out every third of it while a call runs,
    /// so only a dead executor's calls are redelivered.
    pub ack_wait: Duration,
    /// The pause before the first retry of an `http` call; it doubles with each retry.
    pub retry_base: Duration,
    /// The longest pause between retries.
    pub retry_cap: Duration,
    /// The largest response body an `http` tool may answer with.
    pub max_response_bytes: usize,
}

impl ExecutorConfig {
    /// The defaults, signing with `signing_secret`, under a fresh instance name.
    pub fn new(signing_secret: SecretString) -> Self {
        Self {
            instance: format!("tool-executor-{}", Uuid::now_v7()),
            signing_secret,
            concurrency: 32,
            ack_wait: Duration::from_secs(30),
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
        }
    }

    /// The pause before retry number `retry` (0 for the first): exponential, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(16));
        self.retry_base.saturating_mul(factor).min(self.retry_cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let config = ExecutorConfig::new(SecretString::from("s"));
        let pauses: Vec<u128> = (0..8).map(|n| config.backoff(n).as_millis()).collect();
        assert_eq!(pauses, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(config.backoff(u32::MAX), config.retry_cap);
    }

    #[test]
    fn every_executor_has_its_own_name() {
        let secret = || SecretString::from("s");
        assert_ne!(
            ExecutorConfig::new(secret()).instance,
            ExecutorConfig::new(secret()).instance
        );
    }
}
