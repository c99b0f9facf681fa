//! The Postgres `agents` read model follows each command of an agent's lifecycle.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::agent::{AgentConfig, AgentConfigChanges, ModelConfig};
use eventstore::testing::TestEnv;
use projections::agents;
use projections::{AgentListFilter, AgentView, AgentsProjection};
use uuid::Uuid;

use crate::driving::{drive_until, runner};
use crate::helpers::{Commands, Publisher, at, config, pg_checkpoint};

/// Projects every published event into the Postgres read model, step by step.
pub struct PgHarness {
    pub env: TestEnv,
    pub commands: Commands,
    publisher: Publisher,
}

impl PgHarness {
    pub async fn new() -> Self {
        let env = TestEnv::new().await;
        Self {
            commands: Commands::new(&env),
            publisher: Publisher::new(&env).await,
            env,
        }
    }

    /// Publishes what the commands appended and projects it; returns the last sequence.
    pub async fn project(&mut self) -> u64 {
        let last = self.publisher.publish_all().await;
        let runner = runner(
            Arc::new(AgentsProjection::new(
                self.env.pool.clone(),
                projections::AgentsModel,
            )),
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

    pub async fn get(&self, tenant_id: Uuid, id: Uuid) -> Option<AgentView> {
        agents::get_agent(&self.env.pool, tenant_id, id)
            .await
            .unwrap()
    }

    pub async fn list(&self, tenant_id: Uuid, filter: AgentListFilter) -> projections::AgentList {
        agents::list_agents(&self.env.pool, tenant_id, &filter)
            .await
            .unwrap()
    }

    /// Names of the tenant's agents matching `status` and `name_prefix`, in id order.
    pub async fn names(
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
        projections::versions::read_model_version(&harness.env.pool, "agent", tenant, id)
            .await
            .unwrap()
            .unwrap(),
        6
    );
    assert_eq!(pg_checkpoint(&harness.env.pool).await, last);
    assert_eq!(last, 6);
    harness.env.cleanup().await;
}
