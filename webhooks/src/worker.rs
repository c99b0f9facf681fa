//! The `webhook-worker` role: the outbox projection (one durable consumer over every
//! event) and the dispatcher, each leading through its own Postgres lock, so that any
//! number of worker processes may run.

use std::sync::Arc;

use async_nats::jetstream;
use domain::webhook::WebhookSubscription;
use eventstore::{CommandBus, Namespace};
use projections::{ProjectionRunner, RunnerConfig};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{DeliverySettings, Dispatcher, WebhookError, WebhookOutbox, WebhookOutboxProjection};

/// Everything the worker role runs.
pub struct WebhookWorker {
    pub outbox: ProjectionRunner<WebhookOutboxProjection>,
    pub dispatcher: Dispatcher,
    tables: Arc<WebhookOutboxProjection>,
}

impl WebhookWorker {
    /// The worker over `pool`'s store and the namespace's stream.
    pub fn new(
        pool: PgPool,
        jetstream: jetstream::Context,
        namespace: Namespace,
        subscriptions: Arc<CommandBus<WebhookSubscription>>,
        settings: DeliverySettings,
    ) -> Result<Self, WebhookError> {
        let dispatcher = Dispatcher::new(pool.clone(), subscriptions, settings, &namespace)?;
        let tables = Arc::new(WebhookOutboxProjection::new(pool.clone(), WebhookOutbox));
        let outbox = ProjectionRunner::new(
            tables.clone(),
            jetstream,
            namespace,
            RunnerConfig::default(),
        )
        .with_leader_lock(pool);
        Ok(Self {
            outbox,
            dispatcher,
            tables,
        })
    }

    /// Runs the outbox and the dispatcher until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), WebhookError> {
        // The dispatcher reads the outbox's table of subscriptions from its first batch on.
        self.tables.ensure_tables().await?;
        let (outbox, dispatched) = tokio::join!(
            self.outbox.run(shutdown.clone()),
            self.dispatcher.run(shutdown)
        );
        outbox?;
        dispatched
    }
}
