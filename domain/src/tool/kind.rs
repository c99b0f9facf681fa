//! How a tool is carried out: an HTTP call to the tenant's endpoint, or a built-in tool.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;
use crate::rules::{exceeds_chars, require_not_blank};

/// The built-in tools a tool may name.
pub const BUILTIN_TOOLS: &[&str] = &["memory.record", "memory.search"];
/// Longest accepted endpoint URL, in characters.
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest accepted HTTP timeout, in milliseconds (five minutes).
pub const MAX_TIMEOUT_MS: u32 = 300_000;
/// Most retries an HTTP tool may ask for.
pub const MAX_RETRIES: u32 = 10;

/// The HTTP method an HTTP tool is called with; the arguments travel as the JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
}

/// How a tool is carried out, tagged by `type`: `{"type": "http", "url": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolKind {
    /// A call to an HTTP endpoint the tenant runs.
    Http {
        /// An `http://` or `https://` URL with a host, at most 2,048 characters, no whitespace.
        url: String,
        /// The method to call it with.
        method: HttpMethod,
        /// How long one attempt may take, from 1 to 300,000 milliseconds.
        timeout_ms: u32,
        /// How many times a failed attempt is retried, from 0 to 10.
        retries: u32,
    },
    /// A tool the platform itself provides.
    Builtin {
        /// One of `memory.record` or `memory.search`.
        name: String,
    },
}

impl ToolKind {
    /// Adds a violation for every rule the kind breaks, on paths under `kind`.
    pub(crate) fn collect_violations(&self, errors: &mut Vec<FieldError>) {
        match self {
            Self::Http {
                url,
                method: _,
                timeout_ms,
                retries,
            } => {
                collect_url_violations(errors, url);
                if !(1..=MAX_TIMEOUT_MS).contains(timeout_ms) {
                    errors.push(FieldError::new(
                        "kind.timeout_ms",
                        format!("must be between 1 and {MAX_TIMEOUT_MS}"),
                    ));
                }
                if *retries > MAX_RETRIES {
                    errors.push(FieldError::new(
                        "kind.retries",
                        format!("must be between 0 and {MAX_RETRIES}"),
                    ));
                }
            }
            Self::Builtin { name } => {
                if !BUILTIN_TOOLS.contains(&name.as_str()) {
                    errors.push(FieldError::new(
                        "kind.name",
                        format!("must be one of {}", BUILTIN_TOOLS.join(", ")),
                    ));
                }
            }
        }
    }
}

/// A deliberately simple URL check: the executor's HTTP client does the full parse, this
/// only keeps obviously unusable or unsafe-to-store values out of the events.
fn collect_url_violations(errors: &mut Vec<FieldError>, url: &str) {
    const FIELD: &str = "kind.url";
    require_not_blank(errors, FIELD, url);
    if exceeds_chars(url, MAX_URL_CHARS) {
        errors.push(FieldError::new(
            FIELD,
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(FieldError::new(
            FIELD,
            "must not contain whitespace or control characters",
        ));
    }
    let Some(rest) = strip_http_scheme(url) else {
        if !url.trim().is_empty() {
            errors.push(FieldError::new(
                FIELD,
                "must start with http:// or https://",
            ));
        }
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in a URL would be kept forever in the event store.
    if authority.contains('@') {
        errors.push(FieldError::new(FIELD, "must not contain credentials"));
    }
    let host_and_port = authority.rsplit('@').next().unwrap_or_default();
    if !has_host_and_valid_port(host_and_port) {
        errors.push(FieldError::new(
            FIELD,
            "must name a host, optionally followed by a port from 1 to 65535",
        ));
    }
}

/// The URL after `http://` or `https://` (scheme compared without case), if it has one.
fn strip_http_scheme(url: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        url.get(..scheme.len())
            .filter(|start| start.eq_ignore_ascii_case(scheme))
            .map(|_| &url[scheme.len()..])
    })
}

/// Whether `host[:port]` (or `[ipv6][:port]`) has a non-empty host and, if given, a port
/// from 1 to 65535.
fn has_host_and_valid_port(host_and_port: &str) -> bool {
    let (host, port) = if let Some(bracketed) = host_and_port.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return false,
            },
            None => return false,
        }
    } else {
        match host_and_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_and_port, None),
        }
    };
    let port_is_valid = port.is_none_or(|port| {
        port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|number| number > 0)
    });
    !host.is_empty() && port_is_valid
}

#[cfg(test)]
mod tests;
