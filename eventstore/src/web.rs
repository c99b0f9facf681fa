//! HTTP plumbing shared by the command and query APIs.

pub mod auth;
pub mod json;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod request;
pub mod stack;

pub use auth::{Authenticated, Authenticator};
pub use json::JsonBody;
pub use problem::Problem;
pub use request::{QueryParams, RequestIds, UuidPath};
