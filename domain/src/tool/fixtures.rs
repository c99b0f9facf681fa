//! Sample values shared by the tool and tool-invocation tests.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    HttpMethod, LibrarySchemaCheck, SchemaChecker, ToolEvent, ToolKind, ToolRegistered, ToolVersion,
};

pub(crate) const TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);
pub(crate) const OTHER_TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002);
pub(crate) const TOOL: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00b1);
pub(crate) const TOOL_NAME: &str = "weather.forecast";

/// A fixed instant `minutes` after a reference time, so tests never read the clock.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// The checker every test runs with: the real JSON Schema library.
pub(crate) fn checker() -> SchemaChecker {
    Arc::new(LibrarySchemaCheck)
}

/// Arguments: a required non-empty `city` and an optional `days` from 1 to 14, nothing else.
pub(crate) fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": { "type": "string", "minLength": 1 },
            "days": { "type": "integer", "minimum": 1, "maximum": 14 }
        },
        "required": ["city"],
        "additionalProperties": false
    })
}

/// Output: an object with a numeric `temperature_c`.
pub(crate) fn output_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "temperature_c": { "type": "number" } },
        "required": ["temperature_c"]
    })
}

pub(crate) fn http_kind() -> ToolKind {
    ToolKind::Http {
        url: "https://tools.example.com/weather".to_owned(),
        method: HttpMethod::Post,
        timeout_ms: 10_000,
        retries: 2,
    }
}

pub(crate) fn builtin_kind() -> ToolKind {
    ToolKind::Builtin {
        name: "memory.search".to_owned(),
    }
}

/// Version 1 as the registration fixture publishes it.
pub(crate) fn version_one() -> ToolVersion {
    ToolVersion {
        version: 1,
        description: "Forecasts the weather for a city".to_owned(),
        input_schema: input_schema(),
        output_schema: Some(output_schema()),
        kind: http_kind(),
        published_at: at(0),
    }
}

pub(crate) fn tool_registered() -> ToolEvent {
    ToolEvent::ToolRegistered(ToolRegistered {
        tool_id: TOOL,
        tenant_id: TENANT,
        name: TOOL_NAME.to_owned(),
        version: version_one(),
    })
}
