//! Support for the tool tests: request bodies, keys with chosen scopes, reading an
//! invocation until it has its outcome, and a local HTTP tool that records every call and
//! checks its signature.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use reqwest::StatusCode as ReplyStatus;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::{Accepted, TOOL_SIGNING_SECRET, TestApp, eventually};

/// The weather tool's input schema: a required non-empty `city`, an optional `days`.
pub fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 1},
            "days": {"type": "integer", "minimum": 1, "maximum": 14}
        },
        "required": ["city"],
        "additionalProperties": false
    })
}

/// A register body for an `http` tool called `name` at `url`.
pub fn tool_body(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "description": "Forecasts the weather",
        "input_schema": input_schema(),
        "output_schema": {
            "type": "object",
            "properties": {"temperature_c": {"type": "number"}},
            "required": ["temperature_c"]
        },
        "kind": {"type": "http", "url": url, "method": "POST", "timeout_ms": 5000, "retries": 0}
    })
}

/// An invocation body for `agent` with `arguments` under `key`.
pub fn invocation_body(agent: Uuid, arguments: Value, key: &str) -> Value {
    json!({"agent_id": agent, "arguments": arguments, "idempotency_key": key})
}

impl TestApp {
    /// Registers a tool with `body`; fails the test unless it is accepted.
    pub async fn a_tool(&self, body: &Value) -> Accepted {
        self.post("/v1/tools", body, &[])
            .await
            .accepted(ReplyStatus::CREATED)
    }

    /// `POST /v1/tools/{tool}/invocations` with `body`.
    pub async fn invoke(&self, tool: Uuid, body: &Value) -> crate::helpers::Reply {
        self.post(&format!("/v1/tools/{tool}/invocations"), body, &[])
            .await
    }

    /// Requests a call of `tool` with `body`; fails the test unless it is accepted (202).
    pub async fn an_invocation(&self, tool: Uuid, body: &Value) -> Uuid {
        self.invoke(tool, body)
            .await
            .accepted(ReplyStatus::ACCEPTED)
            .id
    }

    /// Invocation `id` once it has an outcome (succeeded, failed or timed out).
    pub async fn finished_invocation(&self, id: Uuid) -> Value {
        let path = format!("/v1/invocations/{id}");
        eventually("the invocation to finish", async || {
            let reply = self.get(&path, &[]).await;
            let status = reply.body["status"].as_str().unwrap_or_default();
            ["succeeded", "failed", "timed_out"]
                .contains(&status)
                .then_some(reply.body)
        })
        .await
    }

    /// How many events of `event_type` the store holds for invocation `id`.
    pub async fn invocation_events(&self, id: Uuid, event_type: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events
              WHERE aggregate_type = 'tool_invocation' AND aggregate_id = $1
                AND event_type = $2",
        )
        .bind(id.to_string())
        .bind(event_type)
        .fetch_one(&self.env.pool)
        .await
        .expect("count events")
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedCall {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// Whether `X-AgentOS-Signature` signs the body and timestamp with the test secret.
    pub signed: bool,
}

/// A local HTTP tool. Each path behaves in its own way:
/// `/ok` answers a forecast; `/reject` a 422; `/flaky` a 503 twice, then a forecast;
/// `/silent` never answers; `/wrong-output` a forecast of the wrong type; `/blocking`
/// answers a forecast once [`Receiver::release`] is called.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    calls: Arc<Mutex<Vec<ReceivedCall>>>,
    released: watch::Sender<bool>,
}

impl Receiver {
    /// Starts the receiver on a free port.
    pub async fn start() -> Self {
        let (released, _) = watch::channel(false);
        let receiver = Self {
            url: String::new(),
            calls: Arc::new(Mutex::new(Vec::new())),
            released,
        };
        let app = axum::Router::new()
            .route("/{behaviour}", any(answer))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            ..receiver
        }
    }

    /// Every call so far to `path` (such as `/ok`).
    pub fn calls(&self, path: &str) -> Vec<ReceivedCall> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|call| call.path == path)
            .cloned()
            .collect()
    }

    /// Lets every `/blocking` call answer, now and from now on.
    pub fn release(&self) {
        self.released.send_replace(true);
    }
}

async fn answer(
    State(receiver): State<Receiver>,
    Path(behaviour): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let timestamp: u64 = header(&headers, "x-agentos-timestamp")
        .parse()
        .unwrap_or_default();
    let signed = executor::signing::verify(
        TOOL_SIGNING_SECRET.as_bytes(),
        timestamp,
        &body,
        &header(&headers, "x-agentos-signature"),
    );
    let path = format!("/{behaviour}");
    let earlier = {
        let mut calls = receiver.calls.lock().expect("lock");
        calls.push(ReceivedCall {
            path: path.clone(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            signed,
        });
        calls.iter().filter(|call| call.path == path).count() - 1
    };
    let forecast = || (StatusCode::OK, Json(json!({"temperature_c": 21.5})));
    match behaviour.as_str() {
        "ok" => forecast(),
        "reject" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "no such city"})),
        ),
        "flaky" if earlier < 2 => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "try later"})),
        ),
        "flaky" => forecast(),
        "wrong-output" => (StatusCode::OK, Json(json!({"temperature_c": "warm"}))),
        "blocking" => {
            let mut released = receiver.released.subscribe();
            released.wait_for(|released| *released).await.ok();
            forecast()
        }
        _ => std::future::pending::<(StatusCode, Json<Value>)>().await,
    }
}

/// A header's value as text (empty when missing).
pub fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
