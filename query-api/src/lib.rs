//! The query API: reads from the projections' read models, with ETags, cursor
//! pagination and read-your-writes through consistency tokens; and audit reads from the
//! event store itself (history as NDJSON, point-in-time state).

pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod consistency;
pub mod ndjson;
pub mod openapi;
pub mod point_in_time;
pub mod state;

pub use openapi::{openapi, router};
pub use state::AppState;
