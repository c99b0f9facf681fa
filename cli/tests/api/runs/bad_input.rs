//! Bad input to the run endpoints: every field a 422 naming it, malformed JSON a 400,
//! missing keys and scopes 401 and 403, another tenant's agents and runs 404 and unlisted.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{bearer, spawn_app};

#[tokio::test]
async fn bad_start_requests_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let agent = app.a_scripted_agent(&[], json!([{"text": "Hi."}])).await;
    let path = format!("/v1/agents/{agent}/runs");
    let cases = [
        (json!({"input": "Hi", "max_steps": 0}), "max_steps"),
        (json!({"input": "Hi", "max_steps": 101}), "max_steps"),
        (json!({"input": "Hi", "max_steps": "ten"}), "max_steps"),
        (json!({"input": "Hi", "budget_micros": 0}), "budget_micros"),
        (
            json!({"input": "Hi", "budget_micros": 1_000_000_000_001_i64}),
            "budget_micros",
        ),
        (json!({"input": []}), "input"),
        (json!({"input": "  "}), "input[0].content"),
        (
            json!({"input": [{"role": "tool", "content": "x"}]}),
            "input[0].tool_call_id",
        ),
        (
            json!({"input": [{"role": "robot", "content": "x"}]}),
            "input",
        ),
        (json!({"input": 7}), "input"),
        (json!({"input": "Hi", "model": "other"}), "model"),
    ];
    for (body, field) in cases {
        let reply = app.post(&path, &body, &[]).await;
        assert_eq!(
            reply.error_fields().first().map(String::as_str),
            Some(field),
            "{body}: {}",
            reply.text
        );
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let missing = app.post(&path, &json!({}), &[]).await;
    missing.assert_invalid("body");
    let malformed = app
        .client
        .post(format!("{}{path}", app.command_url))
        .header("authorization", bearer(&app.api_key))
        .header("content-type", "application/json")
        .body("{\"input\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let listed = app.get(&format!("/v1/agents/{agent}/runs"), &[]).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was started");
    app.stop().await;
}

#[tokio::test]
async fn runs_need_keys_and_scopes_and_stay_within_the_tenant() {
    let app = spawn_app().await;
    let agent = app.a_scripted_agent(&[], json!([{"text": "Hi."}])).await;
    let start = format!("/v1/agents/{agent}/runs");
    let body = json!({"input": "Hi"});

    app.post(&start, &body, &[("authorization", "Bearer nope")])
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let reader = app.key_with_scopes(&["runs:read"]).await;
    let refused = app
        .post(&start, &body, &[("authorization", &reader.authorization)])
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    assert!(refused.detail().contains("runs:write"));
    let writer = app.key_with_scopes(&["runs:write"]).await;
    let run = app
        .post(&start, &body, &[("authorization", &writer.authorization)])
        .await
        .accepted(StatusCode::CREATED);
    let read = app
        .get(
            &format!("/v1/runs/{}", run.id),
            &[("authorization", &writer.authorization)],
        )
        .await;
    read.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    let seen = app
        .get(
            &format!("/v1/runs/{}", run.id),
            &[
                ("authorization", &reader.authorization),
                ("x-consistency-token", &run.token),
            ],
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(
        seen.header("etag"),
        Some(format!("\"{}\"", seen.body["version"]).as_str())
    );
    app.finished_run(run.id).await;

    let stranger = bearer(&app.another_tenant("globex").await.api_key);
    let as_stranger = [("authorization", stranger.as_str())];
    app.post(&start, &body, &as_stranger)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(
        &format!("/v1/runs/{}/cancel", run.id),
        &json!({}),
        &as_stranger,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/runs/{}", run.id), &as_stranger)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let theirs = app
        .get(&format!("/v1/agents/{agent}/runs"), &as_stranger)
        .await;
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.text);
    let unknown = uuid::Uuid::now_v7();
    app.start_run(unknown, &body)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.run_command(unknown, "cancel", &json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.run_command(run.id, "cancel", &json!({"reason": 5}))
        .await
        .assert_invalid("reason");
    app.stop().await;
}

#[tokio::test]
async fn run_lists_page_and_filter_and_refuse_bad_parameters() {
    let app = spawn_app().await;
    let agent = app.a_scripted_agent(&[], json!([{"text": "Hi."}])).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let run = app.a_run(agent, &format!("Hello {n}")).await;
        app.finished_run(run.id).await;
        ids.push(run.id);
    }
    let path = format!("/v1/agents/{agent}/runs");
    let first = app.get(&format!("{path}?limit=2"), &[]).await;
    assert_eq!(
        first.body["items"][0]["id"],
        json!(ids[0]),
        "{}",
        first.text
    );
    assert_eq!(first.body["items"][1]["id"], json!(ids[1]));
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("{path}?limit=2&cursor={cursor}"), &[])
        .await;
    assert_eq!(
        second.body["items"][0]["id"],
        json!(ids[2]),
        "{}",
        second.text
    );
    assert_eq!(second.body["next_cursor"], json!(null));
    let completed = app.get(&format!("{path}?status=completed"), &[]).await;
    assert_eq!(completed.body["items"].as_array().map(Vec::len), Some(3));
    let running = app.get(&format!("{path}?status=running"), &[]).await;
    assert_eq!(running.body["items"], json!([]));

    for (query, field) in [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=garbage", "cursor"),
        ("colour=red", "colour"),
    ] {
        app.get(&format!("{path}?{query}"), &[])
            .await
            .assert_invalid(field);
    }
    app.get("/v1/runs/not-a-uuid", &[])
        .await
        .assert_invalid("id");
    app.stop().await;
}
