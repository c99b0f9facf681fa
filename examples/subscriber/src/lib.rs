//! How an external system subscribes to AgentOS events over NATS JetStream: a durable
//! pull consumer on one tenant's subjects, explicit acks, one message in flight (so the
//! order survives redeliveries), and an effect log that doubles as the checkpoint, so
//! that an event redelivered after a crash is recognised and handled only once.
//!
//! Depends on nothing from AgentOS: events are CloudEvents 1.0 JSON, read as plain JSON.

mod effects;
mod settings;

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use futures::StreamExt;
use serde_json::Value;

pub use effects::EffectLog;
pub use settings::Settings;

/// Any failure of the subscriber.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Events handled for the first time.
    pub handled: u64,
    /// Redelivered events that had been handled before (only acknowledged).
    pub skipped: u64,
}

/// Consumes the tenant's events until `stop` completes (or the crash point of the
/// settings is reached, which exits the process).
pub async fn run(settings: &Settings, stop: impl Future<Output = ()>) -> Result<RunReport, Error> {
    let client = async_nats::connect(&settings.nats_url).await?;
    let jetstream = jetstream::new(client);
    let stream = jetstream.get_stream(&settings.stream).await?;
    // The consumer lives on the server under its durable name: a restarted subscriber
    // gets the same consumer back and continues after the last acknowledged event.
    let consumer = stream
        .get_or_create_consumer(
            &settings.durable,
            pull::Config {
                durable_name: Some(settings.durable.clone()),
                filter_subject: settings.filter_subject.clone(),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: settings.ack_wait,
                // One unacknowledged message at a time: a message that is redelivered
                // after a crash comes before any later one, so events stay in order.
                max_ack_pending: 1,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer
        .stream()
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await?;
    let mut effects = EffectLog::open(&settings.output)?;
    let mut report = RunReport::default();
    tokio::pin!(stop);
    loop {
        let message = tokio::select! {
            () = &mut stop => return Ok(report),
            next = messages.next() => match next {
                Some(message) => message?,
                None => return Ok(report),
            },
        };
        let sequence = message.info()?.stream_sequence;
        if effects.handled(sequence) {
            // Handled before the last crash, which came before its ack.
            println!("{sequence} already handled; acknowledging it again");
            report.skipped += 1;
        } else {
            let event: Value = serde_json::from_slice(&message.payload)?;
            handle(sequence, &event);
            effects.record(sequence, &event)?;
            report.handled += 1;
            if settings.crash_after == Some(report.handled) {
                // For demonstrations: die at the worst moment, after the effect and
                // before the ack.
                eprintln!(
                    "crashing after {} events, before acknowledging {sequence}",
                    report.handled
                );
                std::process::exit(3);
            }
        }
        message.ack().await?;
    }
}

/// What this subscriber does with an event: print it. Put your own logic here.
fn handle(sequence: u64, event: &Value) {
    let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or("?");
    println!(
        "{sequence} {} {} {}",
        field("type"),
        field("subject"),
        field("id")
    );
}
