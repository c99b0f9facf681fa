//! The chain as the relay keeps it: its head, the links of a batch, and writing them in
//! the relay's checkpoint transaction.

use sqlx::PgConnection;
use uuid::Uuid;

use super::link::{GENESIS, Hash, hash_from_slice, link_hash};
use crate::reader::CommitCursor;
use crate::{StoreError, StoredEvent};

/// The last link: its index, hash, and the commit-order place of its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// 0 while the chain is empty.
    pub chain_index: i64,
    /// The last chained event (nil while the chain is empty).
    pub event_id: Uuid,
    pub hash: Hash,
    pub cursor: CommitCursor,
}

impl Default for ChainHead {
    fn default() -> Self {
        Self {
            chain_index: 0,
            event_id: Uuid::nil(),
            hash: GENESIS,
            cursor: CommitCursor::default(),
        }
    }
}

/// One event's place and hash in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    pub chain_index: i64,
    pub event_id: Uuid,
    pub cursor: CommitCursor,
    pub hash: Hash,
}

impl ChainHead {
    /// The links of the `events` (in commit order) that come after this head, and the
    /// head after them. Events at or before the head were chained already (a relay that
    /// republishes into a lost stream reads them again) and are skipped.
    pub fn extend(&self, events: &[StoredEvent]) -> Result<(Vec<ChainLink>, Self), StoreError> {
        let mut head = *self;
        let mut links = Vec::with_capacity(events.len());
        for event in events {
            let cursor = CommitCursor::after(event);
            if cursor <= head.cursor {
                continue;
            }
            head = Self {
                chain_index: head.chain_index + 1,
                event_id: event.event_id,
                hash: link_hash(&head.hash, event)?,
                cursor,
            };
            links.push(ChainLink {
                chain_index: head.chain_index,
                event_id: event.event_id,
                cursor,
                hash: head.hash,
            });
        }
        Ok((links, head))
    }
}

/// The chain's last link, or the empty chain.
pub async fn load_head(conn: &mut PgConnection) -> Result<ChainHead, StoreError> {
    let row: Option<(i64, Uuid, i64, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT chain_index, event_id, transaction_id::text::int8, position, hash
           FROM audit_chain ORDER BY chain_index DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    let Some((chain_index, event_id, transaction_id, position, hash)) = row else {
        return Ok(ChainHead::default());
    };
    Ok(ChainHead {
        chain_index,
        event_id,
        hash: hash_from_slice(&hash)
            .ok_or_else(|| StoreError::Invalid(format!("chain index {chain_index}: bad hash")))?,
        cursor: CommitCursor {
            transaction_id,
            position,
        },
    })
}

/// Writes `links` (one statement); a link already there fails the whole transaction.
pub async fn insert_links(conn: &mut PgConnection, links: &[ChainLink]) -> Result<(), StoreError> {
    if links.is_empty() {
        return Ok(());
    }
    let indexes: Vec<i64> = links.iter().map(|l| l.chain_index).collect();
    let event_ids: Vec<Uuid> = links.iter().map(|l| l.event_id).collect();
    let transaction_ids: Vec<String> = links
        .iter()
        .map(|l| l.cursor.transaction_id.to_string())
        .collect();
    let positions: Vec<i64> = links.iter().map(|l| l.cursor.position).collect();
    let hashes: Vec<Vec<u8>> = links.iter().map(|l| l.hash.to_vec()).collect();
    sqlx::query(
        "INSERT INTO audit_chain (chain_index, event_id, transaction_id, position, hash)
         SELECT i, e, t::xid8, p, h
           FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::int8[], $5::bytea[])
             AS l(i, e, t, p, h)",
    )
    .bind(indexes)
    .bind(event_ids)
    .bind(transaction_ids)
    .bind(positions)
    .bind(hashes)
    .execute(conn)
    .await?;
    Ok(())
}
