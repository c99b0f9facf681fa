//! The webhook worker against local receivers: signed per Standard Webhooks (checked by
//! an independent verifier), only matching events of the subscription's tenant, in order
//! per aggregate; a failing endpoint is retried, marked failing, and recovers; a given-up
//! delivery is redelivered by hand; paused and deleted subscriptions get nothing; and a
//! restarted worker (or two at once) delivers each event once.

use std::collections::BTreeSet;

use cli::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Accepted, TestApp, eventually, spawn_app, spawn_app_tuned, spawn_app_with};
use crate::receiver::{Receiver, verify};
use crate::webhooks::{read_webhook, subscribe};

/// The subscription's delivery log (first page, newest first), once the subscription
/// is readable.
async fn deliveries(app: &TestApp, subscription: &Accepted) -> Vec<Value> {
    let path = format!("/v1/webhooks/{}/deliveries?limit=200", subscription.id);
    let reply = app
        .get(&path, &[("x-consistency-token", &subscription.token)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until `receiver` has `count` requests.
async fn received(receiver: &Receiver, count: usize) {
    eventually(&format!("{count} requests at the receiver"), async || {
        (receiver.received().len() >= count).then_some(())
    })
    .await;
}

/// The ids of the tenant's events of `aggregate_id`, in order.
async fn event_ids(app: &TestApp, aggregate_id: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_id::text FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(aggregate_id.to_string())
    .fetch_all(&app.env.pool)
    .await
    .expect("event ids")
}

#[tokio::test]
async fn delivers_matching_events_signed_and_in_order_per_aggregate() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (subscription, secret) = subscribe(
        &app,
        &receiver.url,
        &["AgentCreated", "AgentPaused", "AgentResumed"],
    )
    .await;
    let a = app.an_agent("a").await;
    let b = app.an_agent("b").await;
    app.command_ok(a.id, "config", &json!({"name": "a2"})).await;
    app.command_ok(a.id, "pause", &json!({})).await;
    app.command_ok(b.id, "pause", &json!({})).await;
    let globex = app.another_tenant("globex").await;
    app.agent_as(&globex.api_key, "theirs").await;
    app.command_ok(a.id, "resume", &json!({})).await;

    received(&receiver, 5).await;
    let requests = receiver.received();
    let mut per_aggregate: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for request in &requests {
        verify(&secret, request).unwrap_or_else(|err| panic!("{err}"));
        let event = request.event();
        assert_eq!(request.header("webhook-id"), event["id"].as_str().unwrap());
        assert_eq!(
            request.header("content-type"),
            "application/cloudevents+json"
        );
        assert_eq!(event["tenantid"], app.tenant_id.to_string());
        per_aggregate
            .entry(event["aggregateid"].as_str().unwrap().to_owned())
            .or_default()
            .push(event["sequence"].as_u64().unwrap());
    }
    assert_eq!(
        per_aggregate[&a.id.to_string()],
        [1, 3, 4],
        "a's created, paused, resumed in order"
    );
    assert_eq!(per_aggregate[&b.id.to_string()], [1, 2]);
    // The last event delivered means every earlier one was queued: nothing else will come.
    let log = deliveries(&app, &subscription).await;
    assert_eq!(log.len(), 5, "{log:?}");
    for entry in &log {
        assert_eq!(entry["status"], "delivered");
        assert_eq!(entry["attempts"], 1);
        assert_eq!(entry["last_status"], 200);
        assert_eq!(entry["next_attempt_at"], Value::Null);
    }
    assert_eq!(receiver.received().len(), 5, "each delivered once");
    app.stop().await;
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_in_order_marked_failing_and_recovers() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.answer_with(503);
    let (subscription, secret) = subscribe(&app, &receiver.url, &[]).await;
    let agent = app.an_agent("flaky").await;
    app.command_ok(agent.id, "pause", &json!({})).await;
    let last = app.command_ok(agent.id, "resume", &json!({})).await;
    let ids = event_ids(&app, agent.id).await;

    // Three failures in a row (the test setting) mark the subscription failing.
    eventually("the subscription to be marked failing", async || {
        let view = read_webhook(&app, subscription.id, &last.token).await;
        (view.body["status"] == "failing").then_some(view)
    })
    .await;
    let view = read_webhook(&app, subscription.id, &last.token).await;
    assert_eq!(view.body["last_error"], "HTTP 503 Service Unavailable");
    // Meanwhile only the agent's first event was tried: the later ones wait behind it.
    assert!(receiver.message_ids().iter().all(|id| *id == ids[0]));

    receiver.answer_with(200);
    eventually("the subscription to recover", async || {
        let view = read_webhook(&app, subscription.id, &last.token).await;
        (view.body["status"] == "active").then_some(())
    })
    .await;
    eventually("every event to be delivered", async || {
        let log = deliveries(&app, &subscription).await;
        (log.len() == 3 && log.iter().all(|d| d["status"] == "delivered")).then_some(())
    })
    .await;

    // In order, each signed afresh on every attempt; retried ones counted in the log.
    let mut distinct: Vec<String> = Vec::new();
    for request in receiver.received() {
        verify(&secret, &request).unwrap_or_else(|err| panic!("{err}"));
        let id = request.header("webhook-id").to_owned();
        if distinct.last() != Some(&id) {
            distinct.push(id);
        }
    }
    assert_eq!(
        distinct, ids,
        "each event after the one before, none repeated after delivery"
    );
    let log = deliveries(&app, &subscription).await;
    let first = log
        .iter()
        .find(|d| d["event_id"] == ids[0].as_str())
        .unwrap();
    assert!(first["attempts"].as_i64().unwrap() >= 4, "{first}");
    assert_eq!(first["last_status"], 200);
    // Marked and recovered by the worker, as events of the subscription.
    let history: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, metadata->>'actor' FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(subscription.id.to_string())
    .fetch_all(&app.env.pool)
    .await
    .unwrap();
    let worker = "system:webhooks".to_owned();
    assert_eq!(
        history[1..],
        [
            ("WebhookSubscriptionFailing".to_owned(), worker.clone()),
            ("WebhookSubscriptionRecovered".to_owned(), worker),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_given_up_delivery_is_redelivered_by_hand_with_the_same_id() {
    let app = spawn_app_tuned(&[Role::All], |config| config.webhooks.max_attempts = 2).await;
    let receiver = Receiver::start().await;
    receiver.answer_with(500);
    let (subscription, secret) = subscribe(&app, &receiver.url, &["AgentCreated"]).await;
    let agent = app.an_agent("unlucky").await;
    let given_up = eventually("the delivery to be given up", async || {
        let log = deliveries(&app, &subscription).await;
        log.into_iter().find(|d| d["status"] == "failed")
    })
    .await;
    assert_eq!(given_up["attempts"], 2);
    assert_eq!(given_up["last_status"], 500);
    assert_eq!(given_up["last_error"], "HTTP 500 Internal Server Error");
    assert_eq!(given_up["next_attempt_at"], Value::Null);
    assert_eq!(given_up["aggregate_id"], agent.id.to_string());

    receiver.answer_with(200);
    let path = format!(
        "/v1/webhooks/{}/deliveries/{}/redeliver",
        subscription.id,
        given_up["id"].as_str().unwrap()
    );
    let queued = app.post(&path, &json!({}), &[]).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    assert_eq!(queued.body["status"], "pending");
    eventually("the redelivery to get through", async || {
        let log = deliveries(&app, &subscription).await;
        (log[0]["status"] == "delivered").then_some(())
    })
    .await;
    // And once more, by hand, although it was delivered.
    app.post(&path, &json!({}), &[]).await;
    eventually("the second redelivery to get through", async || {
        let log = deliveries(&app, &subscription).await;
        (log[0]["attempts"] == 4 && log[0]["status"] == "delivered").then_some(())
    })
    .await;
    let requests = receiver.received();
    assert_eq!(requests.len(), 4);
    let ids: BTreeSet<&str> = requests.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "every attempt carries the event's id");
    for request in &requests {
        verify(&secret, request).unwrap_or_else(|err| panic!("{err}"));
    }
    let unknown = format!(
        "/v1/webhooks/{}/deliveries/{}/redeliver",
        subscription.id,
        Uuid::now_v7()
    );
    app.post(&unknown, &json!({}), &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

#[tokio::test]
async fn paused_subscriptions_miss_what_happens_meanwhile_and_deleted_ones_get_nothing() {
    let app = spawn_app().await;
    let (watched, control) = (Receiver::start().await, Receiver::start().await);
    // A second subscription sees every event: once it has one, the worker has decided
    // for every subscription what to do with it.
    subscribe(&app, &control.url, &["AgentCreated"]).await;
    let (subscription, _) = subscribe(&app, &watched.url, &["AgentCreated"]).await;
    let path = |action: &str| format!("/v1/webhooks/{}/{action}", subscription.id);

    app.post(&path("pause"), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    let while_paused = app.an_agent("while paused").await;
    app.post(&path("resume"), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    let after_resume = app.an_agent("after resume").await;
    received(&watched, 1).await;
    app.post(&path("delete"), &json!({}), &[])
        .await
        .accepted(StatusCode::OK);
    let after_delete = app.an_agent("after delete").await;
    received(&control, 3).await;

    let created = |receiver: &Receiver| -> Vec<String> {
        receiver
            .received()
            .iter()
            .map(|r| r.event()["aggregateid"].as_str().unwrap().to_owned())
            .collect()
    };
    // Events of different agents may arrive in any order; only each agent's are ordered.
    let control_got: BTreeSet<String> = created(&control).into_iter().collect();
    let every_agent: BTreeSet<String> = [while_paused.id, after_resume.id, after_delete.id]
        .map(|id| id.to_string())
        .into();
    assert_eq!(control_got, every_agent);
    assert_eq!(created(&watched), [after_resume.id.to_string()]);
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1")
            .bind(subscription.id)
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    assert_eq!(queued, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_restarted_worker_and_two_workers_at_once_deliver_each_event_once() {
    let roles = [
        Role::CommandApi,
        Role::QueryApi,
        Role::Relay,
        Role::Projector,
    ];
    let app = spawn_app_with(crate::helpers::CONSISTENCY_WAIT_MS, &roles).await;
    let receiver = Receiver::start().await;
    let (subscription, _) = subscribe(&app, &receiver.url, &["AgentCreated"]).await;
    let worker = app.start_roles(&[Role::WebhookWorker]).await;
    app.an_agent("first").await;
    received(&receiver, 1).await;
    worker.stop().await;

    // Events while no worker runs; then two workers start side by side.
    for n in 0..5 {
        app.an_agent(&format!("meanwhile {n}")).await;
    }
    let (one, two) = tokio::join!(
        app.start_roles(&[Role::WebhookWorker]),
        app.start_roles(&[Role::WebhookWorker])
    );
    received(&receiver, 6).await;
    let last = app.an_agent("last").await;
    eventually("the last event to be delivered", async || {
        let ids = receiver
            .received()
            .iter()
            .map(|r| r.event()["aggregateid"].clone())
            .collect::<Vec<_>>();
        ids.contains(&json!(last.id.to_string())).then_some(())
    })
    .await;
    let ids = receiver.message_ids();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 7);
    assert_eq!(unique.len(), 7, "no event delivered twice");
    let log = deliveries(&app, &subscription).await;
    assert_eq!(log.len(), 7);
    assert!(
        log.iter()
            .all(|d| d["attempts"] == 1 && d["status"] == "delivered")
    );
    one.stop().await;
    two.stop().await;
    app.stop().await;
}
