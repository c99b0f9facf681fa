//! Reads of the runs read models: one run, an agent's runs a page at a time, the steps of
//! a run, and the runs that have been going on for too long.

use chrono::{DateTime, Utc};
use domain::agent::ModelConfig;
use domain::run::{Lease, Message, ModelUsage, Run, Step};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::ProjectionError;
use crate::agents::{decode_cursor, encode_cursor};
use crate::page::split_page;

/// A tool call that waits for a person to approve or reject it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PendingApproval {
    pub step: u32,
    pub tool_call_id: String,
    pub tool_id: Uuid,
    pub tool_name: String,
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
}

/// A run as the query API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: Uuid,
    pub agent_id: Uuid,
    /// `queued`, `running`, `requires_action`, `completed`, `failed`, `cancelled` or
    /// `timed_out`.
    pub status: String,
    /// Once stopped: `end_turn`, `max_steps`, `budget_exhausted`, `quota_exceeded`,
    /// `cancelled` or `error`.
    pub stop_reason: Option<String>,
    /// The messages the run started from.
    pub input: Vec<Message>,
    /// The model's last answer, once the run completed.
    pub output: Option<Message>,
    /// What went wrong, when the run failed.
    pub error: Option<String>,
    /// Who cancelled the run: `api_key:<id>`, `system:agent-paused`, ...
    pub cancelled_by: Option<String>,
    pub max_steps: u32,
    /// The most the run's model calls may cost, in micro-units.
    pub budget_micros: i64,
    /// What the run's model calls have cost so far, in micro-units.
    pub spent_micros: i64,
    /// Tokens used by every model call so far.
    pub usage: ModelUsage,
    pub step_count: usize,
    /// The tool calls waiting for a decision (`POST /v1/runs/{id}/approve`).
    pub pending_approvals: Vec<PendingApproval>,
    /// The engine working on the run, if one holds its lease.
    pub lease: Option<Lease>,
    /// How many times an engine's lease on the run ran out.
    pub lease_expirations: u32,
    pub idempotency_key: Option<String>,
    /// The agent configuration version the run uses.
    pub agent_config_version: u32,
    pub model: Option<ModelConfig>,
    /// The aggregate version (its last event's sequence): the ETag.
    pub version: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Every step, in order (single reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
}

impl RunView {
    fn of(id: Uuid, run: &Run, version: i64) -> Self {
        let pending_approvals = run
            .pending_approvals()
            .map(|(step, call)| PendingApproval {
                step,
                tool_call_id: call.tool_call_id.clone(),
                tool_id: call.tool_id,
                tool_name: call.tool_name.clone(),
                arguments: call.arguments.clone(),
            })
            .collect();
        Self {
            id,
            agent_id: run.agent_id().unwrap_or_default(),
            status: run
                .status()
                .map_or("queued", |status| status.as_str())
                .to_owned(),
            stop_reason: run.stop_reason().map(|reason| reason.as_str().to_owned()),
            input: run.input().to_vec(),
            output: run.output().cloned(),
            error: run.error().map(str::to_owned),
            cancelled_by: run.cancelled_by().map(str::to_owned),
            max_steps: run.max_steps(),
            budget_micros: run.budget_micros(),
            spent_micros: run.spent_micros(),
            usage: run.usage(),
            step_count: run.steps().len(),
            pending_approvals,
            lease: run.lease().cloned(),
            lease_expirations: run.lease_expirations(),
            idempotency_key: run.idempotency_key().map(str::to_owned),
            agent_config_version: run.agent_config_version(),
            model: run.model().cloned(),
            version,
            created_at: run.created_at(),
            updated_at: run.updated_at(),
            finished_at: run.finished_at(),
            steps: None,
        }
    }
}

/// Filters and page of an agent's run list.
#[derive(Debug, Clone, Default)]
pub struct RunListFilter {
    pub agent_id: Uuid,
    pub status: Option<String>,
    pub limit: i64,
    pub cursor: Option<String>,
}

/// One page of runs (without their steps) and the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunList {
    pub items: Vec<RunView>,
    pub next_cursor: Option<String>,
}

/// One run of `tenant_id` with its steps, if it exists and belongs to that tenant.
pub async fn get_run(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<RunView>, ProjectionError> {
    let row: Option<(Json<Run>, i64)> =
        sqlx::query_as("SELECT state, version FROM runs WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?;
    let Some((Json(run), version)) = row else {
        return Ok(None);
    };
    let mut view = RunView::of(id, &run, version);
    view.steps = Some(run_steps(pool, tenant_id, id).await?);
    Ok(Some(view))
}

/// The steps of run `id` in order, as the `run_steps` table holds them.
pub async fn run_steps(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Vec<Step>, ProjectionError> {
    let steps: Vec<Json<Step>> = sqlx::query_scalar(
        "SELECT step FROM run_steps WHERE run_id = $1 AND tenant_id = $2 ORDER BY number",
    )
    .bind(id)
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    Ok(steps.into_iter().map(|Json(step)| step).collect())
}

/// A page of an agent's runs, oldest first (ids are UUIDv7).
pub async fn list_runs(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &RunListFilter,
) -> Result<RunList, ProjectionError> {
    let after = filter.cursor.as_deref().and_then(decode_cursor);
    let rows: Vec<(Uuid, Json<Run>, i64)> = sqlx::query_as(
        "SELECT id, state, version FROM runs
          WHERE tenant_id = $1 AND agent_id = $2
            AND ($3::uuid IS NULL OR id > $3)
            AND ($4::text IS NULL OR status = $4)
          ORDER BY id
          LIMIT $5",
    )
    .bind(tenant_id)
    .bind(filter.agent_id)
    .bind(after)
    .bind(&filter.status)
    .bind(filter.limit + 1)
    .fetch_all(pool)
    .await?;
    let (rows, next_cursor) = split_page(rows, filter.limit, |(id, _, _)| encode_cursor(*id));
    let items = rows
        .iter()
        .map(|(id, Json(run), version)| RunView::of(*id, run, *version))
        .collect();
    Ok(RunList { items, next_cursor })
}

/// The tenant and id of up to `limit` runs created before `created_before` that have not
/// stopped, as far as the read model knows; oldest first.
pub async fn unfinished_runs_before(
    pool: &PgPool,
    created_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid)>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT tenant_id, id FROM runs
          WHERE finished_at IS NULL AND created_at < $1
          ORDER BY created_at
          LIMIT $2",
    )
    .bind(created_before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
