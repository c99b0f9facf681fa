//! The chat-completions wire format: the request body built from a run's conversation, and
//! the answer read back into a reply.

use domain::run::{Message, ModelUsage, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::provider::{ModelReply, ModelRequest, ReplyToolCall};

/// The request body.
#[derive(Debug, Serialize)]
pub(super) struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<Value>,
    temperature: f64,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
}

impl<'a> ChatRequest<'a> {
    /// The body asking `model` to answer `request`.
    pub(super) fn of(request: &'a ModelRequest, model: &'a str) -> Self {
        let system = (!request.system_prompt.is_empty())
            .then(|| json!({"role": "system", "content": request.system_prompt}));
        let messages = system
            .into_iter()
            .chain(request.messages.iter().map(message))
            .collect();
        let tools = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.function_name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    }
                })
            })
            .collect();
        Self {
            model,
            messages,
            temperature: request.model.temperature,
            max_tokens: request.model.max_output_tokens,
            tools,
        }
    }
}

/// One message of the conversation as the protocol writes it.
fn message(message: &Message) -> Value {
    match message.role {
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": message.content,
        }),
        Role::Assistant if !message.tool_calls.is_empty() => {
            let calls: Vec<Value> = message
                .tool_calls
                .iter()
                .map(|call| {
                    json!({
                        "id": call.tool_call_id,
                        "type": "function",
                        "function": {"name": call.tool_name, "arguments": call.arguments.to_string()},
                    })
                })
                .collect();
            let content = (!message.content.is_empty()).then_some(&message.content);
            json!({"role": "assistant", "content": content, "tool_calls": calls})
        }
        role => json!({"role": role.as_str(), "content": message.content}),
    }
}

#[derive(Debug, Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Debug, Deserialize)]
struct AnswerMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<AnswerToolCall>,
}

#[derive(Debug, Deserialize)]
struct AnswerToolCall {
    id: String,
    function: AnswerFunction,
}

#[derive(Debug, Deserialize)]
struct AnswerFunction {
    name: String,
    /// The arguments as a JSON text.
    #[serde(default)]
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// The reply in a 2xx answer's body.
pub(super) fn reply(body: &str) -> Result<ModelReply, String> {
    let response: ChatResponse = serde_json::from_str(body)
        .map_err(|err| format!("the model's answer is not a chat completion: {err}"))?;
    let Some(choice) = response.choices.into_iter().next() else {
        return Err("the model's answer holds no choice".to_owned());
    };
    let tool_calls = choice
        .message
        .tool_calls
        .into_iter()
        .map(|call| {
            let text = call.function.arguments.trim();
            let arguments = if text.is_empty() {
                json!({})
            } else {
                serde_json::from_str(text).map_err(|err| {
                    format!("the arguments of tool call {} are not JSON: {err}", call.id)
                })?
            };
            Ok(ReplyToolCall {
                id: call.id,
                name: call.function.name,
                arguments,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let usage = response
        .usage
        .map_or_else(ModelUsage::default, |usage| ModelUsage {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
        });
    Ok(ModelReply {
        content: choice.message.content.unwrap_or_default(),
        tool_calls,
        usage,
    })
}

#[cfg(test)]
mod tests {
    use domain::agent::ModelConfig;
    use domain::run::ToolCallRequest;
    use uuid::Uuid;

    use super::*;
    use crate::ToolSpec;

    #[test]
    fn writes_the_conversation_with_tool_calls_and_results_and_offers_the_tools() {
        let request = ModelRequest {
            model: ModelConfig {
                provider: "openai".into(),
                name: "gpt-test".into(),
                temperature: 0.5,
                max_output_tokens: 300,
            },
            system_prompt: "Be brief.".into(),
            messages: vec![
                Message::text(Role::User, "Weather?"),
                Message {
                    role: Role::Assistant,
                    content: String::new(),
                    tool_call_id: None,
                    tool_calls: vec![ToolCallRequest {
                        tool_call_id: "c1".into(),
                        tool_id: Uuid::from_u128(1),
                        tool_name: "weather".into(),
                        arguments: json!({"city": "Oslo"}),
                    }],
                },
                Message::tool_output("c1", &json!({"temperature_c": 21.5})),
            ],
            tools: vec![ToolSpec {
                tool_id: Uuid::from_u128(1),
                name: "weather".into(),
                function_name: "weather".into(),
                description: "Forecasts".into(),
                parameters: json!({"type": "object"}),
            }],
            turn: 1,
        };
        let body = serde_json::to_value(ChatRequest::of(&request, "gpt-test")).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-test",
                "temperature": 0.5,
                "max_tokens": 300,
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Weather?"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c1", "type": "function",
                         "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "c1", "content": "{\"temperature_c\":21.5}"}
                ],
                "tools": [{"type": "function", "function": {
                    "name": "weather", "description": "Forecasts", "parameters": {"type": "object"}
                }}]
            })
        );
    }

    #[test]
    fn reads_text_tool_calls_and_usage() {
        let body = json!({
            "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c9", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
        });
        let reply = reply(&body.to_string()).unwrap();
        assert_eq!(reply.content, "");
        assert_eq!(reply.tool_calls[0].arguments, json!({"city": "Oslo"}));
        assert_eq!(reply.usage.input_tokens, 12);
        assert_eq!(reply.usage.output_tokens, 7);
    }

    #[test]
    fn refuses_answers_without_a_choice_or_with_arguments_that_are_not_json() {
        assert!(
            reply(r#"{"choices": []}"#)
                .unwrap_err()
                .contains("no choice")
        );
        let bad = json!({"choices": [{"message": {"tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{oops"}}
        ]}}]});
        assert!(reply(&bad.to_string()).unwrap_err().contains("not JSON"));
        assert!(
            reply("<html>")
                .unwrap_err()
                .contains("not a chat completion")
        );
    }
}
