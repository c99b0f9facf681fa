//! Deprecating and disabling, and the rules every command on an existing tool shares.

use super::*;
use crate::tool::fixtures::{OTHER_TENANT, tool_registered};

// --- DeprecateTool -----------------------------------------------------------------------

#[test]
fn deprecates_an_active_tool_with_its_reason() {
    given(vec![tool_registered()])
        .when(deprecate(TENANT, Some("use weather.v2".to_owned())))
        .then_expect_events(vec![ToolEvent::ToolDeprecated(ToolDeprecated {
            reason: Some("use weather.v2".to_owned()),
            deprecated_at: at(10),
        })]);
}

#[test]
fn deprecates_a_tool_that_published_versions_since() {
    given(vec![
        tool_registered(),
        version_published(ToolVersion {
            version: 2,
            published_at: at(1),
            ..fixtures::version_one()
        }),
    ])
    .when(deprecate(TENANT, None))
    .then_expect_events(vec![deprecated(10)]);
}

#[test]
fn rejects_deprecating_a_deprecated_tool() {
    given(vec![tool_registered(), deprecated(1)])
        .when(deprecate(TENANT, None))
        .then_expect_error(ToolError::InvalidTransition {
            action: "deprecate",
            status: ToolStatus::Deprecated,
        });
}

#[test]
fn rejects_deprecating_a_disabled_tool() {
    given(vec![tool_registered(), disabled(1)])
        .when(deprecate(TENANT, None))
        .then_expect_error(ToolError::InvalidTransition {
            action: "deprecate",
            status: ToolStatus::Disabled,
        });
}

#[test]
fn accepts_a_reason_of_500_characters() {
    let reason = "r".repeat(500);
    given(vec![tool_registered()])
        .when(deprecate(TENANT, Some(reason.clone())))
        .then_expect_events(vec![ToolEvent::ToolDeprecated(ToolDeprecated {
            reason: Some(reason),
            deprecated_at: at(10),
        })]);
}

#[test]
fn rejects_a_deprecation_reason_of_501_characters() {
    given(vec![tool_registered()])
        .when(deprecate(TENANT, Some("r".repeat(501))))
        .then_expect_error(invalid("reason", "must be at most 500 characters"));
}

// --- DisableTool -------------------------------------------------------------------------

#[test]
fn disables_an_active_tool_with_its_reason() {
    given(vec![tool_registered()])
        .when(disable(TENANT, Some("endpoint leaked data".to_owned())))
        .then_expect_events(vec![ToolEvent::ToolDisabled(ToolDisabled {
            reason: Some("endpoint leaked data".to_owned()),
            disabled_at: at(10),
        })]);
}

#[test]
fn disables_a_deprecated_tool() {
    given(vec![tool_registered(), deprecated(1)])
        .when(disable(TENANT, None))
        .then_expect_events(vec![disabled(10)]);
}

#[test]
fn rejects_disabling_a_disabled_tool() {
    given(vec![tool_registered(), disabled(1)])
        .when(disable(TENANT, None))
        .then_expect_error(ToolError::InvalidTransition {
            action: "disable",
            status: ToolStatus::Disabled,
        });
}

#[test]
fn rejects_a_disabling_reason_holding_nul() {
    given(vec![tool_registered()])
        .when(disable(TENANT, Some("leak\0".to_owned())))
        .then_expect_error(invalid("reason", "must not contain NUL characters"));
}

// --- Rules every command on an existing tool shares --------------------------------------

#[test]
fn rejects_every_command_on_a_tool_that_does_not_exist() {
    for command in commands_on_existing_tools(TENANT) {
        given_nothing()
            .when(command)
            .then_expect_error(ToolError::NotFound);
    }
}

#[test]
fn reports_another_tenants_tool_as_not_found() {
    for command in commands_on_existing_tools(OTHER_TENANT) {
        given(vec![tool_registered()])
            .when(command)
            .then_expect_error(ToolError::NotFound);
    }
}

#[test]
fn reports_a_status_rejection_before_invalid_fields() {
    given(vec![tool_registered(), disabled(1)])
        .when(disable(TENANT, Some("\0".to_owned())))
        .then_expect_error(ToolError::InvalidTransition {
            action: "disable",
            status: ToolStatus::Disabled,
        });
}
