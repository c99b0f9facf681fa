//! `Authorization: Bearer <api key>` → the tenant the key belongs to and its scopes.

use std::collections::HashMap;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chrono::Utc;
use domain::FieldError;
use domain::api_key::Scope;
use sqlx::PgPool;

use super::Problem;
use crate::tenants::{self, KeyRecord, Principal};

/// Looks API keys up: the hot cache first, the event store on a miss.
#[derive(Clone)]
pub struct Authenticator {
    pool: PgPool,
    cache: Option<(redis::aio::ConnectionManager, String)>,
    lookup: redis::Script,
}

/// KEYS: the hash → key id entry. ARGV: the record key's prefix. One round trip for
/// both reads.
const LOOKUP_SCRIPT: &str = r"
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[1] .. id)
";

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("cached", &self.cache.is_some())
            .finish()
    }
}

impl Authenticator {
    /// An authenticator reading the event store only.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            cache: None,
            lookup: redis::Script::new(LOOKUP_SCRIPT),
        }
    }

    /// Reads the key cache kept in Redis under `prefix` first.
    pub fn with_cache(mut self, redis: redis::aio::ConnectionManager, prefix: String) -> Self {
        self.cache = Some((redis, prefix));
        self
    }

    /// The principal behind `api_key`, unless it is unknown, revoked or expired.
    pub async fn authenticate(&self, api_key: &str) -> Result<Option<Principal>, Problem> {
        if !tenants::plausible_key(api_key) {
            return Ok(None);
        }
        let key_hash = tenants::hash_key(api_key);
        let record = match self.cached(&key_hash).await {
            Some(record) => Some(record),
            None => tenants::find_key(&self.pool, &key_hash)
                .await
                .map_err(|err| Problem::internal(&err))?,
        };
        Ok(record.and_then(|record| record.principal_at(Utc::now())))
    }

    /// The cache's entry; a cache that is down or lacks the key is a miss.
    async fn cached(&self, key_hash: &str) -> Option<KeyRecord> {
        let (redis, prefix) = self.cache.as_ref()?;
        let mut redis = redis.clone();
        let fields: HashMap<String, String> = match self
            .lookup
            .key(tenants::cache_lookup_key(prefix, key_hash))
            .arg(tenants::cache_record_key(prefix, ""))
            .invoke_async(&mut redis)
            .await
        {
            Ok(fields) => fields,
            Err(err) => {
                tracing::warn!(%err, "API key cache unavailable; reading the store");
                return None;
            }
        };
        metrics::counter!("agentos_auth_cache_lookups_total", "hit" => (!fields.is_empty()).to_string())
            .increment(1);
        tenants::record_from_cache(&fields)
    }
}

/// The caller, authenticated.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl Authenticated {
    /// The principal, if its key holds `scope`; a 403 naming the scope otherwise.
    pub fn require(self, scope: Scope) -> Result<Principal, Problem> {
        if self.0.may(scope) {
            Ok(self.0)
        } else {
            Err(missing_scope(scope))
        }
    }
}

/// 403: the key lacks `scope`.
pub fn missing_scope(scope: Scope) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "missing-scope",
        format!("this API key lacks the scope `{scope}`"),
    )
    .with_errors(vec![FieldError::new(
        "scope",
        format!("`{scope}` is required"),
    )])
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let unauthorized = |detail: &str| {
            Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail.to_owned())
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization header"))?
            .to_str()
            .map_err(|_| unauthorized("malformed Authorization header"))?;
        // The scheme name is case-insensitive (RFC 9110 section 11.1).
        let key = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| unauthorized("expected `Authorization: Bearer <api key>`"))?;
        let authenticator = Authenticator::from_ref(state);
        match authenticator.authenticate(key).await? {
            Some(principal) => {
                tracing::Span::current()
                    .record("tenant_id", tracing::field::display(principal.tenant_id));
                Ok(Self(principal))
            }
            None => Err(unauthorized("unknown, revoked or expired API key")),
        }
    }
}
