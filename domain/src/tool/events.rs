//! Facts recorded about a tool. Once stored they are never changed: add a new version
//! (and an upcaster) instead of editing a payload.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ToolVersion;

/// Something that happened to a tool, stored as `{"<EventType>": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum ToolEvent {
    /// The tool was registered with its first version.
    ToolRegistered(ToolRegistered),
    /// A new version of the tool was published.
    ToolVersionPublished(ToolVersionPublished),
    /// The tool was deprecated.
    ToolDeprecated(ToolDeprecated),
    /// The tool was disabled for good.
    ToolDisabled(ToolDisabled),
}

/// A tool was registered with its first version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolRegistered {
    /// The new tool's id.
    pub tool_id: Uuid,
    /// The tenant that owns the tool.
    pub tenant_id: Uuid,
    /// The tool's name, unique within the tenant.
    pub name: String,
    /// Version 1 of the tool.
    pub version: ToolVersion,
}

/// A new version of a tool was published; earlier versions stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolVersionPublished {
    /// The whole new version, numbered one past the previous one.
    pub version: ToolVersion,
}

/// An active tool was deprecated: it still works, but should no longer be chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolDeprecated {
    /// Why it was deprecated, if the caller said.
    pub reason: Option<String>,
    /// When it was deprecated.
    pub deprecated_at: DateTime<Utc>,
}

/// A tool was disabled: it can no longer be invoked or changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolDisabled {
    /// Why it was disabled, if the caller said.
    pub reason: Option<String>,
    /// When it was disabled.
    pub disabled_at: DateTime<Utc>,
}

impl ToolEvent {
    /// Every event type name, as returned by [`DomainEvent::event_type`].
    pub const TYPES: &'static [&'static str] = &[
        "ToolRegistered",
        "ToolVersionPublished",
        "ToolDeprecated",
        "ToolDisabled",
    ];

    /// When the event happened, as stated by the command that caused it.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::ToolRegistered(event) => event.version.published_at,
            Self::ToolVersionPublished(event) => event.version.published_at,
            Self::ToolDeprecated(event) => event.deprecated_at,
            Self::ToolDisabled(event) => event.disabled_at,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::ToolRegistered(_) => "ToolRegistered",
            Self::ToolVersionPublished(_) => "ToolVersionPublished",
            Self::ToolDeprecated(_) => "ToolDeprecated",
            Self::ToolDisabled(_) => "ToolDisabled",
        }
    }
}

impl DomainEvent for ToolEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[cfg(test)]
mod tests;
