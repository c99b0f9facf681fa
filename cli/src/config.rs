//! Configuration: one typed struct, read once from flags and environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use eventstore::Namespace;
use eventstore::audit::signing::DEVELOPMENT_SIGNING_KEY;
use eventstore::audit::{AuditSigner, CheckpointPolicy};
use secrecy::{ExposeSecret, SecretString};

/// Everything a process needs to know about its surroundings.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Postgres holding the event store and the Postgres read models.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/agentos", value_parser = secret, hide_default_value = true)]
    pub database_url: SecretString,
    /// NATS with JetStream.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Redis for hot read models.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", value_parser = secret, hide_default_value = true)]
    pub redis_url: SecretString,
    /// Where the command API listens.
    #[arg(
        long,
        env = "AGENTOS_COMMAND_API_ADDR",
        default_value = "127.0.0.1:8000"
    )]
    pub command_api_addr: SocketAddr,
    /// Where the query API listens.
    #[arg(long, env = "AGENTOS_QUERY_API_ADDR", default_value = "127.0.0.1:8001")]
    pub query_api_addr: SocketAddr,
    /// Where a process without an API serves /healthz, /readyz and /metrics.
    #[arg(long, env = "AGENTOS_OPS_ADDR", default_value = "127.0.0.1:9000")]
    pub ops_addr: SocketAddr,
    /// Prefix of every NATS stream and subject (stream `<NS>_EVENTS`, `<ns>.events.>`).
    #[arg(long, env = "AGENTOS_NAMESPACE", default_value = "agentos", value_parser = namespace)]
    pub namespace: Namespace,
    /// Prefix of every Redis key.
    #[arg(long, env = "AGENTOS_REDIS_PREFIX", default_value = "agentos")]
    pub redis_prefix: String,
    /// Longest wait of a read that carries X-Consistency-Token, in milliseconds (at most
    /// 25,000: the wait must end well before the 30 s request timeout).
    #[arg(long, env = "AGENTOS_CONSISTENCY_WAIT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(0..=25_000))]
    pub consistency_wait_ms: u64,
    /// Postgres connections per process.
    #[arg(long, env = "AGENTOS_DB_MAX_CONNECTIONS", default_value_t = 32)]
    pub db_max_connections: u32,
    /// OTLP/HTTP collector, e.g. http://127.0.0.1:4318; traces are exported when set.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Log lines as JSON instead of text.
    #[arg(long, env = "AGENTOS_LOG_JSON", default_value_t = false)]
    pub log_json: bool,
    /// Ed25519 seed (32 bytes, base64) that signs audit checkpoints. The default is the
    /// development key published in the README: set your own anywhere that matters.
    #[arg(long, env = "AGENTOS_AUDIT_SIGNING_KEY", default_value = DEVELOPMENT_SIGNING_KEY, value_parser = secret, hide_default_value = true)]
    pub audit_signing_key: SecretString,
    /// The relay signs the audit chain at least every this many events…
    #[arg(long, env = "AGENTOS_AUDIT_CHECKPOINT_EVERY", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_checkpoint_every: u64,
    /// …and every this many seconds while the chain grows.
    #[arg(long, env = "AGENTOS_AUDIT_CHECKPOINT_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_checkpoint_seconds: u64,
}

impl Config {
    /// The database URL (a secret: never log it).
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// The Redis URL (a secret: it may hold a password).
    pub fn redis_url(&self) -> &str {
        self.redis_url.expose_secret()
    }

    /// The signer of audit checkpoints.
    pub fn audit_signer(&self) -> anyhow::Result<AuditSigner> {
        AuditSigner::from_base64_seed(self.audit_signing_key.expose_secret())
            .map_err(anyhow::Error::msg)
    }

    /// When the relay signs the chain.
    pub fn checkpoint_policy(&self) -> CheckpointPolicy {
        CheckpointPolicy {
            every_events: self.audit_checkpoint_every,
            every: Duration::from_secs(self.audit_checkpoint_seconds),
        }
    }

    /// The consistency wait bound.
    pub fn consistency_wait(&self) -> Duration {
        Duration::from_millis(self.consistency_wait_ms)
    }
}

fn secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value.to_owned()))
}

fn namespace(value: &str) -> Result<Namespace, String> {
    Namespace::new(value)
}

/// A part of the platform a process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Every role below, in one process.
    All,
    CommandApi,
    QueryApi,
    Relay,
    Projector,
}

impl Role {
    /// Whether `roles` includes `self` (directly or through `all`).
    pub fn in_set(self, roles: &[Role]) -> bool {
        roles.contains(&Role::All) || roles.contains(&self)
    }
}
