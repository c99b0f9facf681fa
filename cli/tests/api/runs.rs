//! Runs over both APIs with the engine: scripted agents that call tools, record memories
//! and answer; approvals, cancellation, stop rules, paused agents; engines that die; run
//! events as Server-Sent Events; bad input.

mod approval;
mod bad_input;
mod events;
mod journey;
mod recovery;
mod stops;

use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, EngineConfig, NoQuotas, Providers};
use eventstore::RelayWaker;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Accepted, LEASE_MS, Reply, TestApp, eventually};
use crate::tooling::Receiver;

/// The statuses a run stops in.
const FINAL: &[&str] = &["completed", "failed", "cancelled", "timed_out"];

/// A scripted agent's system prompt: its replies, in order.
pub fn script(replies: Value) -> String {
    json!({ "script": replies }).to_string()
}

/// A scripted agent called `name` with `tools` and `script` (see [`script`]).
pub fn scripted_agent_body(name: &str, tools: &[Uuid], replies: Value) -> Value {
    json!({
        "name": name,
        "model": {"provider": "scripted", "name": "demo", "temperature": 0, "max_output_tokens": 200},
        "system_prompt": script(replies),
        "tool_ids": tools,
    })
}

/// The `memory.record` builtin, registered as `remember`.
pub fn remember_tool() -> Value {
    json!({
        "name": "remember",
        "description": "Records something worth remembering",
        "input_schema": {
            "type": "object",
            "properties": {"content": {"type": "string"}, "tags": {"type": "array"}},
            "required": ["content"]
        },
        "kind": {"type": "builtin", "name": "memory.record"}
    })
}

/// An `http` tool called `name` at `url` taking any object.
pub fn open_tool(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "input_schema": {"type": "object"},
        "kind": {"type": "http", "url": url, "method": "POST", "timeout_ms": 60000, "retries": 0}
    })
}

/// An agent whose every tool call waits for approval, calling `tool` first (by `name`),
/// then answering `answer`.
pub async fn cautious_agent(app: &TestApp, tool: Uuid, name: &str, answer: &str) -> Uuid {
    let mut body = scripted_agent_body(
        "cautious",
        &[tool],
        json!([
            {"tool_calls": [{"name": name, "arguments": {"to": "kari@example.com"}}]},
            {"text": answer}
        ]),
    );
    body["metadata"] = json!({"approval_required_tools": "*"});
    app.create_agent(&body)
        .await
        .accepted(StatusCode::CREATED)
        .id
}

impl TestApp {
    /// An `http` tool called `name` at `path` of `receiver`, taking any object.
    pub async fn a_receiver_tool(&self, name: &str, receiver: &Receiver, path: &str) -> Uuid {
        self.a_tool(&open_tool(name, &format!("{}{path}", receiver.url)))
            .await
            .id
    }

    /// `POST /v1/agents/{agent}/runs` with `body`.
    pub async fn start_run(&self, agent: Uuid, body: &Value) -> Reply {
        self.post(&format!("/v1/agents/{agent}/runs"), body, &[])
            .await
    }

    /// Starts a run of `agent` on `input`; fails the test unless it is accepted.
    pub async fn a_run(&self, agent: Uuid, input: &str) -> Accepted {
        self.start_run(agent, &json!({ "input": input }))
            .await
            .accepted(StatusCode::CREATED)
    }

    /// A scripted agent; fails the test unless it is created.
    pub async fn a_scripted_agent(&self, tools: &[Uuid], replies: Value) -> Uuid {
        self.create_agent(&scripted_agent_body("scripted", tools, replies))
            .await
            .accepted(StatusCode::CREATED)
            .id
    }

    /// `POST /v1/runs/{id}/{action}` with `body`.
    pub async fn run_command(&self, id: Uuid, action: &str, body: &Value) -> Reply {
        self.post(&format!("/v1/runs/{id}/{action}"), body, &[])
            .await
    }

    /// Run `id` as the query API shows it once `accept` says so.
    pub async fn run_when(&self, id: Uuid, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let path = format!("/v1/runs/{id}");
        eventually(what, async || {
            let reply = self.get(&path, &[]).await;
            (reply.status == StatusCode::OK && accept(&reply.body)).then_some(reply.body)
        })
        .await
    }

    /// Run `id` once it has stopped.
    pub async fn finished_run(&self, id: Uuid) -> Value {
        self.run_when(id, "the run to stop", |run| {
            FINAL.contains(&run["status"].as_str().unwrap_or_default())
        })
        .await
    }

    /// How many events of `event_type` the store holds for run `id`.
    pub async fn run_events(&self, id: Uuid, event_type: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events
              WHERE aggregate_type = 'run' AND aggregate_id = $1 AND event_type = $2",
        )
        .bind(id.to_string())
        .bind(event_type)
        .fetch_one(&self.env.pool)
        .await
        .expect("count events")
    }

    /// The payloads of run `id`'s events of `event_type`, in order.
    pub async fn run_event_payloads(&self, id: Uuid, event_type: &str) -> Vec<Value> {
        sqlx::query_scalar::<_, Value>(
            "SELECT payload -> event_type FROM events
              WHERE aggregate_type = 'run' AND aggregate_id = $1 AND event_type = $2
              ORDER BY sequence",
        )
        .bind(id.to_string())
        .bind(event_type)
        .fetch_all(&self.env.pool)
        .await
        .expect("read events")
    }
}

/// The kinds of a run's steps, in order.
pub fn step_kinds(run: &Value) -> Vec<String> {
    run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| {
            let details = step["details"].as_object().expect("details");
            details.keys().next().cloned().unwrap_or_default()
        })
        .collect()
}

/// An engine of `app`'s platform with test timings, calling `providers`.
pub fn engine(
    app: &TestApp,
    providers: Providers,
    configure: impl FnOnce(&mut EngineConfig),
) -> Engine {
    let mut config = EngineConfig::new();
    config.ack_wait = Duration::from_millis(LEASE_MS);
    config.lease_duration = Duration::from_millis(LEASE_MS);
    config.heartbeat_every = Duration::from_millis(LEASE_MS / 6);
    configure(&mut config);
    Engine::new(
        app.env.pool.clone(),
        app.env.jetstream.clone(),
        app.env.namespace.clone(),
        RelayWaker::new(app.env.nats.clone(), &app.env.namespace),
        providers,
        Arc::new(NoQuotas),
        config,
    )
}
