//! One requested call, start to outcome: start the next attempt, carry the call out as its
//! recorded tool version says, and record the outcome, letting the aggregate arbitrate
//! between executors.

use chrono::Utc;
use domain::tool::ToolKind;
use domain::tool_invocation::{
    InvocationRequested, ToolInvocationCommand, ToolInvocationError, ToolInvocationStatus,
};
use eventstore::{CloudEvent, CommandContext, CommandError};
use uuid::Uuid;

use crate::builtins::{BuiltinCall, call_builtin};
use crate::http::HttpCall;
use crate::worker::{Disposition, Executor};
use crate::{CallOutcome, ExecutorConfig, ExecutorError};

/// How often recording an outcome is tried before the message is given back.
const FINISH_TRIES: u32 = 5;

impl Executor {
    /// Carries out invocation `invocation_id` unless it has its outcome or another executor
    /// is on it: start the next attempt, call the tool, record the outcome.
    #[tracing::instrument(skip_all, fields(%invocation_id, correlation_id = event.correlationid.as_deref().unwrap_or_default()))]
    pub async fn execute(
        &self,
        invocation_id: Uuid,
        event: &CloudEvent,
    ) -> Result<Disposition, ExecutorError> {
        let id = invocation_id.to_string();
        let (invocation, _) = self.invocations.load(&id).await?;
        let (Some(tenant_id), Some(status), Some(request)) = (
            invocation.tenant_id(),
            invocation.status(),
            invocation.request().cloned(),
        ) else {
            return Ok(Disposition::Ignored);
        };
        if status.is_terminal() {
            return Ok(Disposition::AlreadyFinished);
        }
        let start = ToolInvocationCommand::StartInvocation {
            tenant_id,
            executor: self.config.instance.clone(),
            attempt: invocation.attempt() + 1,
            now: Utc::now(),
        };
        match self
            .invocations
            .execute(&id, start, &context(tenant_id, event, &self.config))
            .await
        {
            Ok(_) => {}
            // Another executor started a later attempt since the load, or the call finished.
            Err(
                CommandError::Conflict
                | CommandError::Rejected(ToolInvocationError::StaleAttempt { .. }),
            ) => return Ok(Disposition::TakenElsewhere),
            Err(CommandError::Rejected(ToolInvocationError::InvalidTransition { .. })) => {
                return Ok(Disposition::AlreadyFinished);
            }
            Err(err) => return Err(err.into()),
        }
        let outcome = self.call(&request, event).await;
        metrics::counter!("agentos_tool_calls_total", "outcome" => outcome.label()).increment(1);
        self.finish(&id, tenant_id, outcome, event).await
    }

    /// Carries out the call as its recorded tool version says.
    async fn call(&self, request: &InvocationRequested, event: &CloudEvent) -> CallOutcome {
        match &request.kind {
            ToolKind::Http {
                url,
                method,
                timeout_ms,
                retries,
            } => {
                let call = HttpCall {
                    invocation_id: request.invocation_id,
                    tool_id: request.tool_id,
                    tool_name: request.tool_name.clone(),
                    tool_version: request.tool_version,
                    arguments: request.arguments.clone(),
                    url: url.clone(),
                    method: *method,
                    timeout_ms: *timeout_ms,
                    retries: *retries,
                };
                self.http.call(&call).await
            }
            ToolKind::Builtin { name } => {
                let call = BuiltinCall {
                    tenant_id: request.tenant_id,
                    invocation_id: request.invocation_id,
                    agent_id: request.agent_id,
                    run_id: request.run_id,
                    step: request.step,
                    tool_call_id: request.tool_call_id.clone(),
                    correlation_id: correlation_of(event),
                    arguments: request.arguments.clone(),
                };
                call_builtin(self.builtins.as_ref(), name, &call).await
            }
        }
    }

    /// Records `outcome`. An output the tool version's output schema refuses becomes a
    /// failure naming each mismatch; an outcome recorded first by another executor wins.
    async fn finish(
        &self,
        id: &str,
        tenant_id: Uuid,
        mut outcome: CallOutcome,
        event: &CloudEvent,
    ) -> Result<Disposition, ExecutorError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let command = outcome.clone().into_command(tenant_id, Utc::now());
            let context = context(tenant_id, event, &self.config);
            let error = match self.invocations.execute(id, command, &context).await {
                Ok(_) => return Ok(Disposition::Finished(status_of(&outcome))),
                Err(CommandError::Rejected(ToolInvocationError::InvalidTransition { .. })) => {
                    return Ok(Disposition::AlreadyFinished);
                }
                Err(CommandError::Rejected(ToolInvocationError::Invalid(errors))) => {
                    if let CallOutcome::Succeeded { duration_ms, .. } = outcome {
                        let mismatches: Vec<String> =
                            errors.iter().map(ToString::to_string).collect();
                        outcome = CallOutcome::failed(
                            format!(
                                "the output does not match the tool's output schema: {}",
                                mismatches.join("; ")
                            ),
                            Some(duration_ms),
                        );
                        continue;
                    }
                    CommandError::Rejected(ToolInvocationError::Invalid(errors))
                }
                Err(err) => err,
            };
            // A conflict means another command landed first: decide again on the new state.
            let retry = matches!(error, CommandError::Conflict | CommandError::Store(_));
            if !retry || tries >= FINISH_TRIES {
                return Err(error.into());
            }
            tokio::time::sleep(self.config.backoff(tries - 1)).await;
        }
    }
}

/// Who records what the executor does: this instance, correlated with the request.
fn context(tenant_id: Uuid, event: &CloudEvent, config: &ExecutorConfig) -> CommandContext {
    let mut context =
        CommandContext::new(tenant_id, format!("system:{}", config.instance), Utc::now());
    if let Some(correlation_id) = correlation_of(event) {
        context.correlation_id = correlation_id;
    }
    context.causation_id = event.id;
    context
}

/// The correlation id an event carries, if it is a UUID.
fn correlation_of(event: &CloudEvent) -> Option<Uuid> {
    event
        .correlationid
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
}

fn status_of(outcome: &CallOutcome) -> ToolInvocationStatus {
    match outcome {
        CallOutcome::Succeeded { .. } => ToolInvocationStatus::Succeeded,
        CallOutcome::Failed { .. } => ToolInvocationStatus::Failed,
        CallOutcome::TimedOut { .. } => ToolInvocationStatus::TimedOut,
    }
}
