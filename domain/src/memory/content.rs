//! What a memory holds and where it came from: its kind, its sealed content and its source.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How an agent uses a memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Always in the agent's context, such as who it works for.
    Core,
    /// Something that happened, recalled by time and relevance.
    Episodic,
    /// A fact or piece of knowledge, recalled by meaning.
    Semantic,
}

impl MemoryKind {
    /// The kind as it appears in JSON: `core`, `episodic` or `semantic`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Episodic => "episodic",
            Self::Semantic => "semantic",
        }
    }
}

/// Which run, step and tool call caused a memory; all empty when a person wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemorySource {
    /// The run that wrote the memory.
    pub run_id: Option<Uuid>,
    /// The step of that run; only with `run_id`.
    pub step: Option<u32>,
    /// The tool call that wrote it, 1 to 128 characters, no control characters; only with `run_id`.
    pub tool_call_id: Option<String>,
}

/// A memory's content encrypted with the memory's data key; opaque to the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SealedContent {
    /// The data key that sealed it; the same for every revision of one memory.
    pub key_id: Uuid,
    /// The encryption nonce, as base64 text.
    pub nonce: String,
    /// The encrypted content, as base64 text.
    pub ciphertext: String,
}
