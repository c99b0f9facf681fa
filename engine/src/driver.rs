//! Advancing one run: observe it (the aggregate and its tool invocations), let the plan
//! decide, act, and again, until the run stops, waits, or is another engine's. While the
//! engine works under a lease, a keeper extends the lease and stops the work the moment
//! the lease is lost.

use chrono::Utc;
use domain::run::{Run, RunCommand, RunError};
use domain::tool::ToolKind;
use domain::tool_invocation::ToolInvocationStatus;
use eventstore::{Alongside, CommandContext, CommandError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;

use crate::plan::{self, InvocationOutcome, Next, Outcomes};
use crate::{Engine, EngineError, leases};

/// Who acts for the engine, in the events' metadata.
pub const ACTOR: &str = "system:engine";
/// A run needs far fewer rounds than this between two events; more means a loop.
const MAX_ROUNDS: usize = 200;

/// The event that made the engine look at a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub event_id: Uuid,
    /// The correlation id the event carried, kept on every command it leads to.
    pub correlation_id: Option<Uuid>,
}

/// Where advancing a run left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    /// The run has stopped.
    Finished,
    /// The run waits for its tool calls or a person, and nobody holds its lease.
    Waiting,
    /// Another engine holds the lease.
    LeasedElsewhere,
    /// The lease was lost (expired and taken over) while this engine worked.
    LeaseLost,
}

/// Whether work may go on after a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Recorded {
    /// Recorded, or found recorded already, or overtaken: look at the run again.
    Done,
    /// The lease is not this engine's any more: stop.
    LeaseLost,
    /// The run refused it for another reason.
    Refused(RunError),
}

/// Extends a lease while work goes on under it, and says when it is lost.
struct LeaseKeeper {
    generation: u32,
    lost: CancellationToken,
    _beating: AbortOnDropHandle<()>,
}

impl Engine {
    /// Advances `run_id` as far as it can go now.
    #[tracing::instrument(skip_all, fields(%run_id, engine = %self.config.engine_id), err)]
    pub async fn advance(&self, run_id: Uuid, cause: Cause) -> Result<Advanced, EngineError> {
        let _alone = self.locks.lock(run_id).await;
        let mut keeper: Option<LeaseKeeper> = None;
        for _ in 0..MAX_ROUNDS {
            let (run, version) = self.runs.load(&run_id.to_string()).await?;
            let outcomes = self.observe(&run).await?;
            match plan::next(&run, &self.config.engine_id, &outcomes) {
                Next::Finished => {
                    if keeper.is_some() {
                        leases::forget_run(&self.pool, run_id).await?;
                    }
                    return Ok(Advanced::Finished);
                }
                Next::LeasedElsewhere => return Ok(Advanced::LeasedElsewhere),
                Next::Wait { held: None } => return Ok(Advanced::Waiting),
                Next::Wait {
                    held: Some(generation),
                } => {
                    keeper = None;
                    self.release(&run, generation, cause).await?;
                }
                Next::Acquire => {
                    if !self.acquire(&run, version, cause).await? {
                        return Ok(Advanced::LeasedElsewhere);
                    }
                }
                Next::Work { generation, work } => {
                    if keeper.as_ref().is_none_or(|k| k.generation != generation) {
                        keeper = Some(self.keep_lease(run_id, generation));
                    }
                    let lost = keeper.as_ref().map(|k| k.lost.clone()).unwrap_or_default();
                    let recorded = tokio::select! {
                        recorded = self.perform(&run, generation, work, cause) => recorded?,
                        () = lost.cancelled() => Recorded::LeaseLost,
                    };
                    if recorded == Recorded::LeaseLost {
                        tracing::info!(%run_id, generation, "lease lost; the run is left to its new holder");
                        return Ok(Advanced::LeaseLost);
                    }
                }
            }
        }
        Err(EngineError::Invalid(format!(
            "run {run_id} did not settle within {MAX_ROUNDS} rounds"
        )))
    }

    /// The outcomes of the invocations the plan needs to know about.
    async fn observe(&self, run: &Run) -> Result<Outcomes, EngineError> {
        let mut outcomes = Outcomes::new();
        for id in plan::invocations_to_observe(run) {
            let (invocation, _) = self.invocations.load(&id.to_string()).await?;
            let outcome = match invocation.status() {
                Some(ToolInvocationStatus::Succeeded) => {
                    let output = invocation.output().cloned().unwrap_or_default();
                    let records_memories = matches!(
                        invocation.kind(),
                        Some(ToolKind::Builtin { name }) if name == "memory.record"
                    );
                    let memory_id = records_memories
                        .then(|| output.get("memory_id")?.as_str()?.parse().ok())
                        .flatten();
                    InvocationOutcome::Succeeded { output, memory_id }
                }
                Some(ToolInvocationStatus::Failed) => InvocationOutcome::Failed(
                    invocation.error().unwrap_or("unknown error").to_owned(),
                ),
                Some(ToolInvocationStatus::TimedOut) => {
                    InvocationOutcome::TimedOut(invocation.timeout_ms().unwrap_or_default())
                }
                _ => continue,
            };
            outcomes.insert(id, outcome);
        }
        Ok(outcomes)
    }

    /// Takes the run's lease, writing its row in the same transaction; `false` when
    /// another engine holds it.
    async fn acquire(&self, run: &Run, version: u64, cause: Cause) -> Result<bool, EngineError> {
        let (run_id, tenant_id) = ids(run)?;
        let now = Utc::now();
        let lease_until = leases::lease_end(now, self.config.lease_duration);
        let mut context = self.context(run, cause);
        // The row names the generation the lease gets: the next one, if nothing changed.
        context.expected_version = Some(version);
        let row = Alongside::PutRunLease {
            run_id,
            engine_id: self.config.engine_id.clone(),
            lease_generation: run.lease_generation().saturating_add(1),
            lease_until,
        };
        let command = RunCommand::AcquireLease {
            tenant_id,
            engine_id: self.config.engine_id.clone(),
            lease_until,
            now,
        };
        let acquired = self
            .runs
            .execute_with(&run_id.to_string(), command, &context, vec![row])
            .await;
        match acquired {
            Err(CommandError::Rejected(RunError::LeaseHeld { .. })) => Ok(false),
            other => self.settled(other.map(|_| ())).map(|_| true),
        }
    }

    /// Gives the lease up (and deletes its row) while the run waits.
    async fn release(&self, run: &Run, generation: u32, cause: Cause) -> Result<(), EngineError> {
        let (run_id, tenant_id) = ids(run)?;
        let command = RunCommand::ReleaseLease {
            tenant_id,
            lease_generation: generation,
            now: Utc::now(),
        };
        let row = Alongside::DeleteRunLease {
            run_id,
            lease_generation: generation,
        };
        let released = self
            .runs
            .execute_with(
                &run_id.to_string(),
                command,
                &self.context(run, cause),
                vec![row],
            )
            .await;
        self.settled(released.map(|_| ())).map(|_| ())
    }

    /// Sends `command`, which records work under the lease.
    pub(crate) async fn record(
        &self,
        run: &Run,
        command: RunCommand,
        cause: Cause,
    ) -> Result<Recorded, EngineError> {
        let (run_id, _) = ids(run)?;
        let outcome = self
            .runs
            .execute(&run_id.to_string(), command, &self.context(run, cause))
            .await;
        self.settled(outcome.map(|_| ()))
    }

    /// What a command's outcome means for the work.
    fn settled(
        &self,
        outcome: Result<(), CommandError<RunError>>,
    ) -> Result<Recorded, EngineError> {
        match outcome {
            Ok(())
            | Err(CommandError::Conflict | CommandError::VersionMismatch { .. })
            | Err(CommandError::Rejected(
                RunError::AlreadyRecorded { .. }
                | RunError::AlreadyLeased { .. }
                | RunError::InvalidTransition { .. }
                | RunError::WrongStep { .. }
                | RunError::StepsPending { .. }
                | RunError::NotFound,
            )) => Ok(Recorded::Done),
            Err(CommandError::Rejected(
                RunError::StaleLease { .. } | RunError::LeaseHeld { .. },
            )) => Ok(Recorded::LeaseLost),
            Err(CommandError::Rejected(refused)) => Ok(Recorded::Refused(refused)),
            Err(CommandError::Store(err)) => Err(err.into()),
            Err(other) => Err(EngineError::Invalid(other.to_string())),
        }
    }

    /// The context of the engine's commands on `run`: correlated with the event that
    /// caused them (or with the run), caused by that event.
    pub(crate) fn context(&self, run: &Run, cause: Cause) -> CommandContext {
        let mut context =
            CommandContext::new(run.tenant_id().unwrap_or_default(), ACTOR, Utc::now());
        context.correlation_id = cause
            .correlation_id
            .or(run.id())
            .unwrap_or(context.correlation_id);
        context.causation_id = cause.event_id;
        context
    }

    /// Starts extending lease `generation` of `run_id` now and every heartbeat period.
    fn keep_lease(&self, run_id: Uuid, generation: u32) -> LeaseKeeper {
        let lost = CancellationToken::new();
        let (pool, engine_id, config) = (
            self.pool.clone(),
            self.config.engine_id.clone(),
            self.config.clone(),
        );
        let signal = lost.clone();
        let beating = tokio::spawn(async move {
            let mut beat = tokio::time::interval(config.heartbeat_every);
            loop {
                beat.tick().await;
                let until = leases::lease_end(Utc::now(), config.lease_duration);
                match leases::extend(&pool, run_id, generation, &engine_id, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        signal.cancel();
                        return;
                    }
                    // The lease may still be there; the next beat tries again.
                    Err(err) => tracing::warn!(%run_id, %err, "lease not extended"),
                }
            }
        });
        LeaseKeeper {
            generation,
            lost,
            _beating: AbortOnDropHandle::new(beating),
        }
    }
}

/// The run's id and tenant.
pub(crate) fn ids(run: &Run) -> Result<(Uuid, Uuid), EngineError> {
    run.id()
        .zip(run.tenant_id())
        .ok_or_else(|| EngineError::Invalid("a run without an id".to_owned()))
}
