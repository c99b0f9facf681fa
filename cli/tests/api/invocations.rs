//! Requesting tool calls over HTTP: arguments checked against the version's schema, one
//! invocation per idempotency key, the exact version recorded, reads and filters, scopes
//! and tenant isolation.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{bearer, spawn_app};
use crate::tooling::{Receiver, invocation_body, tool_body};

#[tokio::test]
async fn arguments_that_break_the_schema_are_refused_listing_each_error() {
    let app = spawn_app().await;
    let agent = app.an_agent("caller").await;
    let tool = app
        .a_tool(&tool_body("weather", "http://127.0.0.1:9/"))
        .await;
    let arguments = json!({"city": "", "days": 30, "units": "kelvin"});
    let reply = app
        .invoke(tool.id, &invocation_body(agent.id, arguments, "k-1"))
        .await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["arguments", "arguments/city", "arguments/days"],
        "{}",
        reply.text
    );
    for error in reply.body["errors"].as_array().expect("errors") {
        assert!(!error["message"].as_str().unwrap_or_default().is_empty());
    }
    let missing = app
        .invoke(tool.id, &invocation_body(agent.id, json!({}), "k-2"))
        .await;
    missing.assert_invalid("arguments");
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'tool_invocation'")
            .fetch_one(&app.env.pool)
            .await
            .expect("count");
    assert_eq!(count, 0, "nothing was requested");
    app.stop().await;
}

#[tokio::test]
async fn a_request_is_accepted_and_records_the_version_in_force() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let agent = app.an_agent("caller").await;
    let tool = app
        .a_tool(&tool_body("weather", &format!("{}/ok", receiver.url)))
        .await;
    let mut body = invocation_body(agent.id, json!({"city": "Oslo"}), "run-1/step-1/call-1");
    body["run_id"] = json!(Uuid::now_v7());
    body["step"] = json!(1);
    body["tool_call_id"] = json!("call-1");
    let reply = app.invoke(tool.id, &body).await;
    let invocation = reply.accepted(StatusCode::ACCEPTED);
    assert_eq!(invocation.version, 1);

    let read = app
        .get(
            &format!("/v1/invocations/{}", invocation.id),
            &[("x-consistency-token", &invocation.token)],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["tool_id"], tool.id.to_string());
    assert_eq!(read.body["tool_name"], "weather");
    assert_eq!(read.body["tool_version"], 1);
    assert_eq!(read.body["agent_id"], agent.id.to_string());
    assert_eq!(read.body["run_id"], body["run_id"]);
    assert_eq!(read.body["step"], 1);
    assert_eq!(read.body["tool_call_id"], "call-1");
    assert_eq!(read.body["arguments"], json!({"city": "Oslo"}));
    assert_eq!(read.body["idempotency_key"], "run-1/step-1/call-1");

    // A later version does not change what this call used; a call may name an old version.
    app.post(
        &format!("/v1/tools/{}/versions", tool.id),
        &json!({"input_schema": {"type": "object", "required": ["lat"]}}),
        &[],
    )
    .await
    .accepted(StatusCode::OK);
    let mut old = invocation_body(agent.id, json!({"city": "Bergen"}), "pinned");
    old["version"] = json!(1);
    let pinned = app.an_invocation(tool.id, &old).await;
    let latest = invocation_body(agent.id, json!({"lat": 60.4}), "latest");
    let latest = app.an_invocation(tool.id, &latest).await;
    for (id, version) in [(invocation.id, 1), (pinned, 1), (latest, 2)] {
        let done = app.finished_invocation(id).await;
        assert_eq!(done["tool_version"], version, "{done}");
    }
    old["version"] = json!(3);
    old["idempotency_key"] = json!("no-such-version");
    app.invoke(tool.id, &old).await.assert_invalid("version");
    app.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_answers_with_the_same_invocation() {
    let app = spawn_app().await;
    let agent = app.an_agent("caller").await;
    let tool = app
        .a_tool(&tool_body("weather", "http://127.0.0.1:9/"))
        .await;
    let body = invocation_body(agent.id, json!({"city": "Oslo", "days": 2}), "once");
    let first = app
        .invoke(tool.id, &body)
        .await
        .accepted(StatusCode::ACCEPTED);
    let again = app.invoke(tool.id, &body).await;
    let again = again.accepted(StatusCode::OK);
    assert_eq!(again.id, first.id);
    assert!(again.version >= first.version);
    assert_eq!(
        app.invocation_events(first.id, "InvocationRequested").await,
        1
    );
    // Keys belong to their tenant: another tenant's same key is another invocation.
    let other = app.another_tenant("globex").await;
    let theirs = app
        .post(
            "/v1/agents",
            &crate::helpers::agent_body("theirs"),
            &[("authorization", &bearer(&other.api_key))],
        )
        .await
        .accepted(StatusCode::CREATED);
    let their_tool = app
        .post(
            "/v1/tools",
            &tool_body("weather", "http://127.0.0.1:9/"),
            &[("authorization", &bearer(&other.api_key))],
        )
        .await
        .accepted(StatusCode::CREATED);
    let their_call = app
        .post(
            &format!("/v1/tools/{}/invocations", their_tool.id),
            &invocation_body(theirs.id, json!({"city": "Oslo", "days": 2}), "once"),
            &[("authorization", &bearer(&other.api_key))],
        )
        .await
        .accepted(StatusCode::ACCEPTED);
    assert_ne!(their_call.id, first.id);

    let mut different = body.clone();
    different["arguments"] = json!({"city": "Bergen"});
    app.invoke(tool.id, &different)
        .await
        .assert_invalid("idempotency_key");
    app.stop().await;
}

#[tokio::test]
async fn the_caller_must_be_an_active_agent_of_the_tenant_and_the_tool_callable() {
    let app = spawn_app().await;
    let tool = app
        .a_tool(&tool_body("weather", "http://127.0.0.1:9/"))
        .await;
    let arguments = json!({"city": "Oslo"});
    let nobody = app
        .invoke(
            tool.id,
            &invocation_body(Uuid::now_v7(), arguments.clone(), "a"),
        )
        .await;
    nobody.assert_invalid("agent_id");

    let other = app.another_tenant("globex").await;
    let foreign = app
        .post(
            "/v1/agents",
            &crate::helpers::agent_body("foreign"),
            &[("authorization", &bearer(&other.api_key))],
        )
        .await
        .accepted(StatusCode::CREATED);
    app.invoke(
        tool.id,
        &invocation_body(foreign.id, arguments.clone(), "b"),
    )
    .await
    .assert_invalid("agent_id");

    let paused = app.an_agent("paused").await;
    app.command_ok(paused.id, "pause", &json!({})).await;
    app.invoke(tool.id, &invocation_body(paused.id, arguments.clone(), "c"))
        .await
        .assert_problem(StatusCode::CONFLICT, "agent-unavailable");

    let agent = app.an_agent("caller").await;
    app.post(&format!("/v1/tools/{}/disable", tool.id), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    app.invoke(tool.id, &invocation_body(agent.id, arguments.clone(), "d"))
        .await
        .assert_problem(StatusCode::CONFLICT, "tool-unavailable");
    app.invoke(Uuid::now_v7(), &invocation_body(agent.id, arguments, "e"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

#[tokio::test]
async fn bad_invocation_input_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let agent = app.an_agent("caller").await;
    let tool = app
        .a_tool(&tool_body("weather", "http://127.0.0.1:9/"))
        .await;
    let with = |field: &str, value: Value| {
        let mut body = invocation_body(agent.id, json!({"city": "Oslo"}), "key");
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("agent_id", json!("not-a-uuid")), "agent_id"),
        (with("idempotency_key", json!("")), "idempotency_key"),
        (with("idempotency_key", json!("é")), "idempotency_key"),
        (
            with("idempotency_key", json!("k".repeat(256))),
            "idempotency_key",
        ),
        (with("tool_call_id", json!("a\nb")), "tool_call_id"),
        (with("step", json!(-1)), "step"),
        (with("version", json!("latest")), "version"),
        (with("colour", json!("red")), "colour"),
    ] {
        let reply = app.invoke(tool.id, &body).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(
            reply.error_fields().first().map(String::as_str),
            Some(field),
            "{body}: {}",
            reply.text
        );
    }
    let no_arguments = json!({"agent_id": agent.id, "idempotency_key": "k"});
    app.invoke(tool.id, &no_arguments)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.invoke(
        tool.id,
        &json!({"arguments": {"city": "\u{0}"}, "agent_id": agent.id, "idempotency_key": "nul"}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.stop().await;
}

#[tokio::test]
async fn invocations_need_their_scopes_and_stay_within_the_tenant() {
    let app = spawn_app().await;
    let agent = app.an_agent("caller").await;
    let tool = app
        .a_tool(&tool_body("weather", "http://127.0.0.1:9/"))
        .await;
    let body = invocation_body(agent.id, json!({"city": "Oslo"}), "scoped");
    let path = format!("/v1/tools/{}/invocations", tool.id);
    let writer = app
        .key_with_scopes(&["tools:write", "tools:read"])
        .await
        .authorization;
    let reply = app.post(&path, &body, &[("authorization", &writer)]).await;
    reply.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    assert!(reply.detail().contains("tools:invoke"), "{}", reply.text);
    app.post(&path, &body, &[("authorization", "")])
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let invoker = app.key_with_scopes(&["tools:invoke"]).await.authorization;
    let invocation = app
        .post(&path, &body, &[("authorization", &invoker)])
        .await
        .accepted(StatusCode::ACCEPTED);
    let one = format!("/v1/invocations/{}", invocation.id);
    app.get(&one, &[("authorization", &invoker)])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    app.get("/v1/invocations", &[("authorization", &invoker)])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    app.get(&one, &[("x-consistency-token", &invocation.token)])
        .await;

    let intruder = bearer(&app.second_tenant().await);
    app.get(&one, &[("authorization", &intruder)])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(&path, &body, &[("authorization", &intruder)])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let theirs = app
        .get("/v1/invocations", &[("authorization", &intruder)])
        .await;
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.text);
    app.stop().await;
}

#[tokio::test]
async fn invocations_list_by_agent_run_tool_and_status_with_durations() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let first_agent = app.an_agent("first").await;
    let second_agent = app.an_agent("second").await;
    let ok = app
        .a_tool(&tool_body("weather", &format!("{}/ok", receiver.url)))
        .await;
    let rejecting = app
        .a_tool(&tool_body("strict", &format!("{}/reject", receiver.url)))
        .await;
    let run = Uuid::now_v7();
    let mut ids = Vec::new();
    for (n, (tool, agent)) in [
        (ok.id, first_agent.id),
        (rejecting.id, first_agent.id),
        (ok.id, second_agent.id),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = invocation_body(agent, json!({"city": "Oslo"}), &format!("call-{n}"));
        if n < 2 {
            body["run_id"] = json!(run);
        }
        ids.push(app.an_invocation(tool, &body).await);
    }
    for id in &ids {
        app.finished_invocation(*id).await;
    }
    let listed = |query: String| {
        let app = &app;
        async move {
            let reply = app.get(&format!("/v1/invocations?{query}"), &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
            reply.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let id = |n: usize| ids[n].to_string();
    assert_eq!(listed(String::new()).await, [id(0), id(1), id(2)]);
    assert_eq!(
        listed(format!("agent_id={}", first_agent.id)).await,
        [id(0), id(1)]
    );
    assert_eq!(listed(format!("run_id={run}")).await, [id(0), id(1)]);
    assert_eq!(listed(format!("tool_id={}", ok.id)).await, [id(0), id(2)]);
    assert_eq!(listed("status=failed".to_owned()).await, [id(1)]);
    assert_eq!(
        listed(format!("status=succeeded&agent_id={}", first_agent.id)).await,
        [id(0)]
    );
    let page = app.get("/v1/invocations?limit=2", &[]).await;
    let cursor = page.body["next_cursor"].as_str().expect("cursor");
    assert_eq!(listed(format!("cursor={cursor}")).await, [id(2)]);
    let all = app.get("/v1/invocations", &[]).await;
    for item in all.body["items"].as_array().expect("items") {
        assert!(item["duration_ms"].is_u64(), "{item}");
    }

    for (query, field) in [
        ("status=done", "status"),
        ("agent_id=nope", "agent_id"),
        ("run_id=1", "run_id"),
        ("tool_id=x", "tool_id"),
        ("limit=201", "limit"),
        ("cursor=%00", "cursor"),
    ] {
        app.get(&format!("/v1/invocations?{query}"), &[])
            .await
            .assert_invalid(field);
    }
    app.get("/v1/invocations/not-a-uuid", &[])
        .await
        .assert_invalid("id");
    app.get(&format!("/v1/invocations/{}", Uuid::now_v7()), &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}
