//! The tool invocation aggregate: one call of one tool version, from request to outcome.
//!
//! Lifecycle: `requested → running → succeeded | failed | timed_out`. A restarted executor
//! may start a running call again with a higher attempt number. A call that never started
//! may still fail or time out. The three outcomes are final: nothing is accepted after one.

mod commands;
mod events;
mod fields;
#[cfg(test)]
pub(crate) mod fixtures;
mod identity;
mod status;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::FieldError;
use crate::tool::{
    JsonSchemaCheck, SchemaChecker, ToolKind, ToolStatus, check_instance, check_storable,
};

pub use crate::tool::ToolSnapshot;
pub use commands::ToolInvocationCommand;
pub use events::{
    InvocationFailed, InvocationRequested, InvocationStarted, InvocationSucceeded,
    InvocationTimedOut, ToolInvocationEvent,
};
pub use fields::{
    MAX_ERROR_CHARS, MAX_EXECUTOR_CHARS, MAX_IDEMPOTENCY_KEY_CHARS, MAX_TOOL_CALL_ID_CHARS,
    failure_message,
};
pub use identity::{INVOCATION_ID_NAMESPACE, invocation_id};
pub use status::ToolInvocationStatus;

/// The aggregate type under which tool invocation events are stored.
pub const TOOL_INVOCATION_AGGREGATE_TYPE: &str = "tool_invocation";

/// Why the tool invocation aggregate rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolInvocationError {
    /// No such invocation, or it belongs to another tenant; which one is never revealed.
    #[error("tool invocation not found")]
    NotFound,
    /// An invocation with this id already exists.
    #[error("tool invocation already exists")]
    AlreadyExists,
    /// The command is not allowed in the invocation's current status.
    #[error("cannot {action} a tool invocation that is {status}")]
    InvalidTransition {
        /// The attempted action: `start`, `complete`, `fail` or `time out`.
        action: &'static str,
        /// The status that forbids it.
        status: ToolInvocationStatus,
    },
    /// The tool cannot be called in its current status.
    #[error("tool {tool_id} is {status} and cannot be called")]
    ToolUnavailable {
        /// The tool asked for.
        tool_id: Uuid,
        /// The status that forbids calling it.
        status: ToolStatus,
    },
    /// A start whose attempt number is not above the latest one: an outdated executor.
    #[error("attempt {attempt} is not after attempt {latest}")]
    StaleAttempt {
        /// The attempt the command named.
        attempt: u32,
        /// The latest attempt already started.
        latest: u32,
    },
    /// One or more fields break a rule; one entry per violated rule.
    #[error("invalid tool invocation fields")]
    Invalid(Vec<FieldError>),
}

impl From<Vec<FieldError>> for ToolInvocationError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

/// The state of one tool invocation, rebuilt from its events.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInvocation {
    tenant_id: Option<Uuid>,
    status: Option<ToolInvocationStatus>,
    request: Option<InvocationRequested>,
    attempt: u32,
    executor: Option<String>,
    started_at: Option<DateTime<Utc>>,
    output: Option<Value>,
    error: Option<String>,
    duration_ms: Option<u64>,
    timeout_ms: Option<u64>,
    finished_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl ToolInvocation {
    /// The invocation's id, or `None` before it is requested.
    pub fn id(&self) -> Option<Uuid> {
        self.request.as_ref().map(|request| request.invocation_id)
    }

    /// The owning tenant, or `None` before the invocation is requested.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant_id
    }

    /// The lifecycle status, or `None` before the invocation is requested.
    pub fn status(&self) -> Option<ToolInvocationStatus> {
        self.status
    }

    /// Everything the request recorded: tool, version, kind, caller, arguments, key, time.
    pub fn request(&self) -> Option<&InvocationRequested> {
        self.request.as_ref()
    }

    /// The tool called.
    pub fn tool_id(&self) -> Option<Uuid> {
        self.request.as_ref().map(|request| request.tool_id)
    }

    /// The tool version in force for this call.
    pub fn tool_version(&self) -> Option<u32> {
        self.request.as_ref().map(|request| request.tool_version)
    }

    /// How the called version is carried out.
    pub fn kind(&self) -> Option<&ToolKind> {
        self.request.as_ref().map(|request| &request.kind)
    }

    /// The arguments of the call.
    pub fn arguments(&self) -> Option<&Value> {
        self.request.as_ref().map(|request| &request.arguments)
    }

    /// When the call was requested.
    pub fn requested_at(&self) -> Option<DateTime<Utc>> {
        self.request.as_ref().map(|request| request.requested_at)
    }

    /// The latest attempt started: 0 before the first start.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The executor of the latest attempt.
    pub fn executor(&self) -> Option<&str> {
        self.executor.as_deref()
    }

    /// When the latest attempt started.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at
    }

    /// The output of a succeeded call.
    pub fn output(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    /// The error of a failed call.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// How long the final attempt took, in milliseconds, when it was reported.
    pub fn duration_ms(&self) -> Option<u64> {
        self.duration_ms
    }

    /// The time limit a timed-out call exceeded, in milliseconds.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.timeout_ms
    }

    /// When the call succeeded, failed or timed out.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.finished_at
    }

    /// When the invocation last changed in any way.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Whether the invocation has been requested.
    pub fn exists(&self) -> bool {
        self.request.is_some()
    }

    /// Decides which event a command causes, without changing the invocation.
    fn decide(
        &self,
        command: ToolInvocationCommand,
        checker: &dyn JsonSchemaCheck,
    ) -> Result<ToolInvocationEvent, ToolInvocationError> {
        match command {
            ToolInvocationCommand::RequestInvocation {
                tenant_id,
                invocation_id,
                tool,
                agent_id,
                run_id,
                step,
                tool_call_id,
                arguments,
                idempotency_key,
                now,
            } => {
                if self.exists() {
                    return Err(ToolInvocationError::AlreadyExists);
                }
                if tool.status == ToolStatus::Disabled {
                    return Err(ToolInvocationError::ToolUnavailable {
                        tool_id: tool.tool_id,
                        status: tool.status,
                    });
                }
                let mut errors = Vec::new();
                if let Some(tool_call_id) = &tool_call_id {
                    fields::collect_identifier_violations(
                        &mut errors,
                        "tool_call_id",
                        tool_call_id,
                        MAX_TOOL_CALL_ID_CHARS,
                    );
                }
                let schema = &tool.version.input_schema;
                check_instance(&mut errors, "arguments", schema, &arguments, checker);
                fields::collect_idempotency_key_violations(&mut errors, &idempotency_key);
                reject_any(errors)?;
                Ok(ToolInvocationEvent::InvocationRequested(
                    InvocationRequested {
                        invocation_id,
                        tenant_id,
                        tool_id: tool.tool_id,
                        tool_name: tool.name,
                        tool_version: tool.version.version,
                        kind: tool.version.kind,
                        output_schema: tool.version.output_schema,
                        agent_id,
                        run_id,
                        step,
                        tool_call_id,
                        arguments,
                        idempotency_key,
                        requested_at: now,
                    },
                ))
            }
            ToolInvocationCommand::StartInvocation {
                tenant_id,
                executor,
                attempt,
                now,
            } => {
                self.require_unfinished("start", tenant_id)?;
                let mut errors = Vec::new();
                fields::collect_identifier_violations(
                    &mut errors,
                    "executor",
                    &executor,
                    MAX_EXECUTOR_CHARS,
                );
                if attempt == 0 {
                    errors.push(FieldError::new("attempt", "must be at least 1"));
                }
                reject_any(errors)?;
                if attempt <= self.attempt {
                    return Err(ToolInvocationError::StaleAttempt {
                        attempt,
                        latest: self.attempt,
                    });
                }
                Ok(ToolInvocationEvent::InvocationStarted(InvocationStarted {
                    executor,
                    attempt,
                    started_at: now,
                }))
            }
            ToolInvocationCommand::CompleteInvocation {
                tenant_id,
                output,
                duration_ms,
                now,
            } => {
                let (status, request) = self.owned_by(tenant_id)?;
                if status != ToolInvocationStatus::Running {
                    return Err(invalid_transition("complete", status));
                }
                let mut errors = Vec::new();
                match &request.output_schema {
                    Some(schema) => check_instance(&mut errors, "output", schema, &output, checker),
                    None => check_storable(&mut errors, "output", &output),
                }
                reject_any(errors)?;
                Ok(ToolInvocationEvent::InvocationSucceeded(
                    InvocationSucceeded {
                        output,
                        duration_ms,
                        completed_at: now,
                    },
                ))
            }
            ToolInvocationCommand::FailInvocation {
                tenant_id,
                error,
                duration_ms,
                now,
            } => {
                self.require_unfinished("fail", tenant_id)?;
                let mut errors = Vec::new();
                fields::collect_error_violations(&mut errors, &error);
                reject_any(errors)?;
                Ok(ToolInvocationEvent::InvocationFailed(InvocationFailed {
                    error,
                    duration_ms,
                    failed_at: now,
                }))
            }
            ToolInvocationCommand::TimeOutInvocation {
                tenant_id,
                timeout_ms,
                now,
            } => {
                self.require_unfinished("time out", tenant_id)?;
                Ok(ToolInvocationEvent::InvocationTimedOut(
                    InvocationTimedOut {
                        timeout_ms,
                        timed_out_at: now,
                    },
                ))
            }
        }
    }

    /// The invocation's status and request if it exists and belongs to `tenant_id`.
    /// Another tenant's invocation is reported exactly like a missing one.
    fn owned_by(
        &self,
        tenant_id: Uuid,
    ) -> Result<(ToolInvocationStatus, &InvocationRequested), ToolInvocationError> {
        match (self.tenant_id, self.status, &self.request) {
            (Some(owner), Some(status), Some(request)) if owner == tenant_id => {
                Ok((status, request))
            }
            _ => Err(ToolInvocationError::NotFound),
        }
    }

    /// Rejects `action` unless the invocation is the tenant's and has no outcome yet.
    fn require_unfinished(
        &self,
        action: &'static str,
        tenant_id: Uuid,
    ) -> Result<(), ToolInvocationError> {
        let (status, _) = self.owned_by(tenant_id)?;
        if status.is_terminal() {
            Err(invalid_transition(action, status))
        } else {
            Ok(())
        }
    }
}

fn invalid_transition(action: &'static str, status: ToolInvocationStatus) -> ToolInvocationError {
    ToolInvocationError::InvalidTransition { action, status }
}

fn reject_any(errors: Vec<FieldError>) -> Result<(), ToolInvocationError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ToolInvocationError::Invalid(errors))
    }
}

impl Aggregate for ToolInvocation {
    const TYPE: &'static str = TOOL_INVOCATION_AGGREGATE_TYPE;
    type Command = ToolInvocationCommand;
    type Event = ToolInvocationEvent;
    type Error = ToolInvocationError;
    type Services = SchemaChecker;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command, services.as_ref())?;
        sink.write(event, self).await;
        Ok(())
    }

    // Stored events are facts: apply records them whatever the current state, never panics.
    fn apply(&mut self, event: Self::Event) {
        self.updated_at = Some(event.occurred_at());
        match event {
            ToolInvocationEvent::InvocationRequested(requested) => {
                self.tenant_id = Some(requested.tenant_id);
                self.status = Some(ToolInvocationStatus::Requested);
                self.request = Some(requested);
            }
            ToolInvocationEvent::InvocationStarted(started) => {
                self.status = Some(ToolInvocationStatus::Running);
                self.attempt = started.attempt;
                self.executor = Some(started.executor);
                self.started_at = Some(started.started_at);
            }
            ToolInvocationEvent::InvocationSucceeded(succeeded) => {
                self.status = Some(ToolInvocationStatus::Succeeded);
                self.output = Some(succeeded.output);
                self.duration_ms = Some(succeeded.duration_ms);
                self.finished_at = Some(succeeded.completed_at);
            }
            ToolInvocationEvent::InvocationFailed(failed) => {
                self.status = Some(ToolInvocationStatus::Failed);
                self.error = Some(failed.error);
                self.duration_ms = failed.duration_ms;
                self.finished_at = Some(failed.failed_at);
            }
            ToolInvocationEvent::InvocationTimedOut(timed_out) => {
                self.status = Some(ToolInvocationStatus::TimedOut);
                self.timeout_ms = Some(timed_out.timeout_ms);
                self.finished_at = Some(timed_out.timed_out_at);
            }
        }
    }
}

#[cfg(test)]
mod tests;
