//! One link of the chain: SHA-256 over the previous link's hash and the event's
//! canonical form.
//!
//! The stored JSON text is not what was written (jsonb reorders keys and respaces), so the
//! hash covers the RFC 8785 (JCS) canonical form of the envelope and payload, which any
//! reader of the store can rebuild byte for byte.

use chrono::SecondsFormat;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::canonical;
use crate::{StoreError, StoredEvent};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The "previous hash" of the first event.
pub const GENESIS: Hash = [0; 32];

/// The hash of `event` following `previous`: SHA-256 over `previous` and the canonical
/// (RFC 8785) object of every envelope field that says what happened, and the payload.
/// The event's place in the order is covered by the chain itself.
pub fn link_hash(previous: &Hash, event: &StoredEvent) -> Result<Hash, StoreError> {
    let text = |text: &str| Value::String(text.to_owned());
    let number = |n: i64| Value::Number(n.into());
    // In canonical (code point) order, so no sorting is needed.
    let members = [
        ("aggregate_id", text(&event.aggregate_id)),
        ("aggregate_type", text(&event.aggregate_type)),
        ("event_id", text(&event.event_id.to_string())),
        ("event_type", text(&event.event_type)),
        ("event_version", text(&event.event_version)),
        ("metadata", serde_json::from_str(&event.metadata)?),
        // RFC 3339 with microseconds, the precision Postgres keeps.
        (
            "occurred_at",
            text(
                &event
                    .occurred_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        ),
        ("payload", serde_json::from_str(&event.payload)?),
        ("sequence", number(event.sequence)),
        ("tenant_id", text(&event.tenant_id.to_string())),
    ]
    .map(|(key, value)| (key.to_owned(), value));
    let mut hasher = Sha256::new();
    hasher.update(previous);
    canonical::write_object(&mut hasher, members.iter().map(|(k, v)| (k, v)))
        .map_err(|err| StoreError::Invalid(format!("canonical form: {err}")))?;
    Ok(hasher.finalize().into())
}

/// `bytes` as a 32-byte hash, if it is one.
pub fn hash_from_slice(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    fn event(payload: &str) -> StoredEvent {
        StoredEvent {
            transaction_id: 7,
            position: 3,
            event_id: Uuid::from_u128(1),
            tenant_id: Uuid::from_u128(2),
            aggregate_type: "agent".into(),
            aggregate_id: "a1".into(),
            sequence: 2,
            event_type: "AgentPaused".into(),
            event_version: "1".into(),
            payload: payload.into(),
            metadata: r#"{"actor": "k", "correlation_id": "c"}"#.into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        }
    }

    #[test]
    fn the_hash_ignores_key_order_and_spacing_of_the_stored_text() {
        let a = event(r#"{"AgentPaused": {"reason": "x", "paused_at": "t"}}"#);
        let b = event(r#"{"AgentPaused":{"paused_at":"t","reason":"x"}}"#);
        assert_eq!(
            link_hash(&GENESIS, &a).unwrap(),
            link_hash(&GENESIS, &b).unwrap()
        );
    }

    #[test]
    fn the_hash_changes_with_the_payload_the_envelope_and_the_previous_hash() {
        let original = event(r#"{"AgentPaused": {"reason": "x"}}"#);
        let hash = link_hash(&GENESIS, &original).unwrap();
        let edited = event(r#"{"AgentPaused": {"reason": "y"}}"#);
        assert_ne!(link_hash(&GENESIS, &edited).unwrap(), hash);
        let mut resequenced = original.clone();
        resequenced.sequence = 3;
        assert_ne!(link_hash(&GENESIS, &resequenced).unwrap(), hash);
        assert_ne!(link_hash(&[1; 32], &original).unwrap(), hash);
    }

    #[test]
    fn the_hash_is_sha256_over_the_previous_hash_and_the_jcs_text() {
        let event = event(r#"{"AgentPaused": {"reason": "x"}}"#);
        let jcs = r#"{"aggregate_id":"a1","aggregate_type":"agent","event_id":"00000000-0000-0000-0000-000000000001","event_type":"AgentPaused","event_version":"1","metadata":{"actor":"k","correlation_id":"c"},"occurred_at":"2026-01-02T03:04:05.000000Z","payload":{"AgentPaused":{"reason":"x"}},"sequence":2,"tenant_id":"00000000-0000-0000-0000-000000000002"}"#;
        let mut hasher = Sha256::new();
        hasher.update(GENESIS);
        hasher.update(jcs.as_bytes());
        let expected: Hash = hasher.finalize().into();
        assert_eq!(link_hash(&GENESIS, &event).unwrap(), expected);
    }
}
