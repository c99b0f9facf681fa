//! A Redis hash per agent (name, status, version) for hot reads, applied idempotently:
//! one Lua script per event checks the projection checkpoint and the key's version, and
//! applies an event only on top of the previous version.

use domain::agent::{AGENT_AGGREGATE_TYPE, AgentEvent};
use eventstore::{CloudEvent, Namespace};
use redis::aio::ConnectionManager;
use serde::Serialize;
use uuid::Uuid;

use crate::ProjectionError;
use crate::runner::{Delivered, Projection};

/// The projection's name (consumer and checkpoint).
pub const AGENTS_REDIS_PROJECTION: &str = "agents_redis";

/// KEYS: checkpoint, agent hash. ARGV: stream sequence, the stream sequence of the
/// batch's previous event (0 for the first), aggregate version, then field/value pairs.
///
/// Past the checkpoint, an event applies when the hash is at the previous version and is
/// skipped when the hash already has it; either way the checkpoint advances. Returns
/// [`APPLIED`], [`SKIPPED`], [`GAP`] when the hash is further behind (the checkpoint stays),
/// or [`BLOCKED`] when an earlier event of the batch stopped at a gap: a pipeline runs on
/// after a failed script, and this keeps the checkpoint from passing the gap.
const APPLY_SCRIPT: &str = r"
local checkpoint = tonumber(redis.call('GET', KEYS[1]) or '0')
local sequence = tonumber(ARGV[1])
if sequence <= checkpoint then return 0 end
if checkpoint < tonumber(ARGV[2]) then return -2 end
local applied = 0
if #ARGV > 3 then
  local event_version = tonumber(ARGV[3])
  local version = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
  if event_version > version + 1 then return -1 end
  if event_version == version + 1 then
    redis.call('HSET', KEYS[2], 'version', ARGV[3], unpack(ARGV, 4))
    applied = 1
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return applied
";
/// The script changed the hash.
const APPLIED: i64 = 1;
/// The script changed nothing: the event was at or below the checkpoint, or the hash had it.
const SKIPPED: i64 = 0;
/// The hash is missing the event's previous version.
const GAP: i64 = -1;
/// Not tried: an earlier event of the batch stopped at a gap.
const BLOCKED: i64 = -2;

/// An agent's hot summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentSummary {
    pub id: Uuid,
    pub name: String,
    pub status: String,
    pub version: u64,
}

/// The Redis projection of agents.
#[derive(Clone)]
pub struct AgentsRedisProjection {
    redis: ConnectionManager,
    prefix: String,
    script: redis::Script,
}

impl AgentsRedisProjection {
    /// Keys are `<prefix>:agent:<id>` and `<prefix>:checkpoint:agents_redis`.
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            script: redis::Script::new(APPLY_SCRIPT),
        }
    }

    fn agent_key(&self, id: &str) -> String {
        format!("{}:agent:{id}", self.prefix)
    }

    fn checkpoint_key(&self) -> String {
        format!("{}:checkpoint:{AGENTS_REDIS_PROJECTION}", self.prefix)
    }

    /// The summary of agent `id` if it belongs to `tenant_id`.
    pub async fn get(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Option<AgentSummary>, ProjectionError> {
        let mut conn = self.redis.clone();
        let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.agent_key(&id.to_string()))
            .query_async(&mut conn)
            .await?;
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

/// The hash fields an event sets.
fn fields(event: &CloudEvent) -> Result<Vec<(&'static str, String)>, ProjectionError> {
    let agent_event: AgentEvent = serde_json::from_value(event.tagged_payload())?;
    Ok(match agent_event {
        AgentEvent::AgentCreated(created) => vec![
            ("tenant_id", created.tenant_id.to_string()),
            ("name", created.config.name),
            ("status", "active".to_owned()),
        ],
        AgentEvent::AgentConfigUpdated(updated) => vec![("name", updated.config.name)],
        AgentEvent::AgentPaused(_) => vec![("status", "paused".to_owned())],
        AgentEvent::AgentResumed(_) => vec![("status", "active".to_owned())],
        AgentEvent::AgentArchived(_) => vec![("status", "archived".to_owned())],
    })
}

#[async_trait::async_trait]
impl Projection for AgentsRedisProjection {
    fn name(&self) -> &str {
        AGENTS_REDIS_PROJECTION
    }

    fn filter_subject(&self, namespace: &Namespace) -> String {
        namespace.aggregate_type_filter(AGENT_AGGREGATE_TYPE)
    }

    async fn prepare(&self) -> Result<u64, ProjectionError> {
        let mut conn = self.redis.clone();
        let checkpoint: Option<u64> = redis::cmd("GET")
            .arg(self.checkpoint_key())
            .query_async(&mut conn)
            .await?;
        Ok(checkpoint.unwrap_or_default())
    }

    /// Events before a gap in the batch stay applied, and the checkpoint stops just
    /// before the gap; the runner then offers the rest again.
    async fn apply(&self, events: &[Delivered]) -> Result<usize, ProjectionError> {
        let mut pipe = redis::pipe();
        let mut previous_sequence = 0;
        for delivered in events {
            let event = &delivered.event;
            let pairs = if event.aggregatetype == AGENT_AGGREGATE_TYPE {
                fields(event)?
            } else {
                Vec::new()
            };
            let command = pipe
                .cmd("EVALSHA")
                .arg(self.script.get_hash())
                .arg(2)
                .arg(self.checkpoint_key())
                .arg(self.agent_key(&event.aggregateid))
                .arg(delivered.stream_sequence)
                .arg(previous_sequence)
                .arg(event.sequence);
            for (name, value) in pairs {
                command.arg(name).arg(value);
            }
            previous_sequence = delivered.stream_sequence;
        }
        let mut conn = self.redis.clone();
        // Scripts are loaded on first use; a pipeline cannot recover from NOSCRIPT by
        // itself, so load first (cheap: the server keeps it).
        self.script.load_async(&mut conn).await?;
        let results: Vec<i64> = pipe.query_async(&mut conn).await?;
        if let Some(failed) = results.iter().position(|&result| result < SKIPPED) {
            debug_assert_eq!(
                results[failed], GAP,
                "the first failure is a gap, not {BLOCKED}"
            );
            let event = &events[failed].event;
            // Read after the fact, for the report only.
            let found: Option<u64> = redis::cmd("HGET")
                .arg(self.agent_key(&event.aggregateid))
                .arg("version")
                .query_async(&mut conn)
                .await?;
            return Err(ProjectionError::VersionGap {
                aggregate_id: event.aggregateid.clone(),
                expected: event.sequence.saturating_sub(1),
                found: found.unwrap_or_default(),
            });
        }
        Ok(results.iter().filter(|&&result| result == APPLIED).count())
    }
}
