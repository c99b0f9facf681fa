//! A JSON body extractor whose every rejection is a problem+json naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use domain::FieldError;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::Problem;

/// The request body, deserialized as `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = read_body(req, state).await?;
        parse_request(&headers, &bytes).map(JsonBody)
    }
}

/// The raw body, with a problem+json rejection (e.g. 413 past the body limit).
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Problem> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| Problem::new(rejection.status(), "body", rejection.body_text()))
}

/// Checks the content type and deserializes the body.
pub fn parse_request<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, Problem> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"));
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    parse(bytes)
}

/// Like [`parse_request`], but an empty body means `T::default()`.
pub fn parse_optional_request<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_request(headers, bytes)
    }
}

/// Deserializes `bytes`: malformed JSON is a 400, JSON of the wrong shape a 422 whose
/// error names the field by its path.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer);
    if value.is_ok()
        && let Err(err) = deserializer.end()
    {
        return Err(malformed(&err));
    }
    value.map_err(|err| {
        // A body that is not JSON at all is malformed, whatever fields were read before
        // the break (an unknown or missing one would otherwise be reported first).
        if let Err(syntax) = serde_json::from_slice::<IgnoredAny>(bytes) {
            return malformed(&syntax);
        }
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() {
            data_problem(path, strip_position(&inner.to_string()))
        } else {
            // serde_json reports a value of the wrong kind where an enum is expected (a
            // number for a unit variant) as a syntax error, though the JSON is well-formed.
            data_problem(path, "has the wrong type".to_owned())
        }
    })
}

/// 422 for well-formed JSON of the wrong shape, naming the field by its `path`.
fn data_problem(path: String, message: String) -> Problem {
    if path == "." {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            message.clone(),
        )
        .with_errors(vec![FieldError {
            field: "body".into(),
            message,
        }]);
    }
    let message = message.replace(&format!(" at {path}"), "");
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        format!("{path}: {message}"),
    )
    .with_errors(vec![FieldError {
        field: path,
        message,
    }])
}

fn malformed(err: &serde_json::Error) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "malformed-json",
        format!(
            "the body is not valid JSON: {}",
            strip_position(&err.to_string())
        ),
    )
}

/// serde_json appends " at line 1 column 5"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        model: Model,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Model {
        temperature: f64,
    }

    #[test]
    fn names_the_field_of_a_wrong_type() {
        let problem = parse::<Body>(br#"{"name":"a","model":{"temperature":"hot"}}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "model.temperature");
    }

    #[test]
    fn names_an_unknown_field() {
        let problem =
            parse::<Body>(br#"{"name":"a","model":{"temperature":1},"x":1}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert!(problem.errors[0].message.contains("unknown field `x`"));
    }

    #[test]
    fn calls_broken_json_malformed() {
        let problem = parse::<Body>(br#"{"name":"#).unwrap_err();
        assert_eq!(problem.status, 400);
        let problem =
            parse::<Body>(br#"{"name":"a","model":{"temperature":1}} trailing"#).unwrap_err();
        assert_eq!(problem.status, 400);
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        Core,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Kinded {
        kind: Kind,
    }

    #[test]
    fn names_a_field_whose_value_is_not_a_variant() {
        let problem = parse::<Kinded>(br#"{"kind": 3}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "kind");
        assert_eq!(parse::<Kinded>(br#"{"kind": 3"#).unwrap_err().status, 400);
        assert_eq!(
            parse::<Kinded>(br#"{"colour": 1,"#).unwrap_err().status,
            400
        );
    }

    #[test]
    fn reports_a_missing_field() {
        let problem = parse::<Body>(br#"{"name":"a"}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert!(problem.errors[0].message.contains("missing field `model`"));
    }
}
