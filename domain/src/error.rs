//! Errors shared by every aggregate in the domain.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One violated rule on one field of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the offending field, such as `name` or `model.temperature`.
    pub field: String,
    /// What the rule requires, phrased to finish a sentence that starts with the field name.
    pub message: String,
}

impl FieldError {
    /// Builds a violation of `message` on `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
