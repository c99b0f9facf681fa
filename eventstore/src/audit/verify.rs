//! Verifying a store: recompute the chain from the events, compare it link by link with
//! the stored chain and with the signed checkpoints, and report the first place that
//! does not match.

use std::iter::Peekable;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::checkpoints::{self, SignedCheckpoint};
use super::history::{self, AuditCursor, AuditFilter};
use super::link::{GENESIS, Hash, hash_from_slice, link_hash};
use crate::reader::{self, CommitCursor};
use crate::{StoreError, StoredEvent};

const PAGE: i64 = 2_000;

/// The first disagreement between the store, its chain and its signed checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Mismatch {
    /// The event's recomputed hash differs from the stored one: it was changed.
    Hash {
        chain_index: i64,
        position: i64,
        event_id: Uuid,
        stored: String,
        recomputed: String,
    },
    /// The chain records an event the store no longer has: it was deleted.
    MissingEvent {
        chain_index: i64,
        position: i64,
        event_id: Uuid,
    },
    /// The store has another event at this place of the commit order: rows were moved.
    Order {
        chain_index: i64,
        position: i64,
        event_id: Uuid,
        found_position: i64,
        found_event_id: Uuid,
    },
    /// The event is where it was in the order, but its transaction id or position changed.
    Renumbered {
        chain_index: i64,
        event_id: Uuid,
        position: i64,
        found_transaction_id: i64,
        found_position: i64,
    },
    /// A link of the chain itself is gone.
    MissingLink { chain_index: i64 },
    /// A stored checkpoint's signature does not verify under the given keys.
    CheckpointSignature { chain_index: i64, position: i64 },
    /// A signed checkpoint disagrees with the chain recomputed from the store: the store
    /// and its chain were both rewritten somewhere up to this index.
    Checkpoint {
        chain_index: i64,
        position: i64,
        signed_hash: String,
        recomputed: String,
    },
}

impl Mismatch {
    /// Where it is, in chain index (place in commit order).
    pub fn chain_index(&self) -> i64 {
        match self {
            Self::Hash { chain_index, .. }
            | Self::MissingEvent { chain_index, .. }
            | Self::Order { chain_index, .. }
            | Self::Renumbered { chain_index, .. }
            | Self::MissingLink { chain_index }
            | Self::CheckpointSignature { chain_index, .. }
            | Self::Checkpoint { chain_index, .. } => *chain_index,
        }
    }

    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            Self::Hash {
                chain_index,
                position,
                event_id,
                ..
            } => format!(
                "chain index {chain_index} (position {position}, event {event_id}): the event's hash does not match the chain — its content was changed"
            ),
            Self::MissingEvent {
                chain_index,
                position,
                event_id,
            } => format!(
                "chain index {chain_index} (position {position}, event {event_id}): the event is missing from the store"
            ),
            Self::Order {
                chain_index,
                position,
                event_id,
                found_position,
                found_event_id,
            } => format!(
                "chain index {chain_index}: out of order — the chain has event {event_id} (position {position}) here, the store has event {found_event_id} (position {found_position})"
            ),
            Self::Renumbered {
                chain_index,
                event_id,
                position,
                found_transaction_id,
                found_position,
            } => format!(
                "chain index {chain_index} (event {event_id}): recorded at position {position}, now at transaction {found_transaction_id}, position {found_position}"
            ),
            Self::MissingLink { chain_index } => {
                format!("chain index {chain_index}: the chain itself lacks this link")
            }
            Self::CheckpointSignature {
                chain_index,
                position,
            } => format!(
                "checkpoint at chain index {chain_index} (position {position}): the signature does not verify"
            ),
            Self::Checkpoint {
                chain_index,
                position,
                ..
            } => format!(
                "checkpoint at chain index {chain_index} (position {position}): the signed hash differs from the chain recomputed from the store — events up to here were rewritten along with the chain"
            ),
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The first chain index checked.
    pub from: i64,
    /// Links recomputed and found matching.
    pub verified: u64,
    /// Signed checkpoints found matching.
    pub checkpoints: u64,
    /// Committed events past the chain's end (not chained by the relay yet).
    pub unchained: u64,
    pub mismatch: Option<Mismatch>,
}

impl VerifyReport {
    /// Whether everything checked matched.
    pub fn is_clean(&self) -> bool {
        self.mismatch.is_none()
    }
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    chain_index: i64,
    event_id: Uuid,
    transaction_id: i64,
    position: i64,
    hash: Vec<u8>,
}

/// Recomputes the chain from chain index `from` (the stored hash before it is trusted)
/// and checks it against the stored links and the checkpoints signed by one of `keys`.
#[tracing::instrument(skip(pool, keys), err)]
pub async fn verify(
    pool: &PgPool,
    keys: &[VerifyingKey],
    from: i64,
) -> Result<VerifyReport, StoreError> {
    let from = from.max(1);
    let mut report = VerifyReport {
        from,
        verified: 0,
        checkpoints: 0,
        unchained: 0,
        mismatch: None,
    };
    let Some((mut previous, mut cursor)) = start(pool, from).await? else {
        report.mismatch = Some(Mismatch::MissingLink {
            chain_index: from - 1,
        });
        return Ok(report);
    };
    let mut signed = checkpoints::stored_from(pool, from)
        .await?
        .into_iter()
        .peekable();
    let mut index = from;
    loop {
        let links: Vec<LinkRow> = sqlx::query_as(
            "SELECT chain_index, event_id, transaction_id::text::int8 AS transaction_id,
                    position, hash
               FROM audit_chain WHERE chain_index >= $1 ORDER BY chain_index LIMIT $2",
        )
        .bind(index)
        .bind(PAGE)
        .fetch_all(pool)
        .await?;
        if links.is_empty() {
            break;
        }
        let events = reader::read_after(pool, cursor, PAGE).await?;
        for (offset, link) in links.iter().enumerate() {
            let checked = check_link(pool, index, link, events.get(offset), &previous).await?;
            let outcome = checked.and_then(|recomputed| {
                let signed_here = check_checkpoint(&mut signed, link, &recomputed, keys)?;
                Ok((recomputed, signed_here))
            });
            let (recomputed, signed_here) = match outcome {
                Ok(done) => done,
                Err(mismatch) => {
                    report.mismatch = Some(mismatch);
                    return Ok(report);
                }
            };
            report.verified += 1;
            report.checkpoints += u64::from(signed_here);
            previous = recomputed;
            cursor = CommitCursor {
                transaction_id: link.transaction_id,
                position: link.position,
            };
            index += 1;
        }
    }
    if let Some(checkpoint) = signed.next() {
        // A signed head the chain no longer reaches: its tail was cut off.
        report.mismatch = Some(Mismatch::MissingLink {
            chain_index: checkpoint.chain_index,
        });
        return Ok(report);
    }
    report.unchained = history::count(pool, &AuditFilter::default(), AuditCursor(cursor)).await?;
    Ok(report)
}

/// The hash before `from` and where its event is; `None` if that link is gone.
async fn start(pool: &PgPool, from: i64) -> Result<Option<(Hash, CommitCursor)>, StoreError> {
    if from == 1 {
        return Ok(Some((GENESIS, CommitCursor::default())));
    }
    let row: Option<(Vec<u8>, i64, i64)> = sqlx::query_as(
        "SELECT hash, transaction_id::text::int8, position FROM audit_chain WHERE chain_index = $1",
    )
    .bind(from - 1)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(hash, transaction_id, position)| {
        Some((
            hash_from_slice(&hash)?,
            CommitCursor {
                transaction_id,
                position,
            },
        ))
    }))
}

/// Checks one link against the store's event at the same place; the recomputed hash.
async fn check_link(
    pool: &PgPool,
    index: i64,
    link: &LinkRow,
    event: Option<&StoredEvent>,
    previous: &Hash,
) -> Result<Result<Hash, Mismatch>, StoreError> {
    if link.chain_index != index {
        return Ok(Err(Mismatch::MissingLink { chain_index: index }));
    }
    let missing = Mismatch::MissingEvent {
        chain_index: index,
        position: link.position,
        event_id: link.event_id,
    };
    let Some(event) = event else {
        return Ok(Err(missing));
    };
    if event.event_id != link.event_id {
        let still_stored: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE event_id = $1)")
                .bind(link.event_id)
                .fetch_one(pool)
                .await?;
        return Ok(Err(if still_stored {
            Mismatch::Order {
                chain_index: index,
                position: link.position,
                event_id: link.event_id,
                found_position: event.position,
                found_event_id: event.event_id,
            }
        } else {
            missing
        }));
    }
    if (event.transaction_id, event.position) != (link.transaction_id, link.position) {
        return Ok(Err(Mismatch::Renumbered {
            chain_index: index,
            event_id: link.event_id,
            position: link.position,
            found_transaction_id: event.transaction_id,
            found_position: event.position,
        }));
    }
    let recomputed = link_hash(previous, event)?;
    if link.hash != recomputed {
        return Ok(Err(Mismatch::Hash {
            chain_index: index,
            position: link.position,
            event_id: link.event_id,
            stored: hex::encode(&link.hash),
            recomputed: hex::encode(recomputed),
        }));
    }
    Ok(Ok(recomputed))
}

/// Checks the signed checkpoint at `link`, if there is one; whether there was.
fn check_checkpoint(
    signed: &mut Peekable<impl Iterator<Item = SignedCheckpoint>>,
    link: &LinkRow,
    recomputed: &Hash,
    keys: &[VerifyingKey],
) -> Result<bool, Mismatch> {
    let Some(checkpoint) = signed.next_if(|c| c.chain_index <= link.chain_index) else {
        return Ok(false);
    };
    if !checkpoint.signed_by_one_of(keys) {
        return Err(Mismatch::CheckpointSignature {
            chain_index: checkpoint.chain_index,
            position: checkpoint.position,
        });
    }
    let agrees = checkpoint.chain_index == link.chain_index
        && checkpoint.event_id == link.event_id
        && checkpoint.position == link.position
        && checkpoint.signed_hash().as_ref() == Some(recomputed);
    if agrees {
        Ok(true)
    } else {
        Err(Mismatch::Checkpoint {
            chain_index: checkpoint.chain_index,
            position: checkpoint.position,
            signed_hash: checkpoint.hash,
            recomputed: hex::encode(recomputed),
        })
    }
}
