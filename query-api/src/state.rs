//! What the handlers share.

use std::time::Duration;

use axum::extract::FromRef;
use eventstore::audit::AggregateStates;
use eventstore::web::Authenticator;
use projections::AgentsRedisProjection;
use projections::memories_redis::MemoriesRedisProjection;
use sqlx::PgPool;

use crate::events::EventFeed;

/// The query API's state.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub agent_summaries: AgentsRedisProjection,
    /// The hot memory model: each agent's recent memories.
    pub memory_cache: MemoriesRedisProjection,
    pub authenticator: Authenticator,
    /// Folds any aggregate to a past point (audit and `as_of` reads).
    pub aggregate_states: AggregateStates,
    /// The longest a request with `X-Consistency-Token` waits for the read model.
    pub consistency_wait: Duration,
    /// Where the event streams (`/v1/events/stream`, a run's events) read from.
    pub events: EventFeed,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}
