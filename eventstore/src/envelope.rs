//! An event as stored, and as published: a CloudEvents 1.0 structured JSON message.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::metadata::keys;

/// One row of the `events` table, with its place in the global commit order.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredEvent {
    pub transaction_id: i64,
    pub position: i64,
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The payload as stored: cqrs-es' externally tagged enum, as JSON text.
    pub payload: String,
    /// The metadata map as JSON text.
    pub metadata: String,
    pub occurred_at: DateTime<Utc>,
}

/// The wire form of every event (CloudEvents 1.0, structured mode, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: Uuid,
    pub source: String,
    /// `agentos.<aggregate_type>.<EventType>.v<version>`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub time: DateTime<Utc>,
    pub datacontenttype: String,
    pub tenantid: Uuid,
    pub aggregatetype: String,
    pub aggregateid: String,
    pub sequence: u64,
    pub position: i64,
    pub correlationid: Option<String>,
    pub causationid: Option<String>,
    pub actor: Option<String>,
    pub data: Value,
}

/// `agentos.agent.AgentCreated.v1`
pub fn cloud_event_type(aggregate_type: &str, event_type: &str, version: &str) -> String {
    format!("agentos.{aggregate_type}.{event_type}.v{version}")
}

impl CloudEvent {
    /// Builds the wire form of a stored event.
    pub fn from_stored(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        let payload: Value = serde_json::from_str(&event.payload)?;
        let metadata: Value = serde_json::from_str(&event.metadata)?;
        let meta = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            specversion: "1.0".to_owned(),
            id: event.event_id,
            source: format!("/agentos/tenants/{}", event.tenant_id),
            event_type: cloud_event_type(
                &event.aggregate_type,
                &event.event_type,
                &event.event_version,
            ),
            subject: format!("{}/{}", event.aggregate_type, event.aggregate_id),
            time: event.occurred_at,
            datacontenttype: "application/json".to_owned(),
            tenantid: event.tenant_id,
            aggregatetype: event.aggregate_type.clone(),
            aggregateid: event.aggregate_id.clone(),
            sequence: u64::try_from(event.sequence).unwrap_or_default(),
            position: event.position,
            correlationid: meta(keys::CORRELATION_ID),
            causationid: meta(keys::CAUSATION_ID),
            actor: meta(keys::ACTOR),
            data: unwrap_tagged(payload, &event.event_type),
        })
    }

    /// The event type without prefix and version (`AgentCreated`).
    pub fn short_type(&self) -> &str {
        self.event_type
            .rsplit_once('.')
            .and_then(|(rest, _)| rest.rsplit_once('.'))
            .map_or(self.event_type.as_str(), |(_, name)| name)
    }

    /// The schema version of the event type (`2` in `agentos.agent.AgentPaused.v2`).
    pub fn version(&self) -> &str {
        self.event_type
            .rsplit_once(".v")
            .map_or("1", |(_, version)| version)
    }

    /// The payload in cqrs-es' externally tagged form, as the domain deserializes it.
    pub fn tagged_payload(&self) -> Value {
        let mut map = serde_json::Map::with_capacity(1);
        map.insert(self.short_type().to_owned(), self.data.clone());
        Value::Object(map)
    }

    /// RFC 3339 time with microseconds, as the envelope prints it.
    pub fn time_text(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// cqrs-es stores `{"AgentCreated": {...}}`; subscribers get the inner object.
fn unwrap_tagged(payload: Value, event_type: &str) -> Value {
    match payload {
        Value::Object(mut map) if map.len() == 1 && map.contains_key(event_type) => {
            map.remove(event_type).unwrap_or(Value::Null)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredEvent {
        StoredEvent {
            transaction_id: 7,
            position: 3,
            event_id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            aggregate_type: "agent".into(),
            aggregate_id: "a1".into(),
            sequence: 2,
            event_type: "AgentPaused".into(),
            event_version: "1".into(),
            payload: r#"{"AgentPaused":{"reason":"x"}}"#.into(),
            metadata: r#"{"correlation_id":"c","actor":"k"}"#.into(),
            occurred_at: Utc::now(),
        }
    }

    #[test]
    fn unwraps_the_tagged_payload_and_copies_the_envelope_fields() {
        let event = CloudEvent::from_stored(&stored()).unwrap();
        assert_eq!(event.event_type, "agentos.agent.AgentPaused.v1");
        assert_eq!(event.data, serde_json::json!({"reason": "x"}));
        assert_eq!(event.correlationid.as_deref(), Some("c"));
        assert_eq!(event.sequence, 2);
        assert_eq!(event.short_type(), "AgentPaused");
        assert_eq!(event.version(), "1");
        assert_eq!(
            event.tagged_payload(),
            serde_json::json!({"AgentPaused": {"reason": "x"}})
        );
    }
}
