//! What every command handler reads from its request, extracted once.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::{DateTime, Utc};
use domain::api_key::Scope;
use eventstore::CommandContext;
use eventstore::tenants::Principal;
use eventstore::web::auth::missing_scope;
use eventstore::web::json::{parse_optional_request, parse_request, read_body};
use eventstore::web::{Authenticated, Problem, RequestIds};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::AppState;
use crate::headers::{expected_version, idempotency_claim};

/// The caller, the request's ids and headers, and its raw body (idempotency hashes it).
#[derive(Debug)]
pub struct CommandRequest {
    pub principal: Principal,
    pub ids: RequestIds,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl FromRequest<AppState> for CommandRequest {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Authenticated(principal) = Authenticated::from_request_parts(&mut parts, state).await?;
        let ids = RequestIds::from_request_parts(&mut parts, state).await?;
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        let body = read_body(Request::from_parts(parts, body), state).await?;
        Ok(Self {
            principal,
            ids,
            method,
            uri,
            headers,
            body,
        })
    }
}

impl CommandRequest {
    /// Fails with a 403 naming `scope` unless the caller's key holds it.
    pub fn authorize(&self, scope: Scope) -> Result<(), Problem> {
        if self.principal.may(scope) {
            Ok(())
        } else {
            Err(missing_scope(scope))
        }
    }

    /// The caller's tenant.
    pub fn tenant_id(&self) -> Uuid {
        self.principal.tenant_id
    }

    /// The JSON body as `T`.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        parse_request(&self.headers, &self.body)
    }

    /// The JSON body as `T`, or `T::default()` when the body is empty.
    pub fn optional_body<T: DeserializeOwned + Default>(&self) -> Result<T, Problem> {
        parse_optional_request(&self.headers, &self.body)
    }

    /// The command's context: who, correlation, `Idempotency-Key` and `If-Match`.
    /// `status` is what a replay of this request will answer with.
    pub fn context(
        &self,
        now: DateTime<Utc>,
        status: StatusCode,
    ) -> Result<CommandContext, Problem> {
        let mut context = CommandContext::new(
            self.principal.tenant_id,
            self.principal.key_id.to_string(),
            now,
        );
        context.correlation_id = self.ids.correlation_id;
        context.causation_id = self.ids.request_id;
        context.idempotency = idempotency_claim(
            &self.headers,
            &self.method,
            self.uri.path(),
            &self.body,
            status.as_u16(),
        )?;
        context.expected_version = expected_version(&self.headers)?;
        Ok(context)
    }
}
