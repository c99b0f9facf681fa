//! The memory builtins: `memory.record` records a memory of the calling agent through the
//! memory commands, naming the run, step and tool call that caused it; `memory.search`
//! recalls the agent's memories from the search read model.

use std::time::Instant;

use chrono::Utc;
use domain::agent::Agent;
use domain::memory::{Memory, MemoryError, MemoryKind, MemorySource};
use eventstore::memory_writes::{self, MemoryWriteError, NewMemory};
use eventstore::{CommandBus, CommandContext, CommandError, RelayWaker};
use projections::memories::{self, MemorySearch};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::CallOutcome;
use crate::builtins::{BuiltinCall, BuiltinTools};

/// Who records memories for builtin calls.
const ACTOR: &str = "system:tool-executor";
/// Memory ids of builtin calls derive from the invocation id within this namespace, so a
/// call repeated after an executor crash finds the memory it recorded the first time.
const MEMORY_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d65_6d6f_7279_4000_8000_7265_636f_7264);
const DEFAULT_SEARCH_LIMIT: i64 = 5;
const MAX_SEARCH_LIMIT: i64 = 20;

/// `memory.record` arguments (the tool's input schema may say more; these are read).
#[derive(Debug, Deserialize)]
struct RecordArguments {
    content: String,
    #[serde(default = "default_kind")]
    kind: MemoryKind,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default = "default_importance")]
    importance: f64,
}

fn default_kind() -> MemoryKind {
    MemoryKind::Episodic
}

fn default_importance() -> f64 {
    0.5
}

/// `memory.search` arguments.
#[derive(Debug, Deserialize)]
struct SearchArguments {
    query: String,
    kind: Option<MemoryKind>,
    #[serde(default)]
    tags: Vec<String>,
    limit: Option<i64>,
}

/// Builtins backed by the memory commands and the memory read model.
pub struct MemoryBuiltins {
    agents: CommandBus<Agent>,
    memories: CommandBus<Memory>,
    pool: PgPool,
}

impl MemoryBuiltins {
    /// Builtins over `pool`'s store and read models, waking the relay through `waker`.
    pub fn new(pool: PgPool, waker: RelayWaker) -> Self {
        Self {
            agents: CommandBus::new(pool.clone(), (), waker.clone()),
            memories: CommandBus::new(pool.clone(), (), waker),
            pool,
        }
    }
}

/// The memory id a builtin call records under.
pub fn memory_id_of(invocation_id: Uuid) -> Uuid {
    Uuid::new_v5(&MEMORY_ID_NAMESPACE, invocation_id.as_bytes())
}

fn arguments<T: serde::de::DeserializeOwned>(call: &BuiltinCall) -> Result<T, CallOutcome> {
    serde_json::from_value(call.arguments.clone())
        .map_err(|err| CallOutcome::failed(format!("arguments: {err}"), None))
}

fn succeeded(output: Value, started: Instant) -> CallOutcome {
    CallOutcome::Succeeded {
        output,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

#[async_trait::async_trait]
impl BuiltinTools for MemoryBuiltins {
    async fn memory_record(&self, call: &BuiltinCall) -> CallOutcome {
        let started = Instant::now();
        let args: RecordArguments = match arguments(call) {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let mut context = CommandContext::new(call.tenant_id, ACTOR, Utc::now());
        if let Some(correlation_id) = call.correlation_id {
            context.correlation_id = correlation_id;
        }
        context.causation_id = call.invocation_id;
        let memory_id = memory_id_of(call.invocation_id);
        let memory = NewMemory {
            agent_id: call.agent_id,
            kind: args.kind,
            content: args.content,
            tags: args.tags,
            importance: args.importance,
            source: MemorySource {
                run_id: call.run_id,
                step: call.step,
                tool_call_id: call.tool_call_id.clone(),
            },
        };
        let recorded =
            memory_writes::record_memory(&self.agents, &self.memories, &context, memory_id, memory)
                .await;
        match recorded {
            // An earlier attempt of this very call recorded it before its executor died.
            Ok(_)
            | Err(MemoryWriteError::Memory(CommandError::Rejected(MemoryError::AlreadyExists))) => {
                succeeded(json!({"memory_id": memory_id}), started)
            }
            Err(err) => CallOutcome::failed(format!("memory.record: {err}"), None),
        }
    }

    async fn memory_search(&self, call: &BuiltinCall) -> CallOutcome {
        let started = Instant::now();
        let args: SearchArguments = match arguments(call) {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let search = MemorySearch {
            agent_id: call.agent_id,
            query: args.query,
            kind: args.kind,
            tags: args.tags,
            limit: args
                .limit
                .unwrap_or(DEFAULT_SEARCH_LIMIT)
                .clamp(1, MAX_SEARCH_LIMIT),
        };
        match memories::search_memories(&self.pool, call.tenant_id, &search).await {
            Ok(results) => {
                let hits: Vec<Value> = results
                    .items
                    .iter()
                    .map(|hit| {
                        json!({
                            "memory_id": hit.memory.id,
                            "kind": hit.memory.kind,
                            "content": hit.memory.content,
                            "tags": hit.memory.tags,
                            "importance": hit.memory.importance,
                            "score": hit.score,
                        })
                    })
                    .collect();
                succeeded(json!({ "memories": hits }), started)
            }
            Err(err) => CallOutcome::failed(format!("memory.search: {err}"), None),
        }
    }
}
