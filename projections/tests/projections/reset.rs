//! Consumers that are kept, and consumers recreated when the read model lost track.

use std::sync::Arc;

use eventstore::testing::TestEnv;
use projections::AgentsProjection;
use projections::agents::AGENTS_PROJECTION;
use uuid::Uuid;

use crate::driving::{drive_until, fetch, runner};
use crate::helpers::{Commands, Publisher, all_rows, at, consumer_info, eventually, pg_checkpoint};

/// Seeds two tenants' agents, projects them step by step and waits for every ack.
async fn seeded_and_projected(env: &TestEnv) -> u64 {
    let commands = Commands::new(env);
    let mut publisher = Publisher::new(env).await;
    for tenant in [Uuid::now_v7(), Uuid::now_v7()] {
        for i in 0..3 {
            let id = commands.create(tenant, &format!("agent {i}"), at(i)).await;
            commands
                .rename(tenant, id, &format!("agent {i} renamed"), at(i + 1))
                .await;
            if i == 1 {
                commands.archive(tenant, id, at(i + 2)).await;
            }
        }
    }
    let last = publisher.publish_all().await;
    let runner = runner(
        Arc::new(AgentsProjection::new(
            env.pool.clone(),
            projections::AgentsModel,
        )),
        env,
    );
    let consumer = runner.consumer().await.unwrap();
    let pool = &env.pool;
    let applied = drive_until(&runner, &consumer, || async move {
        pg_checkpoint(pool).await == last
    })
    .await;
    assert_eq!(applied, usize::try_from(last).unwrap());
    eventually("the consumer acknowledged everything", || async move {
        consumer_info(env, AGENTS_PROJECTION)
            .await
            .ack_floor
            .stream_sequence
            == last
    })
    .await;
    last
}

#[tokio::test]
async fn consumer_is_kept_when_the_checkpoint_matches_its_acknowledgements() {
    let env = TestEnv::new().await;
    let last = seeded_and_projected(&env).await;
    let before = consumer_info(&env, AGENTS_PROJECTION).await;

    let runner = runner(
        Arc::new(AgentsProjection::new(
            env.pool.clone(),
            projections::AgentsModel,
        )),
        &env,
    );
    let consumer = runner.consumer().await.unwrap();
    let after = consumer_info(&env, AGENTS_PROJECTION).await;
    assert_eq!(after.created, before.created);
    assert_eq!(after.ack_floor.stream_sequence, last);
    assert_eq!(after.num_pending, 0);
    assert!(
        fetch(&consumer, 100).await.is_empty(),
        "nothing is delivered again"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn consumer_recreated_after_the_read_model_is_reset_rebuilds_everything_from_the_stream() {
    let env = TestEnv::new().await;
    let last = seeded_and_projected(&env).await;
    let projected = all_rows(&env.pool).await;
    assert_eq!(projected.len(), 6);

    sqlx::query("DROP TABLE agents")
        .execute(&env.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE projection_checkpoints SET stream_sequence = 0 WHERE projection = $1")
        .bind(AGENTS_PROJECTION)
        .execute(&env.pool)
        .await
        .unwrap();

    let runner = runner(
        Arc::new(AgentsProjection::new(
            env.pool.clone(),
            projections::AgentsModel,
        )),
        &env,
    );
    let consumer = runner.consumer().await.unwrap();
    assert_eq!(
        all_rows(&env.pool).await,
        Vec::new(),
        "the table is recreated empty"
    );
    let info = consumer_info(&env, AGENTS_PROJECTION).await;
    assert_eq!(
        info.delivered.stream_sequence, 0,
        "recreated from the stream's start"
    );
    assert_eq!(info.num_pending, last);

    let pool = &env.pool;
    let applied = drive_until(&runner, &consumer, || async move {
        pg_checkpoint(pool).await == last
    })
    .await;
    assert_eq!(applied, usize::try_from(last).unwrap());
    assert_eq!(all_rows(&env.pool).await, projected);
    env.cleanup().await;
}
