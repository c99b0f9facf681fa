//! A client of any OpenAI-compatible chat-completions server (`POST {base_url}/chat/completions`),
//! with function calling, a timeout per attempt, and retries with exponential backoff on
//! connection errors, timeouts, 429 and 5xx.

mod wire;

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use super::{ModelProvider, ModelReply, ModelRequest, ProviderError};

/// Where the server is and how patiently to call it.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The API's base URL, such as `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<SecretString>,
    /// The model every call asks for, instead of the agent's `model.name`, when set.
    pub model: Option<String>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How many times a failed attempt is retried.
    pub retries: u32,
    /// The pause before the first retry; it doubles with each retry.
    pub retry_base: Duration,
    /// The longest pause between retries.
    pub retry_cap: Duration,
}

impl OpenAiConfig {
    /// The defaults for a server at `base_url`: 60 s per attempt, 2 retries from 500 ms.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            model: None,
            timeout: Duration::from_secs(60),
            retries: 2,
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(10),
        }
    }

    /// The pause before retry number `retry` (0 for the first): exponential, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(16));
        self.retry_base.saturating_mul(factor).min(self.retry_cap)
    }
}

/// The OpenAI-compatible provider.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    config: OpenAiConfig,
    http: reqwest::Client,
    url: String,
}

/// What one attempt came to.
enum Attempt {
    Answered(ModelReply),
    /// Worth another try (after at least the pause the server asked for, if it did).
    Retry(String, Option<Duration>),
    Failed(String),
}

impl OpenAiCompatible {
    /// A client of the server `config` names.
    pub fn new(config: OpenAiConfig) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|err| ProviderError(format!("HTTP client: {err}")))?;
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        Ok(Self { config, http, url })
    }

    async fn attempt(&self, body: &wire::ChatRequest<'_>) -> Attempt {
        let mut request = self.http.post(&self.url).json(body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_timeout() => {
                let limit = self.config.timeout.as_millis();
                return Attempt::Retry(format!("the model did not answer within {limit} ms"), None);
            }
            Err(err) => return Attempt::Retry(format!("the request failed: {err}"), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = match response.text().await {
            Ok(text) => text,
            Err(err) => return Attempt::Retry(format!("reading the answer failed: {err}"), None),
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry(format!("the model answered {status}: {text}"), retry_after);
        }
        if !status.is_success() {
            return Attempt::Failed(format!("the model answered {status}: {text}"));
        }
        match wire::reply(&text) {
            Ok(reply) => Attempt::Answered(reply),
            Err(err) => Attempt::Failed(err),
        }
    }
}

#[async_trait::async_trait]
impl ModelProvider for OpenAiCompatible {
    async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ProviderError> {
        let model = self.config.model.as_deref().unwrap_or(&request.model.name);
        let body = wire::ChatRequest::of(request, model);
        let mut retry = 0;
        loop {
            match self.attempt(&body).await {
                Attempt::Answered(reply) => return Ok(reply),
                Attempt::Failed(error) => return Err(ProviderError(error)),
                Attempt::Retry(error, _) if retry >= self.config.retries => {
                    return Err(ProviderError(error));
                }
                Attempt::Retry(error, asked) => {
                    let pause = self
                        .config
                        .backoff(retry)
                        .max(asked.unwrap_or_default().min(self.config.retry_cap));
                    tracing::debug!(%error, retry, ?pause, "model call retried");
                    tokio::time::sleep(pause).await;
                    retry += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let config = OpenAiConfig::new("http://127.0.0.1:1/v1");
        let pauses: Vec<u128> = (0..6).map(|n| config.backoff(n).as_millis()).collect();
        assert_eq!(pauses, [500, 1000, 2000, 4000, 8000, 10_000]);
    }

    #[test]
    fn calls_the_chat_completions_path_under_the_base_url() {
        for base in ["http://h/v1", "http://h/v1/"] {
            let client = OpenAiCompatible::new(OpenAiConfig::new(base)).unwrap();
            assert_eq!(client.url, "http://h/v1/chat/completions");
        }
    }
}
