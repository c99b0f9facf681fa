//! How each event changes the run's state. Stored events are facts: a step an event names
//! but the state lacks is skipped, never a panic.

use chrono::{DateTime, Utc};

use super::{
    Lease, MemoryWriteStep, Message, ModelCallStep, Run, RunEvent, RunStatus, Step, StepDetails,
    StepStatus, StopReason, ToolCallApproval, ToolCallStep,
};

/// What a rejected tool call's step records as its error.
const REJECTED: &str = "the tool call was rejected by a reviewer";

impl Run {
    pub(super) fn record(&mut self, event: RunEvent) {
        self.updated_at = Some(event.occurred_at());
        match event {
            RunEvent::RunStarted(started) => {
                self.id = Some(started.run_id);
                self.tenant_id = Some(started.tenant_id);
                self.agent_id = Some(started.agent_id);
                self.agent_config_version = started.agent_config_version;
                self.model = Some(started.model);
                self.system_prompt = started.system_prompt;
                self.tool_ids = started.tool_ids;
                self.status = Some(RunStatus::Queued);
                self.max_steps = started.max_steps;
                self.budget_micros = started.budget_micros;
                self.idempotency_key = started.idempotency_key;
                self.input_messages = u32::try_from(started.input.len()).unwrap_or(u32::MAX);
                self.conversation = started.input;
                self.created_at = Some(started.created_at);
            }
            RunEvent::RunLeaseAcquired(acquired) => {
                if self.status == Some(RunStatus::Queued) {
                    self.status = Some(RunStatus::Running);
                }
                self.lease_generation = self.lease_generation.max(acquired.lease_generation);
                self.lease = Some(Lease {
                    engine_id: acquired.engine_id,
                    lease_generation: acquired.lease_generation,
                    lease_until: acquired.lease_until,
                    acquired_at: acquired.acquired_at,
                });
            }
            RunEvent::RunLeaseReleased(_) => self.lease = None,
            RunEvent::RunLeaseExpired(expired) => {
                self.lease = None;
                self.lease_expirations = expired.expirations;
            }
            RunEvent::ModelCallStarted(started) => self.steps.push(Step {
                number: started.step,
                status: StepStatus::Pending,
                started_at: started.started_at,
                finished_at: None,
                details: StepDetails::ModelCall(ModelCallStep {
                    messages_in: started.messages_in,
                    estimated_cost_micros: started.estimated_cost_micros,
                    output: None,
                    usage: None,
                    latency_ms: None,
                    cost_micros: 0,
                    error: None,
                }),
            }),
            RunEvent::ModelCallCompleted(completed) => {
                self.spent_micros = completed.spent_micros;
                self.conversation.push(completed.output.clone());
                if let Some((step, call)) = self.model_call_mut(completed.step) {
                    call.output = Some(completed.output);
                    call.usage = Some(completed.usage);
                    call.latency_ms = Some(completed.latency_ms);
                    call.cost_micros = completed.cost_micros;
                    step.finish(StepStatus::Succeeded, completed.completed_at);
                }
            }
            RunEvent::ModelCallFailed(failed) => {
                if let Some((step, call)) = self.model_call_mut(failed.step) {
                    call.error = Some(failed.error);
                    step.finish(StepStatus::Failed, failed.failed_at);
                }
            }
            RunEvent::ToolCallRequested(requested) => {
                if requested.requires_approval && self.status == Some(RunStatus::Running) {
                    self.status = Some(RunStatus::RequiresAction);
                }
                self.steps.push(Step {
                    number: requested.step,
                    status: StepStatus::Pending,
                    started_at: requested.requested_at,
                    finished_at: None,
                    details: StepDetails::ToolCall(ToolCallStep {
                        model_call_step: requested.model_call_step,
                        tool_call_id: requested.tool_call_id,
                        tool_id: requested.tool_id,
                        tool_name: requested.tool_name,
                        arguments: requested.arguments,
                        requires_approval: requested.requires_approval,
                        approval: None,
                        invocation_id: None,
                        output: None,
                        error: None,
                    }),
                });
            }
            RunEvent::ToolCallApproved(approved) => {
                if let Some((_, call)) = self.tool_call_mut(approved.step) {
                    call.approval = Some(ToolCallApproval {
                        approved: true,
                        approver: approved.approver,
                        reason: approved.reason,
                        decided_at: approved.approved_at,
                    });
                }
                self.resume_when_decided();
            }
            RunEvent::ToolCallRejected(rejected) => {
                let message =
                    Message::tool_rejection(&rejected.tool_call_id, rejected.reason.as_deref());
                if let Some((step, call)) = self.tool_call_mut(rejected.step) {
                    call.approval = Some(ToolCallApproval {
                        approved: false,
                        approver: rejected.approver,
                        reason: rejected.reason,
                        decided_at: rejected.rejected_at,
                    });
                    call.error = Some(REJECTED.to_owned());
                    step.finish(StepStatus::Failed, rejected.rejected_at);
                }
                self.conversation.push(message);
                self.resume_when_decided();
            }
            RunEvent::ToolInvocationRecorded(recorded) => {
                if let Some((_, call)) = self.tool_call_mut(recorded.step) {
                    call.invocation_id = Some(recorded.invocation_id);
                }
            }
            RunEvent::ToolCallCompleted(completed) => {
                let message = Message::tool_output(&completed.tool_call_id, &completed.output);
                self.conversation.push(message);
                if let Some((step, call)) = self.tool_call_mut(completed.step) {
                    call.output = Some(completed.output);
                    step.finish(StepStatus::Succeeded, completed.completed_at);
                }
            }
            RunEvent::ToolCallFailed(failed) => {
                let message = Message::tool_error(&failed.tool_call_id, &failed.error);
                self.conversation.push(message);
                if let Some((step, call)) = self.tool_call_mut(failed.step) {
                    call.error = Some(failed.error);
                    step.finish(StepStatus::Failed, failed.failed_at);
                }
            }
            RunEvent::MemoryWriteRecorded(recorded) => self.steps.push(Step {
                number: recorded.step,
                status: StepStatus::Succeeded,
                started_at: recorded.recorded_at,
                finished_at: Some(recorded.recorded_at),
                details: StepDetails::MemoryWrite(MemoryWriteStep {
                    memory_id: recorded.memory_id,
                    tool_call_id: recorded.tool_call_id,
                }),
            }),
            RunEvent::RunCompleted(completed) => {
                self.output = completed.output;
                self.stop(
                    RunStatus::Completed,
                    completed.stop_reason,
                    completed.completed_at,
                );
            }
            RunEvent::RunFailed(failed) => {
                self.error = Some(failed.error);
                self.stop(RunStatus::Failed, failed.stop_reason, failed.failed_at);
            }
            RunEvent::RunCancelled(cancelled) => {
                self.cancelled_by = Some(cancelled.by);
                self.stop(
                    RunStatus::Cancelled,
                    cancelled.stop_reason,
                    cancelled.cancelled_at,
                );
            }
            RunEvent::RunTimedOut(timed_out) => {
                self.stop(
                    RunStatus::TimedOut,
                    timed_out.stop_reason,
                    timed_out.timed_out_at,
                );
            }
        }
    }

    fn stop(&mut self, status: RunStatus, stop_reason: StopReason, at: DateTime<Utc>) {
        self.status = Some(status);
        self.stop_reason = Some(stop_reason);
        self.finished_at = Some(at);
        self.lease = None;
    }

    /// A run that waited for approvals runs again once none is left to decide.
    fn resume_when_decided(&mut self) {
        if self.status == Some(RunStatus::RequiresAction)
            && self.pending_approvals().next().is_none()
        {
            self.status = Some(RunStatus::Running);
        }
    }

    fn step_mut(&mut self, number: u32) -> Option<&mut Step> {
        self.steps.iter_mut().find(|step| step.number == number)
    }

    fn model_call_mut(&mut self, number: u32) -> Option<(StepEnd<'_>, &mut ModelCallStep)> {
        match self.step_mut(number)? {
            Step {
                status,
                finished_at,
                details: StepDetails::ModelCall(call),
                ..
            } => Some((
                StepEnd {
                    status,
                    finished_at,
                },
                call,
            )),
            _ => None,
        }
    }

    fn tool_call_mut(&mut self, number: u32) -> Option<(StepEnd<'_>, &mut ToolCallStep)> {
        match self.step_mut(number)? {
            Step {
                status,
                finished_at,
                details: StepDetails::ToolCall(call),
                ..
            } => Some((
                StepEnd {
                    status,
                    finished_at,
                },
                call,
            )),
            _ => None,
        }
    }
}

/// The fields that record how a step ended, borrowed beside the step's details.
struct StepEnd<'a> {
    status: &'a mut StepStatus,
    finished_at: &'a mut Option<DateTime<Utc>>,
}

impl StepEnd<'_> {
    fn finish(self, status: StepStatus, at: DateTime<Utc>) {
        *self.status = status;
        *self.finished_at = Some(at);
    }
}
