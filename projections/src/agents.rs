//! The `agents` read model in Postgres: what `GET /v1/agents` lists and filters.

use chrono::{DateTime, Utc};
use domain::agent::{AGENT_AGGREGATE_TYPE, AgentConfig, AgentEvent};
use eventstore::CloudEvent;
use serde::{Deserialize, Serialize};
use sqlx::{Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::domain_event;
use crate::page::split_page;
pub use crate::page::{decode_cursor, encode_cursor};
use crate::pg_model::{PgModel, PgProjection, check_duplicate};

/// The live table's name; rebuilds build a shadow table and rename it to this.
pub const AGENTS_TABLE: &str = "agents";
/// The projection's name (consumer and checkpoint).
pub const AGENTS_PROJECTION: &str = "agents_pg";

/// An agent as the query API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    /// `active`, `paused` or `archived`.
    pub status: String,
    #[schema(value_type = domain::agent::ModelConfig)]
    pub model: sqlx::types::Json<serde_json::Value>,
    pub system_prompt: String,
    pub tool_ids: Vec<Uuid>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub metadata: sqlx::types::Json<serde_json::Value>,
    pub config_version: i32,
    /// The aggregate version (its last event's sequence): the ETag.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// Filters and page of a list request.
#[derive(Debug, Clone, Default)]
pub struct AgentListFilter {
    pub status: Option<String>,
    pub name_prefix: Option<String>,
    pub limit: i64,
    pub cursor: Option<String>,
}

/// One page of agents and the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub items: Vec<AgentView>,
    pub next_cursor: Option<String>,
}

/// The DDL of an agents table called `table`.
pub fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (
             id             uuid PRIMARY KEY,
             tenant_id      uuid        NOT NULL,
             name           text        NOT NULL,
             description    text        NOT NULL,
             status         text        NOT NULL,
             model          jsonb       NOT NULL,
             system_prompt  text        NOT NULL,
             tool_ids       uuid[]      NOT NULL,
             metadata       jsonb       NOT NULL,
             config_version integer     NOT NULL,
             version        bigint      NOT NULL,
             created_at     timestamptz NOT NULL,
             updated_at     timestamptz NOT NULL,
             archived_at    timestamptz);
         CREATE INDEX ON {table} (tenant_id, id);
         CREATE INDEX ON {table} (tenant_id, status, id);
         CREATE INDEX ON {table} (tenant_id, name text_pattern_ops);"
    )
}

/// Applies one agent event to `table`, exactly on top of the previous version: a row
/// already at or past the event's version is left alone (redelivery and rebuild overlaps
/// are harmless), and a missing row or one further behind is a
/// [`ProjectionError::VersionGap`].
pub async fn apply_event(
    conn: &mut PgConnection,
    table: &str,
    event: &CloudEvent,
) -> Result<(), ProjectionError> {
    if event.aggregatetype != AGENT_AGGREGATE_TYPE {
        return Ok(());
    }
    let Ok(id) = Uuid::parse_str(&event.aggregateid) else {
        tracing::warn!(aggregate_id = %event.aggregateid, "agent event with a non-UUID id skipped");
        return Ok(());
    };
    let version = i64::try_from(event.sequence).unwrap_or(i64::MAX);
    let agent_event: AgentEvent = domain_event(event)?;
    match &agent_event {
        AgentEvent::AgentCreated(created) => {
            let config = &created.config;
            let sql = format!(
                "INSERT INTO {table} (id, tenant_id, name, description, status, model,
                     system_prompt, tool_ids, metadata, config_version, version, created_at,
                     updated_at)
                 VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10, $11, $11)
                 ON CONFLICT (id) DO NOTHING"
            );
            bind_config(sqlx::query(&sql).bind(id).bind(created.tenant_id), config)
                .bind(i32::try_from(created.config_version).unwrap_or(i32::MAX))
                .bind(version)
                .bind(created.created_at)
                .execute(conn)
                .await?;
        }
        AgentEvent::AgentConfigUpdated(updated) => {
            let config = &updated.config;
            let sql = format!(
                "UPDATE {table} SET name = $3, description = $4, model = $5, system_prompt = $6,
                        tool_ids = $7, metadata = $8, config_version = $9, version = $2,
                        updated_at = $10
                  WHERE id = $1 AND version = $2 - 1"
            );
            let updated = bind_config(sqlx::query(&sql).bind(id).bind(version), config)
                .bind(i32::try_from(updated.config_version).unwrap_or(i32::MAX))
                .bind(updated.updated_at)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if updated == 0 {
                check_duplicate(conn, table, id, version).await?;
            }
        }
        AgentEvent::AgentPaused(paused) => {
            set_status(conn, table, id, version, "paused", paused.paused_at).await?;
        }
        AgentEvent::AgentResumed(resumed) => {
            set_status(conn, table, id, version, "active", resumed.resumed_at).await?;
        }
        AgentEvent::AgentArchived(archived) => {
            set_status(conn, table, id, version, "archived", archived.archived_at).await?;
        }
    }
    Ok(())
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the six config columns, in table order, as the next parameters.
fn bind_config<'q>(query: PgQuery<'q>, config: &'q AgentConfig) -> PgQuery<'q> {
    query
        .bind(&config.name)
        .bind(&config.description)
        .bind(sqlx::types::Json(&config.model))
        .bind(&config.system_prompt)
        .bind(&config.tool_ids)
        .bind(sqlx::types::Json(&config.metadata))
}

async fn set_status(
    conn: &mut PgConnection,
    table: &str,
    id: Uuid,
    version: i64,
    status: &str,
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    let sql = format!(
        "UPDATE {table}
            SET status = $3, updated_at = $4, version = $2,
                archived_at = CASE WHEN $3 = 'archived' THEN $4 ELSE archived_at END
          WHERE id = $1 AND version = $2 - 1"
    );
    let updated = sqlx::query(&sql)
        .bind(id)
        .bind(version)
        .bind(status)
        .bind(at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if updated == 0 {
        check_duplicate(conn, table, id, version).await?;
    }
    Ok(())
}

/// Creates the live table when it does not exist yet.
pub async fn ensure_table(pool: &PgPool) -> Result<(), ProjectionError> {
    AgentsProjection::new(pool.clone(), AgentsModel)
        .ensure_tables()
        .await
}

/// The agents read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentsModel;

/// The Postgres projection of agents.
pub type AgentsProjection = PgProjection<AgentsModel>;

#[async_trait::async_trait]
impl PgModel for AgentsModel {
    fn name(&self) -> &'static str {
        AGENTS_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGENT_AGGREGATE_TYPE]
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(AGENTS_TABLE)
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            conn.execute(create_table_sql(AGENTS_TABLE).as_str())
                .await?;
        }
        Ok(())
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &CloudEvent,
    ) -> Result<(), ProjectionError> {
        apply_event(conn, AGENTS_TABLE, event).await
    }
}

/// One agent of `tenant_id`, if it exists and belongs to that tenant.
pub async fn get_agent(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<AgentView>, ProjectionError> {
    Ok(sqlx::query_as(&format!(
        "SELECT * FROM {AGENTS_TABLE} WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?)
}

/// A page of the tenant's agents, oldest first (ids are UUIDv7).
pub async fn list_agents(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &AgentListFilter,
) -> Result<AgentList, ProjectionError> {
    let after = filter.cursor.as_deref().and_then(decode_cursor);
    let prefix = filter.name_prefix.as_deref().map(|p| {
        format!(
            "{}%",
            p.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let rows: Vec<AgentView> = sqlx::query_as(&format!(
        "SELECT * FROM {AGENTS_TABLE}
          WHERE tenant_id = $1
            AND ($2::uuid IS NULL OR id > $2)
            AND ($3::text IS NULL OR status = $3)
            AND ($4::text IS NULL OR name LIKE $4)
          ORDER BY id
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(after)
    .bind(&filter.status)
    .bind(prefix)
    .bind(filter.limit + 1)
    .fetch_all(pool)
    .await?;
    let (items, next_cursor) = split_page(rows, filter.limit, |last| encode_cursor(last.id));
    Ok(AgentList { items, next_cursor })
}
