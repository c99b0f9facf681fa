//! One published version of a tool, and the rules every field a tool command states obeys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::ToolKind;
use super::schema_check::{JsonSchemaCheck, check_schema};
use crate::FieldError;
use crate::rules::{require_free_text, require_max_chars, require_not_blank};

/// Longest tool name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest tool description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Longest reason given for deprecating or disabling a tool, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A tool as one version defines it; versions are never changed once published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolVersion {
    /// 1 for the registered version, then +1 per published version.
    pub version: u32,
    /// Free text for the model and for people, at most 2,000 characters.
    pub description: String,
    /// JSON Schema (a JSON object) the arguments of every call must match.
    pub input_schema: Value,
    /// JSON Schema (a JSON object) the output of every call must match, if any.
    pub output_schema: Option<Value>,
    /// How the tool is carried out.
    pub kind: ToolKind,
    /// When this version was published.
    pub published_at: DateTime<Utc>,
}

impl ToolVersion {
    /// Adds a violation for every rule the version breaks.
    pub(crate) fn collect_violations(
        &self,
        errors: &mut Vec<FieldError>,
        checker: &dyn JsonSchemaCheck,
    ) {
        require_max_chars(
            errors,
            "description",
            &self.description,
            MAX_DESCRIPTION_CHARS,
        );
        require_free_text(errors, "description", &self.description);
        check_schema(errors, "input_schema", &self.input_schema, checker);
        if let Some(output_schema) = &self.output_schema {
            check_schema(errors, "output_schema", output_schema, checker);
        }
        self.kind.collect_violations(errors);
    }
}

/// Adds a violation if `name` is not 1 to 64 of `a-z`, `0-9`, `_`, `.`, `-`, starting with a
/// letter. The rule rules out every control character, NUL included.
pub(crate) fn collect_name_violations(errors: &mut Vec<FieldError>, name: &str) {
    if name.is_empty() {
        require_not_blank(errors, "name", name);
        return;
    }
    require_max_chars(errors, "name", name, MAX_NAME_CHARS);
    let starts_with_letter = name.starts_with(|c: char| c.is_ascii_lowercase());
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c);
    if !starts_with_letter || !name.chars().all(allowed) {
        errors.push(FieldError::new(
            "name",
            "must start with a lowercase letter and hold only a-z, 0-9, '_', '.' and '-'",
        ));
    }
}

/// Adds a violation if the reason for deprecating or disabling is too long or holds control
/// characters other than tab and line breaks.
pub(crate) fn collect_reason_violations(errors: &mut Vec<FieldError>, reason: Option<&str>) {
    if let Some(reason) = reason {
        require_max_chars(errors, "reason", reason, MAX_REASON_CHARS);
        require_free_text(errors, "reason", reason);
    }
}
