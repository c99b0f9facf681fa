//! What the handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use domain::agent::Agent;
use domain::api_key::ApiKey;
use domain::billing::BillingAccount;
use eventstore::web::Authenticator;
use eventstore::{CommandBus, RelayWaker};
use sqlx::PgPool;

/// The command API's state.
#[derive(Clone)]
pub struct AppState {
    pub agents: Arc<CommandBus<Agent>>,
    pub api_keys: Arc<CommandBus<ApiKey>>,
    pub billing: Arc<CommandBus<BillingAccount>>,
    pub authenticator: Authenticator,
    /// The hot billing hashes (Redis and key prefix) that quota checks read; without
    /// them nothing is refused for being over quota.
    pub allowances: Option<(redis::aio::ConnectionManager, String)>,
    /// The event store, for what a replayed command must read back from its events.
    pub pool: PgPool,
}

impl AppState {
    /// State over `pool`'s event store, waking the relay through `waker`; keys are
    /// looked up in the store only.
    pub fn new(pool: PgPool, waker: RelayWaker) -> Self {
        Self {
            agents: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            api_keys: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            billing: Arc::new(CommandBus::new(pool.clone(), (), waker)),
            authenticator: Authenticator::new(pool.clone()),
            allowances: None,
            pool,
        }
    }

    /// Looks keys up in the Redis key cache under `prefix` before the store.
    pub fn with_key_cache(mut self, redis: redis::aio::ConnectionManager, prefix: String) -> Self {
        self.authenticator = self.authenticator.with_cache(redis, prefix);
        self
    }

    /// Checks quotas against the hot billing hashes in Redis under `prefix`.
    pub fn with_allowances(mut self, redis: redis::aio::ConnectionManager, prefix: String) -> Self {
        self.allowances = Some((redis, prefix));
        self
    }
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}
