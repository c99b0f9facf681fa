//! What an accepted command answers: the resource's id and version, and a consistency
//! token for the query API.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use eventstore::web::Problem;
use eventstore::{CommandBus, CommandReceipt, ConsistencyToken};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ApiError;
use crate::error::Rejection;
use crate::request::CommandRequest;

/// What an accepted command answers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandAccepted {
    pub id: Uuid,
    /// The resource's version after the command (also the `ETag`).
    pub version: u64,
    /// Send as `X-Consistency-Token` to the query API to read this write.
    pub consistency_token: String,
}

impl CommandAccepted {
    /// The body for `receipt`; `None` when its aggregate id is not a UUID.
    pub fn of(receipt: &CommandReceipt) -> Option<Self> {
        let id = Uuid::parse_str(&receipt.aggregate_id).ok()?;
        let token = ConsistencyToken {
            aggregate_type: receipt.aggregate_type.clone(),
            aggregate_id: receipt.aggregate_id.clone(),
            version: receipt.version,
        };
        Some(Self {
            id,
            version: receipt.version,
            consistency_token: token.encode(),
        })
    }
}

/// 201/200 with the receipt, its ETag, and for creates a Location under `collection`.
/// A replay answers with the status the first execution had.
pub fn accepted(receipt: &CommandReceipt, status: StatusCode, collection: &str) -> Response {
    let Some(body) = CommandAccepted::of(receipt) else {
        return Problem::internal(&"stored aggregate id is not a UUID").into_response();
    };
    respond(receipt, status, collection, body.id, Json(body))
}

/// Like [`accepted`], with a body of the handler's choosing.
pub fn respond(
    receipt: &CommandReceipt,
    status: StatusCode,
    collection: &str,
    id: Uuid,
    body: impl IntoResponse,
) -> Response {
    let status = if receipt.replayed {
        StatusCode::from_u16(receipt.status_code).unwrap_or(status)
    } else {
        status
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", receipt.version)) {
        headers.insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("{collection}/{id}"))
    {
        headers.insert(header::LOCATION, location);
    }
    if receipt.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Executes `command` on the stored aggregate `id` in the request's context (accepted at
/// `now`), and answers [`accepted`] with `status` under `collection`.
pub async fn execute_on<A>(
    bus: &CommandBus<A>,
    request: &CommandRequest,
    id: Uuid,
    command: A::Command,
    now: DateTime<Utc>,
    collection: &str,
) -> Result<Response, ApiError>
where
    A: Aggregate,
    A::Command: Send + Clone,
    A::Error: Rejection,
{
    let context = request.context(now, StatusCode::OK)?;
    let receipt = bus.execute(&id.to_string(), command, &context).await?;
    Ok(accepted(&receipt, StatusCode::OK, collection))
}
