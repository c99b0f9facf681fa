//! Agent commands: create, change config, pause, resume, archive.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use domain::agent::{AgentCommand, AgentConfig, AgentConfigChanges, ModelConfig};
use domain::api_key::Scope;
use eventstore::web::{Problem, UuidPath};
use serde::Deserialize;
use uuid::Uuid;

use crate::receipt::{CommandAccepted, accepted};
use crate::request::CommandRequest;
use crate::{ApiError, AppState};

/// The model an agent calls.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRequest {
    /// e.g. `openai`, `anthropic`, `scripted`.
    pub provider: String,
    pub name: String,
    /// 0 to 2; default 1.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Default 4096.
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
}

fn default_temperature() -> f64 {
    1.0
}

fn default_max_output_tokens() -> u32 {
    4096
}

impl From<ModelRequest> for ModelConfig {
    fn from(model: ModelRequest) -> Self {
        Self {
            provider: model.provider,
            name: model.name,
            temperature: model.temperature,
            max_output_tokens: model.max_output_tokens,
        }
    }
}

/// `POST /v1/agents`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    /// 1 to 100 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub model: ModelRequest,
    #[serde(default)]
    pub system_prompt: String,
    #[serde(default)]
    pub tool_ids: Vec<Uuid>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// `POST /v1/agents/{id}/config`: the fields to change; the rest stay as they are.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgentConfigRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub model: Option<ModelRequest>,
    pub system_prompt: Option<String>,
    pub tool_ids: Option<Vec<Uuid>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Body of pause and archive (optional).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}

/// Body of resume (optional, empty).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

#[utoipa::path(
    post, path = "/v1/agents", tag = "agents",
    request_body = CreateAgentRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response and append nothing"),
        ("X-Correlation-Id" = Option<Uuid>, Header, description = "Carried into the events' metadata"),
    ),
    responses(
        (status = 201, description = "Created", body = CommandAccepted),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Creates an agent.
pub async fn create_agent(
    State(state): State<AppState>,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::AgentsWrite)?;
    let body: CreateAgentRequest = request.body()?;
    let now = Utc::now();
    let agent_id = Uuid::now_v7();
    let command = AgentCommand::CreateAgent {
        tenant_id: request.tenant_id(),
        agent_id,
        config: AgentConfig {
            name: body.name,
            description: body.description,
            model: body.model.into(),
            system_prompt: body.system_prompt,
            tool_ids: body.tool_ids,
            metadata: body.metadata,
        },
        now,
    };
    execute(
        &state,
        &request,
        agent_id,
        command,
        now,
        StatusCode::CREATED,
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/config", tag = "agents",
    request_body = UpdateAgentConfigRequest,
    params(
        ("id" = Uuid, Path, description = "Agent id"),
        ("If-Match" = Option<String>, Header, description = "The version you last saw, e.g. \"3\""),
        ("Idempotency-Key" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "A new config version", body = CommandAccepted),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Archived, or a concurrent change", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Changes an agent's config: a new config version, the old ones stay in its history.
pub async fn update_agent_config(
    State(state): State<AppState>,
    UuidPath(agent_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::AgentsWrite)?;
    let body: UpdateAgentConfigRequest = request.body()?;
    let changes = AgentConfigChanges {
        name: body.name,
        description: body.description,
        model: body.model.map(Into::into),
        system_prompt: body.system_prompt,
        tool_ids: body.tool_ids,
        metadata: body.metadata,
    };
    let now = Utc::now();
    let command = AgentCommand::UpdateAgentConfig {
        tenant_id: request.tenant_id(),
        changes,
        now,
    };
    execute(&state, &request, agent_id, command, now, StatusCode::OK).await
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/pause", tag = "agents",
    request_body(content = Option<ReasonRequest>, description = "Optional"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not active", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Pauses an active agent.
pub async fn pause_agent(
    State(state): State<AppState>,
    UuidPath(agent_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::AgentsWrite)?;
    let body: ReasonRequest = request.optional_body()?;
    let now = Utc::now();
    let command = AgentCommand::PauseAgent {
        tenant_id: request.tenant_id(),
        paused_by: request.principal.key_id.to_string(),
        reason: body.reason,
        now,
    };
    execute(&state, &request, agent_id, command, now, StatusCode::OK).await
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/resume", tag = "agents",
    request_body(content = Option<EmptyRequest>, description = "Optional, empty"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not paused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Resumes a paused agent.
pub async fn resume_agent(
    State(state): State<AppState>,
    UuidPath(agent_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::AgentsWrite)?;
    let EmptyRequest {} = request.optional_body()?;
    let now = Utc::now();
    let command = AgentCommand::ResumeAgent {
        tenant_id: request.tenant_id(),
        now,
    };
    execute(&state, &request, agent_id, command, now, StatusCode::OK).await
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/archive", tag = "agents",
    request_body(content = Option<ReasonRequest>, description = "Optional"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, body = CommandAccepted),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already archived", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Archives an agent; archived is final.
pub async fn archive_agent(
    State(state): State<AppState>,
    UuidPath(agent_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::AgentsWrite)?;
    let body: ReasonRequest = request.optional_body()?;
    let now = Utc::now();
    let command = AgentCommand::ArchiveAgent {
        tenant_id: request.tenant_id(),
        reason: body.reason,
        now,
    };
    execute(&state, &request, agent_id, command, now, StatusCode::OK).await
}

/// Executes `command` on `agent_id` and answers with the receipt.
async fn execute(
    state: &AppState,
    request: &CommandRequest,
    agent_id: Uuid,
    command: AgentCommand,
    now: chrono::DateTime<Utc>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let context = request.context(now, status)?;
    let id = agent_id.to_string();
    let receipt = if status == StatusCode::CREATED {
        state
            .agents
            .create(&id, command, &context, Vec::new())
            .await?
    } else {
        state.agents.execute(&id, command, &context).await?
    };
    Ok(accepted(&receipt, status, "/v1/agents"))
}
