//! A durable pull consumer used as a work queue: every instance of a worker (the tool
//! executor, the run engine) pulls from the same consumer, and each message is handled as
//! its own task, acked by its handler once the work is done.

use std::fmt::{Debug, Display};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, consumer::pull};
use futures::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Namespace;
use crate::relay::ensure_stream;

/// How long one pull waits for messages before asking again.
const PULL_WAIT: Duration = Duration::from_secs(5);
/// How long a worker waits before it consumes again after an error.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// A work queue: a durable consumer on the namespace's stream, shared by every instance.
#[derive(Debug, Clone)]
pub struct WorkQueue {
    /// The durable consumer's name.
    pub name: &'static str,
    /// Its one filter subject (NATS 2.9).
    pub filter_subject: String,
    /// How long JetStream waits for an ack (or a progress beat) before redelivering.
    pub ack_wait: Duration,
    /// Most messages handled at once by one instance.
    pub concurrency: usize,
}

impl WorkQueue {
    /// The durable consumer, created on first use. One with other settings is replaced:
    /// delivered from the start again, it has every message looked at once more, which
    /// workers whose handling is idempotent (all of them) take in their stride.
    pub async fn consumer(
        &self,
        jetstream: &jetstream::Context,
        namespace: &Namespace,
    ) -> Result<PullConsumer, String> {
        let stream = ensure_stream(jetstream, namespace)
            .await
            .map_err(|err| err.to_string())?;
        if let Ok(info) = stream.consumer_info(self.name).await {
            if info.config.filter_subject == self.filter_subject
                && info.config.ack_wait == self.ack_wait
            {
                return stream
                    .get_consumer(self.name)
                    .await
                    .map_err(|err| err.to_string());
            }
            stream
                .delete_consumer(self.name)
                .await
                .map_err(|err| err.to_string())?;
        }
        stream
            .create_consumer(pull::Config {
                durable_name: Some(self.name.to_owned()),
                filter_subject: self.filter_subject.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: self.ack_wait,
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                max_ack_pending: 10_000,
                ..Default::default()
            })
            .await
            .map_err(|err| err.to_string())
    }

    /// Consumes (see [`consume`]) until `shutdown`; after errors, pauses and consumes again.
    pub async fn run<H, F, T, E>(
        &self,
        jetstream: &jetstream::Context,
        namespace: &Namespace,
        shutdown: &CancellationToken,
        handle: H,
    ) where
        H: Fn(jetstream::Message) -> F,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Debug + Send + 'static,
        E: Display + Send + 'static,
    {
        loop {
            let consumed = match self.consumer(jetstream, namespace).await {
                Ok(consumer) => consume(&consumer, self.concurrency, shutdown, &handle).await,
                Err(err) => Err(err),
            };
            match consumed {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(%err, queue = self.name, "consuming again");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RESTART_PAUSE) => {}
                    }
                }
            }
        }
    }
}

/// Pulls messages from `consumer` until `shutdown` and hands each to `handle` as a task of
/// its own, at most `concurrency` at once; then waits for the tasks in flight. Only as
/// many messages are pulled as there are free slots, so none waits in a local buffer while
/// its `ack_wait` runs out. If this future is dropped, the tasks are dropped with it and
/// their unacked messages come back to some worker. Fails with the NATS error that ended
/// the pulling.
pub async fn consume<H, F, T, E>(
    consumer: &PullConsumer,
    concurrency: usize,
    shutdown: &CancellationToken,
    handle: &H,
) -> Result<(), String>
where
    H: Fn(jetstream::Message) -> F,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Debug + Send + 'static,
    E: Display + Send + 'static,
{
    let mut in_flight = JoinSet::new();
    let result = 'pulling: loop {
        while let Some(done) = in_flight.try_join_next() {
            log_task(done);
        }
        let free = concurrency.saturating_sub(in_flight.len());
        if free == 0 {
            tokio::select! {
                () = shutdown.cancelled() => break 'pulling Ok(()),
                Some(done) = in_flight.join_next() => log_task(done),
            }
            continue;
        }
        let mut batch = match consumer
            .batch()
            .max_messages(free)
            .expires(PULL_WAIT)
            .messages()
            .await
        {
            Ok(batch) => batch,
            Err(err) => break Err(err.to_string()),
        };
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => break 'pulling Ok(()),
                next = batch.next() => next,
            };
            match next {
                None => break,
                Some(Ok(message)) => {
                    in_flight.spawn(handle(message));
                }
                Some(Err(err)) => break 'pulling Err(err.to_string()),
            }
        }
    };
    while let Some(done) = in_flight.join_next().await {
        log_task(done);
    }
    result
}

/// Runs `work`, telling JetStream every `every` (at least 100 ms) that `message` is still
/// being worked on, so it is redelivered only when its worker stopped beating.
pub async fn beating_progress<T>(
    message: &jetstream::Message,
    every: Duration,
    work: impl Future<Output = T>,
) -> T {
    let every = every.max(Duration::from_millis(100));
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tokio::pin!(work);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = beat.tick() => {
                message.ack_with(AckKind::Progress).await.ok();
            }
        }
    }
}

fn log_task<T: Debug, E: Display>(done: Result<Result<T, E>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(disposition)) => tracing::debug!(?disposition, "message handled"),
        Ok(Err(err)) => tracing::warn!(%err, "message not handled"),
        Err(err) => tracing::error!(%err, "message task failed"),
    }
}
