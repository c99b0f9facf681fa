//! Given / when / then tests of the memory aggregate, and the helpers they share.

use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::fixtures::{
    AGENT, CONTENT, KEY, MEMORY, REVISED_CONTENT, TENANT, at, run_source, sealed, valid_tags,
};
use super::validation::count_chars;
use super::*;

mod fields;
mod forget;
mod record;
mod revise;
mod state;

type MemoryTest = TestFramework<Memory>;

/// The fields of a `RecordMemory` command, valid until a test changes one.
#[derive(Clone)]
struct Recording {
    kind: MemoryKind,
    content: String,
    sealed: SealedContent,
    tags: Vec<String>,
    importance: f64,
    source: MemorySource,
}

impl Recording {
    fn valid() -> Self {
        Self {
            kind: MemoryKind::Semantic,
            content: CONTENT.to_owned(),
            sealed: sealed(1),
            tags: valid_tags(),
            importance: 0.5,
            source: run_source(),
        }
    }

    fn command(self, tenant_id: Uuid) -> MemoryCommand {
        MemoryCommand::RecordMemory {
            tenant_id,
            memory_id: MEMORY,
            agent_id: AGENT,
            kind: self.kind,
            content: self.content,
            sealed: self.sealed,
            tags: self.tags,
            importance: self.importance,
            source: self.source,
            now: at(0),
        }
    }

    /// The event recording these fields causes for `TENANT`.
    fn recorded(&self) -> MemoryEvent {
        MemoryEvent::MemoryRecorded(MemoryRecorded {
            memory_id: MEMORY,
            tenant_id: TENANT,
            agent_id: AGENT,
            kind: self.kind,
            content: self.sealed.clone(),
            content_chars: count_chars(&self.content),
            tags: self.tags.clone(),
            importance: self.importance,
            source: self.source.clone(),
            revision: 1,
            recorded_at: at(0),
        })
    }

    /// Recording these fields on no history is accepted as `recorded()`.
    fn expect_accepted(self) {
        let expected = self.recorded();
        MemoryTest::with(())
            .given_no_previous_events()
            .when(self.command(TENANT))
            .then_expect_events(vec![expected]);
    }

    /// Recording these fields on no history is rejected with exactly `errors`.
    fn expect_rejected_with(self, errors: Vec<FieldError>) {
        MemoryTest::with(())
            .given_no_previous_events()
            .when(self.command(TENANT))
            .then_expect_error(MemoryError::Invalid(errors));
    }
}

/// The fields of a `ReviseMemory` command: new content under the memory's key, by a person,
/// keeping tags and importance until a test changes them.
#[derive(Clone)]
struct Revision {
    content: String,
    sealed: SealedContent,
    tags: Option<Vec<String>>,
    importance: Option<f64>,
    source: MemorySource,
}

impl Revision {
    fn valid() -> Self {
        Self {
            content: REVISED_CONTENT.to_owned(),
            sealed: sealed(2),
            tags: None,
            importance: None,
            source: MemorySource::default(),
        }
    }

    fn command(self, tenant_id: Uuid) -> MemoryCommand {
        MemoryCommand::ReviseMemory {
            tenant_id,
            content: self.content,
            sealed: self.sealed,
            tags: self.tags,
            importance: self.importance,
            source: self.source,
            now: at(10),
        }
    }
}

fn revise(tenant_id: Uuid) -> MemoryCommand {
    Revision::valid().command(tenant_id)
}

fn forget(tenant_id: Uuid, reason: Option<String>) -> MemoryCommand {
    MemoryCommand::ForgetMemory {
        tenant_id,
        reason,
        now: at(10),
    }
}

fn forgotten(minutes: i64) -> MemoryEvent {
    MemoryEvent::MemoryForgotten(MemoryForgotten {
        agent_id: AGENT,
        key_id: KEY,
        reason: None,
        forgotten_at: at(minutes),
    })
}

/// One command of each kind that needs an existing memory, with the action word it reports.
fn commands_on_existing_memories(tenant_id: Uuid) -> Vec<(&'static str, MemoryCommand)> {
    vec![
        ("revise", revise(tenant_id)),
        ("forget", forget(tenant_id, None)),
    ]
}

fn invalid(field: &str, message: &str) -> MemoryError {
    MemoryError::Invalid(vec![FieldError::new(field, message)])
}
