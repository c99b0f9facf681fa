//! Runs that stop before they are done: cancelled while a tool call runs, at their step
//! limit, before a model call that could go past the budget, and when their agent is paused
//! (at the start, and in the middle of a run).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::step_kinds;
use crate::helpers::{TestApp, spawn_app};
use crate::tooling::Receiver;

/// An agent whose model calls the `lookup` tool at `path` of `receiver` once, then answers.
async fn agent_calling(app: &TestApp, receiver: &Receiver, path: &str) -> (Uuid, Uuid) {
    let tool = app.a_receiver_tool("lookup", receiver, path).await;
    let agent = app
        .a_scripted_agent(
            &[tool],
            json!([
                {"tool_calls": [{"name": "lookup", "arguments": {"q": "status"}}]},
                {"text": "All good."}
            ]),
        )
        .await;
    (agent, tool)
}

/// Run `id` once its tool call is being carried out by the receiver.
async fn waiting_on_the_tool(app: &TestApp, receiver: &Receiver, id: Uuid) -> Value {
    crate::helpers::eventually("the tool to be called", async || {
        (!receiver.calls("/blocking").is_empty()).then_some(())
    })
    .await;
    // A run that waits holds no lease: the event that ends the wait may reach any engine.
    app.run_when(id, "the run to wait on its tool call", |run| {
        run["steps"][1]["details"]["tool_call"]["invocation_id"].is_string()
            && run["lease"].is_null()
    })
    .await
}

#[tokio::test]
async fn a_run_cancelled_while_its_tool_call_runs_stops_and_goes_no_further() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (agent, _) = agent_calling(&app, &receiver, "/blocking").await;
    let run = app.a_run(agent, "Check the status").await;
    let waiting = waiting_on_the_tool(&app, &receiver, run.id).await;
    assert_eq!(waiting["status"], "running", "{waiting}");
    assert_eq!(
        waiting["lease"],
        Value::Null,
        "a waiting run holds no lease"
    );

    let key = app.key_with_scopes(&["runs:write"]).await;
    let cancelled = app
        .post(
            &format!("/v1/runs/{}/cancel", run.id),
            &json!({"reason": "taking too long"}),
            &[("authorization", &key.authorization)],
        )
        .await;
    cancelled.accepted(StatusCode::OK);
    receiver.release();
    let stopped = app.finished_run(run.id).await;
    assert_eq!(stopped["status"], "cancelled", "{stopped}");
    assert_eq!(stopped["stop_reason"], "cancelled");
    assert_eq!(stopped["cancelled_by"], format!("api_key:{}", key.id));
    // The tool answers after all, but the run takes no further step.
    let invocation = stopped["steps"][1]["details"]["tool_call"]["invocation_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("invocation id");
    app.finished_invocation(invocation).await;
    assert_eq!(app.run_events(run.id, "ToolCallCompleted").await, 0);
    assert_eq!(app.run_events(run.id, "ModelCallStarted").await, 1);
    app.run_command(run.id, "cancel", &json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");
    app.stop().await;
}

#[tokio::test]
async fn a_run_stops_at_its_step_limit_without_carrying_out_calls_past_it() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let tool = app.a_receiver_tool("lookup", &receiver, "/ok").await;
    let again = json!({"tool_calls": [{"name": "lookup", "arguments": {}}]});
    let agent = app
        .a_scripted_agent(&[tool], json!([again, again, again, again]))
        .await;
    let run = app
        .start_run(agent, &json!({"input": "Loop", "max_steps": 3}))
        .await
        .accepted(StatusCode::CREATED);
    let stopped = app.finished_run(run.id).await;
    assert_eq!(stopped["status"], "completed", "{stopped}");
    assert_eq!(stopped["stop_reason"], "max_steps");
    assert_eq!(
        step_kinds(&stopped),
        ["model_call", "tool_call", "model_call"]
    );
    assert_eq!(
        receiver.calls("/ok").len(),
        1,
        "the call past the limit is not made"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_run_stops_before_a_model_call_that_could_go_past_its_budget() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let tool = app.a_receiver_tool("note", &receiver, "/ok").await;
    // A long answer makes the first call cost about half the budget; the second call's
    // estimate (every output token it may generate) would then go past it.
    let long = "x".repeat(4_000);
    let mut body = super::scripted_agent_body(
        "spender",
        &[tool],
        json!([
            {"tool_calls": [{"name": "note", "arguments": {"text": long}}]},
            {"text": "Done."}
        ]),
    );
    body["model"]["max_output_tokens"] = json!(2_000);
    let agent = app
        .create_agent(&body)
        .await
        .accepted(StatusCode::CREATED)
        .id;
    let budget = 45_000;
    let run = app
        .start_run(agent, &json!({"input": "Spend", "budget_micros": budget}))
        .await
        .accepted(StatusCode::CREATED);
    let stopped = app.finished_run(run.id).await;
    assert_eq!(stopped["status"], "completed", "{stopped}");
    assert_eq!(stopped["stop_reason"], "budget_exhausted");
    assert_eq!(step_kinds(&stopped), ["model_call", "tool_call"]);
    let spent = stopped["spent_micros"].as_i64().expect("spent");
    let first = &stopped["steps"][0]["details"]["model_call"];
    assert_eq!(first["cost_micros"].as_i64(), Some(spent));
    assert!(
        first["estimated_cost_micros"].as_i64() <= Some(budget),
        "{first}"
    );
    assert!(spent < budget, "{stopped}");
    app.stop().await;
}

#[tokio::test]
async fn a_paused_agent_cannot_start_a_run_and_one_paused_mid_run_cancels_it() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (agent, _) = agent_calling(&app, &receiver, "/blocking").await;
    let run = app.a_run(agent, "Check the status").await;
    waiting_on_the_tool(&app, &receiver, run.id).await;

    app.command_ok(agent, "pause", &json!({"reason": "maintenance"}))
        .await;
    app.start_run(agent, &json!({"input": "Another"}))
        .await
        .assert_problem(StatusCode::CONFLICT, "agent-unavailable");
    receiver.release();
    let stopped = app.finished_run(run.id).await;
    assert_eq!(stopped["status"], "cancelled", "{stopped}");
    assert_eq!(stopped["stop_reason"], "cancelled");
    assert_eq!(stopped["cancelled_by"], "system:agent-paused");
    // The tool call's result was recorded; the model was not called again.
    assert_eq!(step_kinds(&stopped), ["model_call", "tool_call"]);
    assert_eq!(stopped["steps"][1]["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn a_run_fails_when_its_model_keeps_failing_or_its_provider_is_missing() {
    let app = spawn_app().await;
    // The script has no reply for the second model call, so every try fails.
    let receiver = Receiver::start().await;
    let tool = app.a_receiver_tool("lookup", &receiver, "/ok").await;
    let agent = app
        .a_scripted_agent(
            &[tool],
            json!([{"tool_calls": [{"name": "lookup", "arguments": {}}]}]),
        )
        .await;
    let run = app.a_run(agent, "Look it up").await;
    let failed = app.finished_run(run.id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["stop_reason"], "error");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("3 times in a row") && e.contains("none for turn 1")),
        "{failed}"
    );
    let statuses: Vec<&str> = failed["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| step["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        statuses,
        ["succeeded", "succeeded", "failed", "failed", "failed"]
    );

    let elsewhere = app.an_agent("elsewhere").await;
    let run = app.a_run(elsewhere.id, "Hello").await;
    let failed = app.finished_run(run.id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("`anthropic` is not available")),
        "{failed}"
    );
    app.stop().await;
}
