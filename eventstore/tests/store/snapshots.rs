//! Snapshots: a long aggregate loads from its latest snapshot and the events after it,
//! with the same result as folding every event; a stale snapshot is ignored.

use domain::agent::{Agent, AgentCommand};
use eventstore::loader::{AggregateLoader, SNAPSHOT_EVERY};
use eventstore::testing::TestEnv;
use uuid::Uuid;

use crate::support::{command_bus, context, given_an_agent, rename_agent};

async fn snapshot_versions(env: &TestEnv, agent_id: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT last_sequence FROM snapshots WHERE aggregate_type = 'agent' AND aggregate_id = $1",
    )
    .bind(agent_id)
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_long_aggregate_keeps_one_snapshot_and_loads_as_if_folded_from_the_start() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agent_id = given_an_agent(&bus, tenant).await;

    // Given 250 events: the creation, then alternating pauses and resumes,
    for n in 2..=250u64 {
        let now = chrono::Utc::now();
        let command = if n % 2 == 0 {
            AgentCommand::PauseAgent {
                tenant_id: tenant,
                paused_by: "test".to_owned(),
                reason: Some(format!("pause {n}")),
                now,
            }
        } else {
            AgentCommand::ResumeAgent {
                tenant_id: tenant,
                now,
            }
        };
        let receipt = bus
            .execute(&agent_id, command, &context(tenant))
            .await
            .unwrap();
        assert_eq!(receipt.version, n);
    }

    // then only the latest snapshot is kept, at the last multiple passed,
    assert_eq!(
        snapshot_versions(&env, &agent_id).await,
        [2 * SNAPSHOT_EVERY as i64]
    );
    // and loading through it equals folding every event without one.
    let (through_snapshot, version) = bus.load(&agent_id).await.unwrap();
    assert_eq!(version, 250);
    sqlx::query("DELETE FROM snapshots")
        .execute(&env.pool)
        .await
        .unwrap();
    let (folded, folded_version) = AggregateLoader::new(env.pool.clone(), Vec::new())
        .load::<Agent>(&agent_id)
        .await
        .unwrap();
    assert_eq!((through_snapshot, version), (folded, folded_version));

    // A command after that still appends at the right sequence.
    let next = bus
        .execute(
            &agent_id,
            rename_agent(tenant, "Long lived"),
            &context(tenant),
        )
        .await
        .unwrap();
    assert_eq!(next.version, 251);

    env.cleanup().await;
}

#[tokio::test]
async fn a_snapshot_that_no_longer_fits_the_state_is_ignored() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agent_id = given_an_agent(&bus, tenant).await;
    let (expected, _) = bus.load(&agent_id).await.unwrap();

    // A snapshot in a shape the aggregate cannot read (written by an older version),
    sqlx::query(
        "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
         VALUES ('agent', $1, 1, 1, '{\"shape\": \"of old\"}')",
    )
    .bind(&agent_id)
    .execute(&env.pool)
    .await
    .unwrap();

    // is skipped: the aggregate is folded from its events instead.
    let (loaded, version) = bus.load(&agent_id).await.unwrap();
    assert_eq!((loaded, version), (expected, 1));

    env.cleanup().await;
}
