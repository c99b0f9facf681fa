//! The state `apply` rebuilds, and the status type.

use cqrs_es::Aggregate;

use super::*;
use crate::memory::fixtures::{memory_recorded, memory_revised};

fn replay(events: Vec<MemoryEvent>) -> Memory {
    let mut memory = Memory::default();
    for event in events {
        memory.apply(event);
    }
    memory
}

// --- State rebuilt by apply --------------------------------------------------------------

#[test]
fn a_new_memory_does_not_exist() {
    let memory = Memory::default();
    assert!(!memory.exists());
    assert_eq!(memory.id(), None);
    assert_eq!(memory.tenant_id(), None);
    assert_eq!(memory.status(), None);
    assert_eq!(memory.content(), None);
    assert_eq!(memory.key_id(), None);
    assert_eq!(memory.revision(), 0);
}

#[test]
fn a_recorded_memory_is_active_at_revision_one() {
    let memory = replay(vec![memory_recorded()]);
    assert!(memory.exists());
    assert_eq!(memory.id(), Some(MEMORY));
    assert_eq!(memory.tenant_id(), Some(TENANT));
    assert_eq!(memory.agent_id(), Some(AGENT));
    assert_eq!(memory.kind(), Some(MemoryKind::Semantic));
    assert_eq!(memory.status(), Some(MemoryStatus::Active));
    assert_eq!(memory.revision(), 1);
    assert_eq!(memory.content(), Some(&sealed(1)));
    assert_eq!(memory.content_chars(), 31);
    assert_eq!(memory.tags(), valid_tags().as_slice());
    assert_eq!(memory.importance(), 0.5);
    assert_eq!(memory.source(), &run_source());
    assert_eq!(memory.key_id(), Some(KEY));
    assert_eq!(memory.created_at(), Some(at(0)));
    assert_eq!(memory.updated_at(), Some(at(0)));
}

#[test]
fn a_revised_memory_holds_the_latest_revision() {
    let memory = replay(vec![
        memory_recorded(),
        memory_revised(2, 1),
        memory_revised(3, 2),
    ]);
    assert_eq!(memory.status(), Some(MemoryStatus::Active));
    assert_eq!(memory.revision(), 3);
    assert_eq!(memory.content(), Some(&sealed(3)));
    assert_eq!(memory.content_chars(), 30);
    assert_eq!(memory.source(), &MemorySource::default());
    assert_eq!(memory.key_id(), Some(KEY));
    assert_eq!(memory.created_at(), Some(at(0)));
    assert_eq!(memory.updated_at(), Some(at(2)));
}

#[test]
fn a_forgotten_memory_keeps_its_key_id_but_no_content() {
    let memory = replay(vec![memory_recorded(), memory_revised(2, 1), forgotten(2)]);
    assert_eq!(memory.status(), Some(MemoryStatus::Forgotten));
    assert_eq!(memory.content(), None);
    assert_eq!(memory.key_id(), Some(KEY));
    assert_eq!(memory.revision(), 2);
    assert_eq!(memory.updated_at(), Some(at(2)));
}

#[test]
fn applying_events_out_of_order_never_panics() {
    let memory = replay(vec![forgotten(0), memory_revised(5, 1)]);
    // Without a MemoryRecorded the memory still does not exist, so every command is NotFound.
    assert!(!memory.exists());
    assert_eq!(memory.revision(), 5);
}

#[test]
fn the_aggregate_type_is_memory() {
    assert_eq!(Memory::TYPE, "memory");
    assert_eq!(Memory::TYPE, MEMORY_AGGREGATE_TYPE);
}

#[test]
fn a_memory_round_trips_through_json() {
    let memory = replay(vec![memory_recorded(), memory_revised(2, 1)]);
    let json = serde_json::to_string(&memory).unwrap();
    assert_eq!(serde_json::from_str::<Memory>(&json).unwrap(), memory);
}

// --- MemoryStatus ------------------------------------------------------------------------

#[test]
fn statuses_print_and_serialize_as_snake_case_words() {
    for (status, word) in [
        (MemoryStatus::Active, "active"),
        (MemoryStatus::Forgotten, "forgotten"),
    ] {
        assert_eq!(status.as_str(), word);
        assert_eq!(status.to_string(), word);
        assert_eq!(serde_json::to_value(status).unwrap(), word);
        assert_eq!(
            serde_json::from_value::<MemoryStatus>(word.into()).unwrap(),
            status
        );
    }
}
