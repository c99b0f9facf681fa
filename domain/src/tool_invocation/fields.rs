//! The rules on the text fields of invocation commands.

use crate::FieldError;
use crate::rules::{
    LINE_LAYOUT, require_free_text, require_max_chars, require_not_blank, require_single_line,
};

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

/// Makes any text a valid failure message: control characters other than tab and line
/// breaks become spaces, a message too long is cut (marked with `…`), and a blank one
/// becomes `unknown error`. What a tool or the network answers is never trusted to fit.
pub fn failure_message(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_control() && !LINE_LAYOUT.contains(&c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    if cleaned.trim().is_empty() {
        return "unknown error".to_owned();
    }
    if cleaned.chars().nth(MAX_ERROR_CHARS).is_none() {
        return cleaned;
    }
    let mut cut: String = cleaned.chars().take(MAX_ERROR_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations(message: &str) -> Vec<crate::FieldError> {
        let mut errors = Vec::new();
        collect_error_violations(&mut errors, message);
        errors
    }

    #[test]
    fn a_failure_message_keeps_ordinary_text_and_its_line_layout() {
        let text = "HTTP 500:\n\tupstream \"db\" is down\r\n";
        assert_eq!(failure_message(text), text);
    }

    #[test]
    fn a_failure_message_replaces_other_control_characters() {
        let message = failure_message("bad\u{0}byte\u{1b}[31m");
        assert_eq!(message, "bad byte [31m");
        assert_eq!(violations(&message), vec![]);
    }

    #[test]
    fn a_failure_message_is_cut_to_the_longest_allowed() {
        let message = failure_message(&"é".repeat(MAX_ERROR_CHARS + 10));
        assert_eq!(message.chars().count(), MAX_ERROR_CHARS);
        assert!(message.ends_with('…'));
        assert_eq!(violations(&message), vec![]);
        let exact = "x".repeat(MAX_ERROR_CHARS);
        assert_eq!(failure_message(&exact), exact);
    }

    #[test]
    fn a_blank_failure_message_says_so() {
        for blank in ["", "  ", "\u{7}"] {
            assert_eq!(failure_message(blank), "unknown error");
        }
    }
}
