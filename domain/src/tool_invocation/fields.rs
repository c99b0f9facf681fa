//! The rules on the text fields of invocation commands.

use crate::FieldError;
use crate::rules::{require_free_text, require_max_chars, require_not_blank, require_single_line};

/// Longest idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Longest tool call id, in characters.
pub const MAX_TOOL_CALL_ID_CHARS: usize = 255;
/// Longest executor name, in characters.
pub const MAX_EXECUTOR_CHARS: usize = 255;
/// Longest failure message, in characters.
pub const MAX_ERROR_CHARS: usize = 4_000;

/// Adds a violation unless the key is 1 to 255 printable ASCII characters, not all spaces.
pub(crate) fn collect_idempotency_key_violations(errors: &mut Vec<FieldError>, key: &str) {
    const FIELD: &str = "idempotency_key";
    require_not_blank(errors, FIELD, key);
    require_max_chars(errors, FIELD, key, MAX_IDEMPOTENCY_KEY_CHARS);
    if !key.chars().all(|c| (' '..='~').contains(&c)) {
        errors.push(FieldError::new(
            FIELD,
            "must hold only printable ASCII characters",
        ));
    }
}

/// Adds a violation unless `value` is 1 to `max` characters with no control character.
pub(crate) fn collect_identifier_violations(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    max: usize,
) {
    require_not_blank(errors, field, value);
    require_max_chars(errors, field, value, max);
    require_single_line(errors, field, value);
}

/// Adds a violation unless the failure message is 1 to 4,000 characters of free text.
pub(crate) fn collect_error_violations(errors: &mut Vec<FieldError>, error: &str) {
    require_not_blank(errors, "error", error);
    require_max_chars(errors, "error", error, MAX_ERROR_CHARS);
    require_free_text(errors, "error", error);
}
