//! `GET /v1/runs/{id}/events`: a run's events as Server-Sent Events, read from JetStream by
//! an ordered consumer filtered on the run's own subject. Each event's SSE id is its stream
//! sequence, so a client that reconnects with `Last-Event-ID` resumes right after the last
//! event it saw; comments keep idle connections open; the stream ends after the event that
//! stops the run.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use domain::api_key::Scope;
use domain::run::RUN_AGGREGATE_TYPE;
use eventstore::web::{Authenticated, Problem, UuidPath};
use futures::StreamExt;
use uuid::Uuid;

use crate::AppState;

/// The events that stop a run: the stream ends after one of them.
const FINAL_EVENTS: &[&str] = &["RunCompleted", "RunFailed", "RunCancelled", "RunTimedOut"];

#[utoipa::path(
    get, path = "/v1/runs/{id}/events", tag = "runs",
    params(
        ("id" = Uuid, Path),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event (its SSE id)"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: one SSE event per run event (`event` = its type, `id` = its stream sequence, `data` = the CloudEvent JSON); ends after the run stops", content_type = "text/event-stream"),
        (status = 403, description = "The key lacks `runs:read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A `Last-Event-ID` that is not an event id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Streams a run's events as they happen, from the start or after `Last-Event-ID`.
pub async fn run_events(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(run_id): UuidPath,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let principal = auth.require(Scope::RunsRead)?;
    let after = crate::events::last_event_id(&headers)?;
    // The store knows a run the moment it starts; its read model may not yet.
    let owner: Option<Uuid> = sqlx::query_scalar(
        "SELECT tenant_id FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
    )
    .bind(RUN_AGGREGATE_TYPE)
    .bind(run_id.to_string())
    .fetch_optional(&state.pool)
    .await
    .map_err(|err| Problem::internal(&err))?;
    if owner != Some(principal.tenant_id) {
        return Err(Problem::not_found("run"));
    }
    let feed = &state.events;
    let subject = feed.namespace.event_subject(
        &principal.tenant_id.to_string(),
        RUN_AGGREGATE_TYPE,
        &run_id.to_string(),
    );
    let messages = feed
        .messages(
            subject,
            after.map_or(1, |sequence| sequence.saturating_add(1)),
        )
        .await?;
    // The event that stops the run is sent, then the stream ends without waiting for
    // another message (none will come).
    let events = futures::stream::unfold(Some(Box::pin(messages)), |messages| async move {
        let mut messages = messages?;
        let (sequence, text, cloud_event) = messages.next().await?;
        let kind = cloud_event.short_type();
        let event = Event::default()
            .id(sequence.to_string())
            .event(kind)
            .data(text);
        let rest = (!FINAL_EVENTS.contains(&kind)).then_some(messages);
        Some((Ok::<_, Infallible>(event), rest))
    });
    Ok(Sse::new(events)
        .keep_alive(feed.keep_alive())
        .into_response())
}
