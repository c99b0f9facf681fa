//! `/healthz`, `/readyz` and `/metrics`, served by every process.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use sqlx::PgPool;

/// What `/readyz` checks: each dependency the process uses.
#[derive(Clone, Default)]
pub struct Dependencies {
    pub postgres: Option<PgPool>,
    pub nats: Option<async_nats::Client>,
    pub redis: Option<redis::aio::ConnectionManager>,
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests build many apps in one
        // process); the handle still renders what this recorder sees.
        metrics::set_global_recorder(recorder).ok();
        handle
    })
}

/// The ops routes, merged into each API and served alone by the worker roles.
pub fn router(dependencies: Dependencies) -> Router {
    prometheus();
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(|| async { prometheus().render() }))
        .with_state(dependencies)
}

async fn readyz(State(deps): State<Dependencies>) -> Response {
    let timeout = Duration::from_secs(2);
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    if let Some(pool) = &deps.postgres {
        let ok = tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool))
            .await
            .is_ok_and(|r| r.is_ok());
        ready &= ok;
        checks.insert("postgres".into(), json!(if ok { "ok" } else { "down" }));
    }
    if let Some(client) = &deps.nats {
        let ok = tokio::time::timeout(timeout, client.flush())
            .await
            .is_ok_and(|r| r.is_ok())
            && client.connection_state() == async_nats::connection::State::Connected;
        ready &= ok;
        checks.insert("nats".into(), json!(if ok { "ok" } else { "down" }));
    }
    if let Some(redis) = &deps.redis {
        let mut conn = redis.clone();
        let ping = redis::cmd("PING");
        let ok = tokio::time::timeout(timeout, ping.query_async::<String>(&mut conn))
            .await
            .is_ok_and(|r| r.is_ok());
        ready &= ok;
        checks.insert("redis".into(), json!(if ok { "ok" } else { "down" }));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if ready { "ready" } else { "not ready" }, "checks": checks})),
    )
        .into_response()
}

/// Middleware counting requests and their latency per route and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("agentos_http_requests_total", &labels).increment(1);
    metrics::histogram!("agentos_http_request_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
