//! The one place command outcomes become HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::FieldError;
use domain::agent::AgentError;
use eventstore::CommandError;
use eventstore::web::Problem;

/// Everything a command handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// Bad input caught before the domain saw it.
    Problem(Problem),
    /// The agent command did not go through.
    Agent(CommandError<AgentError>),
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self::Problem(problem)
    }
}

impl From<CommandError<AgentError>> for ApiError {
    fn from(err: CommandError<AgentError>) -> Self {
        Self::Agent(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Problem(problem) => problem,
            Self::Agent(err) => command_problem(err),
        }
        .into_response()
    }
}

fn command_problem(err: CommandError<AgentError>) -> Problem {
    match err {
        CommandError::Rejected(rejection) => agent_problem(rejection),
        CommandError::VersionMismatch { expected, actual } => Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "version-mismatch",
            format!("If-Match expected version {expected}, the agent is at version {actual}"),
        ),
        CommandError::Conflict => Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            "another request changed the agent at the same time; reload and retry",
        ),
        CommandError::IdempotencyKeyReused => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "this Idempotency-Key was already used with a different request",
        )
        .with_errors(vec![FieldError::new(
            "Idempotency-Key",
            "already used with a different request",
        )]),
        CommandError::Store(err) => Problem::internal(&err),
    }
}

fn agent_problem(rejection: AgentError) -> Problem {
    match rejection {
        AgentError::NotFound => Problem::not_found("agent"),
        AgentError::AlreadyExists => Problem::new(
            StatusCode::CONFLICT,
            "already-exists",
            "the agent already exists",
        ),
        err @ AgentError::InvalidTransition { .. } => {
            Problem::new(StatusCode::CONFLICT, "invalid-transition", err.to_string())
        }
        AgentError::Invalid(errors) => {
            let detail = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail).with_errors(errors)
        }
        AgentError::NoChanges => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "give at least one field to change",
        )
        .with_errors(vec![FieldError::new(
            "body",
            "give at least one field to change",
        )]),
    }
}
