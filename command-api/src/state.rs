//! What the handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use domain::agent::Agent;
use domain::api_key::ApiKey;
use domain::billing::BillingAccount;
use domain::memory::Memory;
use domain::run::Run;
use domain::tool::Tool;
use domain::tool_invocation::ToolInvocation;
use domain::webhook::WebhookSubscription;
use eventstore::web::Authenticator;
use eventstore::{CachedSchemaCheck, CommandBus, RelayWaker};
use sqlx::PgPool;

/// The command API's state.
#[derive(Clone)]
pub struct AppState {
    pub agents: Arc<CommandBus<Agent>>,
    pub api_keys: Arc<CommandBus<ApiKey>>,
    pub memories: Arc<CommandBus<Memory>>,
    pub runs: Arc<CommandBus<Run>>,
    pub tools: Arc<CommandBus<Tool>>,
    pub tool_invocations: Arc<CommandBus<ToolInvocation>>,
    pub webhooks: Arc<CommandBus<WebhookSubscription>>,
    pub billing: Arc<CommandBus<BillingAccount>>,
    pub authenticator: Authenticator,
    /// The hot billing hashes (Redis and key prefix) that quota checks read; without
    /// them nothing is refused for being over quota.
    pub allowances: Option<(redis::aio::ConnectionManager, String)>,
    /// The event store's database: data keys that seal content, the webhook delivery log,
    /// what a replayed command must read back from its events.
    pub pool: PgPool,
}

impl AppState {
    /// State over `pool`'s event store, waking the relay through `waker`; keys are
    /// looked up in the store only.
    pub fn new(pool: PgPool, waker: RelayWaker) -> Self {
        // One validator cache for both: a version's input schema, compiled when it is
        // published, is what its calls are checked against.
        let schemas = CachedSchemaCheck::shared();
        Self {
            agents: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            api_keys: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            memories: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            runs: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            tools: Arc::new(CommandBus::new(
                pool.clone(),
                schemas.clone(),
                waker.clone(),
            )),
            tool_invocations: Arc::new(CommandBus::new(pool.clone(), schemas, waker.clone())),
            webhooks: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
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
