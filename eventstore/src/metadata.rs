//! The facts about a command that every event it produces carries in its metadata.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// Metadata keys, as stored in the `metadata` column.
pub mod keys {
    pub const TENANT_ID: &str = "tenant_id";
    pub const ACTOR: &str = "actor";
    pub const CORRELATION_ID: &str = "correlation_id";
    pub const CAUSATION_ID: &str = "causation_id";
    pub const OCCURRED_AT: &str = "occurred_at";
    pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
    pub const REQUEST_HASH: &str = "request_hash";
    pub const STATUS_CODE: &str = "status_code";
}

/// An `Idempotency-Key` with the hash of the request it was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: String,
    pub request_hash: String,
    /// The status a replay answers with (201 for a create, 200 otherwise).
    pub status_code: u16,
}

/// Who asked for a command, why, when, and under which concurrency expectations.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub tenant_id: Uuid,
    /// The API key id (or `system:<name>` for internal actors).
    pub actor: String,
    pub correlation_id: Uuid,
    pub causation_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub idempotency: Option<IdempotencyClaim>,
    /// From `If-Match`: the aggregate version the caller last saw.
    pub expected_version: Option<u64>,
}

impl CommandContext {
    /// A context for `tenant_id` and `actor` at `now`, correlated to itself.
    pub fn new(tenant_id: Uuid, actor: impl Into<String>, now: DateTime<Utc>) -> Self {
        let id = Uuid::now_v7();
        Self {
            tenant_id,
            actor: actor.into(),
            correlation_id: id,
            causation_id: id,
            occurred_at: now,
            idempotency: None,
            expected_version: None,
        }
    }

    /// The metadata map cqrs-es stores with each event.
    pub fn to_metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::from([
            (keys::TENANT_ID.to_owned(), self.tenant_id.to_string()),
            (keys::ACTOR.to_owned(), self.actor.clone()),
            (
                keys::CORRELATION_ID.to_owned(),
                self.correlation_id.to_string(),
            ),
            (keys::CAUSATION_ID.to_owned(), self.causation_id.to_string()),
            (
                keys::OCCURRED_AT.to_owned(),
                self.occurred_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        ]);
        if let Some(claim) = &self.idempotency {
            metadata.insert(keys::IDEMPOTENCY_KEY.to_owned(), claim.key.clone());
            metadata.insert(keys::REQUEST_HASH.to_owned(), claim.request_hash.clone());
            metadata.insert(keys::STATUS_CODE.to_owned(), claim.status_code.to_string());
        }
        metadata
    }
}
