//! `spawn_app()`: the whole platform on port 0 over the test's own database, stream and
//! Redis prefix, plus an HTTP client that speaks to it as tenant "acme".

use std::time::{Duration, Instant};

use cli::{Config, EngineSettings, Platform, Role};
use eventstore::testing::{TestEnv, nats_url, redis_url};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

/// How long any "until the read side shows it" wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The key the platform's tool executor signs requests to `http` tools with.
pub const TOOL_SIGNING_SECRET: &str = "test-signing-secret";
/// Heartbeat interval of an app's event streams: short, so that tests see heartbeats.
pub const SSE_HEARTBEAT_MS: u64 = 200;

/// How long a run's lease lasts in tests unless extended, in milliseconds.
pub const LEASE_MS: u64 = 3_000;

/// Read-your-writes bound of an app spawned with [`spawn_app`].
pub const CONSISTENCY_WAIT_MS: u64 = 5_000;

/// A running platform and a client authenticated as its first tenant.
pub struct TestApp {
    pub env: TestEnv,
    platform: Platform,
    /// What the platform was started with; [`TestApp::start_roles`] starts more with it.
    pub config: Config,
    pub command_url: String,
    pub query_url: String,
    pub client: reqwest::Client,
    pub tenant_id: Uuid,
    pub api_key: String,
}

/// What an accepted command answered.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: Uuid,
    pub version: u64,
    pub token: String,
}

/// An API key issued during a test.
#[derive(Debug, Clone)]
pub struct ScopedKey {
    pub id: Uuid,
    /// The `Authorization` header value for the key.
    pub authorization: String,
}

/// A response, read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as JSON, or `Null` when it is not JSON.
    pub body: Value,
    pub text: String,
}

/// Every role of the platform, with the default consistency wait.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(CONSISTENCY_WAIT_MS, &[Role::All]).await
}

/// Every role but `left_out`, which the test runs itself.
pub async fn spawn_app_without(left_out: Role) -> TestApp {
    let roles: Vec<Role> = <Role as clap::ValueEnum>::value_variants()
        .iter()
        .copied()
        .filter(|role| ![Role::All, left_out].contains(role))
        .collect();
    spawn_app_with(CONSISTENCY_WAIT_MS, &roles).await
}

/// `roles` of the platform, waiting at most `consistency_wait_ms` for read-your-writes.
pub async fn spawn_app_with(consistency_wait_ms: u64, roles: &[Role]) -> TestApp {
    spawn_app_tuned(roles, |config| {
        config.consistency_wait_ms = consistency_wait_ms
    })
    .await
}

/// `roles` of the platform with the test configuration as `tune` changes it.
pub async fn spawn_app_tuned(roles: &[Role], tune: impl FnOnce(&mut Config)) -> TestApp {
    let env = TestEnv::new().await;
    let any_port = "127.0.0.1:0".parse().expect("address");
    let mut config = Config {
        database_url: SecretString::from(env.database_url.clone()),
        nats_url: nats_url(),
        redis_url: SecretString::from(redis_url()),
        command_api_addr: any_port,
        query_api_addr: any_port,
        ops_addr: any_port,
        namespace: env.namespace.clone(),
        redis_prefix: env.redis_prefix.clone(),
        consistency_wait_ms: CONSISTENCY_WAIT_MS,
        db_max_connections: 16,
        otlp_endpoint: None,
        log_json: false,
        tool_signing_secret: SecretString::from(TOOL_SIGNING_SECRET),
        tool_executor_concurrency: 8,
        sse_heartbeat_ms: SSE_HEARTBEAT_MS,
        // Retries within milliseconds, so that tests see many of them.
        webhooks: cli::config::WebhookConfig {
            retry_base_ms: 20,
            retry_max_ms: 200,
            failing_after: 3,
            max_attempts: 50,
            timeout_ms: 2_000,
            poll_ms: 50,
        },
        audit_signing_key: SecretString::from(
            eventstore::audit::signing::DEVELOPMENT_SIGNING_KEY.to_owned(),
        ),
        audit_checkpoint_every: 10_000,
        audit_checkpoint_seconds: 60,
        engine: engine_settings(),
    };
    tune(&mut config);
    let platform = Platform::start(&config, roles)
        .await
        .expect("start the platform");
    let issued = eventstore::tenants::create_tenant(&env.pool, "acme")
        .await
        .expect("create tenant");
    let url = |addr: Option<std::net::SocketAddr>| addr.map(|a| format!("http://{a}"));
    TestApp {
        command_url: url(platform.command_api).unwrap_or_default(),
        query_url: url(platform.query_api).unwrap_or_default(),
        platform,
        config,
        env,
        client: reqwest::Client::new(),
        tenant_id: issued.tenant_id,
        api_key: issued.api_key,
    }
}

/// Engine settings for tests: short leases, so an engine that dies is replaced quickly.
pub fn engine_settings() -> EngineSettings {
    EngineSettings {
        engine_concurrency: 8,
        engine_ack_wait_ms: LEASE_MS,
        engine_lease_ms: LEASE_MS,
        engine_heartbeat_ms: LEASE_MS / 6,
        engine_run_timeout_ms: 3_600_000,
        openai_base_url: None,
        openai_api_key: None,
        openai_model: None,
        openai_timeout_ms: 10_000,
        openai_retries: 0,
    }
}

/// `Authorization` value for `api_key`.
pub fn bearer(api_key: &str) -> String {
    format!("Bearer {api_key}")
}

/// A valid create body for an agent called `name`.
pub fn agent_body(name: &str) -> Value {
    json!({
        "name": name,
        "description": "answers billing questions",
        "model": {"provider": "anthropic", "name": "claude-sonnet", "temperature": 0.7},
        "system_prompt": "You are helpful.",
        "tool_ids": [Uuid::from_u128(1)],
        "metadata": {"team": "billing"},
    })
}

/// Polls `probe` until it yields a value; fails the test after [`PATIENCE`].
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what} after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestApp {
    /// A request to the command API, authenticated as the first tenant.
    pub fn command(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.command_url))
            .header(AUTHORIZATION, bearer(&self.api_key))
    }

    /// A request to the query API, authenticated as the first tenant.
    pub fn query(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.query_url))
            .header(AUTHORIZATION, bearer(&self.api_key))
    }

    /// POSTs `body` as JSON to the command API; `headers` may replace `Authorization`.
    pub async fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let request = self
            .client
            .post(format!("{}{path}", self.command_url))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        send(with_headers(request, &self.api_key, headers)).await
    }

    /// GETs `path` from the query API; `headers` may replace `Authorization`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let request = self.client.get(format!("{}{path}", self.query_url));
        send(with_headers(request, &self.api_key, headers)).await
    }

    /// `POST /v1/agents` with `body`.
    pub async fn create_agent(&self, body: &Value) -> Reply {
        self.post("/v1/agents", body, &[]).await
    }

    /// Creates a valid agent called `name`; fails the test unless it is accepted.
    pub async fn an_agent(&self, name: &str) -> Accepted {
        self.create_agent(&agent_body(name))
            .await
            .accepted(StatusCode::CREATED)
    }

    /// Creates a valid agent called `name` as the holder of `api_key` (another tenant's).
    pub async fn agent_as(&self, api_key: &str, name: &str) -> Accepted {
        let auth = bearer(api_key);
        self.post("/v1/agents", &agent_body(name), &[("authorization", &auth)])
            .await
            .accepted(StatusCode::CREATED)
    }

    /// `POST /v1/agents/{id}/{action}` with `body`, which must be accepted.
    pub async fn command_ok(&self, id: Uuid, action: &str, body: &Value) -> Accepted {
        self.post(&format!("/v1/agents/{id}/{action}"), body, &[])
            .await
            .accepted(StatusCode::OK)
    }

    /// Reads agent `id` once the read model holds the write behind `token`.
    pub async fn read_agent(&self, id: Uuid, token: &str) -> Reply {
        let reply = self
            .get(
                &format!("/v1/agents/{id}"),
                &[("x-consistency-token", token)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply
    }

    /// A new key of the first tenant holding only `scopes`.
    pub async fn key_with_scopes(&self, scopes: &[&str]) -> ScopedKey {
        let reply = self
            .post(
                "/v1/api-keys",
                &json!({"name": format!("{scopes:?}"), "scopes": scopes}),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ScopedKey {
            id: reply.body["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("key id"),
            authorization: bearer(
                reply.body["api_key"]
                    .as_str()
                    .expect("the new key's secret"),
            ),
        }
    }

    /// Another tenant, "globex"; returns its API key.
    pub async fn second_tenant(&self) -> String {
        self.another_tenant("globex").await.api_key
    }

    /// Another tenant called `name`, with its first (admin) key.
    pub async fn another_tenant(&self, name: &str) -> eventstore::tenants::IssuedKey {
        eventstore::tenants::create_tenant(&self.env.pool, name)
            .await
            .expect("create another tenant")
    }

    /// How many agent events the store holds (creating tenants and keys appends events of
    /// their own).
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'agent'")
            .fetch_one(&self.env.pool)
            .await
            .expect("count events")
    }

    /// The first `count` agent events of the event stream (subject, CloudEvent JSON), once
    /// the relay has published that many (tenants and keys have events of their own).
    pub async fn published_agent_events(&self, count: usize) -> Vec<(String, Value)> {
        self.published_events("agent", count).await
    }

    /// The first `count` events of `aggregate_type` in the event stream (subject,
    /// CloudEvent JSON), once the relay has published that many.
    pub async fn published_events(
        &self,
        aggregate_type: &str,
        count: usize,
    ) -> Vec<(String, Value)> {
        let stream = self
            .env
            .jetstream
            .get_stream(self.env.namespace.stream())
            .await
            .expect("event stream");
        let marker = format!(".{aggregate_type}.");
        eventually("the relay to publish the events", async || {
            let mut events = Vec::new();
            let last = stream.get_info().await.ok()?.state.last_sequence;
            for sequence in 1..=last {
                let message = stream.get_raw_message(sequence).await.ok()?;
                if message.subject.contains(marker.as_str()) {
                    let event = serde_json::from_slice(&message.payload).expect("CloudEvent JSON");
                    events.push((message.subject.to_string(), event));
                }
            }
            (events.len() >= count).then(|| {
                events.truncate(count);
                events
            })
        })
        .await
    }

    /// Starts `roles` in another platform instance on the same database, stream and
    /// Redis prefix, as a second process would.
    pub async fn start_roles(&self, roles: &[Role]) -> Platform {
        Platform::start(&self.config, roles)
            .await
            .expect("start more roles")
    }

    /// Stops every role and drops the database, stream and Redis keys.
    pub async fn stop(self) {
        self.platform.stop().await;
        self.env.cleanup().await;
    }
}

fn with_headers(
    mut request: RequestBuilder,
    api_key: &str,
    headers: &[(&str, &str)],
) -> RequestBuilder {
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    {
        request = request.header(AUTHORIZATION, bearer(api_key));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

/// Sends `request` and reads the whole response.
pub async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("send request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read body");
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts `status` and returns the command receipt.
    pub fn accepted(&self, status: StatusCode) -> Accepted {
        assert_eq!(self.status, status, "{}", self.text);
        let version = self.body["version"].as_u64().expect("version");
        assert_eq!(
            self.header("etag"),
            Some(format!("\"{version}\"").as_str()),
            "ETag is the version"
        );
        Accepted {
            id: self.body["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("id"),
            version,
            token: self.body["consistency_token"]
                .as_str()
                .expect("consistency_token")
                .to_owned(),
        }
    }

    /// Asserts an RFC 9457 problem of `status` and kind `slug`.
    pub fn assert_problem(&self, status: StatusCode, slug: &str) -> &Self {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(
            self.body["type"],
            format!("https://agentos.dev/problems/{slug}"),
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.text);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "a problem explains itself: {}",
            self.text
        );
        self
    }

    /// Asserts a 422 validation problem whose first field error is `field`.
    pub fn assert_invalid(&self, field: &str) -> &Self {
        self.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(self.error_fields().first().map(String::as_str), Some(field));
        self
    }

    /// The `field` of each entry of `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The problem's detail, or the body text.
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or(&self.text)
    }
}
