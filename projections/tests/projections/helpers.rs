//! The test's world: commands through the real command bus, the relay publishing them to
//! the test's own stream, and what the stores hold afterwards.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::{DateTime, TimeZone, Utc};
use domain::agent::{Agent, AgentCommand, AgentConfig, AgentConfigChanges, ModelConfig};
use eventstore::relay::ActiveRelay;
use eventstore::testing::TestEnv;
use eventstore::{CommandBus, CommandContext, Namespace, Relay, RelayWaker};
use projections::AgentView;
use projections::agents::AGENTS_PROJECTION;
use sqlx::PgPool;
use uuid::Uuid;

/// How long any "until caught up" wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

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
            bus: CommandBus::new(env.pool.clone(), (), RelayWaker::default())
                .with_upcasters(domain::agent::upcasters()),
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
            paused_by: "test".to_owned(),
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
