//! Shared set-up: commands through the real command bus, the relay publishing them to the
//! test's own stream, and projectors driven step by step or as running tasks.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer};
use chrono::{DateTime, TimeZone, Utc};
use domain::agent::{Agent, AgentCommand, AgentConfig, AgentConfigChanges, ModelConfig};
use eventstore::relay::ActiveRelay;
use eventstore::testing::TestEnv;
use eventstore::{CommandBus, CommandContext, Namespace, Relay, RelayWaker};
use futures::TryStreamExt;
use projections::agents::AGENTS_PROJECTION;
use projections::runner::Delivered;
use projections::{AgentView, Projection, ProjectionError, ProjectionRunner, RunnerConfig};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long any "until caught up" wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Short ack wait so that unacknowledged messages come back within the test.
pub const RUNNER_CONFIG: RunnerConfig = RunnerConfig {
    batch_size: 50,
    ack_wait: Duration::from_secs(1),
};

/// A fixed instant `minutes` after a reference time (microsecond precision, as Postgres
/// stores it), so expected rows can be written down exactly.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// A valid configuration called `name`.
pub fn config(name: &str) -> AgentConfig {
    AgentConfig {
        name: name.to_owned(),
        description: format!("{name}, for tests"),
        model: ModelConfig {
            provider: "anthropic".to_owned(),
            name: "claude-sonnet".to_owned(),
            temperature: 0.7,
            max_output_tokens: 4_096,
        },
        system_prompt: "You are a helpful agent.".to_owned(),
        tool_ids: vec![Uuid::from_u128(1), Uuid::from_u128(2)],
        metadata: BTreeMap::from([("team".to_owned(), "billing".to_owned())]),
    }
}

/// Agent commands executed through the real command bus.
pub struct Commands {
    pub bus: CommandBus<Agent>,
}

impl Commands {
    pub fn new(env: &TestEnv) -> Self {
        Self {
            bus: CommandBus::new(env.pool.clone(), (), RelayWaker::default()),
        }
    }

    /// Executes `command` on agent `id`; returns the agent's new version.
    pub async fn execute(&self, tenant_id: Uuid, id: Uuid, command: AgentCommand) -> u64 {
        let context = CommandContext::new(tenant_id, "test", Utc::now());
        self.bus
            .execute(&id.to_string(), command, &context)
            .await
            .unwrap_or_else(|err| panic!("command on {id} rejected: {err}"))
            .version
    }

    pub async fn create(&self, tenant_id: Uuid, name: &str, now: DateTime<Utc>) -> Uuid {
        self.create_with(tenant_id, config(name), now).await
    }

    pub async fn create_with(
        &self,
        tenant_id: Uuid,
        config: AgentConfig,
        now: DateTime<Utc>,
    ) -> Uuid {
        let agent_id = Uuid::now_v7();
        let command = AgentCommand::CreateAgent {
            tenant_id,
            agent_id,
            config,
            now,
        };
        self.execute(tenant_id, agent_id, command).await;
        agent_id
    }

    pub async fn update(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        changes: AgentConfigChanges,
        now: DateTime<Utc>,
    ) -> u64 {
        let command = AgentCommand::UpdateAgentConfig {
            tenant_id,
            changes,
            now,
        };
        self.execute(tenant_id, id, command).await
    }

    pub async fn rename(&self, tenant_id: Uuid, id: Uuid, name: &str, now: DateTime<Utc>) -> u64 {
        let changes = AgentConfigChanges {
            name: Some(name.to_owned()),
            ..AgentConfigChanges::default()
        };
        self.update(tenant_id, id, changes, now).await
    }

    pub async fn pause(&self, tenant_id: Uuid, id: Uuid, now: DateTime<Utc>) -> u64 {
        let command = AgentCommand::PauseAgent {
            tenant_id,
            reason: Some("maintenance".to_owned()),
            now,
        };
        self.execute(tenant_id, id, command).await
    }

    pub async fn resume(&self, tenant_id: Uuid, id: Uuid, now: DateTime<Utc>) -> u64 {
        let command = AgentCommand::ResumeAgent { tenant_id, now };
        self.execute(tenant_id, id, command).await
    }

    pub async fn archive(&self, tenant_id: Uuid, id: Uuid, now: DateTime<Utc>) -> u64 {
        let command = AgentCommand::ArchiveAgent {
            tenant_id,
            reason: None,
            now,
        };
        self.execute(tenant_id, id, command).await
    }

    /// Asserts that `view` shows what folding the agent's events gives.
    pub async fn assert_view_matches_aggregate(&self, view: &AgentView) {
        let (agent, version) = self.bus.load(&view.id.to_string()).await.unwrap();
        let config = agent.config().unwrap();
        assert_eq!(
            view.tenant_id,
            agent.tenant_id().unwrap(),
            "tenant of {}",
            view.id
        );
        assert_eq!(view.name, config.name, "name of {}", view.id);
        assert_eq!(
            view.status,
            agent.status().unwrap().as_str(),
            "status of {}",
            view.id
        );
        assert_eq!(
            view.config_version,
            i32::try_from(agent.config_version()).unwrap()
        );
        assert_eq!(
            u64::try_from(view.version).unwrap(),
            version,
            "version of {}",
            view.id
        );
    }
}

/// The relay of the test's event store, held for the whole test and stepped by hand.
pub struct Publisher {
    relay: ActiveRelay,
    pool: PgPool,
    jetstream: jetstream::Context,
    namespace: Namespace,
}

impl Publisher {
    pub async fn new(env: &TestEnv) -> Self {
        let relay = Relay::new(
            env.pool.clone(),
            env.jetstream.clone(),
            env.namespace.clone(),
        )
        .try_acquire()
        .await
        .unwrap()
        .expect("no other relay holds the test's lock");
        Self {
            relay,
            pool: env.pool.clone(),
            jetstream: env.jetstream.clone(),
            namespace: env.namespace.clone(),
        }
    }

    /// Publishes every committed event; returns the stream's last sequence.
    ///
    /// A batch that publishes nothing does not mean everything is out: the relay only
    /// reads below the cluster-wide xmin, which other databases' transactions can hold
    /// back for a moment. So this waits until the stream holds one message per event.
    pub async fn publish_all(&mut self) -> u64 {
        let events = event_count(&self.pool).await;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let outcome = self.relay.process_batch().await.unwrap();
            let last = last_stream_sequence(&self.jetstream, &self.namespace).await;
            if last >= events {
                return last;
            }
            assert!(
                Instant::now() < deadline,
                "relay published {last} of {events} events"
            );
            if outcome.published == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// How many events the test's store holds.
pub async fn event_count(pool: &PgPool) -> u64 {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    u64::try_from(count).unwrap()
}

/// The sequence of the last message in the namespace's stream (0 when empty).
pub async fn last_stream_sequence(jetstream: &jetstream::Context, namespace: &Namespace) -> u64 {
    let stream = eventstore::relay::ensure_stream(jetstream, namespace)
        .await
        .unwrap();
    stream.get_info().await.unwrap().state.last_sequence
}

/// The consumer's state as the server reports it now.
pub async fn consumer_info(env: &TestEnv, name: &str) -> jetstream::consumer::Info {
    let stream = eventstore::relay::ensure_stream(&env.jetstream, &env.namespace)
        .await
        .unwrap();
    stream.consumer_info(name).await.unwrap()
}

/// A runner with the tests' short ack wait.
pub fn runner<P: Projection>(projection: Arc<P>, env: &TestEnv) -> ProjectionRunner<P> {
    ProjectionRunner::new(
        projection,
        env.jetstream.clone(),
        env.namespace.clone(),
        RUNNER_CONFIG,
    )
}

/// Whatever the consumer has ready, up to `max` messages, without waiting.
pub async fn fetch(consumer: &PullConsumer, max: usize) -> Vec<jetstream::Message> {
    consumer
        .fetch()
        .max_messages(max)
        .messages()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// Exactly `count` messages, fetched in as many rounds as it takes.
pub async fn fetch_exactly(consumer: &PullConsumer, count: usize) -> Vec<jetstream::Message> {
    let deadline = Instant::now() + PATIENCE;
    let mut messages = Vec::with_capacity(count);
    while messages.len() < count {
        assert!(
            Instant::now() < deadline,
            "got {} of {count} messages",
            messages.len()
        );
        let batch = fetch(consumer, count - messages.len()).await;
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        messages.extend(batch);
    }
    messages
}

/// The messages as the runner hands them to a projection.
pub fn delivered(messages: &[jetstream::Message]) -> Vec<Delivered> {
    messages
        .iter()
        .map(|message| Delivered {
            stream_sequence: message.info().unwrap().stream_sequence,
            event: serde_json::from_slice(&message.payload).unwrap(),
        })
        .collect()
}

/// Fetches and handles batches until `caught_up` holds; returns how many events the
/// projection applied on the way.
pub async fn drive_until<P, F, Fut>(
    runner: &ProjectionRunner<P>,
    consumer: &PullConsumer,
    mut caught_up: F,
) -> usize
where
    P: Projection,
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    let mut applied = 0;
    while !caught_up().await {
        assert!(Instant::now() < deadline, "projection did not catch up");
        let messages = fetch(consumer, RUNNER_CONFIG.batch_size).await;
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else {
            applied += runner.handle(messages).await.unwrap();
        }
    }
    applied
}

/// Polls `condition` until it holds, failing the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Postgres projection's checkpoint (0 before the projector first prepared).
pub async fn pg_checkpoint(pool: &PgPool) -> u64 {
    projections::checkpoint::ensure(pool, AGENTS_PROJECTION)
        .await
        .unwrap();
    projections::checkpoint::read(pool, AGENTS_PROJECTION)
        .await
        .unwrap()
}

/// Every row of the live `agents` table, in id order.
pub async fn all_rows(pool: &PgPool) -> Vec<AgentView> {
    sqlx::query_as("SELECT * FROM agents ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Counts what passes through a projection: every event offered, and every one applied.
/// `applied` counts events past the checkpoint whether or not a row changed, so the
/// per-row version guard cannot hide a second application from it.
pub struct Counting<P> {
    inner: P,
    pub offered: AtomicUsize,
    pub applied: AtomicUsize,
}

impl<P> Counting<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            offered: AtomicUsize::new(0),
            applied: AtomicUsize::new(0),
        }
    }
}

#[async_trait::async_trait]
impl<P: Projection> Projection for Counting<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn filter_subject(&self, namespace: &Namespace) -> String {
        self.inner.filter_subject(namespace)
    }

    async fn prepare(&self) -> Result<u64, ProjectionError> {
        self.inner.prepare().await
    }

    async fn apply(&self, events: &[Delivered]) -> Result<usize, ProjectionError> {
        self.offered.fetch_add(events.len(), Ordering::SeqCst);
        let applied = self.inner.apply(events).await?;
        self.applied.fetch_add(applied, Ordering::SeqCst);
        Ok(applied)
    }
}

/// A projector running as a task, as the service runs it.
pub struct RunningProjector {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ProjectionError>>,
}

impl RunningProjector {
    pub fn spawn<P: Projection>(projection: Arc<P>, env: &TestEnv) -> Self {
        let runner = runner(projection, env);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { runner.run(token).await });
        Self { shutdown, task }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}
