//! Integration tests of the projections against real Postgres, NATS JetStream and Redis.
//! Every test runs in its own database, stream namespace and Redis key prefix.

mod agents_pg;
mod agents_redis;
mod billing_models;
mod billing_reactor;
mod billing_support;
mod driving;
mod gaps;
mod helpers;
mod leadership;
mod listing;
mod memories;
mod rebuild;
mod redelivery;
mod reset;
mod runs_pg;
mod tools_pg;
