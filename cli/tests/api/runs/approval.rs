//! Tool calls the agent's policy holds for a person's approval: approved ones are carried
//! out, rejected ones are not (the model is told), and who decided what is recorded.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{cautious_agent, step_kinds};
use crate::helpers::{ScopedKey, TestApp, spawn_app};
use crate::tooling::Receiver;

/// An agent whose `mail` calls need approval: it mails once, then answers.
async fn mailing_agent(app: &TestApp, receiver: &Receiver) -> Uuid {
    let mail = app.a_receiver_tool("mail", receiver, "/ok").await;
    cautious_agent(app, mail, "mail", "Handled.").await
}

/// Run `id` once it waits for a decision on its mail call.
async fn awaiting_approval(app: &TestApp, id: Uuid) -> Value {
    app.run_when(id, "the run to await approval", |run| {
        run["status"] == "requires_action" && run["lease"].is_null()
    })
    .await
}

async fn decide(app: &TestApp, key: &ScopedKey, id: Uuid, body: Value) -> crate::helpers::Reply {
    app.post(
        &format!("/v1/runs/{id}/approve"),
        &body,
        &[("authorization", &key.authorization)],
    )
    .await
}

#[tokio::test]
async fn an_approved_call_is_carried_out_and_the_approver_recorded() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let agent = mailing_agent(&app, &receiver).await;
    let run = app.a_run(agent, "Mail Kari").await;
    let waiting = awaiting_approval(&app, run.id).await;
    assert_eq!(
        waiting["pending_approvals"],
        json!([{"step": 2, "tool_call_id": "call_0_0", "tool_id": waiting["steps"][1]["details"]["tool_call"]["tool_id"],
                "tool_name": "mail", "arguments": {"to": "kari@example.com"}}])
    );
    assert!(
        receiver.calls("/ok").is_empty(),
        "nothing is mailed before approval"
    );

    let approver = app.key_with_scopes(&["runs:write"]).await;
    let body = json!({"tool_call_id": "call_0_0", "approved": true, "reason": "fine", "approver": "someone else"});
    decide(&app, &approver, run.id, body)
        .await
        .assert_invalid("approver");
    let body = json!({"tool_call_id": "call_0_0", "approved": true, "reason": "fine"});
    decide(&app, &approver, run.id, body.clone())
        .await
        .accepted(StatusCode::OK);
    decide(&app, &approver, run.id, body)
        .await
        .assert_problem(StatusCode::CONFLICT, "already-decided");

    let done = app.finished_run(run.id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(step_kinds(&done), ["model_call", "tool_call", "model_call"]);
    let approval = &done["steps"][1]["details"]["tool_call"]["approval"];
    assert_eq!(approval["approved"], true, "{done}");
    assert_eq!(approval["approver"], format!("api_key:{}", approver.id));
    assert_eq!(approval["reason"], "fine");
    assert_eq!(receiver.calls("/ok").len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_rejected_call_is_not_carried_out_and_the_model_is_told_why() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let agent = mailing_agent(&app, &receiver).await;
    let run = app.a_run(agent, "Mail Kari").await;
    awaiting_approval(&app, run.id).await;

    let approver = app.key_with_scopes(&["runs:write"]).await;
    decide(
        &app,
        &approver,
        run.id,
        json!({"tool_call_id": "call_9", "approved": false}),
    )
    .await
    .assert_invalid("tool_call_id");
    let body =
        json!({"tool_call_id": "call_0_0", "approved": false, "reason": "Do not mail customers."});
    decide(&app, &approver, run.id, body)
        .await
        .accepted(StatusCode::OK);

    let done = app.finished_run(run.id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let call = &done["steps"][1];
    assert_eq!(call["status"], "failed", "{done}");
    assert_eq!(call["details"]["tool_call"]["approval"]["approved"], false);
    assert_eq!(
        call["details"]["tool_call"]["approval"]["approver"],
        format!("api_key:{}", approver.id)
    );
    assert!(
        receiver.calls("/ok").is_empty(),
        "a rejected call is never made"
    );
    assert_eq!(app.run_events(run.id, "ToolCallRejected").await, 1);
    assert_eq!(app.run_events(run.id, "ToolInvocationRecorded").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn deciding_needs_runs_write_a_waiting_call_and_the_tenants_run() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let agent = mailing_agent(&app, &receiver).await;
    let run = app.a_run(agent, "Mail Kari").await;
    awaiting_approval(&app, run.id).await;
    let body = json!({"tool_call_id": "call_0_0", "approved": true});

    let reader = app.key_with_scopes(&["runs:read"]).await;
    let refused = decide(&app, &reader, run.id, body.clone()).await;
    refused.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    assert!(refused.detail().contains("runs:write"), "{}", refused.text);
    let stranger = app.another_tenant("globex").await;
    let foreign = app
        .post(
            &format!("/v1/runs/{}/approve", run.id),
            &body,
            &[("authorization", &format!("Bearer {}", stranger.api_key))],
        )
        .await;
    foreign.assert_problem(StatusCode::NOT_FOUND, "not-found");
    let missing = app
        .run_command(run.id, "approve", &json!({"tool_call_id": "call_0_0"}))
        .await;
    missing.assert_invalid("body");
    assert!(missing.detail().contains("`approved`"), "{}", missing.text);
    app.run_command(
        run.id,
        "approve",
        &json!({"tool_call_id": 7, "approved": true}),
    )
    .await
    .assert_invalid("tool_call_id");
    app.run_command(run.id, "approve", &body)
        .await
        .accepted(StatusCode::OK);
    app.stop().await;
}
