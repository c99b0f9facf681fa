//! `?as_of=<RFC 3339>` / `?as_of_version=<n>` on a resource's GET: the aggregate's state
//! folded from the store up to that point with the domain's own code.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::api_key::Scope;
use eventstore::audit::{AggregateState, StateError};
use eventstore::loader::AsOf;
use eventstore::tenants::Principal;
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::AppState;
use crate::consistency::wait_for_token;
use crate::params::with_etag;

/// Declares the response schema of a resource's GET that also answers `as_of` /
/// `as_of_version`: `Current` is its read model, `AsOf` its state folded from the store.
macro_rules! read_schema {
    ($(#[$attr:meta])* $name:ident($view:ty)) => {
        $(#[$attr])*
        #[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
        #[serde(untagged)]
        pub enum $name {
            Current($view),
            AsOf(eventstore::audit::AggregateState),
        }
    };
}
pub(crate) use read_schema;

/// The point in time of a read.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AsOfParams {
    /// RFC 3339 time: the state after every event that occurred at or before it.
    pub as_of: Option<String>,
    /// The state right after this version (1 = as created).
    pub as_of_version: Option<i64>,
}

impl AsOfParams {
    /// The requested point, or `None` for a read of the current state.
    pub fn point(&self) -> Result<Option<AsOf>, Problem> {
        match (&self.as_of, self.as_of_version) {
            (Some(_), Some(_)) => Err(Problem::invalid_field(
                "as_of_version",
                "give either as_of or as_of_version, not both",
            )),
            (Some(time), None) => DateTime::parse_from_rfc3339(time)
                .map(|time| Some(AsOf::Time(time.with_timezone(&Utc))))
                .map_err(|_| Problem::invalid_field("as_of", "must be an RFC 3339 date-time")),
            (None, Some(version)) => u64::try_from(version)
                .ok()
                .filter(|version| *version >= 1)
                .map(|version| Some(AsOf::Version(version)))
                .ok_or_else(|| Problem::invalid_field("as_of_version", "must be at least 1")),
            (None, None) => Ok(None),
        }
    }
}

/// The folded state of `tenant`'s aggregate at `as_of`; `what` names the resource in a 404.
async fn folded_state(
    state: &AppState,
    tenant: Uuid,
    aggregate_type: &str,
    aggregate_id: &str,
    as_of: AsOf,
    what: &str,
) -> Result<AggregateState, Problem> {
    state
        .aggregate_states
        .state(tenant, aggregate_type, aggregate_id, as_of)
        .await
        .map_err(|err| match err {
            StateError::UnknownType(_) => Problem::invalid_field(
                "aggregate_type",
                format!(
                    "must be one of {}",
                    state
                        .aggregate_states
                        .aggregate_types()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            StateError::NotFound => Problem::not_found(what),
            StateError::BeyondLatest { latest } => {
                Problem::invalid_field("as_of_version", format!("the latest version is {latest}"))
            }
            StateError::Store(err) => Problem::internal(&err),
        })
}

/// The answer to a read at `as_of`: the folded state, with its version as ETag.
pub async fn respond_as_of(
    state: &AppState,
    tenant: Uuid,
    aggregate_type: &str,
    aggregate_id: Uuid,
    as_of: AsOf,
    what: &str,
) -> Result<Response, Problem> {
    let id = aggregate_id.to_string();
    let folded = folded_state(state, tenant, aggregate_type, &id, as_of, what).await?;
    let version = i64::try_from(folded.version).unwrap_or(i64::MAX);
    Ok(with_etag(&HeaderMap::new(), version, folded))
}

/// A resource's GET at the point `params` name: `None` when they name none (a read of
/// the current state), else the answer of [`respond_as_of`].
pub async fn read_as_of(
    state: &AppState,
    tenant: Uuid,
    params: &AsOfParams,
    aggregate_type: &str,
    aggregate_id: Uuid,
    what: &str,
) -> Result<Option<Response>, Problem> {
    let Some(as_of) = params.point()? else {
        return Ok(None);
    };
    respond_as_of(state, tenant, aggregate_type, aggregate_id, as_of, what)
        .await
        .map(Some)
}

/// A resource's GET by id, taken from the request: who asks, which id, at which point in
/// time, and the headers (consistency token, `If-None-Match`).
pub struct ReadOne {
    state: AppState,
    principal: Principal,
    id: Uuid,
    params: AsOfParams,
    headers: HeaderMap,
}

impl FromRequestParts<AppState> for ReadOne {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        let UuidPath(id) = UuidPath::from_request_parts(parts, state).await?;
        let QueryParams(params) = QueryParams::from_request_parts(parts, state).await?;
        Ok(Self {
            state: state.clone(),
            principal,
            id,
            params,
            headers: parts.headers.clone(),
        })
    }
}

impl ReadOne {
    /// The reader's tenant, if its key holds `scope`; a 403 naming the scope otherwise.
    pub fn tenant(&self, scope: Scope) -> Result<Uuid, Problem> {
        Authenticated(self.principal.clone())
            .require(scope)
            .map(|principal| principal.tenant_id)
    }

    /// The read models' pool.
    pub fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// The resource's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Answers with the aggregate `kind` (its type and the name a 404 gives it): folded at
    /// the requested point, or else `current` (not run for a point in time) once the
    /// consistency token is visible, with `version` as its ETag. Call after [`Self::tenant`].
    pub async fn respond<T: serde::Serialize, E: std::fmt::Display>(
        &self,
        (aggregate_type, what): (&str, &str),
        current: impl Future<Output = Result<Option<T>, E>>,
        version: impl FnOnce(&T) -> i64,
    ) -> Result<Response, Problem> {
        let (state, tenant) = (&self.state, self.principal.tenant_id);
        if let Some(then) =
            read_as_of(state, tenant, &self.params, aggregate_type, self.id, what).await?
        {
            return Ok(then);
        }
        wait_for_token(state, tenant, &self.headers).await?;
        let found = current
            .await
            .map_err(|err| Problem::internal(&err))?
            .ok_or_else(|| Problem::not_found(what))?;
        Ok(with_etag(&self.headers, version(&found), found))
    }
}
