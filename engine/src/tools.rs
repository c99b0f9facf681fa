//! The tools a run offers its model, the names the model calls them by, which calls need a
//! person's approval, and the model's answer as the assistant message the run records.

use std::collections::{BTreeMap, HashSet};

use domain::run::{Message, Role, ToolCallRequest};
use domain::tool::{Tool, ToolStatus};

use crate::provider::{ModelReply, ToolSpec};

/// The agent metadata key listing the tools whose calls wait for a person's approval:
/// registered tool names separated by commas, or `*` for every tool.
pub const APPROVAL_METADATA_KEY: &str = "approval_required_tools";

/// The longest function name chat-completions servers accept.
const MAX_FUNCTION_NAME_CHARS: usize = 64;

/// The tools of `tools` the model may call (every one not disabled, in order), each with a
/// function name of its own.
pub fn specs(tools: &[Tool]) -> Vec<ToolSpec> {
    let mut taken = HashSet::new();
    tools
        .iter()
        .filter(|tool| {
            tool.status()
                .is_some_and(|status| status != ToolStatus::Disabled)
        })
        .filter_map(|tool| {
            let (id, name, latest) = (tool.id()?, tool.name()?, tool.latest()?);
            Some(ToolSpec {
                tool_id: id,
                name: name.to_owned(),
                function_name: unique(function_name(name), &mut taken),
                description: latest.description.clone(),
                parameters: latest.input_schema.clone(),
            })
        })
        .collect()
}

/// `name` with every character a function name may not hold replaced by `_`, cut to 64.
pub fn function_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_FUNCTION_NAME_CHARS)
        .collect();
    if cleaned.is_empty() {
        "tool".to_owned()
    } else {
        cleaned
    }
}

/// `name`, or `name_2`, `name_3`... when taken already.
fn unique(name: String, taken: &mut HashSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        let suffix = format!("_{n}");
        let keep = MAX_FUNCTION_NAME_CHARS - suffix.len();
        candidate = format!("{}{suffix}", name.chars().take(keep).collect::<String>());
        n += 1;
    }
    candidate
}

/// The model's answer as the assistant message a run records: each tool call mapped to
/// the tool it names. A call of a tool the run does not offer is refused.
pub fn answer_message(reply: &ModelReply, tools: &[ToolSpec]) -> Result<Message, String> {
    let tool_calls = reply
        .tool_calls
        .iter()
        .map(|call| {
            let tool = tools
                .iter()
                .find(|tool| tool.function_name == call.name)
                .ok_or_else(|| {
                    format!(
                        "the model called `{}`, which is not one of the run's tools",
                        call.name
                    )
                })?;
            Ok(ToolCallRequest {
                tool_call_id: call.id.clone(),
                tool_id: tool.tool_id,
                tool_name: call.name.clone(),
                arguments: call.arguments.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Message {
        role: Role::Assistant,
        content: reply.content.clone(),
        tool_call_id: None,
        tool_calls,
    })
}

/// The ids of the tool calls in `answer` that need approval under the agent's `metadata`.
pub fn approvals_required(
    answer: &Message,
    tools: &[ToolSpec],
    metadata: &BTreeMap<String, String>,
) -> Vec<String> {
    let Some(policy) = metadata.get(APPROVAL_METADATA_KEY) else {
        return Vec::new();
    };
    let listed: Vec<&str> = policy.split(',').map(str::trim).collect();
    answer
        .tool_calls
        .iter()
        .filter(|call| {
            let name = tools
                .iter()
                .find(|tool| tool.tool_id == call.tool_id)
                .map_or(call.tool_name.as_str(), |tool| tool.name.as_str());
            listed.contains(&"*") || listed.contains(&name)
        })
        .map(|call| call.tool_call_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use domain::run::ModelUsage;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::provider::ReplyToolCall;

    fn spec(id: u128, name: &str) -> ToolSpec {
        ToolSpec {
            tool_id: Uuid::from_u128(id),
            name: name.into(),
            function_name: function_name(name),
            description: String::new(),
            parameters: json!({"type": "object"}),
        }
    }

    fn reply(names: &[&str]) -> ModelReply {
        ModelReply {
            content: String::new(),
            tool_calls: names
                .iter()
                .enumerate()
                .map(|(i, name)| ReplyToolCall {
                    id: format!("c{i}"),
                    name: (*name).into(),
                    arguments: json!({}),
                })
                .collect(),
            usage: ModelUsage::default(),
        }
    }

    #[test]
    fn function_names_hold_only_what_servers_accept() {
        assert_eq!(function_name("memory.record"), "memory_record");
        assert_eq!(function_name("Wetter in Köln"), "Wetter_in_K_ln");
        assert_eq!(function_name(&"x".repeat(80)).len(), 64);
        let mut taken = HashSet::new();
        assert_eq!(unique("a_b".into(), &mut taken), "a_b");
        assert_eq!(unique("a_b".into(), &mut taken), "a_b_2");
        assert_eq!(unique("a_b".into(), &mut taken), "a_b_3");
    }

    #[test]
    fn maps_each_call_to_the_tool_it_names_and_refuses_unknown_tools() {
        let tools = [spec(1, "weather"), spec(2, "memory.record")];
        let answer = answer_message(&reply(&["memory_record", "weather"]), &tools).unwrap();
        let ids: Vec<Uuid> = answer.tool_calls.iter().map(|c| c.tool_id).collect();
        assert_eq!(ids, [Uuid::from_u128(2), Uuid::from_u128(1)]);
        let unknown = answer_message(&reply(&["mail"]), &tools).unwrap_err();
        assert!(unknown.contains("`mail`"), "{unknown}");
    }

    #[test]
    fn asks_approval_for_the_tools_the_agent_lists() {
        let tools = [spec(1, "weather"), spec(2, "mail.send")];
        let answer = answer_message(&reply(&["weather", "mail_send"]), &tools).unwrap();
        let policy =
            |value: &str| BTreeMap::from([(APPROVAL_METADATA_KEY.to_owned(), value.to_owned())]);
        assert_eq!(
            approvals_required(&answer, &tools, &policy("mail.send")),
            ["c1"]
        );
        assert_eq!(
            approvals_required(&answer, &tools, &policy("*")),
            ["c0", "c1"]
        );
        assert!(approvals_required(&answer, &tools, &BTreeMap::new()).is_empty());
    }
}
