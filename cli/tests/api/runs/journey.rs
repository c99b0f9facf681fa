//! A scripted agent that calls an `http` tool, records a memory through the builtin and
//! answers, end to end through both APIs and every role.

use domain::run::side_effect_key;
use domain::tool_invocation::invocation_id;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{remember_tool, step_kinds};
use crate::helpers::{eventually, spawn_app};
use crate::schemas::check_published;
use crate::tooling::{Receiver, header, tool_body};

/// Weather in Oslo, then remember it, then answer.
fn weather_script() -> Value {
    json!([
        {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]},
        {"text": "Noting it.", "tool_calls": [{"name": "remember", "arguments": {"content": "Oslo was 21.5 °C", "tags": ["weather"]}}]},
        {"text": "It is 21.5 °C in Oslo; I noted it."}
    ])
}

#[tokio::test]
async fn a_scripted_agent_calls_a_tool_records_a_memory_and_answers() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let weather = app
        .a_tool(&tool_body("weather", &format!("{}/ok", receiver.url)))
        .await
        .id;
    let remember = app.a_tool(&remember_tool()).await.id;
    let agent = app
        .a_scripted_agent(&[weather, remember], weather_script())
        .await;

    let started = app
        .start_run(
            agent,
            &json!({"input": "What is the weather in Oslo?", "max_steps": 8}),
        )
        .await;
    let accepted = started.accepted(StatusCode::CREATED);
    assert_eq!(
        started.header("location"),
        Some(format!("/v1/runs/{}", accepted.id).as_str())
    );
    // Read-your-writes: the run is there, queued or further.
    let first = app
        .get(
            &format!("/v1/runs/{}", accepted.id),
            &[("x-consistency-token", &accepted.token)],
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["agent_id"], json!(agent));
    assert_eq!(
        first.body["input"][0]["content"],
        "What is the weather in Oslo?"
    );

    let run = app.finished_run(accepted.id).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["stop_reason"], "end_turn");
    assert_eq!(
        run["output"]["content"],
        "It is 21.5 °C in Oslo; I noted it."
    );
    assert_eq!(
        step_kinds(&run),
        [
            "model_call",
            "tool_call",
            "model_call",
            "tool_call",
            "memory_write",
            "model_call"
        ]
    );
    let steps = run["steps"].as_array().expect("steps");
    for (number, step) in (1..).zip(steps) {
        assert_eq!(step["number"], number, "{step}");
        assert_eq!(step["status"], "succeeded", "{step}");
    }
    assert_eq!(
        steps[1]["details"]["tool_call"]["output"],
        json!({"temperature_c": 21.5})
    );
    assert!(run["usage"]["input_tokens"].as_u64() > Some(0), "{run}");
    assert!(run["spent_micros"].as_i64() > Some(0), "{run}");
    assert_eq!(run["lease"], Value::Null, "a stopped run holds no lease");

    // One invocation per tool call, named by the side-effect key of its step and call.
    let tenant = app.tenant_id;
    let expected: Vec<Uuid> = [(2, "call_0_0"), (4, "call_1_0")]
        .iter()
        .map(|(step, call)| invocation_id(tenant, &side_effect_key(accepted.id, *step, Some(call))))
        .collect();
    let invocations = app
        .get(&format!("/v1/invocations?run_id={}", accepted.id), &[])
        .await;
    let ids: Vec<Uuid> = invocations.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("id")
        })
        .collect();
    assert_eq!(ids, expected, "{}", invocations.text);
    let calls = receiver.calls("/ok");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        header(&calls[0].headers, "idempotency-key"),
        expected[0].to_string()
    );

    // The memory names its cause: this run, the step and the tool call that wrote it.
    let memory_id = steps[4]["details"]["memory_write"]["memory_id"]
        .as_str()
        .expect("memory id")
        .to_owned();
    assert_eq!(
        steps[4]["details"]["memory_write"]["tool_call_id"],
        "call_1_0"
    );
    let memory = eventually("the memory to be readable", async || {
        let reply = app.get(&format!("/v1/memories/{memory_id}"), &[]).await;
        (reply.status == StatusCode::OK).then_some(reply.body)
    })
    .await;
    assert_eq!(memory["content"], "Oslo was 21.5 °C");
    assert_eq!(memory["source"]["run_id"], json!(accepted.id));
    assert_eq!(memory["source"]["step"], 4);
    assert_eq!(memory["source"]["tool_call_id"], "call_1_0");

    // The agent's runs list it; every published run event matches its schema.
    let listed = app.get(&format!("/v1/agents/{agent}/runs"), &[]).await;
    assert_eq!(
        listed.body["items"][0]["id"],
        json!(accepted.id),
        "{}",
        listed.text
    );
    assert_eq!(listed.body["items"][0]["status"], "completed");
    assert!(
        listed.body["items"][0].get("steps").is_none(),
        "lists leave steps out"
    );
    let count = usize::try_from(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE aggregate_type = 'run'")
            .fetch_one(&app.env.pool)
            .await
            .expect("count"),
    )
    .expect("count");
    let published = app.published_events("run", count).await;
    let seen = check_published(&published, "run");
    for kind in [
        "RunStarted",
        "RunLeaseAcquired",
        "RunLeaseReleased",
        "ModelCallCompleted",
        "ToolCallRequested",
        "ToolInvocationRecorded",
        "ToolCallCompleted",
        "MemoryWriteRecorded",
        "RunCompleted",
    ] {
        assert!(seen.contains(kind), "{kind} not published: {seen:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn starting_with_the_same_idempotency_key_answers_with_the_same_run() {
    let app = spawn_app().await;
    let agent = app.a_scripted_agent(&[], json!([{"text": "Hello."}])).await;
    let body = json!({"input": "Hi"});
    let headers = [("idempotency-key", "start-1")];
    let first = app
        .post(&format!("/v1/agents/{agent}/runs"), &body, &headers)
        .await
        .accepted(StatusCode::CREATED);
    let again = app
        .post(&format!("/v1/agents/{agent}/runs"), &body, &headers)
        .await;
    let replayed = again.accepted(StatusCode::CREATED);
    assert_eq!(replayed.id, first.id);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let run = app.finished_run(first.id).await;
    assert_eq!(run["idempotency_key"], "start-1");
    assert_eq!(run["output"]["content"], "Hello.");
    let other = app
        .post(
            &format!("/v1/agents/{agent}/runs"),
            &json!({"input": "Other"}),
            &headers,
        )
        .await;
    other.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    let listed = app.get(&format!("/v1/agents/{agent}/runs"), &[]).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}
