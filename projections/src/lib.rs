//! Projectors: one durable JetStream consumer per projection, consumed by one instance at
//! a time (a Postgres advisory lock), each building a read model exactly once in effect —
//! in Postgres (read model and checkpoint in one transaction) or in Redis (one Lua script
//! per event, guarded by a per-key version) — and the read queries the query API serves
//! from those models. Reactors use the same runner to turn events into commands
//! (`billing_reactor`).

pub mod agents;
pub mod agents_redis;
pub mod api_keys;
pub mod api_keys_redis;
pub mod billing;
pub mod billing_reactor;
pub mod billing_redis;
pub mod catalog;
pub mod checkpoint;
pub mod decode;
pub mod error;
pub mod memories;
pub mod memories_redis;
pub mod page;
pub mod pg_model;
pub mod rebuild;
pub mod redis_model;
pub mod runner;
pub mod runs;
pub mod tool_invocations;
pub mod tools;
pub mod versions;
pub mod webhooks;

pub use agents::{AgentList, AgentListFilter, AgentView, AgentsModel, AgentsProjection};
pub use agents_redis::{AgentSummaries, AgentSummary, AgentsRedisProjection};
pub use error::ProjectionError;
pub use pg_model::{PgModel, PgProjection};
pub use redis_model::{RedisModel, RedisProjection};
pub use runner::{Projection, ProjectionRunner, RunnerConfig};
