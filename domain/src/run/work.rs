//! Which events the steps' commands cause: model calls, tool calls, approvals and memory
//! writes. Each rejects a repeat as `AlreadyRecorded`, so an engine can resend any of them.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::decide::cancelled;
use super::validation::{
    collect_actor_violations, collect_error_violations, collect_json_violations,
    collect_micros_violations, collect_output_violations, collect_reason_violations,
    collect_tool_call_id_violations, into_result,
};
use super::{
    CANCELLED_BY_AGENT_ARCHIVED, CANCELLED_BY_AGENT_PAUSED, MemoryWriteRecorded, Message,
    ModelCallCompleted, ModelCallFailed, ModelCallStarted, ModelUsage, Run, RunError, RunEvent,
    RunStatus, Step, StepKind, StopReason, ToolCallApproved, ToolCallCompleted, ToolCallFailed,
    ToolCallRejected, ToolCallRequested, ToolCallStep, ToolInvocationRecorded,
};
use crate::FieldError;
use crate::agent::AgentStatus;

impl Run {
    /// Begins a model call, or stops the run instead when a stop rule says so.
    pub(super) fn begin_model_call(
        &self,
        (action, status): (&'static str, RunStatus),
        step: u32,
        estimated_cost_micros: i64,
        agent_status: AgentStatus,
        quota_exceeded: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        if self
            .step(step)
            .is_some_and(|s| s.kind() == StepKind::ModelCall)
        {
            return Err(RunError::AlreadyRecorded { step });
        }
        if status != RunStatus::Running {
            return Err(RunError::InvalidTransition { action, status });
        }
        let pending: Vec<u32> = self.pending_steps().map(|s| s.number).collect();
        if !pending.is_empty() {
            return Err(RunError::StepsPending { steps: pending });
        }
        self.require_next_step(step)?;
        let mut errors = Vec::new();
        collect_micros_violations(
            &mut errors,
            "estimated_cost_micros",
            estimated_cost_micros,
            0,
        );
        into_result(errors)?;

        let cancelled_by = match agent_status {
            AgentStatus::Active => None,
            AgentStatus::Paused => Some((CANCELLED_BY_AGENT_PAUSED, "the agent is paused")),
            AgentStatus::Archived => Some((CANCELLED_BY_AGENT_ARCHIVED, "the agent is archived")),
        };
        if let Some((by, reason)) = cancelled_by {
            return Ok(vec![cancelled(by.to_owned(), Some(reason.to_owned()), now)]);
        }
        let stop = if quota_exceeded {
            Some(StopReason::QuotaExceeded)
        } else if step > self.max_steps {
            Some(StopReason::MaxSteps)
        } else if self.spent_micros.saturating_add(estimated_cost_micros) > self.budget_micros {
            Some(StopReason::BudgetExhausted)
        } else {
            None
        };
        if let Some(stop_reason) = stop {
            return Ok(vec![self.completed(stop_reason, None, now)]);
        }
        Ok(vec![RunEvent::ModelCallStarted(ModelCallStarted {
            step,
            messages_in: u32::try_from(self.conversation.len()).unwrap_or(u32::MAX),
            estimated_cost_micros,
            started_at: now,
        })])
    }

    /// Records the model's answer, then asks for its tool calls as the next steps, or ends
    /// the run: the model's turn is over without tool calls, and tool calls that would go
    /// past `max_steps` are not carried out.
    pub(super) fn complete_model_call(
        &self,
        step: u32,
        output: Message,
        approval_required: &[String],
        (usage, latency_ms, cost_micros): (ModelUsage, u64, i64),
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        self.pending_step(step, StepKind::ModelCall)?;
        let mut errors = Vec::new();
        collect_output_violations(&mut errors, &output, approval_required, &self.tool_ids);
        collect_micros_violations(&mut errors, "cost_micros", cost_micros, 0);
        into_result(errors)?;

        let first_tool_step = self.next_step();
        let calls = u32::try_from(output.tool_calls.len()).unwrap_or(u32::MAX);
        let last_tool_step = u64::from(first_tool_step) + u64::from(calls) - 1;
        let requests: Vec<RunEvent> = output
            .tool_calls
            .iter()
            .zip(first_tool_step..)
            .map(|(call, tool_step)| {
                RunEvent::ToolCallRequested(ToolCallRequested {
                    step: tool_step,
                    model_call_step: step,
                    tool_call_id: call.tool_call_id.clone(),
                    tool_id: call.tool_id,
                    tool_name: call.tool_name.clone(),
                    arguments: call.arguments.clone(),
                    requires_approval: approval_required.contains(&call.tool_call_id),
                    requested_at: now,
                })
            })
            .collect();
        let stop = if requests.is_empty() {
            Some(StopReason::EndTurn)
        } else if last_tool_step > u64::from(self.max_steps) {
            Some(StopReason::MaxSteps)
        } else {
            None
        };
        let mut events = vec![RunEvent::ModelCallCompleted(ModelCallCompleted {
            step,
            output: output.clone(),
            usage,
            latency_ms,
            cost_micros,
            spent_micros: self.spent_micros.saturating_add(cost_micros),
            completed_at: now,
        })];
        match stop {
            Some(stop_reason) => events.push(self.completed(stop_reason, Some(output), now)),
            None => events.extend(requests),
        }
        Ok(events)
    }

    pub(super) fn fail_model_call(
        &self,
        step: u32,
        error: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        self.pending_step(step, StepKind::ModelCall)?;
        let mut errors = Vec::new();
        collect_error_violations(&mut errors, &error);
        into_result(errors)?;
        Ok(vec![RunEvent::ModelCallFailed(ModelCallFailed {
            step,
            error,
            failed_at: now,
        })])
    }

    pub(super) fn record_tool_invocation(
        &self,
        step: u32,
        tool_call_id: String,
        invocation_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        let call = self.unfinished_tool_call(step, &tool_call_id)?;
        if call.invocation_id.is_some() {
            return Err(RunError::AlreadyRecorded { step });
        }
        Ok(vec![RunEvent::ToolInvocationRecorded(
            ToolInvocationRecorded {
                step,
                tool_call_id,
                invocation_id,
                recorded_at: now,
            },
        )])
    }

    pub(super) fn complete_tool_call(
        &self,
        step: u32,
        tool_call_id: String,
        output: Value,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        let call = self.unfinished_tool_call(step, &tool_call_id)?;
        if call.invocation_id.is_none() {
            return Err(RunError::InvocationNotRecorded { step });
        }
        let mut errors = Vec::new();
        collect_json_violations(&mut errors, "output", &output);
        into_result(errors)?;
        Ok(vec![RunEvent::ToolCallCompleted(ToolCallCompleted {
            step,
            tool_call_id,
            output,
            completed_at: now,
        })])
    }

    pub(super) fn fail_tool_call(
        &self,
        step: u32,
        tool_call_id: String,
        error: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        self.unfinished_tool_call(step, &tool_call_id)?;
        let mut errors = Vec::new();
        collect_error_violations(&mut errors, &error);
        into_result(errors)?;
        Ok(vec![RunEvent::ToolCallFailed(ToolCallFailed {
            step,
            tool_call_id,
            error,
            failed_at: now,
        })])
    }

    /// Approves or rejects the latest tool call with this id; a decided call is done.
    pub(super) fn decide_on_tool_call(
        &self,
        tool_call_id: String,
        approved: bool,
        approver: String,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        let (step, call) = self
            .steps
            .iter()
            .rev()
            .find_map(|s| {
                let call = s.tool_call()?;
                (call.tool_call_id == tool_call_id).then_some((s.number, call))
            })
            .ok_or_else(|| RunError::UnknownToolCall {
                step: None,
                tool_call_id: tool_call_id.clone(),
            })?;
        if call.approval.is_some() {
            return Err(RunError::AlreadyRecorded { step });
        }
        if !call.requires_approval {
            return Err(RunError::NotAwaitingApproval { step, tool_call_id });
        }
        let mut errors = Vec::new();
        collect_actor_violations(&mut errors, "approver", &approver);
        collect_reason_violations(&mut errors, reason.as_deref());
        into_result(errors)?;
        let remaining = self.pending_approvals().count().saturating_sub(1);
        let approvals_remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
        Ok(vec![if approved {
            RunEvent::ToolCallApproved(ToolCallApproved {
                step,
                tool_call_id,
                approver,
                reason,
                approvals_remaining,
                approved_at: now,
            })
        } else {
            RunEvent::ToolCallRejected(ToolCallRejected {
                step,
                tool_call_id,
                approver,
                reason,
                approvals_remaining,
                rejected_at: now,
            })
        }])
    }

    /// Records a memory the run wrote as the next step; a memory is recorded once.
    pub(super) fn record_memory_write(
        &self,
        step: u32,
        memory_id: Uuid,
        tool_call_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunEvent>, RunError> {
        let recorded = self.steps.iter().find(|s| {
            s.number == step && s.kind() == StepKind::MemoryWrite
                || s.memory_write()
                    .is_some_and(|write| write.memory_id == memory_id)
        });
        if let Some(recorded) = recorded {
            return Err(RunError::AlreadyRecorded {
                step: recorded.number,
            });
        }
        self.require_next_step(step)?;
        let mut errors = Vec::new();
        if let Some(id) = &tool_call_id {
            collect_tool_call_id_violations(&mut errors, "tool_call_id", id);
            let known = self
                .steps
                .iter()
                .any(|s| s.tool_call().is_some_and(|call| &call.tool_call_id == id));
            if errors.is_empty() && !known {
                errors.push(FieldError::new(
                    "tool_call_id",
                    "must name a tool call of this run",
                ));
            }
        }
        into_result(errors)?;
        Ok(vec![RunEvent::MemoryWriteRecorded(MemoryWriteRecorded {
            step,
            memory_id,
            tool_call_id,
            recorded_at: now,
        })])
    }

    fn require_next_step(&self, step: u32) -> Result<(), RunError> {
        let expected = self.next_step();
        if step == expected {
            Ok(())
        } else {
            Err(RunError::WrongStep { step, expected })
        }
    }

    /// Step `step` if it is a pending step of `kind`; a finished one is done.
    fn pending_step(&self, step: u32, kind: StepKind) -> Result<&Step, RunError> {
        match self.step(step) {
            Some(found) if found.kind() == kind && found.is_pending() => Ok(found),
            Some(found) if found.kind() == kind => Err(RunError::AlreadyRecorded { step }),
            _ => Err(RunError::NoSuchStep { step, kind }),
        }
    }

    /// The tool call at `step` with this id if it has no outcome and may be carried out.
    fn unfinished_tool_call(
        &self,
        step: u32,
        tool_call_id: &str,
    ) -> Result<&ToolCallStep, RunError> {
        let found = self
            .step(step)
            .and_then(|s| Some((s, s.tool_call()?)))
            .filter(|(_, call)| call.tool_call_id == tool_call_id);
        let Some((found, call)) = found else {
            return Err(RunError::UnknownToolCall {
                step: Some(step),
                tool_call_id: tool_call_id.to_owned(),
            });
        };
        if !found.is_pending() {
            return Err(RunError::AlreadyRecorded { step });
        }
        if call.awaits_approval() {
            return Err(RunError::AwaitingApproval {
                step,
                tool_call_id: tool_call_id.to_owned(),
            });
        }
        Ok(call)
    }
}
