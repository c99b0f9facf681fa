//! Loading an aggregate with a long history: from its snapshot against folding it all.

use std::time::Instant;

use domain::agent::Agent;
use eventstore::loader::AggregateLoader;
use sqlx::PgPool;
use uuid::Uuid;

use crate::rows::{agent_event, copy_in};

/// Stores one agent with `events` events; its id.
pub async fn store_long_agent(pool: &PgPool, events: usize) -> anyhow::Result<Uuid> {
    let (tenant_id, agent_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut rows = String::new();
    for sequence in 1..=i64::try_from(events)? {
        agent_event(tenant_id, agent_id, sequence).write_copy_line(&mut rows);
    }
    copy_in(pool, &rows).await?;
    Ok(agent_id)
}

/// Milliseconds to load the agent with and without its snapshot, `runs` times each.
pub async fn load_times(
    pool: &PgPool,
    agent_id: Uuid,
    runs: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let loader = AggregateLoader::new(pool.clone(), Vec::new());
    let id = agent_id.to_string();
    let delete_snapshots = || {
        sqlx::query("DELETE FROM snapshots WHERE aggregate_id = $1")
            .bind(&id)
            .execute(pool)
    };
    delete_snapshots().await?;
    let mut folded = Vec::with_capacity(runs);
    let mut version = 0;
    let mut agent = Agent::default();
    for _ in 0..=runs {
        let started = Instant::now();
        (agent, version) = loader.load::<Agent>(&id).await?;
        folded.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    loader.save_snapshot(&id, &agent, version).await?;
    let mut from_snapshot = Vec::with_capacity(runs);
    for _ in 0..=runs {
        let started = Instant::now();
        let (_, loaded) = loader.load::<Agent>(&id).await?;
        anyhow::ensure!(
            loaded == version,
            "snapshot load reached {loaded}, not {version}"
        );
        from_snapshot.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    delete_snapshots().await?;
    // The first load of each warms caches: not counted.
    Ok((folded.split_off(1), from_snapshot.split_off(1)))
}
