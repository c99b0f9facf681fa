//! `Idempotency-Key` and `If-Match`: parsing and the request fingerprint.

use axum::http::{HeaderMap, Method, StatusCode};
use eventstore::metadata::IdempotencyClaim;
use eventstore::web::Problem;
use sha2::{Digest, Sha256};

/// The claim for this request's `Idempotency-Key`, if it sent one.
pub fn idempotency_claim(
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
    status_code: u16,
) -> Result<Option<IdempotencyClaim>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| {
            !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (b' '..=b'~').contains(&b))
        })
        .ok_or_else(|| {
            Problem::invalid_field(
                "Idempotency-Key",
                "must be 1 to 255 printable ASCII characters",
            )
        })?;
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update(b" ");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    Ok(Some(IdempotencyClaim {
        key: key.to_owned(),
        request_hash: hex::encode(hash.finalize()),
        status_code,
    }))
}

/// The version in `If-Match: "<version>"`; `*` and absence mean no expectation.
pub fn expected_version(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get("if-match") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    if text.starts_with("W/") {
        // If-Match compares strongly (RFC 9110 section 13.1.1): a weak tag never matches.
        return Err(Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "version-mismatch",
            "If-Match needs a strong ETag such as \"3\"; a weak one never matches",
        ));
    }
    text.trim_matches('"')
        .parse::<u64>()
        .map(Some)
        .map_err(|_| Problem::invalid_field("If-Match", "must be an ETag like \"3\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn parses_strong_versions_and_never_matches_a_weak_one() {
        assert_eq!(
            expected_version(&headers("if-match", "\"3\"")).unwrap(),
            Some(3)
        );
        assert_eq!(
            expected_version(&headers("if-match", "W/\"4\""))
                .unwrap_err()
                .status,
            412
        );
        assert_eq!(expected_version(&headers("if-match", "*")).unwrap(), None);
        assert_eq!(expected_version(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            expected_version(&headers("if-match", "\"x\""))
                .unwrap_err()
                .status,
            422
        );
    }

    #[test]
    fn fingerprints_the_path_and_body() {
        let key = headers("idempotency-key", "k1");
        let a = idempotency_claim(&key, &Method::POST, "/v1/agents", b"{}", 201)
            .unwrap()
            .unwrap();
        let b = idempotency_claim(&key, &Method::POST, "/v1/agents", b"{ }", 201)
            .unwrap()
            .unwrap();
        let c = idempotency_claim(&key, &Method::POST, "/v1/x", b"{}", 201)
            .unwrap()
            .unwrap();
        assert_ne!(a.request_hash, b.request_hash);
        assert_ne!(a.request_hash, c.request_hash);
        assert_eq!(a.key, "k1");
        assert_eq!(
            idempotency_claim(&HeaderMap::new(), &Method::POST, "/", b"", 200).unwrap(),
            None
        );
    }
}
