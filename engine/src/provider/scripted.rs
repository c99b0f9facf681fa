//! The scripted model, for demos and deterministic tests: its replies are written in the
//! agent's system prompt as JSON, and it answers each model call of a run with the reply
//! at that call's turn.
//!
//! ```json
//! {"script": [
//!   {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]},
//!   {"text": "It is 21.5 °C in Oslo."}
//! ]}
//! ```
//!
//! Reply `n` (from 0) answers the run's model call that follows `n` answered ones. A reply
//! holds `text`, `tool_calls` (each naming a tool by its registered or function name), or
//! both; a reply without tool calls ends the run's turn. Tool call ids are
//! `call_<turn>_<index>`, and usage counts four characters a token.
//!
//! A scripted model named `echo` needs no script: it answers with the last user message.

use domain::run::ModelUsage;
use serde::Deserialize;
use serde_json::Value;

use super::{
    ModelProvider, ModelReply, ModelRequest, ProviderError, ReplyToolCall, estimate_input_tokens,
    estimate_tokens,
};

/// The scripted model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scripted;

/// The model name of the scripted model that echoes instead of following a script.
pub const ECHO: &str = "echo";

/// The last user message, as the answer.
fn echo(request: &ModelRequest) -> ModelReply {
    let said = request
        .messages
        .iter()
        .rev()
        .find(|message| message.role == domain::run::Role::User)
        .map_or("(nothing to echo)", |message| message.content.as_str());
    ModelReply {
        content: said.to_owned(),
        tool_calls: Vec::new(),
        usage: ModelUsage {
            input_tokens: estimate_input_tokens(request),
            output_tokens: estimate_tokens(said).max(1),
        },
    }
}

/// The system prompt of a scripted agent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    script: Vec<ScriptedReply>,
}

/// One reply of the script.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptedReply {
    #[serde(default)]
    text: String,
    #[serde(default)]
    tool_calls: Vec<ScriptedToolCall>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptedToolCall {
    name: String,
    #[serde(default = "empty_arguments")]
    arguments: Value,
}

fn empty_arguments() -> Value {
    Value::Object(serde_json::Map::new())
}

#[async_trait::async_trait]
impl ModelProvider for Scripted {
    async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ProviderError> {
        if request.model.name == ECHO {
            return Ok(echo(request));
        }
        let script: Script = serde_json::from_str(&request.system_prompt).map_err(|err| {
            ProviderError(format!(
                "the scripted model reads its replies from the system prompt, which is not a script: {err}"
            ))
        })?;
        let reply = script.script.get(request.turn).ok_or_else(|| {
            ProviderError(format!(
                "the script has {} replies and none for turn {}",
                script.script.len(),
                request.turn
            ))
        })?;
        let tool_calls = reply
            .tool_calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                let name = request
                    .tools
                    .iter()
                    .find(|tool| tool.name == call.name)
                    .map_or_else(|| call.name.clone(), |tool| tool.function_name.clone());
                ReplyToolCall {
                    id: format!("call_{}_{index}", request.turn),
                    name,
                    arguments: call.arguments.clone(),
                }
            })
            .collect::<Vec<_>>();
        let generated: u64 = estimate_tokens(&reply.text)
            + tool_calls
                .iter()
                .map(|call| {
                    estimate_tokens(&call.name) + estimate_tokens(&call.arguments.to_string())
                })
                .sum::<u64>();
        Ok(ModelReply {
            content: reply.text.clone(),
            tool_calls,
            usage: ModelUsage {
                input_tokens: estimate_input_tokens(request),
                output_tokens: generated.max(1),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use domain::agent::ModelConfig;
    use domain::run::{Message, Role};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::ToolSpec;

    fn request(script: Value, turn: usize) -> ModelRequest {
        ModelRequest {
            model: ModelConfig {
                provider: "scripted".into(),
                name: "demo".into(),
                temperature: 0.0,
                max_output_tokens: 100,
            },
            system_prompt: script.to_string(),
            messages: vec![Message::text(Role::User, "What is the weather in Oslo?")],
            tools: vec![ToolSpec {
                tool_id: Uuid::from_u128(1),
                name: "memory.record".into(),
                function_name: "memory_record".into(),
                description: String::new(),
                parameters: json!({"type": "object"}),
            }],
            turn,
        }
    }

    fn script() -> Value {
        json!({"script": [
            {"tool_calls": [{"name": "memory.record", "arguments": {"content": "x"}}, {"name": "weather"}]},
            {"text": "Done."}
        ]})
    }

    #[tokio::test]
    async fn answers_each_turn_with_its_reply() {
        let first = Scripted.complete(&request(script(), 0)).await.unwrap();
        assert_eq!(first.content, "");
        assert_eq!(
            first.tool_calls,
            [
                ReplyToolCall {
                    id: "call_0_0".into(),
                    name: "memory_record".into(),
                    arguments: json!({"content": "x"}),
                },
                ReplyToolCall {
                    id: "call_0_1".into(),
                    name: "weather".into(),
                    arguments: json!({}),
                },
            ]
        );
        let second = Scripted.complete(&request(script(), 1)).await.unwrap();
        assert_eq!(second.content, "Done.");
        assert!(second.tool_calls.is_empty());
        assert!(second.usage.input_tokens > 0 && second.usage.output_tokens > 0);
    }

    #[tokio::test]
    async fn the_echo_model_answers_with_the_last_user_message_without_a_script() {
        let mut request = request(json!("Be brief."), 0);
        request.model.name = ECHO.into();
        let reply = Scripted.complete(&request).await.unwrap();
        assert_eq!(reply.content, "What is the weather in Oslo?");
        assert!(reply.tool_calls.is_empty());
    }

    #[tokio::test]
    async fn the_same_turn_gets_the_same_reply() {
        let once = Scripted.complete(&request(script(), 0)).await.unwrap();
        let again = Scripted.complete(&request(script(), 0)).await.unwrap();
        assert_eq!(once, again);
    }

    #[tokio::test]
    async fn a_turn_past_the_script_or_a_prompt_that_is_no_script_fails() {
        let past = Scripted.complete(&request(script(), 2)).await.unwrap_err();
        assert!(past.0.contains("none for turn 2"), "{past}");
        let prose = Scripted
            .complete(&request(json!("You are helpful."), 0))
            .await
            .unwrap_err();
        assert!(prose.0.contains("not a script"), "{prose}");
    }
}
