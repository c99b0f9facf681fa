//! A Redis hash per agent (name, status, version) for hot reads.

use domain::agent::{AGENT_AGGREGATE_TYPE, AgentEvent};
use eventstore::CloudEvent;
use serde::Serialize;
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::domain_event;
use crate::redis_model::{RedisChanges, RedisModel, RedisProjection};

/// The projection's name (consumer and checkpoint).
pub const AGENTS_REDIS_PROJECTION: &str = "agents_redis";

/// An agent's hot summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentSummary {
    pub id: Uuid,
    pub name: String,
    pub status: String,
    pub version: u64,
}

/// The hash fields each agent event sets.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentSummaries;

/// The Redis projection of agents.
pub type AgentsRedisProjection = RedisProjection<AgentSummaries>;

impl RedisModel for AgentSummaries {
    fn name(&self) -> &'static str {
        AGENTS_REDIS_PROJECTION
    }

    fn aggregate_type(&self) -> &'static str {
        AGENT_AGGREGATE_TYPE
    }

    fn changes(&self, _prefix: &str, event: &CloudEvent) -> Result<RedisChanges, ProjectionError> {
        let agent_event: AgentEvent = domain_event(event)?;
        let fields = match agent_event {
            AgentEvent::AgentCreated(created) => vec![
                ("tenant_id", created.tenant_id.to_string()),
                ("name", created.config.name),
                ("status", "active".to_owned()),
            ],
            AgentEvent::AgentConfigUpdated(updated) => vec![("name", updated.config.name)],
            AgentEvent::AgentPaused(_) => vec![("status", "paused".to_owned())],
            AgentEvent::AgentResumed(_) => vec![("status", "active".to_owned())],
            AgentEvent::AgentArchived(_) => vec![("status", "archived".to_owned())],
        };
        Ok(RedisChanges {
            fields,
            extra: Vec::new(),
        })
    }
}

impl RedisProjection<AgentSummaries> {
    /// Keys are `<prefix>:agent:<id>` and `<prefix>:checkpoint:agents_redis`.
    pub fn agents(redis: redis::aio::ConnectionManager, prefix: impl Into<String>) -> Self {
        Self::new(redis, prefix, AgentSummaries)
    }

    /// The summary of agent `id` if it belongs to `tenant_id`.
    pub async fn get(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Option<AgentSummary>, ProjectionError> {
        let fields = self.fields(&id.to_string()).await?;
        if fields.get("tenant_id") != Some(&tenant_id.to_string()) {
            return Ok(None);
        }
        let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
        Ok(Some(AgentSummary {
            id,
            name: field("name"),
            status: field("status"),
            version: field("version").parse().unwrap_or_default(),
        }))
    }
}
