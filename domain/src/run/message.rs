//! The conversation a run holds: messages, the tool calls a model asks for, token usage,
//! and the facts about the agent a run starts with.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::agent::{AgentStatus, ModelConfig};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person or system the agent works for.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call, answering one of the model's requests.
    Tool,
}

impl Role {
    /// The role as it appears in JSON, such as `assistant`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

/// One message of a run's conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text, at most 100,000 characters; tab and line breaks are its only control
    /// characters. Only an assistant message with tool calls or a tool result may be empty.
    pub content: String,
    /// For a tool result (and only then): the id of the tool call it answers.
    pub tool_call_id: Option<String>,
    /// For an assistant message (and only then): the tools the model asks to call.
    #[serde(default)]
    pub tool_calls: Vec<ToolCallRequest>,
}

impl Message {
    /// A message of `role` holding only `content`.
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_call_id: None,
            tool_calls: Vec::new(),
        }
    }

    /// The tool result the model sees after a call succeeded: a JSON string output as it
    /// is, any other output as compact JSON.
    pub fn tool_output(tool_call_id: &str, output: &Value) -> Self {
        let content = match output {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        Self::tool_result(tool_call_id, content)
    }

    /// The tool result the model sees after a call failed: `{"error": "<error>"}`.
    pub fn tool_error(tool_call_id: &str, error: &str) -> Self {
        Self::tool_result(tool_call_id, json!({ "error": error }).to_string())
    }

    /// The tool result the model sees after a person rejected the call: an error that says
    /// so, with the approver's reason when one was given (but never the approver's name).
    pub fn tool_rejection(tool_call_id: &str, reason: Option<&str>) -> Self {
        let mut body = json!({ "error": "the tool call was rejected by a reviewer" });
        if let Some(reason) = reason {
            body["reason"] = Value::String(reason.to_owned());
        }
        Self::tool_result(tool_call_id, body.to_string())
    }

    fn tool_result(tool_call_id: &str, content: String) -> Self {
        Self {
            role: Role::Tool,
            content,
            tool_call_id: Some(tool_call_id.to_owned()),
            tool_calls: Vec::new(),
        }
    }
}

/// A tool call the model asked for in an assistant message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRequest {
    /// The model's id for the call: 1 to 128 printable ASCII characters without spaces,
    /// unique within its message.
    pub tool_call_id: String,
    /// The tool, one of the agent's tools (mapped from the name by the engine).
    pub tool_id: Uuid,
    /// The tool's name as the model used it; 1 to 128 characters, no control characters.
    pub tool_name: String,
    /// The arguments the model chose; at most 100,000 characters as compact JSON.
    pub arguments: Value,
}

/// Tokens one model call consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModelUsage {
    /// Tokens sent to the model.
    pub input_tokens: u64,
    /// Tokens the model generated.
    pub output_tokens: u64,
}

impl ModelUsage {
    /// The sum of two usages, saturating rather than overflowing.
    pub fn plus(self, other: Self) -> Self {
        Self {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
        }
    }
}

/// What the service looked up about the agent when a run is started; the run keeps the
/// configuration so that it runs on exactly that version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentFacts {
    /// The agent's status; only an active agent can start a run.
    pub status: AgentStatus,
    /// The configuration version the run uses.
    pub config_version: u32,
    /// The model the run calls.
    pub model: ModelConfig,
    /// The instructions sent before the conversation on every model call.
    pub system_prompt: String,
    /// The tools the model may call in this run.
    pub tool_ids: Vec<Uuid>,
}
