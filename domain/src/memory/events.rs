//! Facts recorded about a memory. Content only ever appears sealed: once the service deletes
//! the memory's data key, every revision stored here is unreadable (crypto-shredding).

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{MemoryKind, MemorySource, SealedContent};

/// Something that happened to a memory, stored as `{"<EventType>": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum MemoryEvent {
    /// The memory was recorded.
    MemoryRecorded(MemoryRecorded),
    /// The memory's content was replaced by a new revision.
    MemoryRevised(MemoryRevised),
    /// The memory was forgotten and its data key deleted.
    MemoryForgotten(MemoryForgotten),
}

/// A memory was recorded for an agent, at revision 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoryRecorded {
    /// The new memory's id.
    pub memory_id: Uuid,
    /// The tenant that owns the memory.
    pub tenant_id: Uuid,
    /// The agent the memory belongs to.
    pub agent_id: Uuid,
    /// How the agent uses the memory.
    pub kind: MemoryKind,
    /// The content, sealed with the memory's data key.
    pub content: SealedContent,
    /// How many characters the plaintext content holds.
    pub content_chars: u32,
    /// Labels for finding the memory.
    pub tags: Vec<String>,
    /// How much the memory matters, from 0 to 1.
    pub importance: f64,
    /// Which run, step and tool call caused the memory.
    pub source: MemorySource,
    /// Always 1: the first revision.
    pub revision: u32,
    /// When the memory was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A memory got new content; earlier revisions stay in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoryRevised {
    /// The agent the memory belongs to, so that readers keyed by agent need no lookup.
    pub agent_id: Uuid,
    /// The new content, sealed with the same data key as every earlier revision.
    pub content: SealedContent,
    /// How many characters the new plaintext content holds.
    pub content_chars: u32,
    /// All tags after the revision, so readers never have to merge.
    pub tags: Vec<String>,
    /// The importance after the revision, from 0 to 1.
    pub importance: f64,
    /// Which run, step and tool call caused this revision.
    pub source: MemorySource,
    /// The previous revision plus one.
    pub revision: u32,
    /// When the memory was revised.
    pub revised_at: DateTime<Utc>,
}

/// A memory was forgotten; no command is accepted after this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoryForgotten {
    /// The agent the memory belonged to, so that readers keyed by agent need no lookup.
    pub agent_id: Uuid,
    /// The data key deleted together with this event, which makes every revision unreadable.
    pub key_id: Uuid,
    /// Why it was forgotten, if the caller said.
    pub reason: Option<String>,
    /// When it was forgotten.
    pub forgotten_at: DateTime<Utc>,
}

impl MemoryEvent {
    /// Every event type name, as returned by [`DomainEvent::event_type`].
    pub const TYPES: &'static [&'static str] =
        &["MemoryRecorded", "MemoryRevised", "MemoryForgotten"];

    /// When the event happened, as stated by the command that caused it.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::MemoryRecorded(event) => event.recorded_at,
            Self::MemoryRevised(event) => event.revised_at,
            Self::MemoryForgotten(event) => event.forgotten_at,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::MemoryRecorded(_) => "MemoryRecorded",
            Self::MemoryRevised(_) => "MemoryRevised",
            Self::MemoryForgotten(_) => "MemoryForgotten",
        }
    }
}

impl DomainEvent for MemoryEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{
        AGENT, KEY, MEMORY, RUN, TENANT, at, memory_recorded, memory_revised,
    };
    use super::*;

    fn one_of_each() -> Vec<MemoryEvent> {
        vec![
            memory_recorded(),
            memory_revised(2, 1),
            MemoryEvent::MemoryForgotten(MemoryForgotten {
                agent_id: AGENT,
                key_id: KEY,
                reason: Some("asked to forget".to_owned()),
                forgotten_at: at(2),
            }),
        ]
    }

    #[test]
    fn every_event_round_trips_through_json() {
        for event in one_of_each() {
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<MemoryEvent>(&json).unwrap(), event);
        }
    }

    #[test]
    fn every_event_is_tagged_by_its_type_name() {
        let events = one_of_each();
        let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
        assert_eq!(types, MemoryEvent::TYPES);
        for event in events {
            let value = serde_json::to_value(&event).unwrap();
            let object = value.as_object().unwrap();
            assert_eq!(object.len(), 1);
            assert!(object.contains_key(&event.event_type()));
            assert_eq!(event.event_version(), "1");
        }
    }

    #[test]
    fn memory_recorded_serializes_with_an_external_tag_and_no_plaintext() {
        let value = serde_json::to_value(memory_recorded()).unwrap();
        assert_eq!(
            value,
            json!({
                "MemoryRecorded": {
                    "memory_id": MEMORY,
                    "tenant_id": TENANT,
                    "agent_id": AGENT,
                    "kind": "semantic",
                    "content": {
                        "key_id": KEY,
                        "nonce": "bm9uY2Ut1",
                        "ciphertext": "c2VhbGVk1"
                    },
                    "content_chars": 31,
                    "tags": ["billing", "preferences"],
                    "importance": 0.5,
                    "source": {
                        "run_id": RUN,
                        "step": 3,
                        "tool_call_id": "call_1"
                    },
                    "revision": 1,
                    "recorded_at": "2025-01-01T12:00:00Z"
                }
            })
        );
    }

    #[test]
    fn occurred_at_is_the_time_the_event_states() {
        let times: Vec<_> = one_of_each().iter().map(MemoryEvent::occurred_at).collect();
        assert_eq!(times, vec![at(0), at(1), at(2)]);
    }

    #[test]
    fn memory_kinds_serialize_as_snake_case_words() {
        for (kind, word) in [
            (MemoryKind::Core, "core"),
            (MemoryKind::Episodic, "episodic"),
            (MemoryKind::Semantic, "semantic"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), word);
            assert_eq!(kind.as_str(), word);
            assert_eq!(
                serde_json::from_value::<MemoryKind>(word.into()).unwrap(),
                kind
            );
        }
    }
}
