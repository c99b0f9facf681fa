//! The memory aggregate: something an agent remembers, revised over time and forgotten on
//! request.
//!
//! Lifecycle: `active` (revised any number of times, every revision kept) → `forgotten`,
//! which is final. Content reaches the domain twice: as plaintext, only to be validated,
//! and sealed with the memory's data key by the service. Events hold only the sealed form,
//! so deleting that one key when the memory is forgotten makes every revision unreadable.

mod content;
mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod validation;

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::FieldError;

pub use content::{MemoryKind, MemorySource, SealedContent};
pub use events::{MemoryEvent, MemoryForgotten, MemoryRecorded, MemoryRevised};

/// The aggregate type under which memory events are stored.
pub const MEMORY_AGGREGATE_TYPE: &str = "memory";

/// Where a memory is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemoryStatus {
    /// Readable and open to revision.
    Active,
    /// Forgotten for good; its data key is gone.
    Forgotten,
}

impl MemoryStatus {
    /// The status as it appears in JSON: `active` or `forgotten`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Forgotten => "forgotten",
        }
    }
}

impl fmt::Display for MemoryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to change a memory. Every command carries the caller's tenant and the time.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryCommand {
    /// Record a new memory for an agent, at revision 1.
    RecordMemory {
        /// The tenant that will own the memory.
        tenant_id: Uuid,
        /// The id chosen by the caller for the new memory.
        memory_id: Uuid,
        /// The agent the memory belongs to; the caller checks it exists for the tenant.
        agent_id: Uuid,
        /// How the agent uses the memory.
        kind: MemoryKind,
        /// The plaintext, only for validation: not blank, at most 20,000 characters, free text.
        content: String,
        /// `content` sealed with a new data key for this memory; the only form stored.
        sealed: SealedContent,
        /// Labels, at most 32, each 1 to 64 characters without control characters, no repeats.
        tags: Vec<String>,
        /// How much the memory matters, from 0 to 1.
        importance: f64,
        /// Which run, step and tool call caused the memory.
        source: MemorySource,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Give an active memory new content as its next revision.
    ReviseMemory {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The new plaintext, only for validation; same rules as when recording.
        content: String,
        /// `content` sealed with the memory's own data key.
        sealed: SealedContent,
        /// New tags replacing all current ones, or `None` to keep them.
        tags: Option<Vec<String>>,
        /// New importance, or `None` to keep it.
        importance: Option<f64>,
        /// Which run, step and tool call caused this revision.
        source: MemorySource,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Forget an active memory; the service deletes its data key in the same transaction.
    ForgetMemory {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Why, at most 500 characters; tab and line breaks are its only control characters.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}

/// Why the memory aggregate rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MemoryError {
    /// No such memory, or it belongs to another tenant; which one is never revealed.
    #[error("memory not found")]
    NotFound,
    /// A memory with this id already exists.
    #[error("memory already exists")]
    AlreadyExists,
    /// The command is not allowed in the memory's current status.
    #[error("cannot {action} a memory that is {status}")]
    InvalidTransition {
        /// The attempted action: `revise` or `forget`.
        action: &'static str,
        /// The status that forbids it.
        status: MemoryStatus,
    },
    /// One or more fields break a rule; one entry per violated rule.
    #[error("invalid memory fields")]
    Invalid(Vec<FieldError>),
}

impl From<Vec<FieldError>> for MemoryError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

/// The state of one memory, rebuilt from its events.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    agent_id: Option<Uuid>,
    kind: Option<MemoryKind>,
    status: Option<MemoryStatus>,
    revision: u32,
    content: Option<SealedContent>,
    content_chars: u32,
    tags: Vec<String>,
    importance: f64,
    source: MemorySource,
    key_id: Option<Uuid>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Memory {
    /// The memory's id, or `None` before it is recorded.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The owning tenant, or `None` before the memory is recorded.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant_id
    }

    /// The agent the memory belongs to, or `None` before it is recorded.
    pub fn agent_id(&self) -> Option<Uuid> {
        self.agent_id
    }

    /// How the agent uses the memory, or `None` before it is recorded.
    pub fn kind(&self) -> Option<MemoryKind> {
        self.kind
    }

    /// The lifecycle status, or `None` before the memory is recorded.
    pub fn status(&self) -> Option<MemoryStatus> {
        self.status
    }

    /// The current revision: 1 when recorded, +1 per revision, 0 before.
    pub fn revision(&self) -> u32 {
        self.revision
    }

    /// The current revision's sealed content; `None` before recording and once forgotten.
    pub fn content(&self) -> Option<&SealedContent> {
        self.content.as_ref()
    }

    /// How many characters the current revision's plaintext holds.
    pub fn content_chars(&self) -> u32 {
        self.content_chars
    }

    /// The current tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The current importance, from 0 to 1.
    pub fn importance(&self) -> f64 {
        self.importance
    }

    /// Which run, step and tool call caused the current revision.
    pub fn source(&self) -> &MemorySource {
        &self.source
    }

    /// The data key sealing every revision, kept after forgetting so it can be deleted.
    pub fn key_id(&self) -> Option<Uuid> {
        self.key_id
    }

    /// When the memory was recorded.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }

    /// When the memory last changed in any way.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Whether the memory has been recorded.
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// Decides which event a command causes, without changing the memory.
    fn decide(&self, command: MemoryCommand) -> Result<MemoryEvent, MemoryError> {
        match command {
            MemoryCommand::RecordMemory {
                tenant_id,
                memory_id,
                agent_id,
                kind,
                content,
                sealed,
                tags,
                importance,
                source,
                now,
            } => {
                if self.exists() {
                    return Err(MemoryError::AlreadyExists);
                }
                let mut errors = Vec::new();
                validation::check_content(&mut errors, &content);
                validation::check_sealed(&mut errors, &sealed);
                validation::check_tags(&mut errors, &tags);
                validation::check_importance(&mut errors, importance);
                validation::check_source(&mut errors, &source);
                reject_any(errors)?;
                Ok(MemoryEvent::MemoryRecorded(MemoryRecorded {
                    memory_id,
                    tenant_id,
                    agent_id,
                    kind,
                    content: sealed,
                    content_chars: validation::count_chars(&content),
                    tags,
                    importance,
                    source,
                    revision: 1,
                    recorded_at: now,
                }))
            }
            MemoryCommand::ReviseMemory {
                tenant_id,
                content,
                sealed,
                tags,
                importance,
                source,
                now,
            } => {
                let (key_id, agent_id) = self.active_key("revise", tenant_id)?;
                let mut errors = Vec::new();
                validation::check_content(&mut errors, &content);
                validation::check_sealed(&mut errors, &sealed);
                validation::check_same_key(&mut errors, &sealed, key_id);
                if let Some(tags) = &tags {
                    validation::check_tags(&mut errors, tags);
                }
                if let Some(importance) = importance {
                    validation::check_importance(&mut errors, importance);
                }
                validation::check_source(&mut errors, &source);
                reject_any(errors)?;
                Ok(MemoryEvent::MemoryRevised(MemoryRevised {
                    agent_id,
                    content: sealed,
                    content_chars: validation::count_chars(&content),
                    tags: tags.unwrap_or_else(|| self.tags.clone()),
                    importance: importance.unwrap_or(self.importance),
                    source,
                    revision: self.revision.saturating_add(1),
                    revised_at: now,
                }))
            }
            MemoryCommand::ForgetMemory {
                tenant_id,
                reason,
                now,
            } => {
                let (key_id, agent_id) = self.active_key("forget", tenant_id)?;
                let mut errors = Vec::new();
                validation::check_reason(&mut errors, reason.as_deref());
                reject_any(errors)?;
                Ok(MemoryEvent::MemoryForgotten(MemoryForgotten {
                    agent_id,
                    key_id,
                    reason,
                    forgotten_at: now,
                }))
            }
        }
    }

    /// The data key and agent of a memory that belongs to `tenant_id` and is still active.
    /// Another tenant's memory is reported exactly like a missing one, before its status is
    /// looked at.
    fn active_key(
        &self,
        action: &'static str,
        tenant_id: Uuid,
    ) -> Result<(Uuid, Uuid), MemoryError> {
        match (self.tenant_id, self.status, self.key_id, self.agent_id) {
            (Some(owner), Some(MemoryStatus::Active), Some(key_id), Some(agent_id))
                if owner == tenant_id =>
            {
                Ok((key_id, agent_id))
            }
            (Some(owner), Some(status), Some(_), Some(_)) if owner == tenant_id => {
                Err(MemoryError::InvalidTransition { action, status })
            }
            _ => Err(MemoryError::NotFound),
        }
    }
}

fn reject_any(errors: Vec<FieldError>) -> Result<(), MemoryError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(MemoryError::Invalid(errors))
    }
}

impl Aggregate for Memory {
    const TYPE: &'static str = MEMORY_AGGREGATE_TYPE;
    type Command = MemoryCommand;
    type Event = MemoryEvent;
    type Error = MemoryError;
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
            MemoryEvent::MemoryRecorded(recorded) => {
                self.id = Some(recorded.memory_id);
                self.tenant_id = Some(recorded.tenant_id);
                self.agent_id = Some(recorded.agent_id);
                self.kind = Some(recorded.kind);
                self.status = Some(MemoryStatus::Active);
                self.revision = recorded.revision;
                self.key_id = Some(recorded.content.key_id);
                self.content = Some(recorded.content);
                self.content_chars = recorded.content_chars;
                self.tags = recorded.tags;
                self.importance = recorded.importance;
                self.source = recorded.source;
                self.created_at = Some(recorded.recorded_at);
            }
            MemoryEvent::MemoryRevised(revised) => {
                self.revision = revised.revision;
                self.content = Some(revised.content);
                self.content_chars = revised.content_chars;
                self.tags = revised.tags;
                self.importance = revised.importance;
                self.source = revised.source;
            }
            MemoryEvent::MemoryForgotten(forgotten) => {
                self.status = Some(MemoryStatus::Forgotten);
                // The ciphertext is unreadable once the key is deleted; keep no copy of it.
                self.content = None;
                self.key_id = Some(forgotten.key_id);
            }
        }
    }
}

#[cfg(test)]
mod tests;
