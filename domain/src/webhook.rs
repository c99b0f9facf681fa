//! The webhook subscription aggregate: an HTTP endpoint a tenant subscribes to its events,
//! with an event-type filter and a signing secret (kept as a data key, never in an event).
//!
//! Lifecycle: `active ⇄ paused` by the tenant, `active ⇄ failing` by the delivery worker
//! (failing deliveries go on, less often), `failing → paused`, and any of them → deleted,
//! after which the subscription is gone: every command on it is "not found".

mod events;
mod validation;

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::FieldError;

pub use events::{
    WebhookSubscriptionCreated, WebhookSubscriptionDeleted, WebhookSubscriptionEvent,
    WebhookSubscriptionFailing, WebhookSubscriptionPaused, WebhookSubscriptionRecovered,
    WebhookSubscriptionResumed,
};

/// The aggregate type under which webhook subscription events are stored.
pub const WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE: &str = "webhook_subscription";

/// Where a subscription is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookSubscriptionStatus {
    /// Events are delivered.
    Active,
    /// Paused by the tenant: nothing is delivered.
    Paused,
    /// Deliveries keep failing; they are retried at the longest interval.
    Failing,
    /// Deleted for good.
    Deleted,
}

impl WebhookSubscriptionStatus {
    /// The status as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Failing => "failing",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for WebhookSubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to change a webhook subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookSubscriptionCommand {
    /// Subscribe an endpoint.
    CreateWebhookSubscription {
        /// The tenant whose events are delivered.
        tenant_id: Uuid,
        /// The id chosen by the caller.
        subscription_id: Uuid,
        /// `http(s)://host/...`, at most 2048 characters, without credentials.
        url: String,
        /// Known event types, each once; empty for every type.
        event_types: Vec<String>,
        /// The data key the caller stored the signing secret under.
        secret_key_id: Uuid,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Stop deliveries of an active or failing subscription.
    PauseWebhookSubscription {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Deliver to a paused subscription again.
    ResumeWebhookSubscription {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Delete a subscription.
    DeleteWebhookSubscription {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Mark an active subscription failing (the delivery worker's command).
    MarkWebhookSubscriptionFailing {
        /// The subscription's tenant.
        tenant_id: Uuid,
        /// Failed attempts in a row.
        consecutive_failures: u32,
        /// What the last one got, at most 500 characters.
        last_error: String,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Mark a failing subscription active again (the delivery worker's command).
    RecoverWebhookSubscription {
        /// The subscription's tenant.
        tenant_id: Uuid,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}

/// Why the webhook subscription aggregate rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookSubscriptionError {
    /// No such subscription, it was deleted, or it belongs to another tenant.
    #[error("webhook subscription not found")]
    NotFound,
    /// A subscription with this id already exists.
    #[error("webhook subscription already exists")]
    AlreadyExists,
    /// The command is not allowed in the subscription's status.
    #[error("cannot {action} a webhook subscription that is {status}")]
    InvalidTransition {
        /// `pause`, `resume`, `mark failing` or `recover`.
        action: &'static str,
        /// The status that forbids it.
        status: WebhookSubscriptionStatus,
    },
    /// One or more fields break a rule.
    #[error("invalid webhook subscription fields")]
    Invalid(Vec<FieldError>),
}

impl From<Vec<FieldError>> for WebhookSubscriptionError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

/// The state of one webhook subscription.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSubscription {
    id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    url: String,
    event_types: Vec<String>,
    secret_key_id: Option<Uuid>,
    status: Option<WebhookSubscriptionStatus>,
}

impl WebhookSubscription {
    /// The subscription's id, or `None` before it is created.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The owning tenant.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant_id
    }

    /// Where deliveries go.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The event types delivered; empty for all.
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    /// The data key holding the signing secret.
    pub fn secret_key_id(&self) -> Option<Uuid> {
        self.secret_key_id
    }

    /// The lifecycle status, or `None` before it is created.
    pub fn status(&self) -> Option<WebhookSubscriptionStatus> {
        self.status
    }

    fn decide(
        &self,
        command: WebhookSubscriptionCommand,
    ) -> Result<WebhookSubscriptionEvent, WebhookSubscriptionError> {
        use WebhookSubscriptionCommand as C;
        use WebhookSubscriptionEvent as E;
        use WebhookSubscriptionStatus as S;
        match command {
            C::CreateWebhookSubscription {
                tenant_id,
                subscription_id,
                url,
                event_types,
                secret_key_id,
                now,
            } => {
                if self.id.is_some() {
                    return Err(WebhookSubscriptionError::AlreadyExists);
                }
                validation::validate_subscription(&url, &event_types)?;
                Ok(E::WebhookSubscriptionCreated(WebhookSubscriptionCreated {
                    subscription_id,
                    tenant_id,
                    url,
                    event_types,
                    secret_key_id,
                    created_at: now,
                }))
            }
            C::PauseWebhookSubscription { tenant_id, now } => {
                self.require(tenant_id, "pause", &[S::Active, S::Failing])?;
                Ok(E::WebhookSubscriptionPaused(WebhookSubscriptionPaused {
                    paused_at: now,
                }))
            }
            C::ResumeWebhookSubscription { tenant_id, now } => {
                self.require(tenant_id, "resume", &[S::Paused])?;
                Ok(E::WebhookSubscriptionResumed(WebhookSubscriptionResumed {
                    resumed_at: now,
                }))
            }
            C::DeleteWebhookSubscription { tenant_id, now } => {
                self.require(tenant_id, "delete", &[S::Active, S::Paused, S::Failing])?;
                Ok(E::WebhookSubscriptionDeleted(WebhookSubscriptionDeleted {
                    deleted_at: now,
                }))
            }
            C::MarkWebhookSubscriptionFailing {
                tenant_id,
                consecutive_failures,
                last_error,
                now,
            } => {
                self.require(tenant_id, "mark failing", &[S::Active])?;
                validation::validate_last_error(&last_error)?;
                Ok(E::WebhookSubscriptionFailing(WebhookSubscriptionFailing {
                    consecutive_failures,
                    last_error,
                    failing_since: now,
                }))
            }
            C::RecoverWebhookSubscription { tenant_id, now } => {
                self.require(tenant_id, "recover", &[S::Failing])?;
                Ok(E::WebhookSubscriptionRecovered(
                    WebhookSubscriptionRecovered { recovered_at: now },
                ))
            }
        }
    }

    /// Succeeds when the subscription exists, belongs to `tenant_id`, is not deleted, and
    /// is in one of `allowed`. Another tenant's subscription reads as a missing one.
    fn require(
        &self,
        tenant_id: Uuid,
        action: &'static str,
        allowed: &[WebhookSubscriptionStatus],
    ) -> Result<(), WebhookSubscriptionError> {
        let status = match (self.tenant_id, self.status) {
            (Some(owner), Some(status))
                if owner == tenant_id && status != WebhookSubscriptionStatus::Deleted =>
            {
                status
            }
            _ => return Err(WebhookSubscriptionError::NotFound),
        };
        if allowed.contains(&status) {
            Ok(())
        } else {
            Err(WebhookSubscriptionError::InvalidTransition { action, status })
        }
    }
}

impl Aggregate for WebhookSubscription {
    const TYPE: &'static str = WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE;
    type Command = WebhookSubscriptionCommand;
    type Event = WebhookSubscriptionEvent;
    type Error = WebhookSubscriptionError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use WebhookSubscriptionEvent as E;
        use WebhookSubscriptionStatus as S;
        match event {
            E::WebhookSubscriptionCreated(created) => {
                self.id = Some(created.subscription_id);
                self.tenant_id = Some(created.tenant_id);
                self.url = created.url;
                self.event_types = created.event_types;
                self.secret_key_id = Some(created.secret_key_id);
                self.status = Some(S::Active);
            }
            E::WebhookSubscriptionPaused(_) => self.status = Some(S::Paused),
            E::WebhookSubscriptionResumed(_) | E::WebhookSubscriptionRecovered(_) => {
                self.status = Some(S::Active);
            }
            E::WebhookSubscriptionFailing(_) => self.status = Some(S::Failing),
            E::WebhookSubscriptionDeleted(_) => self.status = Some(S::Deleted),
        }
    }
}

#[cfg(test)]
mod tests;
