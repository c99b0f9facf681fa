//! Memory commands: record, revise, forget. Content is sealed here with the memory's own
//! data key before it reaches the domain's event; forgetting deletes that key in the same
//! transaction as the event, which makes every revision unrecoverable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use domain::api_key::Scope;
use domain::billing::Meter;
use domain::memory::SealedContent;
use domain::memory::{Memory, MemoryCommand, MemoryError, MemoryKind, MemorySource, MemoryStatus};
use eventstore::memory_writes::{self, MemoryWriteError, NewMemory};
use eventstore::sealing::{DataKey, memory_binding};
use eventstore::web::{Problem, UuidPath};
use eventstore::{Alongside, CommandError, CommandReceipt};
use serde::Deserialize;
use uuid::Uuid;

use crate::billing::require_allowance;
use crate::receipt::{CommandAccepted, accepted};
use crate::request::CommandRequest;
use crate::{ApiError, AppState};

const COLLECTION: &str = "/v1/memories";
/// How often a revision is sealed again when the memory changed between loading it and
/// appending (the seal is bound to the revision number it becomes).
const REVISE_ATTEMPTS: usize = 3;

/// Which run, step and tool call caused a memory; leave it out when a person wrote it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRequest {
    pub run_id: Option<Uuid>,
    /// The step of that run; only with `run_id`.
    pub step: Option<u32>,
    /// 1 to 128 characters; only with `run_id`.
    pub tool_call_id: Option<String>,
}

impl From<SourceRequest> for MemorySource {
    fn from(source: SourceRequest) -> Self {
        Self {
            run_id: source.run_id,
            step: source.step,
            tool_call_id: source.tool_call_id,
        }
    }
}

/// `POST /v1/agents/{id}/memories`
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordMemoryRequest {
    pub kind: MemoryKind,
    /// Not blank, at most 20,000 characters; tab and line breaks are its only control
    /// characters. Stored only sealed with the memory's data key.
    pub content: String,
    /// At most 32, each 1 to 64 characters without control characters, no repeats.
    #[serde(default)]
    pub tags: Vec<String>,
    /// 0 to 1; default 0.5.
    #[serde(default = "default_importance")]
    pub importance: f64,
    #[serde(default)]
    pub source: SourceRequest,
}

fn default_importance() -> f64 {
    0.5
}

/// `POST /v1/memories/{id}/revise`: new content; tags and importance stay unless given.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviseMemoryRequest {
    /// Same rules as when recording.
    pub content: String,
    /// Replaces every tag.
    pub tags: Option<Vec<String>>,
    pub importance: Option<f64>,
    #[serde(default)]
    pub source: SourceRequest,
}

/// Body of forget (optional).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetMemoryRequest {
    /// At most 500 characters; kept in the event history for auditors.
    pub reason: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/agents/{id}/memories", tag = "memories",
    request_body = RecordMemoryRequest,
    params(
        ("id" = Uuid, Path, description = "The agent the memory belongs to"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response and append nothing"),
        ("X-Correlation-Id" = Option<Uuid>, Header, description = "Carried into the events' metadata"),
    ),
    responses(
        (status = 201, description = "Recorded at revision 1", body = CommandAccepted),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "The `memory_items` quota is used up for this period", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks `memory:write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The agent is archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Records a memory for one of the tenant's agents that is not archived.
pub async fn record_memory(
    State(state): State<AppState>,
    UuidPath(agent_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::MemoryWrite)?;
    let body: RecordMemoryRequest = request.body()?;
    let context = request.context(Utc::now(), StatusCode::CREATED)?;
    if let Some(receipt) = state.memories.replayed(&context).await? {
        return Ok(accepted(&receipt, StatusCode::CREATED, COLLECTION));
    }
    require_allowance(&state, context.tenant_id, Meter::MemoryItems).await?;
    let memory = NewMemory {
        agent_id,
        kind: body.kind,
        content: body.content,
        tags: body.tags,
        importance: body.importance,
        source: body.source.into(),
    };
    let receipt = memory_writes::record_memory(
        &state.agents,
        &state.memories,
        &context,
        Uuid::now_v7(),
        memory,
    )
    .await
    .map_err(|err| match err {
        MemoryWriteError::Agent(err) => ApiError::from(err),
        MemoryWriteError::Memory(err) => ApiError::from(err),
    })?;
    Ok(accepted(&receipt, StatusCode::CREATED, COLLECTION))
}

#[utoipa::path(
    post, path = "/v1/memories/{id}/revise", tag = "memories",
    request_body = ReviseMemoryRequest,
    params(
        ("id" = Uuid, Path, description = "Memory id"),
        ("If-Match" = Option<String>, Header, description = "The version you last saw, e.g. \"2\""),
        ("Idempotency-Key" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "The next revision; earlier ones stay in the history", body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such memory", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Forgotten, or a concurrent change", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Gives a memory new content as its next revision, sealed with the memory's own key.
pub async fn revise_memory(
    State(state): State<AppState>,
    UuidPath(memory_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::MemoryWrite)?;
    let body: ReviseMemoryRequest = request.body()?;
    let now = Utc::now();
    let mut context = request.context(now, StatusCode::OK)?;
    // Without the caller's If-Match, the version the seal was made for is expected, so
    // that a revision sealed as number n is never stored as n + 1.
    let pinned = context.expected_version.is_none();
    let id = memory_id.to_string();
    let mut attempt = 1;
    loop {
        let (memory, version) = state
            .memories
            .load(&id)
            .await
            .map_err(|err| Problem::internal(&err))?;
        let revision = memory.revision().saturating_add(1);
        let sealed = match sealing_key(&state, &memory, request.tenant_id()).await? {
            Some(key) => key.seal(&memory_binding(memory_id, revision), &body.content),
            None => unsealed(),
        };
        if pinned {
            context.expected_version = Some(version);
        }
        let command = MemoryCommand::ReviseMemory {
            tenant_id: request.tenant_id(),
            content: body.content.clone(),
            sealed,
            tags: body.tags.clone(),
            importance: body.importance,
            source: body.source.clone().into(),
            now,
        };
        match state.memories.execute(&id, command, &context).await {
            Err(CommandError::VersionMismatch { .. }) if pinned && attempt < REVISE_ATTEMPTS => {
                attempt += 1;
            }
            Err(CommandError::VersionMismatch { .. }) if pinned => {
                return Err(CommandError::<MemoryError>::Conflict.into());
            }
            outcome => return respond(outcome),
        }
    }
}

/// The key to seal a revision with: only that of the caller's own active memory, so no
/// other tenant's key is ever read. For any other memory there is none, and the domain
/// rejects the command (404 or 409) before it looks at the content.
async fn sealing_key(
    state: &AppState,
    memory: &Memory,
    tenant_id: Uuid,
) -> Result<Option<DataKey>, ApiError> {
    let (Some(owner), Some(MemoryStatus::Active), Some(key_id)) =
        (memory.tenant_id(), memory.status(), memory.key_id())
    else {
        return Ok(None);
    };
    if owner != tenant_id {
        return Ok(None);
    }
    let material = eventstore::alongside::data_key(&state.pool, key_id)
        .await
        .map_err(|err| Problem::internal(&err))?
        .ok_or_else(|| Problem::internal(&format!("active memory's key {key_id} is missing")))?;
    DataKey::from_stored(key_id, &material)
        .map(Some)
        .map_err(|err| Problem::internal(&err).into())
}

/// Stands in for content that is never sealed because the domain rejects the command.
fn unsealed() -> SealedContent {
    SealedContent {
        key_id: Uuid::nil(),
        nonce: String::new(),
        ciphertext: String::new(),
    }
}

#[utoipa::path(
    post, path = "/v1/memories/{id}/forget", tag = "memories",
    request_body(content = Option<ForgetMemoryRequest>, description = "Optional"),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses(
        (status = 200, description = "Forgotten: the data key is deleted with the event", body = CommandAccepted),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already forgotten", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reason", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Forgets a memory for good: its data key is deleted in the same transaction as the
/// event, so no revision's content can be read again, from any read model or replay.
pub async fn forget_memory(
    State(state): State<AppState>,
    UuidPath(memory_id): UuidPath,
    request: CommandRequest,
) -> Result<Response, ApiError> {
    request.authorize(Scope::MemoryWrite)?;
    let body: ForgetMemoryRequest = request.optional_body()?;
    let now = Utc::now();
    let context = request.context(now, StatusCode::OK)?;
    let id = memory_id.to_string();
    let (memory, _) = state
        .memories
        .load(&id)
        .await
        .map_err(|err| Problem::internal(&err))?;
    // Written only if the domain accepts, which it does for the owner's active memory alone.
    let shred = memory
        .key_id()
        .map(|key_id| Alongside::DeleteDataKey { key_id });
    let command = MemoryCommand::ForgetMemory {
        tenant_id: request.tenant_id(),
        reason: body.reason,
        now,
    };
    respond(
        state
            .memories
            .execute_with(&id, command, &context, shred.into_iter().collect())
            .await,
    )
}

fn respond(
    outcome: Result<CommandReceipt, CommandError<MemoryError>>,
) -> Result<Response, ApiError> {
    Ok(accepted(&outcome?, StatusCode::OK, COLLECTION))
}
