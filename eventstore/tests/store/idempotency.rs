//! Idempotency keys: a repeated request is answered as the first was, and appends once.

use std::sync::Arc;

use domain::agent::AgentCommand;
use eventstore::metadata::IdempotencyClaim;
use eventstore::testing::TestEnv;
use eventstore::{CommandContext, CommandError, CommandReceipt};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::support::{command_bus, context, create_agent, event_count, events_of, given_an_agent};

fn keyed_context(tenant: Uuid, key: &str, request_hash: &str) -> CommandContext {
    CommandContext {
        idempotency: Some(IdempotencyClaim {
            key: key.to_owned(),
            request_hash: request_hash.to_owned(),
            status_code: 201,
        }),
        ..context(tenant)
    }
}

#[tokio::test]
async fn a_repeated_idempotent_request_is_replayed_without_appending() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agent_id = Uuid::now_v7();
    let context = keyed_context(tenant, "create-1", "hash-a");

    // Given a keyed create was executed,
    let first = bus
        .execute(
            &agent_id.to_string(),
            create_agent(tenant, agent_id),
            &context,
        )
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!((first.version, first.status_code), (1, 201));
    let events_after_first = event_count(&env.pool).await;

    // when the same request comes again with the same key,
    let second = bus
        .execute(
            &agent_id.to_string(),
            create_agent(tenant, agent_id),
            &context,
        )
        .await
        .unwrap();

    // then it answers as the first did, marked as a replay, and appends nothing.
    assert_eq!(
        second,
        CommandReceipt {
            replayed: true,
            ..first
        }
    );
    assert_eq!(event_count(&env.pool).await, events_after_first);

    env.cleanup().await;
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_request_is_refused() {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agent_id = Uuid::now_v7();
    bus.execute(
        &agent_id.to_string(),
        create_agent(tenant, agent_id),
        &keyed_context(tenant, "create-1", "hash-a"),
    )
    .await
    .unwrap();

    let other_agent = Uuid::now_v7();
    let reused = bus
        .execute(
            &other_agent.to_string(),
            create_agent(tenant, other_agent),
            &keyed_context(tenant, "create-1", "hash-b"),
        )
        .await;

    assert!(
        matches!(reused, Err(CommandError::IdempotencyKeyReused)),
        "{reused:?}"
    );
    assert_eq!(event_count(&env.pool).await, 1);

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twin_idempotent_creates_on_fresh_ids_both_succeed_with_one_set_of_events() {
    let env = TestEnv::new().await;
    let bus = Arc::new(command_bus(&env));
    let tenant = Uuid::now_v7();

    for round in 0..10 {
        // Given two copies of one keyed create, each with its own freshly made id (as a
        // retried request gets), released at the same moment,
        let key = format!("twin-{round}");
        let barrier = Arc::new(Barrier::new(2));
        let twins: Vec<_> = (0..2)
            .map(|_| {
                let (bus, barrier, key) = (Arc::clone(&bus), Arc::clone(&barrier), key.clone());
                tokio::spawn(async move {
                    let agent_id = Uuid::now_v7();
                    let context = keyed_context(tenant, &key, "same-request");
                    barrier.wait().await;
                    bus.execute(
                        &agent_id.to_string(),
                        create_agent(tenant, agent_id),
                        &context,
                    )
                    .await
                })
            })
            .collect();
        let mut receipts = Vec::new();
        for twin in twins {
            receipts.push(twin.await.unwrap().expect("both twins succeed"));
        }

        // then both answer with the same agent and version, one of them as a replay,
        assert_eq!(receipts[0].aggregate_id, receipts[1].aggregate_id);
        assert_eq!((receipts[0].version, receipts[1].version), (1, 1));
        assert_eq!(
            receipts.iter().filter(|receipt| receipt.replayed).count(),
            1,
            "{receipts:?}"
        );
        // and only the winner's events were appended.
        assert_eq!(events_of(&env, &receipts[0].aggregate_id).await, 1);
        assert_eq!(event_count(&env.pool).await, round + 1);
    }

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twin_idempotent_requests_on_one_agent_append_once_and_both_succeed() {
    let env = TestEnv::new().await;
    let bus = Arc::new(command_bus(&env));
    let tenant = Uuid::now_v7();

    for round in 0..10 {
        // Given two copies of one keyed request on the same agent, released together:
        // a create of one id, or a pause sent with `If-Match: 1`,
        let creating = round % 2 == 0;
        let agent_id = if creating {
            Uuid::now_v7().to_string()
        } else {
            given_an_agent(&bus, tenant).await
        };
        let key = format!("twin-{round}");
        let barrier = Arc::new(Barrier::new(2));
        let twins: Vec<_> = (0..2)
            .map(|_| {
                let (bus, barrier) = (Arc::clone(&bus), Arc::clone(&barrier));
                let (agent_id, key) = (agent_id.clone(), key.clone());
                tokio::spawn(async move {
                    let mut context = keyed_context(tenant, &key, "same-request");
                    let command = if creating {
                        create_agent(tenant, Uuid::parse_str(&agent_id).unwrap())
                    } else {
                        context.expected_version = Some(1);
                        AgentCommand::PauseAgent {
                            tenant_id: tenant,
                            paused_by: "test".to_owned(),
                            reason: None,
                            now: chrono::Utc::now(),
                        }
                    };
                    barrier.wait().await;
                    bus.execute(&agent_id, command, &context).await
                })
            })
            .collect();
        let mut receipts = Vec::new();
        for twin in twins {
            receipts.push(twin.await.unwrap().expect("both twins succeed"));
        }

        // then both answer alike, one as a replay, and the request's event was appended once.
        let version = if creating { 1 } else { 2 };
        for receipt in &receipts {
            assert_eq!(
                (receipt.aggregate_id.as_str(), receipt.version),
                (agent_id.as_str(), version)
            );
        }
        assert_eq!(
            receipts.iter().filter(|receipt| receipt.replayed).count(),
            1,
            "{receipts:?}"
        );
        assert_eq!(events_of(&env, &agent_id).await, version as i64);
    }

    env.cleanup().await;
}
