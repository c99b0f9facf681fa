//! The engine loop: one durable JetStream consumer, shared by every engine instance, over
//! every event of the namespace (NATS 2.9 honours one filter: the engine filters here).
//! Run events, and the outcomes of tool invocations made for a run, each advance that run;
//! every other event is acked and ignored.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use domain::agent::Agent;
use domain::run::{RUN_AGGREGATE_TYPE, Run};
use domain::tool::Tool;
use domain::tool_invocation::{TOOL_INVOCATION_AGGREGATE_TYPE, ToolInvocation};
use eventstore::work_queue::{self, WorkQueue};
use eventstore::{CachedSchemaCheck, CloudEvent, CommandBus, Namespace, RelayWaker};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::driver::{Advanced, Cause};
use crate::locks::RunLocks;
use crate::provider::Providers;
use crate::quota::QuotaGate;
use crate::{EngineConfig, EngineError, reaper};

/// The durable consumer every engine instance shares.
pub const CONSUMER: &str = "run_engine";
/// How long a message whose handling failed waits before it comes back.
const NAK_DELAY: Duration = Duration::from_secs(1);
/// The invocation events that end a call, which a waiting run reacts to.
const INVOCATION_OUTCOMES: &[&str] = &[
    "InvocationSucceeded",
    "InvocationFailed",
    "InvocationTimedOut",
];

/// Drives runs.
#[derive(Clone)]
pub struct Engine {
    pub(crate) runs: Arc<CommandBus<Run>>,
    pub(crate) agents: Arc<CommandBus<Agent>>,
    pub(crate) tools: Arc<CommandBus<Tool>>,
    pub(crate) invocations: Arc<CommandBus<ToolInvocation>>,
    pub(crate) pool: PgPool,
    jetstream: jetstream::Context,
    pub(crate) namespace: Namespace,
    pub(crate) providers: Providers,
    pub(crate) quota: Arc<dyn QuotaGate>,
    pub(crate) config: EngineConfig,
    pub(crate) locks: RunLocks,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("engine_id", &self.config.engine_id)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `pool`'s event store and the namespace's stream, calling models
    /// through `providers` and asking `quota` before each model call.
    pub fn new(
        pool: PgPool,
        jetstream: jetstream::Context,
        namespace: Namespace,
        waker: RelayWaker,
        providers: Providers,
        quota: Arc<dyn QuotaGate>,
        config: EngineConfig,
    ) -> Self {
        let schemas = CachedSchemaCheck::shared();
        Self {
            runs: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            agents: Arc::new(CommandBus::new(pool.clone(), (), waker.clone())),
            tools: Arc::new(CommandBus::new(
                pool.clone(),
                schemas.clone(),
                waker.clone(),
            )),
            invocations: Arc::new(CommandBus::new(pool.clone(), schemas, waker)),
            pool,
            jetstream,
            namespace,
            providers,
            quota,
            config,
            locks: RunLocks::default(),
        }
    }

    /// This engine's name, as recorded on the leases it takes.
    pub fn engine_id(&self) -> &str {
        &self.config.engine_id
    }

    /// Runs the consumer and the reaper until `shutdown`; after errors, backs off and
    /// consumes again.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), EngineError> {
        tracing::info!(engine = %self.config.engine_id, "engine starts");
        projections::runs::RunsProjection::new(self.pool.clone(), projections::runs::RunsModel)
            .ensure_tables()
            .await?;
        let reaper = reaper::Reaper::new(self.clone());
        let reaping = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { reaper.run(shutdown).await }
        });
        let _reaping = tokio_util::task::AbortOnDropHandle::new(reaping);
        self.queue()
            .run(&self.jetstream, &self.namespace, &shutdown, |message| {
                let engine = self.clone();
                async move { engine.process(message).await }
            })
            .await;
        Ok(())
    }

    /// The work queue every engine instance shares: every event of the namespace (one
    /// filter, NATS 2.9), of which the engine handles run events and invocation outcomes.
    pub fn queue(&self) -> WorkQueue {
        WorkQueue {
            name: CONSUMER,
            filter_subject: format!("{}.>", self.namespace.subject_prefix()),
            ack_wait: self.config.ack_wait,
            concurrency: self.config.concurrency,
        }
    }

    /// Handles one message: advances the run it concerns (beating progress meanwhile, so
    /// JetStream does not hand it to another engine), then acks it; on failure it is given
    /// back to be redelivered.
    pub async fn process(
        &self,
        message: jetstream::Message,
    ) -> Result<Option<Advanced>, EngineError> {
        let event = serde_json::from_slice::<CloudEvent>(&message.payload).ok();
        let target = match &event {
            Some(event) => self.run_of(event).await,
            None => Ok(None),
        };
        let result = match (target, &event) {
            (Ok(Some(run_id)), Some(event)) => {
                let cause = Cause {
                    event_id: event.id,
                    correlation_id: event
                        .correlationid
                        .as_deref()
                        .and_then(|id| id.parse().ok()),
                };
                let work = self.advance(run_id, cause);
                work_queue::beating_progress(&message, self.config.ack_wait / 3, work)
                    .await
                    .map(Some)
            }
            (Ok(_), _) => Ok(None),
            (Err(err), _) => Err(err),
        };
        match result {
            Ok(advanced) => {
                message.ack().await.map_err(EngineError::nats)?;
                Ok(advanced)
            }
            Err(err) => {
                tracing::warn!(%err, "run event given back for redelivery");
                message.ack_with(AckKind::Nak(Some(NAK_DELAY))).await.ok();
                Err(err)
            }
        }
    }

    /// The run an event concerns: its own run, or the run that made a finished invocation.
    async fn run_of(&self, event: &CloudEvent) -> Result<Option<Uuid>, EngineError> {
        if event.aggregatetype == RUN_AGGREGATE_TYPE {
            return Ok(event.aggregateid.parse().ok());
        }
        if event.aggregatetype != TOOL_INVOCATION_AGGREGATE_TYPE
            || !INVOCATION_OUTCOMES.contains(&event.short_type())
        {
            return Ok(None);
        }
        let (invocation, _) = self.invocations.load(&event.aggregateid).await?;
        Ok(invocation.request().and_then(|request| request.run_id))
    }
}
