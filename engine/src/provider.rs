//! Language models behind one trait: an OpenAI-compatible chat-completions client and a
//! scripted model whose replies the agent's configuration spells out.

pub mod openai;
pub mod scripted;

use std::sync::Arc;

use domain::agent::ModelConfig;
use domain::run::{Message, ModelUsage};
use serde_json::Value;
use uuid::Uuid;

pub use openai::{OpenAiCompatible, OpenAiConfig};
pub use scripted::Scripted;

/// One tool the model may call, as it is offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub tool_id: Uuid,
    /// The tool's registered name, such as `memory.record`.
    pub name: String,
    /// The name the model calls it by: the registered name with every character a
    /// function name may not hold (`[a-zA-Z0-9_-]`, at most 64) replaced by `_`.
    pub function_name: String,
    pub description: String,
    /// The JSON Schema of its arguments.
    pub parameters: Value,
}

/// Everything one model call sends.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    pub model: ModelConfig,
    pub system_prompt: String,
    /// The conversation, after the system prompt.
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    /// How many of the run's model calls answered before this one.
    pub turn: usize,
}

/// A tool call in the model's answer, named as the model named it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyToolCall {
    pub id: String,
    /// The function name the model used.
    pub name: String,
    pub arguments: Value,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    pub content: String,
    pub tool_calls: Vec<ReplyToolCall>,
    pub usage: ModelUsage,
}

/// Why a model call failed; the text is recorded on the failed step.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

/// A language model.
#[async_trait::async_trait]
pub trait ModelProvider: Send + Sync {
    /// Answers `request`, retrying what is worth retrying.
    async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ProviderError>;
}

/// The providers an engine knows, picked by the agent's `model.provider`.
#[derive(Clone)]
pub struct Providers {
    scripted: Arc<dyn ModelProvider>,
    openai: Option<Arc<dyn ModelProvider>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("openai", &self.openai.is_some())
            .finish_non_exhaustive()
    }
}

impl Providers {
    /// The scripted provider, and an OpenAI-compatible one when configured.
    pub fn new(openai: Option<Arc<dyn ModelProvider>>) -> Self {
        Self {
            scripted: Arc::new(Scripted),
            openai,
        }
    }

    /// The provider called `name` (`scripted` or `openai`), if this engine has it.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ModelProvider>> {
        match name {
            "scripted" => Some(&self.scripted),
            "openai" => self.openai.as_ref(),
            _ => None,
        }
    }
}

/// A rough token count of `text` (four characters a token), for estimates and for the
/// scripted model's usage.
pub fn estimate_tokens(text: &str) -> u64 {
    u64::try_from(text.chars().count().div_ceil(4)).unwrap_or(u64::MAX)
}

/// A rough token count of everything `request` sends.
pub fn estimate_input_tokens(request: &ModelRequest) -> u64 {
    // Each message costs a few tokens of framing beside its text.
    const PER_MESSAGE: u64 = 4;
    let messages = request.messages.iter().map(|message| {
        let calls: u64 = message
            .tool_calls
            .iter()
            .map(|call| {
                estimate_tokens(&call.tool_name) + estimate_tokens(&call.arguments.to_string())
            })
            .sum();
        PER_MESSAGE + estimate_tokens(&message.content) + calls
    });
    let tools = request.tools.iter().map(|tool| {
        estimate_tokens(&tool.function_name)
            + estimate_tokens(&tool.description)
            + estimate_tokens(&tool.parameters.to_string())
    });
    estimate_tokens(&request.system_prompt) + messages.chain(tools).sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_providers_by_name_and_knows_only_its_own() {
        let providers = Providers::new(None);
        assert!(providers.get("scripted").is_some());
        assert!(providers.get("openai").is_none());
        assert!(providers.get("anthropic").is_none());
        let with_openai = Providers::new(Some(Arc::new(Scripted)));
        assert!(with_openai.get("openai").is_some());
    }

    #[test]
    fn estimates_four_characters_a_token_rounding_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("ø"), 1);
    }
}
