//! Tool commands: register (name unique per tenant), publish a version, deprecate, disable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::FieldError;
use domain::api_key::Scope;
use domain::tool::{HttpMethod, ToolCommand, ToolKind};
use eventstore::web::{Problem, UuidPath};
use eventstore::{Alongside, CommandError};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::agents::ReasonRequest;
use crate::receipt::{CommandAccepted, accepted, execute_on};
use crate::request::CommandRequest;
use crate::{ApiError, AppState};

const COLLECTION: &str = "/v1/tools";
/// The claim scope that keeps tool names unique within a tenant (key `<tenant>/<name>`).
pub const TOOL_NAME_CLAIM: &str = "tool_name";

/// How a tool is carried out, tagged by `type`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolKindRequest {
    /// The executor POSTs (or PUTs) the call as signed JSON to `url`.
    Http {
        /// `http://` or `https://`, at most 2,048 characters, no credentials.
        url: String,
        /// `POST` (default) or `PUT`.
        #[serde(default = "default_method")]
        method: HttpMethod,
        /// How long one attempt may take: 1 to 300,000 ms, default 10,000.
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u32,
        /// Retries after a connection error, a timeout, a 5xx or a 429: 0 to 10, default 0.
        #[serde(default)]
        retries: u32,
    },
    /// A tool the platform provides.
    Builtin {
        /// `memory.record` or `memory.search`.
        name: String,
    },
}

fn default_method() -> HttpMethod {
    HttpMethod::Post
}

fn default_timeout_ms() -> u32 {
    10_000
}

impl From<ToolKindRequest> for ToolKind {
    fn from(kind: ToolKindRequest) -> Self {
        match kind {
            ToolKindRequest::Http {
                url,
                method,
                timeout_ms,
                retries,
            } => Self::Http {
                url,
                method,
                timeout_ms,
                retries,
            },
            ToolKindRequest::Builtin { name } => Self::Builtin { name },
        }
    }
}

/// `POST /v1/tools`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterToolRequest {
    /// 1 to 64 of `a-z`, `0-9`, `_`, `.`, `-`, starting with a letter; unique in the tenant.
    pub name: String,
    /// At most 2,000 characters.
    #[serde(default)]
    pub description: String,
    /// JSON Schema (an object, at most 64 KiB) the arguments of every call must match.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// JSON Schema the output of every call must match; unchecked when left out.
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Value>,
    pub kind: ToolKindRequest,
}

/// `POST /v1/tools/{id}/versions`: the next version; earlier ones stay readable.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishToolVersionRequest {
    /// The latest version's description is kept when left out.
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// Left out, the new version has no output schema.
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Value>,
    /// The latest version's kind is kept when left out.
    pub kind: Option<ToolKindRequest>,
}

#[utoipa::path(
    post, path = "/v1/tools", tag = "tools",
    request_body = RegisterToolRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response and append nothing")),
    responses(
        (status = 201, description = "Registered as version 1", body = CommandAccepted),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `tools:write`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant has a tool of that name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, an input or output schema that is not a valid JSON Schema", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Registers a tool with its first version.
pub async fn register_tool(
    State(state): State<AppState>,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::ToolsWrite)?;
    let body: RegisterToolRequest = request.body()?;
    let now = Utc::now();
    let tenant_id = request.tenant_id();
    let tool_id = Uuid::now_v7();
    let name_claim = Alongside::claim(TOOL_NAME_CLAIM, format!("{tenant_id}/{}", body.name));
    let name = body.name.clone();
    let command = ToolCommand::RegisterTool {
        tenant_id,
        tool_id,
        name: body.name,
        description: body.description,
        input_schema: body.input_schema,
        output_schema: body.output_schema,
        kind: body.kind.into(),
        now,
    };
    let context = request.context(now, StatusCode::CREATED)?;
    let receipt = state
        .tools
        .create(&tool_id.to_string(), command, &context, vec![name_claim])
        .await
        .map_err(|err| match err {
            CommandError::Claimed { .. } => ApiError(name_taken(&name)),
            other => other.into(),
        })?;
    Ok(accepted(&receipt, StatusCode::CREATED, COLLECTION))
}

fn name_taken(name: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "already-taken",
        format!("this tenant already has a tool named `{name}`"),
    )
    .with_errors(vec![FieldError::new("name", "is already taken")])
}

#[utoipa::path(
    post, path = "/v1/tools/{id}/versions", tag = "tools",
    request_body = PublishToolVersionRequest,
    params(("id" = Uuid, Path, description = "Tool id"), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, description = "Published as the next version", body = CommandAccepted),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Disabled", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Publishes the next version of a tool; calls name the version they use.
pub async fn publish_tool_version(
    State(state): State<AppState>,
    UuidPath(tool_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::ToolsWrite)?;
    let body: PublishToolVersionRequest = request.body()?;
    let now = Utc::now();
    let command = ToolCommand::PublishToolVersion {
        tenant_id: request.tenant_id(),
        description: body.description,
        input_schema: body.input_schema,
        output_schema: body.output_schema,
        kind: body.kind.map(Into::into),
        now,
    };
    execute_on(&state.tools, &request, tool_id, command, now, COLLECTION).await
}

#[utoipa::path(
    post, path = "/v1/tools/{id}/deprecate", tag = "tools",
    request_body(content = Option<ReasonRequest>, description = "Optional"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not active", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Deprecates an active tool: it still works, but should no longer be chosen.
pub async fn deprecate_tool(
    State(state): State<AppState>,
    UuidPath(tool_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    change_status(&state, tool_id, &request, |tenant_id, reason, now| {
        ToolCommand::DeprecateTool {
            tenant_id,
            reason,
            now,
        }
    })
    .await
}

#[utoipa::path(
    post, path = "/v1/tools/{id}/disable", tag = "tools",
    request_body(content = Option<ReasonRequest>, description = "Optional"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already disabled", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Disables a tool for good: no new calls, no changes. Its name stays taken.
pub async fn disable_tool(
    State(state): State<AppState>,
    UuidPath(tool_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    change_status(&state, tool_id, &request, |tenant_id, reason, now| {
        ToolCommand::DisableTool {
            tenant_id,
            reason,
            now,
        }
    })
    .await
}

/// Deprecates or disables a tool, with the optional reason the body gives.
async fn change_status(
    state: &AppState,
    tool_id: Uuid,
    request: &CommandRequest,
    command: impl FnOnce(Uuid, Option<String>, DateTime<Utc>) -> ToolCommand,
) -> Result<Response, ApiError> {
    request.authorize(Scope::ToolsWrite)?;
    let body: ReasonRequest = request.optional_body()?;
    let now = Utc::now();
    let command = command(request.tenant_id(), body.reason, now);
    execute_on(&state.tools, request, tool_id, command, now, COLLECTION).await
}
