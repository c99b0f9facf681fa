//! The reaper: one engine instance at a time (a Postgres advisory lock) looks, every
//! heartbeat period, for leases that ran out — their engine died or lost touch — and
//! expires them on the run, which frees the run for any engine (the `RunLeaseExpired` event
//! reaches one, which takes the lease and resumes; the third expiration fails the run).
//! It also times out runs that have gone on for longer than the run timeout.

use chrono::Utc;
use domain::run::{RunCommand, RunError};
use eventstore::leader::LeaderLock;
use eventstore::{Alongside, CommandContext, CommandError};
use tokio_util::sync::CancellationToken;

use crate::leases::{self, ExpiredLease};
use crate::{Engine, EngineError};

/// Who expires leases and times runs out, in the events' metadata.
pub const ACTOR: &str = "system:reaper";
/// Most leases (and runs) handled per pass.
const BATCH: i64 = 100;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Leases expired on their runs.
    pub expired: usize,
    /// Runs timed out.
    pub timed_out: usize,
}

/// Expires leases that ran out and times out runs that went on too long.
#[derive(Debug, Clone)]
pub struct Reaper {
    engine: Engine,
}

impl Reaper {
    /// The reaper of `engine`'s store and namespace.
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }

    /// The name of the reaper's leader lock.
    pub fn lock_name(&self) -> String {
        format!("agentos.engine.reaper:{}", self.engine.namespace.stream())
    }

    /// Reaps every heartbeat period while it leads, until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        let every = self.engine.config.heartbeat_every;
        let lock_name = self.lock_name();
        loop {
            let acquired = tokio::select! {
                () = shutdown.cancelled() => return,
                lock = LeaderLock::acquire(&self.engine.pool, &lock_name) => lock,
            };
            let mut lock = match acquired {
                Ok(lock) => lock,
                Err(err) => {
                    tracing::warn!(%err, "reaper could not wait for its lock");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(every) => continue,
                    }
                }
            };
            let mut pass = tokio::time::interval(every);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        lock.release().await;
                        return;
                    }
                    _ = pass.tick() => {}
                }
                if let Err(err) = lock.confirm().await {
                    tracing::warn!(%err, "reaper lost its lock");
                    break;
                }
                match self.reap_once().await {
                    Ok(reaped) if reaped != Reaped::default() => tracing::info!(?reaped, "reaped"),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "reaper pass failed"),
                }
            }
        }
    }

    /// One pass: expires the leases that ran out, then times out runs past the run timeout.
    pub async fn reap_once(&self) -> Result<Reaped, EngineError> {
        let now = Utc::now();
        let mut reaped = Reaped::default();
        for lease in leases::claim_expired(&self.engine.pool, now, BATCH).await? {
            if self.expire(&lease).await? {
                reaped.expired += 1;
            }
        }
        let timeout = self.engine.config.run_timeout;
        let started_before = now - chrono::Duration::from_std(timeout).unwrap_or_default();
        let overdue =
            projections::runs::unfinished_runs_before(&self.engine.pool, started_before, BATCH)
                .await?;
        for (tenant_id, run_id) in overdue {
            let command = RunCommand::TimeOutRun {
                tenant_id,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                now,
            };
            let context = CommandContext::new(tenant_id, ACTOR, now);
            match self
                .engine
                .runs
                .execute(&run_id.to_string(), command, &context)
                .await
            {
                Ok(_) => reaped.timed_out += 1,
                // Stopped already: the read model had not caught up.
                Err(CommandError::Rejected(_) | CommandError::Conflict) => {}
                Err(err) => return Err(EngineError::Invalid(err.to_string())),
            }
        }
        Ok(reaped)
    }

    /// Expires `lease` on its run, deleting its row in the same transaction; a lease the
    /// run no longer holds only loses its row.
    async fn expire(&self, lease: &ExpiredLease) -> Result<bool, EngineError> {
        let generation = u32::try_from(lease.lease_generation).unwrap_or_default();
        let now = Utc::now();
        let command = RunCommand::ExpireLease {
            tenant_id: lease.tenant_id,
            lease_generation: generation,
            lease_until: lease.lease_until,
            now,
        };
        let row = Alongside::DeleteRunLease {
            run_id: lease.run_id,
            lease_generation: generation,
        };
        let context = CommandContext::new(lease.tenant_id, ACTOR, now);
        let expired = self
            .engine
            .runs
            .execute_with(&lease.run_id.to_string(), command, &context, vec![row])
            .await;
        match expired {
            Ok(_) => Ok(true),
            // A clock ahead of ours took it: the next pass tries again.
            Err(
                CommandError::Rejected(RunError::LeaseNotExpired { .. }) | CommandError::Conflict,
            ) => Ok(false),
            Err(CommandError::Rejected(_)) => {
                leases::forget(&self.engine.pool, lease.run_id, generation).await?;
                Ok(false)
            }
            Err(CommandError::Store(err)) => Err(err.into()),
            Err(err) => Err(EngineError::Invalid(err.to_string())),
        }
    }
}
