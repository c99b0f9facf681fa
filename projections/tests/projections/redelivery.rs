//! A projector that dies after its write committed but before it acknowledged.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use eventstore::testing::TestEnv;
use projections::agents::AGENTS_PROJECTION;
use projections::{AgentsProjection, Projection};
use uuid::Uuid;

use crate::driving::{Counting, RunningProjector, delivered, fetch_exactly, runner};
use crate::helpers::{Commands, Publisher, all_rows, at, consumer_info, eventually, pg_checkpoint};

#[tokio::test]
async fn projector_restarted_between_write_and_ack_applies_nothing_twice() {
    let env = TestEnv::new().await;
    let commands = Commands::new(&env);
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = commands.create(tenant, &format!("agent {i}"), at(0)).await;
        commands
            .rename(tenant, id, &format!("agent {i} v2"), at(1))
            .await;
        commands.pause(tenant, id, at(2)).await;
        commands
            .rename(tenant, id, &format!("agent {i} v3"), at(3))
            .await;
        commands.resume(tenant, id, at(4)).await;
        ids.push(id);
    }
    assert_eq!(publisher.publish_all().await, 15);

    // First life: a batch is written (its transaction commits), then the process dies
    // before acknowledging: messages, consumer and runner are dropped unacked.
    let projection = Arc::new(AgentsProjection::new(
        env.pool.clone(),
        projections::AgentsModel,
    ));
    let crashed_batch = {
        let runner = runner(projection.clone(), &env);
        let consumer = runner.consumer().await.unwrap();
        let messages = fetch_exactly(&consumer, 8).await;
        let batch = delivered(&messages);
        assert_eq!(projection.apply(&batch).await.unwrap(), 8);
        batch
    };
    assert_eq!(pg_checkpoint(&env.pool).await, 8);
    let before_restart = consumer_info(&env, AGENTS_PROJECTION).await;
    assert_eq!(before_restart.ack_floor.stream_sequence, 0);
    assert_eq!(before_restart.num_ack_pending, 8);

    // The same batch offered again is skipped by the checkpoint, not merely absorbed by
    // the per-row version guard: nothing counts as applied and no row changes.
    let rows = all_rows(&env.pool).await;
    assert_eq!(projection.apply(&crashed_batch).await.unwrap(), 0);
    assert_eq!(all_rows(&env.pool).await, rows);

    // More events arrive while the projector is down.
    commands.archive(tenant, ids[0], at(5)).await;
    commands.archive(tenant, ids[2], at(5)).await;
    let last = publisher.publish_all().await;
    assert_eq!(last, 17);

    // Second life: the unacknowledged batch is redelivered after the ack wait, next to
    // the events it never saw.
    let restarted = Arc::new(Counting::new(AgentsProjection::new(
        env.pool.clone(),
        projections::AgentsModel,
    )));
    let projector = RunningProjector::spawn(restarted.clone(), &env);
    let pool = &env.pool;
    let env_ref = &env;
    eventually(
        "the restarted projector has applied and acknowledged everything",
        || async move {
            let info = consumer_info(env_ref, AGENTS_PROJECTION).await;
            pg_checkpoint(pool).await == last
                && info.ack_floor.stream_sequence == last
                && info.num_ack_pending == 0
        },
    )
    .await;
    projector.stop().await;

    let after_restart = consumer_info(&env, AGENTS_PROJECTION).await;
    assert_eq!(
        after_restart.created, before_restart.created,
        "the consumer was kept, not recreated"
    );
    assert!(
        restarted.offered.load(Ordering::SeqCst) >= 17,
        "the unacknowledged batch was redelivered"
    );
    // Counted per event past the checkpoint, so a second application would show here even
    // where the version guard leaves the row as it was.
    assert_eq!(restarted.applied.load(Ordering::SeqCst), 17 - 8);
    assert_eq!(pg_checkpoint(&env.pool).await, last);

    let rows = all_rows(&env.pool).await;
    assert_eq!(rows.len(), 3);
    for view in &rows {
        commands.assert_view_matches_aggregate(view).await;
        assert_eq!(view.config_version, 3, "two updates after creation");
    }
    let statuses: Vec<_> = ids
        .iter()
        .map(|id| {
            rows.iter()
                .find(|row| row.id == *id)
                .unwrap()
                .status
                .as_str()
        })
        .collect();
    assert_eq!(statuses, ["archived", "active", "archived"]);

    // Redelivered once more after the restart, the first batch is still a no-op.
    assert_eq!(projection.apply(&crashed_batch).await.unwrap(), 0);
    assert_eq!(all_rows(&env.pool).await, rows);
    env.cleanup().await;
}

#[tokio::test]
async fn projector_restarted_before_its_write_committed_loses_nothing() {
    let env = TestEnv::new().await;
    let commands = Commands::new(&env);
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    for i in 0..3 {
        let id = commands.create(tenant, &format!("agent {i}"), at(0)).await;
        commands
            .rename(tenant, id, &format!("agent {i} v2"), at(1))
            .await;
        commands.pause(tenant, id, at(2)).await;
    }
    assert_eq!(publisher.publish_all().await, 9);

    // First life: a batch is delivered, then the process dies before its transaction
    // commits (or stops with messages still buffered): nothing written, nothing acked.
    {
        let runner = runner(
            Arc::new(AgentsProjection::new(
                env.pool.clone(),
                projections::AgentsModel,
            )),
            &env,
        );
        let consumer = runner.consumer().await.unwrap();
        assert_eq!(fetch_exactly(&consumer, 4).await.len(), 4);
    }
    assert_eq!(pg_checkpoint(&env.pool).await, 0);
    let before_restart = consumer_info(&env, AGENTS_PROJECTION).await;
    assert_eq!(before_restart.delivered.stream_sequence, 4);
    assert_eq!(before_restart.num_ack_pending, 4);

    // Second life: the events after the lost batch must not overtake it, or the
    // checkpoint would pass the lost batch and it would be skipped when it comes back.
    let restarted = Arc::new(Counting::new(AgentsProjection::new(
        env.pool.clone(),
        projections::AgentsModel,
    )));
    let projector = RunningProjector::spawn(restarted.clone(), &env);
    let pool = &env.pool;
    let env_ref = &env;
    eventually(
        "the restarted projector has applied and acknowledged everything",
        || async move {
            let info = consumer_info(env_ref, AGENTS_PROJECTION).await;
            pg_checkpoint(pool).await == 9
                && info.ack_floor.stream_sequence == 9
                && info.num_ack_pending == 0
        },
    )
    .await;
    projector.stop().await;

    assert_eq!(restarted.applied.load(Ordering::SeqCst), 9);
    let rows = all_rows(&env.pool).await;
    assert_eq!(rows.len(), 3, "every created agent has its row");
    for view in &rows {
        commands.assert_view_matches_aggregate(view).await;
    }
    env.cleanup().await;
}
