//! What the handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use domain::agent::Agent;
use domain::api_key::ApiKey;
use domain::webhook::WebhookSubscription;
use eventstore::web::Authenticator;
use eventstore::{CommandBus, RelayWaker};
use sqlx::PgPool;

/// The command API's state.
#[derive(Clone)]
pub struct AppState {
    pub agents: Arc<CommandBus<Agent>>,
    pub api_keys: Arc<CommandBus<ApiKey>>,
    pub webhooks: Arc<CommandBus<WebhookSubscription>>,
    pub authenticator: Authenticator,
    /// For the webhook delivery log, which is not event-sourced.
    pub pool: PgPool,
}

impl AppState {
    /// State over `pool`'s event store, waking the relay through `waker`; keys are
    /// looked up in the store only.
    pub fn new(pool: PgPool, waker: RelayWaker) -> Self {
        Self {
            agents: Arc::new(
                CommandBus::new(pool.clone(), (), waker.clone())
                    .with_upcasters(domain::agent::upcasters()),
            ),
            api_keys: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            webhooks: Arc::new(CommandBus::new(pool.clone(), (), waker)),
            authenticator: Authenticator::new(pool.clone()),
            pool,
        }
    }

    /// Looks keys up in the Redis key cache under `prefix` before the store.
    pub fn with_key_cache(mut self, redis: redis::aio::ConnectionManager, prefix: String) -> Self {
        self.authenticator = self.authenticator.with_cache(redis, prefix);
        self
    }
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}
