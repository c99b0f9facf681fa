//! What the handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use domain::agent::Agent;
use eventstore::web::Authenticator;
use eventstore::{CommandBus, RelayWaker};
use sqlx::PgPool;

/// The command API's state.
#[derive(Clone)]
pub struct AppState {
    pub agents: Arc<CommandBus<Agent>>,
    pub authenticator: Authenticator,
}

impl AppState {
    /// State over `pool`'s event store, waking the relay through `waker`.
    pub fn new(pool: PgPool, waker: RelayWaker) -> Self {
        Self {
            agents: Arc::new(CommandBus::new(pool.clone(), (), waker)),
            authenticator: Authenticator::new(pool),
        }
    }
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}
