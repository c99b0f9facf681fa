//! A Server-Sent Events client for tests: reads frames off a streaming response.

use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde_json::Value;

use crate::helpers::{PATIENCE, Reply, TestApp, bearer, send};

/// One SSE frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// An event: its `id` (the stream sequence) and its `data` (a CloudEvent).
    Event { id: u64, data: Value },
    /// A comment line (`:heartbeat`).
    Comment(String),
}

/// An open `GET /v1/events/stream`.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// Opens the stream with `query` (such as `?types=AgentCreated`) as `api_key`,
    /// resuming after `last_event_id`; the error reply when it is refused.
    pub async fn open(
        app: &TestApp,
        query: &str,
        api_key: &str,
        last_event_id: Option<u64>,
    ) -> Result<Self, Reply> {
        let mut request = app
            .client
            .get(format!("{}/v1/events/stream{query}", app.query_url))
            .header(AUTHORIZATION, bearer(api_key));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request
            .try_clone()
            .expect("clonable")
            .send()
            .await
            .expect("send");
        if response.status() != StatusCode::OK {
            return Err(send(request).await);
        }
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Ok(Self {
            response,
            buffer: String::new(),
        })
    }

    /// The next frame; fails the test when none comes within the patience.
    pub async fn next_frame(&mut self) -> Frame {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                return parse(&frame);
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("a frame within the patience")
                .expect("read the stream")
                .expect("the stream stays open");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next `count` events, skipping heartbeats.
    pub async fn next_events(&mut self, count: usize) -> Vec<(u64, Value)> {
        let mut events = Vec::with_capacity(count);
        while events.len() < count {
            if let Frame::Event { id, data } = self.next_frame().await {
                events.push((id, data));
            }
        }
        events
    }
}

fn parse(frame: &str) -> Frame {
    let mut id = None;
    let mut data = String::new();
    for line in frame.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            return Frame::Comment(comment.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("id:") {
            id = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    Frame::Event {
        id: id.expect("every event has an id"),
        data: serde_json::from_str(&data).expect("the data is JSON"),
    }
}
