//! The relay: every event reaches JetStream once, in order, across crashes and restarts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::StorageType;
use eventstore::relay::{ActiveRelay, DUPLICATE_WINDOW, ensure_stream, publish_event};
use eventstore::testing::TestEnv;
use eventstore::{CloudEvent, CommitCursor, Relay};
use futures::StreamExt;
use serde_json::Value;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{
    self, command_bus, context, create_agent, create_agents, event_count, eventually,
    eventually_within, message_id, rename_agent, stream_message_count, stream_messages,
};

fn relay(env: &TestEnv) -> Relay {
    Relay::new(
        env.pool.clone(),
        env.jetstream.clone(),
        env.namespace.clone(),
    )
}

/// Takes the relay lock, waiting for a previous holder's connection to be gone.
async fn acquire(relay: &Relay) -> ActiveRelay {
    eventually("the relay lock is free", || async {
        relay.try_acquire().await.expect("try_acquire")
    })
    .await
}

/// Runs batches until `expected` events in all were published, then checks that the
/// next batch finds nothing. Returns how many were published.
async fn publish_until(active: &mut ActiveRelay, expected: usize, batch_size: usize) -> usize {
    let deadline = Instant::now() + support::PATIENCE;
    let mut published = 0;
    // The reader's cut-off is cluster-wide: a batch may find nothing while another test's
    // transaction is open, so count what was published rather than stop at the first 0.
    while published < expected {
        assert!(Instant::now() < deadline, "published only {published}");
        let outcome = active.process_batch().await.expect("process_batch");
        assert!(outcome.published <= batch_size);
        assert_eq!(outcome.duplicates, 0);
        published += outcome.published;
        if outcome.published == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let after = active.process_batch().await.expect("process_batch");
    assert_eq!(after.published, 0);
    published
}

/// `run` as a separate task, as a relay process would.
fn spawn_running_relay(
    relay: Relay,
    wake: async_nats::Subscriber,
    shutdown: CancellationToken,
) -> JoinHandle<Result<(), eventstore::StoreError>> {
    tokio::spawn(async move { relay.run(Some(wake), shutdown).await })
}

const AGENTS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_publishes_every_event_once_as_a_cloud_event_in_commit_order() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();

    // Given 100 agents with five events each, written eight at a time,
    let agents = create_agents(&bus, tenant, AGENTS, 8).await;
    futures::stream::iter(&agents)
        .for_each_concurrent(8, |agent_id| {
            let bus = &bus;
            async move {
                for round in 0..4 {
                    let name = format!("Name {round}");
                    bus.execute(
                        &agent_id.to_string(),
                        rename_agent(tenant, &name),
                        &context(tenant),
                    )
                    .await
                    .expect("rename");
                }
            }
        })
        .await;
    let total = AGENTS * 5;
    assert_eq!(event_count(&env.pool).await, total as i64);

    // when the relay runs batches of 50 until it has nothing left,
    let mut active = acquire(&relay(&env).with_batch_size(50)).await;
    assert_eq!(publish_until(&mut active, total, 50).await, total);

    // then the stream holds each event once, in the store's commit order,
    let stored = support::stored_events_in_commit_order(&env.pool).await;
    let messages = stream_messages(&env).await;
    assert_eq!(stream_message_count(&env).await, total as u64);
    let stream_order: Vec<Uuid> = messages.iter().map(message_id).collect();
    let commit_order: Vec<Uuid> = stored.iter().map(|event| event.event_id).collect();
    assert_eq!(stream_order, commit_order);

    // as CloudEvents on the aggregate's subject, with the payload's tag removed,
    let stored_by_id: HashMap<Uuid, _> = stored.iter().map(|e| (e.event_id, e)).collect();
    let mut sequences_by_agent: HashMap<String, Vec<u64>> = HashMap::new();
    for message in &messages {
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        let event: CloudEvent = serde_json::from_value(body.clone()).unwrap();
        let stored = stored_by_id[&event.id];
        assert_eq!(event.id, message_id(message));
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(
            body["type"],
            format!("agentos.agent.{}.v1", stored.event_type)
        );
        assert_eq!(
            message.subject.as_str(),
            format!(
                "{}.events.{tenant}.agent.{}",
                env.namespace, stored.aggregate_id
            )
        );
        let tagged: Value = serde_json::from_str(&stored.payload).unwrap();
        assert_eq!(body["data"], tagged[&stored.event_type]);
        assert!(body["data"].get(&stored.event_type).is_none());
        assert_eq!(event.tenantid, tenant);
        sequences_by_agent
            .entry(event.aggregateid.clone())
            .or_default()
            .push(event.sequence);
        if event.sequence == 1 {
            assert_eq!(body["type"], "agentos.agent.AgentCreated.v1");
            assert_eq!(body["data"]["agent_id"], event.aggregateid.as_str());
        }
    }
    // and each agent's events in its own order.
    assert_eq!(sequences_by_agent.len(), AGENTS);
    for sequences in sequences_by_agent.values() {
        assert_eq!(sequences, &[1, 2, 3, 4, 5]);
    }

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_restarted_mid_stream_loses_and_duplicates_nothing() {
    let env = TestEnv::new().await;
    let bus = Arc::new(command_bus(&env));
    let tenant = Uuid::now_v7();
    let relay = relay(&env).with_batch_size(20);
    create_agents(&bus, tenant, 100, 8).await;

    // Given writers that append before the relay is killed and after,
    let killed = CancellationToken::new();
    let mut writers = JoinSet::new();
    for _ in 0..4 {
        let (bus, killed) = (Arc::clone(&bus), killed.clone());
        writers.spawn(async move {
            for command in 0..70 {
                if command == 35 {
                    killed.cancelled().await;
                }
                let agent_id = Uuid::now_v7();
                bus.execute(
                    &agent_id.to_string(),
                    create_agent(tenant, agent_id),
                    &context(tenant),
                )
                .await
                .expect("create agent");
                let pause = support::random_below(3);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        });
    }
    // and a running relay,
    let wake = env
        .nats
        .subscribe(env.namespace.relay_wake_subject())
        .await
        .unwrap();
    let first = spawn_running_relay(relay.clone(), wake, CancellationToken::new());

    // when the relay is killed once it has published part of the events,
    eventually("the first relay has published some events", || {
        let env = &env;
        async move { (stream_message_count(env).await >= 120).then_some(()) }
    })
    .await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    killed.cancel();
    // and a new one is started while the writers go on,
    let wake = env
        .nats
        .subscribe(env.namespace.relay_wake_subject())
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let second = spawn_running_relay(relay.clone(), wake, shutdown.clone());
    while let Some(writer) = writers.join_next().await {
        writer.expect("writer");
    }
    let total = event_count(&env.pool).await;
    assert_eq!(total, 100 + 4 * 70);
    eventually("the second relay has caught up", || {
        let env = &env;
        async move { (stream_message_count(env).await >= total as u64).then_some(()) }
    })
    .await;
    shutdown.cancel();
    second.await.unwrap().expect("relay stops cleanly");

    // then the stream holds every stored event exactly once.
    let streamed: Vec<Uuid> = stream_messages(&env).await.iter().map(message_id).collect();
    let unique: HashSet<Uuid> = streamed.iter().copied().collect();
    assert_eq!(unique.len(), streamed.len(), "a message was duplicated");
    let stored: HashSet<Uuid> = support::event_ids_in_store(&env.pool)
        .await
        .into_iter()
        .collect();
    assert_eq!(unique, stored);

    env.cleanup().await;
}

#[tokio::test]
async fn a_relay_that_died_before_its_checkpoint_does_not_republish() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let relay = relay(&env).with_batch_size(50);
    create_agents(&bus, tenant, 30, 4).await;

    // Given a relay published a batch,
    let mut first = acquire(&relay).await;
    publish_until(&mut first, 30, 50).await;
    let published_up_to = first.cursor();
    assert_ne!(published_up_to, CommitCursor::default());
    // and died before its checkpoint was written (the row still says "nothing yet"),
    sqlx::query(
        "UPDATE relay_checkpoints SET transaction_id = '0'::xid8, position = 0, stream_sequence = 0",
    )
        .execute(&env.pool)
        .await
        .unwrap();
    drop(first);

    // when a new relay takes over,
    let mut second = acquire(&relay).await;

    // then it starts after the stream's last message, republishing nothing,
    assert_eq!(second.cursor(), published_up_to);
    let outcome = second.process_batch().await.unwrap();
    assert_eq!((outcome.published, outcome.duplicates), (0, 0));
    assert_eq!(stream_message_count(&env).await, 30);
    let checkpoint: i64 = sqlx::query_scalar("SELECT position FROM relay_checkpoints")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(checkpoint, published_up_to.position);

    // and goes on with what comes next.
    create_agents(&bus, tenant, 5, 1).await;
    assert_eq!(publish_until(&mut second, 5, 50).await, 5);
    assert_eq!(stream_message_count(&env).await, 35);

    env.cleanup().await;
}

#[tokio::test]
async fn a_relay_resumes_exactly_after_the_last_event_the_stream_holds_in_store_order() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let relay = relay(&env).with_batch_size(10);
    create_agents(&bus, tenant, 30, 4).await;

    // Given a relay published 30 events but its checkpoint only records an earlier batch,
    let mut first = acquire(&relay).await;
    let deadline = Instant::now() + support::PATIENCE;
    while first.process_batch().await.unwrap().published == 0 {
        assert!(Instant::now() < deadline, "nothing became visible");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (transaction_id, position, stream_sequence): (i64, i64, i64) = sqlx::query_as(
        "SELECT transaction_id::text::int8, position, stream_sequence FROM relay_checkpoints",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert!(stream_sequence < 30);
    let remaining = usize::try_from(30 - stream_sequence).unwrap();
    publish_until(&mut first, remaining, 10).await;
    let published_up_to = first.cursor();
    drop(first);
    sqlx::query(
        "UPDATE relay_checkpoints
            SET transaction_id = $1::text::xid8, position = $2, stream_sequence = $3",
    )
    .bind(transaction_id.to_string())
    .bind(position)
    .bind(stream_sequence)
    .execute(&env.pool)
    .await
    .unwrap();

    // when a new relay takes over, it matches the later stream messages against the store
    // and resumes after them: nothing is published twice.
    let mut second = acquire(&relay).await;
    assert_eq!(second.cursor(), published_up_to);
    let outcome = second.process_batch().await.unwrap();
    assert_eq!((outcome.published, outcome.duplicates), (0, 0));
    assert_eq!(stream_message_count(&env).await, 30);

    env.cleanup().await;
}

#[tokio::test]
async fn a_lost_stream_is_refilled_from_the_store() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let relay = relay(&env).with_batch_size(50);
    create_agents(&bus, tenant, 20, 3).await;
    let mut first = acquire(&relay).await;
    publish_until(&mut first, 20, 50).await;
    drop(first);

    // Given the stream is lost (JetStream acks before it fsyncs; or it was deleted),
    env.jetstream
        .delete_stream(env.namespace.stream())
        .await
        .unwrap();

    // when the relay starts again, it finds the stream behind its checkpoint and
    // republishes every event from the store into the fresh stream, once.
    let mut second = acquire(&relay).await;
    assert_eq!(second.cursor(), CommitCursor::default());
    assert_eq!(publish_until(&mut second, 20, 50).await, 20);
    assert_eq!(stream_message_count(&env).await, 20);

    env.cleanup().await;
}

#[tokio::test]
async fn only_one_relay_is_active() {
    let env = TestEnv::new().await;

    // Given one relay holds the lock,
    let first = relay(&env)
        .try_acquire()
        .await
        .unwrap()
        .expect("the lock is free");

    // then another relay instance cannot take it while the first lives,
    let standby = relay(&env);
    assert!(standby.try_acquire().await.unwrap().is_none());
    assert!(standby.try_acquire().await.unwrap().is_none());

    // and takes it once the first is gone (its connection, and so its lock, closed).
    drop(first);
    acquire(&standby).await;

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_wakes_the_running_relay_which_publishes_it() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let mut wake_watch = env
        .nats
        .subscribe(env.namespace.relay_wake_subject())
        .await
        .unwrap();
    let wake = env
        .nats
        .subscribe(env.namespace.relay_wake_subject())
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let running = spawn_running_relay(relay(&env), wake, shutdown.clone());

    // When an agent is created through the bus,
    let agent_id = Uuid::now_v7();
    bus.execute(
        &agent_id.to_string(),
        create_agent(tenant, agent_id),
        &context(tenant),
    )
    .await
    .unwrap();

    // then the bus sent a wake-up, and the relay published the event.
    tokio::time::timeout(Duration::from_secs(10), wake_watch.next())
        .await
        .expect("a wake-up within 10 s")
        .expect("wake subscription open");
    eventually_within(
        "the event is in the stream",
        Duration::from_secs(10),
        || {
            let env = &env;
            async move { (stream_message_count(env).await == 1).then_some(()) }
        },
    )
    .await;
    let messages = stream_messages(&env).await;
    let event: CloudEvent = serde_json::from_slice(&messages[0].payload).unwrap();
    assert_eq!(event.aggregateid, agent_id.to_string());

    shutdown.cancel();
    running.await.unwrap().expect("relay stops cleanly");
    env.cleanup().await;
}

#[tokio::test]
async fn the_event_stream_takes_every_event_subject_on_file_with_a_two_minute_dedup_window() {
    let env = TestEnv::new().await;

    // The relay creates the stream when it starts; creating it again changes nothing.
    let active = relay(&env).try_acquire().await.unwrap();
    assert!(active.is_some());
    let mut stream = ensure_stream(&env.jetstream, &env.namespace).await.unwrap();

    let config = &stream.info().await.unwrap().config;
    assert_eq!(config.name, env.namespace.stream());
    assert_eq!(config.subjects, vec![format!("{}.events.>", env.namespace)]);
    assert_eq!(config.storage, StorageType::File);
    assert!(config.duplicate_window >= Duration::from_secs(120));
    assert_eq!(config.duplicate_window, DUPLICATE_WINDOW);

    drop(active);
    env.cleanup().await;
}

#[tokio::test]
async fn an_existing_stream_with_other_settings_is_brought_to_the_designed_ones() {
    let env = TestEnv::new().await;
    // Given the stream exists with a short dedup window and one narrow subject,
    env.jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: env.namespace.stream(),
            subjects: vec![format!("{}.events.x.>", env.namespace)],
            storage: StorageType::File,
            duplicate_window: Duration::from_secs(5),
            ..Default::default()
        })
        .await
        .unwrap();

    // when the platform ensures it at start,
    let mut stream = ensure_stream(&env.jetstream, &env.namespace).await.unwrap();

    // then it takes every event subject with the two-minute window.
    let config = &stream.info().await.unwrap().config;
    assert_eq!(config.subjects, vec![format!("{}.events.>", env.namespace)]);
    assert_eq!(config.duplicate_window, DUPLICATE_WINDOW);

    env.cleanup().await;
}

#[tokio::test]
async fn a_message_following_a_lost_one_is_refused_so_the_stream_never_skips() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    create_agents(&bus, Uuid::now_v7(), 3, 1).await;
    ensure_stream(&env.jetstream, &env.namespace).await.unwrap();
    let events = eventually("three events to be readable", || async {
        let page = eventstore::reader::read_after(&env.pool, CommitCursor::default(), 10)
            .await
            .unwrap();
        (page.len() == 3).then_some(page)
    })
    .await;

    // Given the first event's message was lost on its way (the stream is still empty),
    // when the relay's pipelined messages for the second and third arrive,
    for (event, expected_last) in events[1..].iter().zip(1u64..) {
        let ack = publish_event(&env.jetstream, &env.namespace, event, expected_last)
            .await
            .unwrap()
            .await;
        // then each is refused instead of being stored ahead of the first,
        assert!(ack.is_err(), "stored past a gap: {ack:?}");
    }
    assert_eq!(stream_message_count(&env).await, 0);

    // and publishing again from the first event stores all three in order.
    for (event, expected_last) in events.iter().zip(0u64..) {
        let ack = publish_event(&env.jetstream, &env.namespace, event, expected_last)
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(ack.sequence, expected_last + 1);
    }
    assert_eq!(stream_message_count(&env).await, 3);

    env.cleanup().await;
}
