//! The executor loop: one durable JetStream consumer of invocation events, shared by every
//! executor instance, and each requested call carried out as its own task.
//!
//! Safety comes from the invocation aggregate, not from exclusive consumption: a call is
//! started with the attempt after the latest one (two executors racing for it conflict, and
//! one gives up), it is acked only once its outcome is stored, and the aggregate accepts one
//! outcome only. A crash mid-call leaves the message unacked; JetStream redelivers it after
//! `ack_wait` and another executor starts the next attempt.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use domain::tool_invocation::{
    TOOL_INVOCATION_AGGREGATE_TYPE, ToolInvocation, ToolInvocationStatus,
};
use eventstore::work_queue::{self, WorkQueue};
use eventstore::{CachedSchemaCheck, CloudEvent, CommandBus, Namespace, RelayWaker};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::builtins::BuiltinTools;
use crate::http::HttpCaller;
use crate::{ExecutorConfig, ExecutorError};

/// The durable consumer every executor instance shares.
pub const CONSUMER: &str = "tool_executor";
/// How long a message whose handling failed waits before it comes back.
const NAK_DELAY: Duration = Duration::from_secs(1);

/// What handling one message came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Not a request for a call (another invocation event): nothing to do.
    Ignored,
    /// The call already had its outcome (recorded by another executor, perhaps just now).
    AlreadyFinished,
    /// Another executor started a later attempt first. The message is left to it: it acks
    /// once the outcome is stored, and should it die first, JetStream redelivers.
    TakenElsewhere,
    /// This executor carried the call out and stored this outcome.
    Finished(ToolInvocationStatus),
}

/// Carries out requested tool invocations.
#[derive(Clone)]
pub struct Executor {
    pub(crate) invocations: Arc<CommandBus<ToolInvocation>>,
    jetstream: jetstream::Context,
    namespace: Namespace,
    pub(crate) http: HttpCaller,
    pub(crate) builtins: Arc<dyn BuiltinTools>,
    pub(crate) config: ExecutorConfig,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("instance", &self.config.instance)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor over `pool`'s event store and the namespace's stream.
    pub fn new(
        pool: PgPool,
        jetstream: jetstream::Context,
        namespace: Namespace,
        waker: RelayWaker,
        builtins: Arc<dyn BuiltinTools>,
        config: ExecutorConfig,
    ) -> Result<Self, ExecutorError> {
        let http = HttpCaller::new(config.clone()).map_err(ExecutorError::nats)?;
        Ok(Self {
            invocations: Arc::new(CommandBus::new(pool, CachedSchemaCheck::shared(), waker)),
            jetstream,
            namespace,
            http,
            builtins,
            config,
        })
    }

    /// This executor's name, as recorded on the attempts it starts.
    pub fn instance(&self) -> &str {
        &self.config.instance
    }

    /// Runs until `shutdown`, then waits for the calls in flight; after errors, backs off
    /// and consumes again.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ExecutorError> {
        tracing::info!(instance = %self.config.instance, "tool executor starts");
        self.queue()
            .run(&self.jetstream, &self.namespace, &shutdown, |message| {
                let executor = self.clone();
                async move { executor.process(message).await }
            })
            .await;
        Ok(())
    }

    /// The work queue every executor instance shares: invocation events. Changing
    /// `ack_wait` replaces its consumer, and every invocation is looked at once more.
    pub fn queue(&self) -> WorkQueue {
        WorkQueue {
            name: CONSUMER,
            filter_subject: self
                .namespace
                .aggregate_type_filter(TOOL_INVOCATION_AGGREGATE_TYPE),
            ack_wait: self.config.ack_wait,
            concurrency: self.config.concurrency,
        }
    }

    /// Handles one message: carries out the call it requests (beating progress meanwhile,
    /// so JetStream does not hand it to another executor), then acks it once the outcome is
    /// stored or the call is found finished. On failure it is given back to be redelivered.
    pub async fn process(&self, message: jetstream::Message) -> Result<Disposition, ExecutorError> {
        let request = serde_json::from_slice::<CloudEvent>(&message.payload)
            .ok()
            .filter(|event| {
                event.aggregatetype == TOOL_INVOCATION_AGGREGATE_TYPE
                    && event.short_type() == "InvocationRequested"
            });
        let Some(event) = request else {
            message.ack().await.map_err(ExecutorError::nats)?;
            return Ok(Disposition::Ignored);
        };
        let Ok(invocation_id) = Uuid::parse_str(&event.aggregateid) else {
            tracing::error!(aggregate_id = %event.aggregateid, "invocation id is not a UUID");
            message
                .ack_with(AckKind::Term)
                .await
                .map_err(ExecutorError::nats)?;
            return Ok(Disposition::Ignored);
        };
        let work = self.execute(invocation_id, &event);
        let result = work_queue::beating_progress(&message, self.config.ack_wait / 3, work).await;
        match result {
            // Two deliveries of one message overlap only when JetStream redelivered it while
            // the first was still being handled; the message (not the delivery) is acked, so
            // acking here could settle it for an executor that then dies mid-call.
            Ok(Disposition::TakenElsewhere) => Ok(Disposition::TakenElsewhere),
            Ok(disposition) => {
                message.ack().await.map_err(ExecutorError::nats)?;
                Ok(disposition)
            }
            Err(err) => {
                tracing::warn!(%invocation_id, %err, "tool invocation given back for redelivery");
                message.ack_with(AckKind::Nak(Some(NAK_DELAY))).await.ok();
                Err(err)
            }
        }
    }
}
