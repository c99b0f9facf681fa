//! Leadership: a Postgres session advisory lock held on a dedicated connection, so that one
//! instance at a time does a job (the relay, each projection) while others wait as standbys.

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

use crate::StoreError;

/// How often a standby tries to take the lock.
pub const STANDBY_RETRY: Duration = Duration::from_millis(500);
/// How long the lock connection may take to answer before leadership counts as lost.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// A held lock. It lives exactly as long as its connection: when the session ends
/// (process exit, network failure, `pg_terminate_backend`) Postgres releases it.
pub struct LeaderLock {
    conn: PgConnection,
}

impl LeaderLock {
    /// Waits, as a standby, until this instance holds the lock called `name`.
    pub async fn acquire(pool: &PgPool, name: &str) -> Result<Self, StoreError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        loop {
            if try_lock(&mut conn, name).await? {
                return Ok(Self { conn });
            }
            tokio::time::sleep(STANDBY_RETRY).await;
        }
    }

    /// Takes the lock called `name` if nobody holds it.
    pub async fn try_acquire(pool: &PgPool, name: &str) -> Result<Option<Self>, StoreError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        if try_lock(&mut conn, name).await? {
            Ok(Some(Self { conn }))
        } else {
            conn.close().await.ok();
            Ok(None)
        }
    }

    /// Checks that the lock's connection still answers. Nothing in this session unlocks,
    /// so a live session still holds the lock; an error means another instance may lead.
    pub async fn confirm(&mut self) -> Result<(), StoreError> {
        match tokio::time::timeout(
            CONFIRM_TIMEOUT,
            sqlx::query("SELECT 1").execute(&mut self.conn),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(StoreError::Database(err)),
            Err(_) => Err(StoreError::Invalid(format!(
                "the lock connection did not answer within {CONFIRM_TIMEOUT:?}"
            ))),
        }
    }

    /// The lock's own connection: work done on it fails as soon as leadership is gone.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Ends the session, which releases the lock.
    pub async fn release(self) {
        self.conn.close().await.ok();
    }
}

async fn try_lock(conn: &mut PgConnection, name: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(name)
            .fetch_one(conn)
            .await?,
    )
}
