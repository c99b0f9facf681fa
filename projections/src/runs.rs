//! The `runs` and `run_steps` read models in Postgres: each run with its status, limits,
//! spend and result, and each of its steps with what it did.
//!
//! The run row keeps the run's state as the domain folds it, so the projection applies an
//! event with the aggregate's own `apply` and cannot drift from it: the row's columns and
//! the touched step are then written from that state, in the same versioned update.

mod queries;

use cqrs_es::Aggregate;
use domain::run::{RUN_AGGREGATE_TYPE, Run, RunEvent};
use eventstore::CloudEvent;
use sqlx::types::Json;
use sqlx::{Executor, PgConnection};
use uuid::Uuid;

use crate::ProjectionError;
use crate::pg_model::{PgModel, PgProjection, check_duplicate, id_and_version};

pub use queries::{
    RunList, RunListFilter, RunView, get_run, list_runs, run_steps, unfinished_runs_before,
};

/// The projection's name (consumer and checkpoint).
pub const RUNS_PROJECTION: &str = "runs_pg";
/// One row per run; the consistency-token table of runs.
pub const RUNS_TABLE: &str = "runs";

/// The runs read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunsModel;

/// The Postgres projection of runs.
pub type RunsProjection = PgProjection<RunsModel>;

#[async_trait::async_trait]
impl PgModel for RunsModel {
    fn name(&self) -> &'static str {
        RUNS_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[RUN_AGGREGATE_TYPE]
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS runs (
                 id             uuid PRIMARY KEY,
                 tenant_id      uuid        NOT NULL,
                 agent_id       uuid        NOT NULL,
                 status         text        NOT NULL,
                 stop_reason    text,
                 step_count     integer     NOT NULL,
                 spent_micros   bigint      NOT NULL,
                 state          jsonb       NOT NULL,
                 version        bigint      NOT NULL,
                 created_at     timestamptz NOT NULL,
                 updated_at     timestamptz NOT NULL,
                 finished_at    timestamptz);
             CREATE INDEX IF NOT EXISTS runs_agent ON runs (tenant_id, agent_id, id);
             CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (created_at)
                 WHERE finished_at IS NULL;
             CREATE TABLE IF NOT EXISTS run_steps (
                 run_id      uuid        NOT NULL,
                 number      integer     NOT NULL,
                 tenant_id   uuid        NOT NULL,
                 kind        text        NOT NULL,
                 status      text        NOT NULL,
                 step        jsonb       NOT NULL,
                 started_at  timestamptz NOT NULL,
                 finished_at timestamptz,
                 PRIMARY KEY (run_id, number));",
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
        let run_event: RunEvent = serde_json::from_value(event.tagged_payload())?;
        let step = run_event.step();
        if let RunEvent::RunStarted(_) = run_event {
            let mut run = Run::default();
            run.apply(run_event);
            return insert_run(conn, id, version, &run).await;
        }
        let stored: Option<(Json<Run>, i64)> =
            sqlx::query_as("SELECT state, version FROM runs WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        match stored {
            Some((Json(mut run), stored_version)) if stored_version == version - 1 => {
                run.apply(run_event);
                update_run(conn, id, version, &run).await?;
                if let Some(number) = step {
                    upsert_step(conn, id, &run, number).await?;
                }
                Ok(())
            }
            _ => check_duplicate(conn, RUNS_TABLE, id, version).await,
        }
    }
}

async fn insert_run(
    conn: &mut PgConnection,
    id: Uuid,
    version: i64,
    run: &Run,
) -> Result<(), ProjectionError> {
    let (Some(tenant_id), Some(agent_id), Some(created_at)) =
        (run.tenant_id(), run.agent_id(), run.created_at())
    else {
        return Err(invalid(id, "a RunStarted event without its run"));
    };
    sqlx::query(
        "INSERT INTO runs (id, tenant_id, agent_id, status, stop_reason, step_count,
             spent_micros, state, version, created_at, updated_at, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(agent_id)
    .bind(status_of(run))
    .bind(run.stop_reason().map(|reason| reason.as_str()))
    .bind(step_count(run))
    .bind(run.spent_micros())
    .bind(Json(run))
    .bind(version)
    .bind(created_at)
    .bind(run.finished_at())
    .execute(conn)
    .await?;
    Ok(())
}

async fn update_run(
    conn: &mut PgConnection,
    id: Uuid,
    version: i64,
    run: &Run,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE runs SET status = $3, stop_reason = $4, step_count = $5, spent_micros = $6,
                state = $7, updated_at = $8, finished_at = $9, version = $2
          WHERE id = $1 AND version = $2 - 1",
    )
    .bind(id)
    .bind(version)
    .bind(status_of(run))
    .bind(run.stop_reason().map(|reason| reason.as_str()))
    .bind(step_count(run))
    .bind(run.spent_micros())
    .bind(Json(run))
    .bind(run.updated_at())
    .bind(run.finished_at())
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes step `number` as the run's state holds it now.
async fn upsert_step(
    conn: &mut PgConnection,
    id: Uuid,
    run: &Run,
    number: u32,
) -> Result<(), ProjectionError> {
    let (Some(step), Some(tenant_id)) = (run.step(number), run.tenant_id()) else {
        // Stored events are facts: one naming a step the run lacks changes no step.
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO run_steps (run_id, number, tenant_id, kind, status, step, started_at,
             finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (run_id, number) DO UPDATE
            SET kind = $4, status = $5, step = $6, started_at = $7, finished_at = $8",
    )
    .bind(id)
    .bind(i32::try_from(number).unwrap_or(i32::MAX))
    .bind(tenant_id)
    .bind(step.kind().as_str())
    .bind(step.status.as_str())
    .bind(Json(step))
    .bind(step.started_at)
    .bind(step.finished_at)
    .execute(conn)
    .await?;
    Ok(())
}

fn status_of(run: &Run) -> &'static str {
    run.status().map_or("queued", |status| status.as_str())
}

fn step_count(run: &Run) -> i32 {
    i32::try_from(run.steps().len()).unwrap_or(i32::MAX)
}

fn invalid(id: Uuid, what: &str) -> ProjectionError {
    ProjectionError::Store(eventstore::StoreError::Invalid(format!("run {id}: {what}")))
}
