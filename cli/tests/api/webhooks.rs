//! Webhook subscriptions as a resource: create (the secret shown once), read, list, pause,
//! resume, delete (the secret with it), with every bad input, scope and other tenant.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api_keys::issue;
use crate::helpers::{Accepted, Reply, TestApp, bearer, spawn_app};

/// Subscribes `url` to `event_types`; returns the receipt and the secret.
pub async fn subscribe(app: &TestApp, url: &str, event_types: &[&str]) -> (Accepted, String) {
    let reply = app
        .post(
            "/v1/webhooks",
            &json!({"url": url, "event_types": event_types}),
            &[],
        )
        .await;
    let accepted = reply.accepted(StatusCode::CREATED);
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/webhooks/{}", accepted.id).as_str())
    );
    let secret = reply.body["secret"]
        .as_str()
        .expect("the secret")
        .to_owned();
    (accepted, secret)
}

/// `GET /v1/webhooks/{id}` once the write behind `token` is visible.
pub async fn read_webhook(app: &TestApp, id: Uuid, token: &str) -> Reply {
    app.get(
        &format!("/v1/webhooks/{id}"),
        &[("x-consistency-token", token)],
    )
    .await
}

/// The secret's data key, as the creation event names it.
async fn secret_key_id(app: &TestApp, id: Uuid) -> Uuid {
    let payload: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE aggregate_id = $1 AND sequence = 1")
            .bind(id.to_string())
            .fetch_one(&app.env.pool)
            .await
            .expect("creation event");
    payload["WebhookSubscriptionCreated"]["secret_key_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("secret_key_id")
}

async fn data_key_exists(app: &TestApp, key_id: Uuid) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM data_keys WHERE key_id = $1)")
        .bind(key_id)
        .fetch_one(&app.env.pool)
        .await
        .expect("query data_keys")
}

#[tokio::test]
async fn a_subscription_is_created_read_paused_resumed_and_deleted_with_its_secret() {
    let app = spawn_app().await;
    let (created, secret) =
        subscribe(&app, "https://hooks.example.com/agentos", &["AgentCreated"]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let key_id = secret_key_id(&app, created.id).await;
    assert!(data_key_exists(&app, key_id).await);
    // The event names the key, never the secret.
    let stored: String =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE aggregate_id = $1")
            .bind(created.id.to_string())
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    assert!(!stored.contains(secret.trim_start_matches("whsec_")));

    let view = read_webhook(&app, created.id, &created.token).await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.text);
    assert_eq!(view.body["url"], "https://hooks.example.com/agentos");
    assert_eq!(view.body["event_types"], json!(["AgentCreated"]));
    assert_eq!(view.body["status"], "active");
    assert_eq!(view.body["version"], 1);
    assert!(!view.text.contains("secret"), "{}", view.text);

    let path = |action: &str| format!("/v1/webhooks/{}/{action}", created.id);
    let paused = app
        .post(&path("pause"), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    assert_eq!(
        read_webhook(&app, created.id, &paused.token).await.body["status"],
        "paused"
    );
    app.post(&path("pause"), &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");
    let resumed = app
        .post(&path("resume"), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    assert_eq!(
        read_webhook(&app, created.id, &resumed.token).await.body["status"],
        "active"
    );
    app.post(&path("resume"), &json!({}), &[])
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid-transition");

    let deleted = app
        .post(&path("delete"), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    assert_eq!(deleted.version, 4);
    assert!(
        !data_key_exists(&app, key_id).await,
        "the secret is deleted with it"
    );
    read_webhook(&app, created.id, &deleted.token)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let list = app
        .get("/v1/webhooks", &[("x-consistency-token", &deleted.token)])
        .await;
    assert_eq!(list.body["items"], json!([]));
    for action in ["delete", "pause", "resume"] {
        app.post(&path(action), &json!({}), &[])
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    app.stop().await;
}

#[tokio::test]
async fn subscriptions_are_listed_a_page_at_a_time_without_secrets() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    let mut token = String::new();
    for n in 0..3 {
        let (created, _) = subscribe(&app, &format!("https://example.com/{n}"), &[]).await;
        ids.push(created.id.to_string());
        token = created.token;
    }
    let first = app
        .get("/v1/webhooks?limit=2", &[("x-consistency-token", &token)])
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let page: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [ids[0].as_str(), ids[1].as_str()]);
    assert!(!first.text.contains("secret"));
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/v1/webhooks?limit=2&cursor={cursor}"), &[])
        .await;
    assert_eq!(second.body["items"][0]["id"], ids[2]);
    assert_eq!(second.body["next_cursor"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_create_returns_the_same_subscription_without_its_secret() {
    let app = spawn_app().await;
    let body = json!({"url": "https://example.com/hook"});
    let first = app
        .post("/v1/webhooks", &body, &[("idempotency-key", "hook-1")])
        .await;
    let created = first.accepted(StatusCode::CREATED);
    assert!(first.body["secret"].is_string());
    let again = app
        .post("/v1/webhooks", &body, &[("idempotency-key", "hook-1")])
        .await;
    assert_eq!(again.accepted(StatusCode::CREATED).id, created.id);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["secret"], Value::Null);
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'webhook_subscription'",
    )
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(count, 1);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM data_keys")
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
    assert_eq!(keys, 1, "a replay stores no second secret");
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let malformed = app
        .client
        .post(format!("{}/v1/webhooks", app.command_url))
        .header("authorization", bearer(&app.api_key))
        .header("content-type", "application/json")
        .body("{\"url\": ");
    crate::helpers::send(malformed)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed-json");
    let cases = [
        (json!({"url": "ftp://example.com"}), "url"),
        (json!({"url": "https://user:pw@example.com/x"}), "url"),
        (json!({"url": 5}), "url"),
        (
            json!({"url": "https://example.com", "event_types": ["Nope"]}),
            "event_types[0]",
        ),
        (
            json!({"url": "https://example.com", "event_types": "AgentCreated"}),
            "event_types",
        ),
        (
            json!({"url": "https://example.com", "secret": "mine"}),
            "secret",
        ),
    ];
    for (body, field) in cases {
        app.post("/v1/webhooks", &body, &[])
            .await
            .assert_invalid(field);
    }
    let missing = app.post("/v1/webhooks", &json!({}), &[]).await;
    missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(missing.detail().contains("`url`"), "{}", missing.text);
    for query in ["?limit=0", "?limit=201", "?cursor=nope", "?status=active"] {
        let field = query.trim_start_matches('?').split('=').next().unwrap();
        app.get(&format!("/v1/webhooks{query}"), &[])
            .await
            .assert_invalid(field);
    }
    app.get("/v1/webhooks/not-a-uuid", &[])
        .await
        .assert_invalid("id");
    let (created, _) = subscribe(&app, "https://example.com/hook", &[]).await;
    let deliveries = format!("/v1/webhooks/{}/deliveries", created.id);
    for (query, field) in [
        ("?status=lost", "status"),
        ("?limit=-1", "limit"),
        ("?cursor=x", "cursor"),
    ] {
        app.get(&format!("{deliveries}{query}"), &[])
            .await
            .assert_invalid(field);
    }
    let redeliver = format!("/v1/webhooks/{}/deliveries/nope/redeliver", created.id);
    app.post(&redeliver, &json!({}), &[])
        .await
        .assert_invalid("delivery_id");
    app.post(
        &format!("/v1/webhooks/{}/pause", created.id),
        &json!({"now": 1}),
        &[],
    )
    .await
    .assert_invalid("now");
    app.stop().await;
}

#[tokio::test]
async fn webhooks_need_admin_and_another_tenants_are_not_found() {
    let app = spawn_app().await;
    let (created, _) = subscribe(&app, "https://example.com/hook", &[]).await;
    let (_, writer) = issue(&app, &["agents:write", "agents:read", "audit:read"]).await;
    let as_writer = bearer(&writer);
    let refused = app
        .post(
            "/v1/webhooks",
            &json!({"url": "https://example.com"}),
            &[("authorization", &as_writer)],
        )
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    assert!(refused.detail().contains("admin"));
    for path in [
        "/v1/webhooks".to_owned(),
        format!("/v1/webhooks/{}", created.id),
    ] {
        app.get(&path, &[("authorization", &as_writer)])
            .await
            .assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    }
    app.get("/v1/webhooks", &[("authorization", "Bearer agos_nope")])
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let intruder = bearer(&app.second_tenant().await);
    let as_intruder = [("authorization", intruder.as_str())];
    for path in [
        format!("/v1/webhooks/{}", created.id),
        format!("/v1/webhooks/{}/deliveries", created.id),
    ] {
        app.get(&path, &as_intruder)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    for action in [
        "pause",
        "resume",
        "delete",
        &format!("deliveries/{}/redeliver", Uuid::now_v7()),
    ] {
        app.post(
            &format!("/v1/webhooks/{}/{action}", created.id),
            &json!({}),
            &as_intruder,
        )
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    let theirs = app.get("/v1/webhooks", &as_intruder).await;
    assert_eq!(theirs.body["items"], json!([]));
    // Still there, untouched, for its own tenant.
    let ours = read_webhook(&app, created.id, &created.token).await;
    assert_eq!(ours.body["status"], "active");
    assert_eq!(ours.body["version"], 1);
    app.stop().await;
}
