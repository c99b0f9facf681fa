//! The relay: the only writer to JetStream. It tails the store in commit order and
//! publishes each event once (checkpoint in Postgres, `Nats-Msg-Id` dedup on the stream).

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage, stream};
use futures::StreamExt;
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::reader::{self, CommitCursor};
use crate::{CloudEvent, Namespace, StoreError, StoredEvent};

/// Header with the store's transaction id of the event (its commit-order key).
pub const TRANSACTION_ID_HEADER: &str = "Agentos-Transaction-Id";
/// Header with the store's position of the event.
pub const POSITION_HEADER: &str = "Agentos-Position";
/// JetStream's dedup header, which the relay sets to the event id.
const NATS_MESSAGE_ID: &str = "Nats-Msg-Id";
/// How long JetStream remembers a `Nats-Msg-Id`.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

const MAX_BATCH: i64 = 4_000;
const IDLE_POLL_MIN: Duration = Duration::from_millis(5);
const IDLE_POLL_MAX: Duration = Duration::from_millis(200);
const STANDBY_RETRY: Duration = Duration::from_millis(500);
const WAKE_TIMEOUT: Duration = Duration::from_millis(100);

/// Creates the event stream, or brings an existing one to this configuration, and
/// returns it.
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    namespace: &Namespace,
) -> Result<stream::Stream, StoreError> {
    jetstream
        .create_or_update_stream(stream::Config {
            name: namespace.stream(),
            subjects: vec![format!("{}.>", namespace.subject_prefix())],
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .map_err(StoreError::nats)?;
    jetstream
        .get_stream(namespace.stream())
        .await
        .map_err(StoreError::nats)
}

/// Tells the relay that an append has committed. Losing a wake-up only costs latency:
/// the relay also polls.
#[derive(Debug, Clone, Default)]
pub struct RelayWaker {
    target: Option<(async_nats::Client, String)>,
}

impl RelayWaker {
    /// A waker publishing on the namespace's wake subject.
    pub fn new(client: async_nats::Client, namespace: &Namespace) -> Self {
        Self {
            target: Some((client, namespace.relay_wake_subject())),
        }
    }

    /// Sends the wake-up; never fails, and never holds up, the caller (while NATS is
    /// unreachable the client's buffer can fill, and a command must not wait on that).
    pub async fn wake(&self) {
        if let Some((client, subject)) = &self.target {
            let publish = client.publish(subject.clone(), bytes::Bytes::new());
            match tokio::time::timeout(WAKE_TIMEOUT, publish).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::debug!(%err, "relay wake-up not sent"),
                Err(_) => tracing::debug!("relay wake-up timed out"),
            }
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub published: usize,
    /// Messages the stream already had (a re-publish after a crash).
    pub duplicates: usize,
}

/// Relay configuration and handles; [`Relay::run`] does the work.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    jetstream: jetstream::Context,
    namespace: Namespace,
    batch_size: i64,
}

impl Relay {
    /// A relay from `pool`'s event store into the namespace's stream.
    pub fn new(pool: PgPool, jetstream: jetstream::Context, namespace: Namespace) -> Self {
        Self {
            pool,
            jetstream,
            namespace,
            batch_size: 1000,
        }
    }

    /// Publishes at most `batch_size` events per batch. A batch is published before any
    /// of its acks is awaited, so it stays below the JetStream context's in-flight ack
    /// capacity (5,000 by default), which would otherwise wait on itself.
    pub fn with_batch_size(mut self, batch_size: i64) -> Self {
        self.batch_size = batch_size.clamp(1, MAX_BATCH);
        self
    }

    /// Runs until `shutdown`: waits as a standby while another relay holds the lock, then
    /// publishes, woken by `wake` (the namespace's wake subject) or by a timed poll.
    pub async fn run(
        &self,
        mut wake: Option<async_nats::Subscriber>,
        shutdown: CancellationToken,
    ) -> Result<(), StoreError> {
        loop {
            let mut active = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                active = self.acquire() => match active {
                    Ok(active) => active,
                    Err(err) => {
                        tracing::warn!(%err, "relay could not start; retrying");
                        tokio::time::sleep(STANDBY_RETRY).await;
                        continue;
                    }
                },
            };
            tracing::info!(stream = %self.namespace.stream(), "relay active");
            match active.pump(wake.as_mut(), &shutdown).await {
                Ok(()) => return Ok(()),
                Err(err) => {
                    tracing::warn!(%err, "relay stopped; resuming from the checkpoint");
                    tokio::time::sleep(STANDBY_RETRY).await;
                }
            }
        }
    }

    /// Waits until this instance holds the relay lock, then reconciles the checkpoint.
    pub async fn acquire(&self) -> Result<ActiveRelay, StoreError> {
        let mut conn = PgConnection::connect_with(&self.pool.connect_options()).await?;
        loop {
            if self.try_lock(&mut conn).await? {
                return self.activate(conn).await;
            }
            tokio::time::sleep(STANDBY_RETRY).await;
        }
    }

    /// Takes the relay lock if no other relay holds it. The lock lives as long as the
    /// returned relay's dedicated connection, which also does all its reads and writes,
    /// so a relay that lost its connection cannot go on publishing.
    pub async fn try_acquire(&self) -> Result<Option<ActiveRelay>, StoreError> {
        let mut conn = PgConnection::connect_with(&self.pool.connect_options()).await?;
        if self.try_lock(&mut conn).await? {
            Ok(Some(self.activate(conn).await?))
        } else {
            conn.close().await.ok();
            Ok(None)
        }
    }

    async fn try_lock(&self, conn: &mut PgConnection) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(self.lock_name())
                .fetch_one(conn)
                .await?,
        )
    }

    async fn activate(&self, mut conn: PgConnection) -> Result<ActiveRelay, StoreError> {
        let stream = ensure_stream(&self.jetstream, &self.namespace).await?;
        let mut active = ActiveRelay {
            checkpoint: load_checkpoint(&mut conn, &self.namespace.stream()).await?,
            conn,
            relay: self.clone(),
        };
        active.reconcile_with_stream(stream).await?;
        Ok(active)
    }

    fn lock_name(&self) -> String {
        format!("agentos.relay:{}", self.namespace.stream())
    }
}

/// The relay that holds the lock.
pub struct ActiveRelay {
    conn: PgConnection,
    checkpoint: Checkpoint,
    relay: Relay,
}

/// Where the relay is: after `cursor` in the store, after `stream_sequence` in the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Checkpoint {
    cursor: CommitCursor,
    stream_sequence: u64,
}

impl ActiveRelay {
    /// Where this relay has published up to.
    pub fn cursor(&self) -> CommitCursor {
        self.checkpoint.cursor
    }

    /// Publishes the next batch in commit order, pipelined, then checkpoints after all
    /// acks are in.
    #[tracing::instrument(skip_all, err)]
    pub async fn process_batch(&mut self) -> Result<BatchOutcome, StoreError> {
        let started = Instant::now();
        let events = reader::read_after(
            &mut self.conn,
            self.checkpoint.cursor,
            self.relay.batch_size,
        )
        .await?;
        let Some(last) = events.last() else {
            return Ok(BatchOutcome::default());
        };
        let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(events.len());
        for event in &events {
            acks.push(self.publish(event).await?);
        }
        let mut outcome = BatchOutcome {
            published: events.len(),
            duplicates: 0,
        };
        let mut stream_sequence = self.checkpoint.stream_sequence;
        for ack in acks {
            let ack = ack.await.map_err(StoreError::nats)?;
            outcome.duplicates += usize::from(ack.duplicate);
            stream_sequence = stream_sequence.max(ack.sequence);
        }
        let checkpoint = Checkpoint {
            cursor: CommitCursor::after(last),
            stream_sequence,
        };
        save_checkpoint(&mut self.conn, &self.relay.namespace.stream(), checkpoint).await?;
        self.checkpoint = checkpoint;
        metrics::counter!("agentos_relay_published_total").increment(outcome.published as u64);
        metrics::counter!("agentos_relay_duplicates_total").increment(outcome.duplicates as u64);
        metrics::histogram!("agentos_relay_batch_seconds").record(started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    async fn publish(&self, event: &StoredEvent) -> Result<PublishAckFuture, StoreError> {
        let body = serde_json::to_vec(&CloudEvent::from_stored(event)?)?;
        let subject = self.relay.namespace.event_subject(
            &event.tenant_id.to_string(),
            &event.aggregate_type,
            &event.aggregate_id,
        );
        let message = PublishMessage::build()
            .payload(body.into())
            .message_id(event.event_id.to_string())
            .header("Content-Type", "application/cloudevents+json")
            .header(
                TRANSACTION_ID_HEADER,
                event.transaction_id.to_string().as_str(),
            )
            .header(POSITION_HEADER, event.position.to_string().as_str());
        self.relay
            .jetstream
            .send_publish(subject, message)
            .await
            .map_err(StoreError::nats)
    }

    async fn pump(
        &mut self,
        mut wake: Option<&mut async_nats::Subscriber>,
        shutdown: &CancellationToken,
    ) -> Result<(), StoreError> {
        let mut idle = IDLE_POLL_MIN;
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if self.process_batch().await?.published > 0 {
                idle = IDLE_POLL_MIN;
                continue;
            }
            let woken = async {
                match wake.as_deref_mut() {
                    Some(subscriber) => subscriber.next().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                open = woken => {
                    idle = IDLE_POLL_MIN;
                    if !open {
                        tracing::warn!("relay wake-up subscription closed; polling only");
                        wake = None;
                    }
                }
                () = tokio::time::sleep(idle) => idle = (idle * 2).min(IDLE_POLL_MAX),
            }
        }
    }

    /// Brings the checkpoint in line with the stream. Past the checkpoint the stream may
    /// hold events published just before a crash: they are matched, in order, against the
    /// store's next events, and the relay resumes at the first one the stream lacks, so
    /// nothing is published twice even after the dedup window, and nothing is skipped. A
    /// stream that lost messages (or was recreated) is behind the checkpoint: the relay
    /// then resumes after the stream's last event and republishes the rest from the store.
    async fn reconcile_with_stream(
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
                &mut self.conn,
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
        let expected = reader::read_after(&mut self.conn, self.checkpoint.cursor, count).await?;
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

async fn load_checkpoint(conn: &mut PgConnection, relay: &str) -> Result<Checkpoint, StoreError> {
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

async fn save_checkpoint(
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
