//! The command API: REST commands in, events appended, a receipt with a consistency
//! token out. Auth, idempotency and optimistic concurrency happen here.

pub mod agents;
pub mod api_keys;
pub mod billing;
pub mod error;
pub mod headers;
pub mod invocations;
pub mod memories;
pub mod openapi;
pub mod receipt;
pub mod request;
pub mod runs;
pub mod state;
pub mod tools;
pub mod webhooks;

pub use error::ApiError;
pub use openapi::{openapi, router};
pub use state::AppState;
