//! Older versions of agent events, and the upcasters that turn them into the current
//! ones when they are read. Stored events are never rewritten: an event stored as
//! `AgentPaused` version 1 stays version 1 in the store and on the wire, and becomes
//! version 2 only in memory, for the aggregate and the projections.

use chrono::{DateTime, Utc};
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// What version 2 of `AgentPaused` says of a version-1 event whose metadata names no actor.
pub const UNKNOWN_ACTOR: &str = "unknown";

// `AgentPaused` as version 1 stored it, before it named who paused the agent: only read
// (and described in `schemas/`), never written. Its doc line is the published schema's
// description, unchanged since version 1.
/// An active agent was paused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentPausedV1 {
    /// Why it was paused, if the caller said.
    pub reason: Option<String>,
    /// When it was paused.
    pub paused_at: DateTime<Utc>,
}

/// `AgentPaused` 1 → 2: `paused_by` is the actor the event's metadata names (every
/// command records its actor there), or [`UNKNOWN_ACTOR`] when it names none.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentPausedV1ToV2;

impl EventUpcaster for AgentPausedV1ToV2 {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_type == "AgentPaused" && event_version == "1"
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        let actor = event
            .metadata
            .get("actor")
            .and_then(Value::as_str)
            .filter(|actor| !actor.is_empty())
            .unwrap_or(UNKNOWN_ACTOR)
            .to_owned();
        if let Some(Value::Object(fields)) = event.payload.get_mut("AgentPaused") {
            fields
                .entry("paused_by")
                .or_insert_with(|| Value::String(actor));
        }
        event.event_version = "2".to_owned();
        event
    }
}

/// Every upcaster of agent events, oldest version first.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(AgentPausedV1ToV2)]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::agent::fixtures::at;
    use crate::agent::{AgentEvent, AgentPaused};

    fn stored_v1(metadata: Value) -> SerializedEvent {
        let v1 = AgentPausedV1 {
            reason: Some("budget review".to_owned()),
            paused_at: at(3),
        };
        SerializedEvent::new(
            "a1".to_owned(),
            2,
            "agent".to_owned(),
            "AgentPaused".to_owned(),
            "1".to_owned(),
            json!({ "AgentPaused": v1 }),
            metadata,
        )
    }

    #[test]
    fn upcasts_a_version_1_pause_to_version_2_naming_the_actor_of_its_metadata() {
        let upcaster = AgentPausedV1ToV2;
        let stored = stored_v1(json!({"actor": "key-7", "tenant_id": "t"}));
        assert!(upcaster.can_upcast(&stored.event_type, &stored.event_version));

        let upcast = upcaster.upcast(stored);

        assert_eq!(upcast.event_version, "2");
        let event: AgentEvent = serde_json::from_value(upcast.payload).unwrap();
        assert_eq!(
            event,
            AgentEvent::AgentPaused(AgentPaused {
                reason: Some("budget review".to_owned()),
                paused_by: "key-7".to_owned(),
                paused_at: at(3),
            })
        );
    }

    #[test]
    fn a_version_1_pause_without_an_actor_was_paused_by_someone_unknown() {
        for metadata in [Value::Null, json!({}), json!({"actor": ""})] {
            let upcast = AgentPausedV1ToV2.upcast(stored_v1(metadata));
            assert_eq!(upcast.payload["AgentPaused"]["paused_by"], UNKNOWN_ACTOR);
        }
    }

    #[test]
    fn claims_only_version_1_pauses() {
        let upcaster = AgentPausedV1ToV2;
        assert!(!upcaster.can_upcast("AgentPaused", "2"));
        assert!(!upcaster.can_upcast("AgentResumed", "1"));
        assert!(!upcaster.can_upcast("AgentArchived", "1"));
    }
}
