//! The state `apply` rebuilds, and the status type.

use cqrs_es::Aggregate;

use super::*;
use crate::agent::fixtures::{AGENT, TENANT, agent_created, at, valid_config};

// --- State rebuilt by apply --------------------------------------------------------------

fn replay(events: Vec<AgentEvent>) -> Agent {
    let mut agent = Agent::default();
    for event in events {
        agent.apply(event);
    }
    agent
}

#[test]
fn a_new_agent_does_not_exist() {
    let agent = Agent::default();
    assert!(!agent.exists());
    assert_eq!(agent.id(), None);
    assert_eq!(agent.tenant_id(), None);
    assert_eq!(agent.status(), None);
    assert_eq!(agent.config(), None);
    assert_eq!(agent.config_version(), 0);
}

#[test]
fn a_created_agent_is_active_at_version_one() {
    let agent = replay(vec![agent_created()]);
    assert!(agent.exists());
    assert_eq!(agent.id(), Some(AGENT));
    assert_eq!(agent.tenant_id(), Some(TENANT));
    assert_eq!(agent.status(), Some(AgentStatus::Active));
    assert_eq!(agent.config(), Some(&valid_config()));
    assert_eq!(agent.config_version(), 1);
    assert_eq!(agent.created_at(), Some(at(0)));
    assert_eq!(agent.updated_at(), Some(at(0)));
}

#[test]
fn replaying_the_lifecycle_tracks_status_version_and_time() {
    let mut renamed = valid_config();
    renamed.name = "Renamed".to_owned();
    let agent = replay(vec![
        agent_created(),
        config_updated(renamed.clone(), 2, 1),
        paused(2),
        AgentEvent::AgentResumed(AgentResumed { resumed_at: at(3) }),
        archived(4),
    ]);
    assert_eq!(agent.status(), Some(AgentStatus::Archived));
    assert_eq!(agent.config(), Some(&renamed));
    assert_eq!(agent.config_version(), 2);
    assert_eq!(agent.created_at(), Some(at(0)));
    assert_eq!(agent.updated_at(), Some(at(4)));
}

#[test]
fn applying_events_out_of_order_never_panics() {
    let agent = replay(vec![
        archived(0),
        AgentEvent::AgentResumed(AgentResumed { resumed_at: at(1) }),
        config_updated(valid_config(), 7, 2),
        paused(3),
    ]);
    // Without an AgentCreated the agent still does not exist, so every command is NotFound.
    assert!(!agent.exists());
    assert_eq!(agent.config_version(), 7);
}

#[test]
fn the_aggregate_type_is_agent() {
    assert_eq!(Agent::TYPE, "agent");
    assert_eq!(Agent::TYPE, AGENT_AGGREGATE_TYPE);
}

#[test]
fn an_agent_round_trips_through_json() {
    let agent = replay(vec![agent_created(), paused(1)]);
    let json = serde_json::to_string(&agent).unwrap();
    assert_eq!(serde_json::from_str::<Agent>(&json).unwrap(), agent);
}

// --- AgentStatus -------------------------------------------------------------------------

#[test]
fn statuses_print_and_serialize_as_snake_case_words() {
    for (status, word) in [
        (AgentStatus::Active, "active"),
        (AgentStatus::Paused, "paused"),
        (AgentStatus::Archived, "archived"),
    ] {
        assert_eq!(status.as_str(), word);
        assert_eq!(status.to_string(), word);
        assert_eq!(serde_json::to_value(status).unwrap(), word);
        assert_eq!(
            serde_json::from_value::<AgentStatus>(word.into()).unwrap(),
            status
        );
    }
}
