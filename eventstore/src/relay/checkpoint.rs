//! The relay's checkpoint in Postgres, and bringing it in line with the stream at start.

use async_nats::jetstream::stream;
use sqlx::PgConnection;

use super::{ActiveRelay, NATS_MESSAGE_ID, POSITION_HEADER, TRANSACTION_ID_HEADER};
use crate::StoreError;
use crate::reader::{self, CommitCursor};

/// Where the relay is: after `cursor` in the store, after `stream_sequence` in the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Checkpoint {
    pub(super) cursor: CommitCursor,
    pub(super) stream_sequence: u64,
}

impl ActiveRelay {
    /// Brings the checkpoint in line with the stream. Past the checkpoint the stream may
    /// hold events published just before a crash: they are matched, in order, against the
    /// store's next events, and the relay resumes at the first one the stream lacks, so
    /// nothing is published twice even after the dedup window, and nothing is skipped. A
    /// stream that lost messages (or was recreated) is behind the checkpoint: the relay
    /// then resumes after the stream's last event and republishes the rest from the store.
    pub(super) async fn reconcile_with_stream(
        &mut self,
        mut stream: stream::Stream,
    ) -> Result<(), StoreError> {
        let last_sequence = stream
            .info()
            .await
            .map_err(StoreError::nats)?
            .state
            .last_sequence;
        let stored = self.checkpoint;
        if last_sequence < stored.stream_sequence {
            self.checkpoint = match last_sequence {
                0 => Checkpoint::default(),
                sequence => Checkpoint {
                    cursor: published_cursor(&stream, sequence).await?,
                    stream_sequence: sequence,
                },
            };
            tracing::warn!(?stored, resumed = ?self.checkpoint, "stream is behind the relay checkpoint; republishing from the store");
        } else if last_sequence > stored.stream_sequence {
            self.match_unrecorded(&stream, last_sequence).await?;
        }
        if self.checkpoint != stored {
            save_checkpoint(
                self.lock.connection(),
                &self.relay.namespace.stream(),
                self.checkpoint,
            )
            .await?;
        }
        Ok(())
    }

    /// Advances over the stream messages after the checkpoint that are the store's next
    /// events, in order.
    async fn match_unrecorded(
        &mut self,
        stream: &stream::Stream,
        last_sequence: u64,
    ) -> Result<(), StoreError> {
        let first = self.checkpoint.stream_sequence + 1;
        let count = i64::try_from(last_sequence - first + 1).unwrap_or(i64::MAX);
        let expected =
            reader::read_after(self.lock.connection(), self.checkpoint.cursor, count).await?;
        for (sequence, event) in (first..=last_sequence).zip(&expected) {
            let id = match stream.get_raw_message(sequence).await {
                Ok(message) => message
                    .headers
                    .get(NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_owned()),
                Err(err) => Some(format!("unreadable: {err}")),
            };
            if id.as_deref() != Some(event.event_id.to_string().as_str()) {
                tracing::warn!(sequence, expected = %event.event_id, found = ?id, "stream diverges from the store; resuming at the gap");
                break;
            }
            self.checkpoint = Checkpoint {
                cursor: CommitCursor::after(event),
                stream_sequence: sequence,
            };
        }
        tracing::info!(checkpoint = ?self.checkpoint, "checkpoint reconciled with the stream");
        Ok(())
    }
}

/// The store position of the event the stream holds at `sequence`.
async fn published_cursor(
    stream: &stream::Stream,
    sequence: u64,
) -> Result<CommitCursor, StoreError> {
    let message = stream
        .get_raw_message(sequence)
        .await
        .map_err(StoreError::nats)?;
    let header = |name: &str| {
        message
            .headers
            .get(name)
            .and_then(|value| value.as_str().parse::<i64>().ok())
    };
    match (header(TRANSACTION_ID_HEADER), header(POSITION_HEADER)) {
        (Some(transaction_id), Some(position)) => Ok(CommitCursor {
            transaction_id,
            position,
        }),
        _ => Err(StoreError::Invalid(format!(
            "stream message {sequence} lacks the relay's position headers"
        ))),
    }
}

pub(super) async fn load_checkpoint(
    conn: &mut PgConnection,
    relay: &str,
) -> Result<Checkpoint, StoreError> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::int8, position, stream_sequence
           FROM relay_checkpoints WHERE relay = $1",
    )
    .bind(relay)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map_or_else(
        Checkpoint::default,
        |(transaction_id, position, sequence)| Checkpoint {
            cursor: CommitCursor {
                transaction_id,
                position,
            },
            stream_sequence: u64::try_from(sequence).unwrap_or_default(),
        },
    ))
}

pub(super) async fn save_checkpoint(
    conn: &mut PgConnection,
    relay: &str,
    checkpoint: Checkpoint,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (relay, transaction_id, position, stream_sequence)
         VALUES ($1, $2::text::xid8, $3, $4)
         ON CONFLICT (relay) DO UPDATE
            SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,
                stream_sequence = EXCLUDED.stream_sequence, updated_at = now()",
    )
    .bind(relay)
    .bind(checkpoint.cursor.transaction_id.to_string())
    .bind(checkpoint.cursor.position)
    .bind(i64::try_from(checkpoint.stream_sequence).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
