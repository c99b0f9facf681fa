//! The dispatcher: POSTs due deliveries, signed, and records what each attempt got. Only
//! the head of each (subscription, aggregate) queue is ever due, so an aggregate's events
//! reach an endpoint in order; heads of different queues go out side by side.

use std::sync::Arc;
use std::time::Duration;

use domain::webhook::{WebhookSubscription, WebhookSubscriptionCommand};
use eventstore::leader::{LeaderLock, STANDBY_RETRY};
use eventstore::{CommandBus, CommandContext, CommandError, Namespace, alongside};
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::retry::DeliverySettings;
use crate::signing::{ID_HEADER, SIGNATURE_HEADER, SigningSecret, TIMESTAMP_HEADER};
use crate::{WebhookError, streak};

/// Who the worker's commands (failing, recovered) are recorded as.
pub const WORKER_ACTOR: &str = "system:webhooks";
/// The media type of a CloudEvent in structured mode.
pub const CONTENT_TYPE_CLOUDEVENTS: &str = "application/cloudevents+json";

const BATCH: i64 = 200;
const CONCURRENCY: usize = 32;
const MAX_ERROR_CHARS: usize = 500;

/// The head of each (subscription, aggregate) queue that is due, for a subscription that
/// is delivering: nothing earlier of its aggregate is still pending.
const DUE: &str = "
SELECT d.id, d.subscription_id, d.tenant_id, d.event_id, d.payload, d.round_attempts,
       t.url, t.secret_key_id
  FROM webhook_deliveries d
  JOIN webhook_targets t ON t.id = d.subscription_id
 WHERE d.status = 'pending'
   AND d.next_attempt_at <= now()
   AND t.status IN ('active', 'failing')
   AND NOT EXISTS (
       SELECT 1 FROM webhook_deliveries e
        WHERE e.subscription_id = d.subscription_id
          AND e.aggregate_type = d.aggregate_type
          AND e.aggregate_id = d.aggregate_id
          AND e.status = 'pending'
          AND e.sequence < d.sequence)
 ORDER BY d.next_attempt_at, d.sequence
 LIMIT $1";

#[derive(Debug, sqlx::FromRow)]
struct DueDelivery {
    id: Uuid,
    subscription_id: Uuid,
    tenant_id: Uuid,
    event_id: Uuid,
    payload: String,
    round_attempts: i32,
    url: String,
    secret_key_id: Uuid,
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    Delivered {
        status: u16,
    },
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

/// Sends due deliveries; [`Dispatcher::run`] leads and loops, tests call
/// [`Dispatcher::process_due`].
#[derive(Clone)]
pub struct Dispatcher {
    pool: PgPool,
    http: reqwest::Client,
    subscriptions: Arc<CommandBus<WebhookSubscription>>,
    settings: DeliverySettings,
    lock_name: String,
}

impl Dispatcher {
    /// A dispatcher over `pool`'s delivery log, marking subscriptions failing and
    /// recovered through `subscriptions`.
    pub fn new(
        pool: PgPool,
        subscriptions: Arc<CommandBus<WebhookSubscription>>,
        settings: DeliverySettings,
        namespace: &Namespace,
    ) -> Result<Self, WebhookError> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            // A redirect is a failure: the tenant should update the URL instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("AgentOS-Webhooks/1")
            .build()?;
        Ok(Self {
            pool,
            http,
            subscriptions,
            settings,
            lock_name: format!("agentos.webhooks.dispatch:{}", namespace.stream()),
        })
    }

    /// Makes one attempt at every due delivery; returns how many.
    pub async fn process_due(&self) -> Result<usize, WebhookError> {
        self.process_due_leading(None).await
    }

    /// [`Dispatcher::process_due`], first confirming `lock` when anything is due, so that
    /// an instance whose lock is gone sends nothing more (and an idle one costs one query).
    #[tracing::instrument(skip_all, err)]
    async fn process_due_leading(
        &self,
        lock: Option<&mut LeaderLock>,
    ) -> Result<usize, WebhookError> {
        let due: Vec<DueDelivery> = sqlx::query_as(DUE)
            .bind(BATCH)
            .fetch_all(&self.pool)
            .await?;
        let count = due.len();
        if count == 0 {
            return Ok(0);
        }
        if let Some(lock) = lock {
            lock.confirm().await?;
        }
        futures::stream::iter(due)
            .map(|delivery| self.deliver(delivery))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(count)
    }

    /// Runs until `shutdown`, sending only while it holds the dispatcher's leader lock
    /// (so that no delivery is sent by two instances at once).
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), WebhookError> {
        loop {
            let acquired = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                acquired = LeaderLock::acquire(&self.pool, &self.lock_name) => acquired,
            };
            let outcome = match acquired {
                Ok(mut lock) => {
                    tracing::info!("webhook dispatcher leads");
                    let outcome = self.lead(&mut lock, &shutdown).await;
                    lock.release().await;
                    outcome
                }
                Err(err) => Err(err.into()),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(err) => tracing::warn!(%err, "webhook dispatcher restarting"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(STANDBY_RETRY) => {}
            }
        }
    }

    async fn lead(
        &self,
        lock: &mut LeaderLock,
        shutdown: &CancellationToken,
    ) -> Result<(), WebhookError> {
        while !shutdown.is_cancelled() {
            if self.process_due_leading(Some(&mut *lock)).await? == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                }
            }
        }
        Ok(())
    }

    async fn deliver(&self, delivery: DueDelivery) -> Result<(), WebhookError> {
        let Some(material) = alongside::data_key(&self.pool, delivery.secret_key_id).await? else {
            // The key goes with the subscription: this one was deleted meanwhile.
            return self.cancel(delivery.id).await;
        };
        let secret = SigningSecret::from_material(material);
        let attempt = self.attempt(&delivery, &secret).await;
        metrics::counter!(
            "agentos_webhook_attempts_total",
            "outcome" => if matches!(attempt, Attempt::Delivered { .. }) { "delivered" } else { "failed" }
        )
        .increment(1);
        match attempt {
            Attempt::Delivered { status } => {
                self.record_delivered(delivery.id, status).await?;
                if streak::succeeded(&self.pool, delivery.subscription_id).await? {
                    self.recover(&delivery).await?;
                }
            }
            Attempt::Failed {
                status,
                error,
                retry_after,
            } => {
                let streak = streak::failed(&self.pool, delivery.subscription_id).await?;
                let failing = streak.consecutive_failures >= self.settings.failing_after;
                let attempts = u32::try_from(delivery.round_attempts).unwrap_or_default() + 1;
                let next = (attempts < self.settings.max_attempts)
                    .then(|| self.settings.next_delay(attempts, failing, retry_after));
                self.record_failed(delivery.id, status, &error, next)
                    .await?;
                if failing && !streak.marked_failing {
                    self.mark_failing(&delivery, streak.consecutive_failures, &error)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// POSTs the delivery's body, signed for this attempt's timestamp.
    async fn attempt(&self, delivery: &DueDelivery, secret: &SigningSecret) -> Attempt {
        let message_id = delivery.event_id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = secret.sign(&message_id, timestamp, delivery.payload.as_bytes());
        let sent = self
            .http
            .post(&delivery.url)
            .header(CONTENT_TYPE, CONTENT_TYPE_CLOUDEVENTS)
            .header(ID_HEADER, &message_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Attempt::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => Attempt::Failed {
                status: Some(response.status().as_u16()),
                error: format!("HTTP {}", response.status()),
                retry_after: response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
                    .map(Duration::from_secs),
            },
            Err(err) => Attempt::Failed {
                status: None,
                error: describe(&err, self.settings.request_timeout),
                retry_after: None,
            },
        }
    }

    async fn record_delivered(&self, id: Uuid, status: u16) -> Result<(), WebhookError> {
        sqlx::query(
            "UPDATE webhook_deliveries
                SET status = 'delivered', attempts = attempts + 1,
                    round_attempts = round_attempts + 1, last_status = $2, last_error = NULL,
                    last_attempt_at = now(), next_attempt_at = NULL, delivered_at = now()
              WHERE id = $1",
        )
        .bind(id)
        .bind(i32::from(status))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt; `next` is the wait before the next one, `None` to give up.
    async fn record_failed(
        &self,
        id: Uuid,
        status: Option<u16>,
        error: &str,
        next: Option<Duration>,
    ) -> Result<(), WebhookError> {
        let next_millis = next.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        sqlx::query(
            "UPDATE webhook_deliveries
                SET status = CASE WHEN $4::bigint IS NULL THEN 'failed' ELSE 'pending' END,
                    attempts = attempts + 1, round_attempts = round_attempts + 1,
                    last_status = $2, last_error = $3, last_attempt_at = now(),
                    next_attempt_at = now() + $4::bigint * interval '1 millisecond'
              WHERE id = $1",
        )
        .bind(id)
        .bind(status.map(i32::from))
        .bind(error)
        .bind(next_millis)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cancel(&self, id: Uuid) -> Result<(), WebhookError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL
              WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_failing(
        &self,
        delivery: &DueDelivery,
        consecutive_failures: u32,
        error: &str,
    ) -> Result<(), WebhookError> {
        let context = self.context(delivery);
        let command = WebhookSubscriptionCommand::MarkWebhookSubscriptionFailing {
            tenant_id: delivery.tenant_id,
            consecutive_failures,
            last_error: sanitize(error),
            now: context.occurred_at,
        };
        let outcome = self
            .subscriptions
            .execute(&delivery.subscription_id.to_string(), command, &context)
            .await;
        let marked = match outcome {
            Ok(_) => true,
            // Marked already (by an attempt running beside this one).
            Err(CommandError::Rejected(
                domain::webhook::WebhookSubscriptionError::InvalidTransition {
                    status: domain::webhook::WebhookSubscriptionStatus::Failing,
                    ..
                },
            )) => true,
            // Paused or deleted meanwhile: nothing to mark.
            Err(CommandError::Rejected(_)) => return Ok(()),
            Err(err) => {
                tracing::warn!(%err, subscription_id = %delivery.subscription_id, "could not mark the subscription failing; trying again after the next failure");
                return Ok(());
            }
        };
        streak::set_marked(&self.pool, delivery.subscription_id, marked).await
    }

    async fn recover(&self, delivery: &DueDelivery) -> Result<(), WebhookError> {
        let context = self.context(delivery);
        let command = WebhookSubscriptionCommand::RecoverWebhookSubscription {
            tenant_id: delivery.tenant_id,
            now: context.occurred_at,
        };
        match self
            .subscriptions
            .execute(&delivery.subscription_id.to_string(), command, &context)
            .await
        {
            // Recovered, or no longer failing (paused, resumed or deleted meanwhile).
            Ok(_) | Err(CommandError::Rejected(_)) => {
                streak::set_marked(&self.pool, delivery.subscription_id, false).await
            }
            Err(err) => {
                tracing::warn!(%err, subscription_id = %delivery.subscription_id, "could not recover the subscription; trying again after the next success");
                Ok(())
            }
        }
    }

    fn context(&self, delivery: &DueDelivery) -> CommandContext {
        CommandContext::new(delivery.tenant_id, WORKER_ACTOR, chrono::Utc::now())
    }
}

/// A short reason for a request that got no answer.
fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else {
        // Without the URL, which the tenant knows and the log need not repeat.
        let mut text = err.to_string();
        if let Some(url) = err.url() {
            text = text.replace(url.as_str(), "the endpoint");
        }
        text
    }
}

/// The error as a subscription event may hold it: one line of at most 500 characters.
fn sanitize(error: &str) -> String {
    let line: String = error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect();
    if line.trim().is_empty() {
        "delivery failed".to_owned()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_made_one_short_line() {
        assert_eq!(sanitize("HTTP 500\nboom"), "HTTP 500 boom");
        assert_eq!(sanitize(&"x".repeat(900)).chars().count(), 500);
        assert_eq!(sanitize("\n\t"), "delivery failed");
    }
}
