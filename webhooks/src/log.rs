//! The delivery log: one row per event to deliver to a subscription, with what its
//! attempts got. Operational state written by the worker, not a read model: it records
//! what happened outside the platform, so it cannot be rebuilt from events.

use chrono::{DateTime, Utc};
use projections::page::{decode_cursor, encode_cursor, split_page};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::WebhookError;

/// Every status a delivery can be in.
pub const STATUSES: &[&str] = &["pending", "delivered", "failed", "cancelled"];

/// One delivery as the query API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub subscription_id: Uuid,
    /// The event delivered; also the `webhook-id` header of every attempt.
    pub event_id: Uuid,
    /// The CloudEvent type, such as `agentos.agent.AgentCreated.v1`.
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// `pending`, `delivered`, `failed` (given up) or `cancelled` (subscription deleted).
    pub status: String,
    /// Attempts so far, redeliveries included.
    pub attempts: i32,
    /// The HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due, while `pending`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One page of deliveries, newest first, and the cursor of the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

const COLUMNS: &str = "id, subscription_id, event_id, event_type, aggregate_type, aggregate_id,
    status, attempts, last_status, last_error, last_attempt_at, next_attempt_at, delivered_at,
    created_at";

/// A page of a subscription's deliveries, newest first, optionally of one status.
pub async fn list_deliveries(
    pool: &PgPool,
    tenant_id: Uuid,
    subscription_id: Uuid,
    status: Option<&str>,
    limit: i64,
    cursor: Option<&str>,
) -> Result<DeliveryList, WebhookError> {
    let before = cursor.and_then(decode_cursor);
    let items: Vec<DeliveryView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries
          WHERE subscription_id = $1 AND tenant_id = $2
            AND ($3::text IS NULL OR status = $3)
            AND ($4::uuid IS NULL OR id < $4)
          ORDER BY id DESC
          LIMIT $5"
    ))
    .bind(subscription_id)
    .bind(tenant_id)
    .bind(status)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let (items, next_cursor) = split_page(items, limit, |last| encode_cursor(last.id));
    Ok(DeliveryList { items, next_cursor })
}

/// Queues a delivery of the subscription again, due now, with a fresh allowance of
/// attempts; `None` when the subscription has no such delivery. A cancelled one stays
/// cancelled (its subscription is gone).
pub async fn redeliver(
    pool: &PgPool,
    tenant_id: Uuid,
    subscription_id: Uuid,
    delivery_id: Uuid,
) -> Result<Option<DeliveryView>, WebhookError> {
    Ok(sqlx::query_as(&format!(
        "UPDATE webhook_deliveries
            SET status = CASE WHEN status = 'cancelled' THEN status ELSE 'pending' END,
                round_attempts = 0,
                next_attempt_at = CASE WHEN status = 'cancelled' THEN NULL ELSE now() END
          WHERE id = $1 AND subscription_id = $2 AND tenant_id = $3
          RETURNING {COLUMNS}"
    ))
    .bind(delivery_id)
    .bind(subscription_id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?)
}
