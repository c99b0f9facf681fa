//! Every Postgres read model, so a process can create their tables in one call: the
//! query API reads them before any projector may have started.

use sqlx::PgPool;

use crate::ProjectionError;
use crate::agents::{AgentsModel, AgentsProjection};
use crate::api_keys::{ApiKeysModel, ApiKeysProjection};
use crate::memories::{MemoriesModel, MemoriesProjection};
use crate::runs::{RunsModel, RunsProjection};
use crate::tool_invocations::{ToolInvocationsModel, ToolInvocationsProjection};
use crate::tools::{ToolsModel, ToolsProjection};
use crate::webhooks::{WebhooksModel, WebhooksProjection};

/// Creates the tables of every Postgres read model that are missing.
pub async fn ensure_postgres_tables(pool: &PgPool) -> Result<(), ProjectionError> {
    AgentsProjection::new(pool.clone(), AgentsModel)
        .ensure_tables()
        .await?;
    ApiKeysProjection::new(pool.clone(), ApiKeysModel)
        .ensure_tables()
        .await?;
    MemoriesProjection::new(pool.clone(), MemoriesModel)
        .ensure_tables()
        .await?;
    ToolsProjection::new(pool.clone(), ToolsModel)
        .ensure_tables()
        .await?;
    ToolInvocationsProjection::new(pool.clone(), ToolInvocationsModel)
        .ensure_tables()
        .await?;
    WebhooksProjection::new(pool.clone(), WebhooksModel)
        .ensure_tables()
        .await?;
    crate::billing::ensure_tables(pool).await?;
    RunsProjection::new(pool.clone(), RunsModel)
        .ensure_tables()
        .await?;
    Ok(())
}
