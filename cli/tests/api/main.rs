//! Black-box tests of the running platform: real Postgres, NATS and Redis, both APIs
//! over HTTP, each test in its own database, stream and Redis prefix.

mod bad_input;
mod bad_queries;
mod billing;
mod billing_bad_input;
mod billing_gate;
mod concurrency;
mod consistency;
mod helpers;
mod idempotency;
mod ops;
mod processes;
mod schemas;
mod tenants;
mod walkthrough;
