//! `Authorization: Bearer <api key>` → the tenant the key belongs to.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use sqlx::PgPool;

use super::Problem;
use crate::tenants::{self, Principal};

/// Looks API keys up in the store.
#[derive(Debug, Clone)]
pub struct Authenticator {
    pool: PgPool,
}

impl Authenticator {
    /// An authenticator over `pool`'s `api_keys`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// The caller, authenticated.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub Principal);

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
        match tenants::authenticate(&authenticator.pool, key).await {
            Ok(Some(principal)) => {
                tracing::Span::current()
                    .record("tenant_id", tracing::field::display(principal.tenant_id));
                Ok(Self(principal))
            }
            Ok(None) => Err(unauthorized("unknown or revoked API key")),
            Err(err) => Err(Problem::internal(&err)),
        }
    }
}
