//! The agent aggregate: an AI agent a tenant configures, pauses, resumes and archives.
//!
//! Lifecycle: `active ⇄ paused`, and either one → `archived`, which is final.

mod changes;
mod config;
mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod upcasting;

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::FieldError;

pub use changes::AgentConfigChanges;
pub use config::{AgentConfig, ModelConfig};
pub use events::{
    AgentArchived, AgentConfigUpdated, AgentCreated, AgentEvent, AgentPaused, AgentResumed,
};
pub use upcasting::{AgentPausedV1, AgentPausedV1ToV2, upcasters};

/// The aggregate type under which agent events are stored.
pub const AGENT_AGGREGATE_TYPE: &str = "agent";

/// Where an agent is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Accepting work.
    Active,
    /// Temporarily not accepting work.
    Paused,
    /// Retired for good.
    Archived,
}

impl AgentStatus {
    /// The status as it appears in JSON: `active`, `paused` or `archived`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Archived => "archived",
        }
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to change an agent. Every command carries the caller's tenant and the time.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    /// Create a new agent with its first configuration.
    CreateAgent {
        /// The tenant that will own the agent.
        tenant_id: Uuid,
        /// The id chosen by the caller for the new agent.
        agent_id: Uuid,
        /// The first configuration.
        config: AgentConfig,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Change some fields of an active or paused agent's configuration.
    UpdateAgentConfig {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The fields to change; at least one must be set.
        changes: AgentConfigChanges,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Pause an active agent.
    PauseAgent {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Who asks: the API key id, or `system:<name>`.
        paused_by: String,
        /// Why, at most 500 characters; tab and line breaks are its only control characters.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Make a paused agent active again.
    ResumeAgent {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Archive an agent that is not archived yet.
    ArchiveAgent {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Why, at most 500 characters; tab and line breaks are its only control characters.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}

/// Why the agent aggregate rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentError {
    /// No such agent, or it belongs to another tenant; which one is never revealed.
    #[error("agent not found")]
    NotFound,
    /// An agent with this id already exists.
    #[error("agent already exists")]
    AlreadyExists,
    /// The command is not allowed in the agent's current status.
    #[error("cannot {action} an agent that is {status}")]
    InvalidTransition {
        /// The attempted action: `update`, `pause`, `resume` or `archive`.
        action: &'static str,
        /// The status that forbids it.
        status: AgentStatus,
    },
    /// One or more fields break a rule; one entry per violated rule.
    #[error("invalid agent fields")]
    Invalid(Vec<FieldError>),
    /// An update that sets no field.
    #[error("no changes given")]
    NoChanges,
}

impl From<Vec<FieldError>> for AgentError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

/// The state of one agent, rebuilt from its events.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    status: Option<AgentStatus>,
    config: Option<AgentConfig>,
    config_version: u32,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Agent {
    /// The agent's id, or `None` before it is created.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The owning tenant, or `None` before the agent is created.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant_id
    }

    /// The lifecycle status, or `None` before the agent is created.
    pub fn status(&self) -> Option<AgentStatus> {
        self.status
    }

    /// The current configuration, or `None` before the agent is created.
    pub fn config(&self) -> Option<&AgentConfig> {
        self.config.as_ref()
    }

    /// The current configuration version: 1 after creation, +1 per update, 0 before.
    pub fn config_version(&self) -> u32 {
        self.config_version
    }

    /// When the agent was created.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }

    /// When the agent last changed in any way.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Whether the agent has been created.
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// Decides which event a command causes, without changing the agent.
    fn decide(&self, command: AgentCommand) -> Result<AgentEvent, AgentError> {
        match command {
            AgentCommand::CreateAgent {
                tenant_id,
                agent_id,
                config,
                now,
            } => {
                if self.exists() {
                    return Err(AgentError::AlreadyExists);
                }
                config.validate()?;
                Ok(AgentEvent::AgentCreated(AgentCreated {
                    agent_id,
                    tenant_id,
                    config,
                    config_version: 1,
                    created_at: now,
                }))
            }
            AgentCommand::UpdateAgentConfig {
                tenant_id,
                changes,
                now,
            } => {
                let (status, current) = self.owned_by(tenant_id)?;
                require_not_archived("update", status)?;
                if changes.is_empty() {
                    return Err(AgentError::NoChanges);
                }
                let config = changes.apply_to(current);
                config.validate()?;
                Ok(AgentEvent::AgentConfigUpdated(AgentConfigUpdated {
                    config,
                    config_version: self.config_version.saturating_add(1),
                    updated_at: now,
                }))
            }
            AgentCommand::PauseAgent {
                tenant_id,
                paused_by,
                reason,
                now,
            } => {
                let (status, _) = self.owned_by(tenant_id)?;
                if status != AgentStatus::Active {
                    return Err(invalid_transition("pause", status));
                }
                config::validate_reason(reason.as_deref())?;
                Ok(AgentEvent::AgentPaused(AgentPaused {
                    reason,
                    paused_by,
                    paused_at: now,
                }))
            }
            AgentCommand::ResumeAgent { tenant_id, now } => {
                let (status, _) = self.owned_by(tenant_id)?;
                if status != AgentStatus::Paused {
                    return Err(invalid_transition("resume", status));
                }
                Ok(AgentEvent::AgentResumed(AgentResumed { resumed_at: now }))
            }
            AgentCommand::ArchiveAgent {
                tenant_id,
                reason,
                now,
            } => {
                let (status, _) = self.owned_by(tenant_id)?;
                require_not_archived("archive", status)?;
                config::validate_reason(reason.as_deref())?;
                Ok(AgentEvent::AgentArchived(AgentArchived {
                    reason,
                    archived_at: now,
                }))
            }
        }
    }

    /// The agent's status and configuration if it exists and belongs to `tenant_id`.
    /// Another tenant's agent is reported exactly like a missing one.
    fn owned_by(&self, tenant_id: Uuid) -> Result<(AgentStatus, &AgentConfig), AgentError> {
        match (self.tenant_id, self.status, &self.config) {
            (Some(owner), Some(status), Some(config)) if owner == tenant_id => Ok((status, config)),
            _ => Err(AgentError::NotFound),
        }
    }
}

fn invalid_transition(action: &'static str, status: AgentStatus) -> AgentError {
    AgentError::InvalidTransition { action, status }
}

fn require_not_archived(action: &'static str, status: AgentStatus) -> Result<(), AgentError> {
    if status == AgentStatus::Archived {
        Err(invalid_transition(action, status))
    } else {
        Ok(())
    }
}

impl Aggregate for Agent {
    const TYPE: &'static str = AGENT_AGGREGATE_TYPE;
    type Command = AgentCommand;
    type Event = AgentEvent;
    type Error = AgentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command)?;
        sink.write(event, self).await;
        Ok(())
    }

    // Stored events are facts: apply records them whatever the current state, never panics.
    fn apply(&mut self, event: Self::Event) {
        self.updated_at = Some(event.occurred_at());
        match event {
            AgentEvent::AgentCreated(created) => {
                self.id = Some(created.agent_id);
                self.tenant_id = Some(created.tenant_id);
                self.status = Some(AgentStatus::Active);
                self.config = Some(created.config);
                self.config_version = created.config_version;
                self.created_at = Some(created.created_at);
            }
            AgentEvent::AgentConfigUpdated(updated) => {
                self.config = Some(updated.config);
                self.config_version = updated.config_version;
            }
            AgentEvent::AgentPaused(_) => self.status = Some(AgentStatus::Paused),
            AgentEvent::AgentResumed(_) => self.status = Some(AgentStatus::Active),
            AgentEvent::AgentArchived(_) => self.status = Some(AgentStatus::Archived),
        }
    }
}

#[cfg(test)]
mod tests;
