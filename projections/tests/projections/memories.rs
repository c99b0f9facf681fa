//! The memory read models: crypto-shredded content stays gone from Postgres and Redis, also
//! when they are rebuilt from the store or the stream after the forget; recall ranks by
//! relevance, importance and recency; redelivered batches change nothing.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use domain::memory::{Memory, MemoryCommand, MemoryKind, MemorySource};
use eventstore::reader::{CommitCursor, read_after};
use eventstore::sealing::{DataKey, memory_binding};
use eventstore::testing::TestEnv;
use eventstore::{Alongside, CloudEvent, CommandBus, CommandContext, RelayWaker};
use projections::memories::{
    MemoriesModel, MemoriesProjection, MemorySearch, get_memory, memory_history, search_memories,
};
use projections::memories_redis::MemoriesRedisProjection;
use projections::{PgModel, Projection};
use sqlx::Executor;
use uuid::Uuid;

use crate::agents_redis::wipe_redis;
use crate::driving::{delivered, drive_until, fetch_exactly, runner};
use crate::helpers::Publisher;

/// Memory commands through the real command bus, sealed as the command API seals them.
struct MemoryCommands {
    bus: CommandBus<Memory>,
    pool: sqlx::PgPool,
}

impl MemoryCommands {
    fn new(env: &TestEnv) -> Self {
        Self {
            bus: CommandBus::new(env.pool.clone(), (), RelayWaker::default()),
            pool: env.pool.clone(),
        }
    }

    async fn record(
        &self,
        tenant_id: Uuid,
        agent_id: Uuid,
        content: &str,
        importance: f64,
        now: DateTime<Utc>,
    ) -> Uuid {
        let memory_id = Uuid::now_v7();
        let key = DataKey::generate();
        let command = MemoryCommand::RecordMemory {
            tenant_id,
            memory_id,
            agent_id,
            kind: MemoryKind::Semantic,
            content: content.to_owned(),
            sealed: key.seal(&memory_binding(memory_id, 1), content),
            tags: Vec::new(),
            importance,
            source: MemorySource::default(),
            now,
        };
        let context = CommandContext::new(tenant_id, "test", Utc::now());
        self.bus
            .create(&memory_id.to_string(), command, &context, vec![key.put()])
            .await
            .unwrap();
        memory_id
    }

    async fn revise(&self, tenant_id: Uuid, id: Uuid, content: &str, now: DateTime<Utc>) {
        let (memory, _) = self.bus.load(&id.to_string()).await.unwrap();
        let key_id = memory.key_id().unwrap();
        let material = eventstore::alongside::data_key(&self.pool, key_id)
            .await
            .unwrap()
            .unwrap();
        let key = DataKey::from_stored(key_id, &material).unwrap();
        let command = MemoryCommand::ReviseMemory {
            tenant_id,
            content: content.to_owned(),
            sealed: key.seal(&memory_binding(id, memory.revision() + 1), content),
            tags: None,
            importance: None,
            source: MemorySource::default(),
            now,
        };
        let context = CommandContext::new(tenant_id, "test", Utc::now());
        self.bus
            .execute(&id.to_string(), command, &context)
            .await
            .unwrap();
    }

    async fn forget(&self, tenant_id: Uuid, id: Uuid) {
        let (memory, _) = self.bus.load(&id.to_string()).await.unwrap();
        let shred = Alongside::DeleteDataKey {
            key_id: memory.key_id().unwrap(),
        };
        let command = MemoryCommand::ForgetMemory {
            tenant_id,
            reason: None,
            now: Utc::now(),
        };
        let context = CommandContext::new(tenant_id, "test", Utc::now());
        self.bus
            .execute_with(&id.to_string(), command, &context, vec![shred])
            .await
            .unwrap();
    }
}

/// Both memory projections of the test's stores.
struct Projections {
    pg: Arc<MemoriesProjection>,
    redis: Arc<MemoriesRedisProjection>,
}

impl Projections {
    async fn new(env: &TestEnv) -> Self {
        Self {
            pg: Arc::new(MemoriesProjection::new(env.pool.clone(), MemoriesModel)),
            redis: Arc::new(MemoriesRedisProjection::memories(
                env.redis().await,
                env.redis_prefix.clone(),
                env.pool.clone(),
            )),
        }
    }

    /// Drives both projections from their consumers until each has applied up to `last`.
    async fn catch_up(&self, env: &TestEnv, last: u64) {
        catch_up(&self.pg, env, last).await;
        catch_up(&self.redis, env, last).await;
    }
}

/// Drives `projection` from its consumer until its checkpoint reaches `last`.
async fn catch_up<P: Projection>(projection: &Arc<P>, env: &TestEnv, last: u64) {
    let runner = runner(projection.clone(), env);
    let consumer = runner.consumer().await.unwrap();
    drive_until(&runner, &consumer, || async move {
        projection.prepare().await.unwrap() == last
    })
    .await;
}

/// What every read model holds of one memory: the current content in Postgres, each
/// revision's content in the history, and the content in its Redis hash.
async fn contents(
    env: &TestEnv,
    projections: &Projections,
    tenant: Uuid,
    id: Uuid,
) -> (Option<String>, Vec<Option<String>>, Option<String>) {
    let view = get_memory(&env.pool, tenant, id).await.unwrap().unwrap();
    let history = memory_history(&env.pool, tenant, id)
        .await
        .unwrap()
        .unwrap();
    let hash = projections.redis.fields(&id.to_string()).await.unwrap();
    (
        view.content,
        history.revisions.into_iter().map(|r| r.content).collect(),
        hash.get("content").cloned(),
    )
}

/// Drops the Postgres memory tables and folds every stored event into new ones, in commit
/// order, as a rebuild does.
async fn rebuild_from_store(env: &TestEnv) {
    env.pool
        .execute("DROP TABLE memories, memory_revisions")
        .await
        .unwrap();
    let mut tx = env.pool.begin().await.unwrap();
    MemoriesModel.create_tables(&mut tx).await.unwrap();
    let mut cursor = CommitCursor::default();
    loop {
        let page = read_after(&mut *tx, cursor, 100).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = CommitCursor::after(last);
        for stored in page.iter().filter(|e| e.aggregate_type == "memory") {
            let event = CloudEvent::from_stored(stored).unwrap();
            MemoriesModel.apply(&mut tx, &event).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn forgotten_content_stays_gone_from_every_read_model_even_after_a_rebuild() {
    let env = TestEnv::new().await;
    let commands = MemoryCommands::new(&env);
    let projections = Projections::new(&env).await;
    let mut publisher = Publisher::new(&env).await;
    let (tenant, agent) = (Uuid::now_v7(), Uuid::now_v7());
    let kept = commands
        .record(tenant, agent, "Likes green tea.", 0.5, Utc::now())
        .await;
    let gone = commands
        .record(
            tenant,
            agent,
            "Cat is called Whiskerfield.",
            0.5,
            Utc::now(),
        )
        .await;
    commands
        .revise(tenant, gone, "Cats are Whiskerfield and Tom.", Utc::now())
        .await;
    projections
        .catch_up(&env, publisher.publish_all().await)
        .await;
    let some = |text: &str| Some(text.to_owned());
    assert_eq!(
        contents(&env, &projections, tenant, gone).await,
        (
            some("Cats are Whiskerfield and Tom."),
            vec![
                some("Cat is called Whiskerfield."),
                some("Cats are Whiskerfield and Tom.")
            ],
            some("Cats are Whiskerfield and Tom."),
        )
    );

    commands.forget(tenant, gone).await;
    projections
        .catch_up(&env, publisher.publish_all().await)
        .await;

    let shredded = (None, vec![None, None], Some(String::new()));
    let intact = (
        some("Likes green tea."),
        vec![some("Likes green tea.")],
        some("Likes green tea."),
    );
    let recent = async || {
        let items = projections.redis.recent(tenant, agent, 50).await.unwrap();
        items.into_iter().map(|item| item.id).collect::<Vec<_>>()
    };
    assert_eq!(contents(&env, &projections, tenant, gone).await, shredded);
    assert_eq!(contents(&env, &projections, tenant, kept).await, intact);
    assert_eq!(recent().await, [kept]);

    // Rebuilt from the store (Postgres) and replayed from the stream (Redis): the forgotten
    // memory is there with its revisions, its content is not, and the other one's is.
    rebuild_from_store(&env).await;
    wipe_redis(&env).await;
    let last = crate::helpers::last_stream_sequence(&env.jetstream, &env.namespace).await;
    catch_up(&projections.redis, &env, last).await;
    assert_eq!(contents(&env, &projections, tenant, gone).await, shredded);
    assert_eq!(contents(&env, &projections, tenant, kept).await, intact);
    assert_eq!(recent().await, [kept]);
    let view = get_memory(&env.pool, tenant, gone).await.unwrap().unwrap();
    assert_eq!(
        (view.status.as_str(), view.revision, view.version),
        ("forgotten", 2, 3)
    );

    env.cleanup().await;
}

#[tokio::test]
async fn a_redelivered_batch_changes_nothing_in_redis() {
    let env = TestEnv::new().await;
    let commands = MemoryCommands::new(&env);
    let projections = Projections::new(&env).await;
    let mut publisher = Publisher::new(&env).await;
    let (tenant, agent) = (Uuid::now_v7(), Uuid::now_v7());
    let first = commands
        .record(tenant, agent, "first", 0.5, Utc::now())
        .await;
    let second = commands
        .record(tenant, agent, "second", 0.5, Utc::now())
        .await;
    commands
        .revise(tenant, first, "first, revised", Utc::now())
        .await;
    commands.forget(tenant, second).await;
    assert_eq!(publisher.publish_all().await, 4);

    let runner = runner(projections.redis.clone(), &env);
    let consumer = runner.consumer().await.unwrap();
    let messages = fetch_exactly(&consumer, 4).await;
    let batch = delivered(&messages);
    assert_eq!(projections.redis.apply(&batch).await.unwrap(), 4);
    let before = (
        projections.redis.fields(&first.to_string()).await.unwrap(),
        projections.redis.recent(tenant, agent, 50).await.unwrap(),
    );
    // As after a restart between the write and the ack: the same batch again.
    assert_eq!(projections.redis.apply(&batch).await.unwrap(), 0);
    assert_eq!(runner.handle(messages).await.unwrap(), 0);
    let after = (
        projections.redis.fields(&first.to_string()).await.unwrap(),
        projections.redis.recent(tenant, agent, 50).await.unwrap(),
    );
    assert_eq!(after, before);
    assert_eq!(
        before.0.get("content").map(String::as_str),
        Some("first, revised")
    );
    assert_eq!(before.0.get("version").map(String::as_str), Some("2"));
    assert_eq!(before.1.iter().map(|m| m.id).collect::<Vec<_>>(), [first]);

    env.cleanup().await;
}

#[tokio::test]
async fn recall_ranks_by_relevance_then_importance_then_recency() {
    let env = TestEnv::new().await;
    let commands = MemoryCommands::new(&env);
    let projections = Projections::new(&env).await;
    let mut publisher = Publisher::new(&env).await;
    let (tenant, agent) = (Uuid::now_v7(), Uuid::now_v7());
    let days_ago = |days: i64| Utc::now() - Duration::days(days);
    let record = async |content: &str, importance: f64, days: i64| {
        commands
            .record(tenant, agent, content, importance, days_ago(days))
            .await
    };
    // Pairs that differ in one respect only.
    let focused = record("Refunds: refunds to the card; refunds take days.", 0.5, 10).await;
    let passing = record("Mentioned refunds once.", 0.5, 10).await;
    let major = record("Sent a postcard.", 0.9, 10).await;
    let minor = record("Sent a postcard.", 0.1, 10).await;
    let fresh = record("Ordered a teapot.", 0.5, 1).await;
    let stale = record("Ordered a teapot.", 0.5, 90).await;
    // A revision makes an old memory recent.
    let revived = record("Returned a kettle.", 0.5, 200).await;
    let untouched = record("Returned a kettle.", 0.5, 20).await;
    commands
        .revise(tenant, revived, "Returned a kettle.", days_ago(0))
        .await;
    projections
        .catch_up(&env, publisher.publish_all().await)
        .await;

    let search = async |query: &str| {
        let search = MemorySearch {
            agent_id: agent,
            query: query.to_owned(),
            kind: None,
            tags: Vec::new(),
            limit: 10,
        };
        let results = search_memories(&env.pool, tenant, &search).await.unwrap();
        let scores: Vec<f64> = results.items.iter().map(|hit| hit.score).collect();
        assert!(
            scores.windows(2).all(|pair| pair[0] > pair[1]),
            "{scores:?}"
        );
        results
            .items
            .into_iter()
            .map(|hit| hit.memory.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(search("refunds").await, [focused, passing]);
    assert_eq!(search("postcard").await, [major, minor]);
    assert_eq!(search("teapot").await, [fresh, stale]);
    assert_eq!(search("kettle").await, [revived, untouched]);
    assert_eq!(search("refunds or teapot").await.len(), 4);
    // Another tenant's search never sees these.
    let theirs = MemorySearch {
        agent_id: agent,
        query: "teapot".to_owned(),
        kind: None,
        tags: Vec::new(),
        limit: 10,
    };
    let results = search_memories(&env.pool, Uuid::now_v7(), &theirs)
        .await
        .unwrap();
    assert!(results.items.is_empty());

    env.cleanup().await;
}
