//! Configuration from environment variables.

use std::path::PathBuf;
use std::time::Duration;

/// Where to read from and where to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub nats_url: String,
    /// The event stream: `<NAMESPACE>_EVENTS`.
    pub stream: String,
    /// The tenant's subjects: `<namespace>.events.<tenant id>.>`.
    pub filter_subject: String,
    /// The durable consumer's name.
    pub durable: String,
    /// The effect log (JSON lines).
    pub output: PathBuf,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Exit after this many events, before acknowledging the last (demonstrations only).
    pub crash_after: Option<u64>,
}

impl Settings {
    /// Reads `NATS_URL` (default `nats://127.0.0.1:4222`), `AGENTOS_NAMESPACE` (default
    /// `agentos`), `AGENTOS_TENANT_ID` (required), `SUBSCRIBER_DURABLE` (default
    /// `subscriber-<tenant id>`), `SUBSCRIBER_OUTPUT` (default `events.jsonl`),
    /// `SUBSCRIBER_ACK_WAIT_MS` (default 10000) and `SUBSCRIBER_CRASH_AFTER`.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let namespace = var("AGENTOS_NAMESPACE").unwrap_or_else(|| "agentos".to_owned());
        let tenant = var("AGENTOS_TENANT_ID").ok_or("AGENTOS_TENANT_ID is required")?;
        // Subject tokens cannot hold these; a tenant id is a UUID anyway.
        if tenant.contains(['.', '*', '>', ' ']) {
            return Err(format!("AGENTOS_TENANT_ID `{tenant}` is not a tenant id"));
        }
        let number = |name: &str| -> Result<Option<u64>, String> {
            var(name)
                .map(|v| {
                    v.parse()
                        .map_err(|_| format!("{name} must be a whole number"))
                })
                .transpose()
        };
        Ok(Self {
            nats_url: var("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned()),
            stream: format!("{}_EVENTS", namespace.to_ascii_uppercase()),
            filter_subject: format!("{namespace}.events.{tenant}.>"),
            durable: var("SUBSCRIBER_DURABLE").unwrap_or_else(|| format!("subscriber-{tenant}")),
            output: var("SUBSCRIBER_OUTPUT")
                .unwrap_or_else(|| "events.jsonl".to_owned())
                .into(),
            ack_wait: Duration::from_millis(number("SUBSCRIBER_ACK_WAIT_MS")?.unwrap_or(10_000)),
            crash_after: number("SUBSCRIBER_CRASH_AFTER")?,
        })
    }
}
