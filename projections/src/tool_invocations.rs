//! The `tool_invocations` read model in Postgres: every call of a tool with its status,
//! outcome and duration, listed by agent, run, tool or status.

use chrono::{DateTime, Utc};
use domain::tool_invocation::{TOOL_INVOCATION_AGGREGATE_TYPE, ToolInvocationEvent};
use eventstore::CloudEvent;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::ProjectionError;
use crate::page::{decode_position_cursor, encode_position_cursor, split_page};
use crate::pg_model::{PgModel, PgProjection, applied_or_duplicate, id_and_version};

/// The projection's name (consumer and checkpoint).
pub const TOOL_INVOCATIONS_PROJECTION: &str = "tool_invocations_pg";
/// One row per invocation; the consistency-token table of invocations.
pub const TOOL_INVOCATIONS_TABLE: &str = "tool_invocations";

/// A tool invocation as the query API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ToolInvocationView {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    /// The store position of the request: the list order.
    #[serde(skip)]
    pub position: i64,
    pub tool_id: Uuid,
    pub tool_name: String,
    /// The exact tool version in force for this call.
    pub tool_version: i32,
    pub agent_id: Uuid,
    pub run_id: Option<Uuid>,
    pub step: Option<i64>,
    pub tool_call_id: Option<String>,
    pub idempotency_key: String,
    #[schema(value_type = Object)]
    pub arguments: Json<serde_json::Value>,
    /// `requested`, `running`, `succeeded`, `failed` or `timed_out`.
    pub status: String,
    /// The latest attempt started: 0 before the first start.
    pub attempt: i32,
    /// Which executor runs (or ran) the latest attempt.
    pub executor: Option<String>,
    /// What a succeeded call returned.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Json<serde_json::Value>>,
    /// What went wrong with a failed call.
    pub error: Option<String>,
    /// How long the final attempt took, in milliseconds, when it was reported.
    pub duration_ms: Option<i64>,
    /// The time limit a timed-out call exceeded, in milliseconds.
    pub timeout_ms: Option<i64>,
    /// The aggregate version (its last event's sequence).
    pub version: i64,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Filters and page of a list request.
#[derive(Debug, Clone, Default)]
pub struct InvocationListFilter {
    pub agent_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub tool_id: Option<Uuid>,
    pub status: Option<String>,
    pub limit: i64,
    pub cursor: Option<String>,
}

/// One page of invocations and the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvocationList {
    pub items: Vec<ToolInvocationView>,
    pub next_cursor: Option<String>,
}

/// The tool invocations read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolInvocationsModel;

/// The Postgres projection of tool invocations.
pub type ToolInvocationsProjection = PgProjection<ToolInvocationsModel>;

#[async_trait::async_trait]
impl PgModel for ToolInvocationsModel {
    fn name(&self) -> &'static str {
        TOOL_INVOCATIONS_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[TOOL_INVOCATION_AGGREGATE_TYPE]
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS tool_invocations (
                 id              uuid PRIMARY KEY,
                 tenant_id       uuid        NOT NULL,
                 position        bigint      NOT NULL,
                 tool_id         uuid        NOT NULL,
                 tool_name       text        NOT NULL,
                 tool_version    integer     NOT NULL,
                 agent_id        uuid        NOT NULL,
                 run_id          uuid,
                 step            bigint,
                 tool_call_id    text,
                 idempotency_key text        NOT NULL,
                 arguments       jsonb       NOT NULL,
                 status          text        NOT NULL,
                 attempt         integer     NOT NULL,
                 executor        text,
                 output          jsonb,
                 error           text,
                 duration_ms     bigint,
                 timeout_ms      bigint,
                 version         bigint      NOT NULL,
                 requested_at    timestamptz NOT NULL,
                 started_at      timestamptz,
                 finished_at     timestamptz,
                 updated_at      timestamptz NOT NULL);
             CREATE INDEX IF NOT EXISTS tool_invocations_tenant
                 ON tool_invocations (tenant_id, position);
             CREATE INDEX IF NOT EXISTS tool_invocations_agent
                 ON tool_invocations (tenant_id, agent_id, position);
             CREATE INDEX IF NOT EXISTS tool_invocations_run
                 ON tool_invocations (tenant_id, run_id, position) WHERE run_id IS NOT NULL;
             CREATE INDEX IF NOT EXISTS tool_invocations_tool
                 ON tool_invocations (tenant_id, tool_id, position);
             CREATE INDEX IF NOT EXISTS tool_invocations_status
                 ON tool_invocations (tenant_id, status, position);",
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
        let invocation_event: ToolInvocationEvent = crate::decode::domain_event(event)?;
        let update = match invocation_event {
            ToolInvocationEvent::InvocationRequested(requested) => {
                sqlx::query(
                    "INSERT INTO tool_invocations (id, tenant_id, position, tool_id, tool_name,
                         tool_version, agent_id, run_id, step, tool_call_id, idempotency_key,
                         arguments, status, attempt, version, requested_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'requested', 0,
                             $13, $14, $14)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(requested.tenant_id)
                .bind(event.position)
                .bind(requested.tool_id)
                .bind(&requested.tool_name)
                .bind(i32::try_from(requested.tool_version).unwrap_or(i32::MAX))
                .bind(requested.agent_id)
                .bind(requested.run_id)
                .bind(requested.step.map(i64::from))
                .bind(&requested.tool_call_id)
                .bind(&requested.idempotency_key)
                .bind(Json(&requested.arguments))
                .bind(version)
                .bind(requested.requested_at)
                .execute(&mut *conn)
                .await?;
                return Ok(());
            }
            ToolInvocationEvent::InvocationStarted(started) => sqlx::query(
                "UPDATE tool_invocations SET status = 'running', attempt = $3, executor = $4,
                        started_at = $5, updated_at = $5, version = $2
                  WHERE id = $1 AND version = $2 - 1",
            )
            .bind(id)
            .bind(version)
            .bind(i32::try_from(started.attempt).unwrap_or(i32::MAX))
            .bind(started.executor)
            .bind(started.started_at),
            ToolInvocationEvent::InvocationSucceeded(succeeded) => finish(
                id,
                version,
                Outcome {
                    status: "succeeded",
                    output: Some(Json(succeeded.output)),
                    duration_ms: Some(succeeded.duration_ms),
                    at: succeeded.completed_at,
                    ..Outcome::default()
                },
            ),
            ToolInvocationEvent::InvocationFailed(failed) => finish(
                id,
                version,
                Outcome {
                    status: "failed",
                    error: Some(failed.error),
                    duration_ms: failed.duration_ms,
                    at: failed.failed_at,
                    ..Outcome::default()
                },
            ),
            ToolInvocationEvent::InvocationTimedOut(timed_out) => finish(
                id,
                version,
                Outcome {
                    status: "timed_out",
                    timeout_ms: Some(timed_out.timeout_ms),
                    at: timed_out.timed_out_at,
                    ..Outcome::default()
                },
            ),
        };
        let rows = update.execute(&mut *conn).await?.rows_affected();
        applied_or_duplicate(conn, TOOL_INVOCATIONS_TABLE, id, version, rows).await?;
        Ok(())
    }
}

type PgQuery = sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// What a succeeded, failed or timed-out invocation records.
#[derive(Default)]
struct Outcome {
    status: &'static str,
    output: Option<Json<serde_json::Value>>,
    error: Option<String>,
    duration_ms: Option<u64>,
    timeout_ms: Option<u64>,
    at: DateTime<Utc>,
}

/// The versioned update that gives invocation `id` its outcome.
fn finish(id: Uuid, version: i64, outcome: Outcome) -> PgQuery {
    sqlx::query(
        "UPDATE tool_invocations
            SET status = $3, output = $4, error = $5, duration_ms = $6, timeout_ms = $7,
                finished_at = $8, updated_at = $8, version = $2
          WHERE id = $1 AND version = $2 - 1",
    )
    .bind(id)
    .bind(version)
    .bind(outcome.status)
    .bind(outcome.output)
    .bind(outcome.error)
    .bind(millis(outcome.duration_ms))
    .bind(millis(outcome.timeout_ms))
    .bind(outcome.at)
}

fn millis(value: Option<u64>) -> Option<i64> {
    value.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

/// One invocation of `tenant_id`, if it exists and belongs to that tenant.
pub async fn get_invocation(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ToolInvocationView>, ProjectionError> {
    Ok(
        sqlx::query_as("SELECT * FROM tool_invocations WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// A page of the tenant's invocations in the order they were requested.
pub async fn list_invocations(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &InvocationListFilter,
) -> Result<InvocationList, ProjectionError> {
    let after = filter.cursor.as_deref().and_then(decode_position_cursor);
    let rows: Vec<ToolInvocationView> = sqlx::query_as(
        "SELECT * FROM tool_invocations
          WHERE tenant_id = $1
            AND ($2::bigint IS NULL OR position > $2)
            AND ($3::uuid IS NULL OR agent_id = $3)
            AND ($4::uuid IS NULL OR run_id = $4)
            AND ($5::uuid IS NULL OR tool_id = $5)
            AND ($6::text IS NULL OR status = $6)
          ORDER BY position
          LIMIT $7",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(filter.agent_id)
    .bind(filter.run_id)
    .bind(filter.tool_id)
    .bind(&filter.status)
    .bind(filter.limit + 1)
    .fetch_all(pool)
    .await?;
    let (items, next_cursor) = split_page(rows, filter.limit, |last| {
        encode_position_cursor(last.position)
    });
    Ok(InvocationList { items, next_cursor })
}
