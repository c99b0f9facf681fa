//! A run's events as Server-Sent Events: live, resumed after `Last-Event-ID`, kept alive
//! while the run waits, ended once it stops.

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::cautious_agent;
use crate::helpers::{PATIENCE, TestApp, bearer, spawn_app};
use crate::tooling::Receiver;

/// One frame of an event stream: an event, or a comment.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Event { id: u64, kind: String, data: Value },
    Comment(String),
}

/// An open event stream.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(app: &TestApp, run: Uuid, last_event_id: Option<u64>) -> Self {
        let mut request = app
            .client
            .get(format!("{}/v1/runs/{run}/events", app.query_url))
            .header("authorization", bearer(&app.api_key));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("open the stream");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some("text/event-stream")
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` once the server ended the stream.
    async fn next(&mut self) -> Option<Frame> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .expect("a frame within the patience")
                .expect("read the stream")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Every event until the stream ends (comments skipped).
    async fn events_to_end(&mut self) -> Vec<(u64, String, Value)> {
        let deadline = Instant::now() + PATIENCE;
        let mut events = Vec::new();
        while let Some(frame) = self.next().await {
            assert!(
                Instant::now() < deadline,
                "the stream did not end: {events:?}"
            );
            if let Frame::Event { id, kind, data } = frame {
                events.push((id, kind, data));
            }
        }
        events
    }
}

fn parse(block: &str) -> Frame {
    let (mut id, mut kind, mut data) = (0, String::new(), String::new());
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            return Frame::Comment(comment.trim().to_owned());
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = value.parse().expect("numeric id"),
            "event" => kind = value.to_owned(),
            "data" => data.push_str(value),
            _ => {}
        }
    }
    Frame::Event {
        id,
        kind,
        data: serde_json::from_str(&data).expect("JSON data"),
    }
}

fn kinds(events: &[(u64, String, Value)]) -> Vec<&str> {
    events.iter().map(|(_, kind, _)| kind.as_str()).collect()
}

#[tokio::test]
async fn a_runs_events_stream_to_its_end_and_resume_after_the_last_event_seen() {
    let app = spawn_app().await;
    let agent = app.a_scripted_agent(&[], json!([{"text": "Hello."}])).await;
    let run = app.a_run(agent, "Hi").await;
    app.finished_run(run.id).await;

    let all = EventStream::open(&app, run.id, None)
        .await
        .events_to_end()
        .await;
    assert_eq!(
        kinds(&all),
        [
            "RunStarted",
            "RunLeaseAcquired",
            "ModelCallStarted",
            "ModelCallCompleted",
            "RunCompleted"
        ]
    );
    assert!(
        all.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "ids grow: {all:?}"
    );
    for (_, kind, data) in &all {
        assert_eq!(data["aggregateid"], json!(run.id));
        assert_eq!(data["type"], format!("agentos.run.{kind}.v1"));
    }

    let resumed = EventStream::open(&app, run.id, Some(all[1].0))
        .await
        .events_to_end()
        .await;
    assert_eq!(resumed, all[2..]);
    app.stop().await;
}

#[tokio::test]
async fn a_waiting_runs_stream_stays_alive_and_follows_the_run_to_its_end() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let mail = app.a_receiver_tool("mail", &receiver, "/ok").await;
    let agent = cautious_agent(&app, mail, "mail", "Sent.").await;
    let run = app.a_run(agent, "Mail").await;

    let mut stream = EventStream::open(&app, run.id, None).await;
    let mut seen = Vec::new();
    // Events until the run waits for approval, then a keep-alive comment while it waits.
    loop {
        match stream.next().await.expect("the stream stays open") {
            Frame::Event { kind, .. } => seen.push(kind),
            Frame::Comment(text) if seen.iter().any(|k| k == "RunLeaseReleased") => {
                assert_eq!(text, query_api::events::HEARTBEAT);
                break;
            }
            Frame::Comment(_) => {}
        }
    }
    assert!(seen.contains(&"ToolCallRequested".to_owned()), "{seen:?}");
    app.run_command(
        run.id,
        "approve",
        &json!({"tool_call_id": "call_0_0", "approved": true}),
    )
    .await
    .accepted(StatusCode::OK);
    let rest = stream.events_to_end().await;
    let rest = kinds(&rest);
    assert_eq!(rest.first(), Some(&"ToolCallApproved"), "{rest:?}");
    assert_eq!(rest.last(), Some(&"RunCompleted"), "{rest:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_stream_needs_runs_read_the_tenants_run_and_a_real_event_id() {
    let app = spawn_app().await;
    let agent = app.a_scripted_agent(&[], json!([{"text": "Hello."}])).await;
    let run = app.a_run(agent, "Hi").await;
    let path = format!("/v1/runs/{}/events", run.id);
    let writer = app.key_with_scopes(&["runs:write"]).await;
    app.get(&path, &[("authorization", &writer.authorization)])
        .await
        .assert_problem(StatusCode::FORBIDDEN, "missing-scope");
    let stranger = bearer(&app.another_tenant("globex").await.api_key);
    app.get(&path, &[("authorization", &stranger)])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/runs/{}/events", Uuid::now_v7()), &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&path, &[("last-event-id", "yesterday")])
        .await
        .assert_invalid("Last-Event-ID");
    let events = EventStream::open(&app, run.id, None)
        .await
        .events_to_end()
        .await;
    assert_eq!(
        events.last().map(|(_, kind, _)| kind.as_str()),
        Some("RunCompleted")
    );
    app.stop().await;
}
