//! Webhook subscriptions as tables: the `webhook_subscriptions` read model that
//! `GET /v1/webhooks` lists, and (same shape, other table) the delivery worker's own view
//! of where to deliver, kept in step with the events it delivers.

use chrono::{DateTime, Utc};
use domain::webhook::{WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, WebhookSubscriptionEvent};
use eventstore::CloudEvent;
use serde::{Deserialize, Serialize};
use sqlx::{Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::domain_event;
use crate::page::{decode_cursor, encode_cursor, split_page};
use crate::pg_model::{PgModel, PgProjection, check_duplicate, id_and_version};

/// The read model's table.
pub const WEBHOOKS_TABLE: &str = "webhook_subscriptions";
/// The projection's name (consumer and checkpoint).
pub const WEBHOOKS_PROJECTION: &str = "webhook_subscriptions_pg";

/// A subscription as the query API returns it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub url: String,
    /// The event types delivered; empty for every type.
    pub event_types: Vec<String>,
    #[serde(skip)]
    pub secret_key_id: Uuid,
    /// `active`, `paused`, `failing` or `deleted`.
    pub status: String,
    /// What the last failed attempt got, while `failing`.
    pub last_error: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    /// The aggregate version (its last event's sequence).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of subscriptions and the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
    pub next_cursor: Option<String>,
}

/// The DDL of a subscriptions table called `table`.
pub fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
             id            uuid PRIMARY KEY,
             tenant_id     uuid        NOT NULL,
             url           text        NOT NULL,
             event_types   text[]      NOT NULL,
             secret_key_id uuid        NOT NULL,
             status        text        NOT NULL,
             last_error    text,
             failing_since timestamptz,
             version       bigint      NOT NULL,
             created_at    timestamptz NOT NULL,
             updated_at    timestamptz NOT NULL);
         CREATE INDEX IF NOT EXISTS {table}_tenant ON {table} (tenant_id, id);"
    )
}

/// Applies one subscription event to `table`, exactly on top of the previous version (a
/// duplicate is skipped, a missing version is a [`ProjectionError::VersionGap`]).
pub async fn apply_event(
    conn: &mut PgConnection,
    table: &str,
    event: &CloudEvent,
) -> Result<(), ProjectionError> {
    if event.aggregatetype != WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE {
        return Ok(());
    }
    let (id, version) = id_and_version(event)?;
    use WebhookSubscriptionEvent as E;
    let (status, at, last_error, failing_since) = match domain_event(event)? {
        E::WebhookSubscriptionCreated(created) => {
            sqlx::query(&format!(
                "INSERT INTO {table} (id, tenant_id, url, event_types, secret_key_id, status,
                                      version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $7)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(created.tenant_id)
            .bind(&created.url)
            .bind(&created.event_types)
            .bind(created.secret_key_id)
            .bind(version)
            .bind(created.created_at)
            .execute(conn)
            .await?;
            return Ok(());
        }
        E::WebhookSubscriptionPaused(paused) => ("paused", paused.paused_at, None, None),
        E::WebhookSubscriptionResumed(resumed) => ("active", resumed.resumed_at, None, None),
        E::WebhookSubscriptionRecovered(recovered) => {
            ("active", recovered.recovered_at, None, None)
        }
        E::WebhookSubscriptionDeleted(deleted) => ("deleted", deleted.deleted_at, None, None),
        E::WebhookSubscriptionFailing(failing) => (
            "failing",
            failing.failing_since,
            Some(failing.last_error),
            Some(failing.failing_since),
        ),
    };
    let updated = sqlx::query(&format!(
        "UPDATE {table} SET status = $3, updated_at = $4, last_error = $5, failing_since = $6,
                version = $2
          WHERE id = $1 AND version = $2 - 1"
    ))
    .bind(id)
    .bind(version)
    .bind(status)
    .bind(at)
    .bind(last_error)
    .bind(failing_since)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        check_duplicate(conn, table, id, version).await?;
    }
    Ok(())
}

/// The webhook subscriptions read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhooksModel;

/// The Postgres projection of webhook subscriptions.
pub type WebhooksProjection = PgProjection<WebhooksModel>;

#[async_trait::async_trait]
impl PgModel for WebhooksModel {
    fn name(&self) -> &'static str {
        WEBHOOKS_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE]
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        conn.execute(create_table_sql(WEBHOOKS_TABLE).as_str())
            .await?;
        Ok(())
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &CloudEvent,
    ) -> Result<(), ProjectionError> {
        apply_event(conn, WEBHOOKS_TABLE, event).await
    }
}

/// One of the tenant's subscriptions, unless it was deleted.
pub async fn get_webhook(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<WebhookView>, ProjectionError> {
    Ok(sqlx::query_as(&format!(
        "SELECT * FROM {WEBHOOKS_TABLE}
          WHERE id = $1 AND tenant_id = $2 AND status <> 'deleted'"
    ))
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?)
}

/// A page of the tenant's subscriptions that were not deleted, oldest first, after
/// `cursor`.
pub async fn list_webhooks(
    pool: &PgPool,
    tenant_id: Uuid,
    limit: i64,
    cursor: Option<&str>,
) -> Result<WebhookList, ProjectionError> {
    let after = cursor.and_then(decode_cursor);
    let items: Vec<WebhookView> = sqlx::query_as(&format!(
        "SELECT * FROM {WEBHOOKS_TABLE}
          WHERE tenant_id = $1 AND status <> 'deleted' AND ($2::uuid IS NULL OR id > $2)
          ORDER BY id
          LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let (items, next_cursor) = split_page(items, limit, |last| encode_cursor(last.id));
    Ok(WebhookList { items, next_cursor })
}
