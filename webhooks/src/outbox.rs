//! The worker's intake: a projection over every event that decides, in stream order,
//! which subscriptions receive it, and queues one delivery per subscription in the same
//! transaction as its checkpoint. So each event is queued exactly once per subscription,
//! and a subscription receives exactly the events that follow its creation in the stream
//! (and none that happen while it is paused).

use std::sync::LazyLock;

use domain::webhook::WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE;
use eventstore::CloudEvent;
use projections::webhooks::{apply_event, create_table_sql};
use projections::{PgModel, PgProjection, ProjectionError};
use sqlx::{Executor, PgConnection};
use uuid::Uuid;

/// The projection's name (its durable consumer and checkpoint).
pub const OUTBOX_PROJECTION: &str = "webhook_outbox";
/// The worker's own copy of the subscriptions, in step with the events it queues.
pub const TARGETS_TABLE: &str = "webhook_targets";

/// Every aggregate type: the outbox sees every event (one consumer over all subjects).
static EVERY_AGGREGATE_TYPE: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    domain::catalog::EVENT_TYPES
        .iter()
        .map(|(aggregate_type, _)| *aggregate_type)
        .collect()
});

/// The outbox model.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookOutbox;

/// The outbox as a Postgres projection.
pub type WebhookOutboxProjection = PgProjection<WebhookOutbox>;

#[async_trait::async_trait]
impl PgModel for WebhookOutbox {
    fn name(&self) -> &'static str {
        OUTBOX_PROJECTION
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &EVERY_AGGREGATE_TYPE
    }

    async fn create_tables(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        conn.execute(create_table_sql(TARGETS_TABLE).as_str())
            .await?;
        Ok(())
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &CloudEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregatetype == WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE {
            // A subscription's own events change where deliveries go; they are not
            // delivered themselves (a failing endpoint would be told it is failing).
            apply_event(conn, TARGETS_TABLE, event).await?;
            settle_subscription(conn, event).await
        } else {
            enqueue(conn, event).await
        }
    }
}

/// What a subscription event means for deliveries already queued.
async fn settle_subscription(
    conn: &mut PgConnection,
    event: &CloudEvent,
) -> Result<(), ProjectionError> {
    let Ok(subscription_id) = Uuid::parse_str(&event.aggregateid) else {
        return Ok(());
    };
    match event.short_type() {
        "WebhookSubscriptionDeleted" => {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL
                  WHERE subscription_id = $1 AND status = 'pending'",
            )
            .bind(subscription_id)
            .execute(conn)
            .await?;
        }
        // A tenant resuming a subscription starts its failure streak afresh.
        "WebhookSubscriptionResumed" => {
            sqlx::query("DELETE FROM webhook_health WHERE subscription_id = $1")
                .bind(subscription_id)
                .execute(conn)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Queues `event` for every subscription of its tenant that is delivering and wants its
/// type.
async fn enqueue(conn: &mut PgConnection, event: &CloudEvent) -> Result<(), ProjectionError> {
    let subscriptions: Vec<Uuid> = sqlx::query_scalar(&format!(
        "SELECT id FROM {TARGETS_TABLE}
          WHERE tenant_id = $1 AND status IN ('active', 'failing')
            AND (cardinality(event_types) = 0 OR $2 = ANY (event_types))"
    ))
    .bind(event.tenantid)
    .bind(event.short_type())
    .fetch_all(&mut *conn)
    .await?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_string(event)?;
    for subscription_id in subscriptions {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, subscription_id, tenant_id, event_id, event_type,
                 aggregate_type, aggregate_id, sequence, payload, status, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', now())
             ON CONFLICT (subscription_id, event_id) DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(subscription_id)
        .bind(event.tenantid)
        .bind(event.id)
        .bind(&event.event_type)
        .bind(&event.aggregatetype)
        .bind(&event.aggregateid)
        .bind(i64::try_from(event.sequence).unwrap_or(i64::MAX))
        .bind(&payload)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
