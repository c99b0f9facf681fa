//! Rebuilding the `agents` table from the event store, alone and under live traffic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use eventstore::Relay;
use eventstore::testing::TestEnv;
use projections::agents::{self, AGENTS_PROJECTION};
use projections::rebuild::rebuild_agents;
use projections::{AgentListFilter, AgentsProjection, ProjectionError};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::driving::RunningProjector;
use crate::helpers::{
    Commands, Publisher, all_rows, at, consumer_info, event_count, eventually,
    last_stream_sequence, pg_checkpoint,
};

/// Tables a rebuild creates on the side; none may be left behind.
async fn side_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables
          WHERE schemaname = current_schema() AND tablename LIKE 'agents\\_%'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Creates `count` agents for `tenant` and walks each through a few events.
async fn seed(commands: &Commands, tenant: Uuid, count: i64) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..count {
        let id = commands.create(tenant, &format!("agent {i}"), at(i)).await;
        commands
            .rename(tenant, id, &format!("agent {i} v2"), at(i + 1))
            .await;
        commands.pause(tenant, id, at(i + 2)).await;
        match i % 3 {
            0 => {
                commands.resume(tenant, id, at(i + 3)).await;
            }
            1 => {
                commands.archive(tenant, id, at(i + 3)).await;
            }
            _ => {}
        }
        ids.push(id);
    }
    ids
}

/// Waits until the live projector has applied everything the store holds.
async fn wait_until_projected(env: &TestEnv) {
    let events = event_count(&env.pool).await;
    eventually(
        "the live projector applied every stored event",
        || async move {
            last_stream_sequence(&env.jetstream, &env.namespace).await == events
                && pg_checkpoint(&env.pool).await == events
        },
    )
    .await;
}

#[tokio::test]
async fn rebuild_yields_the_same_read_model() {
    let env = TestEnv::new().await;
    let commands = Commands::new(&env);
    let mut publisher = Publisher::new(&env).await;
    seed(&commands, Uuid::now_v7(), 6).await;
    seed(&commands, Uuid::now_v7(), 4).await;
    publisher.publish_all().await;
    let projector = RunningProjector::spawn(
        Arc::new(AgentsProjection::new(
            env.pool.clone(),
            projections::AgentsModel,
        )),
        &env,
    );
    wait_until_projected(&env).await;
    projector.stop().await;

    let live = all_rows(&env.pool).await;
    assert_eq!(live.len(), 10);
    for view in &live {
        commands.assert_view_matches_aggregate(view).await;
    }
    let report = rebuild_agents(&env.pool).await.unwrap();
    assert_eq!(report.events, event_count(&env.pool).await);
    assert_eq!(all_rows(&env.pool).await, live);
    // Rebuilding again from a rebuilt table changes nothing either.
    rebuild_agents(&env.pool).await.unwrap();
    assert_eq!(all_rows(&env.pool).await, live);
    assert_eq!(side_tables(&env.pool).await, Vec::<String>::new());
    env.cleanup().await;
}

/// Reads the live table until `stop`, as the query API would, and checks that it never
/// disappears or shrinks; returns how many rounds of reads it made.
async fn keep_reading(
    pool: PgPool,
    tenant: Uuid,
    known: Uuid,
    stop: Arc<AtomicBool>,
) -> Result<u64, ProjectionError> {
    let mut rounds = 0;
    let mut rows_seen = 0;
    while !stop.load(Ordering::SeqCst) {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('agents') IS NOT NULL")
            .fetch_one(&pool)
            .await?;
        assert!(exists, "the agents table vanished");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM agents")
            .fetch_one(&pool)
            .await?;
        assert!(
            rows >= rows_seen,
            "the agents table shrank from {rows_seen} to {rows} rows"
        );
        rows_seen = rows;
        let filter = AgentListFilter {
            limit: 20,
            ..AgentListFilter::default()
        };
        let page = agents::list_agents(&pool, tenant, &filter).await?;
        assert!(
            !page.items.is_empty(),
            "a page of a tenant with agents came back empty"
        );
        assert!(
            agents::get_agent(&pool, tenant, known).await?.is_some(),
            "a known agent vanished"
        );
        rounds += 1;
        tokio::task::yield_now().await;
    }
    Ok(rounds)
}

#[tokio::test]
async fn rebuild_under_live_traffic_ends_equal_to_a_fresh_rebuild() {
    let env = TestEnv::new().await;
    let commands = Arc::new(Commands::new(&env));
    let tenant = Uuid::now_v7();
    let seeded = seed(&commands, tenant, 5).await;
    // Every third one `seed` left active; the others are paused or archived.
    let renamable: Vec<Uuid> = seeded.iter().copied().step_by(3).collect();

    let shutdown = CancellationToken::new();
    let relay = Relay::new(
        env.pool.clone(),
        env.jetstream.clone(),
        env.namespace.clone(),
    );
    let relay_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { relay.run(None, shutdown).await }
    });
    let projector = RunningProjector::spawn(
        Arc::new(AgentsProjection::new(
            env.pool.clone(),
            projections::AgentsModel,
        )),
        &env,
    );
    wait_until_projected(&env).await;

    let stop_reading = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(keep_reading(
        env.pool.clone(),
        tenant,
        seeded[0],
        stop_reading.clone(),
    ));
    let writer = tokio::spawn({
        let commands = commands.clone();
        let renamable = renamable.clone();
        async move {
            let mut created = Vec::new();
            for i in 0..40 {
                created.push(
                    commands
                        .create(tenant, &format!("new agent {i}"), at(100 + i))
                        .await,
                );
                let earlier = created[usize::try_from(i).unwrap() / 2];
                commands
                    .rename(tenant, earlier, &format!("renamed {i}"), at(100 + i))
                    .await;
                let old = renamable[usize::try_from(i).unwrap() % renamable.len()];
                commands
                    .rename(tenant, old, &format!("seeded renamed {i}"), at(100 + i))
                    .await;
                if i % 5 == 0 {
                    commands.pause(tenant, earlier, at(100 + i)).await;
                    commands.resume(tenant, earlier, at(100 + i)).await;
                }
                tokio::task::yield_now().await;
            }
        }
    });

    let mut rebuilds = 0;
    while !writer.is_finished() || rebuilds < 2 {
        rebuild_agents(&env.pool).await.unwrap();
        rebuilds += 1;
    }
    writer.await.unwrap();
    wait_until_projected(&env).await;
    stop_reading.store(true, Ordering::SeqCst);
    let reads = reader.await.unwrap().unwrap();
    assert!(reads > 0, "the reader made no reads");
    projector.stop().await;
    shutdown.cancel();
    relay_task.await.unwrap().unwrap();

    let info = consumer_info(&env, AGENTS_PROJECTION).await;
    assert_eq!(info.num_pending, 0);
    let live = all_rows(&env.pool).await;
    assert_eq!(live.len(), 5 + 40);
    for view in &live {
        commands.assert_view_matches_aggregate(view).await;
    }
    rebuild_agents(&env.pool).await.unwrap();
    assert_eq!(
        all_rows(&env.pool).await,
        live,
        "live table after {rebuilds} rebuilds vs a fresh one"
    );
    assert_eq!(side_tables(&env.pool).await, Vec::<String>::new());
    env.cleanup().await;
}
