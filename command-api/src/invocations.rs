//! Requesting a tool call. The invocation's id is derived from the tenant and the request's
//! `idempotency_key`, so asking again with the same key answers with the invocation that
//! key already made: a retried request, or a replayed engine step, never calls twice.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use domain::FieldError;
use domain::agent::AgentStatus;
use domain::api_key::Scope;
use domain::billing::Meter;
use domain::tool::ToolSnapshot;
use domain::tool_invocation::{
    ToolInvocation, ToolInvocationCommand, ToolInvocationError, invocation_id,
};
use eventstore::web::{Problem, UuidPath};
use eventstore::{CommandError, CommandReceipt};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::billing::require_allowance;
use crate::error::invalid;
use crate::receipt::{CommandAccepted, accepted};
use crate::request::CommandRequest;
use crate::{ApiError, AppState};

const COLLECTION: &str = "/v1/invocations";

/// `POST /v1/tools/{id}/invocations`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInvocationRequest {
    /// The tool version to call; the latest when left out.
    pub version: Option<u32>,
    /// The calling agent: one of the tenant's agents, active.
    pub agent_id: Uuid,
    pub run_id: Option<Uuid>,
    pub step: Option<u32>,
    /// The model's id for this call: 1 to 255 characters, no control characters.
    pub tool_call_id: Option<String>,
    /// Must match the version's input schema; each mismatch is listed with its path.
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// 1 to 255 printable ASCII characters. The same key names the same invocation: a
    /// repeated request answers 200 with it instead of calling again.
    pub idempotency_key: String,
}

#[utoipa::path(
    post, path = "/v1/tools/{id}/invocations", tag = "tools",
    request_body = RequestInvocationRequest,
    params(("id" = Uuid, Path, description = "Tool id"), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 202, description = "Requested; the tool executor carries it out. Read the outcome at /v1/invocations/{id}", body = CommandAccepted),
        (status = 200, description = "The invocation this `idempotency_key` already made (nothing new is requested)", body = CommandAccepted),
        (status = 402, description = "The `tool_invocations` quota is used up for this period", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `tools:invoke`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tool", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tool is disabled, or the agent is not active", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Arguments that do not match the input schema (one error per mismatch, e.g. `arguments/city`), no such version or agent, or an `idempotency_key` already used for another call", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Requests a call of a tool version with arguments checked against its input schema.
pub async fn request_invocation(
    State(state): State<AppState>,
    UuidPath(tool_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::ToolsInvoke)?;
    let body: RequestInvocationRequest = request.body()?;
    let tenant_id = request.tenant_id();
    let tool = tool_snapshot(&state, tenant_id, tool_id, body.version).await?;
    require_active_agent(&state, tenant_id, body.agent_id).await?;
    // After the lookups (a missing tool is a 404 whatever the quota) and before anything
    // is appended.
    require_allowance(&state, tenant_id, Meter::ToolInvocations).await?;
    let id = invocation_id(tenant_id, &body.idempotency_key);
    let now = Utc::now();
    let command = ToolInvocationCommand::RequestInvocation {
        tenant_id,
        invocation_id: id,
        tool,
        agent_id: body.agent_id,
        run_id: body.run_id,
        step: body.step,
        tool_call_id: body.tool_call_id.clone(),
        arguments: body.arguments.clone(),
        idempotency_key: body.idempotency_key.clone(),
        now,
    };
    let context = request.context(now, StatusCode::ACCEPTED)?;
    match state
        .tool_invocations
        .execute(&id.to_string(), command, &context)
        .await
    {
        Ok(receipt) => Ok(accepted(&receipt, StatusCode::ACCEPTED, COLLECTION)),
        // A twin request with the same key appended first (a conflict), or long ago.
        Err(
            CommandError::Rejected(ToolInvocationError::AlreadyExists) | CommandError::Conflict,
        ) => existing_invocation(&state, tenant_id, id, tool_id, &body).await,
        Err(err) => Err(err.into()),
    }
}

/// The tool as it stands for the call: 404 when the tenant has no such tool, 422 when it
/// lacks the version asked for.
async fn tool_snapshot(
    state: &AppState,
    tenant_id: Uuid,
    tool_id: Uuid,
    version: Option<u32>,
) -> Result<ToolSnapshot, ApiError> {
    let (tool, _) = state
        .tools
        .load(&tool_id.to_string())
        .await
        .map_err(|err| Problem::internal(&err))?;
    if tool.tenant_id() != Some(tenant_id) {
        return Err(Problem::not_found("tool").into());
    }
    tool.snapshot(tenant_id, version).ok_or_else(|| {
        let latest = tool.latest().map_or(0, |latest| latest.version);
        Problem::invalid_field("version", format!("must be between 1 and {latest}")).into()
    })
}

/// Fails unless the agent is one of the tenant's and active: another tenant's agent is
/// reported like a missing one.
async fn require_active_agent(
    state: &AppState,
    tenant_id: Uuid,
    agent_id: Uuid,
) -> Result<(), ApiError> {
    let (agent, _) = state
        .agents
        .load(&agent_id.to_string())
        .await
        .map_err(|err| Problem::internal(&err))?;
    match agent.status() {
        _ if agent.tenant_id() != Some(tenant_id) => {
            Err(Problem::invalid_field("agent_id", "no such agent").into())
        }
        Some(AgentStatus::Active) => Ok(()),
        status => Err(Problem::new(
            StatusCode::CONFLICT,
            "agent-unavailable",
            format!(
                "agent {agent_id} is {} and cannot call tools",
                status.map_or("unknown", |status| status.as_str())
            ),
        )
        .into()),
    }
}

/// 200 with the invocation `idempotency_key` made before, if it is the same call; a 422
/// when the key was used for a different one.
async fn existing_invocation(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    tool_id: Uuid,
    body: &RequestInvocationRequest,
) -> Result<Response, ApiError> {
    let (invocation, version) = state
        .tool_invocations
        .load(&id.to_string())
        .await
        .map_err(|err| Problem::internal(&err))?;
    if invocation.tenant_id() != Some(tenant_id) || !same_call(&invocation, tool_id, body) {
        return Err(invalid(vec![FieldError::new(
            "idempotency_key",
            "was already used for a different invocation",
        )])
        .into());
    }
    let receipt = CommandReceipt {
        aggregate_type: domain::tool_invocation::TOOL_INVOCATION_AGGREGATE_TYPE.to_owned(),
        aggregate_id: id.to_string(),
        version,
        status_code: StatusCode::OK.as_u16(),
        replayed: false,
    };
    Ok(accepted(&receipt, StatusCode::OK, COLLECTION))
}

/// Whether the stored request asked for the same call as `body` (a version left out
/// matches whichever version was in force then).
fn same_call(invocation: &ToolInvocation, tool_id: Uuid, body: &RequestInvocationRequest) -> bool {
    invocation.request().is_some_and(|request| {
        request.tool_id == tool_id
            && body
                .version
                .is_none_or(|version| version == request.tool_version)
            && request.agent_id == body.agent_id
            && request.run_id == body.run_id
            && request.step == body.step
            && request.tool_call_id == body.tool_call_id
            && request.arguments == body.arguments
    })
}
