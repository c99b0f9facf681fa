//! Tenants and their API keys, both event-sourced. A key is random, shown once, and only
//! its SHA-256 hash is recorded. Authentication reads the hot key cache (a Redis read
//! model) and falls back to folding the key's events from the store, so a key works the
//! moment it is issued and stops working once its revocation reaches the cache.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::api_key::{
    API_KEY_AGGREGATE_TYPE, ApiKey, ApiKeyCommand, ApiKeyError, ApiKeyEvent, Scope,
};
use domain::tenant::{Tenant, TenantCommand, TenantError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    Alongside, CommandBus, CommandContext, CommandError, CommandReceipt, RelayWaker, StoreError,
};

/// Every API key starts with this, so a leaked one is easy to recognise.
pub const KEY_PREFIX: &str = "agos_";
/// The claim scope under which an API key's hash is reserved (and looked up).
pub const API_KEY_HASH_CLAIM: &str = "api_key_hash";
/// Who issues the first key of a tenant created from the command line.
pub const OPERATOR_ACTOR: &str = "system:operator";

/// A new key; the only time its secret is visible.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedKey {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub api_key: String,
}

/// Who a request authenticated as, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Whether the key holds `scope` (or `admin`).
    pub fn may(&self, scope: Scope) -> bool {
        scope.granted_by(&self.scopes)
    }
}

/// What authentication needs to know about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl KeyRecord {
    /// The principal this key authenticates as at `now`, unless it is revoked or expired.
    pub fn principal_at(&self, now: DateTime<Utc>) -> Option<Principal> {
        let expired = self.expires_at.is_some_and(|at| at <= now);
        (!self.revoked && !expired).then(|| Principal {
            tenant_id: self.tenant_id,
            key_id: self.key_id,
            scopes: self.scopes.clone(),
        })
    }

    fn from_key(key: &ApiKey) -> Option<Self> {
        Some(Self {
            tenant_id: key.tenant_id()?,
            key_id: key.id()?,
            scopes: key.scopes().to_vec(),
            expires_at: key.expires_at(),
            revoked: key.revoked_at().is_some(),
        })
    }
}

/// A fresh secret: two v4 UUIDs from the OS's CSPRNG, 244 random bits.
pub fn new_secret() -> String {
    let mut secret = Vec::with_capacity(32);
    secret.extend_from_slice(Uuid::new_v4().as_bytes());
    secret.extend_from_slice(Uuid::new_v4().as_bytes());
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret))
}

/// SHA-256 of a key, as 64 lowercase hex digits.
pub fn hash_key(api_key: &str) -> String {
    hex_digest(Sha256::digest(api_key.as_bytes()).as_slice())
}

fn hex_digest(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `api_key` looks like one of ours at all (checked before any lookup).
pub fn plausible_key(api_key: &str) -> bool {
    api_key.starts_with(KEY_PREFIX) && api_key.len() <= 128
}

/// Issues a key for `context`'s tenant through `keys`: a new secret, its hash claimed so
/// that authentication can find the key.
pub async fn issue_key(
    keys: &CommandBus<ApiKey>,
    context: &CommandContext,
    name: String,
    scopes: Vec<Scope>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(IssuedKey, CommandReceipt), CommandError<ApiKeyError>> {
    let key_id = Uuid::now_v7();
    let api_key = new_secret();
    let key_hash = hash_key(&api_key);
    let command = ApiKeyCommand::IssueApiKey {
        tenant_id: context.tenant_id,
        key_id,
        name,
        scopes,
        key_hash: key_hash.clone(),
        expires_at,
        now: context.occurred_at,
    };
    let receipt = keys
        .create(
            &key_id.to_string(),
            command,
            context,
            vec![Alongside::claim(API_KEY_HASH_CLAIM, key_hash)],
        )
        .await?;
    let issued = IssuedKey {
        tenant_id: context.tenant_id,
        key_id,
        api_key,
    };
    Ok((issued, receipt))
}

/// Why a tenant could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateTenantError {
    #[error("tenant: {0}")]
    Tenant(CommandError<TenantError>),
    #[error("first API key: {0}")]
    Key(CommandError<ApiKeyError>),
}

/// Creates a tenant called `name` and issues its first key, with the `admin` scope.
pub async fn create_tenant(pool: &PgPool, name: &str) -> Result<IssuedKey, CreateTenantError> {
    create_tenant_waking(pool, name, RelayWaker::default()).await
}

/// [`create_tenant`], waking the relay after each append.
pub async fn create_tenant_waking(
    pool: &PgPool,
    name: &str,
    waker: RelayWaker,
) -> Result<IssuedKey, CreateTenantError> {
    let tenant_id = Uuid::now_v7();
    let context = CommandContext::new(tenant_id, OPERATOR_ACTOR, Utc::now());
    let tenants = CommandBus::<Tenant>::new(pool.clone(), (), waker.clone());
    tenants
        .create(
            &tenant_id.to_string(),
            TenantCommand::CreateTenant {
                tenant_id,
                name: name.to_owned(),
                now: context.occurred_at,
            },
            &context,
            Vec::new(),
        )
        .await
        .map_err(CreateTenantError::Tenant)?;
    let keys = CommandBus::<ApiKey>::new(pool.clone(), (), waker);
    let (issued, _) = issue_key(
        &keys,
        &context,
        "first key".to_owned(),
        vec![Scope::Admin],
        None,
    )
    .await
    .map_err(CreateTenantError::Key)?;
    Ok(issued)
}

/// The key whose hash is `key_hash`, folded from its events in the store.
pub async fn find_key(pool: &PgPool, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
    let payloads: Vec<sqlx::types::Json<ApiKeyEvent>> = sqlx::query_scalar(
        "SELECT e.payload
           FROM unique_claims c
           JOIN events e ON e.aggregate_type = $3 AND e.aggregate_id = c.aggregate_id
          WHERE c.scope = $1 AND c.claim_key = $2
          ORDER BY e.sequence",
    )
    .bind(API_KEY_HASH_CLAIM)
    .bind(key_hash)
    .bind(API_KEY_AGGREGATE_TYPE)
    .fetch_all(pool)
    .await?;
    let mut key = ApiKey::default();
    for sqlx::types::Json(event) in payloads {
        key.apply(event);
    }
    Ok(KeyRecord::from_key(&key))
}

/// The Redis key under which the key cache maps the hash `key_hash` to its key's id.
pub fn cache_lookup_key(prefix: &str, key_hash: &str) -> String {
    format!("{prefix}:api_key_hash:{key_hash}")
}

/// The Redis hash in which the key cache keeps key `key_id` (the read model's
/// `<prefix>:<aggregate type>:<id>` convention).
pub fn cache_record_key(prefix: &str, key_id: &str) -> String {
    format!("{prefix}:{API_KEY_AGGREGATE_TYPE}:{key_id}")
}

/// Reads a cache entry's fields (`tenant_id`, `key_id`, `scopes` space-separated,
/// `expires_at` RFC 3339 or empty, `revoked` 0/1); `None` when absent or malformed.
pub fn record_from_cache(fields: &std::collections::HashMap<String, String>) -> Option<KeyRecord> {
    let field = |name: &str| fields.get(name).map(String::as_str);
    let scopes = field("scopes")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<Scope>, _>>()
        .ok()?;
    let expires_at = match field("expires_at")? {
        "" => None,
        text => Some(DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc)),
    };
    Some(KeyRecord {
        tenant_id: field("tenant_id")?.parse().ok()?,
        key_id: field("key_id")?.parse().ok()?,
        scopes,
        expires_at,
        revoked: field("revoked")? == "1",
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hash_to_hex() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(plausible_key(&a));
        assert_eq!(hash_key(&a).len(), 64);
        assert_eq!(
            hash_key("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        assert!(!plausible_key("sk_live_123"));
    }

    #[test]
    fn a_cache_entry_reads_back_and_a_broken_one_is_a_miss() {
        let tenant_id = Uuid::now_v7();
        let key_id = Uuid::now_v7();
        let mut fields: HashMap<String, String> = HashMap::from([
            ("tenant_id".into(), tenant_id.to_string()),
            ("key_id".into(), key_id.to_string()),
            ("scopes".into(), "agents:read memory:write".into()),
            ("expires_at".into(), String::new()),
            ("revoked".into(), "0".into()),
        ]);
        let record = record_from_cache(&fields).unwrap();
        assert_eq!(record.scopes, vec![Scope::AgentsRead, Scope::MemoryWrite]);
        assert!(record.principal_at(Utc::now()).is_some());
        fields.insert("revoked".into(), "1".into());
        assert!(
            record_from_cache(&fields)
                .unwrap()
                .principal_at(Utc::now())
                .is_none()
        );
        fields.insert("scopes".into(), "agents:fly".into());
        assert_eq!(record_from_cache(&fields), None);
    }

    #[test]
    fn an_expired_key_authenticates_no_one() {
        let now = Utc::now();
        let record = KeyRecord {
            tenant_id: Uuid::now_v7(),
            key_id: Uuid::now_v7(),
            scopes: vec![Scope::Admin],
            expires_at: Some(now),
            revoked: false,
        };
        assert!(record.principal_at(now).is_none());
        assert!(
            record
                .principal_at(now - chrono::Duration::seconds(1))
                .is_some()
        );
    }
}
