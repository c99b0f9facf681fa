//! Creating agents and updating their configuration.

use super::*;
use crate::agent::fixtures::{AGENT, OTHER_TENANT, TENANT, agent_created, at, valid_config};

// --- CreateAgent -------------------------------------------------------------------------

#[test]
fn creates_an_active_agent_at_config_version_one() {
    AgentTest::with(())
        .given_no_previous_events()
        .when(AgentCommand::CreateAgent {
            tenant_id: TENANT,
            agent_id: AGENT,
            config: valid_config(),
            now: at(0),
        })
        .then_expect_events(vec![agent_created()]);
}

#[test]
fn rejects_creating_an_agent_that_already_exists() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(AgentCommand::CreateAgent {
            tenant_id: TENANT,
            agent_id: AGENT,
            config: valid_config(),
            now: at(1),
        })
        .then_expect_error(AgentError::AlreadyExists);
}

#[test]
fn rejects_creating_an_agent_that_exists_for_another_tenant() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(AgentCommand::CreateAgent {
            tenant_id: OTHER_TENANT,
            agent_id: AGENT,
            config: valid_config(),
            now: at(1),
        })
        .then_expect_error(AgentError::AlreadyExists);
}

#[test]
fn rejects_recreating_an_archived_agent_as_already_existing() {
    AgentTest::with(())
        .given(vec![agent_created(), archived(1)])
        .when(AgentCommand::CreateAgent {
            tenant_id: TENANT,
            agent_id: AGENT,
            config: valid_config(),
            now: at(2),
        })
        .then_expect_error(AgentError::AlreadyExists);
}

#[test]
fn rejects_creating_an_agent_with_an_invalid_config() {
    let mut config = valid_config();
    config.name = String::new();
    AgentTest::with(())
        .given_no_previous_events()
        .when(AgentCommand::CreateAgent {
            tenant_id: TENANT,
            agent_id: AGENT,
            config,
            now: at(0),
        })
        .then_expect_error(invalid("name", "must not be empty"));
}

// --- UpdateAgentConfig -------------------------------------------------------------------

#[test]
fn updates_an_active_agents_config_to_the_next_version() {
    let mut expected = valid_config();
    expected.name = "Renamed".to_owned();
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(rename(TENANT, "Renamed"))
        .then_expect_events(vec![config_updated(expected, 2, 10)]);
}

#[test]
fn updates_a_paused_agents_config() {
    let mut expected = valid_config();
    expected.name = "Renamed".to_owned();
    AgentTest::with(())
        .given(vec![agent_created(), paused(1)])
        .when(rename(TENANT, "Renamed"))
        .then_expect_events(vec![config_updated(expected, 2, 10)]);
}

#[test]
fn increments_the_config_version_after_earlier_updates() {
    let mut expected = valid_config();
    expected.name = "Third".to_owned();
    AgentTest::with(())
        .given(vec![
            agent_created(),
            config_updated(valid_config(), 2, 1),
            config_updated(valid_config(), 3, 2),
        ])
        .when(rename(TENANT, "Third"))
        .then_expect_events(vec![config_updated(expected, 4, 10)]);
}

#[test]
fn records_the_whole_merged_config_when_updating() {
    let model = ModelConfig {
        provider: "openai".to_owned(),
        name: "gpt".to_owned(),
        temperature: 0.0,
        max_output_tokens: 1,
    };
    let mut expected = valid_config();
    expected.model = model.clone();
    expected.tool_ids = Vec::new();
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(AgentCommand::UpdateAgentConfig {
            tenant_id: TENANT,
            changes: AgentConfigChanges {
                model: Some(model),
                tool_ids: Some(Vec::new()),
                ..AgentConfigChanges::default()
            },
            now: at(10),
        })
        .then_expect_events(vec![config_updated(expected, 2, 10)]);
}

#[test]
fn accepts_an_update_that_leaves_the_config_as_it_was() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(rename(TENANT, &valid_config().name))
        .then_expect_events(vec![config_updated(valid_config(), 2, 10)]);
}

#[test]
fn rejects_an_update_with_no_changes() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(AgentCommand::UpdateAgentConfig {
            tenant_id: TENANT,
            changes: AgentConfigChanges::default(),
            now: at(10),
        })
        .then_expect_error(AgentError::NoChanges);
}

#[test]
fn rejects_an_update_whose_merged_config_is_invalid() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(rename(TENANT, "   "))
        .then_expect_error(invalid("name", "must not be empty"));
}

#[test]
fn rejects_an_update_that_puts_nul_into_the_system_prompt() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(AgentCommand::UpdateAgentConfig {
            tenant_id: TENANT,
            changes: AgentConfigChanges {
                system_prompt: Some("Be helpful.\0".to_owned()),
                ..AgentConfigChanges::default()
            },
            now: at(10),
        })
        .then_expect_error(invalid("system_prompt", "must not contain NUL characters"));
}

#[test]
fn rejects_updating_an_archived_agent() {
    AgentTest::with(())
        .given(vec![agent_created(), archived(1)])
        .when(rename(TENANT, "Renamed"))
        .then_expect_error(AgentError::InvalidTransition {
            action: "update",
            status: AgentStatus::Archived,
        });
}
