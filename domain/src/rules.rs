//! Field rules every aggregate's validation shares: blank, length and control-character
//! checks that report a [`FieldError`] naming the field.

use crate::FieldError;

/// The control characters free text may hold: tab and line breaks. Identifiers hold none.
pub(crate) const LINE_LAYOUT: &[char] = &['\t', '\n', '\r'];
pub(crate) const NUL_MESSAGE: &str = "must not contain NUL characters";
pub(crate) const CONTROL_MESSAGE: &str = "must not contain control characters";
pub(crate) const FREE_TEXT_CONTROL_MESSAGE: &str =
    "must not contain control characters other than tab and line breaks";

pub(crate) fn require_not_blank(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    }
}

pub(crate) fn require_max_chars(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    max: usize,
) {
    if exceeds_chars(value, max) {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

/// Identifiers are one line of visible text, so no control character at all.
pub(crate) fn require_single_line(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    if let Some(message) = control_violation(value, &[], CONTROL_MESSAGE) {
        errors.push(FieldError::new(field, message));
    }
}

/// Free text may be laid out in lines, but holds no other control character.
pub(crate) fn require_free_text(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    if let Some(message) = control_violation(value, LINE_LAYOUT, FREE_TEXT_CONTROL_MESSAGE) {
        errors.push(FieldError::new(field, message));
    }
}

/// Which rule `value` breaks by holding a control character outside `allowed`, if any.
/// NUL gets its own message because Postgres cannot store it in text or jsonb at all.
pub(crate) fn control_violation(
    value: &str,
    allowed: &[char],
    message: &'static str,
) -> Option<&'static str> {
    if value.contains('\0') {
        Some(NUL_MESSAGE)
    } else if value
        .chars()
        .any(|c| c.is_control() && !allowed.contains(&c))
    {
        Some(message)
    } else {
        None
    }
}

/// Limits count Unicode scalar values, not bytes, so "é" is one character.
pub(crate) fn exceeds_chars(value: &str, max: usize) -> bool {
    // Byte length bounds the character count, which skips the walk for most strings.
    value.len() > max && value.chars().nth(max).is_some()
}
