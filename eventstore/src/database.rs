//! Connecting to Postgres and migrating the event store schema.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

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

/// A connection idle for longer than this is pinged before it is handed out.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(10);

/// A pool of at most `max_connections`.
///
/// sqlx pings every connection before handing it out by default: one more round trip for
/// every statement run on the pool, which doubled the cost of a command whose append is a
/// single statement. Only connections that sat idle long enough to have been dropped
/// meanwhile (a restarted server, a firewall) are pinged; a broken one is replaced.
pub async fn connect(database_url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|connection, metadata| {
            Box::pin(async move {
                if metadata.idle_for < CHECK_IDLE_AFTER {
                    return Ok(true);
                }
                Ok(connection.ping().await.is_ok())
            })
        })
        .connect_with(connect_options(database_url)?)
        .await?)
}

/// Applies the event store migrations; safe to run from several processes at once
/// (sqlx takes an advisory lock around them).
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}
