//! The `tools` and `tool_versions` read models in Postgres: what `GET /v1/tools` lists and
//! what `GET /v1/tools/{id}` shows with every version.

use chrono::{DateTime, Utc};
use domain::tool::{TOOL_AGGREGATE_TYPE, ToolEvent, ToolVersion};
use eventstore::CloudEvent;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::ProjectionError;
use crate::agents::{decode_cursor, encode_cursor};
use crate::page::split_page;
use crate::pg_model::{PgModel, PgProjection, applied_or_duplicate, id_and_version};

/// The projection's name (consumer and checkpoint).
pub const TOOLS_PROJECTION: &str = "tools_pg";
/// One row per tool, at its latest version; the consistency-token table of tools.
pub const TOOLS_TABLE: &str = "tools";

/// A tool as listed: its latest version's description and kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ToolView {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub name: String,
    /// `active`, `deprecated` or `disabled`.
    pub status: String,
    /// The number of the version in force (the last one published).
    pub latest_version: i32,
    /// The latest version's description.
    pub description: String,
    /// How the latest version is carried out.
    #[schema(value_type = domain::tool::ToolKind)]
    pub kind: Json<serde_json::Value>,
    /// Why it was deprecated or disabled, if the caller said.
    pub status_reason: Option<String>,
    /// The aggregate version (its last event's sequence).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deprecated_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// One published version of a tool; versions never change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ToolVersionView {
    pub tool_id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    /// 1 for the registered version, then +1 per published version.
    pub version: i32,
    pub description: String,
    /// JSON Schema the arguments of every call must match.
    #[schema(value_type = Object)]
    pub input_schema: Json<serde_json::Value>,
    /// JSON Schema the output of every call must match, if any.
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Json<serde_json::Value>>,
    #[schema(value_type = domain::tool::ToolKind)]
    pub kind: Json<serde_json::Value>,
    pub published_at: DateTime<Utc>,
}

/// A tool with every version it ever had, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ToolDetail {
    #[serde(flatten)]
    pub tool: ToolView,
    pub versions: Vec<ToolVersionView>,
}

/// Filters and page of a list request.
#[derive(Debug, Clone, Default)]
pub struct ToolListFilter {
    pub status: Option<String>,
    pub limit: i64,
    pub cursor: Option<String>,
}

/// One page of tools and the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToolList {
    pub items: Vec<ToolView>,
    pub next_cursor: Option<String>,
}

/// The tools read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolsModel;

/// The Postgres projection of tools.
pub type ToolsProjection = PgProjection<ToolsModel>;

#[async_trait::async_trait]
impl PgModel for ToolsModel {
    fn name(&self) -> &'static str {
        TOOLS_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[TOOL_AGGREGATE_TYPE]
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS tools (
                 id             uuid PRIMARY KEY,
                 tenant_id      uuid        NOT NULL,
                 name           text        NOT NULL,
                 status         text        NOT NULL,
                 latest_version integer     NOT NULL,
                 description    text        NOT NULL,
                 kind           jsonb       NOT NULL,
                 status_reason  text,
                 version        bigint      NOT NULL,
                 created_at     timestamptz NOT NULL,
                 updated_at     timestamptz NOT NULL,
                 deprecated_at  timestamptz,
                 disabled_at    timestamptz);
             CREATE INDEX IF NOT EXISTS tools_tenant ON tools (tenant_id, id);
             CREATE INDEX IF NOT EXISTS tools_tenant_status ON tools (tenant_id, status, id);
             CREATE TABLE IF NOT EXISTS tool_versions (
                 tool_id        uuid        NOT NULL,
                 version        integer     NOT NULL,
                 tenant_id      uuid        NOT NULL,
                 description    text        NOT NULL,
                 input_schema   jsonb       NOT NULL,
                 output_schema  jsonb,
                 kind           jsonb       NOT NULL,
                 published_at   timestamptz NOT NULL,
                 PRIMARY KEY (tool_id, version));",
        )
        .await?;
        Ok(())
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &CloudEvent,
    ) -> Result<(), ProjectionError> {
        let (id, version) = id_and_version(event)?;
        let tool_event: ToolEvent = crate::decode::domain_event(event)?;
        match tool_event {
            ToolEvent::ToolRegistered(registered) => {
                let first = &registered.version;
                sqlx::query(
                    "INSERT INTO tools (id, tenant_id, name, status, latest_version, description,
                                        kind, version, created_at, updated_at)
                     VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $8)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(registered.tenant_id)
                .bind(&registered.name)
                .bind(version_number(first))
                .bind(&first.description)
                .bind(Json(&first.kind))
                .bind(version)
                .bind(first.published_at)
                .execute(&mut *conn)
                .await?;
                insert_version(conn, id, registered.tenant_id, first).await?;
            }
            ToolEvent::ToolVersionPublished(published) => {
                let next = &published.version;
                let rows = sqlx::query(
                    "UPDATE tools SET latest_version = $3, description = $4, kind = $5,
                            version = $2, updated_at = $6
                      WHERE id = $1 AND version = $2 - 1",
                )
                .bind(id)
                .bind(version)
                .bind(version_number(next))
                .bind(&next.description)
                .bind(Json(&next.kind))
                .bind(next.published_at)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if applied_or_duplicate(conn, TOOLS_TABLE, id, version, rows).await? {
                    insert_version(conn, id, event.tenantid, next).await?;
                }
            }
            ToolEvent::ToolDeprecated(deprecated) => {
                let change = ("deprecated", deprecated.reason, deprecated.deprecated_at);
                set_status(conn, id, version, change).await?;
            }
            ToolEvent::ToolDisabled(disabled) => {
                let change = ("disabled", disabled.reason, disabled.disabled_at);
                set_status(conn, id, version, change).await?;
            }
        }
        Ok(())
    }
}

/// Moves tool `id` to `status` (deprecated or disabled) with its reason and time.
async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    version: i64,
    (status, reason, at): (&str, Option<String>, DateTime<Utc>),
) -> Result<(), ProjectionError> {
    let rows = sqlx::query(
        "UPDATE tools
            SET status = $3, status_reason = $4, updated_at = $5, version = $2,
                deprecated_at = CASE WHEN $3 = 'deprecated' THEN $5 ELSE deprecated_at END,
                disabled_at = CASE WHEN $3 = 'disabled' THEN $5 ELSE disabled_at END
          WHERE id = $1 AND version = $2 - 1",
    )
    .bind(id)
    .bind(version)
    .bind(status)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    applied_or_duplicate(conn, TOOLS_TABLE, id, version, rows).await?;
    Ok(())
}

fn version_number(version: &ToolVersion) -> i32 {
    i32::try_from(version.version).unwrap_or(i32::MAX)
}

async fn insert_version(
    conn: &mut PgConnection,
    tool_id: Uuid,
    tenant_id: Uuid,
    version: &ToolVersion,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO tool_versions (tool_id, version, tenant_id, description, input_schema,
                                    output_schema, kind, published_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tool_id, version) DO NOTHING",
    )
    .bind(tool_id)
    .bind(version_number(version))
    .bind(tenant_id)
    .bind(&version.description)
    .bind(Json(&version.input_schema))
    .bind(version.output_schema.as_ref().map(Json))
    .bind(Json(&version.kind))
    .bind(version.published_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One tool of `tenant_id` with all its versions, if it exists and belongs to that tenant.
pub async fn get_tool(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ToolDetail>, ProjectionError> {
    let tool: Option<ToolView> =
        sqlx::query_as("SELECT * FROM tools WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?;
    let Some(tool) = tool else {
        return Ok(None);
    };
    let versions = sqlx::query_as(
        "SELECT * FROM tool_versions WHERE tool_id = $1 AND tenant_id = $2 ORDER BY version",
    )
    .bind(id)
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(ToolDetail { tool, versions }))
}

/// Version `number` of one of the tenant's tools.
pub async fn get_tool_version(
    pool: &PgPool,
    tenant_id: Uuid,
    tool_id: Uuid,
    number: i32,
) -> Result<Option<ToolVersionView>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT * FROM tool_versions WHERE tool_id = $1 AND version = $2 AND tenant_id = $3",
    )
    .bind(tool_id)
    .bind(number)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?)
}

/// A page of the tenant's tools, oldest first (ids are UUIDv7).
pub async fn list_tools(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &ToolListFilter,
) -> Result<ToolList, ProjectionError> {
    let after = filter.cursor.as_deref().and_then(decode_cursor);
    let rows: Vec<ToolView> = sqlx::query_as(
        "SELECT * FROM tools
          WHERE tenant_id = $1
            AND ($2::uuid IS NULL OR id > $2)
            AND ($3::text IS NULL OR status = $3)
          ORDER BY id
          LIMIT $4",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(&filter.status)
    .bind(filter.limit + 1)
    .fetch_all(pool)
    .await?;
    let (items, next_cursor) = split_page(rows, filter.limit, |last| encode_cursor(last.id));
    Ok(ToolList { items, next_cursor })
}
