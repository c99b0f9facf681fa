//! The API key cache: what authentication reads on the hot path, so that it costs no
//! Postgres round trip. One hash per key (`<prefix>:api_key:<key id>`) and an entry
//! mapping the key's hash to its id, written by the same script as the issue event.

use domain::api_key::{API_KEY_AGGREGATE_TYPE, ApiKeyEvent, Scope};
use eventstore::CloudEvent;
use eventstore::tenants::cache_lookup_key;

use crate::ProjectionError;
use crate::decode::domain_event;
use crate::redis_model::{ExtraOp, RedisChanges, RedisModel, RedisProjection};

/// The projection's name (consumer and checkpoint).
pub const API_KEYS_REDIS_PROJECTION: &str = "api_keys_redis";

/// The key cache model; the fields are the ones `eventstore::tenants::record_from_cache`
/// reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiKeyCache;

/// The Redis projection of API keys.
pub type ApiKeysRedisProjection = RedisProjection<ApiKeyCache>;

impl RedisModel for ApiKeyCache {
    fn name(&self) -> &'static str {
        API_KEYS_REDIS_PROJECTION
    }

    fn aggregate_type(&self) -> &'static str {
        API_KEY_AGGREGATE_TYPE
    }

    fn changes(&self, prefix: &str, event: &CloudEvent) -> Result<RedisChanges, ProjectionError> {
        let key_event: ApiKeyEvent = domain_event(event)?;
        Ok(match key_event {
            ApiKeyEvent::ApiKeyIssued(issued) => {
                let expires_at = issued.expires_at.map(|at| at.to_rfc3339());
                RedisChanges {
                    fields: vec![
                        ("tenant_id", issued.tenant_id.to_string()),
                        ("key_id", issued.key_id.to_string()),
                        ("scopes", scopes_text(&issued.scopes)),
                        ("expires_at", expires_at.unwrap_or_default()),
                        ("revoked", "0".to_owned()),
                    ],
                    extra: vec![ExtraOp::Set {
                        key: cache_lookup_key(prefix, &issued.key_hash),
                        value: issued.key_id.to_string(),
                    }],
                }
            }
            ApiKeyEvent::ApiKeyRevoked(_) => RedisChanges {
                fields: vec![("revoked", "1".to_owned())],
                extra: Vec::new(),
            },
            ApiKeyEvent::ApiKeyExpirySet(set) => RedisChanges {
                fields: vec![("expires_at", set.expires_at.to_rfc3339())],
                extra: Vec::new(),
            },
        })
    }
}

/// The scopes a cached key holds, as stored.
pub fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
