//! Given / when / then tests of the agent aggregate, and the helpers they share.

use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::fixtures::{ACTOR, at};
use super::*;

mod create_and_update;
mod lifecycle;
mod state;

type AgentTest = TestFramework<Agent>;

fn config_updated(config: AgentConfig, config_version: u32, minutes: i64) -> AgentEvent {
    AgentEvent::AgentConfigUpdated(AgentConfigUpdated {
        config,
        config_version,
        updated_at: at(minutes),
    })
}

fn paused(minutes: i64) -> AgentEvent {
    AgentEvent::AgentPaused(AgentPaused {
        reason: None,
        paused_by: ACTOR.to_owned(),
        paused_at: at(minutes),
    })
}

fn archived(minutes: i64) -> AgentEvent {
    AgentEvent::AgentArchived(AgentArchived {
        reason: None,
        archived_at: at(minutes),
    })
}

fn rename(tenant_id: Uuid, name: &str) -> AgentCommand {
    AgentCommand::UpdateAgentConfig {
        tenant_id,
        changes: AgentConfigChanges {
            name: Some(name.to_owned()),
            ..AgentConfigChanges::default()
        },
        now: at(10),
    }
}

fn pause(tenant_id: Uuid, reason: Option<String>) -> AgentCommand {
    AgentCommand::PauseAgent {
        tenant_id,
        paused_by: ACTOR.to_owned(),
        reason,
        now: at(10),
    }
}

fn resume(tenant_id: Uuid) -> AgentCommand {
    AgentCommand::ResumeAgent {
        tenant_id,
        now: at(10),
    }
}

fn archive(tenant_id: Uuid, reason: Option<String>) -> AgentCommand {
    AgentCommand::ArchiveAgent {
        tenant_id,
        reason,
        now: at(10),
    }
}

/// One command of each kind that needs an existing agent, with the action word it reports.
fn commands_on_existing_agents(tenant_id: Uuid) -> Vec<(&'static str, AgentCommand)> {
    vec![
        ("update", rename(tenant_id, "Renamed")),
        ("pause", pause(tenant_id, None)),
        ("resume", resume(tenant_id)),
        ("archive", archive(tenant_id, None)),
    ]
}

fn invalid(field: &str, message: &str) -> AgentError {
    AgentError::Invalid(vec![FieldError::new(field, message)])
}
