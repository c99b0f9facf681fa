//! Writes that commit in the same transaction as a command's events, so that both happen
//! or neither does.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One write beside a command's events.
#[derive(Clone, PartialEq, Eq)]
pub enum Alongside {
    /// Reserves `key` within `scope` for the command's aggregate. A key someone already
    /// reserved fails the whole command with [`crate::CommandError::Claimed`].
    Claim { scope: String, key: String },
    /// Stores a data key that encrypts content inside the command's events.
    PutDataKey { key_id: Uuid, material: Vec<u8> },
    /// Deletes a data key: whatever it encrypted becomes unrecoverable.
    DeleteDataKey { key_id: Uuid },
    /// Records the lease an engine takes on a run (table `run_leases`), replacing the
    /// run's earlier lease row, so the lease and its `RunLeaseAcquired` event exist together.
    PutRunLease {
        run_id: Uuid,
        engine_id: String,
        lease_generation: u32,
        lease_until: DateTime<Utc>,
    },
    /// Deletes the row of lease `lease_generation` of a run, given up or expired.
    DeleteRunLease { run_id: Uuid, lease_generation: u32 },
}

impl Alongside {
    /// A reservation of `key` in `scope`.
    pub fn claim(scope: &str, key: impl Into<String>) -> Self {
        Self::Claim {
            scope: scope.to_owned(),
            key: key.into(),
        }
    }
}

// Key material must never reach a log line.
impl fmt::Debug for Alongside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Claim { scope, key } => write!(f, "Claim({scope}: {key})"),
            Self::PutDataKey { key_id, .. } => write!(f, "PutDataKey({key_id})"),
            Self::DeleteDataKey { key_id } => write!(f, "DeleteDataKey({key_id})"),
            Self::PutRunLease {
                run_id,
                lease_generation,
                ..
            } => write!(f, "PutRunLease({run_id}#{lease_generation})"),
            Self::DeleteRunLease {
                run_id,
                lease_generation,
            } => write!(f, "DeleteRunLease({run_id}#{lease_generation})"),
        }
    }
}

/// Who holds a claimed key, if anyone.
pub async fn claim_owner(
    pool: &sqlx::PgPool,
    scope: &str,
    key: &str,
) -> Result<Option<String>, crate::StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT aggregate_id FROM unique_claims WHERE scope = $1 AND claim_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(pool)
    .await?)
}

/// The material of a data key, unless it was deleted.
pub async fn data_key(
    pool: &sqlx::PgPool,
    key_id: Uuid,
) -> Result<Option<Vec<u8>>, crate::StoreError> {
    Ok(
        sqlx::query_scalar("SELECT material FROM data_keys WHERE key_id = $1")
            .bind(key_id)
            .fetch_optional(pool)
            .await?,
    )
}
