//! The layers and routes every API wraps itself in.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use super::ops::{self, Dependencies};
use super::problem::{self, Problem};
use super::request::CORRELATION_ID_HEADER;

/// Longest a request may take; longer ones get a 503 problem.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Adds the ops routes, problem+json fallbacks, tracing, metrics, panic and timeout
/// handling, and the correlation id echo to an API's routes.
pub fn finish(routes: Router, dependencies: Dependencies) -> Router {
    routes
        .merge(ops::router(dependencies))
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(axum::middleware::from_fn(ops::track_http))
        .layer(axum::middleware::from_fn(correlate))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "timeout",
                        format!(
                            "the request did not finish within {} s; retry it (with the same \
                     Idempotency-Key for a command)",
                            REQUEST_TIMEOUT.as_secs()
                        ),
                    )
                    .with_retry_after(1)
                }))
                .layer(tower::timeout::TimeoutLayer::new(REQUEST_TIMEOUT)),
        )
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                Problem::internal(&"handler panicked").into_response()
            },
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                tracing::info_span!(
                    "http",
                    method = %request.method(),
                    path = %request.uri().path(),
                    correlation_id = tracing::field::Empty,
                    tenant_id = tracing::field::Empty,
                )
            }),
        )
}

/// Takes the correlation id from `X-Correlation-Id` (or makes one), hands it to the
/// handler as a request extension, records it on the span, and echoes it in the response.
async fn correlate(mut request: Request<Body>, next: axum::middleware::Next) -> Response<Body> {
    let correlation_id = match request.headers().get(CORRELATION_ID_HEADER) {
        None => uuid::Uuid::now_v7(),
        Some(value) => match value
            .to_str()
            .ok()
            .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
        {
            Some(id) => id,
            None => {
                return Problem::invalid_field("X-Correlation-Id", "must be a UUID")
                    .into_response();
            }
        },
    };
    tracing::Span::current().record("correlation_id", tracing::field::display(correlation_id));
    request
        .extensions_mut()
        .insert(CorrelationId(correlation_id));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&correlation_id.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(CORRELATION_ID_HEADER), value);
    }
    response
}

/// Request extension: the correlation id the request is handled under.
#[derive(Debug, Clone, Copy)]
pub struct CorrelationId(pub uuid::Uuid);
