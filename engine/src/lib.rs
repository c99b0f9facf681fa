//! The agent engine: a reactor that drives runs. It consumes run events (and the outcomes
//! of the tool invocations runs make) from JetStream, loads the run — the aggregate is the
//! truth, never the event alone — and issues the next command: take the lease, call the
//! model, request a tool call, record what came back. Every side effect is keyed by (run,
//! step, tool call), so a redelivered event or a restarted engine never repeats one; leases
//! with heartbeats and a reaper make sure no run is left behind by an engine that died.

pub mod config;
mod driver;
pub mod error;
mod leases;
pub mod locks;
mod model_call;
pub mod plan;
pub mod pricing;
pub mod provider;
pub mod quota;
pub mod reaper;
mod steps;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tools;
pub mod worker;

pub use config::EngineConfig;
pub use error::EngineError;
pub use provider::{ModelProvider, ModelReply, ModelRequest, Providers, ToolSpec};
pub use quota::{BillingQuotas, NoQuotas, QuotaGate};
pub use worker::Engine;
