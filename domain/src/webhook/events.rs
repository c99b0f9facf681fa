//! Facts recorded about a webhook subscription.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Something that happened to a webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum WebhookSubscriptionEvent {
    /// The subscription was created.
    WebhookSubscriptionCreated(WebhookSubscriptionCreated),
    /// Deliveries were paused by the tenant.
    WebhookSubscriptionPaused(WebhookSubscriptionPaused),
    /// A paused subscription was made active again.
    WebhookSubscriptionResumed(WebhookSubscriptionResumed),
    /// Deliveries kept failing; the platform keeps retrying, less often.
    WebhookSubscriptionFailing(WebhookSubscriptionFailing),
    /// A failing subscription's endpoint accepted a delivery again.
    WebhookSubscriptionRecovered(WebhookSubscriptionRecovered),
    /// The subscription was deleted, and its secret with it.
    WebhookSubscriptionDeleted(WebhookSubscriptionDeleted),
}

/// A tenant subscribed an HTTP endpoint to its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSubscriptionCreated {
    /// The subscription's id.
    pub subscription_id: Uuid,
    /// The tenant whose events are delivered.
    pub tenant_id: Uuid,
    /// Where deliveries are POSTed: an `http` or `https` URL.
    pub url: String,
    /// The event types delivered (such as `AgentCreated`); empty means every type.
    pub event_types: Vec<String>,
    /// The data key holding the signing secret. The secret itself never enters an
    /// event; deleting the subscription deletes the key.
    pub secret_key_id: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Deliveries were paused: events that happen meanwhile are not delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSubscriptionPaused {
    /// When.
    pub paused_at: DateTime<Utc>,
}

/// Deliveries resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSubscriptionResumed {
    /// When.
    pub resumed_at: DateTime<Utc>,
}

/// The endpoint failed deliveries too many times in a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSubscriptionFailing {
    /// How many delivery attempts in a row had failed.
    pub consecutive_failures: u32,
    /// What the last failed attempt got (a status code or a connection error).
    pub last_error: String,
    /// When the subscription was marked failing.
    pub failing_since: DateTime<Utc>,
}

/// The endpoint accepted a delivery again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSubscriptionRecovered {
    /// When.
    pub recovered_at: DateTime<Utc>,
}

/// The subscription was deleted; nothing more is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSubscriptionDeleted {
    /// When.
    pub deleted_at: DateTime<Utc>,
}

impl WebhookSubscriptionEvent {
    /// Every event type name.
    pub const TYPES: &'static [&'static str] = &[
        "WebhookSubscriptionCreated",
        "WebhookSubscriptionPaused",
        "WebhookSubscriptionResumed",
        "WebhookSubscriptionFailing",
        "WebhookSubscriptionRecovered",
        "WebhookSubscriptionDeleted",
    ];

    /// When the event happened.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::WebhookSubscriptionCreated(event) => event.created_at,
            Self::WebhookSubscriptionPaused(event) => event.paused_at,
            Self::WebhookSubscriptionResumed(event) => event.resumed_at,
            Self::WebhookSubscriptionFailing(event) => event.failing_since,
            Self::WebhookSubscriptionRecovered(event) => event.recovered_at,
            Self::WebhookSubscriptionDeleted(event) => event.deleted_at,
        }
    }
}

impl DomainEvent for WebhookSubscriptionEvent {
    fn event_type(&self) -> String {
        match self {
            Self::WebhookSubscriptionCreated(_) => "WebhookSubscriptionCreated",
            Self::WebhookSubscriptionPaused(_) => "WebhookSubscriptionPaused",
            Self::WebhookSubscriptionResumed(_) => "WebhookSubscriptionResumed",
            Self::WebhookSubscriptionFailing(_) => "WebhookSubscriptionFailing",
            Self::WebhookSubscriptionRecovered(_) => "WebhookSubscriptionRecovered",
            Self::WebhookSubscriptionDeleted(_) => "WebhookSubscriptionDeleted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
