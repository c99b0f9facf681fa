//! Configuration: one typed struct, read once from flags and environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use eventstore::Namespace;
use eventstore::audit::signing::DEVELOPMENT_SIGNING_KEY;
use eventstore::audit::{AuditSigner, CheckpointPolicy};
use secrecy::{ExposeSecret, SecretString};
use webhooks::DeliverySettings;

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
    /// The HMAC-SHA256 key that signs every request the tool executor sends to an `http`
    /// tool (`X-AgentOS-Signature`). The default is for development only: set your own.
    #[arg(long, env = "AGENTOS_TOOL_SIGNING_SECRET", default_value = executor::config::DEVELOPMENT_SIGNING_SECRET, value_parser = secret, hide_default_value = true)]
    pub tool_signing_secret: SecretString,
    /// Most tool calls one tool executor carries out at once.
    #[arg(long, env = "AGENTOS_TOOL_EXECUTOR_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub tool_executor_concurrency: u16,
    /// Longest silence on an event stream (SSE) before a heartbeat comment, in ms.
    #[arg(long, env = "AGENTOS_SSE_HEARTBEAT_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub sse_heartbeat_ms: u64,
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
    /// How the webhook worker delivers.
    #[command(flatten)]
    pub webhooks: WebhookConfig,
    /// How the run engine runs, and the model server it may call.
    #[command(flatten)]
    pub engine: EngineSettings,
}

/// The webhook worker's retry schedule and limits.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct WebhookConfig {
    /// First retry interval in ms; attempt n waits a random time up to base × 2^(n-1).
    #[arg(long = "webhook-retry-base-ms", env = "AGENTOS_WEBHOOK_RETRY_BASE_MS",
          default_value_t = millis(DeliverySettings::default().retry_base))]
    pub retry_base_ms: u64,
    /// Longest retry interval in ms, and the interval of a failing subscription.
    #[arg(long = "webhook-retry-max-ms", env = "AGENTOS_WEBHOOK_RETRY_MAX_MS",
          default_value_t = millis(DeliverySettings::default().retry_max))]
    pub retry_max_ms: u64,
    /// Failed attempts in a row after which a subscription is marked failing.
    #[arg(long = "webhook-failing-after", env = "AGENTOS_WEBHOOK_FAILING_AFTER",
          default_value_t = DeliverySettings::default().failing_after,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub failing_after: u32,
    /// Attempts after which a delivery is given up (it can be redelivered by hand).
    #[arg(long = "webhook-max-attempts", env = "AGENTOS_WEBHOOK_MAX_ATTEMPTS",
          default_value_t = DeliverySettings::default().max_attempts,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// How long an endpoint has to answer, in ms.
    #[arg(long = "webhook-timeout-ms", env = "AGENTOS_WEBHOOK_TIMEOUT_MS",
          default_value_t = millis(DeliverySettings::default().request_timeout))]
    pub timeout_ms: u64,
    /// How often an idle worker looks for due deliveries, in ms.
    #[arg(long = "webhook-poll-ms", env = "AGENTOS_WEBHOOK_POLL_MS",
          default_value_t = millis(DeliverySettings::default().poll_interval))]
    pub poll_ms: u64,
}

impl WebhookConfig {
    /// The worker's settings.
    pub fn settings(&self) -> DeliverySettings {
        DeliverySettings {
            retry_base: Duration::from_millis(self.retry_base_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            failing_after: self.failing_after,
            max_attempts: self.max_attempts,
            request_timeout: Duration::from_millis(self.timeout_ms),
            poll_interval: Duration::from_millis(self.poll_ms),
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        let settings = DeliverySettings::default();
        Self {
            retry_base_ms: millis(settings.retry_base),
            retry_max_ms: millis(settings.retry_max),
            failing_after: settings.failing_after,
            max_attempts: settings.max_attempts,
            timeout_ms: millis(settings.request_timeout),
            poll_ms: millis(settings.poll_interval),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How the run engine runs, and the model server it may call.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineSettings {
    /// Most runs one engine advances at once.
    #[arg(long, env = "AGENTOS_ENGINE_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub engine_concurrency: u16,
    /// How long JetStream waits for an engine to finish with an event (it beats progress
    /// meanwhile) before it hands the event to another engine, in milliseconds.
    #[arg(long, env = "AGENTOS_ENGINE_ACK_WAIT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1000..))]
    pub engine_ack_wait_ms: u64,
    /// How long a run's lease lasts unless its engine's heartbeats extend it, in milliseconds.
    #[arg(long, env = "AGENTOS_ENGINE_LEASE_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(300..))]
    pub engine_lease_ms: u64,
    /// How often an engine extends its leases (and the reaper looks for expired ones), in
    /// milliseconds; well below the lease.
    #[arg(long, env = "AGENTOS_ENGINE_HEARTBEAT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub engine_heartbeat_ms: u64,
    /// How long a run may go on before the reaper times it out, in milliseconds.
    #[arg(long, env = "AGENTOS_ENGINE_RUN_TIMEOUT_MS", default_value_t = 3_600_000,
          value_parser = clap::value_parser!(u64).range(1000..))]
    pub engine_run_timeout_ms: u64,
    /// An OpenAI-compatible chat-completions API, e.g. https://api.openai.com/v1: agents whose
    /// `model.provider` is `openai` call it. Without it, such runs fail.
    #[arg(long, env = "AGENTOS_OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// The API key sent to that server.
    #[arg(long, env = "AGENTOS_OPENAI_API_KEY", value_parser = secret, hide_env_values = true)]
    pub openai_api_key: Option<SecretString>,
    /// A model every call asks for instead of the agent's `model.name`.
    #[arg(long, env = "AGENTOS_OPENAI_MODEL")]
    pub openai_model: Option<String>,
    /// How long one attempt at a model call may take, in milliseconds.
    #[arg(long, env = "AGENTOS_OPENAI_TIMEOUT_MS", default_value_t = 60_000)]
    pub openai_timeout_ms: u64,
    /// How many times a model call is retried after a connection error, a timeout, a 429 or a 5xx.
    #[arg(long, env = "AGENTOS_OPENAI_RETRIES", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub openai_retries: u32,
}

impl EngineSettings {
    /// The engine's settings, under a fresh engine name.
    pub fn engine_config(&self) -> engine::EngineConfig {
        let mut config = engine::EngineConfig::new();
        config.concurrency = usize::from(self.engine_concurrency);
        config.ack_wait = Duration::from_millis(self.engine_ack_wait_ms);
        config.lease_duration = Duration::from_millis(self.engine_lease_ms);
        config.heartbeat_every = Duration::from_millis(self.engine_heartbeat_ms);
        config.run_timeout = Duration::from_millis(self.engine_run_timeout_ms);
        config
    }

    /// The OpenAI-compatible server's settings, when one is configured.
    pub fn openai_config(&self) -> Option<engine::provider::OpenAiConfig> {
        let base_url = self.openai_base_url.clone()?;
        let mut config = engine::provider::OpenAiConfig::new(base_url);
        config.api_key = self.openai_api_key.clone();
        config.model = self.openai_model.clone();
        config.timeout = Duration::from_millis(self.openai_timeout_ms);
        config.retries = self.openai_retries;
        Some(config)
    }
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

    /// Whether tool requests are signed with the development default secret.
    pub fn signs_with_development_secret(&self) -> bool {
        self.tool_signing_secret.expose_secret() == executor::config::DEVELOPMENT_SIGNING_SECRET
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

    /// The longest silence on an event stream.
    pub fn sse_heartbeat(&self) -> Duration {
        Duration::from_millis(self.sse_heartbeat_ms)
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
    /// Carries out requested tool invocations (several may run side by side).
    ToolExecutor,
    /// Delivers events to webhook subscriptions.
    WebhookWorker,
    /// Records usage on billing accounts from the events that cause it.
    BillingReactor,
    /// Drives runs: model calls, tool calls, leases and the reaper (several may run side by side).
    Engine,
}

impl Role {
    /// Whether `roles` includes `self` (directly or through `all`).
    pub fn in_set(self, roles: &[Role]) -> bool {
        roles.contains(&Role::All) || roles.contains(&self)
    }
}
