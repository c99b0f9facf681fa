//! What operators and client generators rely on: health, readiness, metrics, the OpenAPI
//! documents, the docs UI, and correlation ids that tie requests to their events.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, agent_body, send, spawn_app};

fn both_apis(app: &TestApp) -> [&str; 2] {
    [app.command_url.as_str(), app.query_url.as_str()]
}

#[tokio::test]
async fn both_apis_are_healthy_and_ready_with_every_dependency_ok() {
    let app = spawn_app().await;

    for base in both_apis(&app) {
        let health = send(app.client.get(format!("{base}/healthz"))).await;
        assert_eq!(health.status, StatusCode::OK);
        assert_eq!(health.body, json!({"status": "ok"}));
        let ready = send(app.client.get(format!("{base}/readyz"))).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
        assert_eq!(ready.body["status"], "ready");
        assert_eq!(
            ready.body["checks"],
            json!({"postgres": "ok", "nats": "ok", "redis": "ok"})
        );
    }

    app.stop().await;
}

#[tokio::test]
async fn metrics_are_prometheus_text_counting_requests() {
    let app = spawn_app().await;
    app.an_agent("counted").await;

    for base in both_apis(&app) {
        let metrics = send(app.client.get(format!("{base}/metrics"))).await;
        assert_eq!(metrics.status, StatusCode::OK);
        assert!(
            metrics
                .text
                .contains("# TYPE agentos_http_requests_total counter"),
            "{}",
            metrics.text
        );
        assert!(
            metrics
                .text
                .lines()
                .any(|line| line.starts_with("agentos_http_requests_total{")
                    && line.contains("route=\"/v1/agents\"")
                    && line.contains("status=\"201\"")),
            "{}",
            metrics.text
        );
    }

    app.stop().await;
}

#[tokio::test]
async fn both_apis_publish_openapi_3_1_and_serve_the_docs() {
    let app = spawn_app().await;
    let expected_paths: [(&str, &[&str]); 2] = [
        (
            &app.command_url,
            &[
                "/v1/agents",
                "/v1/agents/{id}/config",
                "/v1/agents/{id}/pause",
                "/v1/agents/{id}/resume",
                "/v1/agents/{id}/archive",
            ],
        ),
        (
            &app.query_url,
            &["/v1/agents", "/v1/agents/{id}", "/v1/agents/{id}/status"],
        ),
    ];

    for (base, paths) in expected_paths {
        let document = send(app.client.get(format!("{base}/openapi.json"))).await;
        assert_eq!(document.status, StatusCode::OK);
        assert_eq!(document.body["openapi"], "3.1.0");
        let served: Vec<&str> = document.body["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(String::as_str)
            .collect();
        for path in paths {
            assert!(served.contains(path), "{base} lacks {path}: {served:?}");
        }
        assert!(document.body["components"]["schemas"]["Problem"].is_object());
        assert!(document.body["components"]["securitySchemes"]["api_key"].is_object());

        let docs = send(app.client.get(format!("{base}/docs/"))).await;
        assert_eq!(docs.status, StatusCode::OK);
        assert!(
            docs.header("content-type")
                .is_some_and(|t| t.starts_with("text/html")),
            "{:?}",
            docs.headers
        );
        assert!(docs.text.contains("swagger"), "{}", docs.text);
    }

    app.stop().await;
}

#[tokio::test]
async fn the_correlation_id_is_echoed_and_stored_with_the_events() {
    let app = spawn_app().await;
    let correlation_id = Uuid::new_v4().to_string();
    let correlated = [("x-correlation-id", correlation_id.as_str())];

    let created = app
        .post("/v1/agents", &agent_body("traced"), &correlated)
        .await;
    assert_eq!(
        created.header("x-correlation-id"),
        Some(correlation_id.as_str())
    );
    let agent = created.accepted(StatusCode::CREATED);
    let paused = app
        .post(
            &format!("/v1/agents/{}/pause", agent.id),
            &json!({}),
            &correlated,
        )
        .await;
    assert_eq!(
        paused.header("x-correlation-id"),
        Some(correlation_id.as_str())
    );
    let read = app.get("/v1/agents", &correlated).await;
    assert_eq!(
        read.header("x-correlation-id"),
        Some(correlation_id.as_str())
    );
    let uncorrelated = app
        .post(&format!("/v1/agents/{}/resume", agent.id), &json!({}), &[])
        .await;
    let generated = uncorrelated
        .header("x-correlation-id")
        .and_then(|id| Uuid::parse_str(id).ok())
        .expect("a correlation id is made up when none is sent");
    let rejected = app.post("/v1/agents", &json!({}), &correlated).await;
    assert_eq!(rejected.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        rejected.header("x-correlation-id"),
        Some(correlation_id.as_str())
    );

    let stored: Vec<Option<String>> =
        sqlx::query_scalar("SELECT metadata->>'correlation_id' FROM events WHERE aggregate_type = 'agent' ORDER BY position")
            .fetch_all(&app.env.pool)
            .await
            .expect("events");
    let generated = generated.to_string();
    assert_eq!(
        stored,
        [
            Some(correlation_id.clone()),
            Some(correlation_id.clone()),
            Some(generated),
        ]
    );
    let published = app.published_agent_events(2).await;
    for (_, event) in &published {
        assert_eq!(
            event["correlationid"],
            Value::String(correlation_id.clone())
        );
    }

    app.stop().await;
}
