//! Runs one projection: a durable JetStream pull consumer, batches, explicit acks, and
//! (in production) a leader lock so that only one instance consumes at a time.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use eventstore::{CloudEvent, Namespace, relay::ensure_stream};
use futures::{FutureExt, StreamExt};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::ProjectionError;
use eventstore::leader::{LockSession, STANDBY_RETRY, SessionLock};

/// One event as the consumer delivered it.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The JetStream stream sequence: the projection's checkpoint unit.
    pub stream_sequence: u64,
    pub event: CloudEvent,
}

/// A read model fed from the event stream.
#[async_trait::async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Durable consumer name and checkpoint key.
    fn name(&self) -> &str;
    /// The one subject filter of its consumer (NATS 2.9 honours only one).
    fn filter_subject(&self, namespace: &Namespace) -> String;
    /// Creates what the read model needs; returns its checkpoint.
    async fn prepare(&self) -> Result<u64, ProjectionError>;
    /// Applies `events` (skipping any at or below the checkpoint) together with the new
    /// checkpoint, atomically; returns how many were applied.
    ///
    /// Each event applies only on top of its aggregate's previous version; one the read
    /// model already has is skipped. An event that would skip a version fails the call
    /// with [`ProjectionError::VersionGap`], and the checkpoint does not pass it.
    async fn apply(&self, events: &[Delivered]) -> Result<usize, ProjectionError>;
}

/// Batch size and redelivery timing.
#[derive(Debug, Clone, Copy)]
pub struct RunnerConfig {
    pub batch_size: usize,
    /// How long JetStream waits for an ack before redelivering.
    pub ack_wait: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// Drives one projection from its consumer.
pub struct ProjectionRunner<P> {
    projection: Arc<P>,
    jetstream: jetstream::Context,
    namespace: Namespace,
    config: RunnerConfig,
    leaders: Option<Arc<LockSession>>,
}

impl<P: Projection> ProjectionRunner<P> {
    /// A runner feeding `projection` from the namespace's stream.
    pub fn new(
        projection: Arc<P>,
        jetstream: jetstream::Context,
        namespace: Namespace,
        config: RunnerConfig,
    ) -> Self {
        Self {
            projection,
            jetstream,
            namespace,
            config,
            leaders: None,
        }
    }

    /// Makes [`run`](Self::run) lead before it consumes: it holds a Postgres advisory lock
    /// (taken on its own connection from `pool`) per stream and projection, and waits as a
    /// standby while another instance holds it. Required wherever more than one instance
    /// may run: two consumers of one durable consumer commit batches out of order, and the
    /// checkpoint, a high-water mark, then passes events that were never applied.
    pub fn with_leader_lock(self, pool: PgPool) -> Self {
        self.with_lock_session(LockSession::new(pool))
    }

    /// Like [`with_leader_lock`](Self::with_leader_lock), holding the lock in `session`,
    /// which the other projectors of the process share: one connection for all of them.
    pub fn with_lock_session(mut self, session: Arc<LockSession>) -> Self {
        self.leaders = Some(session);
        self
    }

    /// The name of the projection's leader lock.
    pub fn leader_lock_name(&self) -> String {
        format!(
            "agentos.projection:{}:{}",
            self.namespace.stream(),
            self.projection.name()
        )
    }

    /// Runs until `shutdown`; on errors, backs off and resumes from the checkpoint. With a
    /// leader lock it consumes only while it holds the lock, and goes back to waiting for
    /// it when the lock's connection fails.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ProjectionError> {
        let projection = self.projection.name();
        if self.leaders.is_none() {
            tracing::warn!(
                projection,
                "projector runs without a leader lock: no other instance may run"
            );
        }
        let lock_name = self.leader_lock_name();
        let mut leader = None;
        loop {
            if let Some(session) = &self.leaders
                && leader.is_none()
            {
                let acquired = tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    acquired = session.acquire(&lock_name) => acquired,
                };
                match acquired {
                    Ok(lock) => {
                        tracing::info!(projection, "projector leads");
                        leader = Some(lock);
                    }
                    Err(err) => {
                        tracing::warn!(projection, %err, "projector could not take its leader lock; retrying");
                        if pause(&shutdown, STANDBY_RETRY).await {
                            return Ok(());
                        }
                        continue;
                    }
                }
            }
            match self.run_consumer(&shutdown, leader.as_mut()).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(projection, %err, "projector restarting");
                    // Keep leading through other errors; a lock whose session is gone is
                    // dropped, and taken again (or by another instance) after the pause.
                    if let Some(lock) = leader.as_mut()
                        && lock.confirm().await.is_err()
                    {
                        tracing::warn!(projection, "projector lost its leader lock");
                        leader = None;
                    }
                    if pause(&shutdown, Duration::from_secs(1)).await {
                        break;
                    }
                }
            }
        }
        if let Some(lock) = leader {
            lock.release().await;
        }
        Ok(())
    }

    async fn run_consumer(
        &self,
        shutdown: &CancellationToken,
        mut leader: Option<&mut SessionLock>,
    ) -> Result<(), ProjectionError> {
        let consumer = self.consumer().await?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch_size)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(ProjectionError::nats)?;
        let mut heartbeat = tokio::time::interval(LEADER_HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = heartbeat.tick(), if leader.is_some() => {
                    if let Some(leader) = leader.as_deref_mut() {
                        confirm(leader).await?;
                    }
                    continue;
                }
                next = messages.next() => next,
            };
            let first = first
                .ok_or_else(|| ProjectionError::nats("consumer stream ended"))?
                .map_err(ProjectionError::nats)?;
            let mut batch = vec![first];
            while batch.len() < self.config.batch_size {
                match messages.next().now_or_never() {
                    Some(Some(Ok(message))) => batch.push(message),
                    Some(Some(Err(err))) => return Err(ProjectionError::nats(err)),
                    _ => break,
                }
            }
            // Checked right before applying, so that an instance whose lock is gone (and
            // may be held by another by now) applies nothing more.
            if let Some(leader) = leader.as_deref_mut() {
                confirm(leader).await?;
            }
            self.handle(batch).await?;
        }
    }

    /// Applies one batch of messages, then acks them. On failure they are nak'ed and
    /// come back; the checkpoint makes the retry apply each event once.
    pub async fn handle(
        &self,
        messages: Vec<jetstream::Message>,
    ) -> Result<usize, ProjectionError> {
        let mut delivered = Vec::with_capacity(messages.len());
        let mut accepted = Vec::with_capacity(messages.len());
        for message in messages {
            match decode(&message) {
                Ok(event) => {
                    delivered.push(event);
                    accepted.push(message);
                }
                Err(err) => {
                    // Only the relay writes to the stream; a message it did not write is
                    // recorded and taken out of the way rather than blocking the projection.
                    tracing::error!(projection = self.projection.name(), %err, subject = %message.subject, "undecodable message terminated");
                    metrics::counter!("agentos_projection_poison_total", "projection" => self.projection.name().to_owned()).increment(1);
                    message
                        .ack_with(AckKind::Term)
                        .await
                        .map_err(ProjectionError::nats)?;
                }
            }
        }
        let applied = match self.projection.apply(&delivered).await {
            Ok(applied) => applied,
            Err(err) => {
                if let ProjectionError::VersionGap {
                    aggregate_id,
                    expected,
                    found,
                } = &err
                {
                    tracing::error!(
                        projection = self.projection.name(),
                        aggregate_id,
                        expected,
                        found,
                        "version gap: batch refused and retried"
                    );
                    metrics::counter!("agentos_projection_gaps_total", "projection" => self.projection.name().to_owned()).increment(1);
                }
                for message in &accepted {
                    message
                        .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                        .await
                        .ok();
                }
                return Err(err);
            }
        };
        for message in &accepted {
            message.ack().await.map_err(ProjectionError::nats)?;
        }
        metrics::counter!("agentos_projection_applied_total", "projection" => self.projection.name().to_owned())
            .increment(applied as u64);
        Ok(applied)
    }

    /// The durable consumer, (re)created so that it delivers from just after the
    /// projection's own checkpoint when it lost track (new consumer, or a read model that
    /// was wiped while the consumer kept its acks).
    ///
    /// It is also recreated when it delivered past the checkpoint: those messages were
    /// never applied (a crash before the commit, or messages still buffered at shutdown)
    /// and come back only after `ack_wait`, while newer ones are delivered at once. Applied
    /// first, the newer ones would move the checkpoint past them and they would be skipped.
    pub async fn consumer(&self) -> Result<jetstream::consumer::PullConsumer, ProjectionError> {
        let checkpoint = self.projection.prepare().await?;
        let stream = ensure_stream(&self.jetstream, &self.namespace).await?;
        let name = self.projection.name();
        let filter_subject = self.projection.filter_subject(&self.namespace);
        if let Ok(info) = stream.consumer_info(name).await {
            // Acks follow deliveries, so this also keeps the ack floor at or below it.
            if info.delivered.stream_sequence <= checkpoint
                && info.config.filter_subject == filter_subject
                && info.config.ack_wait == self.config.ack_wait
            {
                return stream
                    .get_consumer(name)
                    .await
                    .map_err(ProjectionError::nats);
            }
            tracing::info!(
                projection = name,
                checkpoint,
                ack_floor = info.ack_floor.stream_sequence,
                delivered = info.delivered.stream_sequence,
                "recreating consumer from the checkpoint"
            );
            stream
                .delete_consumer(name)
                .await
                .map_err(ProjectionError::nats)?;
        }
        let deliver_policy = match checkpoint {
            0 => jetstream::consumer::DeliverPolicy::All,
            n => jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: n + 1,
            },
        };
        stream
            .create_consumer(pull::Config {
                durable_name: Some(name.to_owned()),
                filter_subject,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: self.config.ack_wait,
                deliver_policy,
                max_ack_pending: 20_000,
                ..Default::default()
            })
            .await
            .map_err(ProjectionError::nats)
    }
}

/// Waits `duration`; true when `shutdown` came first.
async fn pause(shutdown: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}

fn decode(message: &jetstream::Message) -> Result<Delivered, ProjectionError> {
    let stream_sequence = message
        .info()
        .map_err(ProjectionError::nats)?
        .stream_sequence;
    let event = serde_json::from_slice(&message.payload)?;
    Ok(Delivered {
        stream_sequence,
        event,
    })
}

/// The span each applied event is recorded in, carrying the request's correlation id.
pub fn event_span(projection: &str, event: &CloudEvent) -> tracing::Span {
    tracing::info_span!(
        "project_event",
        projection,
        event_id = %event.id,
        event_type = %event.event_type,
        correlation_id = event.correlationid.as_deref().unwrap_or_default(),
    )
}

/// How often an idle leader checks that its lock connection is alive.
const LEADER_HEARTBEAT: Duration = Duration::from_secs(2);

/// Fails with `LeadershipLost` once the lock's session is gone.
async fn confirm(lock: &mut SessionLock) -> Result<(), ProjectionError> {
    lock.confirm()
        .await
        .map_err(|err| ProjectionError::LeadershipLost(err.to_string()))
}
