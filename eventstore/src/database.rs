//! Connecting to Postgres and migrating the event store schema.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::StoreError;

/// One idle transaction holds back every commit-ordered reader on the server, so none may
/// stay idle for long.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "30s";

/// Connection options with the session settings every AgentOS connection needs.
pub fn connect_options(database_url: &str) -> Result<PgConnectOptions, StoreError> {
    Ok(PgConnectOptions::from_str(database_url)?
        .application_name("agentos")
        .options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        )]))
}

/// A pool of at most `max_connections`.
pub async fn connect(database_url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(connect_options(database_url)?)
        .await?)
}

/// Applies the event store migrations; safe to run from several processes at once
/// (sqlx takes an advisory lock around them).
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}
