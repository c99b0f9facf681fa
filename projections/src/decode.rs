//! The one way projections read an event's payload: as its aggregate's current event
//! type, an older stored version upcast on the way (the relay publishes events as they
//! were stored, so a version-1 event arrives as version 1).

use std::sync::LazyLock;

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use eventstore::CloudEvent;
use eventstore::loader::upcast;
use eventstore::metadata::keys;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ProjectionError;

static UPCASTERS: LazyLock<Vec<Box<dyn EventUpcaster>>> = LazyLock::new(domain::catalog::upcasters);

/// The event's payload as `E` (an aggregate's event enum), upcast to its current version.
pub fn domain_event<E: DeserializeOwned>(event: &CloudEvent) -> Result<E, ProjectionError> {
    let claimed = UPCASTERS
        .iter()
        .any(|upcaster| upcaster.can_upcast(event.short_type(), event.version()));
    if !claimed {
        return Ok(serde_json::from_value(event.tagged_payload())?);
    }
    let serialized = SerializedEvent::new(
        event.aggregateid.clone(),
        usize::try_from(event.sequence).unwrap_or_default(),
        event.aggregatetype.clone(),
        event.short_type().to_owned(),
        event.version().to_owned(),
        event.tagged_payload(),
        metadata(event),
    );
    Ok(serde_json::from_value(
        upcast(&UPCASTERS, serialized).payload,
    )?)
}

/// The metadata the store holds for the event, as far as the envelope carries it.
fn metadata(event: &CloudEvent) -> Value {
    let mut metadata = Map::new();
    metadata.insert(
        keys::TENANT_ID.to_owned(),
        Value::String(event.tenantid.to_string()),
    );
    for (key, value) in [
        (keys::ACTOR, &event.actor),
        (keys::CORRELATION_ID, &event.correlationid),
        (keys::CAUSATION_ID, &event.causationid),
    ] {
        if let Some(value) = value {
            metadata.insert(key.to_owned(), Value::String(value.clone()));
        }
    }
    Value::Object(metadata)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use domain::agent::{AgentEvent, AgentPaused};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn envelope(event_type: &str, data: Value, actor: Option<&str>) -> CloudEvent {
        let tenant = Uuid::now_v7();
        CloudEvent {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            source: format!("/agentos/tenants/{tenant}"),
            event_type: event_type.into(),
            subject: "agent/a1".into(),
            time: Utc::now(),
            datacontenttype: "application/json".into(),
            tenantid: tenant,
            aggregatetype: "agent".into(),
            aggregateid: "a1".into(),
            sequence: 2,
            position: 2,
            correlationid: None,
            causationid: None,
            actor: actor.map(str::to_owned),
            data,
        }
    }

    #[test]
    fn a_version_1_pause_is_read_as_version_2_naming_the_envelopes_actor() {
        let at = Utc::now();
        let v1 = envelope(
            "agentos.agent.AgentPaused.v1",
            json!({"reason": "budget", "paused_at": at}),
            Some("key-9"),
        );
        let event: AgentEvent = domain_event(&v1).unwrap();
        assert_eq!(
            event,
            AgentEvent::AgentPaused(AgentPaused {
                reason: Some("budget".into()),
                paused_by: "key-9".into(),
                paused_at: at,
            })
        );
    }

    #[test]
    fn a_current_version_is_read_as_it_is() {
        let at = Utc::now();
        let v2 = envelope(
            "agentos.agent.AgentPaused.v2",
            json!({"reason": null, "paused_by": "key-1", "paused_at": at}),
            Some("someone else"),
        );
        let event: AgentEvent = domain_event(&v2).unwrap();
        assert!(matches!(event, AgentEvent::AgentPaused(p) if p.paused_by == "key-1"));
    }
}
