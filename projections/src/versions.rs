//! Which Postgres read model serves each aggregate type, and how far it has got with one
//! aggregate: what read-your-writes waits on. Every such table has the columns
//! `id uuid`, `tenant_id uuid` and `version bigint` (the aggregate's last applied sequence).

use sqlx::PgPool;
use uuid::Uuid;

use crate::ProjectionError;

/// The table holding one row per aggregate of `aggregate_type`, if there is one.
pub fn version_table(aggregate_type: &str) -> Option<&'static str> {
    match aggregate_type {
        domain::agent::AGENT_AGGREGATE_TYPE => Some(crate::agents::AGENTS_TABLE),
        domain::api_key::API_KEY_AGGREGATE_TYPE => Some("api_key_list"),
        domain::memory::MEMORY_AGGREGATE_TYPE => Some(crate::memories::MEMORIES_TABLE),
        domain::tool::TOOL_AGGREGATE_TYPE => Some(crate::tools::TOOLS_TABLE),
        domain::run::RUN_AGGREGATE_TYPE => Some(crate::runs::RUNS_TABLE),
        domain::tool_invocation::TOOL_INVOCATION_AGGREGATE_TYPE => {
            Some(crate::tool_invocations::TOOL_INVOCATIONS_TABLE)
        }
        domain::webhook::WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE => {
            Some(crate::webhooks::WEBHOOKS_TABLE)
        }
        // One row per account, keyed by the tenant id (the account's aggregate id).
        domain::billing::BILLING_ACCOUNT_AGGREGATE_TYPE => {
            Some(crate::billing::BILLING_ACCOUNT_TABLE)
        }
        _ => None,
    }
}

/// The version of aggregate `id` in its read model (0 when absent or of another tenant);
/// `None` when no read model serves `aggregate_type`.
pub async fn read_model_version(
    pool: &PgPool,
    aggregate_type: &str,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<u64>, ProjectionError> {
    let Some(table) = version_table(aggregate_type) else {
        return Ok(None);
    };
    let version: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM {table} WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    Ok(Some(
        version.map_or(0, |v| u64::try_from(v).unwrap_or_default()),
    ))
}
