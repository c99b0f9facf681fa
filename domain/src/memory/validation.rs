//! The rules a memory's fields obey. Each check appends every violation it finds, so a
//! command is rejected once with all of them.

use std::collections::HashSet;

use uuid::Uuid;

use super::{MemorySource, SealedContent};
use crate::FieldError;
use crate::rules::{require_free_text, require_max_chars, require_not_blank, require_single_line};

const MAX_CONTENT_CHARS: usize = 20_000;
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;
const MAX_TOOL_CALL_ID_CHARS: usize = 128;
const MAX_REASON_CHARS: usize = 500;

/// The plaintext content: not blank, at most 20,000 characters, free text.
pub(super) fn check_content(errors: &mut Vec<FieldError>, content: &str) {
    require_not_blank(errors, "content", content);
    require_max_chars(errors, "content", content, MAX_CONTENT_CHARS);
    require_free_text(errors, "content", content);
}

/// The sealed form is made by the service, so only its shape is checked: a real key id and
/// non-empty one-line text (events are stored as jsonb, which cannot hold NUL).
pub(super) fn check_sealed(errors: &mut Vec<FieldError>, sealed: &SealedContent) {
    if sealed.key_id.is_nil() {
        errors.push(FieldError::new("sealed.key_id", "must not be nil"));
    }
    for (field, value) in [
        ("sealed.nonce", &sealed.nonce),
        ("sealed.ciphertext", &sealed.ciphertext),
    ] {
        if value.is_empty() {
            errors.push(FieldError::new(field, "must not be empty"));
        }
        require_single_line(errors, field, value);
    }
}

/// A revision must be sealed with the key the memory was recorded with, because forgetting
/// deletes exactly that one key.
pub(super) fn check_same_key(errors: &mut Vec<FieldError>, sealed: &SealedContent, key_id: Uuid) {
    if sealed.key_id != key_id {
        errors.push(FieldError::new(
            "content",
            "must be sealed with the memory's data key",
        ));
    }
}

/// At most 32 tags, each 1 to 64 characters without control characters, none repeated.
pub(super) fn check_tags(errors: &mut Vec<FieldError>, tags: &[String]) {
    if tags.len() > MAX_TAGS {
        errors.push(FieldError::new(
            "tags",
            format!("must contain at most {MAX_TAGS} items"),
        ));
    }
    for (index, tag) in tags.iter().enumerate() {
        let field = format!("tags[{index}]");
        require_not_blank(errors, &field, tag);
        require_max_chars(errors, &field, tag, MAX_TAG_CHARS);
        require_single_line(errors, &field, tag);
    }
    let mut seen = HashSet::with_capacity(tags.len());
    if !tags.iter().all(|tag| seen.insert(tag)) {
        errors.push(FieldError::new("tags", "must not contain duplicates"));
    }
}

/// Importance is a finite weight from 0 to 1.
pub(super) fn check_importance(errors: &mut Vec<FieldError>, importance: f64) {
    // NaN and the infinities all fall outside the range, so one check covers them.
    if !(0.0..=1.0).contains(&importance) {
        errors.push(FieldError::new("importance", "must be between 0 and 1"));
    }
}

/// A step or tool call only makes sense inside a run.
pub(super) fn check_source(errors: &mut Vec<FieldError>, source: &MemorySource) {
    if source.step.is_some() && source.run_id.is_none() {
        errors.push(FieldError::new("source.step", "requires source.run_id"));
    }
    if let Some(tool_call_id) = &source.tool_call_id {
        let field = "source.tool_call_id";
        if source.run_id.is_none() {
            errors.push(FieldError::new(field, "requires source.run_id"));
        }
        require_not_blank(errors, field, tool_call_id);
        require_max_chars(errors, field, tool_call_id, MAX_TOOL_CALL_ID_CHARS);
        require_single_line(errors, field, tool_call_id);
    }
}

/// Why a memory is forgotten: free text of at most 500 characters.
pub(super) fn check_reason(errors: &mut Vec<FieldError>, reason: Option<&str>) {
    if let Some(reason) = reason {
        require_max_chars(errors, "reason", reason, MAX_REASON_CHARS);
        require_free_text(errors, "reason", reason);
    }
}

/// How many characters the plaintext holds; content is capped far below `u32::MAX`.
pub(super) fn count_chars(content: &str) -> u32 {
    u32::try_from(content.chars().count()).unwrap_or(u32::MAX)
}
