//! Test support: a local server that speaks the chat-completions protocol, answering each
//! request with the next of the answers it was given, and recording what it was sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How the server answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An assistant message with this text.
    Text(String),
    /// An assistant message calling function `name` with `arguments`.
    ToolCall { name: String, arguments: Value },
    /// This HTTP status with an error body.
    Status(u16),
    /// Nothing, ever.
    Hang,
    /// A text, after this pause.
    Slow(Duration),
}

/// A request the server got.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    answers: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Received>>,
}

/// A chat-completions server on a free local port.
#[derive(Clone)]
pub struct ChatServer {
    /// The base URL to configure clients with (ends in `/v1`).
    pub base_url: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ChatServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatServer")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl ChatServer {
    /// Starts a server that gives `answers` in order, then answers `"Done."` to the rest.
    pub async fn start(answers: Vec<Answer>) -> Self {
        let shared = Arc::new(Shared {
            answers: Mutex::new(answers.into()),
            received: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the chat server");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base_url: format!("http://{addr}/v1"),
            shared,
        }
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    shared.received.lock().expect("lock").push(Received {
        authorization,
        body,
    });
    let next = shared.answers.lock().expect("lock").pop_front();
    match next.unwrap_or_else(|| Answer::Text("Done.".to_owned())) {
        Answer::Text(text) => completion(json!({"role": "assistant", "content": text})),
        Answer::ToolCall { name, arguments } => completion(json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": name, "arguments": arguments.to_string()}}]
        })),
        Answer::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({"error": {"message": "scripted failure"}});
            let mut response = (status, Json(body)).into_response();
            if status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .headers_mut()
                    .insert("retry-after", "0".parse().expect("header"));
            }
            response
        }
        Answer::Hang => std::future::pending().await,
        Answer::Slow(pause) => {
            tokio::time::sleep(pause).await;
            completion(json!({"role": "assistant", "content": "Slow."}))
        }
    }
}

fn completion(message: Value) -> Response {
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
    }))
    .into_response()
}
