//! Partial updates to an agent's configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AgentConfig, ModelConfig};

/// A partial change to an agent's configuration: fields left out keep their current value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AgentConfigChanges {
    /// New display name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New model settings, replacing all of the current ones.
    pub model: Option<ModelConfig>,
    /// New system prompt.
    pub system_prompt: Option<String>,
    /// New tool list, replacing the current one.
    pub tool_ids: Option<Vec<Uuid>>,
    /// New metadata, replacing all current entries.
    pub metadata: Option<BTreeMap<String, String>>,
}

impl AgentConfigChanges {
    /// True when no field is set, so applying would change nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Returns `config` with every set field replaced.
    pub fn apply_to(&self, config: &AgentConfig) -> AgentConfig {
        AgentConfig {
            name: self.name.clone().unwrap_or_else(|| config.name.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| config.description.clone()),
            model: self.model.clone().unwrap_or_else(|| config.model.clone()),
            system_prompt: self
                .system_prompt
                .clone()
                .unwrap_or_else(|| config.system_prompt.clone()),
            tool_ids: self
                .tool_ids
                .clone()
                .unwrap_or_else(|| config.tool_ids.clone()),
            metadata: self
                .metadata
                .clone()
                .unwrap_or_else(|| config.metadata.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::AgentConfigChanges;
    use crate::agent::fixtures::valid_config;

    #[test]
    fn changes_with_no_field_set_are_empty() {
        assert!(AgentConfigChanges::default().is_empty());
        let changes = AgentConfigChanges {
            tool_ids: Some(Vec::new()),
            ..AgentConfigChanges::default()
        };
        assert!(!changes.is_empty());
    }

    #[test]
    fn applying_changes_replaces_only_the_fields_set() {
        let changes = AgentConfigChanges {
            description: Some("New".to_owned()),
            metadata: Some(BTreeMap::new()),
            ..AgentConfigChanges::default()
        };
        let mut expected = valid_config();
        expected.description = "New".to_owned();
        expected.metadata = BTreeMap::new();
        assert_eq!(changes.apply_to(&valid_config()), expected);
    }

    #[test]
    fn applying_empty_changes_keeps_the_config() {
        assert_eq!(
            AgentConfigChanges::default().apply_to(&valid_config()),
            valid_config()
        );
    }

    #[test]
    fn changes_deserialize_with_missing_fields_as_unset() {
        let changes: AgentConfigChanges = serde_json::from_str(r#"{"name":"Renamed"}"#).unwrap();
        assert_eq!(
            changes,
            AgentConfigChanges {
                name: Some("Renamed".to_owned()),
                ..AgentConfigChanges::default()
            }
        );
    }
}
