//! Extractors whose rejections are problem+json: ids in paths, query strings, and the
//! correlation id a request carries.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::Problem;
use super::stack::CorrelationId;

/// Header carrying the id that ties a request to every event and span it causes.
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";

/// A single UUID path parameter.
#[derive(Debug, Clone, Copy)]
pub struct UuidPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for UuidPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::invalid_field("id", e.body_text()))?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| Problem::invalid_field("id", "must be a UUID"))
    }
}

/// Query parameters deserialized as `T`.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                // "limit: invalid digit": the field, then what is wrong with it.
                let (field, message) = message.split_once(':').unwrap_or(("query", message));
                Err(Problem::invalid_field(field.trim(), message.trim()))
            }
        }
    }
}

/// The correlation id (from `X-Correlation-Id`, or new) and this request's own id.
#[derive(Debug, Clone, Copy)]
pub struct RequestIds {
    pub correlation_id: Uuid,
    pub request_id: Uuid,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestIds {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request_id = Uuid::now_v7();
        let correlation_id = parts
            .extensions
            .get::<CorrelationId>()
            .map_or(request_id, |id| id.0);
        Ok(Self {
            correlation_id,
            request_id,
        })
    }
}
