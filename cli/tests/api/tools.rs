//! The tool registry over HTTP: register, publish versions (old ones stay readable),
//! deprecate, disable, list; names unique per tenant; bad input; scopes; tenant isolation.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{bearer, spawn_app};
use crate::tooling::{input_schema, tool_body};

const URL: &str = "https://tools.example.com/weather";

#[tokio::test]
async fn a_registered_tool_reads_back_with_its_first_version() {
    let app = spawn_app().await;
    let reply = app.post("/v1/tools", &tool_body("weather", URL), &[]).await;
    let tool = reply.accepted(StatusCode::CREATED);
    assert_eq!(tool.version, 1);
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/tools/{}", tool.id).as_str())
    );

    let read = app
        .get(
            &format!("/v1/tools/{}", tool.id),
            &[("x-consistency-token", &tool.token)],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.header("etag"), Some("\"1\""));
    let body = &read.body;
    assert_eq!(body["name"], "weather");
    assert_eq!(body["status"], "active");
    assert_eq!(body["latest_version"], 1);
    assert_eq!(body["kind"]["type"], "http");
    assert_eq!(body["kind"]["url"], URL);
    assert!(body.get("tenant_id").is_none(), "{body}");
    let versions = body["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["input_schema"], input_schema());
    assert_eq!(
        versions[0]["output_schema"]["required"],
        json!(["temperature_c"])
    );

    let unchanged = app
        .get(
            &format!("/v1/tools/{}", tool.id),
            &[("if-none-match", "\"1\"")],
        )
        .await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    app.stop().await;
}

#[tokio::test]
async fn a_new_version_changes_the_schema_and_the_old_one_stays_readable() {
    let app = spawn_app().await;
    let tool = app.a_tool(&tool_body("weather", URL)).await;
    let v2_schema =
        json!({"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]});
    let published = app
        .post(
            &format!("/v1/tools/{}/versions", tool.id),
            &json!({"input_schema": v2_schema, "kind": {"type": "builtin", "name": "memory.search"}}),
            &[],
        )
        .await
        .accepted(StatusCode::OK);
    assert_eq!(published.version, 2);

    let token = [("x-consistency-token", published.token.as_str())];
    let read = app.get(&format!("/v1/tools/{}", tool.id), &token).await;
    assert_eq!(read.body["latest_version"], 2);
    assert_eq!(read.body["kind"]["type"], "builtin");
    assert_eq!(read.body["description"], "Forecasts the weather", "kept");
    let versions = read.body["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);

    let v1 = app
        .get(&format!("/v1/tools/{}/versions/1", tool.id), &[])
        .await;
    assert_eq!(v1.status, StatusCode::OK, "{}", v1.text);
    assert_eq!(v1.body["input_schema"], input_schema());
    assert_eq!(v1.body["kind"]["type"], "http");
    let v2 = app
        .get(&format!("/v1/tools/{}/versions/2", tool.id), &[])
        .await;
    assert_eq!(v2.body["input_schema"], v2_schema);
    assert_eq!(v2.body["output_schema"], Value::Null, "left out: none");

    for (path, field) in [
        (format!("/v1/tools/{}/versions/3", tool.id), None),
        (format!("/v1/tools/{}/versions/0", tool.id), Some("version")),
        (format!("/v1/tools/{}/versions/x", tool.id), Some("version")),
        ("/v1/tools/nope/versions/1".to_owned(), Some("id")),
    ] {
        let reply = app.get(&path, &[]).await;
        match field {
            None => {
                reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
            }
            Some(field) => {
                reply.assert_invalid(field);
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn deprecating_and_disabling_follow_the_lifecycle() {
    let app = spawn_app().await;
    let tool = app.a_tool(&tool_body("weather", URL)).await;
    let path = |action: &str| format!("/v1/tools/{}/{action}", tool.id);
    app.post(
        &path("deprecate"),
        &json!({"reason": "use forecast.v2"}),
        &[],
    )
    .await
    .accepted(StatusCode::OK);
    app.post(&path("deprecate"), &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");
    let disabled = app
        .post(&path("disable"), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    assert_eq!(disabled.version, 3);
    for action in ["disable", "deprecate"] {
        app.post(&path(action), &json!({}), &[])
            .await
            .assert_problem(StatusCode::CONFLICT, "invalid-transition");
    }
    app.post(&path("versions"), &json!({"input_schema": {}}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");

    let read = app
        .get(
            &format!("/v1/tools/{}", tool.id),
            &[("x-consistency-token", &disabled.token)],
        )
        .await;
    assert_eq!(read.body["status"], "disabled");
    assert!(read.body["deprecated_at"].is_string());
    assert!(read.body["disabled_at"].is_string());

    // The name stays taken by the disabled tool.
    app.post("/v1/tools", &tool_body("weather", URL), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "already-taken");
    app.stop().await;
}

#[tokio::test]
async fn a_name_is_unique_within_a_tenant_only() {
    let app = spawn_app().await;
    app.a_tool(&tool_body("weather", URL)).await;
    let clash = app.post("/v1/tools", &tool_body("weather", URL), &[]).await;
    clash.assert_problem(StatusCode::CONFLICT, "already-taken");
    assert_eq!(clash.error_fields(), ["name"]);

    let other = bearer(&app.second_tenant().await);
    app.post(
        "/v1/tools",
        &tool_body("weather", URL),
        &[("authorization", &other)],
    )
    .await
    .accepted(StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn the_list_filters_by_status_and_pages() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for name in ["a.one", "b.two", "c.three"] {
        ids.push(app.a_tool(&tool_body(name, URL)).await);
    }
    let deprecated = app
        .post(
            &format!("/v1/tools/{}/deprecate", ids[1].id),
            &json!({}),
            &[],
        )
        .await
        .accepted(StatusCode::OK);

    let token = [("x-consistency-token", deprecated.token.as_str())];
    let first = app.get("/v1/tools?limit=2", &token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let names: Vec<String> = items(&first)
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let cursor = first.body["next_cursor"].as_str().expect("next page");
    let second = app
        .get(&format!("/v1/tools?limit=2&cursor={cursor}"), &[])
        .await;
    assert_eq!(names, ["a.one", "b.two"]);
    assert_eq!(items(&second).len(), 1);
    assert_eq!(items(&second)[0]["name"], "c.three");
    assert_eq!(second.body["next_cursor"], Value::Null);

    let only = app.get("/v1/tools?status=deprecated", &[]).await;
    assert_eq!(items(&only).len(), 1);
    assert_eq!(items(&only)[0]["id"], ids[1].id.to_string());

    for (query, field) in [
        ("status=retired", "status"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=garbage!", "cursor"),
        ("colour=red", "query"),
    ] {
        let reply = app.get(&format!("/v1/tools?{query}"), &[]).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(
            reply.error_fields()[0].contains(field) || reply.detail().contains("colour"),
            "{query}: {}",
            reply.text
        );
    }
    app.stop().await;
}

fn items(reply: &crate::helpers::Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn bad_tool_input_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = tool_body("weather", URL);
        change(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["name"] = json!("Weather!")), "name"),
        (with(&|b| b["name"] = json!(42)), "name"),
        (
            with(&|b| b["input_schema"] = json!({"type": 3})),
            "input_schema",
        ),
        (
            with(&|b| b["input_schema"] = json!("string")),
            "input_schema",
        ),
        (
            with(&|b| b["output_schema"] = json!({"minimum": "x"})),
            "output_schema",
        ),
        (with(&|b| b["kind"]["url"] = json!("ftp://x")), "kind.url"),
        (
            with(&|b| b["kind"]["url"] = json!("https://user:pw@x.example")),
            "kind.url",
        ),
        (
            with(&|b| b["kind"]["timeout_ms"] = json!(0)),
            "kind.timeout_ms",
        ),
        (with(&|b| b["kind"]["timeout_ms"] = json!(-5)), "kind"),
        (with(&|b| b["kind"]["retries"] = json!(11)), "kind.retries"),
        (
            with(&|b| b["kind"] = json!({"type": "builtin", "name": "shell"})),
            "kind.name",
        ),
        (with(&|b| b["kind"] = json!({"type": "ftp"})), "kind.type"),
        (with(&|b| b["kind"]["colour"] = json!("red")), "kind"),
        (with(&|b| b["colour"] = json!("red")), "colour"),
        (
            with(&|b| b["description"] = json!("x".repeat(2001))),
            "description",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post("/v1/tools", &body, &[]).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(
            reply.error_fields().first().map(String::as_str),
            Some(field),
            "{body}: {}",
            reply.text
        );
    }
    let missing = app.post("/v1/tools", &json!({"name": "x"}), &[]).await;
    missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    let malformed = app
        .client
        .post(format!("{}/v1/tools", app.command_url))
        .header("authorization", bearer(&app.api_key))
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    let versions = format!("/v1/tools/{}/versions", Uuid::now_v7());
    app.post(&versions, &json!({"input_schema": {}}), &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.post("/v1/tools/not-a-uuid/disable", &json!({}), &[])
        .await
        .assert_invalid("id");
    app.stop().await;
}

#[tokio::test]
async fn every_tool_endpoint_needs_a_key_with_its_scope() {
    let app = spawn_app().await;
    let tool = app.a_tool(&tool_body("weather", URL)).await;
    let reader = app.key_with_scopes(&["tools:read"]).await.authorization;
    let writer = app.key_with_scopes(&["tools:write"]).await.authorization;
    let no_auth = [("authorization", "")];

    for (path, body) in [
        ("/v1/tools".to_owned(), tool_body("other", URL)),
        (
            format!("/v1/tools/{}/versions", tool.id),
            json!({"input_schema": {}}),
        ),
        (format!("/v1/tools/{}/deprecate", tool.id), json!({})),
        (format!("/v1/tools/{}/disable", tool.id), json!({})),
    ] {
        app.post(&path, &body, &no_auth)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        let reply = app.post(&path, &body, &[("authorization", &reader)]).await;
        reply.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
        assert!(reply.detail().contains("tools:write"), "{}", reply.text);
    }
    for path in [
        "/v1/tools".to_owned(),
        format!("/v1/tools/{}", tool.id),
        format!("/v1/tools/{}/versions/1", tool.id),
    ] {
        app.get(&path, &no_auth)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        let reply = app.get(&path, &[("authorization", &writer)]).await;
        reply.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
        assert!(reply.detail().contains("tools:read"), "{}", reply.text);
        let allowed = app
            .get(
                &path,
                &[
                    ("authorization", &reader),
                    ("x-consistency-token", &tool.token),
                ],
            )
            .await;
        assert_eq!(allowed.status, StatusCode::OK, "{path}: {}", allowed.text);
    }
    app.post(
        "/v1/tools",
        &tool_body("written", URL),
        &[("authorization", &writer)],
    )
    .await
    .accepted(StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_change_a_tool() {
    let app = spawn_app().await;
    let tool = app.a_tool(&tool_body("weather", URL)).await;
    app.get(
        &format!("/v1/tools/{}", tool.id),
        &[("x-consistency-token", &tool.token)],
    )
    .await;
    let intruder = bearer(&app.second_tenant().await);
    let as_intruder = [("authorization", intruder.as_str())];
    for path in [
        format!("/v1/tools/{}", tool.id),
        format!("/v1/tools/{}/versions/1", tool.id),
    ] {
        app.get(&path, &as_intruder)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    for (action, body) in [
        ("versions", json!({"input_schema": {}})),
        ("deprecate", json!({})),
        ("disable", json!({})),
    ] {
        app.post(
            &format!("/v1/tools/{}/{action}", tool.id),
            &body,
            &as_intruder,
        )
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    let theirs = app.get("/v1/tools", &as_intruder).await;
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.text);
    // Their consistency token is no use against our tool either.
    app.get(
        &format!("/v1/tools/{}", tool.id),
        &[
            ("authorization", &intruder),
            ("x-consistency-token", &tool.token),
        ],
    )
    .await
    .assert_invalid("X-Consistency-Token");
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_registration_registers_once() {
    let app = spawn_app().await;
    let key = [("idempotency-key", "register-weather")];
    let first = app
        .post("/v1/tools", &tool_body("weather", URL), &key)
        .await;
    let again = app
        .post("/v1/tools", &tool_body("weather", URL), &key)
        .await;
    let first = first.accepted(StatusCode::CREATED);
    assert_eq!(again.accepted(StatusCode::CREATED).id, first.id);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'tool'")
            .fetch_one(&app.env.pool)
            .await
            .expect("count");
    assert_eq!(count, 1);
    app.stop().await;
}
