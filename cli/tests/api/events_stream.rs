//! `GET /v1/events/stream`: a tenant's events as Server-Sent Events, resumable with
//! `Last-Event-ID` without a gap or a duplicate, filtered, with heartbeats, and never
//! another tenant's event.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_keys::issue;
use crate::helpers::{TestApp, eventually, spawn_app};
use crate::sse::{EventStream, Frame};

/// The stream sequences of the tenant's events in the event stream, read directly.
async fn tenant_sequences(app: &TestApp, tenant: uuid::Uuid) -> Vec<u64> {
    let stream = app
        .env
        .jetstream
        .get_stream(app.env.namespace.stream())
        .await
        .expect("event stream");
    let prefix = format!("{}.events.{tenant}.", app.env.namespace.as_str());
    let last = stream
        .get_info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut sequences = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await.expect("message");
        if message.subject.starts_with(&prefix) {
            sequences.push(sequence);
        }
    }
    sequences
}

/// Waits until the relay has published every event in the store: a stream opened
/// without `Last-Event-ID` starts at the next one published, and the tenant's own
/// creation may still be on its way.
async fn published_everything(app: &TestApp) {
    let stream = app
        .env
        .jetstream
        .get_stream(app.env.namespace.stream())
        .await
        .expect("event stream");
    eventually("the relay to publish every stored event", async || {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&app.env.pool)
            .await
            .ok()?;
        let published = stream.get_info().await.ok()?.state.messages;
        (u64::try_from(stored).ok()? == published).then_some(())
    })
    .await;
}

fn ids(events: &[(u64, Value)]) -> Vec<u64> {
    events.iter().map(|(id, _)| *id).collect()
}

fn types(events: &[(u64, Value)]) -> Vec<&str> {
    events
        .iter()
        .map(|(_, event)| event["type"].as_str().expect("type"))
        .collect()
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_resumes_with_no_gap_and_no_duplicate() {
    let app = spawn_app().await;
    let globex = app.another_tenant("globex").await;
    published_everything(&app).await;
    let mut stream = EventStream::open(&app, "", &app.api_key, None)
        .await
        .expect("stream opens");

    // Events of both tenants, interleaved.
    let first = app.an_agent("first").await;
    app.agent_as(&globex.api_key, "theirs").await;
    app.command_ok(first.id, "pause", &json!({})).await;
    let received = stream.next_events(2).await;
    assert_eq!(
        types(&received),
        [
            "agentos.agent.AgentCreated.v1",
            "agentos.agent.AgentPaused.v2"
        ]
    );
    let (last_id, _) = received[1];
    drop(stream);

    // While disconnected, more happens.
    let second = app.an_agent("second").await;
    app.command_ok(first.id, "resume", &json!({})).await;
    app.command_ok(second.id, "archive", &json!({})).await;

    let mut resumed = EventStream::open(&app, "", &app.api_key, Some(last_id))
        .await
        .expect("stream reopens");
    let after = resumed.next_events(3).await;
    assert_eq!(
        types(&after),
        [
            "agentos.agent.AgentCreated.v1",
            "agentos.agent.AgentResumed.v1",
            "agentos.agent.AgentArchived.v1"
        ]
    );
    // Exactly the tenant's messages of the stream since the first connection opened.
    let got: Vec<u64> = ids(&received).into_iter().chain(ids(&after)).collect();
    let expected: Vec<u64> = tenant_sequences(&app, app.tenant_id)
        .await
        .into_iter()
        .filter(|sequence| *sequence >= got[0])
        .collect();
    assert_eq!(got, expected);
    for (_, event) in received.iter().chain(&after) {
        assert_eq!(event["tenantid"], app.tenant_id.to_string());
        assert_eq!(event["specversion"], "1.0");
    }
    app.stop().await;
}

#[tokio::test]
async fn filters_by_event_type_aggregate_type_and_aggregate_and_replays_from_zero() {
    let app = spawn_app().await;
    let globex = app.another_tenant("globex").await;
    let one = app.an_agent("one").await;
    let two = app.an_agent("two").await;
    app.command_ok(one.id, "pause", &json!({})).await;
    app.command_ok(two.id, "pause", &json!({})).await;
    app.command_ok(one.id, "resume", &json!({})).await;
    app.agent_as(&globex.api_key, "theirs").await;

    // From the beginning (Last-Event-ID 0): only acme's pauses.
    let mut pauses = EventStream::open(&app, "?types=AgentPaused", &app.api_key, Some(0))
        .await
        .expect("opens");
    let events = pauses.next_events(2).await;
    let subjects: Vec<&str> = events
        .iter()
        .map(|(_, e)| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [format!("agent/{}", one.id), format!("agent/{}", two.id)]
    );
    // Nothing else matched before the next pause.
    app.command_ok(one.id, "pause", &json!({})).await;
    let (_, next) = &pauses.next_events(1).await[0];
    assert_eq!(next["subject"], format!("agent/{}", one.id));
    assert_eq!(next["sequence"], 4);

    // One aggregate: all of agent two's events, and nothing of agent one.
    let query = format!("?aggregate_type=agent&aggregate_id={}", two.id);
    let mut only_two = EventStream::open(&app, &query, &app.api_key, Some(0))
        .await
        .expect("opens");
    let events = only_two.next_events(2).await;
    assert_eq!(
        types(&events),
        [
            "agentos.agent.AgentCreated.v1",
            "agentos.agent.AgentPaused.v2"
        ]
    );
    app.command_ok(one.id, "resume", &json!({})).await;
    app.command_ok(two.id, "resume", &json!({})).await;
    let (_, next) = &only_two.next_events(1).await[0];
    assert_eq!(next["subject"], format!("agent/{}", two.id));
    assert_eq!(next["type"], "agentos.agent.AgentResumed.v1");

    // Another tenant replaying everything sees only its own.
    let mut theirs = EventStream::open(&app, "?aggregate_type=agent", &globex.api_key, Some(0))
        .await
        .expect("opens");
    let (_, event) = &theirs.next_events(1).await[0];
    assert_eq!(event["tenantid"], globex.tenant_id.to_string());
    app.agent_as(&globex.api_key, "theirs too").await;
    let (_, event) = &theirs.next_events(1).await[0];
    assert_eq!(event["tenantid"], globex.tenant_id.to_string());
    assert_eq!(event["data"]["config"]["name"], "theirs too");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_stream_sends_heartbeat_comments() {
    let app = spawn_app().await;
    published_everything(&app).await;
    let mut stream = EventStream::open(&app, "", &app.api_key, None)
        .await
        .expect("opens");
    assert_eq!(
        stream.next_frame().await,
        Frame::Comment("heartbeat".to_owned())
    );
    assert_eq!(
        stream.next_frame().await,
        Frame::Comment("heartbeat".to_owned())
    );
    // Events still come after heartbeats.
    app.an_agent("late").await;
    let (_, event) = &stream.next_events(1).await[0];
    assert_eq!(event["type"], "agentos.agent.AgentCreated.v1");
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_422s_naming_them_and_access_needs_audit_read() {
    let app = spawn_app().await;
    let cases: [(&str, Option<&str>, &str); 7] = [
        ("?types=AgentCreated,Nope", None, "types"),
        ("?types=", None, "types"),
        ("?aggregate_type=Agent", None, "aggregate_type"),
        ("?aggregate_id=not-a-uuid", None, "aggregate_id"),
        ("?since=3", None, "since"),
        ("", Some("abc"), "Last-Event-ID"),
        ("", Some("-1"), "Last-Event-ID"),
    ];
    for (query, last_event_id, field) in cases {
        let mut headers = vec![];
        if let Some(id) = last_event_id {
            headers.push(("last-event-id", id));
        }
        app.get(&format!("/v1/events/stream{query}"), &headers)
            .await
            .assert_invalid(field);
    }
    app.get("/v1/events/stream", &[("authorization", "")])
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let (_, reader) = issue(&app, &["agents:read"]).await;
    let refused = EventStream::open(&app, "", &reader, None)
        .await
        .err()
        .expect("refused");
    refused.assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    assert!(refused.detail().contains("audit:read"), "{}", refused.text);
    let (_, auditor) = issue(&app, &["audit:read"]).await;
    published_everything(&app).await;
    let mut stream = eventually("the auditor's key to work", async || {
        EventStream::open(&app, "", &auditor, None).await.ok()
    })
    .await;
    assert!(matches!(stream.next_frame().await, Frame::Comment(_)));
    app.stop().await;
}
