//! Pausing, resuming and archiving, and the rules every command shares.

use super::*;
use crate::agent::fixtures::{OTHER_TENANT, TENANT, agent_created, at};

// --- PauseAgent --------------------------------------------------------------------------

#[test]
fn pauses_an_active_agent_with_its_reason() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(pause(TENANT, Some("budget review".to_owned())))
        .then_expect_events(vec![AgentEvent::AgentPaused(AgentPaused {
            reason: Some("budget review".to_owned()),
            paused_by: ACTOR.to_owned(),
            paused_at: at(10),
        })]);
}

#[test]
fn pauses_an_active_agent_without_a_reason() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(pause(TENANT, None))
        .then_expect_events(vec![paused(10)]);
}

#[test]
fn pauses_an_agent_that_was_resumed() {
    AgentTest::with(())
        .given(vec![
            agent_created(),
            paused(1),
            AgentEvent::AgentResumed(AgentResumed { resumed_at: at(2) }),
        ])
        .when(pause(TENANT, None))
        .then_expect_events(vec![paused(10)]);
}

#[test]
fn rejects_pausing_a_paused_agent() {
    AgentTest::with(())
        .given(vec![agent_created(), paused(1)])
        .when(pause(TENANT, None))
        .then_expect_error(AgentError::InvalidTransition {
            action: "pause",
            status: AgentStatus::Paused,
        });
}

#[test]
fn rejects_pausing_an_archived_agent() {
    AgentTest::with(())
        .given(vec![agent_created(), archived(1)])
        .when(pause(TENANT, None))
        .then_expect_error(AgentError::InvalidTransition {
            action: "pause",
            status: AgentStatus::Archived,
        });
}

#[test]
fn accepts_a_pause_reason_of_500_characters() {
    let reason = "r".repeat(500);
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(pause(TENANT, Some(reason.clone())))
        .then_expect_events(vec![AgentEvent::AgentPaused(AgentPaused {
            reason: Some(reason),
            paused_by: ACTOR.to_owned(),
            paused_at: at(10),
        })]);
}

#[test]
fn rejects_a_pause_reason_of_501_characters() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(pause(TENANT, Some("r".repeat(501))))
        .then_expect_error(invalid("reason", "must be at most 500 characters"));
}

#[test]
fn rejects_a_pause_reason_holding_nul() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(pause(TENANT, Some("budget\0review".to_owned())))
        .then_expect_error(invalid("reason", "must not contain NUL characters"));
}

#[test]
fn rejects_a_pause_reason_holding_a_bell_character() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(pause(TENANT, Some("budget\u{7}review".to_owned())))
        .then_expect_error(invalid(
            "reason",
            "must not contain control characters other than tab and line breaks",
        ));
}

#[test]
fn accepts_a_pause_reason_laid_out_with_tabs_and_line_breaks() {
    let reason = "Budget review:\r\n\t- wait for finance".to_owned();
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(pause(TENANT, Some(reason.clone())))
        .then_expect_events(vec![AgentEvent::AgentPaused(AgentPaused {
            reason: Some(reason),
            paused_by: ACTOR.to_owned(),
            paused_at: at(10),
        })]);
}

// --- ResumeAgent -------------------------------------------------------------------------

#[test]
fn resumes_a_paused_agent() {
    AgentTest::with(())
        .given(vec![agent_created(), paused(1)])
        .when(resume(TENANT))
        .then_expect_events(vec![AgentEvent::AgentResumed(AgentResumed {
            resumed_at: at(10),
        })]);
}

#[test]
fn rejects_resuming_an_active_agent() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(resume(TENANT))
        .then_expect_error(AgentError::InvalidTransition {
            action: "resume",
            status: AgentStatus::Active,
        });
}

#[test]
fn rejects_resuming_an_archived_agent() {
    AgentTest::with(())
        .given(vec![agent_created(), paused(1), archived(2)])
        .when(resume(TENANT))
        .then_expect_error(AgentError::InvalidTransition {
            action: "resume",
            status: AgentStatus::Archived,
        });
}

// --- ArchiveAgent ------------------------------------------------------------------------

#[test]
fn archives_an_active_agent_with_its_reason() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(archive(TENANT, Some("replaced".to_owned())))
        .then_expect_events(vec![AgentEvent::AgentArchived(AgentArchived {
            reason: Some("replaced".to_owned()),
            archived_at: at(10),
        })]);
}

#[test]
fn archives_a_paused_agent() {
    AgentTest::with(())
        .given(vec![agent_created(), paused(1)])
        .when(archive(TENANT, None))
        .then_expect_events(vec![archived(10)]);
}

#[test]
fn rejects_archiving_an_archived_agent() {
    AgentTest::with(())
        .given(vec![agent_created(), archived(1)])
        .when(archive(TENANT, None))
        .then_expect_error(AgentError::InvalidTransition {
            action: "archive",
            status: AgentStatus::Archived,
        });
}

#[test]
fn accepts_an_archive_reason_of_500_characters() {
    let reason = "é".repeat(500);
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(archive(TENANT, Some(reason.clone())))
        .then_expect_events(vec![AgentEvent::AgentArchived(AgentArchived {
            reason: Some(reason),
            archived_at: at(10),
        })]);
}

#[test]
fn rejects_an_archive_reason_of_501_characters() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(archive(TENANT, Some("r".repeat(501))))
        .then_expect_error(invalid("reason", "must be at most 500 characters"));
}

#[test]
fn rejects_an_archive_reason_holding_nul() {
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(archive(TENANT, Some("\0".to_owned())))
        .then_expect_error(invalid("reason", "must not contain NUL characters"));
}

#[test]
fn accepts_an_archive_reason_on_several_lines() {
    let reason = "Replaced by v2.\nSee ticket 42.".to_owned();
    AgentTest::with(())
        .given(vec![agent_created()])
        .when(archive(TENANT, Some(reason.clone())))
        .then_expect_events(vec![AgentEvent::AgentArchived(AgentArchived {
            reason: Some(reason),
            archived_at: at(10),
        })]);
}

// --- Rules shared by every command on an existing agent ----------------------------------

#[test]
fn rejects_every_command_on_a_missing_agent_as_not_found() {
    for (action, command) in commands_on_existing_agents(TENANT) {
        let result = AgentTest::with(())
            .given_no_previous_events()
            .when(command)
            .inspect_result();
        assert_eq!(result, Err(AgentError::NotFound), "{action}");
    }
}

#[test]
fn rejects_every_command_on_another_tenants_agent_as_not_found() {
    for (action, command) in commands_on_existing_agents(OTHER_TENANT) {
        let result = AgentTest::with(())
            .given(vec![agent_created()])
            .when(command)
            .inspect_result();
        assert_eq!(result, Err(AgentError::NotFound), "{action}");
    }
}

#[test]
fn rejects_every_command_on_an_archived_agent() {
    for (action, command) in commands_on_existing_agents(TENANT) {
        let result = AgentTest::with(())
            .given(vec![agent_created(), archived(1)])
            .when(command)
            .inspect_result();
        let expected = AgentError::InvalidTransition {
            action,
            status: AgentStatus::Archived,
        };
        assert_eq!(result, Err(expected), "{action}");
    }
}

#[test]
fn checks_the_tenant_before_the_lifecycle() {
    AgentTest::with(())
        .given(vec![agent_created(), archived(1)])
        .when(pause(OTHER_TENANT, None))
        .then_expect_error(AgentError::NotFound);
}

#[test]
fn checks_the_lifecycle_before_the_fields() {
    AgentTest::with(())
        .given(vec![agent_created(), paused(1)])
        .when(pause(TENANT, Some("r".repeat(501))))
        .then_expect_error(AgentError::InvalidTransition {
            action: "pause",
            status: AgentStatus::Paused,
        });
}

#[test]
fn explains_an_invalid_transition_in_words() {
    AgentTest::with(())
        .given(vec![agent_created(), archived(1)])
        .when(pause(TENANT, None))
        .then_expect_error_message("cannot pause an agent that is archived");
}
