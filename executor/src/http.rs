//! Calling `http` tools: one signed JSON request per attempt, a timeout per attempt, and
//! retries with exponential backoff after connection errors, timeouts, 5xx and 429.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use domain::tool::HttpMethod;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::signing::{SIGNATURE_HEADER, Signer, TIMESTAMP_HEADER};
use crate::{CallOutcome, ExecutorConfig};

/// Header naming the invocation, so a tool can recognise a call repeated after a crash.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// How much of an error response's body a failure message quotes.
const QUOTED_BODY_CHARS: usize = 500;

/// One call of an `http` tool version.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCall {
    pub invocation_id: Uuid,
    pub tool_id: Uuid,
    pub tool_name: String,
    pub tool_version: u32,
    pub arguments: Value,
    pub url: String,
    pub method: HttpMethod,
    pub timeout_ms: u32,
    pub retries: u32,
}

/// Sends calls to `http` tools.
#[derive(Debug, Clone)]
pub struct HttpCaller {
    client: Client,
    signer: Signer,
    config: ExecutorConfig,
}

/// How one attempt ended.
enum Attempt {
    /// A 2xx with a JSON body (or none: `null`).
    Output(Value),
    /// Worth trying again: a connection error, a 5xx or a 429.
    Retryable(String),
    /// Worth trying again: the attempt ran out of time.
    TimedOut,
    /// Trying again would not help: a 4xx, a redirect, a body that is not JSON or too big.
    Final(String),
}

impl HttpCaller {
    /// A caller signing with the configured secret. Redirects are not followed: a signed
    /// request goes only where the tool version says.
    pub fn new(config: ExecutorConfig) -> Result<Self, reqwest::Error> {
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .user_agent(concat!("agentos-tool-executor/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            signer: Signer::new(config.signing_secret.clone()),
            config,
        })
    }

    /// Carries the call out, retrying as the tool version allows.
    pub async fn call(&self, call: &HttpCall) -> CallOutcome {
        let body = json!({
            "invocation_id": call.invocation_id,
            "tool": {"id": call.tool_id, "name": call.tool_name, "version": call.tool_version},
            "arguments": call.arguments,
        })
        .to_string()
        .into_bytes();
        let mut retry = 0;
        loop {
            let started = Instant::now();
            let attempt = self.attempt(call, &body).await;
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let retryable = match attempt {
                Attempt::Output(output) => {
                    return CallOutcome::Succeeded {
                        output,
                        duration_ms,
                    };
                }
                Attempt::Final(error) => return CallOutcome::failed(error, Some(duration_ms)),
                Attempt::Retryable(error) => Some(error),
                Attempt::TimedOut => None,
            };
            if retry >= call.retries {
                return match retryable {
                    Some(error) => CallOutcome::failed(error, Some(duration_ms)),
                    None => CallOutcome::TimedOut {
                        timeout_ms: u64::from(call.timeout_ms),
                    },
                };
            }
            tokio::time::sleep(self.config.backoff(retry)).await;
            retry += 1;
        }
    }

    async fn attempt(&self, call: &HttpCall, body: &[u8]) -> Attempt {
        // Signed afresh per attempt, so a tool refusing stale timestamps accepts retries.
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let method = match call.method {
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
        };
        let request = self
            .client
            .request(method, &call.url)
            .timeout(std::time::Duration::from_millis(u64::from(call.timeout_ms)))
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY_HEADER, call.invocation_id.to_string())
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, self.signer.sign(timestamp, body))
            .body(body.to_vec());
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_timeout() => return Attempt::TimedOut,
            Err(err) if err.is_builder() => {
                return Attempt::Final(format!(
                    "the tool's URL cannot be called: {}",
                    describe(err)
                ));
            }
            Err(err) => {
                return Attempt::Retryable(format!("the request failed: {}", describe(err)));
            }
        };
        let status = response.status();
        let bytes = match self.read_body(response).await {
            Ok(bytes) => bytes,
            Err(attempt) => return attempt,
        };
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Attempt::Output(Value::Null);
            }
            return match serde_json::from_slice(&bytes) {
                Ok(output) => Attempt::Output(output),
                Err(err) => {
                    Attempt::Final(format!("HTTP {status}: the response is not JSON: {err}"))
                }
            };
        }
        let message = format!("HTTP {status}{}", quote(&bytes));
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Retryable(message)
        } else {
            Attempt::Final(message)
        }
    }

    /// The whole body, unless it is larger than allowed or does not arrive in time.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Attempt> {
        let limit = self.config.max_response_bytes;
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > limit {
                        return Err(Attempt::Final(format!(
                            "HTTP {}: the response is larger than {limit} bytes",
                            response.status()
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(bytes),
                Err(err) if err.is_timeout() => return Err(Attempt::TimedOut),
                Err(err) => {
                    return Err(Attempt::Retryable(format!(
                        "reading the response failed: {}",
                        describe(err)
                    )));
                }
            }
        }
    }
}

/// The error and its causes, without the URL (which may carry a token in its query).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `": <the start of the body>"`, or nothing for an empty body.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut quoted: String = text.chars().take(QUOTED_BODY_CHARS).collect();
    if text.chars().nth(QUOTED_BODY_CHARS).is_some() {
        quoted.push('…');
    }
    format!(": {quoted}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_the_start_of_an_error_body() {
        assert_eq!(quote(b""), "");
        assert_eq!(quote(b"  no such city \n"), ": no such city");
        let long = "x".repeat(QUOTED_BODY_CHARS + 1);
        assert_eq!(
            quote(long.as_bytes()).chars().count(),
            QUOTED_BODY_CHARS + 3
        );
    }
}
