//! API key commands: issue (the secret is shown once), revoke, expire. All need `admin`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::api_key::{ApiKeyCommand, Scope};
use eventstore::tenants;
use eventstore::web::{Problem, UuidPath};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::receipt::{CommandAccepted, accepted, respond};
use crate::request::CommandRequest;
use crate::{ApiError, AppState};

const COLLECTION: &str = "/v1/api-keys";

/// `POST /v1/api-keys`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueApiKeyRequest {
    /// A label, 1 to 100 characters.
    pub name: String,
    /// At least one scope; `admin` implies all.
    pub scopes: Vec<Scope>,
    /// When the key stops working (RFC 3339, in the future); never when left out.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A newly issued key. `api_key` is the secret: shown in this response only (a replay
/// of the request with the same `Idempotency-Key` answers without it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedApiKey {
    pub id: Uuid,
    pub version: u64,
    pub consistency_token: String,
    pub api_key: Option<String>,
}

/// Body of revoke (optional).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeApiKeyRequest {
    pub reason: Option<String>,
}

/// Body of expire (optional): when the key stops working; now when left out.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpireApiKeyRequest {
    pub expires_at: Option<DateTime<Utc>>,
}

#[utoipa::path(
    post, path = "/v1/api-keys", tag = "api-keys",
    request_body = IssueApiKeyRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 201, description = "Issued; the secret is in `api_key`", body = IssuedApiKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Issues an API key for the caller's tenant.
pub async fn issue_api_key(
    State(state): State<AppState>,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::Admin)?;
    let body: IssueApiKeyRequest = request.body()?;
    let context = request.context(Utc::now(), StatusCode::CREATED)?;
    let (issued, receipt) = tenants::issue_key(
        &state.api_keys,
        &context,
        body.name,
        body.scopes,
        body.expires_at,
    )
    .await?;
    let accepted = CommandAccepted::of(&receipt)
        .ok_or_else(|| Problem::internal(&"stored key id is not a UUID"))?;
    let body = IssuedApiKey {
        id: accepted.id,
        version: accepted.version,
        consistency_token: accepted.consistency_token,
        api_key: (!receipt.replayed).then_some(issued.api_key),
    };
    Ok(respond(
        &receipt,
        StatusCode::CREATED,
        COLLECTION,
        body.id,
        Json(body),
    ))
}

#[utoipa::path(
    post, path = "/v1/api-keys/{id}/revoke", tag = "api-keys",
    request_body(content = Option<RevokeApiKeyRequest>, description = "Optional"),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Revokes a key for good; requests with it fail within about a second.
pub async fn revoke_api_key(
    State(state): State<AppState>,
    UuidPath(key_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::Admin)?;
    let body: RevokeApiKeyRequest = request.optional_body()?;
    let now = Utc::now();
    let command = ApiKeyCommand::RevokeApiKey {
        tenant_id: request.tenant_id(),
        reason: body.reason,
        now,
    };
    execute(&state, &request, key_id, command, now).await
}

#[utoipa::path(
    post, path = "/v1/api-keys/{id}/expire", tag = "api-keys",
    request_body(content = Option<ExpireApiKeyRequest>, description = "Optional"),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Revoked or already expired", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Makes a key expire now, or at the time given.
pub async fn expire_api_key(
    State(state): State<AppState>,
    UuidPath(key_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::Admin)?;
    let body: ExpireApiKeyRequest = request.optional_body()?;
    let now = Utc::now();
    let command = ApiKeyCommand::ExpireApiKey {
        tenant_id: request.tenant_id(),
        expires_at: body.expires_at.unwrap_or(now),
        now,
    };
    execute(&state, &request, key_id, command, now).await
}

async fn execute(
    state: &AppState,
    request: &CommandRequest,
    key_id: Uuid,
    command: ApiKeyCommand,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let context = request.context(now, StatusCode::OK)?;
    let receipt = state
        .api_keys
        .execute(&key_id.to_string(), command, &context)
        .await?;
    Ok(accepted(&receipt, StatusCode::OK, COLLECTION))
}
