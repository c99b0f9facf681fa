//! Recording a memory, as both the command API and the `memory.record` builtin tool do
//! it: the agent must be the tenant's and not archived, and the content is sealed with a
//! new data key stored in the same transaction as the event.

use domain::agent::{Agent, AgentError, AgentStatus};
use domain::memory::{Memory, MemoryCommand, MemoryError, MemoryKind, MemorySource};
use uuid::Uuid;

use crate::sealing::{DataKey, memory_binding};
use crate::{CommandBus, CommandContext, CommandError, CommandReceipt};

/// What a new memory says, before it is sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory {
    pub agent_id: Uuid,
    pub kind: MemoryKind,
    pub content: String,
    pub tags: Vec<String>,
    pub importance: f64,
    pub source: MemorySource,
}

/// Why a memory was not recorded: its agent, or the memory itself.
#[derive(Debug, thiserror::Error)]
pub enum MemoryWriteError {
    #[error(transparent)]
    Agent(CommandError<AgentError>),
    #[error(transparent)]
    Memory(CommandError<MemoryError>),
}

/// Records `memory` as `memory_id` (a fresh id, or one derived from what caused it) in
/// `context`'s tenant.
pub async fn record_memory(
    agents: &CommandBus<Agent>,
    memories: &CommandBus<Memory>,
    context: &CommandContext,
    memory_id: Uuid,
    memory: NewMemory,
) -> Result<CommandReceipt, MemoryWriteError> {
    check_agent_accepts_memories(agents, context.tenant_id, memory.agent_id)
        .await
        .map_err(MemoryWriteError::Agent)?;
    let key = DataKey::generate();
    let command = MemoryCommand::RecordMemory {
        tenant_id: context.tenant_id,
        memory_id,
        agent_id: memory.agent_id,
        kind: memory.kind,
        sealed: key.seal(&memory_binding(memory_id, 1), &memory.content),
        content: memory.content,
        tags: memory.tags,
        importance: memory.importance,
        source: memory.source,
        now: context.occurred_at,
    };
    memories
        .create(&memory_id.to_string(), command, context, vec![key.put()])
        .await
        .map_err(MemoryWriteError::Memory)
}

/// Memories belong to an agent of the caller's tenant that is not archived; another
/// tenant's agent is reported like a missing one.
async fn check_agent_accepts_memories(
    agents: &CommandBus<Agent>,
    tenant_id: Uuid,
    agent_id: Uuid,
) -> Result<(), CommandError<AgentError>> {
    let (agent, _) = agents.load(&agent_id.to_string()).await?;
    let rejection = match (agent.tenant_id(), agent.status()) {
        (Some(owner), Some(AgentStatus::Archived)) if owner == tenant_id => {
            AgentError::InvalidTransition {
                action: "record memories for",
                status: AgentStatus::Archived,
            }
        }
        (Some(owner), Some(_)) if owner == tenant_id => return Ok(()),
        _ => AgentError::NotFound,
    };
    Err(CommandError::Rejected(rejection))
}
