//! Each subscription's run of failed attempts, and whether the worker has marked it
//! failing: kept by the worker itself, so that recovering never waits for the failing
//! event to come back through the stream.

use sqlx::PgPool;
use uuid::Uuid;

use crate::WebhookError;

/// A subscription's failure streak after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Streak {
    pub consecutive_failures: u32,
    pub marked_failing: bool,
}

/// Counts a failed attempt.
pub(crate) async fn failed(pool: &PgPool, subscription_id: Uuid) -> Result<Streak, WebhookError> {
    let (failures, marked): (i32, bool) = sqlx::query_as(
        "INSERT INTO webhook_health (subscription_id, consecutive_failures) VALUES ($1, 1)
         ON CONFLICT (subscription_id) DO UPDATE
            SET consecutive_failures = webhook_health.consecutive_failures + 1,
                updated_at = now()
         RETURNING consecutive_failures, marked_failing",
    )
    .bind(subscription_id)
    .fetch_one(pool)
    .await?;
    Ok(Streak {
        consecutive_failures: u32::try_from(failures).unwrap_or_default(),
        marked_failing: marked,
    })
}

/// Ends the streak after a successful attempt; returns whether the subscription had been
/// marked failing (and so must be recovered).
pub(crate) async fn succeeded(pool: &PgPool, subscription_id: Uuid) -> Result<bool, WebhookError> {
    let marked: Option<bool> = sqlx::query_scalar(
        "UPDATE webhook_health SET consecutive_failures = 0, updated_at = now()
          WHERE subscription_id = $1
          RETURNING marked_failing",
    )
    .bind(subscription_id)
    .fetch_optional(pool)
    .await?;
    Ok(marked.unwrap_or(false))
}

/// Records that the subscription is (or is no longer) marked failing.
pub(crate) async fn set_marked(
    pool: &PgPool,
    subscription_id: Uuid,
    marked: bool,
) -> Result<(), WebhookError> {
    sqlx::query(
        "INSERT INTO webhook_health (subscription_id, marked_failing) VALUES ($1, $2)
         ON CONFLICT (subscription_id) DO UPDATE SET marked_failing = $2, updated_at = now()",
    )
    .bind(subscription_id)
    .bind(marked)
    .execute(pool)
    .await?;
    Ok(())
}
