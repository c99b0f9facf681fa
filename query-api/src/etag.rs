//! Reads of one versioned resource: its version as a strong ETag, and `304 Not Modified`
//! when the caller's `If-None-Match` already has it.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `body` with `ETag: "<version>"`, or an empty 304 when `If-None-Match` names that tag
/// (or `*`).
pub fn versioned(version: i64, headers: &HeaderMap, body: impl Serialize) -> Response {
    let etag = format!("\"{version}\"");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
        });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(body).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
