//! The AgentOS benchmark harness: starts the platform's roles as separate processes on an
//! isolated database, namespace and Redis prefix, drives them, and reports every figure
//! beside a raw baseline measured in the same run (see BENCHMARKS.md). Not a test: it
//! runs only when asked to (`agentos-bench`).

pub mod cpu;
pub mod figures;
pub mod http;
pub mod load;
pub mod platform;
pub mod report;
pub mod rows;
pub mod stats;
pub mod suite;
pub mod workload;

pub use report::Report;
pub use stats::{Figure, Runs};
