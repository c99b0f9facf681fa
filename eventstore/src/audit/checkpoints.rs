//! Signed checkpoints: Ed25519 over a chain head, stored beside the chain and published to
//! the audit stream, so that a store rewritten together with its chain is still caught.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SubsecRound, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::chain::{self, ChainHead};
use super::link::{Hash, hash_from_slice};
use super::signing::AuditSigner;
use crate::{Namespace, StoreError};

/// When the relay signs the chain head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// At the end of the first batch at least this many events after the last checkpoint.
    pub every_events: u64,
    /// Or once this long has passed since the last one, if the chain grew meanwhile.
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            every_events: 10_000,
            every: Duration::from_secs(60),
        }
    }
}

impl CheckpointPolicy {
    /// Whether `head` is due a checkpoint after `last` (index and time of the latest).
    pub fn due(&self, head: &ChainHead, last: (i64, DateTime<Utc>), now: DateTime<Utc>) -> bool {
        let (last_index, signed_at) = last;
        let grown = u64::try_from(head.chain_index - last_index).unwrap_or(0);
        let waited = (now - signed_at).to_std().unwrap_or_default();
        grown > 0 && (grown >= self.every_events || waited >= self.every)
    }
}

/// A signed chain head, as stored and as published (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedCheckpoint {
    pub chain_index: i64,
    pub event_id: Uuid,
    pub position: i64,
    /// The chain hash at `chain_index`, hex.
    pub hash: String,
    /// Ed25519 public key, base64.
    pub public_key: String,
    /// Ed25519 signature over [`SignedCheckpoint::message`], base64.
    pub signature: String,
    pub signed_at: DateTime<Utc>,
}

/// What is signed: the head's facts, canonical (RFC 8785), under a versioned label.
#[derive(Serialize)]
struct SignedFacts<'a> {
    chain: &'static str,
    chain_index: i64,
    event_id: Uuid,
    position: i64,
    hash: &'a str,
}

impl SignedCheckpoint {
    /// Signs `head` with `signer`.
    pub fn sign(head: &ChainHead, signer: &AuditSigner, now: DateTime<Utc>) -> Self {
        let mut checkpoint = Self {
            chain_index: head.chain_index,
            event_id: head.event_id,
            position: head.cursor.position,
            hash: hex::encode(head.hash),
            public_key: signer.public_key_base64(),
            signature: String::new(),
            // Postgres keeps microseconds: the stored checkpoint equals the returned one.
            signed_at: now.trunc_subsecs(6),
        };
        checkpoint.signature = STANDARD.encode(signer.sign(&checkpoint.message()));
        checkpoint
    }

    /// The bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        let facts = SignedFacts {
            chain: "agentos.audit.checkpoint.v1",
            chain_index: self.chain_index,
            event_id: self.event_id,
            position: self.position,
            hash: &self.hash,
        };
        serde_json_canonicalizer::to_vec(&facts).unwrap_or_default()
    }

    /// Whether the signature holds under one of `keys`.
    pub fn signed_by_one_of(&self, keys: &[VerifyingKey]) -> bool {
        let Some(signature) = STANDARD
            .decode(&self.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
        else {
            return false;
        };
        let message = self.message();
        keys.iter()
            .any(|key| key.verify_strict(&message, &signature).is_ok())
    }

    /// The signed hash.
    pub fn signed_hash(&self) -> Option<Hash> {
        hex::decode(&self.hash)
            .ok()
            .and_then(|bytes| hash_from_slice(&bytes))
    }
}

/// Creates the audit stream (`<NS>_AUDIT`, subject `<ns>.audit.checkpoints`) or brings
/// it to this configuration.
pub async fn ensure_audit_stream(
    jetstream: &jetstream::Context,
    namespace: &Namespace,
) -> Result<(), StoreError> {
    jetstream
        .create_or_update_stream(stream::Config {
            name: namespace.audit_stream(),
            subjects: vec![namespace.audit_checkpoint_subject()],
            storage: stream::StorageType::File,
            duplicate_window: crate::relay::DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .map_err(StoreError::nats)?;
    Ok(())
}

/// Stores `checkpoint` (a second one at the same index changes nothing).
pub async fn store(
    conn: &mut PgConnection,
    checkpoint: &SignedCheckpoint,
) -> Result<(), StoreError> {
    let decode = |what: &str, text: &str, hex_text: bool| {
        let bytes = if hex_text {
            hex::decode(text).ok()
        } else {
            STANDARD.decode(text).ok()
        };
        bytes.ok_or_else(|| StoreError::Invalid(format!("checkpoint {what} is malformed")))
    };
    sqlx::query(
        "INSERT INTO audit_checkpoints
             (chain_index, event_id, position, hash, public_key, signature, signed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (chain_index) DO NOTHING",
    )
    .bind(checkpoint.chain_index)
    .bind(checkpoint.event_id)
    .bind(checkpoint.position)
    .bind(decode("hash", &checkpoint.hash, true)?)
    .bind(decode("public key", &checkpoint.public_key, false)?)
    .bind(decode("signature", &checkpoint.signature, false)?)
    .bind(checkpoint.signed_at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    chain_index: i64,
    event_id: Uuid,
    position: i64,
    hash: Vec<u8>,
    public_key: Vec<u8>,
    signature: Vec<u8>,
    signed_at: DateTime<Utc>,
}

impl From<CheckpointRow> for SignedCheckpoint {
    fn from(row: CheckpointRow) -> Self {
        Self {
            chain_index: row.chain_index,
            event_id: row.event_id,
            position: row.position,
            hash: hex::encode(row.hash),
            public_key: STANDARD.encode(row.public_key),
            signature: STANDARD.encode(row.signature),
            signed_at: row.signed_at,
        }
    }
}

const SELECT_CHECKPOINTS: &str = "SELECT chain_index, event_id, position, hash, public_key,
                                         signature, signed_at FROM audit_checkpoints";

/// The stored checkpoints with `from <= chain_index`, in chain order.
pub async fn stored_from(pool: &PgPool, from: i64) -> Result<Vec<SignedCheckpoint>, StoreError> {
    let rows: Vec<CheckpointRow> = sqlx::query_as(&format!(
        "{SELECT_CHECKPOINTS} WHERE chain_index >= $1 ORDER BY chain_index"
    ))
    .bind(from)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(SignedCheckpoint::from).collect())
}

/// Index and time of the latest checkpoint; with none yet, index 0 now (the interval
/// starts with the first relay).
pub async fn latest(conn: &mut PgConnection) -> Result<(i64, DateTime<Utc>), StoreError> {
    let row: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT chain_index, signed_at FROM audit_checkpoints ORDER BY chain_index DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.unwrap_or_else(|| (0, Utc::now())))
}

/// Publishes every stored checkpoint not yet published, in order; `Nats-Msg-Id` is
/// `checkpoint-<index>`, so a publish repeated after a crash is dropped as a duplicate.
pub async fn publish_pending(
    conn: &mut PgConnection,
    jetstream: &jetstream::Context,
    namespace: &Namespace,
) -> Result<usize, StoreError> {
    let rows: Vec<CheckpointRow> = sqlx::query_as(&format!(
        "{SELECT_CHECKPOINTS} WHERE NOT published ORDER BY chain_index"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut published = Vec::with_capacity(rows.len());
    for row in rows {
        let checkpoint = SignedCheckpoint::from(row);
        let message = PublishMessage::build()
            .payload(serde_json::to_vec(&checkpoint)?.into())
            .message_id(format!("checkpoint-{}", checkpoint.chain_index))
            .header("Content-Type", "application/json");
        jetstream
            .send_publish(namespace.audit_checkpoint_subject(), message)
            .await
            .map_err(StoreError::nats)?
            .await
            .map_err(StoreError::nats)?;
        published.push(checkpoint.chain_index);
    }
    sqlx::query("UPDATE audit_checkpoints SET published = true WHERE chain_index = ANY($1)")
        .bind(&published)
        .execute(conn)
        .await?;
    Ok(published.len())
}

/// Signs the chain head now, stores and publishes it (`agentos audit checkpoint`).
/// `None` while the chain is empty.
pub async fn checkpoint_now(
    pool: &PgPool,
    signer: &AuditSigner,
    jetstream: &jetstream::Context,
    namespace: &Namespace,
) -> Result<Option<SignedCheckpoint>, StoreError> {
    let mut conn = pool.acquire().await?;
    let head = chain::load_head(&mut conn).await?;
    if head.chain_index == 0 {
        return Ok(None);
    }
    let checkpoint = SignedCheckpoint::sign(&head, signer, Utc::now());
    store(&mut conn, &checkpoint).await?;
    ensure_audit_stream(jetstream, namespace).await?;
    publish_pending(&mut conn, jetstream, namespace).await?;
    Ok(Some(checkpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::CommitCursor;

    fn head(chain_index: i64) -> ChainHead {
        ChainHead {
            chain_index,
            event_id: Uuid::from_u128(9),
            hash: [3; 32],
            cursor: CommitCursor {
                transaction_id: 800,
                position: 41,
            },
        }
    }

    #[test]
    fn a_checkpoint_verifies_under_its_key_only_and_only_unchanged() {
        let signer = AuditSigner::development();
        let checkpoint = SignedCheckpoint::sign(&head(12), &signer, Utc::now());
        assert!(checkpoint.signed_by_one_of(&[signer.public_key()]));
        let other = AuditSigner::from_base64_seed(&STANDARD.encode([5u8; 32])).unwrap();
        assert!(!checkpoint.signed_by_one_of(&[other.public_key()]));
        assert!(checkpoint.signed_by_one_of(&[other.public_key(), signer.public_key()]));
        let mut moved = checkpoint.clone();
        moved.position = 42;
        assert!(!moved.signed_by_one_of(&[signer.public_key()]));
        let mut rehashed = checkpoint;
        rehashed.hash = hex::encode([4u8; 32]);
        assert!(!rehashed.signed_by_one_of(&[signer.public_key()]));
        assert_eq!(rehashed.signed_hash(), Some([4; 32]));
    }

    #[test]
    fn a_checkpoint_is_due_after_enough_events_or_enough_time_but_never_for_nothing() {
        let policy = CheckpointPolicy {
            every_events: 100,
            every: Duration::from_secs(60),
        };
        let now = Utc::now();
        let recent = now - chrono::Duration::seconds(5);
        let long_ago = now - chrono::Duration::seconds(61);
        assert!(!policy.due(&head(150), (100, recent), now));
        assert!(policy.due(&head(200), (100, recent), now));
        assert!(policy.due(&head(101), (100, long_ago), now));
        assert!(!policy.due(&head(100), (100, long_ago), now));
    }
}
