//! A local webhook receiver that records every request and answers with the status the
//! test sets, and a signature check written from the Standard Webhooks specification
//! (not by calling the platform's signer).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The body as JSON (a CloudEvent).
    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// An HTTP endpoint on a free port.
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<AtomicU16>,
}

impl Receiver {
    /// Starts a receiver answering 200.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(AtomicU16::new(200));
        let (sink, status) = (received.clone(), answer.clone());
        let app = axum::Router::new().route(
            "/hooks",
            post(move |headers: HeaderMap, body: Bytes| {
                let (sink, status) = (sink.clone(), status.clone());
                async move {
                    sink.lock().expect("lock").push(Received { headers, body });
                    StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}/hooks"),
            received,
            answer,
        }
    }

    /// Answers every later request with `status`.
    pub fn answer_with(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// The `webhook-id` of every request so far, in arrival order.
    pub fn message_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect()
    }
}

/// Verifies a delivery as the specification describes it: the secret is `whsec_` and
/// base64 of the key; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`;
/// `webhook-signature` is a space-delimited list of `v1,<base64 HMAC-SHA256>`, any one
/// of which must match (compared in constant time); the timestamp must be within five
/// minutes of now.
pub fn verify(secret: &str, request: &Received) -> Result<(), String> {
    let id = request.header("webhook-id");
    let timestamp = request.header("webhook-timestamp");
    let signatures = request.header("webhook-signature");
    if id.is_empty() || timestamp.is_empty() || signatures.is_empty() {
        return Err("a webhook header is missing".to_owned());
    }
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| "timestamp is not an integer")?;
    if (chrono::Utc::now().timestamp() - sent).abs() > 5 * 60 {
        return Err(format!("timestamp {sent} is too far from now"));
    }
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("secret lacks whsec_")?)
        .map_err(|e| e.to_string())?;
    let matches = signatures.split(' ').any(|entry| {
        let Some(("v1", signature)) = entry.split_once(',') else {
            return false;
        };
        let Ok(signature) = STANDARD.decode(signature) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(&request.body);
        mac.verify_slice(&signature).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(format!("no signature of {signatures:?} matches"))
    }
}
