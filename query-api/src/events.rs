//! `GET /v1/events/stream`: the tenant's events as Server-Sent Events, read from the
//! event stream with an ordered (ephemeral) consumer. Each event's SSE `id` is its stream
//! sequence, so a client that reconnects with `Last-Event-ID` resumes right after the
//! last event it got: no gap, no duplicate. Without it, a stream starts after the last
//! event published when it opens. Heartbeats are SSE comments.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use domain::api_key::Scope;
use domain::catalog;
use eventstore::web::{Authenticated, Problem, QueryParams};
use eventstore::{CloudEvent, Namespace};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::AppState;

/// The header a reconnecting client names its last event in.
pub const LAST_EVENT_ID_HEADER: &str = "last-event-id";
/// The text of each heartbeat comment.
pub const HEARTBEAT: &str = "heartbeat";

/// Where the stream endpoint reads events from.
#[derive(Clone)]
pub struct EventFeed {
    pub jetstream: jetstream::Context,
    pub namespace: Namespace,
    /// How long a connection may stay silent before a heartbeat comment is sent.
    pub heartbeat: Duration,
    /// Ends every open stream, so that the server can stop.
    pub shutdown: CancellationToken,
}

/// `GET /v1/events/stream` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventStreamParams {
    /// Comma-separated event types, such as `AgentCreated,AgentPaused` (every version of
    /// each); every type when left out.
    pub types: Option<String>,
    /// Only events of this aggregate type, such as `agent`.
    pub aggregate_type: Option<String>,
    /// Only events of this aggregate (a UUID).
    pub aggregate_id: Option<String>,
}

/// The validated filter of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamFilter {
    types: Option<BTreeSet<String>>,
    aggregate_type: Option<String>,
    aggregate_id: Option<Uuid>,
    after_sequence: Option<u64>,
}

#[utoipa::path(
    get, path = "/v1/events/stream", tag = "events",
    params(
        EventStreamParams,
        ("Last-Event-ID" = Option<u64>, Header, description = "The `id` of the last event received: the stream resumes right after it. Without it, only events from now on are sent."),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: one SSE event per CloudEvent (`id` = stream sequence, `data` = the CloudEvent JSON), and `:heartbeat` comments while idle", content_type = "text/event-stream", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `audit:read`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown type or aggregate type, or a malformed id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Streams the tenant's events as they are published, resumable with `Last-Event-ID`.
pub async fn stream_events(
    State(state): State<AppState>,
    auth: Authenticated,
    QueryParams(params): QueryParams<EventStreamParams>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let principal = auth.require(Scope::AuditRead)?;
    let filter = validate(params, &headers)?;
    let feed = &state.events;
    let subject = feed.namespace.tenant_filter(
        &principal.tenant_id.to_string(),
        filter.aggregate_type.as_deref(),
        filter.aggregate_id.map(|id| id.to_string()).as_deref(),
    );
    let start_sequence = match filter.after_sequence {
        Some(sequence) => sequence.saturating_add(1),
        None => feed.next_sequence().await?,
    };
    let tenant_id = principal.tenant_id;
    let types = filter.types;
    let events = feed.messages(subject, start_sequence).await?.filter_map(
        move |(sequence, text, cloud_event)| {
            let wanted = cloud_event.tenantid == tenant_id
                && types
                    .as_ref()
                    .is_none_or(|types| types.contains(cloud_event.short_type()));
            std::future::ready(
                wanted.then(|| Ok(Event::default().id(sequence.to_string()).data(text))),
            )
        },
    );
    metrics::counter!("agentos_event_streams_opened_total").increment(1);
    Ok(Sse::new(events).keep_alive(feed.keep_alive()))
}

impl EventFeed {
    /// The stream sequence the next published event will get.
    pub async fn next_sequence(&self) -> Result<u64, Problem> {
        let mut stream = self
            .jetstream
            .get_stream(self.namespace.stream())
            .await
            .map_err(|err| Problem::internal(&err))?;
        let info = stream.info().await.map_err(|err| Problem::internal(&err))?;
        Ok(info.state.last_sequence + 1)
    }

    /// The messages on `subject` from stream sequence `start_sequence` on, as (sequence,
    /// JSON text, CloudEvent), each once, until a consumer error or the server stops.
    pub async fn messages(
        &self,
        subject: String,
        start_sequence: u64,
    ) -> Result<impl Stream<Item = (u64, String, CloudEvent)> + use<>, Problem> {
        let messages = self
            .jetstream
            .get_stream(self.namespace.stream())
            .await
            .map_err(|err| Problem::internal(&err))?
            .create_consumer(OrderedConfig {
                filter_subject: subject,
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
                ..Default::default()
            })
            .await
            .map_err(|err| Problem::internal(&err))?
            .messages()
            .await
            .map_err(|err| Problem::internal(&err))?;
        // The lowest sequence still to send. An ordered consumer that is recreated before
        // it delivered anything starts again from the stream's first message, so sequences
        // below this (sent already, or before the start) are dropped: never a duplicate.
        let mut next_sequence = start_sequence;
        Ok(messages
            // A consumer error ends the stream; the client reconnects with Last-Event-ID.
            .take_while(|message| std::future::ready(message.is_ok()))
            .filter_map(move |message| {
                let decoded = message.ok().and_then(|message| {
                    let sequence = message.info().ok()?.stream_sequence;
                    if sequence < next_sequence {
                        return None;
                    }
                    next_sequence = sequence + 1;
                    let text = std::str::from_utf8(&message.payload).ok()?.to_owned();
                    let cloud_event: CloudEvent = serde_json::from_str(&text).ok()?;
                    Some((sequence, text, cloud_event))
                });
                std::future::ready(decoded)
            })
            .take_until(self.shutdown.clone().cancelled_owned()))
    }

    /// Heartbeat comments after [`heartbeat`](Self::heartbeat) of silence.
    pub fn keep_alive(&self) -> KeepAlive {
        KeepAlive::new().interval(self.heartbeat).text(HEARTBEAT)
    }
}

/// The stream sequence in `Last-Event-ID`, if the client sent one.
pub fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(LAST_EVENT_ID_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::invalid_field(
                "Last-Event-ID",
                "must be the id of an event this stream sent (a whole number)",
            )
        })
}

fn validate(params: EventStreamParams, headers: &HeaderMap) -> Result<StreamFilter, Problem> {
    let types = match params.types {
        None => None,
        Some(list) => {
            let mut types = BTreeSet::new();
            for name in list.split(',').map(str::trim) {
                if name.is_empty() {
                    return Err(Problem::invalid_field(
                        "types",
                        "must be event types separated by commas, none empty",
                    ));
                }
                if !catalog::is_event_type(name) {
                    return Err(Problem::invalid_field(
                        "types",
                        format!("`{name}` is not an event type (such as AgentCreated)"),
                    ));
                }
                types.insert(name.to_owned());
            }
            Some(types)
        }
    };
    if let Some(aggregate_type) = &params.aggregate_type
        && !catalog::is_aggregate_type(aggregate_type)
    {
        return Err(Problem::invalid_field(
            "aggregate_type",
            "must be an aggregate type, such as agent",
        ));
    }
    let aggregate_id = match &params.aggregate_id {
        None => None,
        Some(id) => Some(
            Uuid::parse_str(id)
                .map_err(|_| Problem::invalid_field("aggregate_id", "must be a UUID"))?,
        ),
    };
    let after_sequence = last_event_id(headers)?;
    Ok(StreamFilter {
        types,
        aggregate_type: params.aggregate_type,
        aggregate_id,
        after_sequence,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn params(
        types: Option<&str>,
        aggregate_type: Option<&str>,
        aggregate_id: Option<&str>,
    ) -> EventStreamParams {
        EventStreamParams {
            types: types.map(str::to_owned),
            aggregate_type: aggregate_type.map(str::to_owned),
            aggregate_id: aggregate_id.map(str::to_owned),
        }
    }

    fn field_of(problem: Problem) -> String {
        problem.errors[0].field.clone()
    }

    #[test]
    fn accepts_known_types_an_aggregate_and_a_last_event_id() {
        let id = Uuid::now_v7();
        let mut headers = HeaderMap::new();
        headers.insert(LAST_EVENT_ID_HEADER, HeaderValue::from_static("42"));
        let filter = validate(
            params(
                Some("AgentCreated, AgentPaused"),
                Some("agent"),
                Some(&id.to_string()),
            ),
            &headers,
        )
        .unwrap();
        assert_eq!(
            filter.types,
            Some(BTreeSet::from([
                "AgentCreated".to_owned(),
                "AgentPaused".to_owned()
            ]))
        );
        assert_eq!(filter.aggregate_id, Some(id));
        assert_eq!(filter.after_sequence, Some(42));
    }

    #[test]
    fn names_the_parameter_that_is_wrong() {
        let none = HeaderMap::new();
        let cases = [
            (params(Some("AgentCreated,Nope"), None, None), "types"),
            (params(Some("AgentCreated,"), None, None), "types"),
            (params(Some(""), None, None), "types"),
            (params(None, Some("Agent"), None), "aggregate_type"),
            (params(None, None, Some("a.b")), "aggregate_id"),
        ];
        for (params, field) in cases {
            assert_eq!(field_of(validate(params, &none).unwrap_err()), field);
        }
        for bad in ["abc", "-1", "1.5"] {
            let mut headers = HeaderMap::new();
            headers.insert(LAST_EVENT_ID_HEADER, HeaderValue::from_static(bad));
            let problem = validate(params(None, None, None), &headers).unwrap_err();
            assert_eq!(field_of(problem), "Last-Event-ID");
        }
    }
}
