//! `audit verify`: an untouched store verifies clean; an edited payload, a deleted row,
//! two reordered rows, swapped payloads and a chain rewritten along with the events are
//! each detected and located.

use eventstore::audit::link::link_hash;
use eventstore::audit::verify::{Mismatch, VerifyReport, verify};
use eventstore::audit::{AuditSigner, checkpoints};
use eventstore::testing::TestEnv;
use uuid::Uuid;

use crate::support::{
    acquire_relay, audited_relay, chain_until, command_bus, context, create_agents, no_checkpoints,
    rename_agent, stored_events_in_commit_order,
};

const EVENTS: i64 = 30;

/// 20 agents, 10 of them renamed: 30 events, chained, with a signed checkpoint at 30.
async fn a_chained_store() -> TestEnv {
    let env = TestEnv::new().await;
    let bus = command_bus(&env);
    let tenant = Uuid::now_v7();
    let agents = create_agents(&bus, tenant, 20, 4).await;
    for agent_id in &agents[..10] {
        bus.execute(
            &agent_id.to_string(),
            rename_agent(tenant, &format!("Renamed {agent_id}")),
            &context(tenant),
        )
        .await
        .unwrap();
    }
    let mut active = acquire_relay(&audited_relay(&env, no_checkpoints())).await;
    chain_until(&mut active, EVENTS).await;
    checkpoints::checkpoint_now(
        &env.pool,
        &AuditSigner::development(),
        &env.jetstream,
        &env.namespace,
    )
    .await
    .unwrap();
    env
}

/// Changes the name in an `AgentCreated` payload behind the store's back.
async fn rename_in_sql(env: &TestEnv, event_id: Uuid) {
    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{AgentCreated,config,name}', '\"Evil\"')
          WHERE event_id = $1",
    )
    .bind(event_id)
    .execute(&env.pool)
    .await
    .unwrap();
}

async fn delete_in_sql(env: &TestEnv, event_id: Uuid) {
    sqlx::query("DELETE FROM events WHERE event_id = $1")
        .bind(event_id)
        .execute(&env.pool)
        .await
        .unwrap();
}

/// The kind and chain index of the first mismatch.
fn located(report: &VerifyReport) -> Option<(&'static str, i64)> {
    let mismatch = report.mismatch.as_ref()?;
    let kind = match mismatch {
        Mismatch::Hash { .. } => "hash",
        Mismatch::MissingEvent { .. } => "missing_event",
        Mismatch::Order { .. } => "order",
        Mismatch::Renumbered { .. } => "renumbered",
        Mismatch::MissingLink { .. } => "missing_link",
        Mismatch::CheckpointSignature { .. } => "checkpoint_signature",
        Mismatch::Checkpoint { .. } => "checkpoint",
    };
    Some((kind, mismatch.chain_index()))
}

async fn verified(env: &TestEnv) -> VerifyReport {
    verify(&env.pool, &[AuditSigner::development().public_key()], 1)
        .await
        .unwrap()
}

/// The event at `chain_index`: (event id, position).
async fn chained(env: &TestEnv, chain_index: i64) -> (Uuid, i64) {
    sqlx::query_as("SELECT event_id, position FROM audit_chain WHERE chain_index = $1")
        .bind(chain_index)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_untouched_store_verifies_clean_from_the_start_or_from_any_index() {
    let env = a_chained_store().await;

    let report = verified(&env).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.verified, report.checkpoints), (30, 1));
    let from_ten = verify(&env.pool, &[AuditSigner::development().public_key()], 10)
        .await
        .unwrap();
    assert!(from_ten.is_clean(), "{from_ten:?}");
    assert_eq!(from_ten.verified, 21);

    env.cleanup().await;
}

#[tokio::test]
async fn an_edited_payload_is_located() {
    let env = a_chained_store().await;
    let (event_id, position) = chained(&env, 7).await;

    rename_in_sql(&env, event_id).await;

    let report = verified(&env).await;
    assert_eq!(located(&report), Some(("hash", 7)), "{report:?}");
    let described = report.mismatch.as_ref().unwrap().describe();
    assert!(described.contains(&format!("position {position}, event {event_id}")));
    assert_eq!(report.verified, 6);

    env.cleanup().await;
}

#[tokio::test]
async fn a_deleted_row_is_located() {
    let env = a_chained_store().await;
    let (event_id, position) = chained(&env, 12).await;

    delete_in_sql(&env, event_id).await;

    let report = verified(&env).await;
    assert_eq!(
        report.mismatch,
        Some(Mismatch::MissingEvent {
            chain_index: 12,
            position,
            event_id
        })
    );

    env.cleanup().await;
}

#[tokio::test]
async fn the_deleted_last_row_is_located() {
    let env = a_chained_store().await;
    let (event_id, _) = chained(&env, EVENTS).await;

    delete_in_sql(&env, event_id).await;

    let report = verified(&env).await;
    assert_eq!(
        located(&report),
        Some(("missing_event", EVENTS)),
        "{report:?}"
    );

    env.cleanup().await;
}

#[tokio::test]
async fn two_rows_reordered_by_swapping_their_transaction_ids_are_located() {
    let env = a_chained_store().await;
    let events = stored_events_in_commit_order(&env.pool).await;
    // Two events of different transactions, the 5th and the 9th in commit order.
    let (earlier, later) = (&events[4], &events[8]);
    assert_ne!(earlier.transaction_id, later.transaction_id);

    sqlx::query(
        "UPDATE events SET transaction_id = CASE event_id WHEN $1 THEN $4::text::xid8
                                                         ELSE $3::text::xid8 END
          WHERE event_id IN ($1, $2)",
    )
    .bind(earlier.event_id)
    .bind(later.event_id)
    .bind(earlier.transaction_id.to_string())
    .bind(later.transaction_id.to_string())
    .execute(&env.pool)
    .await
    .unwrap();

    let report = verified(&env).await;
    assert_eq!(
        report.mismatch,
        Some(Mismatch::Order {
            chain_index: 5,
            position: earlier.position,
            event_id: earlier.event_id,
            found_position: later.position,
            found_event_id: later.event_id,
        })
    );

    env.cleanup().await;
}

#[tokio::test]
async fn two_swapped_payloads_are_located_at_the_first() {
    let env = a_chained_store().await;
    let events = stored_events_in_commit_order(&env.pool).await;
    let renames: Vec<_> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event_type == "AgentConfigUpdated")
        .take(2)
        .collect();
    let ((first_index, first), (_, second)) = (renames[0], renames[1]);

    sqlx::query(
        "UPDATE events SET payload = CASE event_id WHEN $1 THEN $4::jsonb ELSE $3::jsonb END
          WHERE event_id IN ($1, $2)",
    )
    .bind(first.event_id)
    .bind(second.event_id)
    .bind(&first.payload)
    .bind(&second.payload)
    .execute(&env.pool)
    .await
    .unwrap();

    let report = verified(&env).await;
    let expected_index = i64::try_from(first_index).unwrap() + 1;
    assert_eq!(
        located(&report),
        Some(("hash", expected_index)),
        "{report:?}"
    );

    env.cleanup().await;
}

#[tokio::test]
async fn a_chain_rewritten_along_with_an_edit_is_caught_by_the_signed_checkpoint() {
    let env = a_chained_store().await;
    let (event_id, _) = chained(&env, 7).await;

    // Given an edit, and every hash from there recomputed and stored as a forger would,
    rename_in_sql(&env, event_id).await;
    let events = stored_events_in_commit_order(&env.pool).await;
    let mut previous: [u8; 32] = {
        let hash: Vec<u8> =
            sqlx::query_scalar("SELECT hash FROM audit_chain WHERE chain_index = 6")
                .fetch_one(&env.pool)
                .await
                .unwrap();
        hash.try_into().unwrap()
    };
    for (index, event) in (7..).zip(&events[6..]) {
        previous = link_hash(&previous, event).unwrap();
        sqlx::query("UPDATE audit_chain SET hash = $2 WHERE chain_index = $1")
            .bind(index)
            .bind(previous.to_vec())
            .execute(&env.pool)
            .await
            .unwrap();
    }

    // then the chain agrees with the store, but not with the signed head.
    let report = verified(&env).await;
    assert_eq!(located(&report), Some(("checkpoint", EVENTS)), "{report:?}");

    env.cleanup().await;
}

#[tokio::test]
async fn checkpoints_signed_by_another_key_do_not_count() {
    let env = a_chained_store().await;

    let stranger = AuditSigner::from_base64_seed("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=")
        .unwrap()
        .public_key();
    let report = verify(&env.pool, &[stranger], 1).await.unwrap();
    assert_eq!(
        located(&report),
        Some(("checkpoint_signature", EVENTS)),
        "{report:?}"
    );

    env.cleanup().await;
}
