//! What the billing tests share: the account's command bus, the reactor, and what the
//! store holds about usage afterwards.

use std::sync::Arc;

use domain::billing::{BillingAccount, BillingCommand, BillingEvent, UsageRecorded};
use eventstore::testing::TestEnv;
use eventstore::{CommandBus, CommandContext, RelayWaker};
use projections::billing_reactor::{BILLING_REACTOR, BillingReactor};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::eventually;

/// Billing accounts through the real command bus.
pub fn accounts(env: &TestEnv) -> Arc<CommandBus<BillingAccount>> {
    Arc::new(CommandBus::new(env.pool.clone(), (), RelayWaker::default()))
}

/// A reactor over the test's store.
pub fn reactor(env: &TestEnv) -> BillingReactor {
    BillingReactor::new(env.pool.clone(), accounts(env))
}

/// Executes `command` on `tenant_id`'s account; fails the test if it is not accepted.
pub async fn bill(accounts: &CommandBus<BillingAccount>, tenant_id: Uuid, command: BillingCommand) {
    let context = CommandContext::new(tenant_id, "test", command.now());
    accounts
        .execute(&tenant_id.to_string(), command, &context)
        .await
        .unwrap_or_else(|err| panic!("billing command rejected: {err}"));
}

/// How many events of `event_type` the billing accounts hold.
pub async fn billing_events(pool: &PgPool, event_type: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events
          WHERE aggregate_type = 'billing_account' AND event_type = $1",
    )
    .bind(event_type)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Every billing account event of `tenant_id`, in order.
pub async fn account_events(pool: &PgPool, tenant_id: Uuid) -> Vec<BillingEvent> {
    let payloads: Vec<sqlx::types::Json<BillingEvent>> = sqlx::query_scalar(
        "SELECT payload FROM events
          WHERE aggregate_type = 'billing_account' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(tenant_id.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    payloads.into_iter().map(|json| json.0).collect()
}

/// The usages recorded on `tenant_id`'s account, in order.
pub async fn recorded_usages(pool: &PgPool, tenant_id: Uuid) -> Vec<UsageRecorded> {
    account_events(pool, tenant_id)
        .await
        .into_iter()
        .filter_map(|event| match event {
            BillingEvent::UsageRecorded(usage) => Some(usage),
            _ => None,
        })
        .collect()
}

/// The reactor's checkpoint (0 before it first prepared).
pub async fn reactor_checkpoint(pool: &PgPool) -> u64 {
    projections::checkpoint::ensure(pool, BILLING_REACTOR)
        .await
        .unwrap();
    projections::checkpoint::read(pool, BILLING_REACTOR)
        .await
        .unwrap()
}

/// Waits until the reactor's checkpoint has reached `last`.
pub async fn caught_up(pool: &PgPool, last: u64) {
    eventually("the reactor caught up", || async move {
        reactor_checkpoint(pool).await == last
    })
    .await;
}

/// Sets a projection's checkpoint back to the start, as if it had been lost.
pub async fn forget_checkpoint(pool: &PgPool, projection: &str) {
    sqlx::query("UPDATE projection_checkpoints SET stream_sequence = 0 WHERE projection = $1")
        .bind(projection)
        .execute(pool)
        .await
        .unwrap();
}
