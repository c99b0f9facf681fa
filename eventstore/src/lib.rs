//! The event store: Postgres as the source of truth (postgres-es' schema, extended with a
//! global commit order), the command bus that appends through cqrs-es, the commit-ordered
//! reader and the relay that publishes every event to JetStream. Also the plumbing every
//! AgentOS process shares: configuration names, tenants and API keys, telemetry, and the
//! HTTP pieces (problem+json, auth, health, metrics) both APIs use.

pub mod alongside;
pub mod audit;
pub mod billing_cache;
pub mod command_bus;
pub mod consistency;
pub mod database;
pub mod envelope;
pub mod error;
pub mod idempotency;
pub mod json_schema;
pub mod leader;
pub mod loader;
pub mod memory_writes;
pub mod metadata;
pub mod namespace;
pub mod reader;
pub mod relay;
pub mod repository;
pub mod sealing;
pub mod telemetry;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
pub mod web;
pub mod work_queue;

pub use alongside::Alongside;
pub use command_bus::{CommandBus, CommandError, CommandReceipt};
pub use consistency::ConsistencyToken;
pub use envelope::{CloudEvent, StoredEvent};
pub use error::StoreError;
pub use json_schema::CachedSchemaCheck;
pub use metadata::CommandContext;
pub use namespace::Namespace;
pub use reader::{CommitCursor, CommitOrderedReader};
pub use relay::{Relay, RelayWaker};
pub use repository::EventRepository;
