//! The tool aggregate: a capability a tenant registers for its agents to call, published in
//! numbered versions whose input (and optionally output) is described by JSON Schema.
//!
//! Lifecycle: `active → deprecated → disabled`, or `active → disabled`; disabled is final.
//! Name uniqueness within a tenant is enforced by the caller, not here.

mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod kind;
mod schema_check;
mod snapshot;
mod version;

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::FieldError;

pub use events::{ToolDeprecated, ToolDisabled, ToolEvent, ToolRegistered, ToolVersionPublished};
pub use kind::{BUILTIN_TOOLS, HttpMethod, MAX_RETRIES, MAX_TIMEOUT_MS, MAX_URL_CHARS, ToolKind};
pub use schema_check::{
    JsonSchemaCheck, MAX_SCHEMA_BYTES, SchemaChecker, schema_problem, uncompilable_schema,
};
pub use snapshot::ToolSnapshot;
pub use version::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_REASON_CHARS, ToolVersion};

#[cfg(test)]
pub(crate) use schema_check::library::LibrarySchemaCheck;
pub(crate) use schema_check::{check_instance, check_storable};

/// The aggregate type under which tool events are stored.
pub const TOOL_AGGREGATE_TYPE: &str = "tool";

/// Where a tool is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Callable, and offered to agents.
    Active,
    /// Still callable, but should no longer be chosen.
    Deprecated,
    /// Retired for good: not callable, not changeable.
    Disabled,
}

impl ToolStatus {
    /// The status as it appears in JSON: `active`, `deprecated` or `disabled`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deprecated => "deprecated",
            Self::Disabled => "disabled",
        }
    }
}

impl fmt::Display for ToolStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to change a tool. Every command carries the caller's tenant and the time.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCommand {
    /// Register a new tool with its first version.
    RegisterTool {
        /// The tenant that will own the tool.
        tenant_id: Uuid,
        /// The id chosen by the caller for the new tool.
        tool_id: Uuid,
        /// 1 to 64 of `a-z`, `0-9`, `_`, `.`, `-`, starting with a letter.
        name: String,
        /// Free text, at most 2,000 characters.
        description: String,
        /// JSON Schema of the arguments: a JSON object, at most 64 KiB serialized.
        input_schema: Value,
        /// JSON Schema of the output, if the output is to be checked.
        output_schema: Option<Value>,
        /// How the tool is carried out.
        kind: ToolKind,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Publish the next version of an active or deprecated tool.
    PublishToolVersion {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The new description; the latest version's is kept when left out.
        description: Option<String>,
        /// The new version's input schema.
        input_schema: Value,
        /// The new version's output schema; left out means the new version has none.
        output_schema: Option<Value>,
        /// The new way to carry the tool out; the latest version's is kept when left out.
        kind: Option<ToolKind>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Deprecate an active tool.
    DeprecateTool {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Why, at most 500 characters; tab and line breaks are its only control characters.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Disable an active or deprecated tool for good.
    DisableTool {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Why, at most 500 characters; tab and line breaks are its only control characters.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}

/// Why the tool aggregate rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// No such tool, or it belongs to another tenant; which one is never revealed.
    #[error("tool not found")]
    NotFound,
    /// A tool with this id already exists.
    #[error("tool already exists")]
    AlreadyExists,
    /// The command is not allowed in the tool's current status.
    #[error("cannot {action} a tool that is {status}")]
    InvalidTransition {
        /// The attempted action: `publish`, `deprecate` or `disable`.
        action: &'static str,
        /// The status that forbids it.
        status: ToolStatus,
    },
    /// One or more fields break a rule; one entry per violated rule.
    #[error("invalid tool fields")]
    Invalid(Vec<FieldError>),
}

impl From<Vec<FieldError>> for ToolError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

/// The state of one tool, rebuilt from its events; every version stays readable.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    name: Option<String>,
    status: Option<ToolStatus>,
    versions: Vec<ToolVersion>,
    registered_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Tool {
    /// The tool's id, or `None` before it is registered.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The owning tenant, or `None` before the tool is registered.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant_id
    }

    /// The tool's name, or `None` before it is registered.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The lifecycle status, or `None` before the tool is registered.
    pub fn status(&self) -> Option<ToolStatus> {
        self.status
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> &[ToolVersion] {
        &self.versions
    }

    /// The version numbered `number`, if it was published.
    pub fn version(&self, number: u32) -> Option<&ToolVersion> {
        self.versions
            .iter()
            .find(|version| version.version == number)
    }

    /// The version in force: the last one published.
    pub fn latest(&self) -> Option<&ToolVersion> {
        self.versions.last()
    }

    /// When the tool was registered.
    pub fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.registered_at
    }

    /// When the tool last changed in any way.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Whether the tool has been registered.
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// Decides which event a command causes, without changing the tool.
    fn decide(
        &self,
        command: ToolCommand,
        checker: &dyn JsonSchemaCheck,
    ) -> Result<ToolEvent, ToolError> {
        match command {
            ToolCommand::RegisterTool {
                tenant_id,
                tool_id,
                name,
                description,
                input_schema,
                output_schema,
                kind,
                now,
            } => {
                if self.exists() {
                    return Err(ToolError::AlreadyExists);
                }
                let version = ToolVersion {
                    version: 1,
                    description,
                    input_schema,
                    output_schema,
                    kind,
                    published_at: now,
                };
                let mut errors = Vec::new();
                version::collect_name_violations(&mut errors, &name);
                version.collect_violations(&mut errors, checker);
                reject_any(errors)?;
                Ok(ToolEvent::ToolRegistered(ToolRegistered {
                    tool_id,
                    tenant_id,
                    name,
                    version,
                }))
            }
            ToolCommand::PublishToolVersion {
                tenant_id,
                description,
                input_schema,
                output_schema,
                kind,
                now,
            } => {
                let (status, latest) = self.owned_by(tenant_id)?;
                if status == ToolStatus::Disabled {
                    return Err(invalid_transition("publish", status));
                }
                let version = ToolVersion {
                    version: latest.version.saturating_add(1),
                    description: description.unwrap_or_else(|| latest.description.clone()),
                    input_schema,
                    output_schema,
                    kind: kind.unwrap_or_else(|| latest.kind.clone()),
                    published_at: now,
                };
                let mut errors = Vec::new();
                version.collect_violations(&mut errors, checker);
                reject_any(errors)?;
                Ok(ToolEvent::ToolVersionPublished(ToolVersionPublished {
                    version,
                }))
            }
            ToolCommand::DeprecateTool {
                tenant_id,
                reason,
                now,
            } => {
                let (status, _) = self.owned_by(tenant_id)?;
                if status != ToolStatus::Active {
                    return Err(invalid_transition("deprecate", status));
                }
                validate_reason(reason.as_deref())?;
                Ok(ToolEvent::ToolDeprecated(ToolDeprecated {
                    reason,
                    deprecated_at: now,
                }))
            }
            ToolCommand::DisableTool {
                tenant_id,
                reason,
                now,
            } => {
                let (status, _) = self.owned_by(tenant_id)?;
                if status == ToolStatus::Disabled {
                    return Err(invalid_transition("disable", status));
                }
                validate_reason(reason.as_deref())?;
                Ok(ToolEvent::ToolDisabled(ToolDisabled {
                    reason,
                    disabled_at: now,
                }))
            }
        }
    }

    /// The tool's status and latest version if it exists and belongs to `tenant_id`.
    /// Another tenant's tool is reported exactly like a missing one.
    fn owned_by(&self, tenant_id: Uuid) -> Result<(ToolStatus, &ToolVersion), ToolError> {
        match (self.tenant_id, self.status, self.latest()) {
            (Some(owner), Some(status), Some(latest)) if owner == tenant_id => Ok((status, latest)),
            _ => Err(ToolError::NotFound),
        }
    }
}

fn invalid_transition(action: &'static str, status: ToolStatus) -> ToolError {
    ToolError::InvalidTransition { action, status }
}

fn reject_any(errors: Vec<FieldError>) -> Result<(), ToolError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ToolError::Invalid(errors))
    }
}

fn validate_reason(reason: Option<&str>) -> Result<(), ToolError> {
    let mut errors = Vec::new();
    version::collect_reason_violations(&mut errors, reason);
    reject_any(errors)
}

impl Aggregate for Tool {
    const TYPE: &'static str = TOOL_AGGREGATE_TYPE;
    type Command = ToolCommand;
    type Event = ToolEvent;
    type Error = ToolError;
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
            ToolEvent::ToolRegistered(registered) => {
                self.id = Some(registered.tool_id);
                self.tenant_id = Some(registered.tenant_id);
                self.name = Some(registered.name);
                self.status = Some(ToolStatus::Active);
                self.registered_at = Some(registered.version.published_at);
                self.versions.push(registered.version);
            }
            ToolEvent::ToolVersionPublished(published) => self.versions.push(published.version),
            ToolEvent::ToolDeprecated(_) => self.status = Some(ToolStatus::Deprecated),
            ToolEvent::ToolDisabled(_) => self.status = Some(ToolStatus::Disabled),
        }
    }
}

#[cfg(test)]
mod tests;
