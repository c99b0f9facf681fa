//! Doing one piece of work on a run under its lease: a model call (see `model_call`), a
//! tool call (its invocation requested, then its outcome recorded), or a memory write.
//! Every side effect is keyed by (run, step, tool call), so doing the same work twice —
//! after a crash, or for a redelivered event — records it once.

use chrono::Utc;
use domain::run::{Run, RunCommand, RunError, ToolCallStep, side_effect_key};
use domain::tool_invocation::{
    ToolInvocationCommand, ToolInvocationError, failure_message, invocation_id,
};
use eventstore::CommandError;

use crate::driver::{Cause, Recorded, ids};
use crate::plan::{InvocationOutcome, Work};
use crate::{Engine, EngineError};

impl Engine {
    /// Does `work` on `run` under lease `generation`.
    pub(crate) async fn perform(
        &self,
        run: &Run,
        generation: u32,
        work: Work,
        cause: Cause,
    ) -> Result<Recorded, EngineError> {
        let tenant_id = ids(run)?.1;
        let now = Utc::now();
        let recorded = match work {
            Work::RecordMemoryWrite {
                memory_id,
                tool_call_id,
            } => {
                let command = RunCommand::RecordMemoryWrite {
                    tenant_id,
                    lease_generation: generation,
                    step: run.next_step(),
                    memory_id,
                    tool_call_id: Some(tool_call_id),
                    now,
                };
                self.record(run, command, cause).await?
            }
            Work::FinishToolCall {
                step,
                tool_call_id,
                outcome,
            } => {
                let error = match outcome {
                    InvocationOutcome::Succeeded { output, .. } => {
                        let command = RunCommand::CompleteToolCall {
                            tenant_id,
                            lease_generation: generation,
                            step,
                            tool_call_id: tool_call_id.clone(),
                            output,
                            now,
                        };
                        match self.record(run, command, cause).await? {
                            // An output the run cannot hold (too large) fails the call.
                            Recorded::Refused(RunError::Invalid(errors)) => {
                                format!("the tool's output was refused: {}", reasons(&errors))
                            }
                            recorded => return Ok(recorded),
                        }
                    }
                    InvocationOutcome::Failed(error) => error,
                    InvocationOutcome::TimedOut(timeout_ms) => {
                        format!("the tool call timed out after {timeout_ms} ms")
                    }
                };
                let command = fail_tool_call(tenant_id, generation, step, tool_call_id, &error);
                self.record(run, command, cause).await?
            }
            Work::InvokeTool { step } => {
                let Some(call) = run.step(step).and_then(|s| s.tool_call()) else {
                    return Ok(Recorded::Done);
                };
                self.invoke_tool(run, generation, step, call, cause).await?
            }
            Work::BeginModelCall { step } => {
                self.begin_model_call(run, generation, step, cause).await?
            }
            Work::CallModel { step } => self.call_model(run, generation, step, cause).await?,
            Work::FailRun { error } => {
                let error = failure_message(&error);
                let command = RunCommand::FailRun {
                    tenant_id,
                    error,
                    now,
                };
                self.record(run, command, cause).await?
            }
        };
        match recorded {
            // The run refused what the engine recorded: end it visibly rather than retry
            // the same refusal forever.
            Recorded::Refused(refusal) => {
                tracing::error!(%refusal, "the run refused the engine's command; failing it");
                let error = failure_message(&format!("the engine could not go on: {refusal}"));
                let command = RunCommand::FailRun {
                    tenant_id,
                    error,
                    now,
                };
                self.record(run, command, cause).await
            }
            other => Ok(other),
        }
    }

    /// Requests the invocation of tool call `step` under its side-effect key (so its id is
    /// always the same), then records it; a call the tool refuses fails at once.
    async fn invoke_tool(
        &self,
        run: &Run,
        generation: u32,
        step: u32,
        call: &ToolCallStep,
        cause: Cause,
    ) -> Result<Recorded, EngineError> {
        let (run_id, tenant_id) = ids(run)?;
        let key = side_effect_key(run_id, step, Some(&call.tool_call_id));
        let id = invocation_id(tenant_id, &key);
        let (tool, _) = self.tools.load(&call.tool_id.to_string()).await?;
        let refusal = match tool.snapshot(tenant_id, None) {
            None => Some(format!("tool {} does not exist", call.tool_id)),
            Some(snapshot) => {
                let command = ToolInvocationCommand::RequestInvocation {
                    tenant_id,
                    invocation_id: id,
                    tool: snapshot,
                    agent_id: run.agent_id().unwrap_or_default(),
                    run_id: Some(run_id),
                    step: Some(step),
                    tool_call_id: Some(call.tool_call_id.clone()),
                    arguments: call.arguments.clone(),
                    idempotency_key: key,
                    now: Utc::now(),
                };
                let context = self.context(run, cause);
                match self
                    .invocations
                    .execute(&id.to_string(), command, &context)
                    .await
                {
                    Ok(_) => None,
                    // Requested before (by this engine, or one that died): it must be this
                    // very call, since a caller of the tenant could have taken the key.
                    Err(
                        CommandError::Rejected(ToolInvocationError::AlreadyExists)
                        | CommandError::Conflict,
                    ) => {
                        let (existing, _) = self.invocations.load(&id.to_string()).await?;
                        let same = existing.request().is_some_and(|request| {
                            request.run_id == Some(run_id)
                                && request.step == Some(step)
                                && request.tool_call_id.as_deref() == Some(&call.tool_call_id)
                                && request.tool_id == call.tool_id
                        });
                        (!same).then(|| format!("invocation {id} is another call's"))
                    }
                    Err(CommandError::Rejected(ToolInvocationError::Invalid(errors))) => {
                        Some(format!("the tool refused the call: {}", reasons(&errors)))
                    }
                    Err(CommandError::Rejected(refused)) => Some(refused.to_string()),
                    Err(CommandError::Store(err)) => return Err(err.into()),
                    Err(other) => return Err(EngineError::Invalid(other.to_string())),
                }
            }
        };
        let command = match refusal {
            Some(error) => fail_tool_call(
                tenant_id,
                generation,
                step,
                call.tool_call_id.clone(),
                &error,
            ),
            None => RunCommand::RecordToolInvocation {
                tenant_id,
                lease_generation: generation,
                step,
                tool_call_id: call.tool_call_id.clone(),
                invocation_id: id,
                now: Utc::now(),
            },
        };
        self.record(run, command, cause).await
    }

    pub(crate) async fn fail_run(
        &self,
        run: &Run,
        error: &str,
        cause: Cause,
    ) -> Result<Recorded, EngineError> {
        let command = RunCommand::FailRun {
            tenant_id: ids(run)?.1,
            error: failure_message(error),
            now: Utc::now(),
        };
        self.record(run, command, cause).await
    }
}

/// Every broken rule, in one line.
pub(crate) fn reasons(errors: &[domain::FieldError]) -> String {
    let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
    reasons.join("; ")
}

fn fail_tool_call(
    tenant_id: uuid::Uuid,
    generation: u32,
    step: u32,
    tool_call_id: String,
    error: &str,
) -> RunCommand {
    RunCommand::FailToolCall {
        tenant_id,
        lease_generation: generation,
        step,
        tool_call_id,
        error: failure_message(error),
        now: Utc::now(),
    }
}
