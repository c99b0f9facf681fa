//! Run commands: start a run of an agent, cancel it, approve or reject a tool call it waits
//! on. The engine does the rest; who cancelled or decided is the caller's API key, never
//! something the body says.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use domain::api_key::Scope;
use domain::billing::Meter;
use domain::run::{AgentFacts, Message, Role, RunCommand};
use eventstore::web::{Problem, UuidPath};
use serde::Deserialize;
use uuid::Uuid;

use crate::agents::ReasonRequest;
use crate::billing::require_allowances;
use crate::receipt::{CommandAccepted, accepted, execute_on};
use crate::request::CommandRequest;
use crate::{ApiError, AppState};

const COLLECTION: &str = "/v1/runs";
const DEFAULT_MAX_STEPS: u32 = 10;
const DEFAULT_BUDGET_MICROS: i64 = 1_000_000;

/// `POST /v1/agents/{id}/runs`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRunRequest {
    /// What the run starts from: a text (one user message), or 1 to 100 messages.
    pub input: RunInput,
    /// The most steps the run may take: 1 to 100, default 10.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// The most its model calls may cost, in micro-units: 1 to 10^12, default 1,000,000.
    #[serde(default = "default_budget_micros")]
    pub budget_micros: i64,
}

fn default_max_steps() -> u32 {
    DEFAULT_MAX_STEPS
}

fn default_budget_micros() -> i64 {
    DEFAULT_BUDGET_MICROS
}

/// A text, or a list of messages.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RunInput {
    /// One user message.
    Text(String),
    /// The conversation so far.
    Messages(Vec<InputMessage>),
}

/// One message of a run's input.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputMessage {
    pub role: Role,
    /// At most 100,000 characters; tab and line breaks are its only control characters.
    pub content: String,
    /// For a `tool` message: the tool call it answers.
    pub tool_call_id: Option<String>,
}

impl RunInput {
    fn into_messages(self) -> Vec<Message> {
        match self {
            Self::Text(text) => vec![Message::text(Role::User, text)],
            Self::Messages(messages) => messages
                .into_iter()
                .map(|message| Message {
                    role: message.role,
                    content: message.content,
                    tool_call_id: message.tool_call_id,
                    tool_calls: Vec::new(),
                })
                .collect(),
        }
    }
}

/// `POST /v1/runs/{id}/approve`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveToolCallRequest {
    /// The tool call decided on (see the run's `pending_approvals`).
    pub tool_call_id: String,
    /// `true` approves the call, `false` rejects it (the model is told it was rejected).
    pub approved: bool,
    /// At most 500 characters; a rejection's reason is shown to the model.
    pub reason: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/runs", tag = "runs",
    request_body = StartRunRequest,
    params(
        ("id" = Uuid, Path, description = "The agent to run"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response and start nothing"),
        ("X-Correlation-Id" = Option<Uuid>, Header, description = "Carried into every event of the run"),
    ),
    responses(
        (status = 201, description = "Queued; an engine takes it. Follow it at /v1/runs/{id} or /v1/runs/{id}/events", body = CommandAccepted),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "An LLM token quota (`llm_input_tokens` or `llm_output_tokens`) is used up for this period", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `runs:write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The agent is paused or archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Starts a run of one of the tenant's active agents, pinned to its current configuration.
pub async fn start_run(
    State(state): State<AppState>,
    UuidPath(agent_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::RunsWrite)?;
    let body: StartRunRequest = request.body()?;
    let now = Utc::now();
    let context = request.context(now, StatusCode::CREATED)?;
    // A replay answers as the first request did, even if the agent was paused since.
    if let Some(receipt) = state.runs.replayed(&context).await? {
        return Ok(accepted(&receipt, StatusCode::CREATED, COLLECTION));
    }
    let tenant_id = request.tenant_id();
    let agent = agent_facts(&state, tenant_id, agent_id).await?;
    // After the lookups and before anything is appended: a tenant over its LLM token
    // quotas gets a 402 rather than a run that stops at once with `quota_exceeded`.
    require_allowances(
        &state,
        tenant_id,
        &[Meter::LlmInputTokens, Meter::LlmOutputTokens],
    )
    .await?;
    let run_id = Uuid::now_v7();
    let command = RunCommand::StartRun {
        tenant_id,
        run_id,
        agent_id,
        agent,
        input: body.input.into_messages(),
        max_steps: body.max_steps,
        budget_micros: body.budget_micros,
        idempotency_key: context.idempotency.as_ref().map(|claim| claim.key.clone()),
        now,
    };
    let receipt = state
        .runs
        .create(&run_id.to_string(), command, &context, Vec::new())
        .await?;
    Ok(accepted(&receipt, StatusCode::CREATED, COLLECTION))
}

/// The agent's status and configuration, if it is one of the tenant's agents (another
/// tenant's agent is reported like a missing one).
async fn agent_facts(
    state: &AppState,
    tenant_id: Uuid,
    agent_id: Uuid,
) -> Result<AgentFacts, ApiError> {
    let (agent, _) = state
        .agents
        .load(&agent_id.to_string())
        .await
        .map_err(|err| Problem::internal(&err))?;
    match (agent.tenant_id(), agent.status(), agent.config()) {
        (Some(owner), Some(status), Some(config)) if owner == tenant_id => Ok(AgentFacts {
            status,
            config_version: agent.config_version(),
            model: config.model.clone(),
            system_prompt: config.system_prompt.clone(),
            tool_ids: config.tool_ids.clone(),
        }),
        _ => Err(Problem::not_found("agent").into()),
    }
}

#[utoipa::path(
    post, path = "/v1/runs/{id}/cancel", tag = "runs",
    request_body(content = Option<ReasonRequest>, description = "Optional"),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, description = "Cancelled", body = CommandAccepted),
        (status = 403, description = "The key lacks `runs:write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has stopped already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Cancels a run that has not stopped; the caller's key is recorded as who cancelled it.
pub async fn cancel_run(
    State(state): State<AppState>,
    UuidPath(run_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::RunsWrite)?;
    let body: ReasonRequest = request.optional_body()?;
    let now = Utc::now();
    let command = RunCommand::CancelRun {
        tenant_id: request.tenant_id(),
        by: caller(&request),
        reason: body.reason,
        now,
    };
    execute_on(&state.runs, &request, run_id, command, now, COLLECTION).await
}

#[utoipa::path(
    post, path = "/v1/runs/{id}/approve", tag = "runs",
    request_body = ApproveToolCallRequest,
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, description = "Decided; the run goes on once no call waits", body = CommandAccepted),
        (status = 403, description = "The key lacks `runs:write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call was decided already, needs no approval, or the run has stopped", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such tool call, or invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Approves or rejects a tool call the run waits on; the caller's key is the approver.
pub async fn approve_tool_call(
    State(state): State<AppState>,
    UuidPath(run_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::RunsWrite)?;
    let body: ApproveToolCallRequest = request.body()?;
    let now = Utc::now();
    let command = RunCommand::ApproveToolCall {
        tenant_id: request.tenant_id(),
        tool_call_id: body.tool_call_id,
        approved: body.approved,
        approver: caller(&request),
        reason: body.reason,
        now,
    };
    execute_on(&state.runs, &request, run_id, command, now, COLLECTION).await
}

/// The caller as runs record people: `api_key:<key id>`.
fn caller(request: &CommandRequest) -> String {
    format!("api_key:{}", request.principal.key_id)
}
