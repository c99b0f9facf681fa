//! The stored shape of tool events.

use serde_json::json;

use super::*;
use crate::tool::fixtures::{TENANT, TOOL, at, tool_registered, version_one};

fn one_of_each() -> Vec<ToolEvent> {
    vec![
        tool_registered(),
        ToolEvent::ToolVersionPublished(ToolVersionPublished {
            version: ToolVersion {
                version: 2,
                published_at: at(1),
                ..version_one()
            },
        }),
        ToolEvent::ToolDeprecated(ToolDeprecated {
            reason: Some("use weather.v2".to_owned()),
            deprecated_at: at(2),
        }),
        ToolEvent::ToolDisabled(ToolDisabled {
            reason: None,
            disabled_at: at(3),
        }),
    ]
}

#[test]
fn every_event_round_trips_through_json() {
    for event in one_of_each() {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<ToolEvent>(&json).unwrap(), event);
    }
}

#[test]
fn every_event_is_tagged_by_its_type_name() {
    let events = one_of_each();
    let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(types, ToolEvent::TYPES);
    for event in events {
        let value = serde_json::to_value(&event).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 1);
        assert!(object.contains_key(&event.event_type()));
        assert_eq!(event.event_version(), "1");
    }
}

#[test]
fn tool_registered_serializes_with_an_external_tag() {
    let value = serde_json::to_value(tool_registered()).unwrap();
    assert_eq!(
        value,
        json!({
            "ToolRegistered": {
                "tool_id": TOOL,
                "tenant_id": TENANT,
                "name": "weather.forecast",
                "version": {
                    "version": 1,
                    "description": "Forecasts the weather for a city",
                    "input_schema": {
                        "type": "object",
                        "properties": {
                            "city": { "type": "string", "minLength": 1 },
                            "days": { "type": "integer", "minimum": 1, "maximum": 14 }
                        },
                        "required": ["city"],
                        "additionalProperties": false
                    },
                    "output_schema": {
                        "type": "object",
                        "properties": { "temperature_c": { "type": "number" } },
                        "required": ["temperature_c"]
                    },
                    "kind": {
                        "type": "http",
                        "url": "https://tools.example.com/weather",
                        "method": "POST",
                        "timeout_ms": 10000,
                        "retries": 2
                    },
                    "published_at": "2025-01-01T12:00:00Z"
                }
            }
        })
    );
}

#[test]
fn occurred_at_is_the_time_the_event_states() {
    let times: Vec<_> = one_of_each().iter().map(ToolEvent::occurred_at).collect();
    assert_eq!(times, vec![at(0), at(1), at(2), at(3)]);
}
