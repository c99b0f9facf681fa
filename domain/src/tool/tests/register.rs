//! Registering tools, and the rules on what a registration states.

use serde_json::json;

use super::*;
use crate::tool::fixtures::{OTHER_TENANT, builtin_kind, tool_registered, version_one};

fn set_name(name: &str) -> ToolCommand {
    register_with(|command| {
        if let ToolCommand::RegisterTool { name: field, .. } = command {
            *field = name.to_owned();
        }
    })
}

fn set_description(description: &str) -> ToolCommand {
    register_with(|command| {
        if let ToolCommand::RegisterTool {
            description: field, ..
        } = command
        {
            *field = description.to_owned();
        }
    })
}

fn registered_as(name: &str) -> ToolEvent {
    ToolEvent::ToolRegistered(ToolRegistered {
        tool_id: TOOL,
        tenant_id: TENANT,
        name: name.to_owned(),
        version: version_one(),
    })
}

#[test]
fn registers_an_active_tool_at_version_one() {
    given_nothing()
        .when(register())
        .then_expect_events(vec![tool_registered()]);
}

#[test]
fn registers_a_builtin_tool_without_an_output_schema() {
    let command = register_with(|command| {
        if let ToolCommand::RegisterTool {
            output_schema,
            kind,
            ..
        } = command
        {
            *output_schema = None;
            *kind = builtin_kind();
        }
    });
    let mut version = version_one();
    version.output_schema = None;
    version.kind = builtin_kind();
    given_nothing()
        .when(command)
        .then_expect_events(vec![ToolEvent::ToolRegistered(ToolRegistered {
            tool_id: TOOL,
            tenant_id: TENANT,
            name: TOOL_NAME.to_owned(),
            version,
        })]);
}

#[test]
fn rejects_registering_a_tool_that_already_exists() {
    given(vec![tool_registered()])
        .when(register())
        .then_expect_error(ToolError::AlreadyExists);
}

#[test]
fn rejects_registering_over_another_tenants_tool_as_already_existing() {
    given(vec![tool_registered()])
        .when(register_with(|command| {
            if let ToolCommand::RegisterTool { tenant_id, .. } = command {
                *tenant_id = OTHER_TENANT;
            }
        }))
        .then_expect_error(ToolError::AlreadyExists);
}

#[test]
fn rejects_registering_a_disabled_tool_again() {
    given(vec![tool_registered(), disabled(1)])
        .when(register())
        .then_expect_error(ToolError::AlreadyExists);
}

// --- Name --------------------------------------------------------------------------------

#[test]
fn accepts_a_name_of_64_characters_and_every_allowed_character() {
    let name = format!("a0_.-{}", "z".repeat(59));
    given_nothing()
        .when(set_name(&name))
        .then_expect_events(vec![registered_as(&name)]);
}

#[test]
fn accepts_a_one_letter_name() {
    given_nothing()
        .when(set_name("a"))
        .then_expect_events(vec![registered_as("a")]);
}

#[test]
fn rejects_an_empty_name() {
    given_nothing()
        .when(set_name(""))
        .then_expect_error(invalid("name", "must not be empty"));
}

#[test]
fn rejects_a_name_of_65_characters() {
    given_nothing()
        .when(set_name(&"a".repeat(65)))
        .then_expect_error(invalid("name", "must be at most 64 characters"));
}

#[test]
fn rejects_names_that_do_not_start_with_a_letter_or_hold_other_characters() {
    let message = "must start with a lowercase letter and hold only a-z, 0-9, '_', '.' and '-'";
    for name in [
        "1weather",
        "_weather",
        "Weather",
        "weather forecast",
        "wéather",
        "a\0b",
        "a\tb",
    ] {
        given_nothing()
            .when(set_name(name))
            .then_expect_error(invalid("name", message));
    }
}

// --- Description -------------------------------------------------------------------------

#[test]
fn accepts_an_empty_description_and_one_of_2000_characters_with_line_breaks() {
    for description in [String::new(), format!("{}\n\t", "d".repeat(1_998))] {
        let mut version = version_one();
        version.description.clone_from(&description);
        given_nothing()
            .when(set_description(&description))
            .then_expect_events(vec![ToolEvent::ToolRegistered(ToolRegistered {
                tool_id: TOOL,
                tenant_id: TENANT,
                name: TOOL_NAME.to_owned(),
                version,
            })]);
    }
}

#[test]
fn rejects_a_description_of_2001_characters() {
    given_nothing()
        .when(set_description(&"d".repeat(2_001)))
        .then_expect_error(invalid("description", "must be at most 2000 characters"));
}

#[test]
fn rejects_a_description_holding_control_characters_or_nul() {
    given_nothing()
        .when(set_description("bell\u{7}"))
        .then_expect_error(invalid(
            "description",
            "must not contain control characters other than tab and line breaks",
        ));
    given_nothing()
        .when(set_description("nul\0"))
        .then_expect_error(invalid("description", "must not contain NUL characters"));
}

// --- Schemas -----------------------------------------------------------------------------

#[test]
fn rejects_an_input_schema_that_is_not_an_object() {
    given_nothing()
        .when(register_with(|command| {
            if let ToolCommand::RegisterTool { input_schema, .. } = command {
                *input_schema = json!(true);
            }
        }))
        .then_expect_error(invalid("input_schema", "must be a JSON object"));
}

#[test]
fn rejects_an_input_schema_with_one_error_per_problem() {
    let result = given_nothing()
        .when(register_with(|command| {
            if let ToolCommand::RegisterTool { input_schema, .. } = command {
                *input_schema = json!({ "type": "invalid_type", "minLength": -1 });
            }
        }))
        .inspect_result();
    let Err(ToolError::Invalid(errors)) = result else {
        panic!("expected Invalid, got {result:?}");
    };
    assert_eq!(errors.len(), 2);
    for error in errors {
        assert_eq!(error.field, "input_schema");
        assert!(error.message.starts_with("must be a valid JSON Schema: "));
    }
}

#[test]
fn rejects_an_output_schema_that_is_not_a_valid_schema() {
    let result = given_nothing()
        .when(register_with(|command| {
            if let ToolCommand::RegisterTool { output_schema, .. } = command {
                *output_schema = Some(json!({ "required": "city" }));
            }
        }))
        .inspect_result();
    let Err(ToolError::Invalid(errors)) = result else {
        panic!("expected Invalid, got {result:?}");
    };
    let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
    assert_eq!(fields, ["output_schema"]);
}

#[test]
fn reports_every_violation_at_once() {
    let result = given_nothing()
        .when(ToolCommand::RegisterTool {
            tenant_id: TENANT,
            tool_id: TOOL,
            name: String::new(),
            description: "\0".to_owned(),
            input_schema: json!([]),
            output_schema: Some(json!("schema")),
            kind: ToolKind::Builtin {
                name: "shell.exec".to_owned(),
            },
            now: at(0),
        })
        .inspect_result();
    let Err(ToolError::Invalid(errors)) = result else {
        panic!("expected Invalid, got {result:?}");
    };
    let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "description",
            "input_schema",
            "output_schema",
            "kind.name"
        ]
    );
}
