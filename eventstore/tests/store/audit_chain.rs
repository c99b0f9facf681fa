//! The audit chain: the relay links every event, in commit order, once, across restarts,
//! crashes before its checkpoint, and a lost stream; signed checkpoints are stored and
//! published.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::Stream;
use domain::agent::Agent;
use eventstore::audit::checkpoints::{self, CheckpointPolicy, SignedCheckpoint};
use eventstore::audit::{AuditSigner, verify};
use eventstore::relay::ActiveRelay;
use eventstore::testing::TestEnv;
use eventstore::{CommandBus, Relay};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::support::{
    PATIENCE, acquire_relay, assert_chain_covers_the_store, audited_relay, chain_rows, chain_until,
    command_bus, context, create_agents, event_count, no_checkpoints, rename_agent,
};

/// Runs batches until a checkpoint at `from` or later is stored; the stored ones.
async fn batches_until_signed(
    active: &mut ActiveRelay,
    env: &TestEnv,
    from: i64,
) -> Vec<SignedCheckpoint> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        active.process_batch().await.unwrap();
        let stored = checkpoints::stored_from(&env.pool, from).await.unwrap();
        if !stored.is_empty() {
            return stored;
        }
        assert!(Instant::now() < deadline, "nothing was signed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Asserts the chain numbers the store's events 1..=`length` in commit order and verifies.
async fn assert_sound_chain(env: &TestEnv, length: u64) {
    assert_chain_covers_the_store(&env.pool).await;
    let key = AuditSigner::development().public_key();
    let report = verify::verify(&env.pool, &[key], 1).await.unwrap();
    assert_eq!(report.mismatch, None);
    assert_eq!(report.verified, length);
    assert_eq!(report.unchained, 0);
}

/// `agents` agents of one tenant, all chained by a relay that has stopped again.
async fn a_chained_store(agents: usize) -> (TestEnv, CommandBus<Agent>, Uuid, Relay) {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let relay = audited_relay(&env, no_checkpoints());
    create_agents(&bus, tenant, agents, 4).await;
    let mut first = acquire_relay(&relay).await;
    chain_until(&mut first, i64::try_from(agents).unwrap()).await;
    (env, bus, tenant, relay)
}

async fn total(env: &TestEnv) -> i64 {
    event_count(&env.pool).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_chains_every_event_once_in_commit_order() {
    let env = TestEnv::new().await;
    let bus = Arc::new(command_bus(&env));
    let tenant = Uuid::now_v7();

    // Given events appended by concurrent writers,
    let agents = create_agents(&bus, tenant, 40, 8).await;
    let mut writers = JoinSet::new();
    for agent_id in agents {
        let bus = Arc::clone(&bus);
        writers.spawn(async move {
            bus.execute(
                &agent_id.to_string(),
                rename_agent(tenant, "Renamed"),
                &context(tenant),
            )
            .await
            .expect("rename");
        });
    }
    writers.join_all().await;

    // when the relay publishes them in batches of 25,
    let mut active = acquire_relay(&audited_relay(&env, no_checkpoints())).await;
    chain_until(&mut active, total(&env).await).await;

    // then the chain numbers every stored event 1..n in commit order, and verifies.
    assert_sound_chain(&env, 80).await;

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_restarted_mid_chain_continues_it_without_a_gap_or_a_duplicate() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let relay = audited_relay(&env, no_checkpoints());
    create_agents(&bus, tenant, 30, 4).await;

    // Given a relay that chained part of the events and was stopped,
    let mut first = acquire_relay(&relay).await;
    first.process_batch().await.unwrap();
    let chained_before = first.chain_head().chain_index;
    assert!(chained_before < 30);
    drop(first);

    // when more events arrive and a new relay takes over,
    create_agents(&bus, tenant, 20, 4).await;
    let mut second = acquire_relay(&relay).await;
    assert_eq!(second.chain_head().chain_index, chained_before);
    chain_until(&mut second, 50).await;

    // then the chain goes on where it stopped: 1..50, each event once, and verifies.
    assert_sound_chain(&env, 50).await;

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_published_just_before_a_crash_are_chained_by_the_next_relay() {
    let (env, _, _, relay) = a_chained_store(40).await;

    // Given the last batch reached the stream but its transaction (chain links and relay
    // checkpoint) never committed,
    let (transaction_id, position): (i64, i64) = sqlx::query_as(
        "SELECT transaction_id::text::int8, position FROM audit_chain WHERE chain_index = 25",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM audit_chain WHERE chain_index > 25")
        .execute(&env.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE relay_checkpoints
            SET transaction_id = $1::text::xid8, position = $2, stream_sequence = 25",
    )
    .bind(transaction_id.to_string())
    .bind(position)
    .execute(&env.pool)
    .await
    .unwrap();

    // when the next relay starts, finds them in the stream and does not publish them again,
    let mut second = acquire_relay(&relay).await;
    let outcome = second.process_batch().await.unwrap();
    assert_eq!((outcome.published, outcome.duplicates), (0, 0));

    // then it has chained them all the same: 1..40, once each.
    assert_eq!(second.chain_head().chain_index, 40);
    assert_sound_chain(&env, 40).await;

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn republishing_into_a_lost_stream_chains_nothing_twice() {
    let (env, bus, tenant, relay) = a_chained_store(30).await;

    // Given the stream is lost, so the relay republishes every event,
    env.jetstream
        .delete_stream(env.namespace.stream())
        .await
        .unwrap();
    let mut second = acquire_relay(&relay).await;
    let mut republished = 0;
    while republished < 30 {
        republished += second.process_batch().await.unwrap().published;
    }

    // then the chain is unchanged, and new events continue it.
    assert_eq!(chain_rows(&env.pool).await.len(), 30);
    create_agents(&bus, tenant, 5, 1).await;
    chain_until(&mut second, 35).await;
    assert_sound_chain(&env, 35).await;

    env.cleanup().await;
}

/// Every checkpoint the audit stream holds, in order.
async fn published_checkpoints(env: &TestEnv) -> Vec<SignedCheckpoint> {
    let mut stream: Stream = env
        .jetstream
        .get_stream(env.namespace.audit_stream())
        .await
        .expect("the audit stream exists");
    let state = stream.info().await.unwrap().state.clone();
    let mut checkpoints = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            assert_eq!(
                message.subject.as_str(),
                env.namespace.audit_checkpoint_subject()
            );
            checkpoints.push(serde_json::from_slice(&message.payload).unwrap());
        }
    }
    checkpoints
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_signs_the_chain_every_n_events_and_publishes_each_checkpoint() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let policy = CheckpointPolicy {
        every_events: 20,
        every: Duration::from_secs(3600),
    };
    // (100 events: batches hold at most 25, and fewer when another transaction on the
    // server holds the reader back, so a checkpoint comes at most 44 events after the
    // one before: two at least, however the batches fall.)
    create_agents(&bus, tenant, 100, 4).await;

    // Given a relay that signs every 20 events and publishes batches of 25,
    let mut active = acquire_relay(&audited_relay(&env, policy)).await;
    chain_until(&mut active, 100).await;

    // then checkpoints are stored at the end of each batch 20 events past the last one,
    let key = AuditSigner::development().public_key();
    let stored = checkpoints::stored_from(&env.pool, 1).await.unwrap();
    let indexes: Vec<i64> = stored.iter().map(|c| c.chain_index).collect();
    assert!(indexes.len() >= 2, "{indexes:?}");
    for pair in indexes.windows(2) {
        assert!(pair[1] - pair[0] >= 20, "{indexes:?}");
    }
    // each signed by the key and equal to the chain at its index,
    for checkpoint in &stored {
        assert!(checkpoint.signed_by_one_of(&[key]));
        let (event_id, hash): (Uuid, Vec<u8>) =
            sqlx::query_as("SELECT event_id, hash FROM audit_chain WHERE chain_index = $1")
                .bind(checkpoint.chain_index)
                .fetch_one(&env.pool)
                .await
                .unwrap();
        assert_eq!(checkpoint.event_id, event_id);
        assert_eq!(checkpoint.hash, hex::encode(hash));
    }
    // and the audit stream holds the same checkpoints.
    assert_eq!(published_checkpoints(&env).await, stored);
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_checkpoints WHERE NOT published")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(unpublished, 0);

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_relay_signs_a_grown_chain_once_the_interval_has_passed() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let policy = CheckpointPolicy {
        every_events: 1_000_000,
        every: Duration::from_millis(1),
    };
    create_agents(&bus, tenant, 10, 2).await;
    let mut active = acquire_relay(&audited_relay(&env, policy)).await;
    chain_until(&mut active, 10).await;

    // Given the head was signed once the interval had passed,
    let first = batches_until_signed(&mut active, &env, 1).await;
    assert_eq!(first.last().map(|c| c.chain_index), Some(10));

    // when nothing new arrives, an idle batch signs nothing new,
    tokio::time::sleep(Duration::from_millis(5)).await;
    active.process_batch().await.unwrap();
    assert_eq!(checkpoints::stored_from(&env.pool, 1).await.unwrap(), first);

    // and after new events, the next checkpoint covers them.
    create_agents(&bus, tenant, 3, 1).await;
    chain_until(&mut active, 13).await;
    let latest = batches_until_signed(&mut active, &env, 11).await;
    assert_eq!(latest.last().map(|c| c.chain_index), Some(13));

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_on_demand_checkpoint_signs_the_current_head_and_publishes_it() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let signer = AuditSigner::development();

    // An empty chain has nothing to sign.
    let none = checkpoints::checkpoint_now(&env.pool, &signer, &env.jetstream, &env.namespace)
        .await
        .unwrap();
    assert_eq!(none, None);

    create_agents(&bus, tenant, 7, 2).await;
    let mut active = acquire_relay(&audited_relay(&env, no_checkpoints())).await;
    chain_until(&mut active, 7).await;
    assert!(
        checkpoints::stored_from(&env.pool, 1)
            .await
            .unwrap()
            .is_empty()
    );

    let signed = checkpoints::checkpoint_now(&env.pool, &signer, &env.jetstream, &env.namespace)
        .await
        .unwrap()
        .expect("a checkpoint");
    assert_eq!(signed.chain_index, 7);
    assert!(signed.signed_by_one_of(&[signer.public_key()]));
    assert_eq!(
        checkpoints::stored_from(&env.pool, 1).await.unwrap(),
        std::slice::from_ref(&signed)
    );
    assert_eq!(published_checkpoints(&env).await, [signed]);
    assert_sound_chain(&env, 7).await;

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run on demand"]
async fn chain_hashing_cost() {
    let env = TestEnv::new().await;
    crate::relay_throughput::prepare_store(&env).await;
    let mut events = Vec::new();
    let mut cursor = eventstore::CommitCursor::default();
    while events.len() < crate::relay_throughput::EVENTS as usize {
        let page = eventstore::reader::read_after(&env.pool, cursor, 5_000)
            .await
            .unwrap();
        if let Some(last) = page.last() {
            cursor = eventstore::CommitCursor::after(last);
        }
        events.extend(page);
    }
    let started = Instant::now();
    let (links, _) = eventstore::audit::ChainHead::default()
        .extend(&events)
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "chain_hashing_cost: {} events in {seconds:.3} s = {:.1} µs/event ({:.0} events/s)",
        links.len(),
        seconds * 1e6 / links.len() as f64,
        links.len() as f64 / seconds
    );
    env.cleanup().await;
}
