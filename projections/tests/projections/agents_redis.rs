//! The Redis summary of agents.

use std::sync::Arc;

use eventstore::testing::TestEnv;
use projections::agents_redis::AGENTS_REDIS_PROJECTION;
use projections::{AgentSummary, AgentsRedisProjection, Projection};
use uuid::Uuid;

use crate::driving::{delivered, drive_until, fetch_exactly, runner};
use crate::helpers::{Commands, Publisher, at, consumer_info, eventually};

fn summary(id: Uuid, name: &str, status: &str, version: u64) -> AgentSummary {
    AgentSummary {
        id,
        name: name.to_owned(),
        status: status.to_owned(),
        version,
    }
}

pub async fn redis_projection(env: &TestEnv) -> AgentsRedisProjection {
    AgentsRedisProjection::agents(env.redis().await, env.redis_prefix.clone())
}

/// Deletes every key of the test, as a Redis restart without persistence would.
pub async fn wipe_redis(env: &TestEnv) {
    let mut redis = env.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", env.redis_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        !keys.is_empty(),
        "the projection wrote keys under the test's prefix"
    );
    redis::cmd("DEL")
        .arg(keys)
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
}

#[tokio::test]
async fn redis_summary_applies_each_event_once_and_hides_other_tenants_agents() {
    let env = TestEnv::new().await;
    let commands = Commands::new(&env);
    let mut publisher = Publisher::new(&env).await;
    let (tenant, other_tenant) = (Uuid::now_v7(), Uuid::now_v7());
    let renamed = commands.create(tenant, "Support bot", at(0)).await;
    commands.rename(tenant, renamed, "Billing bot", at(1)).await;
    commands.pause(tenant, renamed, at(2)).await;
    let archived = commands.create(tenant, "Old bot", at(3)).await;
    commands.archive(tenant, archived, at(4)).await;
    let theirs = commands.create(other_tenant, "Their bot", at(5)).await;
    let last = publisher.publish_all().await;
    assert_eq!(last, 6);

    let projection = Arc::new(redis_projection(&env).await);
    let runner = runner(projection.clone(), &env);
    let consumer = runner.consumer().await.unwrap();
    let messages = fetch_exactly(&consumer, 6).await;
    let batch = delivered(&messages);
    assert_eq!(projection.apply(&batch).await.unwrap(), 6);
    assert_eq!(
        projection.apply(&batch).await.unwrap(),
        0,
        "the same batch twice"
    );
    // Through the runner (which also acknowledges), the batch is a no-op too.
    assert_eq!(runner.handle(messages).await.unwrap(), 0);
    assert_eq!(projection.prepare().await.unwrap(), last, "the checkpoint");

    let get = |tenant_id, id| {
        let projection = &projection;
        async move { projection.get(tenant_id, id).await.unwrap() }
    };
    assert_eq!(
        get(tenant, renamed).await,
        Some(summary(renamed, "Billing bot", "paused", 3))
    );
    assert_eq!(
        get(tenant, archived).await,
        Some(summary(archived, "Old bot", "archived", 2))
    );
    assert_eq!(
        get(other_tenant, theirs).await,
        Some(summary(theirs, "Their bot", "active", 1))
    );
    assert_eq!(get(other_tenant, renamed).await, None);
    assert_eq!(get(tenant, theirs).await, None);
    assert_eq!(get(tenant, Uuid::now_v7()).await, None);

    // A later event applies on top; replaying the first batch still changes nothing.
    commands.resume(tenant, renamed, at(6)).await;
    let last = publisher.publish_all().await;
    let messages = fetch_exactly(&consumer, 1).await;
    assert_eq!(runner.handle(messages).await.unwrap(), 1);
    assert_eq!(projection.apply(&batch).await.unwrap(), 0);
    assert_eq!(projection.prepare().await.unwrap(), last);
    assert_eq!(
        get(tenant, renamed).await,
        Some(summary(renamed, "Billing bot", "active", 4))
    );
    env.cleanup().await;
}

#[tokio::test]
async fn redis_summary_is_rebuilt_from_the_stream_after_redis_loses_its_keys() {
    let env = TestEnv::new().await;
    let commands = Commands::new(&env);
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = commands.create(tenant, &format!("agent {i}"), at(i)).await;
        commands
            .rename(tenant, id, &format!("agent {i} renamed"), at(i))
            .await;
        if i % 2 == 0 {
            commands.pause(tenant, id, at(i)).await;
        }
        ids.push(id);
    }
    let last = publisher.publish_all().await;

    let projection = Arc::new(redis_projection(&env).await);
    let runner = runner(projection.clone(), &env);
    let consumer = runner.consumer().await.unwrap();
    let checkpoint_is_last = || {
        let projection = projection.clone();
        async move { projection.prepare().await.unwrap() == last }
    };
    drive_until(&runner, &consumer, checkpoint_is_last).await;
    let env_ref = &env;
    eventually("the consumer acknowledged everything", || async move {
        consumer_info(env_ref, AGENTS_REDIS_PROJECTION)
            .await
            .ack_floor
            .stream_sequence
            == last
    })
    .await;
    let mut summaries = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let status = if i % 2 == 0 { "paused" } else { "active" };
        let expected = summary(
            *id,
            &format!("agent {i} renamed"),
            status,
            2 + u64::from(i % 2 == 0),
        );
        assert_eq!(
            projection.get(tenant, *id).await.unwrap().as_ref(),
            Some(&expected)
        );
        summaries.push(expected);
    }
    drop((consumer, runner));

    wipe_redis(&env).await;
    assert_eq!(projection.get(tenant, ids[0]).await.unwrap(), None);
    assert_eq!(projection.prepare().await.unwrap(), 0);

    // The consumer's acks are ahead of the (lost) checkpoint: it must start over.
    let projection = Arc::new(redis_projection(&env).await);
    let runner = crate::driving::runner(projection.clone(), &env);
    let consumer = runner.consumer().await.unwrap();
    let info = consumer_info(&env, AGENTS_REDIS_PROJECTION).await;
    assert_eq!(
        info.delivered.stream_sequence, 0,
        "recreated from the stream's start"
    );
    assert_eq!(info.num_pending, last);
    let checkpoint_is_last = || {
        let projection = projection.clone();
        async move { projection.prepare().await.unwrap() == last }
    };
    let applied = drive_until(&runner, &consumer, checkpoint_is_last).await;
    assert_eq!(applied, usize::try_from(last).unwrap());
    for expected in &summaries {
        assert_eq!(
            projection.get(tenant, expected.id).await.unwrap().as_ref(),
            Some(expected)
        );
    }
    env.cleanup().await;
}
