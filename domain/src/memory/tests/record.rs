//! Recording memories.

use super::*;
use crate::memory::fixtures::{OTHER_TENANT, memory_recorded};

#[test]
fn records_an_active_memory_at_revision_one() {
    MemoryTest::with(())
        .given_no_previous_events()
        .when(Recording::valid().command(TENANT))
        .then_expect_events(vec![memory_recorded()]);
}

#[test]
fn records_a_memory_written_by_a_person_without_a_source() {
    Recording {
        source: MemorySource::default(),
        ..Recording::valid()
    }
    .expect_accepted();
}

#[test]
fn records_a_memory_of_every_kind() {
    for kind in [MemoryKind::Core, MemoryKind::Episodic, MemoryKind::Semantic] {
        Recording {
            kind,
            ..Recording::valid()
        }
        .expect_accepted();
    }
}

#[test]
fn records_a_memory_without_tags() {
    Recording {
        tags: Vec::new(),
        ..Recording::valid()
    }
    .expect_accepted();
}

#[test]
fn counts_the_plaintext_in_characters_not_bytes() {
    let recording = Recording {
        content: "Café crème".to_owned(),
        ..Recording::valid()
    };
    let MemoryEvent::MemoryRecorded(recorded) = recording.recorded() else {
        unreachable!("recorded() builds a MemoryRecorded");
    };
    assert_eq!(recorded.content_chars, 10);
    recording.expect_accepted();
}

#[test]
fn never_puts_the_plaintext_into_the_event() {
    let events = MemoryTest::with(())
        .given_no_previous_events()
        .when(Recording::valid().command(TENANT))
        .inspect_result()
        .unwrap();
    let json = serde_json::to_string(&events).unwrap();
    assert!(!json.contains(CONTENT), "{json}");
    assert!(json.contains(&sealed(1).ciphertext));
}

#[test]
fn rejects_recording_a_memory_that_already_exists() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(Recording::valid().command(TENANT))
        .then_expect_error(MemoryError::AlreadyExists);
}

#[test]
fn rejects_recording_a_memory_that_exists_for_another_tenant() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(Recording::valid().command(OTHER_TENANT))
        .then_expect_error(MemoryError::AlreadyExists);
}

#[test]
fn rejects_recording_a_forgotten_memory_again_as_already_existing() {
    MemoryTest::with(())
        .given(vec![memory_recorded(), forgotten(1)])
        .when(Recording::valid().command(TENANT))
        .then_expect_error(MemoryError::AlreadyExists);
}

#[test]
fn checks_existence_before_the_fields() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(
            Recording {
                content: String::new(),
                ..Recording::valid()
            }
            .command(TENANT),
        )
        .then_expect_error(MemoryError::AlreadyExists);
}

#[test]
fn reports_every_violation_at_once() {
    Recording {
        content: " ".to_owned(),
        sealed: SealedContent {
            nonce: String::new(),
            ..sealed(1)
        },
        tags: vec!["same".to_owned(), "same".to_owned()],
        importance: 2.0,
        source: MemorySource {
            step: Some(1),
            ..MemorySource::default()
        },
        ..Recording::valid()
    }
    .expect_rejected_with(vec![
        FieldError::new("content", "must not be empty"),
        FieldError::new("sealed.nonce", "must not be empty"),
        FieldError::new("tags", "must not contain duplicates"),
        FieldError::new("importance", "must be between 0 and 1"),
        FieldError::new("source.step", "requires source.run_id"),
    ]);
}
