//! The billing reactor against the real store, relay and stream: each usage is recorded
//! once however the reactor is stopped, restarted or fed the same events again.
//!
//! The events that cause usage (memories, tool invocations) belong to domains other
//! slices build; they are appended to the store as their command bus would append them
//! (`eventstore::testing::memory_recorded` and friends) and published by the real relay.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use domain::billing::{BillingCommand, BillingEvent, Meter, QuotaPeriod};
use eventstore::testing::{TestEnv, memory_recorded, tool_invocation_succeeded};
use projections::billing_reactor::{
    BILLING_ACTOR, BILLING_REACTOR, Recorded, USAGE_CLAIM_SCOPE, usages_of,
};
use projections::{Projection, ProjectionRunner, RunnerConfig};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::billing_support::{
    account_events, accounts, bill, billing_events, caught_up, forget_checkpoint, reactor,
    reactor_checkpoint, recorded_usages,
};
use crate::driving::{Counting, RunningProjector, delivered, drive_until, fetch_exactly, runner};
use crate::helpers::{Commands, Publisher, at, eventually};

async fn claims(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM unique_claims WHERE scope = $1")
        .bind(USAGE_CLAIM_SCOPE)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The correlation id a stored event carries.
async fn correlation_of(pool: &PgPool, event_id: Uuid) -> String {
    sqlx::query_scalar("SELECT metadata ->> 'correlation_id' FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Asserts that the usages of `tenant_id` are exactly one per cause, each traced to it.
async fn assert_once_per_cause(pool: &PgPool, tenant_id: Uuid, causes: &[Uuid]) {
    let usages = recorded_usages(pool, tenant_id).await;
    let keys: Vec<String> = usages.iter().map(|u| u.idempotency_key.clone()).collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a usage was recorded twice");
    let expected: BTreeSet<String> = causes.iter().map(Uuid::to_string).collect();
    assert_eq!(unique, expected.iter().collect(), "one usage per cause");
    for usage in &usages {
        assert_eq!(usage.source.event_id.to_string(), usage.idempotency_key);
        assert_eq!(
            usage.source.aggregate_type == "memory",
            usage.meter == Meter::MemoryItems
        );
    }
}

#[tokio::test]
async fn a_reactor_stopped_between_batches_or_before_its_checkpoint_records_each_usage_once() {
    let env = TestEnv::new().await;
    let mut publisher = Publisher::new(&env).await;
    let agents = Commands::new(&env);
    let (acme, globex) = (Uuid::now_v7(), Uuid::now_v7());
    let mut causes = [Vec::new(), Vec::new()];
    for minute in 0..6 {
        for (tenant, caused) in [acme, globex].into_iter().zip(causes.iter_mut()) {
            caused.push(memory_recorded(&env.pool, tenant, None, at(minute)).await);
            if minute % 2 == 0 {
                caused.push(tool_invocation_succeeded(&env.pool, tenant, at(minute)).await);
            }
        }
        // Events that cost nothing, in between.
        agents.create(acme, "bystander", at(minute)).await;
    }
    let last = publisher.publish_all().await;
    assert_eq!(
        last,
        12 + 12 + 6,
        "memories, requested and succeeded calls, agents"
    );

    // First life: one batch recorded, checkpointed and acknowledged; then it stops.
    {
        let reactor = Arc::new(reactor(&env));
        let runner = runner(reactor, &env);
        let consumer = runner.consumer().await.unwrap();
        runner
            .handle(fetch_exactly(&consumer, 10).await)
            .await
            .unwrap();
    }
    assert_eq!(reactor_checkpoint(&env.pool).await, 10);
    // Second life: the next batch's usages are recorded, then it dies before its
    // checkpoint and its acknowledgements.
    let recorded_before_crash = {
        let reactor = Arc::new(reactor(&env));
        let runner = runner(reactor.clone(), &env);
        let consumer = runner.consumer().await.unwrap();
        let messages = fetch_exactly(&consumer, 10).await;
        reactor.record(&delivered(&messages)).await.unwrap()
    };
    assert!(recorded_before_crash > 0);
    assert_eq!(reactor_checkpoint(&env.pool).await, 10);
    let recorded_so_far = billing_events(&env.pool, "UsageRecorded").await;

    // Third life: the second batch comes back with the rest.
    let restarted = Arc::new(Counting::new(reactor(&env)));
    let projector = RunningProjector::spawn(restarted.clone(), &env);
    caught_up(&env.pool, last).await;
    projector.stop().await;

    assert_eq!(billing_events(&env.pool, "UsageRecorded").await, 18);
    assert_eq!(claims(&env.pool).await, 18);
    assert!(
        restarted.offered.load(Ordering::SeqCst) >= 20,
        "the lost batch came back"
    );
    assert_eq!(
        restarted.applied.load(Ordering::SeqCst) as i64,
        18 - recorded_so_far,
        "only what was not recorded before"
    );
    for (tenant, caused) in [acme, globex].into_iter().zip(&causes) {
        assert_once_per_cause(&env.pool, tenant, caused).await;
        let usages = recorded_usages(&env.pool, tenant).await;
        let last_usage = usages.last().unwrap();
        assert_eq!(last_usage.balance_after_micros, -(6 * 100 + 3 * 1_000));
    }
    let usage_metadata: Vec<(String, String, String, Uuid)> = sqlx::query_as(
        "SELECT metadata ->> 'actor', metadata ->> 'causation_id', metadata ->> 'correlation_id',
                (payload -> 'UsageRecorded' -> 'source' ->> 'event_id')::uuid
           FROM events WHERE event_type = 'UsageRecorded'",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    for (actor, causation, correlation, cause) in usage_metadata {
        assert_eq!(actor, BILLING_ACTOR);
        assert_eq!(causation, cause.to_string(), "caused by the event");
        assert_eq!(correlation, correlation_of(&env.pool, cause).await);
    }
    env.cleanup().await;
}

#[tokio::test]
async fn a_reactor_killed_at_any_moment_records_each_usage_once() {
    let env = TestEnv::new().await;
    let mut publisher = Publisher::new(&env).await;
    let tenants: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let mut causes = vec![Vec::new(); tenants.len()];
    for minute in 0..25 {
        for (tenant, caused) in tenants.iter().zip(causes.iter_mut()) {
            caused.push(memory_recorded(&env.pool, *tenant, None, at(minute)).await);
        }
    }
    let last = publisher.publish_all().await;

    // Small batches, killed (the task aborted wherever it is) once some usage is in.
    let small_batches = ProjectionRunner::new(
        Arc::new(reactor(&env)),
        env.jetstream.clone(),
        env.namespace.clone(),
        RunnerConfig {
            batch_size: 3,
            ack_wait: Duration::from_secs(1),
        },
    );
    let task = tokio::spawn(async move { small_batches.run(CancellationToken::new()).await });
    let pool = &env.pool;
    eventually("some usage recorded", || async move {
        billing_events(pool, "UsageRecorded").await >= 10
    })
    .await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    let projector = RunningProjector::spawn(Arc::new(reactor(&env)), &env);
    caught_up(&env.pool, last).await;
    projector.stop().await;
    assert_eq!(billing_events(&env.pool, "UsageRecorded").await, 100);
    for (tenant, caused) in tenants.iter().zip(&causes) {
        assert_once_per_cause(&env.pool, *tenant, caused).await;
    }
    env.cleanup().await;
}

#[tokio::test]
async fn redelivered_events_record_nothing_twice() {
    let env = TestEnv::new().await;
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    for minute in 0..6 {
        memory_recorded(&env.pool, tenant, Some(Uuid::now_v7()), at(minute)).await;
    }
    tool_invocation_succeeded(&env.pool, tenant, at(7)).await;
    let last = publisher.publish_all().await;
    assert_eq!(last, 8);

    let reactor = Arc::new(reactor(&env));
    let runner = runner(reactor.clone(), &env);
    let consumer = runner.consumer().await.unwrap();
    let batch = delivered(&fetch_exactly(&consumer, 8).await);
    assert_eq!(reactor.apply(&batch).await.unwrap(), 7);
    assert_eq!(
        reactor.apply(&batch).await.unwrap(),
        0,
        "behind the checkpoint"
    );
    forget_checkpoint(&env.pool, BILLING_REACTOR).await;
    assert_eq!(
        reactor.apply(&batch).await.unwrap(),
        0,
        "held back by the claims"
    );
    assert_eq!(reactor_checkpoint(&env.pool).await, last);
    assert_eq!(billing_events(&env.pool, "UsageRecorded").await, 7);
    let runs = recorded_usages(&env.pool, tenant).await;
    assert_eq!(
        runs.iter()
            .filter(|usage| usage.source.run_id.is_some())
            .count(),
        6,
        "a memory's usage names the run that wrote it"
    );

    // Two deliveries of one event racing each other: one records it.
    memory_recorded(&env.pool, tenant, None, at(8)).await;
    // The stream now also holds the account's own events (opened, seven usages).
    let published = publisher.publish_all().await - last;
    let later = delivered(&fetch_exactly(&consumer, usize::try_from(published).unwrap()).await);
    let usage = &later
        .iter()
        .find_map(|delivered| usages_of(&delivered.event).pop())
        .unwrap();
    let (first, second) = tokio::join!(reactor.record_usage(usage), reactor.record_usage(usage));
    let mut outcomes = [first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|outcome| *outcome == Recorded::Already);
    assert_eq!(outcomes, [Recorded::New, Recorded::Already]);
    assert_eq!(billing_events(&env.pool, "UsageRecorded").await, 8);
    env.cleanup().await;
}

#[tokio::test]
async fn crossing_a_quota_records_quota_exceeded_once() {
    let env = TestEnv::new().await;
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    let accounts = accounts(&env);
    let quota = BillingCommand::SetQuota {
        tenant_id: tenant,
        meter: Meter::MemoryItems,
        limit: 2,
        period: QuotaPeriod::Day,
        now: at(0),
    };
    bill(&accounts, tenant, quota).await;
    for minute in 1..=5 {
        memory_recorded(&env.pool, tenant, None, at(minute)).await;
    }
    let last = publisher.publish_all().await;

    let reactor = Arc::new(reactor(&env));
    let runner = runner(reactor.clone(), &env);
    let consumer = runner.consumer().await.unwrap();
    let pool = &env.pool;
    drive_until(&runner, &consumer, || async move {
        reactor_checkpoint(pool).await == last
    })
    .await;
    // Everything again, as after a lost checkpoint.
    forget_checkpoint(&env.pool, BILLING_REACTOR).await;
    let replayed = runner.consumer().await.unwrap();
    let everything = delivered(&fetch_exactly(&replayed, 6).await);
    assert_eq!(reactor.apply(&everything).await.unwrap(), 0);

    assert_eq!(billing_events(&env.pool, "UsageRecorded").await, 5);
    let exceeded: Vec<_> = account_events(&env.pool, tenant)
        .await
        .into_iter()
        .filter_map(|event| match event {
            BillingEvent::QuotaExceeded(exceeded) => Some(exceeded),
            _ => None,
        })
        .collect();
    assert_eq!(exceeded.len(), 1, "{exceeded:?}");
    assert_eq!(exceeded[0].meter, Meter::MemoryItems);
    assert_eq!((exceeded[0].limit, exceeded[0].used), (2, 3));
    assert_eq!(exceeded[0].period_key, "2025-01-01");
    env.cleanup().await;
}

#[tokio::test]
async fn usage_is_recorded_while_the_api_changes_the_same_account() {
    let env = TestEnv::new().await;
    let mut publisher = Publisher::new(&env).await;
    let tenant = Uuid::now_v7();
    for minute in 0..30 {
        memory_recorded(&env.pool, tenant, None, at(minute)).await;
    }
    let last = publisher.publish_all().await;

    let projector = RunningProjector::spawn(Arc::new(reactor(&env)), &env);
    // Grants race the reactor for the account's next version; the loser retries.
    let accounts = accounts(&env);
    for _ in 0..20 {
        let grant = BillingCommand::GrantCredits {
            tenant_id: tenant,
            amount_micros: 1_000,
            reason: None,
            now: at(40),
        };
        let context = eventstore::CommandContext::new(tenant, "test", at(40));
        loop {
            match accounts
                .execute(&tenant.to_string(), grant.clone(), &context)
                .await
            {
                Ok(_) => break,
                Err(eventstore::CommandError::Conflict) => continue,
                Err(err) => panic!("grant failed: {err}"),
            }
        }
    }
    caught_up(&env.pool, last).await;
    projector.stop().await;

    assert_eq!(billing_events(&env.pool, "UsageRecorded").await, 30);
    assert_eq!(billing_events(&env.pool, "CreditsGranted").await, 20);
    let (account, _) = accounts.load(&tenant.to_string()).await.unwrap();
    assert_eq!(account.balance_micros(), 20 * 1_000 - 30 * 100);
    env.cleanup().await;
}
