//! Driving projectors: step by step from a consumer, or as running tasks.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer};
use eventstore::Namespace;
use eventstore::testing::TestEnv;
use futures::TryStreamExt;
use projections::runner::Delivered;
use projections::{Projection, ProjectionError, ProjectionRunner, RunnerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::PATIENCE;

/// Short ack wait so that unacknowledged messages come back within the test.
pub const RUNNER_CONFIG: RunnerConfig = RunnerConfig {
    batch_size: 50,
    ack_wait: Duration::from_secs(1),
};

/// A runner with the tests' short ack wait.
pub fn runner<P: Projection>(projection: Arc<P>, env: &TestEnv) -> ProjectionRunner<P> {
    ProjectionRunner::new(
        projection,
        env.jetstream.clone(),
        env.namespace.clone(),
        RUNNER_CONFIG,
    )
}

/// Whatever the consumer has ready, up to `max` messages, without waiting.
pub async fn fetch(consumer: &PullConsumer, max: usize) -> Vec<jetstream::Message> {
    consumer
        .fetch()
        .max_messages(max)
        .messages()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// Exactly `count` messages, fetched in as many rounds as it takes.
pub async fn fetch_exactly(consumer: &PullConsumer, count: usize) -> Vec<jetstream::Message> {
    let deadline = Instant::now() + PATIENCE;
    let mut messages = Vec::with_capacity(count);
    while messages.len() < count {
        assert!(
            Instant::now() < deadline,
            "got {} of {count} messages",
            messages.len()
        );
        let batch = fetch(consumer, count - messages.len()).await;
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        messages.extend(batch);
    }
    messages
}

/// The messages as the runner hands them to a projection.
pub fn delivered(messages: &[jetstream::Message]) -> Vec<Delivered> {
    messages
        .iter()
        .map(|message| Delivered {
            stream_sequence: message.info().unwrap().stream_sequence,
            event: serde_json::from_slice(&message.payload).unwrap(),
        })
        .collect()
}

/// Fetches and handles batches until `caught_up` holds; returns how many events the
/// projection applied on the way.
pub async fn drive_until<P, F, Fut>(
    runner: &ProjectionRunner<P>,
    consumer: &PullConsumer,
    mut caught_up: F,
) -> usize
where
    P: Projection,
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    let mut applied = 0;
    while !caught_up().await {
        assert!(Instant::now() < deadline, "projection did not catch up");
        let messages = fetch(consumer, RUNNER_CONFIG.batch_size).await;
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else {
            applied += runner.handle(messages).await.unwrap();
        }
    }
    applied
}

/// Counts what passes through a projection: every event offered, and every one applied.
/// `applied` counts events past the checkpoint whether or not a row changed, so the
/// per-row version guard cannot hide a second application from it.
pub struct Counting<P> {
    inner: P,
    pub offered: AtomicUsize,
    pub applied: AtomicUsize,
}

impl<P> Counting<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            offered: AtomicUsize::new(0),
            applied: AtomicUsize::new(0),
        }
    }
}

#[async_trait::async_trait]
impl<P: Projection> Projection for Counting<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn filter_subject(&self, namespace: &Namespace) -> String {
        self.inner.filter_subject(namespace)
    }

    async fn prepare(&self) -> Result<u64, ProjectionError> {
        self.inner.prepare().await
    }

    async fn apply(&self, events: &[Delivered]) -> Result<usize, ProjectionError> {
        self.offered.fetch_add(events.len(), Ordering::SeqCst);
        let applied = self.inner.apply(events).await?;
        self.applied.fetch_add(applied, Ordering::SeqCst);
        Ok(applied)
    }
}

/// A projector running as a task, as the service runs it.
pub struct RunningProjector {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ProjectionError>>,
}

impl RunningProjector {
    pub fn spawn<P: Projection>(projection: Arc<P>, env: &TestEnv) -> Self {
        Self::start(runner(projection, env))
    }

    /// Spawns a projector that leads (holds the projection's leader lock) before it
    /// consumes, as the service runs it.
    pub fn spawn_leading<P: Projection>(projection: Arc<P>, env: &TestEnv) -> Self {
        Self::start(runner(projection, env).with_leader_lock(env.pool.clone()))
    }

    pub fn start<P: Projection>(runner: ProjectionRunner<P>) -> Self {
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { runner.run(token).await });
        Self { shutdown, task }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}
