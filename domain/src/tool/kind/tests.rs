//! Boundary tests of every kind rule, driven through `RegisterTool`.

use cqrs_es::test::TestFramework;
use serde_json::json;

use crate::FieldError;
use crate::tool::fixtures::{TENANT, TOOL, TOOL_NAME, at, checker, input_schema};
use crate::tool::{HttpMethod, Tool, ToolCommand, ToolError, ToolEvent, ToolKind};

fn when_registered_with(kind: ToolKind) -> Result<Vec<ToolEvent>, ToolError> {
    TestFramework::<Tool>::with(checker())
        .given_no_previous_events()
        .when(ToolCommand::RegisterTool {
            tenant_id: TENANT,
            tool_id: TOOL,
            name: TOOL_NAME.to_owned(),
            description: String::new(),
            input_schema: input_schema(),
            output_schema: None,
            kind,
            now: at(0),
        })
        .inspect_result()
}

fn http(url: &str, timeout_ms: u32, retries: u32) -> ToolKind {
    ToolKind::Http {
        url: url.to_owned(),
        method: HttpMethod::Put,
        timeout_ms,
        retries,
    }
}

fn url(url: &str) -> ToolKind {
    http(url, 1_000, 0)
}

fn assert_accepted(kind: ToolKind) {
    let result = when_registered_with(kind.clone());
    assert!(result.is_ok(), "{kind:?} was rejected: {result:?}");
}

fn assert_rejected(kind: ToolKind, field: &str, message: &str) {
    assert_eq!(
        when_registered_with(kind),
        Err(ToolError::Invalid(vec![FieldError::new(field, message)]))
    );
}

// --- URL ---------------------------------------------------------------------------------

#[test]
fn accepts_http_and_https_urls_with_ports_paths_and_ip_hosts() {
    for accepted in [
        "http://localhost",
        "https://tools.example.com/weather?units=metric#now",
        "HTTPS://tools.example.com:8443/",
        "http://10.0.0.7:65535",
        "http://[::1]:8080/call",
        "https://[2001:db8::1]",
    ] {
        assert_accepted(url(accepted));
    }
}

#[test]
fn accepts_a_url_of_2048_characters() {
    let prefix = "https://example.com/";
    assert_accepted(url(&format!(
        "{prefix}{}",
        "p".repeat(2_048 - prefix.len())
    )));
}

#[test]
fn rejects_a_url_of_2049_characters() {
    let prefix = "https://example.com/";
    assert_rejected(
        url(&format!("{prefix}{}", "p".repeat(2_049 - prefix.len()))),
        "kind.url",
        "must be at most 2048 characters",
    );
}

#[test]
fn rejects_an_empty_url() {
    assert_rejected(url(""), "kind.url", "must not be empty");
}

#[test]
fn rejects_urls_of_other_schemes() {
    for rejected in [
        "ftp://example.com",
        "example.com/call",
        "file:///etc/passwd",
    ] {
        assert_rejected(
            url(rejected),
            "kind.url",
            "must start with http:// or https://",
        );
    }
}

#[test]
fn rejects_urls_without_a_host_or_with_a_bad_port() {
    let message = "must name a host, optionally followed by a port from 1 to 65535";
    for rejected in [
        "https://",
        "https:///call",
        "https://:8080",
        "https://example.com:",
        "https://example.com:0",
        "https://example.com:65536",
        "https://example.com:+80",
        "https://example.com:http",
        "https://[::1",
        "https://[::1]x",
    ] {
        assert_rejected(url(rejected), "kind.url", message);
    }
}

#[test]
fn rejects_urls_holding_whitespace_or_control_characters() {
    for rejected in [
        "https://example.com/a b",
        "https://example.com/\u{7f}",
        "https://exa\tmple.com",
    ] {
        assert_rejected(
            url(rejected),
            "kind.url",
            "must not contain whitespace or control characters",
        );
    }
}

#[test]
fn rejects_urls_holding_credentials() {
    assert_rejected(
        url("https://user:secret@example.com/call"),
        "kind.url",
        "must not contain credentials",
    );
}

// --- Timeout and retries -----------------------------------------------------------------

#[test]
fn accepts_timeouts_from_1_to_300000_milliseconds() {
    assert_accepted(http("https://example.com", 1, 0));
    assert_accepted(http("https://example.com", 300_000, 0));
}

#[test]
fn rejects_timeouts_of_0_and_300001_milliseconds() {
    for timeout_ms in [0, 300_001] {
        assert_rejected(
            http("https://example.com", timeout_ms, 0),
            "kind.timeout_ms",
            "must be between 1 and 300000",
        );
    }
}

#[test]
fn accepts_ten_retries() {
    assert_accepted(http("https://example.com", 1_000, 10));
}

#[test]
fn rejects_eleven_retries() {
    assert_rejected(
        http("https://example.com", 1_000, 11),
        "kind.retries",
        "must be between 0 and 10",
    );
}

// --- Builtin -----------------------------------------------------------------------------

#[test]
fn accepts_every_builtin_tool() {
    for name in ["memory.record", "memory.search"] {
        assert_accepted(ToolKind::Builtin {
            name: name.to_owned(),
        });
    }
}

#[test]
fn rejects_an_unknown_builtin_tool() {
    assert_rejected(
        ToolKind::Builtin {
            name: "memory.forget".to_owned(),
        },
        "kind.name",
        "must be one of memory.record, memory.search",
    );
}

// --- JSON --------------------------------------------------------------------------------

#[test]
fn kinds_serialize_tagged_by_type() {
    assert_eq!(
        serde_json::to_value(http("https://example.com", 1_000, 3)).unwrap(),
        json!({
            "type": "http",
            "url": "https://example.com",
            "method": "PUT",
            "timeout_ms": 1000,
            "retries": 3
        })
    );
    assert_eq!(
        serde_json::to_value(ToolKind::Builtin {
            name: "memory.record".to_owned()
        })
        .unwrap(),
        json!({ "type": "builtin", "name": "memory.record" })
    );
    assert_eq!(serde_json::to_value(HttpMethod::Post).unwrap(), "POST");
}
