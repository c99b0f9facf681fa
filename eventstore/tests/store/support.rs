//! Commands, raw rows and polling shared by the store tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::message::StreamMessage;
use chrono::Utc;
use domain::agent::{Agent, AgentCommand, AgentConfig, AgentConfigChanges, ModelConfig};
use eventstore::audit::{AuditSigner, CheckpointPolicy};
use eventstore::relay::ActiveRelay;
use eventstore::testing::TestEnv;
use eventstore::{CommandBus, CommandContext, Relay, RelayWaker, StoredEvent};
use futures::StreamExt;
use serde_json::json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// How long a test waits for something that depends on other transactions ending.
/// The reader's cut-off (`xmin`) is cluster-wide, so another test's open transaction on
/// the same server holds it back; the platform ends idle ones after 30 s.
pub const PATIENCE: Duration = Duration::from_secs(40);

const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `probe` until it returns `Some`, failing the test after `patience`.
pub async fn eventually_within<T, F, Fut>(what: &str, patience: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {patience:?} waiting until {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`eventually_within`] with the default patience.
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, PATIENCE, probe).await
}

/// A number in `0..bound`, for pauses and choices that only need to vary.
pub fn random_below(bound: u64) -> u64 {
    let bits = Uuid::new_v4().as_u128();
    u64::try_from(bits % u128::from(bound.max(1))).unwrap_or_default()
}

/// A bus for `env` that wakes the relay on `env`'s namespace.
pub fn command_bus(env: &TestEnv) -> CommandBus<Agent> {
    CommandBus::new(
        env.pool.clone(),
        (),
        RelayWaker::new(env.nats.clone(), &env.namespace),
    )
    .with_upcasters(domain::agent::upcasters())
}

/// A context for `tenant`, acting as the test, now.
pub fn context(tenant: Uuid) -> CommandContext {
    CommandContext::new(tenant, "test", Utc::now())
}

/// A valid configuration named `name`.
pub fn agent_config(name: &str) -> AgentConfig {
    AgentConfig {
        name: name.to_owned(),
        description: "Answers billing questions".to_owned(),
        model: ModelConfig {
            provider: "anthropic".to_owned(),
            name: "claude-sonnet".to_owned(),
            temperature: 0.7,
            max_output_tokens: 4_096,
        },
        system_prompt: "You are a helpful support agent.".to_owned(),
        tool_ids: vec![Uuid::from_u128(1)],
        metadata: BTreeMap::from([("team".to_owned(), "billing".to_owned())]),
    }
}

/// Creates agent `agent_id` of `tenant`.
pub fn create_agent(tenant: Uuid, agent_id: Uuid) -> AgentCommand {
    AgentCommand::CreateAgent {
        tenant_id: tenant,
        agent_id,
        config: agent_config("Support bot"),
        now: Utc::now(),
    }
}

/// Renames an agent of `tenant`; always accepted while the agent is not archived.
pub fn rename_agent(tenant: Uuid, name: &str) -> AgentCommand {
    AgentCommand::UpdateAgentConfig {
        tenant_id: tenant,
        changes: AgentConfigChanges {
            name: Some(name.to_owned()),
            ..AgentConfigChanges::default()
        },
        now: Utc::now(),
    }
}

/// Creates `count` agents of `tenant`, `concurrency` at a time, and returns their ids.
pub async fn create_agents(
    bus: &CommandBus<Agent>,
    tenant: Uuid,
    count: usize,
    concurrency: usize,
) -> Vec<Uuid> {
    futures::stream::iter(0..count)
        .map(|_| async move {
            let agent_id = Uuid::now_v7();
            bus.execute(
                &agent_id.to_string(),
                create_agent(tenant, agent_id),
                &context(tenant),
            )
            .await
            .expect("create agent");
            agent_id
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// How many events `aggregate_id` has.
pub async fn events_of(env: &TestEnv, aggregate_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
        .bind(aggregate_id)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

/// Creates an agent and returns its id as stored.
pub async fn given_an_agent(bus: &CommandBus<Agent>, tenant: Uuid) -> String {
    let agent_id = Uuid::now_v7();
    let receipt = bus
        .execute(
            &agent_id.to_string(),
            create_agent(tenant, agent_id),
            &context(tenant),
        )
        .await
        .expect("create agent");
    assert_eq!(receipt.version, 1);
    receipt.aggregate_id
}

/// An event row written with plain SQL, bypassing the command bus.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent {
    pub event_id: Uuid,
    pub transaction_id: i64,
}

/// Inserts a valid `AgentPaused` row at `sequence` of `aggregate_id`. On a transaction
/// that has not written yet, this INSERT is what gives it its transaction id.
pub async fn insert_raw_event<'e>(
    executor: impl PgExecutor<'e>,
    tenant: Uuid,
    aggregate_id: &str,
    sequence: i64,
) -> RawEvent {
    let event_id = Uuid::now_v7();
    let transaction_id: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, event_id, tenant_id, occurred_at)
         VALUES ('agent', $1, $2, 'AgentPaused', '1', $3, $4, $5, $6, now())
         RETURNING transaction_id::text::int8",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .bind(json!({"AgentPaused": {"reason": null, "paused_at": "2025-01-01T12:00:00Z"}}))
    .bind(json!({"tenant_id": tenant.to_string(), "actor": "sql"}))
    .bind(event_id)
    .bind(tenant)
    .fetch_one(executor)
    .await
    .expect("insert raw event");
    RawEvent {
        event_id,
        transaction_id,
    }
}

/// How many event rows the store holds.
pub async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .expect("count events")
}

/// Every event id in the store.
pub async fn event_ids_in_store(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT event_id FROM events")
        .fetch_all(pool)
        .await
        .expect("select event ids")
}

/// Every event in the store, in commit order (call once all writers have ended).
pub async fn stored_events_in_commit_order(pool: &PgPool) -> Vec<StoredEvent> {
    sqlx::query_as(
        "SELECT transaction_id::text::int8 AS transaction_id, position, event_id, tenant_id,
                aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload::text AS payload, metadata::text AS metadata, occurred_at
           FROM events ORDER BY transaction_id, position",
    )
    .fetch_all(pool)
    .await
    .expect("select events")
}

/// How many messages the namespace's event stream holds (0 before it exists).
pub async fn stream_message_count(env: &TestEnv) -> u64 {
    match env.jetstream.get_stream(env.namespace.stream()).await {
        Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
        Err(_) => 0,
    }
}

/// Every message in the namespace's event stream, in stream order.
pub async fn stream_messages(env: &TestEnv) -> Vec<StreamMessage> {
    let mut stream = env
        .jetstream
        .get_stream(env.namespace.stream())
        .await
        .expect("event stream exists");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut messages = Vec::new();
    if state.messages == 0 {
        return messages;
    }
    for sequence in state.first_sequence..=state.last_sequence {
        messages.push(
            stream
                .get_raw_message(sequence)
                .await
                .expect("get stream message"),
        );
    }
    messages
}

/// The `Nats-Msg-Id` of a stream message, as a UUID.
pub fn message_id(message: &StreamMessage) -> Uuid {
    let header = message
        .headers
        .get("Nats-Msg-Id")
        .expect("every message carries Nats-Msg-Id");
    Uuid::parse_str(header.as_str()).expect("Nats-Msg-Id is a UUID")
}

/// A relay for `env` that signs checkpoints with the development key as `policy` says.
pub fn audited_relay(env: &TestEnv, policy: CheckpointPolicy) -> Relay {
    Relay::new(
        env.pool.clone(),
        env.jetstream.clone(),
        env.namespace.clone(),
    )
    .with_batch_size(25)
    .with_signed_checkpoints(AuditSigner::development(), policy)
}

/// A policy that never signs on its own (checkpoints only on demand).
pub fn no_checkpoints() -> CheckpointPolicy {
    CheckpointPolicy {
        every_events: u64::MAX,
        every: Duration::from_secs(24 * 3600),
    }
}

/// Takes the relay lock, waiting for a previous holder's connection to be gone.
pub async fn acquire_relay(relay: &Relay) -> ActiveRelay {
    eventually("the relay lock is free", || async {
        relay.try_acquire().await.expect("try_acquire")
    })
    .await
}

/// Runs batches until the audit chain has `length` links.
pub async fn chain_until(active: &mut ActiveRelay, length: i64) {
    let deadline = Instant::now() + PATIENCE;
    while active.chain_head().chain_index < length {
        assert!(
            Instant::now() < deadline,
            "chained only {}",
            active.chain_head().chain_index
        );
        if active
            .process_batch()
            .await
            .expect("process_batch")
            .published
            == 0
        {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
    assert_eq!(active.chain_head().chain_index, length);
}

/// The chain's (index, event id) rows in index order.
pub async fn chain_rows(pool: &PgPool) -> Vec<(i64, Uuid)> {
    sqlx::query_as("SELECT chain_index, event_id FROM audit_chain ORDER BY chain_index")
        .fetch_all(pool)
        .await
        .expect("select chain")
}

/// Asserts that the chain is 1..=n over exactly the store's events in commit order.
pub async fn assert_chain_covers_the_store(pool: &PgPool) {
    let chain = chain_rows(pool).await;
    let indexes: Vec<i64> = chain.iter().map(|(index, _)| *index).collect();
    let expected: Vec<i64> = (1..=i64::try_from(chain.len()).unwrap()).collect();
    assert_eq!(indexes, expected, "the chain has a gap or a duplicate");
    let chained: Vec<Uuid> = chain.iter().map(|(_, id)| *id).collect();
    let commit_order: Vec<Uuid> = stored_events_in_commit_order(pool)
        .await
        .iter()
        .map(|event| event.event_id)
        .collect();
    assert_eq!(chained, commit_order);
}
