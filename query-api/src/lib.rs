//! The query API: reads from the projections' read models, with ETags, cursor
//! pagination and read-your-writes through consistency tokens; and audit reads from the
//! event store itself (history as NDJSON, point-in-time state).

pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod consistency;
pub mod events;
pub mod invocations;
pub mod memories;
pub mod ndjson;
pub mod openapi;
pub mod params;
pub mod point_in_time;
pub mod runs;
pub mod state;
pub mod tools;
pub mod webhooks;

pub use openapi::{openapi, router};
pub use state::AppState;
