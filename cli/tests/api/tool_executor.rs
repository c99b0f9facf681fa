//! The tool executor against a local HTTP tool: signed requests, outputs, 4xx failures,
//! retried 5xx, timeouts, outputs the schema refuses, builtins that are not there, and a
//! crash mid-call that never makes a call succeed twice.

use std::sync::Arc;
use std::time::Duration;

use cli::Role;
use eventstore::RelayWaker;
use executor::{Executor, ExecutorConfig, UnavailableBuiltins};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{TOOL_SIGNING_SECRET, TestApp, eventually, spawn_app, spawn_app_without};
use crate::tooling::{Receiver, header, invocation_body, tool_body};

/// An agent and an `http` tool at `path` of `receiver` with `retries` and `timeout_ms`.
async fn http_tool(
    app: &TestApp,
    receiver: &Receiver,
    path: &str,
    retries: u32,
    timeout_ms: u32,
) -> (Uuid, Uuid) {
    let agent = app.an_agent("caller").await;
    let mut body = tool_body("weather", &format!("{}{path}", receiver.url));
    body["kind"]["retries"] = json!(retries);
    body["kind"]["timeout_ms"] = json!(timeout_ms);
    (agent.id, app.a_tool(&body).await.id)
}

/// Requests a call of `tool` by `agent` and waits for its outcome.
async fn call(app: &TestApp, agent: Uuid, tool: Uuid) -> (Uuid, Value) {
    let body = invocation_body(agent, json!({"city": "Oslo"}), &format!("call-{tool}"));
    let id = app.an_invocation(tool, &body).await;
    (id, app.finished_invocation(id).await)
}

#[tokio::test]
async fn an_http_tool_gets_a_signed_request_and_its_output_is_recorded() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (agent, tool) = http_tool(&app, &receiver, "/ok", 0, 5_000).await;
    let (id, done) = call(&app, agent, tool).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["output"], json!({"temperature_c": 21.5}));
    assert!(done["duration_ms"].is_u64(), "{done}");
    assert_eq!(done["attempt"], 1);
    assert!(
        done["executor"]
            .as_str()
            .is_some_and(|name| name.starts_with("tool-executor-")),
        "{done}"
    );

    let calls = receiver.calls("/ok");
    assert_eq!(calls.len(), 1);
    let request = &calls[0];
    assert!(
        request.signed,
        "the signature verifies with the signing secret"
    );
    assert_eq!(header(&request.headers, "content-type"), "application/json");
    assert_eq!(header(&request.headers, "idempotency-key"), id.to_string());
    assert_eq!(
        request.body,
        json!({
            "invocation_id": id,
            "tool": {"id": tool, "name": "weather", "version": 1},
            "arguments": {"city": "Oslo"}
        })
    );
    assert_eq!(app.invocation_events(id, "InvocationSucceeded").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_4xx_answer_fails_the_call_without_retrying() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (agent, tool) = http_tool(&app, &receiver, "/reject", 3, 5_000).await;
    let (_, done) = call(&app, agent, tool).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("422") && error.contains("no such city"),
        "{error}"
    );
    assert_eq!(receiver.calls("/reject").len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_5xx_answer_is_retried_until_the_tool_answers() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (agent, tool) = http_tool(&app, &receiver, "/flaky", 2, 5_000).await;
    let (id, done) = call(&app, agent, tool).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 1, "retries are part of one attempt");
    let calls = receiver.calls("/flaky");
    assert_eq!(calls.len(), 3);
    for request in &calls {
        assert!(request.signed);
        assert_eq!(header(&request.headers, "idempotency-key"), id.to_string());
    }
    app.stop().await;
}

#[tokio::test]
async fn a_5xx_answer_fails_the_call_once_the_retries_are_spent() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (agent, tool) = http_tool(&app, &receiver, "/flaky", 1, 5_000).await;
    let (_, done) = call(&app, agent, tool).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"].as_str().unwrap_or_default().contains("503"),
        "{done}"
    );
    assert_eq!(receiver.calls("/flaky").len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_tool_that_never_answers_times_out_after_its_retries() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (agent, tool) = http_tool(&app, &receiver, "/silent", 1, 200).await;
    let (_, done) = call(&app, agent, tool).await;
    assert_eq!(done["status"], "timed_out", "{done}");
    assert_eq!(done["timeout_ms"], 200);
    assert_eq!(receiver.calls("/silent").len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_output_the_output_schema_refuses_fails_the_call() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (agent, tool) = http_tool(&app, &receiver, "/wrong-output", 0, 5_000).await;
    let (id, done) = call(&app, agent, tool).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("output schema") && error.contains("output/temperature_c"),
        "{error}"
    );
    assert_eq!(done["output"], Value::Null);
    assert_eq!(app.invocation_events(id, "InvocationSucceeded").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_tool_fails_after_its_retries() {
    let app = spawn_app().await;
    let agent = app.an_agent("caller").await;
    // Nothing listens on the discard port of the loopback interface.
    let mut body = tool_body("weather", "http://127.0.0.1:9/");
    body["kind"]["retries"] = json!(1);
    let tool = app.a_tool(&body).await;
    let (_, done) = call(&app, agent.id, tool.id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"]
            .as_str()
            .is_some_and(|error| error.starts_with("the request failed")),
        "{done}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_memory_builtins_record_a_memory_that_names_its_cause_and_recall_it() {
    let app = spawn_app().await;
    let agent = app.an_agent("rememberer").await;
    let builtin = |name: &str| {
        json!({
            "name": name,
            "input_schema": {"type": "object"},
            "kind": {"type": "builtin", "name": name}
        })
    };
    let record = app.a_tool(&builtin("memory.record")).await;
    let search = app.a_tool(&builtin("memory.search")).await;
    let run = Uuid::now_v7();
    let mut body = invocation_body(
        agent.id,
        json!({"content": "The customer prefers invoices by post", "tags": ["billing"], "importance": 0.9}),
        "remember-1",
    );
    body["run_id"] = json!(run);
    body["step"] = json!(3);
    body["tool_call_id"] = json!("call_7");
    let invocation = app.an_invocation(record.id, &body).await;
    let done = app.finished_invocation(invocation).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let memory_id = done["output"]["memory_id"]
        .as_str()
        .expect("memory id")
        .to_owned();
    assert_eq!(
        memory_id,
        executor::memory_builtins::memory_id_of(invocation).to_string(),
        "a repeated call finds the memory of the first"
    );

    let history = eventually("the memory's history", async || {
        let reply = app
            .get(&format!("/v1/memories/{memory_id}/history"), &[])
            .await;
        (reply.status == StatusCode::OK).then_some(reply)
    })
    .await;
    let revision = &history.body["revisions"][0];
    assert_eq!(
        revision["content"], "The customer prefers invoices by post",
        "{}",
        history.text
    );
    assert_eq!(revision["source"]["run_id"], json!(run), "{}", history.text);
    assert_eq!(revision["source"]["step"], 3);
    assert_eq!(revision["source"]["tool_call_id"], "call_7");

    let found = eventually("the search to find the memory", async || {
        let body = invocation_body(
            agent.id,
            json!({"query": "invoices"}),
            &format!("recall-{}", Uuid::now_v7()),
        );
        let id = app.an_invocation(search.id, &body).await;
        let done = app.finished_invocation(id).await;
        let hits = done["output"]["memories"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (!hits.is_empty()).then_some(hits)
    })
    .await;
    assert_eq!(found[0]["memory_id"], memory_id.as_str());
    assert_eq!(found[0]["content"], "The customer prefers invoices by post");

    // Arguments the builtin cannot read fail the call, saying why.
    let bad = invocation_body(
        agent.id,
        json!({"text": "no content field"}),
        "remember-bad",
    );
    let bad = app.an_invocation(record.id, &bad).await;
    let done = app.finished_invocation(bad).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"]
            .as_str()
            .is_some_and(|e| e.contains("content")),
        "{done}"
    );
    app.stop().await;
}

/// An executor of `app`'s platform that hands a call to another executor two seconds
/// after it stops beating progress.
fn executor(app: &TestApp) -> Executor {
    let mut config = ExecutorConfig::new(SecretString::from(TOOL_SIGNING_SECRET));
    config.ack_wait = Duration::from_secs(2);
    Executor::new(
        app.env.pool.clone(),
        app.env.jetstream.clone(),
        app.env.namespace.clone(),
        RelayWaker::new(app.env.nats.clone(), &app.env.namespace),
        Arc::new(UnavailableBuiltins),
        config,
    )
    .expect("executor")
}

#[tokio::test]
async fn a_call_cut_off_by_an_executor_crash_is_taken_over_and_succeeds_once() {
    let app = spawn_app_without(Role::ToolExecutor).await;
    let receiver = Receiver::start().await;
    let (agent, tool) = http_tool(&app, &receiver, "/blocking", 0, 60_000).await;
    let crashing = executor(&app);
    let crashed = tokio::spawn(async move { crashing.run(CancellationToken::new()).await });
    let body = invocation_body(agent, json!({"city": "Oslo"}), "crash");
    let id = app.an_invocation(tool, &body).await;
    eventually("the first executor to call the tool", async || {
        (receiver.calls("/blocking").len() == 1).then_some(())
    })
    .await;
    assert_eq!(app.invocation_events(id, "InvocationStarted").await, 1);

    // The crash: the executor dies mid-call, after Started, before any outcome or ack.
    crashed.abort();
    assert!(crashed.await.is_err_and(|err| err.is_cancelled()));
    let restarted = executor(&app);
    let name = restarted.instance().to_owned();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let running = tokio::spawn(async move { restarted.run(token).await });
    eventually("the restarted executor to take the call over", async || {
        (receiver.calls("/blocking").len() == 2).then_some(())
    })
    .await;
    receiver.release();

    let done = app.finished_invocation(id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 2);
    assert_eq!(done["executor"], name);
    stop.cancel();
    running.await.expect("join").expect("executor ran");
    assert_eq!(app.invocation_events(id, "InvocationStarted").await, 2);
    assert_eq!(app.invocation_events(id, "InvocationSucceeded").await, 1);
    let keys: Vec<String> = receiver
        .calls("/blocking")
        .iter()
        .map(|call| header(&call.headers, "idempotency-key"))
        .collect();
    assert_eq!(
        keys,
        [id.to_string(), id.to_string()],
        "the tool can tell it is one call"
    );
    app.stop().await;
}

#[tokio::test]
async fn executors_side_by_side_share_the_calls_and_each_succeeds_once() {
    let app = spawn_app_without(Role::ToolExecutor).await;
    let receiver = Receiver::start().await;
    let (agent, tool) = http_tool(&app, &receiver, "/ok", 0, 5_000).await;
    let stop = CancellationToken::new();
    let mut running = Vec::new();
    for _ in 0..2 {
        let executor = executor(&app);
        let token = stop.clone();
        running.push(tokio::spawn(async move { executor.run(token).await }));
    }
    let mut ids = Vec::new();
    for n in 0..12 {
        let body = invocation_body(agent, json!({"city": "Oslo"}), &format!("call-{n}"));
        ids.push(app.an_invocation(tool, &body).await);
    }
    for id in &ids {
        let done = app.finished_invocation(*id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    stop.cancel();
    for executor in running {
        executor.await.expect("join").expect("executor ran");
    }
    for id in &ids {
        assert_eq!(app.invocation_events(*id, "InvocationSucceeded").await, 1);
    }
    app.stop().await;
}
