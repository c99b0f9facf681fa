//! Several instances of one projection: only the one holding the leader lock consumes,
//! a standby takes over when it goes, and one whose lock session ends stops applying.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use eventstore::testing::TestEnv;
use projections::AgentsProjection;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::driving::{Counting, RunningProjector, runner};
use crate::helpers::{Commands, Publisher, all_rows, at, eventually, pg_checkpoint};

type CountedAgents = Counting<AgentsProjection>;

fn counted(env: &TestEnv) -> Arc<CountedAgents> {
    Arc::new(Counting::new(AgentsProjection::new(
        env.pool.clone(),
        projections::AgentsModel,
    )))
}

/// Creates `count` agents, publishing them in rounds; returns the stream's last sequence.
async fn create_agents(
    commands: &Commands,
    publisher: &mut Publisher,
    tenant: Uuid,
    count: usize,
) -> u64 {
    let mut last = 0;
    for round in 0..count.div_ceil(25) {
        for i in round * 25..count.min((round + 1) * 25) {
            commands.create(tenant, &format!("agent {i}"), at(0)).await;
        }
        last = publisher.publish_all().await;
    }
    last
}

/// Waits until the Postgres projection's checkpoint is `last`.
async fn wait_for_checkpoint(env: &TestEnv, last: u64) {
    let pool = &env.pool;
    eventually(&format!("the checkpoint reaches {last}"), || async move {
        pg_checkpoint(pool).await == last
    })
    .await;
}

#[tokio::test]
async fn only_the_leading_instance_projects_and_a_standby_takes_over_when_it_stops() {
    let env = TestEnv::new().await;
    let commands = Commands::new(&env);
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    let first = counted(&env);
    let second = counted(&env);
    let first_projector = RunningProjector::spawn_leading(first.clone(), &env);
    let second_projector = RunningProjector::spawn_leading(second.clone(), &env);

    let last = create_agents(&commands, &mut publisher, tenant, 200).await;
    assert_eq!(last, 200);
    wait_for_checkpoint(&env, last).await;
    assert_eq!(
        all_rows(&env.pool).await.len(),
        200,
        "every agent has its row"
    );

    let first_offered = first.offered.load(Ordering::SeqCst);
    let second_offered = second.offered.load(Ordering::SeqCst);
    assert!(
        first_offered == 0 || second_offered == 0,
        "both instances applied batches ({first_offered} and {second_offered} events offered)"
    );
    let (leader, leader_projector, standby, standby_projector) = if first_offered > 0 {
        (first, first_projector, second, second_projector)
    } else {
        (second, second_projector, first, first_projector)
    };
    assert_eq!(leader.applied.load(Ordering::SeqCst), 200);

    // The leader stops; the standby takes the lock and carries on with what comes next.
    leader_projector.stop().await;
    let last = create_agents(&commands, &mut publisher, tenant, 50).await;
    assert_eq!(last, 250);
    wait_for_checkpoint(&env, last).await;
    standby_projector.stop().await;

    assert_eq!(standby.applied.load(Ordering::SeqCst), 50);
    assert_eq!(leader.applied.load(Ordering::SeqCst), 200);
    let rows = all_rows(&env.pool).await;
    assert_eq!(rows.len(), 250, "every agent has its row");
    for view in &rows {
        commands.assert_view_matches_aggregate(view).await;
    }
    env.cleanup().await;
}

#[tokio::test]
async fn a_projector_whose_lock_session_ends_applies_nothing_until_it_leads_again() {
    let env = TestEnv::new().await;
    let commands = Commands::new(&env);
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    let projection = counted(&env);
    let lock_name = runner(projection.clone(), &env).leader_lock_name();
    let projector = RunningProjector::spawn_leading(projection.clone(), &env);
    let last = create_agents(&commands, &mut publisher, tenant, 5).await;
    wait_for_checkpoint(&env, last).await;

    // Its lock session is killed, and another session takes the lock before it can.
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objsubid = 1
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND (classid::int8 << 32) | objid::int8 = hashtextextended($1, 0)",
    )
    .bind(&lock_name)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(terminated, [true], "one session held the projection's lock");
    let mut usurper = PgConnection::connect_with(&env.pool.connect_options())
        .await
        .unwrap();
    let mut taken = false;
    for _ in 0..100 {
        taken = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(&lock_name)
            .fetch_one(&mut usurper)
            .await
            .unwrap();
        if taken {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(taken, "the lock was freed when its session ended");

    // New events are published; the projector, no longer leading, must not apply them.
    let applied_before = projection.applied.load(Ordering::SeqCst);
    let last = create_agents(&commands, &mut publisher, tenant, 5).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(projection.applied.load(Ordering::SeqCst), applied_before);
    assert_eq!(pg_checkpoint(&env.pool).await, 5);

    // Once the lock is free again it leads, and catches up.
    usurper.close().await.unwrap();
    wait_for_checkpoint(&env, last).await;
    projector.stop().await;
    assert_eq!(all_rows(&env.pool).await.len(), 10);
    assert_eq!(projection.applied.load(Ordering::SeqCst), 10);
    env.cleanup().await;
}

/// The backends holding the advisory lock called `name`.
async fn lock_holders(env: &TestEnv, name: &str) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objsubid = 1
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND (classid::int8 << 32) | objid::int8 = hashtextextended($1, 0)",
    )
    .bind(name)
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn projectors_sharing_a_lock_session_hold_their_locks_in_one_connection_and_recover_together()
{
    let env = TestEnv::new().await;
    let commands = Commands::new(&env);
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    let session = eventstore::leader::LockSession::new(env.pool.clone());
    let postgres = counted(&env);
    let hot = Arc::new(projections::AgentsRedisProjection::agents(
        env.redis().await,
        env.redis_prefix.clone(),
    ));
    let postgres_lock = runner(postgres.clone(), &env).leader_lock_name();
    let hot_lock = runner(hot.clone(), &env).leader_lock_name();
    let first =
        RunningProjector::start(runner(postgres.clone(), &env).with_lock_session(session.clone()));
    let second = RunningProjector::start(runner(hot.clone(), &env).with_lock_session(session));
    let last = create_agents(&commands, &mut publisher, tenant, 5).await;
    wait_for_checkpoint(&env, last).await;

    // Both locks are held by one and the same backend,
    let (env_ref, postgres_name, hot_name) = (&env, &postgres_lock, &hot_lock);
    eventually("both projectors to lead", || async move {
        let a = lock_holders(env_ref, postgres_name).await;
        a.len() == 1 && a == lock_holders(env_ref, hot_name).await
    })
    .await;
    let holders = lock_holders(&env, &postgres_lock).await;
    // and when that session ends, both lead again through a new one and catch up.
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(holders[0])
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(terminated);
    let last = create_agents(&commands, &mut publisher, tenant, 5).await;
    wait_for_checkpoint(&env, last).await;
    let redis = env.redis().await;
    let hot_checkpoint = format!("{}:checkpoint:agents_redis", env.redis_prefix);
    let (redis_ref, key) = (&redis, &hot_checkpoint);
    eventually("the hot projection to catch up", || async move {
        let mut redis = redis_ref.clone();
        let at: Option<u64> = redis::AsyncCommands::get(&mut redis, key)
            .await
            .unwrap_or(None);
        at == Some(last)
    })
    .await;
    let renewed = lock_holders(&env, &postgres_lock).await;
    assert_eq!(renewed.len(), 1);
    assert_ne!(renewed, holders, "a new session holds the locks");
    assert_eq!(lock_holders(&env, &hot_lock).await, renewed);
    first.stop().await;
    second.stop().await;
    assert_eq!(all_rows(&env.pool).await.len(), 10);
    env.cleanup().await;
}
