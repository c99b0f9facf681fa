//! The Postgres `agents` read model and the queries the query API serves from it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::agent::{AgentConfig, AgentConfigChanges, ModelConfig};
use eventstore::testing::TestEnv;
use projections::agents::{self, AGENTS_PROJECTION};
use projections::{AgentListFilter, AgentView, AgentsProjection};
use uuid::Uuid;

use crate::helpers::{
    Commands, Publisher, all_rows, at, config, consumer_info, drive_until, pg_checkpoint, runner,
};

/// Projects every published event into the Postgres read model, step by step.
struct PgHarness {
    env: TestEnv,
    commands: Commands,
    publisher: Publisher,
}

impl PgHarness {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        Self {
            commands: Commands::new(&env),
            publisher: Publisher::new(&env).await,
            env,
        }
    }

    /// Publishes what the commands appended and projects it; returns the last sequence.
    async fn project(&mut self) -> u64 {
        let last = self.publisher.publish_all().await;
        let runner = runner(
            Arc::new(AgentsProjection::new(self.env.pool.clone())),
            &self.env,
        );
        let consumer = runner.consumer().await.unwrap();
        let pool = &self.env.pool;
        drive_until(&runner, &consumer, || async move {
            pg_checkpoint(pool).await == last
        })
        .await;
        last
    }

    async fn get(&self, tenant_id: Uuid, id: Uuid) -> Option<AgentView> {
        agents::get_agent(&self.env.pool, tenant_id, id)
            .await
            .unwrap()
    }

    async fn list(&self, tenant_id: Uuid, filter: AgentListFilter) -> projections::AgentList {
        agents::list_agents(&self.env.pool, tenant_id, &filter)
            .await
            .unwrap()
    }

    /// Names of the tenant's agents matching `status` and `name_prefix`, in id order.
    async fn names(
        &self,
        tenant_id: Uuid,
        status: Option<&str>,
        name_prefix: Option<&str>,
    ) -> Vec<String> {
        let filter = AgentListFilter {
            status: status.map(str::to_owned),
            name_prefix: name_prefix.map(str::to_owned),
            limit: 100,
            cursor: None,
        };
        let page = self.list(tenant_id, filter).await;
        assert_eq!(page.next_cursor, None);
        page.items.into_iter().map(|agent| agent.name).collect()
    }
}

/// The row the projection should hold for an agent with this configuration and history.
struct Expected<'a> {
    tenant_id: Uuid,
    id: Uuid,
    config: &'a AgentConfig,
    status: &'a str,
    config_version: i32,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    archived_at: Option<DateTime<Utc>>,
}

impl Expected<'_> {
    fn view(&self) -> AgentView {
        AgentView {
            id: self.id,
            tenant_id: self.tenant_id,
            name: self.config.name.clone(),
            description: self.config.description.clone(),
            status: self.status.to_owned(),
            model: sqlx::types::Json(serde_json::to_value(&self.config.model).unwrap()),
            system_prompt: self.config.system_prompt.clone(),
            tool_ids: self.config.tool_ids.clone(),
            metadata: sqlx::types::Json(serde_json::to_value(&self.config.metadata).unwrap()),
            config_version: self.config_version,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            archived_at: self.archived_at,
        }
    }
}

#[tokio::test]
async fn read_model_shows_what_each_command_of_an_agents_lifecycle_said() {
    let mut harness = PgHarness::new().await;
    let tenant = Uuid::now_v7();
    let created = config("Support bot");
    let id = harness
        .commands
        .create_with(tenant, created.clone(), at(0))
        .await;
    harness.project().await;
    let mut expected = Expected {
        tenant_id: tenant,
        id,
        config: &created,
        status: "active",
        config_version: 1,
        version: 1,
        created_at: at(0),
        updated_at: at(0),
        archived_at: None,
    };
    assert_eq!(
        harness.get(tenant, id).await,
        Some(expected.view()),
        "after create"
    );

    let changes = AgentConfigChanges {
        name: Some("Billing bot".to_owned()),
        description: Some("Handles invoices".to_owned()),
        model: Some(ModelConfig {
            provider: "openai".to_owned(),
            name: "gpt-4o".to_owned(),
            temperature: 0.2,
            max_output_tokens: 1_000,
        }),
        system_prompt: Some("Be brief.".to_owned()),
        tool_ids: Some(vec![Uuid::from_u128(7)]),
        metadata: Some(BTreeMap::from([("tier".to_owned(), "gold".to_owned())])),
    };
    let updated = changes.apply_to(&created);
    assert_eq!(harness.commands.update(tenant, id, changes, at(1)).await, 2);
    harness.project().await;
    expected.config = &updated;
    expected.config_version = 2;
    expected.version = 2;
    expected.updated_at = at(1);
    assert_eq!(
        harness.get(tenant, id).await,
        Some(expected.view()),
        "after update"
    );

    harness.commands.pause(tenant, id, at(2)).await;
    harness.project().await;
    expected.status = "paused";
    expected.version = 3;
    expected.updated_at = at(2);
    assert_eq!(
        harness.get(tenant, id).await,
        Some(expected.view()),
        "after pause"
    );

    // A paused agent can still be reconfigured; it stays paused.
    let renamed = AgentConfigChanges {
        name: Some("Billing bot 2".to_owned()),
        ..AgentConfigChanges::default()
    };
    let updated_again = renamed.apply_to(&updated);
    harness.commands.update(tenant, id, renamed, at(3)).await;
    harness.project().await;
    expected.config = &updated_again;
    expected.config_version = 3;
    expected.version = 4;
    expected.updated_at = at(3);
    assert_eq!(
        harness.get(tenant, id).await,
        Some(expected.view()),
        "after update while paused"
    );

    harness.commands.resume(tenant, id, at(4)).await;
    harness.project().await;
    expected.status = "active";
    expected.version = 5;
    expected.updated_at = at(4);
    assert_eq!(
        harness.get(tenant, id).await,
        Some(expected.view()),
        "after resume"
    );

    harness.commands.archive(tenant, id, at(5)).await;
    let last = harness.project().await;
    expected.status = "archived";
    expected.version = 6;
    expected.updated_at = at(5);
    expected.archived_at = Some(at(5));
    let view = harness.get(tenant, id).await.unwrap();
    assert_eq!(view, expected.view(), "after archive");
    harness.commands.assert_view_matches_aggregate(&view).await;
    assert_eq!(
        agents::agent_version(&harness.env.pool, tenant, id)
            .await
            .unwrap(),
        6
    );
    assert_eq!(pg_checkpoint(&harness.env.pool).await, last);
    assert_eq!(last, 6);
    harness.env.cleanup().await;
}

#[tokio::test]
async fn another_tenants_agent_is_never_listed_nor_found() {
    let mut harness = PgHarness::new().await;
    let (tenant, other_tenant) = (Uuid::now_v7(), Uuid::now_v7());
    let mine = harness.commands.create(tenant, "alpha mine", at(0)).await;
    let theirs = harness
        .commands
        .create(other_tenant, "alpha theirs", at(0))
        .await;
    harness.project().await;

    assert_eq!(harness.get(tenant, theirs).await, None);
    assert_eq!(harness.get(other_tenant, mine).await, None);
    assert_eq!(harness.get(tenant, Uuid::now_v7()).await, None);
    assert_eq!(
        harness.get(other_tenant, theirs).await.unwrap().name,
        "alpha theirs"
    );
    assert_eq!(
        agents::agent_version(&harness.env.pool, tenant, theirs)
            .await
            .unwrap(),
        0
    );
    assert_eq!(harness.names(tenant, None, None).await, ["alpha mine"]);
    assert_eq!(
        harness.names(tenant, None, Some("alpha")).await,
        ["alpha mine"]
    );
    assert_eq!(
        harness.names(other_tenant, None, None).await,
        ["alpha theirs"]
    );
    assert_eq!(
        harness.names(Uuid::now_v7(), None, None).await,
        Vec::<String>::new()
    );
    harness.env.cleanup().await;
}

#[tokio::test]
async fn listing_filters_by_status_and_by_a_name_prefix_taken_literally() {
    let mut harness = PgHarness::new().await;
    let tenant = Uuid::now_v7();
    let names = [
        "alpha one",
        "alpha two",
        "beta",
        "100%_sure",
        "100%xsure",
        "100x_sure",
        "under_score",
        "underXscore",
        r"back\slash",
        "backXslash",
    ];
    let mut ids = BTreeMap::new();
    for (minute, name) in (0..).zip(names) {
        ids.insert(
            name,
            harness.commands.create(tenant, name, at(minute)).await,
        );
    }
    harness
        .commands
        .pause(tenant, ids["alpha two"], at(20))
        .await;
    harness.commands.archive(tenant, ids["beta"], at(21)).await;
    harness.project().await;

    assert_eq!(harness.names(tenant, None, None).await, names);
    assert_eq!(
        harness.names(tenant, Some("paused"), None).await,
        ["alpha two"]
    );
    assert_eq!(
        harness.names(tenant, Some("archived"), None).await,
        ["beta"]
    );
    let active: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !["alpha two", "beta"].contains(name))
        .collect();
    assert_eq!(harness.names(tenant, Some("active"), None).await, active);
    assert_eq!(
        harness.names(tenant, Some("deleted"), None).await,
        Vec::<String>::new()
    );

    assert_eq!(
        harness.names(tenant, None, Some("alpha")).await,
        ["alpha one", "alpha two"]
    );
    assert_eq!(
        harness.names(tenant, Some("active"), Some("alpha")).await,
        ["alpha one"]
    );
    // `%`, `_` and `\` are characters of the name, not LIKE wildcards or escapes.
    assert_eq!(
        harness.names(tenant, None, Some("100%")).await,
        ["100%_sure", "100%xsure"]
    );
    assert_eq!(
        harness.names(tenant, None, Some("100%_")).await,
        ["100%_sure"]
    );
    assert_eq!(
        harness.names(tenant, None, Some("under_")).await,
        ["under_score"]
    );
    assert_eq!(
        harness.names(tenant, None, Some(r"back\")).await,
        [r"back\slash"]
    );
    assert_eq!(
        harness.names(tenant, None, Some("%")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        harness.names(tenant, None, Some("_")).await,
        Vec::<String>::new()
    );
    assert_eq!(harness.names(tenant, None, Some("")).await, names);
    harness.env.cleanup().await;
}

#[tokio::test]
async fn cursor_pagination_walks_every_agent_exactly_once_in_id_order() {
    let mut harness = PgHarness::new().await;
    let (tenant, other_tenant) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mine = Vec::new();
    let mut paused = Vec::new();
    for i in 0..13 {
        let id = harness
            .commands
            .create(tenant, &format!("agent {i}"), at(i))
            .await;
        if i % 3 == 0 {
            harness.commands.pause(tenant, id, at(i)).await;
            paused.push(id);
        }
        mine.push(id);
        if i % 4 == 0 {
            harness
                .commands
                .create(other_tenant, &format!("agent {i}"), at(i))
                .await;
        }
    }
    mine.sort();
    paused.sort();
    harness.project().await;

    let walk = |status: Option<&'static str>, limit: i64| {
        let harness = &harness;
        async move {
            let mut ids = Vec::new();
            let mut page_sizes = Vec::new();
            let mut cursor = None;
            loop {
                let filter = AgentListFilter {
                    status: status.map(str::to_owned),
                    name_prefix: None,
                    limit,
                    cursor,
                };
                let page = harness.list(tenant, filter).await;
                page_sizes.push(page.items.len());
                ids.extend(page.items.iter().map(|agent| agent.id));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => return (ids, page_sizes),
                }
                assert!(page_sizes.len() <= 20, "pagination does not end");
            }
        }
    };
    assert_eq!(walk(None, 5).await, (mine.clone(), vec![5, 5, 3]));
    assert_eq!(walk(None, 100).await, (mine.clone(), vec![13]));
    assert_eq!(walk(None, 1).await, (mine.clone(), vec![1; 13]));
    // An exact multiple of the page size ends without an empty trailing page.
    assert_eq!(paused.len(), 5);
    assert_eq!(walk(Some("paused"), 5).await, (paused.clone(), vec![5]));
    assert_eq!(walk(Some("paused"), 2).await, (paused, vec![2, 2, 1]));

    // A cursor the server did not make reads as "from the start".
    let garbage = AgentListFilter {
        limit: 3,
        cursor: Some("not a cursor!".to_owned()),
        ..AgentListFilter::default()
    };
    let page = harness.list(tenant, garbage).await;
    assert_eq!(
        page.items.iter().map(|a| a.id).collect::<Vec<_>>(),
        mine[..3]
    );

    // Every event was delivered, and both tenants' agents are in the table.
    let info = consumer_info(&harness.env, AGENTS_PROJECTION).await;
    assert_eq!(info.num_pending, 0);
    assert_eq!(all_rows(&harness.env.pool).await.len(), 13 + 4);
    harness.env.cleanup().await;
}
