//! Engines that die: a run whose engine process is killed between steps finishes once
//! another starts, with no step, invocation or memory twice; a lease whose engine died
//! mid-call is expired by the reaper and the run resumed by another engine; runs past the
//! run timeout are timed out; runs wait queued for an engine, and engines side by side
//! share them.

use std::sync::Arc;
use std::time::Duration;

use engine::Providers;
use engine::provider::{OpenAiCompatible, OpenAiConfig};
use engine::testing::{Answer, ChatServer};
use reqwest::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use cli::Role;

use super::{cautious_agent, engine, remember_tool, step_kinds};
use crate::helpers::{TestApp, eventually, spawn_app_without};
use crate::processes::{free_port, kill, otlp_receiver, spawn_role, terminate, wait_ready};
use crate::tooling::Receiver;

/// How many of `app`'s tool invocations `run` made.
async fn invocations_of(app: &TestApp, run: Uuid) -> usize {
    let reply = app.get(&format!("/v1/invocations?run_id={run}"), &[]).await;
    reply.body["items"].as_array().map_or(0, Vec::len)
}

/// Each of these run events exactly `count` times.
async fn assert_events(app: &TestApp, run: Uuid, expected: &[(&str, i64)]) {
    for (kind, count) in expected {
        assert_eq!(app.run_events(run, kind).await, *count, "{kind}");
    }
}

#[tokio::test]
async fn a_run_whose_engine_is_killed_between_steps_finishes_with_nothing_done_twice() {
    let app = spawn_app_without(Role::Engine).await;
    let (otlp, _) = otlp_receiver().await;
    let client = reqwest::Client::new();
    let receiver = Receiver::start().await;
    let lookup = app.a_receiver_tool("lookup", &receiver, "/blocking").await;
    let remember = app.a_tool(&remember_tool()).await.id;
    let agent = app
        .a_scripted_agent(
            &[lookup, remember],
            json!([
                {"tool_calls": [{"name": "lookup", "arguments": {"q": "plan"}}]},
                {"tool_calls": [{"name": "remember", "arguments": {"content": "The plan is gold"}}]},
                {"text": "You are on the gold plan."}
            ]),
        )
        .await;
    let first = spawn_role(&app.env, "engine", free_port(), &otlp);
    wait_ready(&client, &first).await;
    let run = app.a_run(agent, "Which plan am I on?").await;

    // Killed while the run waits on its tool call.
    eventually("the tool to be called", async || {
        (receiver.calls("/blocking").len() == 1).then_some(())
    })
    .await;
    kill(first);
    receiver.release();
    let second = spawn_role(&app.env, "engine", free_port(), &otlp);
    wait_ready(&client, &second).await;
    // Killed again just after the model asked to remember: wherever it is then (holding
    // the lease, requesting the invocation, recording it), the next engine takes over.
    eventually("the second model call to be answered", async || {
        (app.run_events(run.id, "ModelCallCompleted").await >= 2).then_some(())
    })
    .await;
    kill(second);
    let third = spawn_role(&app.env, "engine", free_port(), &otlp);
    wait_ready(&client, &third).await;

    let done = app.finished_run(run.id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["content"], "You are on the gold plan.");
    assert_eq!(
        step_kinds(&done),
        [
            "model_call",
            "tool_call",
            "model_call",
            "tool_call",
            "memory_write",
            "model_call"
        ]
    );
    assert_events(
        &app,
        run.id,
        &[
            ("ModelCallCompleted", 3),
            ("ToolCallRequested", 2),
            ("ToolInvocationRecorded", 2),
            ("ToolCallCompleted", 2),
            ("MemoryWriteRecorded", 1),
            ("RunCompleted", 1),
        ],
    )
    .await;
    assert_eq!(
        invocations_of(&app, run.id).await,
        2,
        "one invocation per tool call"
    );
    assert_eq!(receiver.calls("/blocking").len(), 1);
    let memories = app.get(&format!("/v1/agents/{agent}/memories"), &[]).await;
    assert_eq!(
        memories.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        memories.text
    );
    // Billed once: each model call's tokens, each invocation, the memory.
    let calls = app.run_event_payloads(run.id, "ModelCallCompleted").await;
    let tokens = |field: &str| -> i64 {
        calls
            .iter()
            .filter_map(|call| call["usage"][field].as_i64())
            .sum()
    };
    let ledger = crate::billing::ledger_of(&app, 2 * 3 + 2 + 1).await;
    assert_eq!(ledger.len(), 2 * 3 + 2 + 1, "{ledger:?}");
    let usage = app.get("/v1/billing/usage", &[]).await;
    let quantities: Vec<(String, i64)> = usage.body["items"]
        .as_array()
        .expect("usage items")
        .iter()
        .map(|item| {
            let meter = item["meter"].as_str().unwrap_or_default().to_owned();
            (meter, item["quantity"].as_i64().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        quantities,
        [
            ("llm_input_tokens".to_owned(), tokens("input_tokens")),
            ("llm_output_tokens".to_owned(), tokens("output_tokens")),
            ("memory_items".to_owned(), 1),
            ("tool_invocations".to_owned(), 2),
        ]
    );
    terminate(third).await;
    app.stop().await;
}

/// Providers whose `openai` is `server`, answering within ten seconds.
fn calling(server: &ChatServer) -> Providers {
    let mut config = OpenAiConfig::new(server.base_url.clone());
    config.retries = 0;
    config.timeout = Duration::from_secs(10);
    let client = OpenAiCompatible::new(config).expect("client");
    Providers::new(Some(Arc::new(client)))
}

/// An agent on the `openai` provider.
async fn openai_agent(app: &TestApp) -> Uuid {
    let body = json!({"name": "remote", "model": {"provider": "openai", "name": "stub-model"}});
    app.create_agent(&body)
        .await
        .accepted(StatusCode::CREATED)
        .id
}

#[tokio::test]
async fn a_lease_whose_engine_died_mid_call_is_expired_and_the_run_resumed_elsewhere() {
    let app = spawn_app_without(Role::Engine).await;
    let server = ChatServer::start(vec![Answer::Hang, Answer::Text("Recovered.".into())]).await;
    let agent = openai_agent(&app).await;
    let dying = engine(&app, calling(&server), |_| {});
    let dying_id = dying.engine_id().to_owned();
    let crashing = tokio::spawn(async move { dying.run(CancellationToken::new()).await });
    let run = app.a_run(agent, "Hello?").await;
    eventually("the model to be called", async || {
        (server.received().len() == 1).then_some(())
    })
    .await;
    crashing.abort();
    assert!(crashing.await.is_err_and(|err| err.is_cancelled()));

    let survivor = engine(&app, calling(&server), |_| {});
    let survivor_id = survivor.engine_id().to_owned();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let running = tokio::spawn(async move { survivor.run(token).await });
    let done = app.finished_run(run.id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["content"], "Recovered.");
    assert_eq!(done["lease_expirations"], 1);
    let expired = app.run_event_payloads(run.id, "RunLeaseExpired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["engine_id"], dying_id.as_str());
    assert_eq!(expired[0]["lease_generation"], 1);
    let acquired = app.run_event_payloads(run.id, "RunLeaseAcquired").await;
    let holders: Vec<(String, u64)> = acquired
        .iter()
        .map(|lease| {
            (
                lease["engine_id"].as_str().unwrap_or_default().to_owned(),
                lease["lease_generation"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(holders, [(dying_id, 1), (survivor_id, 2)]);
    // The step begun before the crash was called again and recorded once.
    assert_events(
        &app,
        run.id,
        &[("ModelCallStarted", 1), ("ModelCallCompleted", 1)],
    )
    .await;
    assert_eq!(server.received().len(), 2);
    stop.cancel();
    running.await.expect("join").expect("engine ran");
    app.stop().await;
}

#[tokio::test]
async fn a_run_past_the_run_timeout_is_timed_out() {
    let app = spawn_app_without(Role::Engine).await;
    let receiver = Receiver::start().await;
    let mail = app.a_receiver_tool("mail", &receiver, "/ok").await;
    let agent = cautious_agent(&app, mail, "mail", "Sent.").await;
    let impatient = engine(&app, Providers::new(None), |config| {
        config.run_timeout = Duration::from_secs(2);
    });
    let stop = CancellationToken::new();
    let token = stop.clone();
    let running = tokio::spawn(async move { impatient.run(token).await });
    let run = app.a_run(agent, "Mail").await;
    let done = app.finished_run(run.id).await;
    assert_eq!(done["status"], "timed_out", "{done}");
    assert_eq!(done["stop_reason"], "error");
    let timed_out = app.run_event_payloads(run.id, "RunTimedOut").await;
    assert_eq!(timed_out[0]["timeout_ms"], 2_000);
    stop.cancel();
    running.await.expect("join").expect("engine ran");
    app.stop().await;
}

#[tokio::test]
async fn engines_side_by_side_share_the_runs_and_each_step_happens_once() {
    let app = spawn_app_without(Role::Engine).await;
    let receiver = Receiver::start().await;
    let lookup = app.a_receiver_tool("lookup", &receiver, "/ok").await;
    let agent = app
        .a_scripted_agent(
            &[lookup],
            json!([{"tool_calls": [{"name": "lookup", "arguments": {}}]}, {"text": "Found it."}]),
        )
        .await;
    // Runs wait, queued, until an engine is there.
    let mut runs = Vec::new();
    for n in 0..6 {
        let run = app.a_run(agent, &format!("Find {n}")).await;
        let read = app
            .get(
                &format!("/v1/runs/{}", run.id),
                &[("x-consistency-token", &run.token)],
            )
            .await;
        assert_eq!(read.body["status"], "queued", "{}", read.text);
        runs.push(run.id);
    }
    let stop = CancellationToken::new();
    let mut running = Vec::new();
    for _ in 0..2 {
        let engine = engine(&app, Providers::new(None), |_| {});
        let token = stop.clone();
        running.push(tokio::spawn(async move { engine.run(token).await }));
    }
    for run in &runs {
        let done = app.finished_run(*run).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(step_kinds(&done), ["model_call", "tool_call", "model_call"]);
        assert_events(
            &app,
            *run,
            &[("ModelCallCompleted", 2), ("ToolInvocationRecorded", 1)],
        )
        .await;
        assert_eq!(invocations_of(&app, *run).await, 1);
    }
    assert_eq!(receiver.calls("/ok").len(), runs.len());
    stop.cancel();
    for engine in running {
        engine.await.expect("join").expect("engine ran");
    }
    app.stop().await;
}
