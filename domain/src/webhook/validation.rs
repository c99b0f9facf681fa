//! The rules a subscription's URL, event-type filter and failure note must follow.

use crate::FieldError;
use crate::catalog;
use crate::rules::{require_free_text, require_max_chars, require_not_blank};

const MAX_URL_CHARS: usize = 2048;
const MAX_EVENT_TYPES: usize = 100;
const MAX_ERROR_CHARS: usize = 500;

/// Checks the URL and the event types of a new subscription, reporting every violation.
pub(super) fn validate_subscription(
    url: &str,
    event_types: &[String],
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    validate_url(&mut errors, url);
    validate_event_types(&mut errors, event_types);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks what a failing subscription records of its last error.
pub(super) fn validate_last_error(last_error: &str) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    require_not_blank(&mut errors, "last_error", last_error);
    require_max_chars(&mut errors, "last_error", last_error, MAX_ERROR_CHARS);
    require_free_text(&mut errors, "last_error", last_error);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn validate_url(errors: &mut Vec<FieldError>, url: &str) {
    let before = errors.len();
    require_not_blank(errors, "url", url);
    require_max_chars(errors, "url", url, MAX_URL_CHARS);
    if errors.len() > before {
        return;
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(FieldError::new(
            "url",
            "must not contain spaces or control characters",
        ));
        return;
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        errors.push(FieldError::new("url", "must be an http or https URL"));
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in a URL end up in logs and in the delivery log.
    if authority.contains('@') {
        errors.push(FieldError::new("url", "must not contain credentials"));
    } else if authority.is_empty() || authority.starts_with(':') {
        errors.push(FieldError::new("url", "must name a host"));
    }
}

fn validate_event_types(errors: &mut Vec<FieldError>, event_types: &[String]) {
    if event_types.len() > MAX_EVENT_TYPES {
        errors.push(FieldError::new(
            "event_types",
            format!("must list at most {MAX_EVENT_TYPES} event types"),
        ));
        return;
    }
    for (index, event_type) in event_types.iter().enumerate() {
        let field = format!("event_types[{index}]");
        if !catalog::is_event_type(event_type) {
            errors.push(FieldError::new(
                field,
                "must be a known event type, such as AgentCreated",
            ));
        } else if event_types[..index].contains(event_type) {
            errors.push(FieldError::new(field, "must not repeat an event type"));
        }
    }
}
