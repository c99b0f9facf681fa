//! Publishing new versions of a tool.

use serde_json::json;

use super::*;
use crate::tool::fixtures::{builtin_kind, tool_registered, version_one};

/// Version `number` as `publish()` makes it: version 1's description and kind, no output schema.
fn carried_over(number: u32, minutes: i64) -> ToolVersion {
    ToolVersion {
        version: number,
        output_schema: None,
        published_at: at(minutes),
        ..version_one()
    }
}

#[test]
fn publishes_version_two_keeping_the_description_and_kind() {
    given(vec![tool_registered()])
        .when(publish(TENANT))
        .then_expect_events(vec![version_published(carried_over(2, 10))]);
}

#[test]
fn publishes_a_version_with_a_new_description_kind_and_output_schema() {
    let schema = json!({ "type": "object", "properties": { "query": { "type": "string" } } });
    let output = json!({ "type": "array" });
    given(vec![tool_registered()])
        .when(ToolCommand::PublishToolVersion {
            tenant_id: TENANT,
            description: Some("Searches memories".to_owned()),
            input_schema: schema.clone(),
            output_schema: Some(output.clone()),
            kind: Some(builtin_kind()),
            now: at(10),
        })
        .then_expect_events(vec![version_published(ToolVersion {
            version: 2,
            description: "Searches memories".to_owned(),
            input_schema: schema,
            output_schema: Some(output),
            kind: builtin_kind(),
            published_at: at(10),
        })]);
}

#[test]
fn carries_over_from_the_latest_version_not_the_first() {
    let mut second = carried_over(2, 1);
    second.description = "Second".to_owned();
    second.kind = builtin_kind();
    let mut expected = second.clone();
    expected.version = 3;
    expected.published_at = at(10);
    given(vec![tool_registered(), version_published(second)])
        .when(publish(TENANT))
        .then_expect_events(vec![version_published(expected)]);
}

#[test]
fn numbers_each_version_one_past_the_latest() {
    given(vec![
        tool_registered(),
        version_published(carried_over(2, 1)),
        version_published(carried_over(3, 2)),
    ])
    .when(publish(TENANT))
    .then_expect_events(vec![version_published(carried_over(4, 10))]);
}

#[test]
fn publishes_a_version_of_a_deprecated_tool() {
    given(vec![tool_registered(), deprecated(1)])
        .when(publish(TENANT))
        .then_expect_events(vec![version_published(carried_over(2, 10))]);
}

#[test]
fn rejects_publishing_a_version_of_a_disabled_tool() {
    given(vec![tool_registered(), disabled(1)])
        .when(publish(TENANT))
        .then_expect_error(ToolError::InvalidTransition {
            action: "publish",
            status: ToolStatus::Disabled,
        });
}

#[test]
fn rejects_a_version_whose_input_schema_is_not_an_object() {
    given(vec![tool_registered()])
        .when(ToolCommand::PublishToolVersion {
            tenant_id: TENANT,
            description: None,
            input_schema: json!("object"),
            output_schema: None,
            kind: None,
            now: at(10),
        })
        .then_expect_error(invalid("input_schema", "must be a JSON object"));
}

#[test]
fn rejects_a_version_with_a_description_of_2001_characters() {
    given(vec![tool_registered()])
        .when(ToolCommand::PublishToolVersion {
            tenant_id: TENANT,
            description: Some("d".repeat(2_001)),
            input_schema: input_schema(),
            output_schema: None,
            kind: None,
            now: at(10),
        })
        .then_expect_error(invalid("description", "must be at most 2000 characters"));
}

#[test]
fn rejects_a_version_with_an_invalid_kind() {
    given(vec![tool_registered()])
        .when(ToolCommand::PublishToolVersion {
            tenant_id: TENANT,
            description: None,
            input_schema: input_schema(),
            output_schema: None,
            kind: Some(ToolKind::Http {
                url: "ftp://example.com".to_owned(),
                method: HttpMethod::Post,
                timeout_ms: 0,
                retries: 0,
            }),
            now: at(10),
        })
        .then_expect_error(ToolError::Invalid(vec![
            FieldError::new("kind.url", "must start with http:// or https://"),
            FieldError::new("kind.timeout_ms", "must be between 1 and 300000"),
        ]));
}
