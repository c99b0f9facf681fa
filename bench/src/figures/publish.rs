//! Raw pipelined JetStream publishing against the relay draining a backlog.

use std::future::IntoFuture;
use std::time::Instant;

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use eventstore::relay::{POSITION_HEADER, TRANSACTION_ID_HEADER, ensure_stream};
use eventstore::{CloudEvent, Namespace, Relay, StoredEvent};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sqlx::PgPool;
use uuid::Uuid;

use crate::rows::agent_event;

/// As many acks in flight as the relay has in one batch.
pub const PUBLISH_WINDOW: usize = 1_000;

/// A message as the relay sends it, minus the per-message id.
struct Prepared {
    subject: String,
    body: Bytes,
    transaction_id: String,
    position: String,
}

/// Messages of the relay's size and headers, built from real agent events.
fn prepare(namespace: &Namespace, distinct: usize) -> anyhow::Result<Vec<Prepared>> {
    let tenant_id = Uuid::now_v7();
    (0..distinct)
        .map(|n| {
            let row = agent_event(tenant_id, Uuid::now_v7(), 1 + (n % 10) as i64);
            let stored = StoredEvent {
                transaction_id: 1_000 + n as i64,
                position: n as i64 + 1,
                event_id: row.event_id,
                tenant_id,
                aggregate_type: "agent".to_owned(),
                aggregate_id: row.aggregate_id.to_string(),
                sequence: row.sequence,
                event_type: row.event_type.to_owned(),
                event_version: "1".to_owned(),
                payload: row.payload,
                metadata: row.metadata,
                occurred_at: row.occurred_at,
            };
            Ok(Prepared {
                subject: namespace.event_subject(
                    &tenant_id.to_string(),
                    "agent",
                    &stored.aggregate_id,
                ),
                body: serde_json::to_vec(&CloudEvent::from_stored(&stored)?)?.into(),
                transaction_id: stored.transaction_id.to_string(),
                position: stored.position.to_string(),
            })
        })
        .collect()
}

/// Publishes `count` messages into a stream with the relay's settings, keeping
/// [`PUBLISH_WINDOW`] acks in flight; messages per second. The stream is deleted after.
pub async fn raw_publish(
    jetstream: &jetstream::Context,
    namespace: &Namespace,
    count: usize,
) -> anyhow::Result<f64> {
    ensure_stream(jetstream, namespace).await?;
    let messages = prepare(namespace, 10_000.min(count))?;
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for n in 0..count {
        let prepared = &messages[n % messages.len()];
        let message = PublishMessage::build()
            .payload(prepared.body.clone())
            .message_id(Uuid::now_v7().to_string())
            .header("Content-Type", "application/cloudevents+json")
            .header(TRANSACTION_ID_HEADER, prepared.transaction_id.as_str())
            .header(POSITION_HEADER, prepared.position.as_str());
        let ack = jetstream
            .send_publish(prepared.subject.clone(), message)
            .await?;
        in_flight.push(ack.into_future());
        if in_flight.len() >= PUBLISH_WINDOW
            && let Some(ack) = in_flight.next().await
        {
            ack?;
        }
    }
    while let Some(ack) = in_flight.next().await {
        ack?;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    jetstream.delete_stream(namespace.stream()).await.ok();
    Ok(rate)
}

/// The relay as the platform runs it, from its first event to the last of `backlog`
/// stored events, into a fresh stream (deleted after); events per second.
pub async fn relay_backlog(
    pool: &PgPool,
    jetstream: &jetstream::Context,
    namespace: &Namespace,
    backlog: usize,
) -> anyhow::Result<f64> {
    let relay = Relay::new(pool.clone(), jetstream.clone(), namespace.clone());
    let mut active = relay
        .try_acquire()
        .await?
        .ok_or_else(|| anyhow::anyhow!("another relay holds the lock"))?;
    let started = Instant::now();
    let mut published = 0;
    while published < backlog {
        let outcome = active.process_batch().await?;
        anyhow::ensure!(
            outcome.published > 0,
            "relay stopped at {published} of {backlog}"
        );
        published += outcome.published;
    }
    let rate = published as f64 / started.elapsed().as_secs_f64();
    drop(active);
    jetstream.delete_stream(namespace.stream()).await.ok();
    Ok(rate)
}
