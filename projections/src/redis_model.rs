//! Redis read models: one hash per aggregate, applied idempotently. One Lua script per
//! event checks the projection checkpoint and the hash's version, and applies an event
//! only on top of the previous version, together with the other keys it changes.

use eventstore::sealing::{DataKeys, find_data_keys};
use eventstore::{CloudEvent, Namespace};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ProjectionError;
use crate::runner::{Delivered, Projection};

/// KEYS: checkpoint, the aggregate's hash, then one key per extra operation.
/// ARGV: stream sequence, the stream sequence of the batch's previous event (0 for the
/// first), aggregate version (0: the event is not this model's), the number of field
/// pairs, the pairs, then three arguments per extra operation (kind, a, b).
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
local event_version = tonumber(ARGV[3])
if event_version > 0 then
  local version = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
  if event_version > version + 1 then return -1 end
  if event_version == version + 1 then
    local pairs = tonumber(ARGV[4])
    redis.call('HSET', KEYS[2], 'version', ARGV[3], unpack(ARGV, 5, 4 + 2 * pairs))
    local first = 5 + 2 * pairs
    for i = 3, #KEYS do
      local at = first + 3 * (i - 3)
      local kind, a, b = ARGV[at], ARGV[at + 1], ARGV[at + 2]
      if kind == 'SET' then
        redis.call('SET', KEYS[i], a)
      elseif kind == 'DEL' then
        redis.call('DEL', KEYS[i])
      elseif kind == 'ZADD' then
        redis.call('ZADD', KEYS[i], a, b)
      elseif kind == 'ZREM' then
        redis.call('ZREM', KEYS[i], b)
      elseif kind == 'ZCAP' then
        redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -1 - tonumber(a))
      elseif kind == 'HDEL' then
        redis.call('HDEL', KEYS[i], a)
      elseif kind == 'HSET' then
        redis.call('HSET', KEYS[i], a, b)
      elseif kind == 'HINCRBY' then
        redis.call('HINCRBY', KEYS[i], a, b)
      elseif kind == 'HPRUNE' then
        for _, field in ipairs(redis.call('HKEYS', KEYS[i])) do
          if string.sub(field, 1, #a) == a and field < b then
            redis.call('HDEL', KEYS[i], field)
          end
        end
      end
    end
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

/// A change to another key, made together with an event's hash fields.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraOp {
    /// `SET key value`.
    Set { key: String, value: String },
    /// `DEL key`.
    Del { key: String },
    /// `ZADD key score member`.
    ZAdd {
        key: String,
        score: f64,
        member: String,
    },
    /// `ZREM key member`.
    ZRem { key: String, member: String },
    /// Keeps only the `keep` highest-scored members of a sorted set.
    ZCap { key: String, keep: usize },
    /// `HDEL key field` on another hash.
    HDel { key: String, field: String },
    /// `HSET key field value`, for a field whose name is not fixed (the aggregate's own
    /// hash may be `key`).
    HSet {
        key: String,
        field: String,
        value: String,
    },
    /// `HINCRBY key field by`: a counter, incremented once per event because the whole
    /// script applies once.
    HIncrBy { key: String, field: String, by: i64 },
    /// Deletes the fields of hash `key` that start with `prefix` and sort before `below`:
    /// counters of periods that have passed.
    HPrune {
        key: String,
        prefix: String,
        below: String,
    },
}

impl ExtraOp {
    fn key(&self) -> &str {
        match self {
            Self::Set { key, .. }
            | Self::Del { key }
            | Self::ZAdd { key, .. }
            | Self::ZRem { key, .. }
            | Self::ZCap { key, .. }
            | Self::HDel { key, .. }
            | Self::HSet { key, .. }
            | Self::HIncrBy { key, .. }
            | Self::HPrune { key, .. } => key,
        }
    }

    fn args(&self) -> [String; 3] {
        match self {
            Self::Set { value, .. } => ["SET".into(), value.clone(), String::new()],
            Self::Del { .. } => ["DEL".into(), String::new(), String::new()],
            Self::ZAdd { score, member, .. } => ["ZADD".into(), score.to_string(), member.clone()],
            Self::ZRem { member, .. } => ["ZREM".into(), String::new(), member.clone()],
            Self::ZCap { keep, .. } => ["ZCAP".into(), keep.to_string(), String::new()],
            Self::HDel { field, .. } => ["HDEL".into(), field.clone(), String::new()],
            Self::HSet { field, value, .. } => ["HSET".into(), field.clone(), value.clone()],
            Self::HIncrBy { field, by, .. } => ["HINCRBY".into(), field.clone(), by.to_string()],
            Self::HPrune { prefix, below, .. } => ["HPRUNE".into(), prefix.clone(), below.clone()],
        }
    }
}

/// What one event changes: fields of its aggregate's hash, and other keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisChanges {
    pub fields: Vec<(&'static str, String)>,
    pub extra: Vec<ExtraOp>,
}

/// A read model kept as one Redis hash per aggregate of one type.
pub trait RedisModel: Send + Sync + 'static {
    /// The projection's name (consumer and checkpoint).
    fn name(&self) -> &'static str;
    /// The aggregate type whose events it applies.
    fn aggregate_type(&self) -> &'static str;
    /// What `event` (of that aggregate type) changes; keys are full Redis keys, built
    /// with [`RedisProjection::key`] conventions under `prefix`.
    fn changes(&self, prefix: &str, event: &CloudEvent) -> Result<RedisChanges, ProjectionError>;

    /// The data key that seals content in `event` (see `eventstore::sealing`), if any. The
    /// projection looks up the keys of a whole batch at once (in the Postgres database given
    /// to [`RedisProjection::with_data_keys`]) and passes them to [`Self::unsealed_changes`].
    fn sealed_with(&self, _event: &CloudEvent) -> Result<Option<Uuid>, ProjectionError> {
        Ok(None)
    }

    /// What `event` changes, given the data keys of its batch that still exist (a deleted
    /// key is absent: its content is gone for good). By default [`Self::changes`].
    fn unsealed_changes(
        &self,
        prefix: &str,
        event: &CloudEvent,
        _keys: &DataKeys,
    ) -> Result<RedisChanges, ProjectionError> {
        self.changes(prefix, event)
    }
}

/// Runs a [`RedisModel`] as a projection.
#[derive(Clone)]
pub struct RedisProjection<M> {
    redis: ConnectionManager,
    prefix: String,
    model: M,
    script: redis::Script,
    data_keys: Option<PgPool>,
}

impl<M: RedisModel> RedisProjection<M> {
    /// Keys are `<prefix>:<aggregate_type>:<id>` and `<prefix>:checkpoint:<name>`.
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>, model: M) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            model,
            script: redis::Script::new(APPLY_SCRIPT),
            data_keys: None,
        }
    }

    /// Looks up the data keys the model's events are sealed with in `pool`'s `data_keys`.
    pub fn with_data_keys(mut self, pool: PgPool) -> Self {
        self.data_keys = Some(pool);
        self
    }

    /// The data keys the batch's sealed content needs, as far as they still exist.
    async fn batch_keys(&self, events: &[Delivered]) -> Result<DataKeys, ProjectionError> {
        let mut ids = Vec::new();
        for delivered in events {
            if delivered.event.aggregatetype == self.model.aggregate_type()
                && let Some(id) = self.model.sealed_with(&delivered.event)?
            {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Ok(DataKeys::default());
        }
        let pool = self.data_keys.as_ref().ok_or_else(|| {
            eventstore::StoreError::Invalid(format!(
                "projection {} reads sealed content but has no data key store",
                self.model.name()
            ))
        })?;
        Ok(find_data_keys(pool, &ids).await?)
    }

    /// The hash of aggregate `id`.
    pub fn aggregate_key(&self, id: &str) -> String {
        format!("{}:{}:{id}", self.prefix, self.model.aggregate_type())
    }

    /// The key prefix every key of this projection starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection to read the model with.
    pub fn connection(&self) -> ConnectionManager {
        self.redis.clone()
    }

    fn checkpoint_key(&self) -> String {
        format!("{}:checkpoint:{}", self.prefix, self.model.name())
    }

    /// The fields of aggregate `id`'s hash (empty when absent).
    pub async fn fields(
        &self,
        id: &str,
    ) -> Result<std::collections::HashMap<String, String>, ProjectionError> {
        let mut conn = self.redis.clone();
        Ok(redis::cmd("HGETALL")
            .arg(self.aggregate_key(id))
            .query_async(&mut conn)
            .await?)
    }
}

#[async_trait::async_trait]
impl<M: RedisModel> Projection for RedisProjection<M> {
    fn name(&self) -> &str {
        self.model.name()
    }

    fn filter_subject(&self, namespace: &Namespace) -> String {
        namespace.aggregate_type_filter(self.model.aggregate_type())
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
        let keys = self.batch_keys(events).await?;
        let mut pipe = redis::pipe();
        let mut previous_sequence = 0;
        for delivered in events {
            let event = &delivered.event;
            let ours = event.aggregatetype == self.model.aggregate_type();
            let changes = if ours {
                self.model.unsealed_changes(&self.prefix, event, &keys)?
            } else {
                RedisChanges::default()
            };
            let command = pipe
                .cmd("EVALSHA")
                .arg(self.script.get_hash())
                .arg(2 + changes.extra.len())
                .arg(self.checkpoint_key())
                .arg(self.aggregate_key(&event.aggregateid));
            for op in &changes.extra {
                command.arg(op.key());
            }
            command
                .arg(delivered.stream_sequence)
                .arg(previous_sequence)
                .arg(if ours { event.sequence } else { 0 })
                .arg(changes.fields.len());
            for (name, value) in &changes.fields {
                command.arg(*name).arg(value);
            }
            for op in &changes.extra {
                command.arg(&op.args()[..]);
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
                .arg(self.aggregate_key(&event.aggregateid))
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
