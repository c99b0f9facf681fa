//! Which events each command causes, decided without changing the run: starting, leases
//! and the commands that stop a run. The steps themselves are decided in `work`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::validation::{
    collect_actor_violations, collect_error_violations, collect_reason_violations,
    collect_start_violations, into_result,
};
use super::{
    AgentFacts, MAX_LEASE_EXPIRATIONS, Message, Run, RunCancelled, RunCommand, RunError, RunEvent,
    RunFailed, RunLeaseAcquired, RunLeaseExpired, RunLeaseReleased, RunStarted, RunStatus,
    RunTimedOut, StopReason,
};
use crate::FieldError;
use crate::agent::AgentStatus;

impl Run {
    /// The events a command causes. Every command but `StartRun` first needs the tenant's
    /// run, not stopped yet, and (for work an engine records) the lease in force.
    pub(super) fn decide(&self, command: RunCommand) -> Result<Vec<RunEvent>, RunError> {
        if let RunCommand::StartRun {
            tenant_id,
            run_id,
            agent_id,
            agent,
            input,
            max_steps,
            budget_micros,
            idempotency_key,
            now,
        } = command
        {
            let start = RunStart {
                tenant_id,
                run_id,
                agent_id,
                agent,
                input,
                max_steps,
                budget_micros,
                idempotency_key,
            };
            return self.start(start, now).map(|event| vec![event]);
        }
        let status = self.owned_by(command.tenant_id())?;
        if status.is_terminal() {
            return Err(RunError::InvalidTransition {
                action: command.action(),
                status,
            });
        }
        if let Some(generation) = command.lease_generation() {
            self.require_lease(generation)?;
        }
        self.decide_active(command, status)
    }

    fn decide_active(
        &self,
        command: RunCommand,
        status: RunStatus,
    ) -> Result<Vec<RunEvent>, RunError> {
        let action = command.action();
        match command {
            // `decide` answers every start before it gets here; a start of an existing run
            // would be this.
            RunCommand::StartRun { .. } => Err(RunError::AlreadyExists),
            RunCommand::AcquireLease {
                engine_id,
                lease_until,
                now,
                ..
            } => self.acquire_lease(engine_id, lease_until, now),
            RunCommand::ReleaseLease {
                lease_generation,
                now,
                ..
            } => self.release_lease(lease_generation, now),
            RunCommand::ExpireLease {
                lease_generation,
                lease_until,
                now,
                ..
            } => self.expire_lease(lease_generation, lease_until, now),
            RunCommand::BeginModelCall {
                step,
                estimated_cost_micros,
                agent_status,
                quota_exceeded,
                now,
                ..
            } => self.begin_model_call(
                (action, status),
                step,
                estimated_cost_micros,
                agent_status,
                quota_exceeded,
                now,
            ),
            RunCommand::CompleteModelCall {
                step,
                output,
                approval_required,
                usage,
                latency_ms,
                cost_micros,
                now,
                ..
            } => self.complete_model_call(
                step,
                output,
                &approval_required,
                (usage, latency_ms, cost_micros),
                now,
            ),
            RunCommand::FailModelCall {
                step, error, now, ..
            } => self.fail_model_call(step, error, now),
            RunCommand::RecordToolInvocation {
                step,
                tool_call_id,
                invocation_id,
                now,
                ..
            } => self.record_tool_invocation(step, tool_call_id, invocation_id, now),
            RunCommand::CompleteToolCall {
                step,
                tool_call_id,
                output,
                now,
                ..
            } => self.complete_tool_call(step, tool_call_id, output, now),
            RunCommand::FailToolCall {
                step,
                tool_call_id,
                error,
                now,
                ..
            } => self.fail_tool_call(step, tool_call_id, error, now),
            RunCommand::ApproveToolCall {
                tool_call_id,
                approved,
                approver,
                reason,
                now,
                ..
            } => self.decide_on_tool_call(tool_call_id, approved, approver, reason, now),
            RunCommand::RecordMemoryWrite {
                step,
                memory_id,
                tool_call_id,
                now,
                ..
            } => self.record_memory_write(step, memory_id, tool_call_id, now),
            RunCommand::CancelRun {
                by, reason, now, ..
            } => {
                let mut errors = Vec::new();
                collect_actor_violations(&mut errors, "by", &by);
                collect_reason_violations(&mut errors, reason.as_deref());
                into_result(errors)?;
                Ok(vec![cancelled(by, reason, now)])
            }
            RunCommand::FailRun { error, now, .. } => {
                let mut errors = Vec::new();
                collect_error_violations(&mut errors, &error);
                into_result(errors)?;
                Ok(vec![failed(error, now)])
            }
            RunCommand::TimeOutRun {
                timeout_ms, now, ..
            } => Ok(vec![RunEvent::RunTimedOut(RunTimedOut {
                stop_reason: StopReason::Error,
                timeout_ms,
                timed_out_at: now,
            })]),
        }
    }

    fn start(&self, start: RunStart, now: DateTime<Utc>) -> Result<RunEvent, RunError> {
        if self.exists() {
            return Err(RunError::AlreadyExists);
        }
        if start.agent.status != AgentStatus::Active {
            return Err(RunError::AgentNotActive {
                status: start.agent.status,
            });
        }
        let mut errors = Vec::new();
        collect_start_violations(
            &mut errors,
            &start.input,
            start.max_steps,
            start.budget_micros,
            start.idempotency_key.as_deref(),
        );
        into_result(errors)?;
        Ok(RunEvent::RunStarted(RunStarted {
            run_id: start.run_id,
            tenant_id: start.tenant_id,
            agent_id: start.agent_id,
            agent_config_version: start.agent.config_version,
            model: start.agent.model,
            system_prompt: start.agent.system_prompt,
            tool_ids: start.agent.tool_ids,
            input: start.input,
            max_steps: start.max_steps,
            budget_micros: start.budget_micros,
            idempotency_key: start.idempotency_key,
            created_at: now,
        }))
    }

    fn acquire_lease(
        &self,
        engine_id: String,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        if let Some(lease) = &self.lease {
            return Err(if lease.engine_id == engine_id {
                RunError::AlreadyLeased {
                    lease_generation: lease.lease_generation,
                }
            } else {
                RunError::LeaseHeld {
                    engine_id: lease.engine_id.clone(),
                    lease_generation: lease.lease_generation,
                }
            });
        }
        let mut errors = Vec::new();
        collect_actor_violations(&mut errors, "engine_id", &engine_id);
        if lease_until <= now {
            errors.push(FieldError::new("lease_until", "must be after now"));
        }
        into_result(errors)?;
        Ok(vec![RunEvent::RunLeaseAcquired(RunLeaseAcquired {
            engine_id,
            lease_generation: self.lease_generation.saturating_add(1),
            lease_until,
            acquired_at: now,
        })])
    }

    fn release_lease(
        &self,
        lease_generation: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        let lease = self.require_lease(lease_generation)?;
        Ok(vec![RunEvent::RunLeaseReleased(RunLeaseReleased {
            engine_id: lease.engine_id.clone(),
            lease_generation,
            released_at: now,
        })])
    }

    /// Frees a lease that ran out. Heartbeats only ever extend a lease, so it ran out when
    /// both its end as taken and its end as last extended are past.
    fn expire_lease(
        &self,
        lease_generation: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        let lease = self.require_lease(lease_generation)?;
        let lease_until = lease_until.max(lease.lease_until);
        if lease_until >= now {
            return Err(RunError::LeaseNotExpired { lease_until });
        }
        let expirations = self.lease_expirations.saturating_add(1);
        let mut events = vec![RunEvent::RunLeaseExpired(RunLeaseExpired {
            engine_id: lease.engine_id.clone(),
            lease_generation,
            lease_until,
            expirations,
            expired_at: now,
        })];
        if expirations >= MAX_LEASE_EXPIRATIONS {
            let error = format!("the run's engine lease expired {expirations} times");
            events.push(failed(error, now));
        }
        Ok(events)
    }

    /// The run's status if it exists and belongs to `tenant_id`. Another tenant's run is
    /// reported exactly like a missing one.
    fn owned_by(&self, tenant_id: Uuid) -> Result<RunStatus, RunError> {
        match (self.tenant_id, self.status) {
            (Some(owner), Some(status)) if owner == tenant_id => Ok(status),
            _ => Err(RunError::NotFound),
        }
    }

    /// The lease in force, if its generation is `lease_generation`.
    fn require_lease(&self, lease_generation: u32) -> Result<&super::Lease, RunError> {
        match &self.lease {
            Some(lease) if lease.lease_generation == lease_generation => Ok(lease),
            other => Err(RunError::StaleLease {
                lease_generation,
                current: other.as_ref().map(|lease| lease.lease_generation),
            }),
        }
    }

    /// The run's result when a stop rule ends it: the model's last answer, if any.
    pub(super) fn completed(
        &self,
        stop_reason: StopReason,
        output: Option<Message>,
        now: DateTime<Utc>,
    ) -> RunEvent {
        RunEvent::RunCompleted(super::RunCompleted {
            stop_reason,
            output: output.or_else(|| self.last_answer().cloned()),
            completed_at: now,
        })
    }
}

/// The facts `StartRun` carries, gathered to keep argument lists short.
struct RunStart {
    tenant_id: Uuid,
    run_id: Uuid,
    agent_id: Uuid,
    agent: AgentFacts,
    input: Vec<Message>,
    max_steps: u32,
    budget_micros: i64,
    idempotency_key: Option<String>,
}

pub(super) fn cancelled(by: String, reason: Option<String>, now: DateTime<Utc>) -> RunEvent {
    RunEvent::RunCancelled(RunCancelled {
        stop_reason: StopReason::Cancelled,
        by,
        reason,
        cancelled_at: now,
    })
}

fn failed(error: String, now: DateTime<Utc>) -> RunEvent {
    RunEvent::RunFailed(RunFailed {
        stop_reason: StopReason::Error,
        error,
        failed_at: now,
    })
}
