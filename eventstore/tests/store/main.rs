//! Integration tests of the event store on the real services: each test gets its own
//! database and NATS namespace from `eventstore::testing::TestEnv`.

mod audit_chain;
mod audit_state;
mod audit_verify;
mod command_bus;
mod idempotency;
mod migrations;
mod reader;
mod relay;
mod relay_throughput;
mod snapshots;
mod support;
