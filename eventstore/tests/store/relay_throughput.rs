//! Relay throughput on a prepared store (ignored: a measurement, not a check). Run with
//! `cargo test -p eventstore --test store relay_throughput -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use eventstore::Relay;
use eventstore::testing::TestEnv;
use uuid::Uuid;

pub const EVENTS: i64 = 30_000;

/// Fills the store with `EVENTS` realistic agent events (~700 bytes of payload), 100 per
/// transaction.
pub async fn prepare_store(env: &TestEnv) {
    let tenant = Uuid::now_v7();
    for batch in 0..EVENTS / 100 {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata, event_id, tenant_id, occurred_at)
             SELECT 'agent', $1 || '-' || n, 1, 'AgentCreated', '1',
                    jsonb_build_object('AgentCreated', jsonb_build_object(
                        'agent_id', gen_random_uuid(), 'tenant_id', $2::uuid,
                        'config', jsonb_build_object('name', 'Support bot ' || n,
                            'description', repeat('Answers billing questions. ', 8),
                            'model', jsonb_build_object('provider', 'anthropic', 'name', 'claude-sonnet',
                                                        'temperature', 0.7, 'max_output_tokens', 4096),
                            'system_prompt', 'You are a helpful support agent.',
                            'tool_ids', jsonb_build_array(gen_random_uuid()),
                            'metadata', jsonb_build_object('team', 'billing')),
                        'config_version', 1, 'created_at', now())),
                    jsonb_build_object('tenant_id', $2::text, 'actor', 'bench',
                                       'correlation_id', gen_random_uuid(), 'causation_id', gen_random_uuid(),
                                       'occurred_at', now()),
                    gen_random_uuid(), $2, now()
               FROM generate_series(1, 100) AS n",
        )
        .bind(format!("a{batch}"))
        .bind(tenant)
        .execute(&env.pool)
        .await
        .expect("insert");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run on demand"]
async fn relay_throughput() {
    let env = TestEnv::new().await;
    prepare_store(&env).await;
    let relay = Relay::new(
        env.pool.clone(),
        env.jetstream.clone(),
        env.namespace.clone(),
    )
    .with_batch_size(1000);
    let mut active = loop {
        if let Some(active) = relay.try_acquire().await.expect("acquire") {
            break active;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Only batches that published count: a batch that finds nothing is waiting for another
    // session's transaction to end (the cut-off is cluster-wide), not working.
    let mut working = Duration::ZERO;
    let mut published = 0;
    while published < EVENTS as usize {
        let started = Instant::now();
        let outcome = active.process_batch().await.expect("batch");
        published += outcome.published;
        if outcome.published == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        } else {
            working += started.elapsed();
        }
    }
    let seconds = working.as_secs_f64();
    println!(
        "relay_throughput: {published} events in {seconds:.2} s = {:.0} events/s",
        published as f64 / seconds
    );
    env.cleanup().await;
}
