//! The `api_key_list` read model: a tenant's keys without their secrets, for
//! `GET /v1/api-keys`.

use chrono::{DateTime, Utc};
use domain::api_key::{API_KEY_AGGREGATE_TYPE, ApiKeyEvent};
use eventstore::CloudEvent;
use serde::{Deserialize, Serialize};
use sqlx::{Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::domain_event;
use crate::pg_model::{PgModel, PgProjection, check_duplicate, id_and_version};

/// The projection's name (consumer and checkpoint).
pub const API_KEYS_PROJECTION: &str = "api_keys_pg";
const TABLE: &str = "api_key_list";

/// A key as listed: never its secret nor the secret's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub name: String,
    /// Scopes such as `agents:read`.
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    /// Who issued it: an API key id, or `system:operator`.
    pub issued_by: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The API keys read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiKeysModel;

/// The Postgres projection of API keys.
pub type ApiKeysProjection = PgProjection<ApiKeysModel>;

#[async_trait::async_trait]
impl PgModel for ApiKeysModel {
    fn name(&self) -> &'static str {
        API_KEYS_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[API_KEY_AGGREGATE_TYPE]
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS api_key_list (
                 id                uuid PRIMARY KEY,
                 tenant_id         uuid        NOT NULL,
                 name              text        NOT NULL,
                 scopes            text[]      NOT NULL,
                 expires_at        timestamptz,
                 revoked_at        timestamptz,
                 revocation_reason text,
                 issued_by         text        NOT NULL,
                 version           bigint      NOT NULL,
                 created_at        timestamptz NOT NULL,
                 updated_at        timestamptz NOT NULL);
             CREATE INDEX IF NOT EXISTS api_key_list_tenant ON api_key_list (tenant_id, id);",
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
        let key_event: ApiKeyEvent = domain_event(event)?;
        let updated = match key_event {
            ApiKeyEvent::ApiKeyIssued(issued) => {
                let scopes: Vec<&str> = issued.scopes.iter().map(|s| s.as_str()).collect();
                sqlx::query(
                    "INSERT INTO api_key_list (id, tenant_id, name, scopes, expires_at, issued_by,
                                               version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(issued.tenant_id)
                .bind(&issued.name)
                .bind(&scopes)
                .bind(issued.expires_at)
                .bind(event.actor.as_deref().unwrap_or_default())
                .bind(version)
                .bind(issued.issued_at)
                .execute(&mut *conn)
                .await?;
                return Ok(());
            }
            ApiKeyEvent::ApiKeyRevoked(revoked) => sqlx::query(
                "UPDATE api_key_list SET revoked_at = $3, revocation_reason = $4, version = $2,
                        updated_at = $3
                  WHERE id = $1 AND version = $2 - 1",
            )
            .bind(id)
            .bind(version)
            .bind(revoked.revoked_at)
            .bind(revoked.reason),
            ApiKeyEvent::ApiKeyExpirySet(set) => sqlx::query(
                "UPDATE api_key_list SET expires_at = $3, version = $2, updated_at = $4
                  WHERE id = $1 AND version = $2 - 1",
            )
            .bind(id)
            .bind(version)
            .bind(set.expires_at)
            .bind(set.set_at),
        }
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if updated == 0 {
            check_duplicate(conn, TABLE, id, version).await?;
        }
        Ok(())
    }
}

/// The tenant's keys, oldest first.
pub async fn list_api_keys(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Vec<ApiKeyView>, ProjectionError> {
    Ok(
        sqlx::query_as("SELECT * FROM api_key_list WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant_id)
            .fetch_all(pool)
            .await?,
    )
}

/// One of the tenant's keys.
pub async fn get_api_key(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ApiKeyView>, ProjectionError> {
    Ok(
        sqlx::query_as("SELECT * FROM api_key_list WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}
