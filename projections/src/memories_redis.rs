//! The hot memory model in Redis: a hash per memory (`<prefix>:memory:<id>`) with its
//! current content unsealed, and per agent a sorted set (`<prefix>:agent_memories:<agent>`)
//! of its most recently recorded or revised memories, scored by time and capped. Forgetting
//! clears the content and takes the memory out of the set.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::memory::{MEMORY_AGGREGATE_TYPE, MemoryEvent, MemoryStatus};
use eventstore::CloudEvent;
use eventstore::sealing::DataKeys;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ProjectionError;
use crate::memories::{sealed_content, unseal};
use crate::pg_model::id_and_version;
use crate::redis_model::{ExtraOp, RedisChanges, RedisModel, RedisProjection};

/// The projection's name (consumer and checkpoint).
pub const MEMORIES_REDIS_PROJECTION: &str = "memories_redis";
/// How many memories each agent's recent set keeps.
pub const RECENT_PER_AGENT: usize = 50;

/// A recently recorded or revised memory, from the hot model.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecentMemory {
    pub id: Uuid,
    /// `core`, `episodic` or `semantic`.
    pub kind: String,
    pub content: String,
    /// From 0 to 1.
    pub importance: f64,
    pub revision: u32,
    pub updated_at: DateTime<Utc>,
}

/// An agent's recent memories, most recent first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecentMemories {
    pub items: Vec<RecentMemory>,
}

/// The hash fields and recent-set changes each memory event makes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryCache;

/// The Redis projection of memories.
pub type MemoriesRedisProjection = RedisProjection<MemoryCache>;

/// The sorted set of `agent_id`'s recent memories.
pub fn agent_memories_key(prefix: &str, agent_id: Uuid) -> String {
    format!("{prefix}:agent_memories:{agent_id}")
}

impl RedisModel for MemoryCache {
    fn name(&self) -> &'static str {
        MEMORIES_REDIS_PROJECTION
    }

    fn aggregate_type(&self) -> &'static str {
        MEMORY_AGGREGATE_TYPE
    }

    /// Without data keys the content is left out, as after a forget; the projection always
    /// supplies the keys through [`RedisModel::unsealed_changes`].
    fn changes(&self, prefix: &str, event: &CloudEvent) -> Result<RedisChanges, ProjectionError> {
        self.unsealed_changes(prefix, event, &DataKeys::default())
    }

    fn sealed_with(&self, event: &CloudEvent) -> Result<Option<Uuid>, ProjectionError> {
        let memory_event: MemoryEvent = crate::decode::domain_event(event)?;
        Ok(sealed_content(&memory_event).map(|sealed| sealed.key_id))
    }

    fn unsealed_changes(
        &self,
        prefix: &str,
        event: &CloudEvent,
        keys: &DataKeys,
    ) -> Result<RedisChanges, ProjectionError> {
        let (id, _) = id_and_version(event)?;
        let memory_event: MemoryEvent = crate::decode::domain_event(event)?;
        let member = id.to_string();
        Ok(match memory_event {
            MemoryEvent::MemoryRecorded(recorded) => {
                let content = unseal(keys, id, recorded.revision, &recorded.content);
                RedisChanges {
                    fields: vec![
                        ("tenant_id", recorded.tenant_id.to_string()),
                        ("agent_id", recorded.agent_id.to_string()),
                        ("kind", recorded.kind.as_str().to_owned()),
                        ("status", MemoryStatus::Active.as_str().to_owned()),
                        ("content", content.unwrap_or_default()),
                        ("importance", recorded.importance.to_string()),
                        ("revision", recorded.revision.to_string()),
                        ("updated_at", recorded.recorded_at.to_rfc3339()),
                    ],
                    extra: recent(prefix, recorded.agent_id, member, recorded.recorded_at),
                }
            }
            MemoryEvent::MemoryRevised(revised) => {
                let content = unseal(keys, id, revised.revision, &revised.content);
                RedisChanges {
                    fields: vec![
                        ("content", content.unwrap_or_default()),
                        ("importance", revised.importance.to_string()),
                        ("revision", revised.revision.to_string()),
                        ("updated_at", revised.revised_at.to_rfc3339()),
                    ],
                    extra: recent(prefix, revised.agent_id, member, revised.revised_at),
                }
            }
            MemoryEvent::MemoryForgotten(forgotten) => RedisChanges {
                fields: vec![
                    ("status", MemoryStatus::Forgotten.as_str().to_owned()),
                    ("content", String::new()),
                    ("updated_at", forgotten.forgotten_at.to_rfc3339()),
                ],
                extra: vec![ExtraOp::ZRem {
                    key: agent_memories_key(prefix, forgotten.agent_id),
                    member,
                }],
            },
        })
    }
}

/// Puts `member` at `at` in its agent's recent set and trims the set to its cap.
fn recent(prefix: &str, agent_id: Uuid, member: String, at: DateTime<Utc>) -> Vec<ExtraOp> {
    let key = agent_memories_key(prefix, agent_id);
    vec![
        ExtraOp::ZAdd {
            key: key.clone(),
            score: at.timestamp_millis() as f64,
            member,
        },
        ExtraOp::ZCap {
            key,
            keep: RECENT_PER_AGENT,
        },
    ]
}

impl RedisProjection<MemoryCache> {
    /// Keys under `prefix`; content is unsealed with the data keys in `pool`'s database.
    pub fn memories(
        redis: redis::aio::ConnectionManager,
        prefix: impl Into<String>,
        pool: PgPool,
    ) -> Self {
        Self::new(redis, prefix, MemoryCache).with_data_keys(pool)
    }

    /// Up to `limit` of `agent_id`'s most recent active memories that belong to `tenant_id`.
    pub async fn recent(
        &self,
        tenant_id: Uuid,
        agent_id: Uuid,
        limit: usize,
    ) -> Result<Vec<RecentMemory>, ProjectionError> {
        let mut conn = self.connection();
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(agent_memories_key(self.prefix(), agent_id))
            .arg(0)
            .arg(last)
            .query_async(&mut conn)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.aggregate_key(id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
        let tenant = tenant_id.to_string();
        Ok(ids
            .iter()
            .zip(hashes)
            .filter(|(_, fields)| {
                fields.get("tenant_id") == Some(&tenant)
                    && fields.get("status").map(String::as_str)
                        == Some(MemoryStatus::Active.as_str())
            })
            .filter_map(|(id, fields)| recent_memory(id, &fields))
            .collect())
    }
}

fn recent_memory(id: &str, fields: &HashMap<String, String>) -> Option<RecentMemory> {
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    Some(RecentMemory {
        id: Uuid::parse_str(id).ok()?,
        kind: field("kind"),
        content: field("content"),
        importance: field("importance").parse().ok()?,
        revision: field("revision").parse().ok()?,
        updated_at: DateTime::parse_from_rfc3339(&field("updated_at"))
            .ok()?
            .with_timezone(&Utc),
    })
}
