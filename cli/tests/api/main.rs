//! Black-box tests of the running platform: real Postgres, NATS and Redis, both APIs
//! over HTTP, each test in its own database, stream and Redis prefix.

mod api_keys;
mod audit;
mod audit_cli;
mod bad_input;
mod bad_queries;
mod billing;
mod billing_bad_input;
mod billing_gate;
mod concurrency;
mod consistency;
mod events_stream;
mod helpers;
mod idempotency;
mod invocations;
mod memories;
mod ops;
mod processes;
mod receiver;
mod runs;
mod schemas;
mod sse;
mod tenants;
mod tool_executor;
mod tooling;
mod tools;
mod versioning;
mod walkthrough;
mod webhook_delivery;
mod webhooks;
