//! Forgetting memories, and the rules every command on an existing memory shares.

use super::*;
use crate::memory::fixtures::{OTHER_TENANT, memory_recorded, memory_revised};

fn forgotten_because(reason: &str) -> MemoryEvent {
    MemoryEvent::MemoryForgotten(MemoryForgotten {
        agent_id: AGENT,
        key_id: KEY,
        reason: Some(reason.to_owned()),
        forgotten_at: at(10),
    })
}

// --- ForgetMemory ------------------------------------------------------------------------

#[test]
fn forgets_an_active_memory_naming_the_key_to_delete() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(forget(TENANT, None))
        .then_expect_events(vec![forgotten(10)]);
}

#[test]
fn forgets_a_memory_with_its_reason() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(forget(TENANT, Some("user asked to forget".to_owned())))
        .then_expect_events(vec![forgotten_because("user asked to forget")]);
}

#[test]
fn forgets_a_revised_memory_with_the_one_key_of_every_revision() {
    MemoryTest::with(())
        .given(vec![
            memory_recorded(),
            memory_revised(2, 1),
            memory_revised(3, 2),
        ])
        .when(forget(TENANT, None))
        .then_expect_events(vec![forgotten(10)]);
}

#[test]
fn rejects_forgetting_a_forgotten_memory() {
    MemoryTest::with(())
        .given(vec![memory_recorded(), forgotten(1)])
        .when(forget(TENANT, None))
        .then_expect_error(MemoryError::InvalidTransition {
            action: "forget",
            status: MemoryStatus::Forgotten,
        });
}

#[test]
fn accepts_a_forget_reason_of_500_characters() {
    let reason = "é".repeat(500);
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(forget(TENANT, Some(reason.clone())))
        .then_expect_events(vec![forgotten_because(&reason)]);
}

#[test]
fn rejects_a_forget_reason_of_501_characters() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(forget(TENANT, Some("r".repeat(501))))
        .then_expect_error(invalid("reason", "must be at most 500 characters"));
}

#[test]
fn rejects_a_forget_reason_holding_nul() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(forget(TENANT, Some("gdpr\0request".to_owned())))
        .then_expect_error(invalid("reason", "must not contain NUL characters"));
}

#[test]
fn rejects_a_forget_reason_holding_an_escape_character() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(forget(TENANT, Some("gdpr\u{1b}request".to_owned())))
        .then_expect_error(invalid(
            "reason",
            "must not contain control characters other than tab and line breaks",
        ));
}

#[test]
fn accepts_a_forget_reason_laid_out_with_tabs_and_line_breaks() {
    let reason = "GDPR request:\r\n\tticket 42";
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(forget(TENANT, Some(reason.to_owned())))
        .then_expect_events(vec![forgotten_because(reason)]);
}

// --- Rules shared by every command on an existing memory ---------------------------------

#[test]
fn rejects_every_command_on_a_missing_memory_as_not_found() {
    for (action, command) in commands_on_existing_memories(TENANT) {
        let result = MemoryTest::with(())
            .given_no_previous_events()
            .when(command)
            .inspect_result();
        assert_eq!(result, Err(MemoryError::NotFound), "{action}");
    }
}

#[test]
fn rejects_every_command_on_another_tenants_memory_as_not_found() {
    for (action, command) in commands_on_existing_memories(OTHER_TENANT) {
        let result = MemoryTest::with(())
            .given(vec![memory_recorded()])
            .when(command)
            .inspect_result();
        assert_eq!(result, Err(MemoryError::NotFound), "{action}");
    }
}

#[test]
fn rejects_every_command_on_a_forgotten_memory() {
    for (action, command) in commands_on_existing_memories(TENANT) {
        let result = MemoryTest::with(())
            .given(vec![memory_recorded(), forgotten(1)])
            .when(command)
            .inspect_result();
        let expected = MemoryError::InvalidTransition {
            action,
            status: MemoryStatus::Forgotten,
        };
        assert_eq!(result, Err(expected), "{action}");
    }
}

#[test]
fn checks_the_tenant_before_the_lifecycle() {
    MemoryTest::with(())
        .given(vec![memory_recorded(), forgotten(1)])
        .when(forget(OTHER_TENANT, None))
        .then_expect_error(MemoryError::NotFound);
}

#[test]
fn checks_the_lifecycle_before_the_fields() {
    MemoryTest::with(())
        .given(vec![memory_recorded(), forgotten(1)])
        .when(forget(TENANT, Some("r".repeat(501))))
        .then_expect_error(MemoryError::InvalidTransition {
            action: "forget",
            status: MemoryStatus::Forgotten,
        });
}

#[test]
fn explains_an_invalid_transition_in_words() {
    MemoryTest::with(())
        .given(vec![memory_recorded(), forgotten(1)])
        .when(revise(TENANT))
        .then_expect_error_message("cannot revise a memory that is forgotten");
}
