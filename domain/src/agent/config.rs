//! What an agent is configured to be, and the rules every configuration must obey.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::FieldError;
use crate::rules::{
    CONTROL_MESSAGE, control_violation, exceeds_chars, require_free_text, require_max_chars,
    require_not_blank, require_single_line,
};

const MAX_NAME_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
const MAX_PROVIDER_CHARS: usize = 64;
const MAX_MODEL_NAME_CHARS: usize = 128;
const MAX_TEMPERATURE: f64 = 2.0;
const MAX_OUTPUT_TOKENS: u32 = 1_000_000;
const MAX_SYSTEM_PROMPT_CHARS: usize = 100_000;
const MAX_TOOLS: usize = 128;
const MAX_METADATA_ENTRIES: usize = 64;
const MAX_METADATA_KEY_CHARS: usize = 64;
const MAX_METADATA_VALUE_CHARS: usize = 1_024;
const MAX_REASON_CHARS: usize = 500;

/// The language model an agent runs on and how it samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelConfig {
    /// Who serves the model, such as `openai` or `anthropic`; no control characters.
    pub provider: String,
    /// The provider's name for the model; no control characters.
    pub name: String,
    /// Sampling temperature, from 0 to 2.
    pub temperature: f64,
    /// Upper bound on tokens generated per reply, from 1 to 1,000,000.
    pub max_output_tokens: u32,
}

/// Everything a tenant can configure about an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentConfig {
    /// Display name, 1 to 100 characters after trimming, with no control characters.
    pub name: String,
    /// Free text, at most 2,000 characters; tab and line breaks are its only control characters.
    pub description: String,
    /// The model the agent runs on.
    pub model: ModelConfig,
    /// Instructions given before every conversation; free text of at most 100,000 characters.
    pub system_prompt: String,
    /// Tools the agent may call, at most 128 and each at most once.
    pub tool_ids: Vec<Uuid>,
    /// Caller-defined labels, at most 64; keys hold no control characters, values are free text.
    pub metadata: BTreeMap<String, String>,
}

impl AgentConfig {
    /// Checks every rule and returns all violations, not just the first.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();

        require_not_blank(&mut errors, "name", &self.name);
        require_max_chars(&mut errors, "name", &self.name, MAX_NAME_CHARS);
        require_single_line(&mut errors, "name", &self.name);
        require_max_chars(
            &mut errors,
            "description",
            &self.description,
            MAX_DESCRIPTION_CHARS,
        );
        require_free_text(&mut errors, "description", &self.description);
        self.model.collect_violations(&mut errors);
        require_max_chars(
            &mut errors,
            "system_prompt",
            &self.system_prompt,
            MAX_SYSTEM_PROMPT_CHARS,
        );
        require_free_text(&mut errors, "system_prompt", &self.system_prompt);
        collect_tool_violations(&mut errors, &self.tool_ids);
        collect_metadata_violations(&mut errors, &self.metadata);

        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl ModelConfig {
    fn collect_violations(&self, errors: &mut Vec<FieldError>) {
        require_not_blank(errors, "model.provider", &self.provider);
        require_max_chars(errors, "model.provider", &self.provider, MAX_PROVIDER_CHARS);
        require_single_line(errors, "model.provider", &self.provider);
        require_not_blank(errors, "model.name", &self.name);
        require_max_chars(errors, "model.name", &self.name, MAX_MODEL_NAME_CHARS);
        require_single_line(errors, "model.name", &self.name);
        // A NaN fails the range check too, so one test covers non-finite values.
        if !(0.0..=MAX_TEMPERATURE).contains(&self.temperature) {
            errors.push(FieldError::new(
                "model.temperature",
                "must be between 0 and 2",
            ));
        }
        if !(1..=MAX_OUTPUT_TOKENS).contains(&self.max_output_tokens) {
            errors.push(FieldError::new(
                "model.max_output_tokens",
                format!("must be between 1 and {MAX_OUTPUT_TOKENS}"),
            ));
        }
    }
}

/// Checks the free-text reason given when pausing or archiving an agent.
pub(crate) fn validate_reason(reason: Option<&str>) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(reason) = reason {
        require_max_chars(&mut errors, "reason", reason, MAX_REASON_CHARS);
        require_free_text(&mut errors, "reason", reason);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn collect_tool_violations(errors: &mut Vec<FieldError>, tool_ids: &[Uuid]) {
    if tool_ids.len() > MAX_TOOLS {
        errors.push(FieldError::new(
            "tool_ids",
            format!("must contain at most {MAX_TOOLS} items"),
        ));
    }
    let mut seen = HashSet::with_capacity(tool_ids.len());
    if !tool_ids.iter().all(|id| seen.insert(id)) {
        errors.push(FieldError::new("tool_ids", "must not contain duplicates"));
    }
}

fn collect_metadata_violations(errors: &mut Vec<FieldError>, metadata: &BTreeMap<String, String>) {
    if metadata.len() > MAX_METADATA_ENTRIES {
        errors.push(FieldError::new(
            "metadata",
            format!("must contain at most {MAX_METADATA_ENTRIES} entries"),
        ));
    }
    // A bad key cannot name its own path (an empty key would give "metadata."), so the key
    // rule is reported once on the map itself; values are reported on their own path.
    let key_is_bad = |key: &String| key.is_empty() || exceeds_chars(key, MAX_METADATA_KEY_CHARS);
    if metadata.keys().any(key_is_bad) {
        errors.push(FieldError::new(
            "metadata",
            format!("keys must be between 1 and {MAX_METADATA_KEY_CHARS} characters"),
        ));
    }
    // A character rule holds for every key exactly when it holds for the keys joined.
    let all_keys: String = metadata.keys().map(String::as_str).collect();
    if let Some(message) = control_violation(&all_keys, &[], CONTROL_MESSAGE) {
        errors.push(FieldError::new("metadata", format!("keys {message}")));
    }
    for (key, value) in metadata {
        let field = format!("metadata.{key}");
        require_max_chars(errors, &field, value, MAX_METADATA_VALUE_CHARS);
        require_free_text(errors, &field, value);
    }
}

#[cfg(test)]
mod tests;
