//! The `agentos` binary's library: configuration, the roles a process runs, and the
//! administrative commands (tenants, migrations, rebuilds, replay, audit, schema generation).

pub mod audit;
pub mod config;
pub mod platform;
pub mod replay;
pub mod schemas;

pub use config::{Config, EngineSettings, Role};
pub use platform::Platform;
