//! Facts recorded about an agent. Once stored they are never changed: add a new version
//! (and an upcaster, see `upcasting`) instead of editing a payload.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AgentConfig;

/// Something that happened to an agent, stored as `{"<EventType>": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum AgentEvent {
    /// The agent was created.
    AgentCreated(AgentCreated),
    /// The agent's configuration was replaced by a new version.
    AgentConfigUpdated(AgentConfigUpdated),
    /// The agent was paused.
    AgentPaused(AgentPaused),
    /// A paused agent was made active again.
    AgentResumed(AgentResumed),
    /// The agent was archived for good.
    AgentArchived(AgentArchived),
}

/// An agent was created with its first configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentCreated {
    /// The new agent's id.
    pub agent_id: Uuid,
    /// The tenant that owns the agent.
    pub tenant_id: Uuid,
    /// The agent's first configuration.
    pub config: AgentConfig,
    /// Always 1: the first configuration version.
    pub config_version: u32,
    /// When the agent was created.
    pub created_at: DateTime<Utc>,
}

/// An agent's configuration was replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentConfigUpdated {
    /// The whole new configuration, so readers never have to merge changes.
    pub config: AgentConfig,
    /// The previous version plus one.
    pub config_version: u32,
    /// When the configuration changed.
    pub updated_at: DateTime<Utc>,
}

/// An active agent was paused (version 2: names who paused it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentPaused {
    /// Why it was paused, if the caller said.
    pub reason: Option<String>,
    /// Who paused it: the API key id, or `system:<name>` for the platform itself;
    /// `unknown` for a version-1 event whose metadata named no actor.
    pub paused_by: String,
    /// When it was paused.
    pub paused_at: DateTime<Utc>,
}

/// A paused agent became active again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentResumed {
    /// When it resumed.
    pub resumed_at: DateTime<Utc>,
}

/// An agent was archived; no command is accepted after this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentArchived {
    /// Why it was archived, if the caller said.
    pub reason: Option<String>,
    /// When it was archived.
    pub archived_at: DateTime<Utc>,
}

impl AgentEvent {
    /// Every event type name, as returned by [`DomainEvent::event_type`].
    pub const TYPES: &'static [&'static str] = &[
        "AgentCreated",
        "AgentConfigUpdated",
        "AgentPaused",
        "AgentResumed",
        "AgentArchived",
    ];

    /// The schema version the domain writes events of `event_type` in (`1` unless a
    /// type changed shape; older versions are upcast when read).
    pub fn version_of(event_type: &str) -> &'static str {
        match event_type {
            "AgentPaused" => "2",
            _ => "1",
        }
    }

    /// When the event happened, as stated by the command that caused it.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::AgentCreated(event) => event.created_at,
            Self::AgentConfigUpdated(event) => event.updated_at,
            Self::AgentPaused(event) => event.paused_at,
            Self::AgentResumed(event) => event.resumed_at,
            Self::AgentArchived(event) => event.archived_at,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::AgentCreated(_) => "AgentCreated",
            Self::AgentConfigUpdated(_) => "AgentConfigUpdated",
            Self::AgentPaused(_) => "AgentPaused",
            Self::AgentResumed(_) => "AgentResumed",
            Self::AgentArchived(_) => "AgentArchived",
        }
    }
}

impl DomainEvent for AgentEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        Self::version_of(self.type_name()).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{ACTOR, AGENT, TENANT, agent_created, at, valid_config};
    use super::*;

    fn one_of_each() -> Vec<AgentEvent> {
        vec![
            agent_created(),
            AgentEvent::AgentConfigUpdated(AgentConfigUpdated {
                config: valid_config(),
                config_version: 2,
                updated_at: at(1),
            }),
            AgentEvent::AgentPaused(AgentPaused {
                reason: Some("maintenance".to_owned()),
                paused_by: ACTOR.to_owned(),
                paused_at: at(2),
            }),
            AgentEvent::AgentResumed(AgentResumed { resumed_at: at(3) }),
            AgentEvent::AgentArchived(AgentArchived {
                reason: None,
                archived_at: at(4),
            }),
        ]
    }

    #[test]
    fn every_event_round_trips_through_json() {
        for event in one_of_each() {
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<AgentEvent>(&json).unwrap(), event);
        }
    }

    #[test]
    fn every_event_is_tagged_by_its_type_name() {
        let events = one_of_each();
        let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
        assert_eq!(types, AgentEvent::TYPES);
        for event in events {
            let value = serde_json::to_value(&event).unwrap();
            let object = value.as_object().unwrap();
            assert_eq!(object.len(), 1);
            assert!(object.contains_key(&event.event_type()));
        }
    }

    #[test]
    fn agent_paused_is_written_as_version_2_and_every_other_type_as_version_1() {
        for event in one_of_each() {
            let expected = if event.event_type() == "AgentPaused" {
                "2"
            } else {
                "1"
            };
            assert_eq!(event.event_version(), expected, "{}", event.event_type());
        }
    }

    #[test]
    fn agent_created_serializes_with_an_external_tag() {
        let value = serde_json::to_value(agent_created()).unwrap();
        assert_eq!(
            value,
            json!({
                "AgentCreated": {
                    "agent_id": AGENT,
                    "tenant_id": TENANT,
                    "config": {
                        "name": "Support bot",
                        "description": "Answers billing questions",
                        "model": {
                            "provider": "anthropic",
                            "name": "claude-sonnet",
                            "temperature": 0.7,
                            "max_output_tokens": 4096
                        },
                        "system_prompt": "You are a helpful support agent.",
                        "tool_ids": [
                            "00000000-0000-0000-0000-000000000001",
                            "00000000-0000-0000-0000-000000000002"
                        ],
                        "metadata": { "team": "billing" }
                    },
                    "config_version": 1,
                    "created_at": "2025-01-01T12:00:00Z"
                }
            })
        );
    }

    #[test]
    fn occurred_at_is_the_time_the_event_states() {
        let times: Vec<_> = one_of_each().iter().map(AgentEvent::occurred_at).collect();
        assert_eq!(times, vec![at(0), at(1), at(2), at(3), at(4)]);
    }
}
