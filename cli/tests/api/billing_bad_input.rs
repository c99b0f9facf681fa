//! Bad input to the billing endpoints: every one is a problem+json naming what is wrong,
//! never a 500, and nothing is appended.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::billing::{delete, put};
use crate::helpers::{TestApp, bearer, send, spawn_app};

const COMMANDS: [(&str, &str); 4] = [
    ("POST", "/v1/billing/credits"),
    ("PUT", "/v1/billing/quotas/memory_items"),
    ("DELETE", "/v1/billing/quotas/memory_items"),
    ("POST", "/v1/billing/periods/2020-01/close"),
];

const READS: [&str; 5] = [
    "/v1/billing/account",
    "/v1/billing/usage",
    "/v1/billing/invoices",
    "/v1/billing/invoices/0196a000-0000-7000-8000-000000000001",
    "/v1/billing/ledger",
];

/// A key of the first tenant holding only `scopes`.
async fn key_with(app: &TestApp, scopes: &[&str]) -> String {
    let issued = app
        .post(
            "/v1/api-keys",
            &json!({"name": "narrow", "scopes": scopes}),
            &[],
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    issued.body["api_key"].as_str().expect("api_key").to_owned()
}

/// `method` on `path` with a valid body for it, as `authorization` (none when empty).
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    authorization: &str,
) -> crate::helpers::Reply {
    let body = match method {
        "PUT" => Some(json!({"limit": 1, "period": "day"})),
        "POST" if path.ends_with("credits") => Some(json!({"amount_micros": 1})),
        _ => None,
    };
    let mut request = app.client.request(
        method.parse().expect("method"),
        format!("{}{path}", app.command_url),
    );
    if !authorization.is_empty() {
        request = request.header("authorization", authorization);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    send(request).await
}

async fn billing_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'billing_account'")
        .fetch_one(&app.env.pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn bad_bodies_and_paths_are_problems_naming_the_field() {
    let app = spawn_app().await;
    let credits = "/v1/billing/credits";
    let reply = send(
        app.client
            .post(format!("{}{credits}", app.command_url))
            .header("authorization", bearer(&app.api_key))
            .header("content-type", "application/json")
            .body("{\"amount_micros\": "),
    )
    .await;
    reply.assert_problem(StatusCode::BAD_REQUEST, "malformed-json");
    for (body, field) in [
        (json!({"amount_micros": "10"}), "amount_micros"),
        (json!({"amount_micros": 1.5}), "amount_micros"),
        (json!({"amount_micros": 0}), "amount_micros"),
        (json!({"amount_micros": -5}), "amount_micros"),
        (
            json!({"amount_micros": 1_000_000_000_000_001_i64}),
            "amount_micros",
        ),
        (json!({"amount_micros": 1, "reason": 7}), "reason"),
        (
            json!({"amount_micros": 1, "reason": "x".repeat(501)}),
            "reason",
        ),
        (json!({"amount_micros": 1, "reason": "bell\u{7}"}), "reason"),
    ] {
        app.post(credits, &body, &[]).await.assert_invalid(field);
    }
    let quota = "/v1/billing/quotas/memory_items";
    for (body, field) in [
        (json!({"limit": -1, "period": "day"}), "limit"),
        (json!({"limit": "many", "period": "day"}), "limit"),
        (json!({"limit": 5, "period": "week"}), "period"),
    ] {
        put(&app, quota, &body, &[]).await.assert_invalid(field);
    }
    // Missing and unknown fields are named in the detail.
    for (reply, named) in [
        (app.post(credits, &json!({}), &[]).await, "`amount_micros`"),
        (
            app.post(
                credits,
                &json!({"amount_micros": 1, "currency": "EUR"}),
                &[],
            )
            .await,
            "`currency`",
        ),
        (
            put(&app, quota, &json!({"period": "day"}), &[]).await,
            "`limit`",
        ),
        (
            put(&app, quota, &json!({"limit": 5}), &[]).await,
            "`period`",
        ),
    ] {
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(reply.detail().contains(named), "{}", reply.text);
    }
    let valid: Value = json!({"limit": 5, "period": "day"});
    for meter in ["bandwidth", "MEMORY_ITEMS", "memory_items%00"] {
        let path = format!("/v1/billing/quotas/{meter}");
        put(&app, &path, &valid, &[]).await.assert_invalid("meter");
        delete(&app, &path, &[]).await.assert_invalid("meter");
    }
    for period in ["2025-1", "2025-13", "last-month", "2025-01-01", "%E2%80%8B"] {
        app.post(
            &format!("/v1/billing/periods/{period}/close"),
            &json!({}),
            &[],
        )
        .await
        .assert_invalid("period");
    }
    app.post(
        "/v1/billing/periods/2020-01/close",
        &json!({"when": "now"}),
        &[],
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(billing_events(&app).await, 0, "nothing appended");
    app.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_are_422s_naming_them() {
    let app = spawn_app().await;
    for (query, field) in [
        ("meter=bandwidth", "meter"),
        ("from=2025-1-01", "from"),
        ("from=yesterday", "from"),
        ("to=2025-02-30", "to"),
        ("from=2025-03-02&to=2025-03-01", "from"),
        ("from=2024-01-01&to=2025-01-01", "to"),
        ("colour=blue", "colour"),
    ] {
        let reply = app.get(&format!("/v1/billing/usage?{query}"), &[]).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(
            reply.error_fields()[0].contains(field),
            "{query}: {}",
            reply.text
        );
    }
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=many", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=AAAAAAAAAAA", "cursor"),
    ] {
        app.get(&format!("/v1/billing/ledger?{query}"), &[])
            .await
            .assert_invalid(field);
    }
    app.get("/v1/billing/invoices/not-a-uuid", &[])
        .await
        .assert_invalid("id");
    app.get(READS[3], &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

#[tokio::test]
async fn every_billing_endpoint_needs_a_key_with_its_scope() {
    let app = spawn_app().await;
    for (method, path) in COMMANDS {
        call(&app, method, path, "")
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for path in READS {
        app.get(path, &[("authorization", "Bearer agos_nonsense")])
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let reader = bearer(&key_with(&app, &["billing:read"]).await);
    for (method, path) in COMMANDS {
        let reply = call(&app, method, path, &reader).await;
        reply.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
        assert!(reply.detail().contains("billing:write"), "{}", reply.text);
    }
    let writer = bearer(&key_with(&app, &["billing:write", "agents:read"]).await);
    for path in READS {
        let reply = app.get(path, &[("authorization", &writer)]).await;
        reply.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
        assert!(reply.detail().contains("billing:read"), "{}", reply.text);
    }
    // The scopes suffice on their own: the writer grants, the reader reads.
    call(&app, "POST", "/v1/billing/credits", &writer)
        .await
        .accepted(StatusCode::OK);
    let account = app
        .get("/v1/billing/account", &[("authorization", &reader)])
        .await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.text);
    app.stop().await;
}
