//! The one place command outcomes become HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::FieldError;
use domain::agent::AgentError;
use domain::api_key::ApiKeyError;
use domain::billing::BillingError;
use domain::memory::MemoryError;
use domain::run::RunError;
use domain::tool::ToolError;
use domain::tool_invocation::ToolInvocationError;
use domain::webhook::WebhookSubscriptionError;
use eventstore::CommandError;
use eventstore::web::Problem;

/// Everything a command handler can fail with, as the problem+json it answers.
#[derive(Debug)]
pub struct ApiError(pub Problem);

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self(problem)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

/// How an aggregate's rejections read over HTTP.
pub trait Rejection: std::error::Error {
    /// What the aggregate is called in messages: "agent", "API key".
    const RESOURCE: &'static str;
    /// The problem this rejection answers with.
    fn problem(self) -> Problem;
}

impl<E: Rejection> From<CommandError<E>> for ApiError {
    fn from(err: CommandError<E>) -> Self {
        Self(match err {
            CommandError::Rejected(rejection) => rejection.problem(),
            CommandError::VersionMismatch { expected, actual } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                format!(
                    "If-Match expected version {expected}, the {} is at version {actual}",
                    E::RESOURCE
                ),
            ),
            CommandError::Conflict => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "another request changed the {} at the same time; reload and retry",
                    E::RESOURCE
                ),
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
            CommandError::Claimed { scope, key, .. } => Problem::new(
                StatusCode::CONFLICT,
                "already-taken",
                format!("`{key}` is already taken ({scope})"),
            ),
            CommandError::Store(err) => Problem::internal(&err),
        })
    }
}

/// 422 listing every violated rule.
pub fn invalid(errors: Vec<FieldError>) -> Problem {
    let detail = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail).with_errors(errors)
}

/// 409: the command does not fit the resource's current state.
pub fn invalid_transition(detail: String) -> Problem {
    Problem::new(StatusCode::CONFLICT, "invalid-transition", detail)
}

/// 409: the resource exists already.
pub fn already_exists(resource: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "already-exists",
        format!("the {resource} already exists"),
    )
}

impl Rejection for AgentError {
    const RESOURCE: &'static str = "agent";

    fn problem(self) -> Problem {
        match self {
            Self::NotFound => Problem::not_found(Self::RESOURCE),
            Self::AlreadyExists => already_exists(Self::RESOURCE),
            err @ Self::InvalidTransition { .. } => invalid_transition(err.to_string()),
            Self::Invalid(errors) => invalid(errors),
            Self::NoChanges => invalid(vec![FieldError::new(
                "body",
                "give at least one field to change",
            )]),
        }
    }
}

/// The usual mapping of an aggregate error whose variants are exactly `NotFound`,
/// `AlreadyExists`, `InvalidTransition { .. }` and `Invalid(errors)`.
macro_rules! usual_rejection {
    ($error:ty, $resource:literal) => {
        impl Rejection for $error {
            const RESOURCE: &'static str = $resource;

            fn problem(self) -> Problem {
                match self {
                    Self::NotFound => Problem::not_found(Self::RESOURCE),
                    Self::AlreadyExists => already_exists(Self::RESOURCE),
                    err @ Self::InvalidTransition { .. } => invalid_transition(err.to_string()),
                    Self::Invalid(errors) => invalid(errors),
                }
            }
        }
    };
}

usual_rejection!(ApiKeyError, "API key");
usual_rejection!(MemoryError, "memory");
usual_rejection!(ToolError, "tool");
usual_rejection!(WebhookSubscriptionError, "webhook subscription");

impl Rejection for ToolInvocationError {
    const RESOURCE: &'static str = "tool invocation";

    fn problem(self) -> Problem {
        match self {
            Self::NotFound => Problem::not_found(Self::RESOURCE),
            Self::AlreadyExists => already_exists(Self::RESOURCE),
            err @ Self::InvalidTransition { .. } => invalid_transition(err.to_string()),
            err @ Self::ToolUnavailable { .. } => {
                Problem::new(StatusCode::CONFLICT, "tool-unavailable", err.to_string())
            }
            err @ Self::StaleAttempt { .. } => {
                Problem::new(StatusCode::CONFLICT, "stale-attempt", err.to_string())
            }
            Self::Invalid(errors) => invalid(errors),
        }
    }
}

impl Rejection for BillingError {
    const RESOURCE: &'static str = "billing account";

    fn problem(self) -> Problem {
        match self {
            Self::NotFound => Problem::not_found(Self::RESOURCE),
            Self::Invalid(errors) => invalid(errors),
            err @ Self::DuplicateUsage => {
                Problem::new(StatusCode::CONFLICT, "duplicate-usage", err.to_string())
            }
            Self::PeriodAlreadyClosed => Problem::new(
                StatusCode::CONFLICT,
                "period-already-closed",
                "this month was already closed and invoiced",
            ),
            Self::PeriodNotEnded => Problem::new(
                StatusCode::CONFLICT,
                "period-not-ended",
                "only a month that has ended can be closed",
            ),
            Self::NoSuchQuota => Problem::not_found("quota"),
        }
    }
}

impl Rejection for RunError {
    const RESOURCE: &'static str = "run";

    fn problem(self) -> Problem {
        match self {
            Self::NotFound => Problem::not_found(Self::RESOURCE),
            Self::AlreadyExists => already_exists(Self::RESOURCE),
            err @ Self::AgentNotActive { .. } => {
                Problem::new(StatusCode::CONFLICT, "agent-unavailable", err.to_string())
            }
            err @ Self::InvalidTransition { .. } => invalid_transition(err.to_string()),
            Self::Invalid(errors) => invalid(errors),
            err @ Self::AlreadyRecorded { .. } => {
                Problem::new(StatusCode::CONFLICT, "already-decided", err.to_string())
            }
            err @ Self::UnknownToolCall { .. } => {
                invalid(vec![FieldError::new("tool_call_id", err.to_string())])
            }
            err @ Self::NotAwaitingApproval { .. } => Problem::new(
                StatusCode::CONFLICT,
                "not-awaiting-approval",
                err.to_string(),
            ),
            // The rest guard the engine's own commands; none is sent through this API.
            err => Problem::new(StatusCode::CONFLICT, "conflict", err.to_string()),
        }
    }
}
