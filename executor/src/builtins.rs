//! Builtin tools: the platform's own capabilities offered to agents as tools. Each one
//! acts through the platform's commands (for memory: record and search an agent's
//! memories), so the executor reaches them through this trait, which a deployment fills.

use serde_json::Value;
use uuid::Uuid;

use crate::CallOutcome;

/// The builtin that records a memory for the calling agent.
pub const MEMORY_RECORD: &str = "memory.record";
/// The builtin that searches the calling agent's memories.
pub const MEMORY_SEARCH: &str = "memory.search";

/// One call of a builtin tool: who calls, on whose behalf, and why (memory events name
/// their cause: run, step, tool call).
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinCall {
    pub tenant_id: Uuid,
    pub invocation_id: Uuid,
    pub agent_id: Uuid,
    pub run_id: Option<Uuid>,
    pub step: Option<u32>,
    pub tool_call_id: Option<String>,
    /// The correlation id of the request that asked for the call.
    pub correlation_id: Option<Uuid>,
    /// The arguments, already checked against the tool version's input schema.
    pub arguments: Value,
}

/// The builtin tools a deployment provides.
#[async_trait::async_trait]
pub trait BuiltinTools: Send + Sync {
    /// `memory.record`: records the arguments as a memory of the calling agent.
    async fn memory_record(&self, call: &BuiltinCall) -> CallOutcome;
    /// `memory.search`: the calling agent's memories that match the arguments.
    async fn memory_search(&self, call: &BuiltinCall) -> CallOutcome;
}

/// Carries out builtin `name` through `tools`; a name no builtin answers to fails.
pub async fn call_builtin(tools: &dyn BuiltinTools, name: &str, call: &BuiltinCall) -> CallOutcome {
    match name {
        MEMORY_RECORD => tools.memory_record(call).await,
        MEMORY_SEARCH => tools.memory_search(call).await,
        other => CallOutcome::failed(format!("no builtin tool is called `{other}`"), None),
    }
}

/// The failure of a builtin this deployment does not provide.
pub fn not_available(name: &str) -> CallOutcome {
    CallOutcome::failed(
        format!("builtin `{name}` is not available in this deployment"),
        None,
    )
}

/// A deployment without builtins: every builtin call fails, saying so.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnavailableBuiltins;

#[async_trait::async_trait]
impl BuiltinTools for UnavailableBuiltins {
    async fn memory_record(&self, _call: &BuiltinCall) -> CallOutcome {
        not_available(MEMORY_RECORD)
    }

    async fn memory_search(&self, _call: &BuiltinCall) -> CallOutcome {
        not_available(MEMORY_SEARCH)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call() -> BuiltinCall {
        BuiltinCall {
            tenant_id: Uuid::from_u128(1),
            invocation_id: Uuid::from_u128(2),
            agent_id: Uuid::from_u128(3),
            run_id: None,
            step: None,
            tool_call_id: None,
            correlation_id: None,
            arguments: json!({"content": "likes tea"}),
        }
    }

    /// Answers with the builtin's name, to show which one was dispatched.
    struct Echo;

    #[async_trait::async_trait]
    impl BuiltinTools for Echo {
        async fn memory_record(&self, _call: &BuiltinCall) -> CallOutcome {
            CallOutcome::Succeeded {
                output: json!(MEMORY_RECORD),
                duration_ms: 0,
            }
        }

        async fn memory_search(&self, _call: &BuiltinCall) -> CallOutcome {
            CallOutcome::Succeeded {
                output: json!(MEMORY_SEARCH),
                duration_ms: 0,
            }
        }
    }

    #[tokio::test]
    async fn every_builtin_the_domain_allows_is_dispatched() {
        for name in domain::tool::BUILTIN_TOOLS {
            let outcome = call_builtin(&Echo, name, &call()).await;
            assert_eq!(
                outcome,
                CallOutcome::Succeeded {
                    output: json!(name),
                    duration_ms: 0
                }
            );
        }
    }

    #[tokio::test]
    async fn an_unavailable_builtin_fails_saying_so() {
        for name in domain::tool::BUILTIN_TOOLS {
            let outcome = call_builtin(&UnavailableBuiltins, name, &call()).await;
            assert_eq!(
                outcome,
                CallOutcome::Failed {
                    error: format!("builtin `{name}` is not available in this deployment"),
                    duration_ms: None
                }
            );
        }
    }

    #[tokio::test]
    async fn an_unknown_builtin_fails() {
        let outcome = call_builtin(&Echo, "memory.forget", &call()).await;
        assert_eq!(outcome.label(), "failed");
    }
}
