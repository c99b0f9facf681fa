//! Black-box tests of the running platform: real Postgres, NATS and Redis, both APIs
//! over HTTP, each test in its own database, stream and Redis prefix.

mod api_keys;
mod audit;
mod audit_cli;
mod bad_input;
mod bad_queries;
mod concurrency;
mod consistency;
mod helpers;
mod idempotency;
mod ops;
mod processes;
mod schemas;
mod tenants;
mod walkthrough;
