//! Checks shared by the list endpoints' query parameters and the responses of single reads.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eventstore::web::Problem;
use serde::Serialize;

/// The page size asked for: 1 to 200, default 50.
pub fn page_limit(limit: Option<i64>) -> Result<i64, Problem> {
    let limit = limit.unwrap_or(50);
    if (1..=200).contains(&limit) {
        Ok(limit)
    } else {
        Err(Problem::invalid_field("limit", "must be between 1 and 200"))
    }
}

/// Fails unless `value` is one of `allowed`: only these exact words reach the database, so
/// a value holding NUL stops here.
pub fn one_of(field: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), Problem> {
    match value {
        Some(value) if !allowed.contains(&value) => Err(Problem::invalid_field(
            field,
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// Fails unless `cursor` (if any) is one this API handed out, as `decode` tells.
pub fn cursor<T>(cursor: Option<&str>, decode: impl Fn(&str) -> Option<T>) -> Result<(), Problem> {
    match cursor {
        Some(cursor) if decode(cursor).is_none() => Err(Problem::invalid_field(
            "cursor",
            "not a cursor returned by this API",
        )),
        _ => Ok(()),
    }
}

/// `body` with its version as strong ETag, or 304 when `If-None-Match` names that version.
pub fn with_etag(headers: &HeaderMap, version: i64, body: impl Serialize) -> Response {
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
