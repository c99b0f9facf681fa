//! Leadership of a projection: a Postgres session advisory lock held on a dedicated
//! connection, so that one instance at a time consumes a projection's durable consumer.

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

use crate::ProjectionError;

/// How often a standby tries to take the lock.
pub const STANDBY_RETRY: Duration = Duration::from_millis(500);
/// How often an idle leader checks that its lock connection is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long the lock connection may take to answer before leadership counts as lost.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// The held lock. It lives exactly as long as its connection: when the session ends
/// (process exit, network failure, `pg_terminate_backend`) Postgres releases it.
pub struct LeaderLock {
    conn: PgConnection,
}

impl LeaderLock {
    /// Waits, as a standby, until this instance holds the lock called `name`.
    pub async fn acquire(pool: &PgPool, name: &str) -> Result<Self, ProjectionError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        loop {
            let locked: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                    .bind(name)
                    .fetch_one(&mut conn)
                    .await?;
            if locked {
                return Ok(Self { conn });
            }
            tokio::time::sleep(STANDBY_RETRY).await;
        }
    }

    /// Checks that the lock's connection still answers. Nothing in this session unlocks,
    /// so a live session still holds the lock; an error means another instance may lead.
    pub async fn confirm(&mut self) -> Result<(), ProjectionError> {
        match tokio::time::timeout(
            CONFIRM_TIMEOUT,
            sqlx::query("SELECT 1").execute(&mut self.conn),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(ProjectionError::LeadershipLost(err.to_string())),
            Err(_) => Err(ProjectionError::LeadershipLost(format!(
                "the lock connection did not answer within {CONFIRM_TIMEOUT:?}"
            ))),
        }
    }

    /// Ends the session, which releases the lock.
    pub async fn release(self) {
        self.conn.close().await.ok();
    }
}
