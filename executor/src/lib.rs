//! The tool executor: consumes requested tool invocations from JetStream and carries them
//! out — `http` tools as signed JSON requests with a timeout and retries, builtin tools
//! through [`BuiltinTools`] — recording each outcome on the invocation aggregate, which
//! refuses a second outcome, so redelivery and restarts never make a call succeed twice.

mod attempt;
pub mod builtins;
pub mod config;
pub mod error;
pub mod http;
pub mod memory_builtins;
pub mod outcome;
pub mod signing;
pub mod worker;

pub use builtins::{BuiltinCall, BuiltinTools, UnavailableBuiltins};
pub use config::ExecutorConfig;
pub use error::ExecutorError;
pub use memory_builtins::MemoryBuiltins;
pub use outcome::CallOutcome;
pub use worker::{Disposition, Executor};
