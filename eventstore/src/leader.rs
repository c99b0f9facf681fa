//! Leadership: a Postgres session advisory lock, so that one instance at a time does a job
//! (the relay, each projection) while others wait as standbys. A job that works on the
//! lock's connection (the relay) holds its lock on a dedicated connection; the many
//! projectors of a process share one [`LockSession`], so a process needs one connection
//! for all of their locks rather than one each.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Mutex;

use crate::StoreError;

/// How often a standby tries to take the lock.
pub const STANDBY_RETRY: Duration = Duration::from_millis(500);
/// How long the lock connection may take to answer before leadership counts as lost.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// A held lock. It lives exactly as long as its session: when the session ends (process
/// exit, network failure, `pg_terminate_backend`) Postgres releases it.
pub struct LeaderLock {
    conn: PgConnection,
}

/// A lock held in a [`LockSession`] shared with other locks of the process.
pub struct SessionLock {
    session: Arc<LockSession>,
    name: String,
    /// The session the lock was taken in.
    generation: u64,
}

impl SessionLock {
    /// Checks that the session the lock was taken in is still open and answers; an error
    /// means another instance may lead.
    pub async fn confirm(&mut self) -> Result<(), StoreError> {
        self.session.confirm(self.generation).await
    }

    /// Unlocks it, if its session still holds it.
    pub async fn release(self) {
        self.session.unlock(&self.name, self.generation).await;
    }
}

/// One database session holding the advisory locks of several leaders of a process.
/// When the session fails, every lock taken in it is gone: the next confirm of each fails,
/// and the next acquire opens a new session.
pub struct LockSession {
    pool: PgPool,
    state: Mutex<SessionState>,
}

#[derive(Default)]
struct SessionState {
    conn: Option<PgConnection>,
    /// Counts the sessions opened, so a lock taken in an earlier one is known to be lost.
    generation: u64,
}

impl LockSession {
    /// A session on `pool`'s database, opened when the first lock is taken.
    pub fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self {
            pool,
            state: Mutex::new(SessionState::default()),
        })
    }

    /// Waits, as a standby, until this process holds the lock called `name`.
    pub async fn acquire(self: &Arc<Self>, name: &str) -> Result<SessionLock, StoreError> {
        loop {
            if let Some(generation) = self.try_lock(name).await? {
                return Ok(SessionLock {
                    session: Arc::clone(self),
                    name: name.to_owned(),
                    generation,
                });
            }
            tokio::time::sleep(STANDBY_RETRY).await;
        }
    }

    async fn try_lock(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let mut state = self.state.lock().await;
        if state.conn.is_none() {
            state.conn = Some(PgConnection::connect_with(&self.pool.connect_options()).await?);
            state.generation += 1;
        }
        let generation = state.generation;
        let Some(conn) = state.conn.as_mut() else {
            return Ok(None);
        };
        match try_lock(conn, name).await {
            Ok(true) => Ok(Some(generation)),
            Ok(false) => Ok(None),
            Err(err) => {
                state.conn = None;
                Err(err)
            }
        }
    }

    /// Whether the session of `generation` is still the open one and answers.
    async fn confirm(&self, generation: u64) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if state.generation != generation {
            return Err(StoreError::Invalid(
                "the lock session ended since the lock was taken".into(),
            ));
        }
        let Some(conn) = state.conn.as_mut() else {
            return Err(StoreError::Invalid("the lock session ended".into()));
        };
        let answered = answers(conn).await;
        if answered.is_err() {
            state.conn = None;
        }
        answered
    }

    async fn unlock(&self, name: &str, generation: u64) {
        let mut state = self.state.lock().await;
        if state.generation == generation
            && let Some(conn) = state.conn.as_mut()
        {
            sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                .bind(name)
                .execute(conn)
                .await
                .ok();
        }
    }
}

/// Whether `conn` answers within [`CONFIRM_TIMEOUT`].
async fn answers(conn: &mut PgConnection) -> Result<(), StoreError> {
    match tokio::time::timeout(CONFIRM_TIMEOUT, sqlx::query("SELECT 1").execute(conn)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(StoreError::Database(err)),
        Err(_) => Err(StoreError::Invalid(format!(
            "the lock connection did not answer within {CONFIRM_TIMEOUT:?}"
        ))),
    }
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
        answers(&mut self.conn).await
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
