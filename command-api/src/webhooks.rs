//! Webhook subscriptions (scope `admin`: they are tenant configuration): create (the
//! signing secret is shown once), pause, resume, delete, and redelivering a logged
//! delivery by hand.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::api_key::Scope;
use domain::webhook::{WebhookSubscriptionCommand, WebhookSubscriptionStatus};
use eventstore::Alongside;
use eventstore::web::{Problem, UuidPath};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webhooks::{DeliveryView, SigningSecret};

use crate::agents::EmptyRequest;
use crate::receipt::{CommandAccepted, accepted, respond};
use crate::request::CommandRequest;
use crate::{ApiError, AppState};

const COLLECTION: &str = "/v1/webhooks";

/// `POST /v1/webhooks`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where to POST deliveries: an `http` or `https` URL without credentials.
    pub url: String,
    /// Event types to deliver, such as `AgentCreated` (every version of each); every
    /// type when left out or empty.
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// A new subscription. `secret` (`whsec_...`) verifies its deliveries' signatures: it is
/// in this response only (a replay of the request answers without it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub accepted: CommandAccepted,
    pub secret: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhookRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 201, description = "Created; the signing secret is in `secret`", body = CreatedWebhook),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid URL or event types", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Subscribes an HTTP endpoint to the tenant's events.
pub async fn create_webhook(
    State(state): State<AppState>,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::Admin)?;
    let body: CreateWebhookRequest = request.body()?;
    let context = request.context(Utc::now(), StatusCode::CREATED)?;
    let subscription_id = Uuid::now_v7();
    let secret = SigningSecret::generate();
    let secret_key_id = Uuid::now_v7();
    let command = WebhookSubscriptionCommand::CreateWebhookSubscription {
        tenant_id: context.tenant_id,
        subscription_id,
        url: body.url,
        event_types: body.event_types,
        secret_key_id,
        now: context.occurred_at,
    };
    let store_secret = Alongside::PutDataKey {
        key_id: secret_key_id,
        material: secret.material().to_vec(),
    };
    let receipt = state
        .webhooks
        .create(
            &subscription_id.to_string(),
            command,
            &context,
            vec![store_secret],
        )
        .await?;
    let accepted = CommandAccepted::of(&receipt)
        .ok_or_else(|| Problem::internal(&"stored subscription id is not a UUID"))?;
    let id = accepted.id;
    let secret = (!receipt.replayed).then(|| secret.encoded());
    let body = Json(CreatedWebhook { accepted, secret });
    Ok(respond(&receipt, StatusCode::CREATED, COLLECTION, id, body))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/pause", tag = "webhooks",
    request_body(content = Option<EmptyRequest>, description = "Optional, empty"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already paused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Pauses deliveries: events that happen while paused are not delivered.
pub async fn pause_webhook(
    State(state): State<AppState>,
    UuidPath(id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    let command =
        |tenant_id, now| WebhookSubscriptionCommand::PauseWebhookSubscription { tenant_id, now };
    change(&state, &request, id, command, Vec::new()).await
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/resume", tag = "webhooks",
    request_body(content = Option<EmptyRequest>, description = "Optional, empty"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not paused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Resumes deliveries of a paused subscription.
pub async fn resume_webhook(
    State(state): State<AppState>,
    UuidPath(id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    let command =
        |tenant_id, now| WebhookSubscriptionCommand::ResumeWebhookSubscription { tenant_id, now };
    change(&state, &request, id, command, Vec::new()).await
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/delete", tag = "webhooks",
    request_body(content = Option<EmptyRequest>, description = "Optional, empty"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription, or deleted already", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Deletes a subscription and its signing secret; queued deliveries are cancelled.
pub async fn delete_webhook(
    State(state): State<AppState>,
    UuidPath(id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::Admin)?;
    // The secret is deleted with the subscription, in the same transaction; should the
    // command be refused (another tenant's subscription), nothing is deleted.
    let (subscription, _) = state
        .webhooks
        .load(&id.to_string())
        .await
        .map_err(|err| Problem::internal(&err))?;
    let shred = subscription
        .secret_key_id()
        .map(|key_id| Alongside::DeleteDataKey { key_id })
        .into_iter()
        .collect();
    let command =
        |tenant_id, now| WebhookSubscriptionCommand::DeleteWebhookSubscription { tenant_id, now };
    change(&state, &request, id, command, shred).await
}

/// The subscription and delivery ids of a redelivery.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPath {
    pub id: Uuid,
    pub delivery_id: Uuid,
}

impl<S: Send + Sync> FromRequestParts<S> for DeliveryPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((id, delivery_id)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::invalid_field("id", e.body_text()))?;
        let parse = |field: &str, raw: &str| {
            Uuid::parse_str(raw).map_err(|_| Problem::invalid_field(field, "must be a UUID"))
        };
        Ok(Self {
            id: parse("id", &id)?,
            delivery_id: parse("delivery_id", &delivery_id)?,
        })
    }
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    request_body(content = Option<EmptyRequest>, description = "Optional, empty"),
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses(
        (status = 202, description = "Queued again, due now (a cancelled delivery stays cancelled)", body = DeliveryView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription or delivery", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Sends a logged delivery again (with the same `webhook-id`), whatever became of it.
/// Repeating the request is harmless: it only queues the delivery.
pub async fn redeliver(
    State(state): State<AppState>,
    path: DeliveryPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::Admin)?;
    let EmptyRequest {} = request.optional_body()?;
    let tenant_id = request.tenant_id();
    let (subscription, _) = state
        .webhooks
        .load(&path.id.to_string())
        .await
        .map_err(|err| Problem::internal(&err))?;
    let visible = subscription.tenant_id() == Some(tenant_id)
        && subscription
            .status()
            .is_some_and(|s| s != WebhookSubscriptionStatus::Deleted);
    if !visible {
        return Err(Problem::not_found("webhook subscription").into());
    }
    let delivery = webhooks::log::redeliver(&state.pool, tenant_id, path.id, path.delivery_id)
        .await
        .map_err(|err| Problem::internal(&err))?
        .ok_or_else(|| Problem::not_found("delivery"))?;
    Ok((StatusCode::ACCEPTED, Json(delivery)).into_response())
}

/// Runs a command that takes no body but the caller's tenant and the time.
async fn change(
    state: &AppState,
    request: &CommandRequest,
    id: Uuid,
    command: impl FnOnce(Uuid, DateTime<Utc>) -> WebhookSubscriptionCommand,
    alongside: Vec<Alongside>,
) -> Result<Response, ApiError> {
    request.authorize(Scope::Admin)?;
    let EmptyRequest {} = request.optional_body()?;
    let now = Utc::now();
    let context = request.context(now, StatusCode::OK)?;
    let receipt = state
        .webhooks
        .execute_with(
            &id.to_string(),
            command(request.tenant_id(), now),
            &context,
            alongside,
        )
        .await?;
    Ok(accepted(&receipt, StatusCode::OK, COLLECTION))
}
