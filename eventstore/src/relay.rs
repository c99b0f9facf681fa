//! The relay: the only writer to JetStream. It tails the store in commit order and
//! publishes each event once (checkpoint in Postgres, `Nats-Msg-Id` dedup on the stream).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage, stream};
use futures::StreamExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::audit::checkpoints::{self, CheckpointPolicy};
use crate::audit::{AuditSigner, ChainHead, chain};
use crate::leader::{LeaderLock, STANDBY_RETRY};
use crate::reader::{self, CommitCursor};

mod audit;
mod checkpoint;

use crate::{CloudEvent, Namespace, StoreError, StoredEvent};
use checkpoint::{Checkpoint, load_checkpoint};

/// Header with the store's transaction id of the event (its commit-order key).
pub const TRANSACTION_ID_HEADER: &str = "Agentos-Transaction-Id";
/// Header with the store's position of the event.
pub const POSITION_HEADER: &str = "Agentos-Position";
/// JetStream's dedup header, which the relay sets to the event id.
pub(crate) const NATS_MESSAGE_ID: &str = "Nats-Msg-Id";
/// How long JetStream remembers a `Nats-Msg-Id`.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

const MAX_BATCH: i64 = 4_000;
const IDLE_POLL_MIN: Duration = Duration::from_millis(5);
const IDLE_POLL_MAX: Duration = Duration::from_millis(200);
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

/// Publishes one stored event as the relay does: CloudEvents JSON on its subject,
/// `Nats-Msg-Id` = event id, the store position in headers, and
/// `Nats-Expected-Last-Sequence` so it is stored only right after `expected_last_sequence`.
pub async fn publish_event(
    jetstream: &jetstream::Context,
    namespace: &Namespace,
    event: &StoredEvent,
    expected_last_sequence: u64,
) -> Result<PublishAckFuture, StoreError> {
    let body = serde_json::to_vec(&CloudEvent::from_stored(event)?)?;
    let subject = namespace.event_subject(
        &event.tenant_id.to_string(),
        &event.aggregate_type,
        &event.aggregate_id,
    );
    let message = PublishMessage::build()
        .payload(body.into())
        .message_id(event.event_id.to_string())
        .expected_last_sequence(expected_last_sequence)
        .header("Content-Type", "application/cloudevents+json")
        .header(
            TRANSACTION_ID_HEADER,
            event.transaction_id.to_string().as_str(),
        )
        .header(POSITION_HEADER, event.position.to_string().as_str());
    jetstream
        .send_publish(subject, message)
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
    signing: Option<(AuditSigner, CheckpointPolicy)>,
}

impl Relay {
    /// A relay from `pool`'s event store into the namespace's stream. It extends the
    /// audit hash chain with every batch; signed checkpoints need
    /// [`Relay::with_signed_checkpoints`].
    pub fn new(pool: PgPool, jetstream: jetstream::Context, namespace: Namespace) -> Self {
        Self {
            pool,
            jetstream,
            namespace,
            batch_size: 1000,
            signing: None,
        }
    }

    /// Signs the chain head with `signer` as `policy` says, storing each checkpoint and
    /// publishing it to the audit stream.
    pub fn with_signed_checkpoints(
        mut self,
        signer: AuditSigner,
        policy: CheckpointPolicy,
    ) -> Self {
        self.signing = Some((signer, policy));
        self
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
        let lock = LeaderLock::acquire(&self.pool, &self.lock_name()).await?;
        self.activate(lock).await
    }

    /// Takes the relay lock if no other relay holds it. The lock lives as long as the
    /// returned relay's dedicated connection, which also does all its reads and writes,
    /// so a relay that lost its connection cannot go on publishing.
    pub async fn try_acquire(&self) -> Result<Option<ActiveRelay>, StoreError> {
        match LeaderLock::try_acquire(&self.pool, &self.lock_name()).await? {
            Some(lock) => Ok(Some(self.activate(lock).await?)),
            None => Ok(None),
        }
    }

    async fn activate(&self, mut lock: LeaderLock) -> Result<ActiveRelay, StoreError> {
        let stream = ensure_stream(&self.jetstream, &self.namespace).await?;
        if self.signing.is_some() {
            checkpoints::ensure_audit_stream(&self.jetstream, &self.namespace).await?;
        }
        let mut active = ActiveRelay {
            checkpoint: load_checkpoint(lock.connection(), &self.namespace.stream()).await?,
            chain: chain::load_head(lock.connection()).await?,
            last_signed: checkpoints::latest(lock.connection()).await?,
            prefetched: Vec::new(),
            lock,
            relay: self.clone(),
        };
        active.reconcile_with_stream(stream).await?;
        active.catch_up_chain().await?;
        active.publish_checkpoints().await;
        Ok(active)
    }

    fn lock_name(&self) -> String {
        format!("agentos.relay:{}", self.namespace.stream())
    }
}

/// The relay that holds the lock.
pub struct ActiveRelay {
    lock: LeaderLock,
    checkpoint: Checkpoint,
    /// The chain's last link; ahead of `checkpoint` while republishing into a lost stream.
    chain: ChainHead,
    /// Index and time of the latest signed checkpoint.
    last_signed: (i64, chrono::DateTime<chrono::Utc>),
    /// The batch after the checkpoint, read while the last batch's acks came in.
    prefetched: Vec<StoredEvent>,
    relay: Relay,
}

impl ActiveRelay {
    /// Where this relay has published up to.
    pub fn cursor(&self) -> CommitCursor {
        self.checkpoint.cursor
    }

    /// The audit chain's last link.
    pub fn chain_head(&self) -> ChainHead {
        self.chain
    }

    /// Publishes the next batch in commit order, pipelined, then checkpoints after all
    /// acks are in, in one transaction with the batch's links of the audit chain. While
    /// the acks come in, the batch after it is read, so the next call starts publishing
    /// at once.
    #[tracing::instrument(skip_all, err)]
    pub async fn process_batch(&mut self) -> Result<BatchOutcome, StoreError> {
        let started = Instant::now();
        let events = match std::mem::take(&mut self.prefetched) {
            prefetched if !prefetched.is_empty() => prefetched,
            _ => {
                reader::read_after(
                    self.lock.connection(),
                    self.checkpoint.cursor,
                    self.relay.batch_size,
                )
                .await?
            }
        };
        let Some(last) = events.last().map(CommitCursor::after) else {
            self.sign_if_due().await?;
            return Ok(BatchOutcome::default());
        };
        // Hashing is CPU only: it runs on a blocking thread beside the publishing.
        let events = Arc::new(events);
        let (head, to_hash) = (self.chain, Arc::clone(&events));
        let hashing = tokio::task::spawn_blocking(move || head.extend(&to_hash));
        let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(events.len());
        // Each message names the stream sequence it must follow: if one is lost (say the
        // connection dropped mid-batch), every later one is refused, so the stream never
        // holds an event past a gap, and the next batch starts again at the lost one.
        let base = self.checkpoint.stream_sequence;
        for (offset, event) in (0u64..).zip(events.iter()) {
            let publish = publish_event(
                &self.relay.jetstream,
                &self.relay.namespace,
                event,
                base + offset,
            );
            acks.push(publish.await?);
        }
        let mut outcome = BatchOutcome {
            published: events.len(),
            duplicates: 0,
        };
        let acked = async {
            let mut stream_sequence = base;
            let mut duplicates = 0;
            for ack in acks {
                let ack = ack.await.map_err(StoreError::nats)?;
                duplicates += usize::from(ack.duplicate);
                stream_sequence = stream_sequence.max(ack.sequence);
            }
            Ok::<_, StoreError>((stream_sequence, duplicates))
        };
        let next = reader::read_after(self.lock.connection(), last, self.relay.batch_size);
        let (acked, next) = tokio::join!(acked, next);
        let (stream_sequence, duplicates) = acked?;
        outcome.duplicates = duplicates;
        let (links, chain) = hashing
            .await
            .map_err(|err| StoreError::Invalid(format!("chain hashing failed: {err}")))??;
        let checkpoint = Checkpoint {
            cursor: last,
            stream_sequence,
        };
        self.commit_batch(checkpoint, &links, chain).await?;
        // Only a batch read after the checkpoint now stored is worth keeping; one that
        // could not be read is read again by the next call.
        match next {
            Ok(next) => self.prefetched = next,
            Err(err) => tracing::debug!(%err, "the next batch was not read ahead"),
        }
        metrics::counter!("agentos_relay_published_total").increment(outcome.published as u64);
        metrics::counter!("agentos_relay_duplicates_total").increment(outcome.duplicates as u64);
        metrics::histogram!("agentos_relay_batch_seconds").record(started.elapsed().as_secs_f64());
        Ok(outcome)
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
}
