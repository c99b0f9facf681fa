//! The query API: reads from the projections' read models, with ETags, cursor
//! pagination and read-your-writes through consistency tokens.

pub mod agents;
pub mod api_keys;
pub mod billing;
pub mod consistency;
pub mod openapi;
pub mod state;

pub use openapi::{openapi, router};
pub use state::AppState;
