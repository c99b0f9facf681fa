//! The real `agentos` binary, one process per role, as a deployment runs it: the chain
//! works across processes, SIGTERM drains each one, and traces reach an OTLP collector.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use eventstore::testing::{TestEnv, nats_url, redis_url};
use serde_json::{Value, json};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Collects the bodies POSTed to `/v1/traces`.
pub(crate) async fn otlp_receiver() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().expect("lock").push(body);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

pub(crate) struct Role {
    name: &'static str,
    child: Child,
    health: String,
}

pub(crate) fn spawn_role(env: &TestEnv, role: &'static str, port: u16, otlp: &str) -> Role {
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_agentos"))
        .args(["serve", "--role", role])
        .env("DATABASE_URL", &env.database_url)
        .env("NATS_URL", nats_url())
        .env("REDIS_URL", redis_url())
        .env("AGENTOS_NAMESPACE", env.namespace.as_str())
        .env("AGENTOS_REDIS_PREFIX", &env.redis_prefix)
        .env("AGENTOS_COMMAND_API_ADDR", &addr)
        .env("AGENTOS_QUERY_API_ADDR", &addr)
        .env("AGENTOS_OPS_ADDR", &addr)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env(
            "AGENTOS_TOOL_SIGNING_SECRET",
            crate::helpers::TOOL_SIGNING_SECRET,
        )
        .env(
            "AGENTOS_ENGINE_LEASE_MS",
            crate::helpers::LEASE_MS.to_string(),
        )
        .env(
            "AGENTOS_ENGINE_HEARTBEAT_MS",
            (crate::helpers::LEASE_MS / 6).to_string(),
        )
        .env(
            "AGENTOS_ENGINE_ACK_WAIT_MS",
            crate::helpers::LEASE_MS.to_string(),
        )
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start agentos");
    Role {
        name: role,
        child,
        health: format!("http://{addr}"),
    }
}

pub(crate) async fn wait_ready(client: &reqwest::Client, role: &Role) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{}/readyz", role.health)).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never became ready",
            role.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kills the process at once (SIGKILL): a crash, with nothing cleaned up.
pub(crate) fn kill(mut role: Role) {
    role.child.kill().expect("kill");
    role.child.wait().expect("reap");
}

/// Sends SIGTERM and waits (bounded) for a clean exit.
pub(crate) async fn terminate(mut role: Role) {
    let pid = role.child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = role.child.try_wait().expect("wait") {
            assert!(status.success(), "{} exited with {status}", role.name);
            return;
        }
        if Instant::now() > deadline {
            role.child.kill().ok();
            panic!("{} did not stop within 30 s of SIGTERM", role.name);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn roles_in_separate_processes_serve_read_your_writes_and_stop_on_sigterm() {
    let env = TestEnv::new().await;
    let (otlp, traces) = otlp_receiver().await;
    let client = reqwest::Client::new();
    let command = spawn_role(&env, "command-api", free_port(), &otlp);
    let query = spawn_role(&env, "query-api", free_port(), &otlp);
    let relay = spawn_role(&env, "relay", free_port(), &otlp);
    let projector = spawn_role(&env, "projector", free_port(), &otlp);
    for role in [&command, &query, &relay, &projector] {
        wait_ready(&client, role).await;
    }
    let key = eventstore::tenants::create_tenant(&env.pool, "acme")
        .await
        .expect("tenant")
        .api_key;
    let correlation_id = uuid::Uuid::now_v7();

    let created: Value = client
        .post(format!("{}/v1/agents", command.health))
        .bearer_auth(&key)
        .header("X-Correlation-Id", correlation_id.to_string())
        .json(&json!({"name": "split", "model": {"provider": "scripted", "name": "echo"}}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let read = client
        .get(format!(
            "{}/v1/agents/{}",
            query.health,
            created["id"].as_str().expect("id")
        ))
        .bearer_auth(&key)
        .header(
            "X-Consistency-Token",
            created["consistency_token"].as_str().expect("token"),
        )
        .send()
        .await
        .expect("read");
    assert_eq!(read.status(), 200);
    let agent: Value = read.json().await.expect("json");
    assert_eq!(agent["name"], "split");
    assert_eq!(agent["version"], 1);

    for role in [command, query, relay, projector] {
        terminate(role).await;
    }
    // The exporter flushes on shutdown; the HTTP span carries the correlation id.
    let needle = correlation_id.to_string();
    let exported = traces
        .lock()
        .expect("lock")
        .iter()
        .any(|body| contains(body, needle.as_bytes()));
    assert!(exported, "no exported span carried correlation id {needle}");
    // The projector process records the same id on the span of each event it applies.
    let projected = traces
        .lock()
        .expect("lock")
        .iter()
        .any(|body| contains(body, b"project_event") && contains(body, needle.as_bytes()));
    assert!(
        projected,
        "no project_event span carried correlation id {needle}"
    );
    env.cleanup().await;
}

#[test]
fn a_consistency_wait_beyond_the_request_timeout_is_refused_at_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_agentos"))
        .args(["--consistency-wait-ms", "40000", "migrate"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/never")
        .output()
        .expect("run agentos");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("consistency-wait-ms"), "{stderr}");
}

#[tokio::test]
async fn a_tool_executor_process_carries_out_calls_and_stops_on_sigterm() {
    use crate::tooling::{Receiver, invocation_body, tool_body};
    let app = crate::helpers::spawn_app_with(
        crate::helpers::CONSISTENCY_WAIT_MS,
        &[
            cli::Role::CommandApi,
            cli::Role::QueryApi,
            cli::Role::Relay,
            cli::Role::Projector,
        ],
    )
    .await;
    let (otlp, _) = otlp_receiver().await;
    let client = reqwest::Client::new();
    let executor = spawn_role(&app.env, "tool-executor", free_port(), &otlp);
    wait_ready(&client, &executor).await;
    let receiver = Receiver::start().await;
    let agent = app.an_agent("caller").await;
    let tool = app
        .a_tool(&tool_body("weather", &format!("{}/ok", receiver.url)))
        .await;
    let body = invocation_body(agent.id, json!({"city": "Oslo"}), "across-processes");
    let id = app.an_invocation(tool.id, &body).await;
    let done = app.finished_invocation(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(receiver.calls("/ok").iter().all(|call| call.signed));
    terminate(executor).await;
    app.stop().await;
}

#[tokio::test]
async fn the_billing_reactor_runs_as_its_own_role_and_stops_on_sigterm() {
    let env = TestEnv::new().await;
    let (otlp, _) = otlp_receiver().await;
    let client = reqwest::Client::new();
    let relay = spawn_role(&env, "relay", free_port(), &otlp);
    let reactor = spawn_role(&env, "billing-reactor", free_port(), &otlp);
    for role in [&relay, &reactor] {
        wait_ready(&client, role).await;
    }
    let tenant = uuid::Uuid::now_v7();
    let cause =
        eventstore::testing::memory_recorded(&env.pool, tenant, None, chrono::Utc::now()).await;
    let pool = &env.pool;
    crate::helpers::eventually("the reactor to record the usage", async || {
        (!recorded_usage_keys(pool).await.is_empty()).then_some(())
    })
    .await;
    for role in [reactor, relay] {
        terminate(role).await;
    }
    let keys = recorded_usage_keys(&env.pool).await;
    assert_eq!(keys, [cause.to_string()]);
    env.cleanup().await;
}

/// The idempotency keys of every usage recorded so far.
async fn recorded_usage_keys(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT payload -> 'UsageRecorded' ->> 'idempotency_key' FROM events
          WHERE event_type = 'UsageRecorded'",
    )
    .fetch_all(pool)
    .await
    .expect("usage")
}
