//! Events apply exactly on top of their agent's previous version. One that would skip a
//! version is refused with an error, nothing after it in the batch is applied, and the
//! checkpoint does not pass it; in order, the same events apply.

use std::sync::Arc;

use eventstore::testing::TestEnv;
use projections::agents;
use projections::runner::Delivered;
use projections::{AgentSummary, AgentsProjection, Projection, ProjectionError};
use uuid::Uuid;

use crate::agents_redis::redis_projection;
use crate::driving::{delivered, fetch_exactly, runner};
use crate::helpers::{Commands, Publisher, all_rows, at, pg_checkpoint};

/// Asserts that `result` is a version gap on `aggregate`: the event needed the read model
/// at `expected` and found it at `found`.
fn assert_gap(result: Result<usize, ProjectionError>, aggregate: Uuid, expected: u64, found: u64) {
    match result {
        Err(ProjectionError::VersionGap {
            aggregate_id,
            expected: gap_expected,
            found: gap_found,
        }) => {
            assert_eq!(aggregate_id, aggregate.to_string());
            assert_eq!((gap_expected, gap_found), (expected, found));
        }
        other => panic!("expected a version gap on {aggregate}, got {other:?}"),
    }
}

/// Agent A created then paused, then agent B created: stream sequences 1, 2 and 3.
struct PausedThenCreated {
    commands: Commands,
    tenant: Uuid,
    a: Uuid,
    b: Uuid,
}

impl PausedThenCreated {
    async fn published(env: &TestEnv) -> Self {
        let commands = Commands::new(env);
        let mut publisher = Publisher::new(env).await;
        let tenant = Uuid::now_v7();
        let a = commands.create(tenant, "agent a", at(0)).await;
        assert_eq!(commands.pause(tenant, a, at(1)).await, 2);
        let b = commands.create(tenant, "agent b", at(2)).await;
        assert_eq!(publisher.publish_all().await, 3);
        Self {
            commands,
            tenant,
            a,
            b,
        }
    }
}

/// Agent A created, renamed and paused (versions 1 to 3): stream sequences 1, 2 and 3.
async fn created_renamed_paused(env: &TestEnv) -> (Commands, Uuid, Uuid) {
    let commands = Commands::new(env);
    let mut publisher = Publisher::new(env).await;
    let tenant = Uuid::now_v7();
    let a = commands.create(tenant, "agent a", at(0)).await;
    commands.rename(tenant, a, "agent a renamed", at(1)).await;
    assert_eq!(commands.pause(tenant, a, at(2)).await, 3);
    assert_eq!(publisher.publish_all().await, 3);
    (commands, tenant, a)
}

fn batch(events: &[&Delivered]) -> Vec<Delivered> {
    events.iter().map(|&event| event.clone()).collect()
}

#[tokio::test]
async fn postgres_refuses_a_pause_delivered_before_the_agents_creation_and_keeps_its_checkpoint() {
    let env = TestEnv::new().await;
    let scenario = PausedThenCreated::published(&env).await;
    let projection = Arc::new(AgentsProjection::new(
        env.pool.clone(),
        projections::AgentsModel,
    ));
    let runner = runner(projection.clone(), &env);
    let consumer = runner.consumer().await.unwrap();
    let messages = fetch_exactly(&consumer, 3).await;
    let events = delivered(&messages);
    let (a_created, a_paused, b_created) = (&events[0], &events[1], &events[2]);

    // AgentPaused (version 2) before the AgentCreated (version 1) of the same agent.
    let reordered = batch(&[a_paused, a_created]);
    assert_gap(projection.apply(&reordered).await, scenario.a, 1, 0);
    assert_eq!(pg_checkpoint(&env.pool).await, 0);
    assert_eq!(all_rows(&env.pool).await, Vec::new());

    // Nothing after the gap applies: B's creation would move the checkpoint past it.
    let gap_then_next = batch(&[a_paused, b_created]);
    assert_gap(projection.apply(&gap_then_next).await, scenario.a, 1, 0);
    assert_eq!(pg_checkpoint(&env.pool).await, 0);
    assert_eq!(all_rows(&env.pool).await, Vec::new());

    // Through the runner the refused batch is nak'ed, comes back, and applies in order.
    let mut reordered_messages = messages.clone();
    reordered_messages.swap(0, 1);
    assert_gap(runner.handle(reordered_messages).await, scenario.a, 1, 0);
    assert_eq!(pg_checkpoint(&env.pool).await, 0);
    let mut redelivered = fetch_exactly(&consumer, 3).await;
    redelivered.sort_by_key(|message| message.info().unwrap().stream_sequence);
    assert_eq!(runner.handle(redelivered).await.unwrap(), 3);
    assert_eq!(pg_checkpoint(&env.pool).await, 3);
    let tenant = scenario.tenant;
    let a = agents::get_agent(&env.pool, tenant, scenario.a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.status.as_str(), a.version), ("paused", 2));
    let b = agents::get_agent(&env.pool, tenant, scenario.b)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.status.as_str(), b.version), ("active", 1));
    for view in all_rows(&env.pool).await {
        scenario.commands.assert_view_matches_aggregate(&view).await;
    }

    // Offered again, in any order, they are duplicates.
    let rows = all_rows(&env.pool).await;
    assert_eq!(projection.apply(&reordered).await.unwrap(), 0);
    assert_eq!(projection.apply(&events).await.unwrap(), 0);
    assert_eq!(all_rows(&env.pool).await, rows);
    env.cleanup().await;
}

#[tokio::test]
async fn postgres_refuses_an_event_two_versions_ahead_of_its_row() {
    let env = TestEnv::new().await;
    let (commands, tenant, a) = created_renamed_paused(&env).await;
    let projection = Arc::new(AgentsProjection::new(
        env.pool.clone(),
        projections::AgentsModel,
    ));
    let consumer = runner(projection.clone(), &env).consumer().await.unwrap();
    let events = delivered(&fetch_exactly(&consumer, 3).await);
    let (created, renamed, paused) = (&events[0], &events[1], &events[2]);

    assert_eq!(projection.apply(&batch(&[created])).await.unwrap(), 1);
    let row_at_version_1 = agents::get_agent(&env.pool, tenant, a)
        .await
        .unwrap()
        .unwrap();
    assert_gap(projection.apply(&batch(&[paused])).await, a, 2, 1);
    assert_eq!(pg_checkpoint(&env.pool).await, 1);
    assert_eq!(
        agents::get_agent(&env.pool, tenant, a).await.unwrap(),
        Some(row_at_version_1),
        "the row is untouched"
    );

    assert_eq!(
        projection.apply(&batch(&[renamed, paused])).await.unwrap(),
        2
    );
    assert_eq!(pg_checkpoint(&env.pool).await, 3);
    let view = agents::get_agent(&env.pool, tenant, a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (view.name.as_str(), view.status.as_str(), view.version),
        ("agent a renamed", "paused", 3)
    );
    commands.assert_view_matches_aggregate(&view).await;
    env.cleanup().await;
}

fn summary(id: Uuid, name: &str, status: &str, version: u64) -> AgentSummary {
    AgentSummary {
        id,
        name: name.to_owned(),
        status: status.to_owned(),
        version,
    }
}

#[tokio::test]
async fn redis_refuses_a_pause_delivered_before_the_agents_creation_and_keeps_its_checkpoint() {
    let env = TestEnv::new().await;
    let scenario = PausedThenCreated::published(&env).await;
    let (tenant, a, b) = (scenario.tenant, scenario.a, scenario.b);
    let projection = Arc::new(redis_projection(&env).await);
    let consumer = runner(projection.clone(), &env).consumer().await.unwrap();
    let events = delivered(&fetch_exactly(&consumer, 3).await);
    let (a_created, a_paused, b_created) = (&events[0], &events[1], &events[2]);

    // AgentPaused (version 2) before the AgentCreated (version 1) of the same agent.
    let reordered = batch(&[a_paused, a_created]);
    assert_gap(projection.apply(&reordered).await, a, 1, 0);
    assert_eq!(projection.prepare().await.unwrap(), 0, "the checkpoint");
    assert_eq!(projection.get(tenant, a).await.unwrap(), None);

    // The scripts after a gap run in the same pipeline; none of them may apply, or B's
    // creation would move the checkpoint past the gap.
    let gap_then_next = batch(&[a_paused, b_created]);
    assert_gap(projection.apply(&gap_then_next).await, a, 1, 0);
    assert_eq!(projection.prepare().await.unwrap(), 0, "the checkpoint");
    assert_eq!(projection.get(tenant, b).await.unwrap(), None);

    // In order, they apply.
    assert_eq!(projection.apply(&events).await.unwrap(), 3);
    assert_eq!(projection.prepare().await.unwrap(), 3);
    assert_eq!(
        projection.get(tenant, a).await.unwrap(),
        Some(summary(a, "agent a", "paused", 2))
    );
    assert_eq!(
        projection.get(tenant, b).await.unwrap(),
        Some(summary(b, "agent b", "active", 1))
    );

    // Offered again, in any order, they change nothing.
    assert_eq!(projection.apply(&reordered).await.unwrap(), 0);
    assert_eq!(projection.apply(&events).await.unwrap(), 0);
    assert_eq!(
        projection.get(tenant, a).await.unwrap(),
        Some(summary(a, "agent a", "paused", 2))
    );
    env.cleanup().await;
}

#[tokio::test]
async fn redis_refuses_an_event_two_versions_ahead_of_its_hash() {
    let env = TestEnv::new().await;
    let (_, tenant, a) = created_renamed_paused(&env).await;
    let projection = Arc::new(redis_projection(&env).await);
    let consumer = runner(projection.clone(), &env).consumer().await.unwrap();
    let events = delivered(&fetch_exactly(&consumer, 3).await);
    let (created, renamed, paused) = (&events[0], &events[1], &events[2]);

    assert_eq!(projection.apply(&batch(&[created])).await.unwrap(), 1);
    assert_gap(projection.apply(&batch(&[paused])).await, a, 2, 1);
    assert_eq!(projection.prepare().await.unwrap(), 1, "the checkpoint");
    assert_eq!(
        projection.get(tenant, a).await.unwrap(),
        Some(summary(a, "agent a", "active", 1)),
        "the hash is untouched"
    );

    // Events before a gap in the same batch stay applied, and the checkpoint stops at the
    // last of them (here the gap is a hand-made pause claiming version 4).
    let mut skips_a_version = paused.clone();
    skips_a_version.event.sequence = 4;
    assert_gap(
        projection.apply(&batch(&[renamed, &skips_a_version])).await,
        a,
        3,
        2,
    );
    assert_eq!(projection.prepare().await.unwrap(), 2, "the checkpoint");
    assert_eq!(
        projection.get(tenant, a).await.unwrap(),
        Some(summary(a, "agent a renamed", "active", 2))
    );

    assert_eq!(projection.apply(&events).await.unwrap(), 1);
    assert_eq!(projection.prepare().await.unwrap(), 3);
    assert_eq!(
        projection.get(tenant, a).await.unwrap(),
        Some(summary(a, "agent a renamed", "paused", 3))
    );
    env.cleanup().await;
}
