//! Billing through both APIs: credits, quotas, usage recorded by the reactor from the
//! events that cause it, invoices and the ledger, read back with consistency tokens.
//!
//! Memory and tool-invocation events come from domains other slices build: they are
//! appended to the test's store as their command bus would (`eventstore::testing`), and
//! the platform's own relay and billing reactor take it from there.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use domain::billing::{BillingEvent, InvoiceLine, invoice_lines};
use eventstore::testing::{memory_recorded, tool_invocation_succeeded};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Accepted, Reply, TestApp, bearer, eventually, send, spawn_app};

/// `method` on the command API with `headers`, authenticated as the first tenant unless
/// `headers` name an `Authorization` of their own.
async fn command_with(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.command_url));
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    {
        request = request.header("authorization", bearer(&app.api_key));
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

/// `PUT` of `body` as JSON to the command API.
pub async fn put(app: &TestApp, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
    command_with(app, Method::PUT, path, Some(body), headers).await
}

/// `DELETE` on the command API.
pub async fn delete(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Reply {
    command_with(app, Method::DELETE, path, None, headers).await
}

/// Sets a quota of `limit` per `period` on `meter`, which must be accepted.
pub async fn set_quota(app: &TestApp, meter: &str, limit: i64, period: &str) -> Accepted {
    let body = json!({"limit": limit, "period": period});
    put(app, &format!("/v1/billing/quotas/{meter}"), &body, &[])
        .await
        .accepted(StatusCode::OK)
}

/// Grants `amount_micros`, which must be accepted.
pub async fn grant(app: &TestApp, amount_micros: i64) -> Accepted {
    app.post(
        "/v1/billing/credits",
        &json!({"amount_micros": amount_micros}),
        &[],
    )
    .await
    .accepted(StatusCode::OK)
}

/// Noon UTC on the last day of the month before the current one.
pub fn last_month() -> DateTime<Utc> {
    let first = Utc::now()
        .date_naive()
        .with_day(1)
        .expect("first of the month");
    let day = first - Duration::days(1);
    Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).expect("noon"))
}

/// The tenant's ledger once it holds `count` entries.
pub async fn ledger_of(app: &TestApp, count: usize) -> Vec<Value> {
    eventually("the ledger to hold the usage", async || {
        let reply = app.get("/v1/billing/ledger?limit=200", &[]).await;
        let items = reply.body["items"].as_array()?.clone();
        (items.len() >= count).then_some(items)
    })
    .await
}

#[tokio::test]
async fn credits_and_quotas_read_back_with_the_consistency_token() {
    let app = spawn_app().await;
    let granted = app
        .post(
            "/v1/billing/credits",
            &json!({"amount_micros": 5_000_000, "reason": "trial"}),
            &[],
        )
        .await
        .accepted(StatusCode::OK);
    assert_eq!(granted.id, app.tenant_id, "the account is the tenant's");
    assert_eq!(granted.version, 2, "opened, then granted");
    let account = app
        .get(
            "/v1/billing/account",
            &[("x-consistency-token", &granted.token)],
        )
        .await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.text);
    assert_eq!(account.body["balance_micros"], 5_000_000);
    assert_eq!(account.body["version"], 2);
    assert!(account.body["opened_at"].is_string());

    set_quota(&app, "memory_items", 10, "day").await;
    set_quota(&app, "memory_items", 20, "month").await;
    set_quota(&app, "tool_invocations", 10, "day").await;
    let removed = delete(&app, "/v1/billing/quotas/tool_invocations", &[])
        .await
        .accepted(StatusCode::OK);
    delete(&app, "/v1/billing/quotas/tool_invocations", &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");

    let account = app
        .get(
            "/v1/billing/account",
            &[("x-consistency-token", &removed.token)],
        )
        .await;
    assert_eq!(account.body["version"], removed.version);
    let this_month = Utc::now().format("%Y-%m").to_string();
    assert_eq!(
        account.body["quotas"],
        json!([{"meter": "memory_items", "limit": 20, "period": "month",
                "period_key": this_month, "used": 0}])
    );
    assert_eq!(account.body["usage"].as_array().map(Vec::len), Some(4));
    app.stop().await;
}

#[tokio::test]
async fn usage_recorded_from_events_shows_in_usage_account_and_ledger() {
    let app = spawn_app().await;
    grant(&app, 10_000).await;
    let now = Utc::now();
    for _ in 0..3 {
        memory_recorded(&app.env.pool, app.tenant_id, None, now).await;
    }
    for _ in 0..2 {
        tool_invocation_succeeded(&app.env.pool, app.tenant_id, now).await;
    }
    let ledger = ledger_of(&app, 6).await;
    assert_eq!(ledger[0]["kind"], "credit");
    assert_eq!(ledger[0]["amount_micros"], 10_000);
    assert_eq!(
        ledger[5]["balance_after_micros"],
        10_000 - 3 * 100 - 2 * 1_000
    );
    assert!(ledger[1..].iter().all(|entry| entry["kind"] == "usage"));

    let today = now.format("%Y-%m-%d").to_string();
    let usage = app
        .get(&format!("/v1/billing/usage?from={today}&to={today}"), &[])
        .await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    assert_eq!(
        usage.body["items"],
        json!([
            {"day": today, "meter": "memory_items", "quantity": 3, "amount_micros": 300},
            {"day": today, "meter": "tool_invocations", "quantity": 2, "amount_micros": 2000},
        ])
    );
    let memory_only = app.get("/v1/billing/usage?meter=memory_items", &[]).await;
    assert_eq!(memory_only.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(memory_only.body["to"], today, "up to today by default");

    let account = app.get("/v1/billing/account", &[]).await;
    assert_eq!(account.body["balance_micros"], 7_700);
    let meters = account.body["usage"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let memory = meters
        .iter()
        .find(|u| u["meter"] == "memory_items")
        .unwrap();
    assert_eq!(
        (&memory["today"], &memory["this_month"]),
        (&json!(3), &json!(3))
    );

    // Page by page, the same entries in the same order.
    let mut paged = Vec::new();
    let mut path = "/v1/billing/ledger?limit=2".to_owned();
    loop {
        let page = app.get(&path, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        paged.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/billing/ledger?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, ledger);
    app.stop().await;
}

#[tokio::test]
async fn closing_a_month_invoices_its_usage_once_as_the_events_recompute_it() {
    let app = spawn_app().await;
    let (then, now) = (last_month(), Utc::now());
    let period = then.format("%Y-%m").to_string();
    memory_recorded(&app.env.pool, app.tenant_id, None, then).await;
    memory_recorded(&app.env.pool, app.tenant_id, None, then).await;
    tool_invocation_succeeded(&app.env.pool, app.tenant_id, then).await;
    memory_recorded(&app.env.pool, app.tenant_id, None, now).await;
    ledger_of(&app, 4).await;

    let path = format!("/v1/billing/periods/{period}/close");
    let key = [("idempotency-key", "close-last-month")];
    let closed = app.post(&path, &json!({}), &key).await;
    let invoice = closed.accepted(StatusCode::CREATED);
    assert_eq!(
        closed.header("location"),
        Some(format!("/v1/billing/invoices/{}", invoice.id).as_str())
    );
    let replayed = app.post(&path, &json!({}), &key).await;
    assert_eq!(replayed.accepted(StatusCode::CREATED).id, invoice.id);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    app.post(&path, &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "period-already-closed");
    let this_month = format!("/v1/billing/periods/{}/close", now.format("%Y-%m"));
    app.post(&this_month, &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "period-not-ended");

    let token = [("x-consistency-token", invoice.token.as_str())];
    let read = app
        .get(&format!("/v1/billing/invoices/{}", invoice.id), &token)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["period"], period);
    assert_eq!(
        read.body["lines"],
        json!([
            {"meter": "tool_invocations", "quantity": 1, "amount_micros": 1000},
            {"meter": "memory_items", "quantity": 2, "amount_micros": 200},
        ])
    );
    assert_eq!(read.body["total_micros"], 1_200);
    let listed = app.get("/v1/billing/invoices", &[]).await;
    assert_eq!(listed.body["items"], json!([read.body]));

    // Recomputed from the stored usage events, the invoice is the same.
    let events: Vec<sqlx::types::Json<BillingEvent>> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = 'billing_account' ORDER BY sequence",
    )
    .fetch_all(&app.env.pool)
    .await
    .unwrap();
    let usages: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.0 {
            BillingEvent::UsageRecorded(usage) => Some(usage),
            _ => None,
        })
        .collect();
    let recomputed = invoice_lines(usages.iter().copied(), &period);
    let served: Vec<InvoiceLine> = serde_json::from_value(read.body["lines"].clone()).unwrap();
    assert_eq!(recomputed, served);
    let issued = events.iter().find_map(|event| match &event.0 {
        BillingEvent::InvoiceIssued(issued) => Some(issued.lines.clone()),
        _ => None,
    });
    assert_eq!(issued, Some(recomputed));

    // A usage of the closed month arriving late is charged to the current month.
    memory_recorded(&app.env.pool, app.tenant_id, None, then).await;
    let ledger = ledger_of(&app, 5).await;
    let late = ledger.last().unwrap();
    let charged_on = late["occurred_at"].as_str().unwrap_or_default();
    assert!(
        charged_on.starts_with(&now.format("%Y-%m").to_string()),
        "{late}"
    );
    let invoices = app.get("/v1/billing/invoices", &[]).await;
    assert_eq!(
        invoices.body["items"][0]["total_micros"], 1_200,
        "unchanged"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_grant_grants_once() {
    let app = spawn_app().await;
    let key = [("idempotency-key", "grant-1")];
    let body = json!({"amount_micros": 700});
    let first = app.post("/v1/billing/credits", &body, &key).await;
    let again = app.post("/v1/billing/credits", &body, &key).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        first.accepted(StatusCode::OK).version,
        again.accepted(StatusCode::OK).version
    );
    app.post("/v1/billing/credits", &json!({"amount_micros": 9}), &key)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    let token = grant(&app, 1).await.token;
    let account = app
        .get("/v1/billing/account", &[("x-consistency-token", &token)])
        .await;
    assert_eq!(account.body["balance_micros"], 701);
    app.stop().await;
}

#[tokio::test]
async fn another_tenant_sees_and_changes_nothing_of_the_account() {
    let app = spawn_app().await;
    grant(&app, 1_000).await;
    set_quota(&app, "memory_items", 1, "day").await;
    memory_recorded(&app.env.pool, app.tenant_id, None, last_month()).await;
    ledger_of(&app, 2).await;
    let period = last_month().format("%Y-%m").to_string();
    let ours = app
        .post(
            &format!("/v1/billing/periods/{period}/close"),
            &json!({}),
            &[],
        )
        .await
        .accepted(StatusCode::CREATED);

    // Everything of ours is in the read models before the intruder looks.
    let token = [("x-consistency-token", ours.token.as_str())];
    let mine = app
        .get(&format!("/v1/billing/invoices/{}", ours.id), &token)
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    let intruder = bearer(&app.second_tenant().await);
    let as_intruder = [("authorization", intruder.as_str())];
    let account = app.get("/v1/billing/account", &as_intruder).await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.text);
    assert_eq!(
        (&account.body["balance_micros"], &account.body["version"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(account.body["quotas"], json!([]));
    for path in [
        "/v1/billing/invoices",
        "/v1/billing/ledger",
        "/v1/billing/usage",
    ] {
        let reply = app.get(path, &as_intruder).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        assert_eq!(reply.body["items"], json!([]), "{path}");
    }
    app.get(&format!("/v1/billing/invoices/{}", ours.id), &as_intruder)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let token = [
        ("authorization", intruder.as_str()),
        ("x-consistency-token", ours.token.as_str()),
    ];
    app.get("/v1/billing/account", &token)
        .await
        .assert_invalid("X-Consistency-Token");
    // Their commands reach their own account only.
    delete(&app, "/v1/billing/quotas/memory_items", &as_intruder)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let generous = json!({"limit": 99, "period": "month"});
    put(
        &app,
        "/v1/billing/quotas/memory_items",
        &generous,
        &as_intruder,
    )
    .await
    .accepted(StatusCode::OK);
    app.post(
        &format!("/v1/billing/periods/{period}/close"),
        &json!({}),
        &as_intruder,
    )
    .await
    .accepted(StatusCode::CREATED);
    let theirs = app
        .post(
            "/v1/billing/credits",
            &json!({"amount_micros": 5}),
            &as_intruder,
        )
        .await
        .accepted(StatusCode::OK);
    assert_ne!(theirs.id, app.tenant_id);
    let account = app.get("/v1/billing/account", &[]).await;
    assert_eq!(account.body["balance_micros"], 1_000 - 100);
    assert_eq!(account.body["quotas"][0]["limit"], 1, "ours, not theirs");
    let invoices = app.get("/v1/billing/invoices", &[]).await;
    assert_eq!(invoices.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(invoices.body["items"][0]["id"], ours.id.to_string());
    app.stop().await;
}

#[tokio::test]
async fn a_runs_model_calls_are_charged_as_tokens_once_each() {
    let app = spawn_app().await;
    grant(&app, 1_000_000).await;
    let agent = app
        .a_scripted_agent(&[], json!([{"text": "Let me think."}, {"text": "Hello."}]))
        .await;
    let run = app.a_run(agent, "Hi").await;
    assert_eq!(app.finished_run(run.id).await["status"], "completed");
    let calls = app.run_event_payloads(run.id, "ModelCallCompleted").await;
    assert!(!calls.is_empty(), "the run called its model");
    let tokens = |field: &str| -> i64 {
        calls
            .iter()
            .map(|call| call["usage"][field].as_i64().expect("token count"))
            .sum()
    };
    let (input, output) = (tokens("input_tokens"), tokens("output_tokens"));
    assert!(input > 0 && output > 0, "{calls:?}");

    // One usage entry per meter and call, after the credit.
    let ledger = ledger_of(&app, 1 + 2 * calls.len()).await;
    let usage: Vec<&Value> = ledger.iter().filter(|e| e["kind"] == "usage").collect();
    assert_eq!(usage.len(), 2 * calls.len(), "{ledger:?}");
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let by_meter = app
        .get(&format!("/v1/billing/usage?from={today}&to={today}"), &[])
        .await;
    assert_eq!(by_meter.status, StatusCode::OK, "{}", by_meter.text);
    assert_eq!(
        by_meter.body["items"],
        json!([
            {"day": today, "meter": "llm_input_tokens", "quantity": input, "amount_micros": 3 * input},
            {"day": today, "meter": "llm_output_tokens", "quantity": output, "amount_micros": 15 * output},
        ])
    );
    let account = app.get("/v1/billing/account", &[]).await;
    assert_eq!(
        account.body["balance_micros"],
        1_000_000 - 3 * input - 15 * output
    );
    app.stop().await;
}
