//! RFC 8785 (JCS) output for a parsed `serde_json::Value`, on the relay's hot path.
//!
//! `serde_json_canonicalizer` buffers every object member and re-parses every key to sort
//! it; on our payloads that took five times as long as plain serialization and slowed the
//! relay by about a third. A `Value`'s map is already ordered (by bytes), so this writer
//! only re-sorts where UTF-16 order differs, and writes everything else as serde_json does,
//! whose string escaping is the one JCS prescribes. Numbers are written in ECMAScript form
//! (`ryu-js`), as the crate does. The unit tests hold it to the crate's output.

use std::io::{self, Write};

use serde_json::Value;

/// Writes `value` in canonical form.
pub fn write_value(out: &mut impl Write, value: &Value) -> io::Result<()> {
    match value {
        Value::Null => out.write_all(b"null"),
        Value::Bool(true) => out.write_all(b"true"),
        Value::Bool(false) => out.write_all(b"false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.write_all(b",")?;
                }
                write_value(out, item)?;
            }
            out.write_all(b"]")
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            // Byte order and UTF-16 order differ only around U+E000..U+FFFF.
            if members
                .keys()
                .any(|key| key.chars().any(|c| c >= '\u{e000}'))
            {
                sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            }
            write_object(out, sorted)
        }
    }
}

/// Writes an object whose members are already in canonical order.
pub fn write_object<'a>(
    out: &mut impl Write,
    members: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> io::Result<()> {
    out.write_all(b"{")?;
    for (index, (key, value)) in members.into_iter().enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        write_str(out, key)?;
        out.write_all(b":")?;
        write_value(out, value)?;
    }
    out.write_all(b"}")
}

/// Writes a JSON string (JCS escaping is serde_json's).
pub fn write_str(out: &mut impl Write, text: &str) -> io::Result<()> {
    serde_json::to_writer(out, text).map_err(io::Error::other)
}

/// Every number as the IEEE double it denotes, in ECMAScript form (so integers past 2^53
/// lose precision here, as RFC 8785 prescribes).
fn write_number(out: &mut impl Write, number: &serde_json::Number) -> io::Result<()> {
    match number.as_f64() {
        Some(float) if float.is_finite() => {
            out.write_all(ryu_js::Buffer::new().format_finite(float).as_bytes())
        }
        _ => Err(io::Error::other("NaN and infinities are not JSON")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(value: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_what_the_reference_canonicalizer_writes() {
        let values = [
            json!({"b": 1, "a": [true, false, null], "c": {"z": "y", "x": {}}}),
            json!({"numbers": [0, -0.0, 1.0, 0.7, 1e21, 1e-7, 123456789.125, -42, 18446744073709551615u64, i64::MIN, 5e-324, 1.7976931348623157e308]}),
            json!({"escapes": "\"\\/\u{0}\u{8}\t\n\u{c}\r\u{1f}\u{7f}é€😀"}),
            json!({"\u{e000}": 1, "\u{1f600}": 2, "a": 3, "\u{ff}": 4, "\u{20ac}": 5, "\r": 6}),
            json!([]),
            json!("text"),
            json!({"deep": [{"b": [{"d": 1, "c": 2}]}, 3.5]}),
        ];
        for value in values {
            let reference = serde_json_canonicalizer::to_string(&value).unwrap();
            assert_eq!(canonical(&value), reference, "{value}");
        }
    }

    #[test]
    fn matches_the_reference_on_text_as_postgres_stores_it() {
        let stored = r#"{"AgentCreated": {"config": {"name": "Support bot", "model": {"name": "claude", "provider": "anthropic", "temperature": 0.70, "max_output_tokens": 4096}, "metadata": {"team": "billing"}, "tool_ids": ["00000000-0000-0000-0000-000000000001"], "description": "", "system_prompt": "Be brief.\nAlways."}, "agent_id": "a", "tenant_id": "t", "created_at": "2026-01-01T00:00:00Z", "config_version": 1}}"#;
        let value: Value = serde_json::from_str(stored).unwrap();
        assert_eq!(
            canonical(&value),
            serde_json_canonicalizer::to_string(&value).unwrap()
        );
    }
}
