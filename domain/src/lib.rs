//! AgentOS domain: aggregates, their commands and events, and the rules that guard them.
//!
//! Everything here is pure. Handling a command never does I/O, reads the clock or makes ids;
//! the caller puts those facts (tenant id, new agent id, `now`) into the command.

pub mod agent;
pub mod api_key;
pub mod billing;
pub mod catalog;
mod error;
pub mod memory;
mod rules;
pub mod run;
#[cfg(test)]
mod state_round_trip;
pub mod tenant;
pub mod tool;
pub mod tool_invocation;
pub mod webhook;

pub use error::FieldError;
