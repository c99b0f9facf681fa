//! Memories over both APIs: recording, revising and forgetting (crypto-shredding), reads,
//! history, recall, tenant isolation and bad input.

mod bad_input;
mod bad_queries;
mod commands;
mod contract;
mod forgetting;
mod isolation;
mod recall;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Accepted, Reply, TestApp};

/// The run that caused the sample memories.
pub const RUN: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00c1);

/// A valid record body holding `content`, written by step 3 of [`RUN`].
pub fn memory_body(content: &str) -> Value {
    json!({
        "kind": "semantic",
        "content": content,
        "tags": ["billing"],
        "importance": 0.5,
        "source": {"run_id": RUN, "step": 3, "tool_call_id": "call_1"},
    })
}

impl TestApp {
    /// `POST /v1/agents/{agent}/memories` with `body`.
    pub async fn record_memory(&self, agent: Uuid, body: &Value) -> Reply {
        self.post(&format!("/v1/agents/{agent}/memories"), body, &[])
            .await
    }

    /// Records `content` for `agent`; fails the test unless it is accepted.
    pub async fn a_memory(&self, agent: Uuid, content: &str) -> Accepted {
        self.record_memory(agent, &memory_body(content))
            .await
            .accepted(StatusCode::CREATED)
    }

    /// `POST /v1/memories/{id}/{action}` with `body`.
    pub async fn memory_command(&self, id: Uuid, action: &str, body: &Value) -> Reply {
        self.post(&format!("/v1/memories/{id}/{action}"), body, &[])
            .await
    }

    /// GETs `path` once the read model holds the write behind `token`; asserts a 200.
    pub async fn read_after(&self, path: &str, token: &str) -> Reply {
        let reply = self.get(path, &[("x-consistency-token", token)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        reply
    }
}

/// The ids of a list or search reply's items, in order.
pub fn item_ids(reply: &Reply) -> Vec<Uuid> {
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("id")
        })
        .collect()
}
