//! Revising memories: new content as the next revision, tags and importance replaced when given.

use super::*;
use crate::memory::fixtures::{
    OTHER_KEY, OTHER_TENANT, RUN, memory_recorded, memory_revised, sealed,
};

fn revised(revision: Revision, number: u32, tags: Vec<String>, importance: f64) -> MemoryEvent {
    MemoryEvent::MemoryRevised(MemoryRevised {
        agent_id: AGENT,
        content_chars: count_chars(&revision.content),
        content: revision.sealed,
        tags,
        importance,
        source: revision.source,
        revision: number,
        revised_at: at(10),
    })
}

#[test]
fn revises_an_active_memory_to_revision_two_keeping_tags_and_importance() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revise(TENANT))
        .then_expect_events(vec![memory_revised(2, 10)]);
}

#[test]
fn increments_the_revision_after_earlier_revisions() {
    let revision = Revision {
        sealed: sealed(4),
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![
            memory_recorded(),
            memory_revised(2, 1),
            memory_revised(3, 2),
        ])
        .when(revision.clone().command(TENANT))
        .then_expect_events(vec![revised(revision, 4, valid_tags(), 0.5)]);
}

#[test]
fn replaces_tags_and_importance_when_given() {
    let revision = Revision {
        tags: Some(vec!["shipping".to_owned()]),
        importance: Some(1.0),
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.clone().command(TENANT))
        .then_expect_events(vec![revised(revision, 2, vec!["shipping".to_owned()], 1.0)]);
}

#[test]
fn replaces_tags_with_an_empty_list() {
    let revision = Revision {
        tags: Some(Vec::new()),
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.clone().command(TENANT))
        .then_expect_events(vec![revised(revision, 2, Vec::new(), 0.5)]);
}

#[test]
fn keeps_the_tags_and_importance_of_the_latest_revision() {
    let earlier = MemoryEvent::MemoryRevised(MemoryRevised {
        tags: vec!["shipping".to_owned()],
        importance: 0.9,
        ..match memory_revised(2, 1) {
            MemoryEvent::MemoryRevised(revised) => revised,
            _ => unreachable!("memory_revised builds a MemoryRevised"),
        }
    });
    let revision = Revision {
        sealed: sealed(3),
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded(), earlier])
        .when(revision.clone().command(TENANT))
        .then_expect_events(vec![revised(revision, 3, vec!["shipping".to_owned()], 0.9)]);
}

#[test]
fn records_the_source_of_the_revision_itself() {
    let revision = Revision {
        source: MemorySource {
            run_id: Some(RUN),
            step: Some(7),
            tool_call_id: None,
        },
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.clone().command(TENANT))
        .then_expect_events(vec![revised(revision, 2, valid_tags(), 0.5)]);
}

#[test]
fn accepts_a_revision_with_unchanged_content() {
    let revision = Revision {
        content: CONTENT.to_owned(),
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.clone().command(TENANT))
        .then_expect_events(vec![revised(revision, 2, valid_tags(), 0.5)]);
}

#[test]
fn rejects_revising_a_forgotten_memory() {
    MemoryTest::with(())
        .given(vec![memory_recorded(), forgotten(1)])
        .when(revise(TENANT))
        .then_expect_error(MemoryError::InvalidTransition {
            action: "revise",
            status: MemoryStatus::Forgotten,
        });
}

#[test]
fn rejects_revising_a_missing_memory_as_not_found() {
    MemoryTest::with(())
        .given_no_previous_events()
        .when(revise(TENANT))
        .then_expect_error(MemoryError::NotFound);
}

#[test]
fn rejects_revising_another_tenants_memory_as_not_found() {
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revise(OTHER_TENANT))
        .then_expect_error(MemoryError::NotFound);
}

#[test]
fn rejects_a_revision_sealed_with_another_key() {
    let revision = Revision {
        sealed: SealedContent {
            key_id: OTHER_KEY,
            ..sealed(2)
        },
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.command(TENANT))
        .then_expect_error(invalid(
            "content",
            "must be sealed with the memory's data key",
        ));
}

#[test]
fn rejects_a_revision_with_blank_content() {
    let revision = Revision {
        content: "\n\t ".to_owned(),
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.command(TENANT))
        .then_expect_error(invalid("content", "must not be empty"));
}

#[test]
fn rejects_a_revision_with_invalid_new_tags_and_importance() {
    let revision = Revision {
        tags: Some(vec![String::new()]),
        importance: Some(-0.5),
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.command(TENANT))
        .then_expect_error(MemoryError::Invalid(vec![
            FieldError::new("tags[0]", "must not be empty"),
            FieldError::new("importance", "must be between 0 and 1"),
        ]));
}

#[test]
fn rejects_a_revision_whose_source_has_a_tool_call_but_no_run() {
    let revision = Revision {
        source: MemorySource {
            tool_call_id: Some("call_9".to_owned()),
            ..MemorySource::default()
        },
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.command(TENANT))
        .then_expect_error(invalid("source.tool_call_id", "requires source.run_id"));
}

#[test]
fn rejects_an_empty_sealed_ciphertext_in_a_revision() {
    let revision = Revision {
        sealed: SealedContent {
            ciphertext: String::new(),
            ..sealed(2)
        },
        ..Revision::valid()
    };
    MemoryTest::with(())
        .given(vec![memory_recorded()])
        .when(revision.command(TENANT))
        .then_expect_error(invalid("sealed.ciphertext", "must not be empty"));
}
