//! The quota gate of commands that consume a meter (`command_api::billing::
//! require_allowance`): called directly, and through the handlers that consume a meter
//! (recording a memory, requesting a tool invocation, starting a run) and the engine's own
//! check before each model call.

use chrono::Utc;
use command_api::billing::require_allowance;
use domain::billing::Meter;
use eventstore::RelayWaker;
use eventstore::testing::memory_recorded;
use eventstore::web::Problem;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::billing::{delete, ledger_of, set_quota};
use crate::helpers::{TestApp, eventually, spawn_app};

/// The command API's state as the platform builds it, over the test's store and Redis.
async fn gate_state(app: &TestApp) -> command_api::AppState {
    command_api::AppState::new(app.env.pool.clone(), RelayWaker::default())
        .with_allowances(app.env.redis().await, app.env.redis_prefix.clone())
}

/// Waits until the gate answers `refused` for `meter`, and returns that answer.
async fn until_gate(
    state: &command_api::AppState,
    tenant_id: Uuid,
    meter: Meter,
    refused: bool,
) -> Result<(), Problem> {
    eventually("the gate to see the change", async || {
        let answer = require_allowance(state, tenant_id, meter).await;
        (answer.is_err() == refused).then_some(answer)
    })
    .await
}

#[tokio::test]
async fn a_tenant_over_its_quota_is_refused_with_402_until_the_quota_is_raised() {
    let app = spawn_app().await;
    let state = gate_state(&app).await;
    let tenant = app.tenant_id;
    assert!(
        require_allowance(&state, tenant, Meter::MemoryItems)
            .await
            .is_ok()
    );

    let quota = "/v1/billing/quotas/memory_items";
    set_quota(&app, "memory_items", 2, "day").await;
    for _ in 0..2 {
        memory_recorded(&app.env.pool, tenant, None, Utc::now()).await;
    }
    let problem = until_gate(&state, tenant, Meter::MemoryItems, true)
        .await
        .unwrap_err();
    assert_eq!(problem.status, 402);
    assert_eq!(
        problem.problem_type,
        "https://agentos.dev/problems/quota-exceeded"
    );
    for part in ["memory_items", "of 2 per day", "2 used"] {
        assert!(problem.detail.contains(part), "{part}: {}", problem.detail);
    }
    assert_eq!(problem.errors[0].field, "meter");
    let response = axum::response::IntoResponse::into_response(problem);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("retry-after"));

    // Other meters, and other tenants, go on.
    assert!(
        require_allowance(&state, tenant, Meter::ToolInvocations)
            .await
            .is_ok()
    );
    assert!(
        require_allowance(&state, Uuid::now_v7(), Meter::MemoryItems)
            .await
            .is_ok()
    );
    // Usage past the quota is still recorded, and crossing it is recorded once.
    memory_recorded(&app.env.pool, tenant, None, Utc::now()).await;
    ledger_of(&app, 3).await;
    let exceeded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'QuotaExceeded'")
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    assert_eq!(exceeded, 1);
    let account = app.get("/v1/billing/account", &[]).await;
    assert_eq!(account.body["quotas"][0]["used"], 3);

    set_quota(&app, "memory_items", 5, "month").await;
    until_gate(&state, tenant, Meter::MemoryItems, false)
        .await
        .unwrap();
    set_quota(&app, "memory_items", 0, "month").await;
    until_gate(&state, tenant, Meter::MemoryItems, true)
        .await
        .unwrap_err();
    delete(&app, quota, &[]).await.accepted(StatusCode::OK);
    until_gate(&state, tenant, Meter::MemoryItems, false)
        .await
        .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn without_its_cache_the_gate_lets_commands_through() {
    let app = spawn_app().await;
    set_quota(&app, "tool_invocations", 0, "day").await;
    let with_cache = gate_state(&app).await;
    until_gate(&with_cache, app.tenant_id, Meter::ToolInvocations, true)
        .await
        .unwrap_err();
    let without = command_api::AppState::new(app.env.pool.clone(), RelayWaker::default());
    assert!(
        require_allowance(&without, app.tenant_id, Meter::ToolInvocations)
            .await
            .is_ok()
    );
    app.stop().await;
}

#[tokio::test]
async fn recording_memories_and_calling_tools_over_quota_are_402s() {
    let app = spawn_app().await;
    let agent = app.an_agent("thrifty").await;
    let tool = app
        .a_tool(&crate::tooling::tool_body("weather", "http://127.0.0.1:9/"))
        .await;
    let memory = serde_json::json!({"kind": "semantic", "content": "one fact"});
    let record = format!("/v1/agents/{}/memories", agent.id);

    // One memory a day: the first is recorded, and once the reactor has counted it the
    // next one is refused; tool calls have no quota yet and go through.
    set_quota(&app, "memory_items", 1, "day").await;
    app.post(&record, &memory, &[])
        .await
        .accepted(StatusCode::CREATED);
    let refused = eventually("the memory quota to be used up", async || {
        let reply = app.post(&record, &memory, &[]).await;
        (reply.status == StatusCode::PAYMENT_REQUIRED).then_some(reply)
    })
    .await;
    refused.assert_problem(StatusCode::PAYMENT_REQUIRED, "quota-exceeded");
    assert_eq!(refused.error_fields(), ["meter"]);
    let call = crate::tooling::invocation_body(agent.id, serde_json::json!({"city": "Oslo"}), "k1");
    app.invoke(tool.id, &call)
        .await
        .accepted(StatusCode::ACCEPTED);

    // No tool calls at all this month: the next request is refused before it is recorded.
    set_quota(&app, "tool_invocations", 0, "month").await;
    let call = crate::tooling::invocation_body(agent.id, serde_json::json!({"city": "Oslo"}), "k2");
    let refused = eventually("the tool quota to apply", async || {
        let reply = app.invoke(tool.id, &call).await;
        (reply.status == StatusCode::PAYMENT_REQUIRED).then_some(reply)
    })
    .await;
    refused.assert_problem(StatusCode::PAYMENT_REQUIRED, "quota-exceeded");
    app.stop().await;
}

#[tokio::test]
async fn a_run_over_its_token_quota_stops_before_its_next_model_call_and_no_new_run_starts() {
    let app = spawn_app().await;
    let state = gate_state(&app).await;
    let receiver = crate::tooling::Receiver::start().await;
    let mail = app.a_receiver_tool("mail", &receiver, "/ok").await;
    let agent = crate::runs::cautious_agent(&app, mail, "mail", "Handled.").await;
    set_quota(&app, "llm_output_tokens", 1, "day").await;

    // Under the quota the run starts; its first model call spends past it, and it waits
    // for approval of that call's tool call while the reactor counts the tokens.
    let run = app.a_run(agent, "Mail Kari").await;
    app.run_when(run.id, "the run to await approval", |run| {
        run["status"] == "requires_action" && run["lease"].is_null()
    })
    .await;
    let problem = until_gate(&state, app.tenant_id, Meter::LlmOutputTokens, true)
        .await
        .unwrap_err();
    assert_eq!(problem.status, 402);
    app.start_run(agent, &serde_json::json!({"input": "Mail Ola"}))
        .await
        .assert_problem(StatusCode::PAYMENT_REQUIRED, "quota-exceeded");

    // Approved, the tool call is carried out; the model is not called again.
    let approval = serde_json::json!({"tool_call_id": "call_0_0", "approved": true});
    app.run_command(run.id, "approve", &approval)
        .await
        .accepted(StatusCode::OK);
    let done = app.finished_run(run.id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["stop_reason"], "quota_exceeded", "{done}");
    assert_eq!(receiver.calls("/ok").len(), 1);
    assert_eq!(app.run_events(run.id, "ModelCallCompleted").await, 1);
    app.stop().await;
}
