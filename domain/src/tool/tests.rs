//! Given / when / then tests of the tool aggregate, and the helpers they share.

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use uuid::Uuid;

use super::fixtures::{TENANT, TOOL, TOOL_NAME, at, checker, http_kind, input_schema};
use super::*;

mod lifecycle;
mod publish;
mod register;
mod state;

fn given(events: Vec<ToolEvent>) -> AggregateTestExecutor<Tool> {
    TestFramework::<Tool>::with(checker()).given(events)
}

fn given_nothing() -> AggregateTestExecutor<Tool> {
    TestFramework::<Tool>::with(checker()).given_no_previous_events()
}

/// The registration command the fixtures' `tool_registered` event answers.
fn register() -> ToolCommand {
    ToolCommand::RegisterTool {
        tenant_id: TENANT,
        tool_id: TOOL,
        name: TOOL_NAME.to_owned(),
        description: "Forecasts the weather for a city".to_owned(),
        input_schema: input_schema(),
        output_schema: Some(fixtures::output_schema()),
        kind: http_kind(),
        now: at(0),
    }
}

/// `register()` with one field changed.
fn register_with(change: impl FnOnce(&mut ToolCommand)) -> ToolCommand {
    let mut command = register();
    change(&mut command);
    command
}

/// Publishes a new input schema, keeping description and kind, without an output schema.
fn publish(tenant_id: Uuid) -> ToolCommand {
    ToolCommand::PublishToolVersion {
        tenant_id,
        description: None,
        input_schema: input_schema(),
        output_schema: None,
        kind: None,
        now: at(10),
    }
}

fn deprecate(tenant_id: Uuid, reason: Option<String>) -> ToolCommand {
    ToolCommand::DeprecateTool {
        tenant_id,
        reason,
        now: at(10),
    }
}

fn disable(tenant_id: Uuid, reason: Option<String>) -> ToolCommand {
    ToolCommand::DisableTool {
        tenant_id,
        reason,
        now: at(10),
    }
}

fn version_published(version: ToolVersion) -> ToolEvent {
    ToolEvent::ToolVersionPublished(ToolVersionPublished { version })
}

fn deprecated(minutes: i64) -> ToolEvent {
    ToolEvent::ToolDeprecated(ToolDeprecated {
        reason: None,
        deprecated_at: at(minutes),
    })
}

fn disabled(minutes: i64) -> ToolEvent {
    ToolEvent::ToolDisabled(ToolDisabled {
        reason: None,
        disabled_at: at(minutes),
    })
}

/// One command of each kind that needs an existing tool.
fn commands_on_existing_tools(tenant_id: Uuid) -> Vec<ToolCommand> {
    vec![
        publish(tenant_id),
        deprecate(tenant_id, None),
        disable(tenant_id, None),
    ]
}

fn invalid(field: &str, message: &str) -> ToolError {
    ToolError::Invalid(vec![FieldError::new(field, message)])
}
