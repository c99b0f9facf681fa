//! The `agentos` binary's library: configuration, the roles a process runs, and the
//! administrative commands (tenants, migrations, rebuilds, schema generation).

pub mod config;
pub mod platform;
pub mod schemas;

pub use config::{Config, Role};
pub use platform::Platform;
