//! The command bus: optimistic concurrency, rejections and the metadata it stores.

use std::collections::HashSet;
use std::sync::Arc;

use domain::agent::{AgentCommand, AgentError};
use eventstore::metadata::keys;
use eventstore::testing::TestEnv;
use eventstore::{CommandContext, CommandError};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::support::{
    agent_config, command_bus, context, create_agent, event_count, events_of, eventually,
    given_an_agent, insert_raw_event, rename_agent,
};

#[tokio::test]
async fn a_stale_expected_version_is_refused_with_the_actual_version() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agent_id = given_an_agent(&bus, tenant).await;

    let stale = CommandContext {
        expected_version: Some(5),
        ..context(tenant)
    };
    let refused = bus
        .execute(&agent_id, rename_agent(tenant, "Stale"), &stale)
        .await;
    assert!(
        matches!(
            refused,
            Err(CommandError::VersionMismatch {
                expected: 5,
                actual: 1
            })
        ),
        "{refused:?}"
    );
    assert_eq!(events_of(&env, &agent_id).await, 1);

    let current = CommandContext {
        expected_version: Some(1),
        ..context(tenant)
    };
    let accepted = bus
        .execute(&agent_id, rename_agent(tenant, "Fresh"), &current)
        .await
        .unwrap();
    assert_eq!(accepted.version, 2);

    env.cleanup().await;
}

#[tokio::test]
async fn a_command_that_loses_the_race_for_its_sequence_gets_a_conflict() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agent_id = given_an_agent(&bus, tenant).await;

    // Given another writer has inserted the agent's event 2 and not committed yet,
    let mut rival_connection = PgConnection::connect_with(&env.pool.connect_options())
        .await
        .unwrap();
    let mut rival = rival_connection.begin().await.unwrap();
    insert_raw_event(&mut *rival, tenant, &agent_id, 2).await;

    // when a command loads the agent at version 1 and tries to append event 2, which
    // waits on the rival's row,
    let racing = {
        let agent_id = agent_id.clone();
        let bus = command_bus(&env);
        tokio::spawn(async move {
            bus.execute(&agent_id, rename_agent(tenant, "Late"), &context(tenant))
                .await
        })
    };
    eventually("the command waits on the rival's row", || {
        let pool = &env.pool;
        async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            (waiting > 0).then_some(())
        }
    })
    .await;
    // and the rival commits first,
    rival.commit().await.unwrap();

    // then the command is told it conflicted, and appended nothing;
    let result = racing.await.unwrap();
    assert!(matches!(result, Err(CommandError::Conflict)), "{result:?}");
    assert_eq!(events_of(&env, &agent_id).await, 2);
    // a retry sees the rival's event and goes on from there.
    let retried = bus
        .execute(&agent_id, rename_agent(tenant, "Late"), &context(tenant))
        .await
        .unwrap();
    assert_eq!(retried.version, 3);

    rival_connection.close().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commands_on_one_aggregate_never_lose_an_update() {
    let env = TestEnv::new().await;
    let bus = Arc::new(command_bus(&env));
    let tenant = Uuid::now_v7();
    let agent_id = given_an_agent(&bus, tenant).await;

    // Given pairs of renames of one agent released together, round after round,
    let mut accepted_versions = Vec::new();
    let mut conflicts = 0;
    for round in 0..20 {
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|racer| {
                let (bus, barrier, agent_id) =
                    (Arc::clone(&bus), Arc::clone(&barrier), agent_id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let name = format!("Round {round} racer {racer}");
                    bus.execute(&agent_id, rename_agent(tenant, &name), &context(tenant))
                        .await
                })
            })
            .collect();
        for racer in racers {
            match racer.await.unwrap() {
                Ok(receipt) => accepted_versions.push(receipt.version),
                Err(CommandError::Conflict) => conflicts += 1,
                Err(other) => panic!("a racer failed otherwise: {other:?}"),
            }
        }
    }

    // then every accepted command got its own version, and the agent's version counts
    // exactly the creation and the accepted commands: no update was lost.
    let accepted = accepted_versions.len() as u64;
    assert_eq!(accepted + conflicts, 40);
    let distinct: HashSet<u64> = accepted_versions.iter().copied().collect();
    assert_eq!(distinct, (2..=accepted + 1).collect::<HashSet<u64>>());
    let (agent, version) = bus.load(&agent_id).await.unwrap();
    assert_eq!(version, accepted + 1);
    assert_eq!(u64::from(agent.config_version()), accepted + 1);
    assert_eq!(events_of(&env, &agent_id).await, (accepted + 1) as i64);

    env.cleanup().await;
}

#[tokio::test]
async fn a_command_the_domain_rejects_appends_nothing() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();

    let missing = bus
        .execute(
            &Uuid::now_v7().to_string(),
            rename_agent(tenant, "Ghost"),
            &context(tenant),
        )
        .await;
    assert!(
        matches!(missing, Err(CommandError::Rejected(AgentError::NotFound))),
        "{missing:?}"
    );

    let agent_id = Uuid::now_v7();
    let invalid = bus
        .execute(
            &agent_id.to_string(),
            AgentCommand::CreateAgent {
                tenant_id: tenant,
                agent_id,
                config: agent_config("   "),
                now: chrono::Utc::now(),
            },
            &context(tenant),
        )
        .await;
    assert!(
        matches!(invalid, Err(CommandError::Rejected(AgentError::Invalid(_)))),
        "{invalid:?}"
    );
    assert_eq!(event_count(&env.pool).await, 0);

    let existing = given_an_agent(&bus, tenant).await;
    let existing_id = Uuid::parse_str(&existing).unwrap();
    let twice = bus
        .execute(
            &existing,
            create_agent(tenant, existing_id),
            &context(tenant),
        )
        .await;
    assert!(
        matches!(
            twice,
            Err(CommandError::Rejected(AgentError::AlreadyExists))
        ),
        "{twice:?}"
    );
    assert_eq!(event_count(&env.pool).await, 1);

    env.cleanup().await;
}

#[tokio::test]
async fn appended_events_carry_the_command_context_and_a_uuid_v7() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agent_id = Uuid::now_v7();
    let context = CommandContext {
        causation_id: Uuid::now_v7(),
        ..CommandContext::new(tenant, "key:0196", chrono::Utc::now())
    };

    bus.execute(
        &agent_id.to_string(),
        create_agent(tenant, agent_id),
        &context,
    )
    .await
    .unwrap();

    let (event_id, tenant_column, metadata, occurred_at): (
        Uuid,
        Uuid,
        Value,
        chrono::DateTime<chrono::Utc>,
    ) = sqlx::query_as(
        "SELECT event_id, tenant_id, metadata, occurred_at FROM events WHERE aggregate_id = $1",
    )
    .bind(agent_id.to_string())
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(event_id.get_version_num(), 7);
    assert_eq!(tenant_column, tenant);
    assert_eq!(
        occurred_at.timestamp_micros(),
        context.occurred_at.timestamp_micros()
    );
    let text = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
    assert_eq!(text(keys::TENANT_ID), Some(tenant.to_string()));
    assert_eq!(text(keys::ACTOR).as_deref(), Some("key:0196"));
    assert_eq!(
        text(keys::CORRELATION_ID),
        Some(context.correlation_id.to_string())
    );
    assert_eq!(
        text(keys::CAUSATION_ID),
        Some(context.causation_id.to_string())
    );
    assert_ne!(context.causation_id, context.correlation_id);

    env.cleanup().await;
}
