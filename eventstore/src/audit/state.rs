//! Point-in-time state of any aggregate: a registry from aggregate type to "fold its
//! stored events with the domain's own `Aggregate::apply`, then render the state".

use std::collections::BTreeMap;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;
use crate::loader::{AggregateLoader, AsOf};

/// What stands in for a redacted field.
pub const REDACTED: &str = "[redacted]";

/// An aggregate's state as it was, rendered with its own serialization.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AggregateState {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The sequence of the last event folded in.
    pub version: u64,
    /// When that event occurred.
    pub occurred_at: DateTime<Utc>,
    /// The aggregate's state, secrets redacted.
    #[schema(value_type = Object)]
    pub state: Value,
}

/// Why no state can be shown.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no aggregate type `{0}`")]
    UnknownType(String),
    /// Absent, another tenant's, or not yet created at that point.
    #[error("not found")]
    NotFound,
    #[error("the aggregate's latest version is {latest}")]
    BeyondLatest { latest: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Folds one aggregate type.
trait Fold: Send + Sync {
    fn fold<'a>(
        &'a self,
        loader: &'a AggregateLoader,
        aggregate_id: &'a str,
        as_of: AsOf,
    ) -> BoxFuture<'a, Result<(Value, u64), StoreError>>;
}

struct DomainFold<A> {
    redact: &'static [&'static str],
    aggregate: PhantomData<fn() -> A>,
}

impl<A: Aggregate> Fold for DomainFold<A> {
    fn fold<'a>(
        &'a self,
        loader: &'a AggregateLoader,
        aggregate_id: &'a str,
        as_of: AsOf,
    ) -> BoxFuture<'a, Result<(Value, u64), StoreError>> {
        Box::pin(async move {
            let (aggregate, version) = loader.load_as_of::<A>(aggregate_id, as_of).await?;
            let mut state = serde_json::to_value(&aggregate)?;
            if let Value::Object(fields) = &mut state {
                for field in self.redact {
                    if let Some(value) = fields.get_mut(*field) {
                        *value = Value::String(REDACTED.to_owned());
                    }
                }
            }
            Ok((state, version))
        })
    }
}

/// Every aggregate type of the domain, foldable to any past point.
#[derive(Clone)]
pub struct AggregateStates {
    pool: PgPool,
    loader: AggregateLoader,
    folds: std::sync::Arc<BTreeMap<&'static str, Box<dyn Fold>>>,
}

impl std::fmt::Debug for AggregateStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.aggregate_types()).finish()
    }
}

impl AggregateStates {
    /// The registry of every aggregate in `domain`, reading `pool`'s store through `loader`.
    pub fn new(pool: PgPool, loader: AggregateLoader) -> Self {
        use domain::{
            agent, api_key, billing, memory, run, tenant, tool, tool_invocation, webhook,
        };
        let mut folds: BTreeMap<&'static str, Box<dyn Fold>> = BTreeMap::new();
        register::<agent::Agent>(&mut folds, &[]);
        register::<tenant::Tenant>(&mut folds, &[]);
        // The hash of the secret is as good as the secret to anyone who can read it.
        register::<api_key::ApiKey>(&mut folds, &["key_hash"]);
        // Memory content is sealed (ciphertext) in the events and so in the state.
        register::<memory::Memory>(&mut folds, &[]);
        register::<tool::Tool>(&mut folds, &[]);
        register::<tool_invocation::ToolInvocation>(&mut folds, &[]);
        register::<billing::BillingAccount>(&mut folds, &[]);
        register::<run::Run>(&mut folds, &[]);
        // The signing secret is a data key: the state holds only its id.
        register::<webhook::WebhookSubscription>(&mut folds, &[]);
        Self {
            pool,
            loader,
            folds: std::sync::Arc::new(folds),
        }
    }

    /// The aggregate types it can fold.
    pub fn aggregate_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.folds.keys().copied()
    }

    /// `tenant`'s aggregate as it was at `as_of`.
    #[tracing::instrument(skip(self), err)]
    pub async fn state(
        &self,
        tenant: Uuid,
        aggregate_type: &str,
        aggregate_id: &str,
        as_of: AsOf,
    ) -> Result<AggregateState, StateError> {
        let fold = self
            .folds
            .get(aggregate_type)
            .ok_or_else(|| StateError::UnknownType(aggregate_type.to_owned()))?;
        let owner: Option<Uuid> = sqlx::query_scalar(
            "SELECT tenant_id FROM events WHERE aggregate_type = $1 AND aggregate_id = $2
              ORDER BY sequence LIMIT 1",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)?;
        if owner != Some(tenant) {
            return Err(StateError::NotFound);
        }
        let (state, version) = fold.fold(&self.loader, aggregate_id, as_of).await?;
        if let AsOf::Version(wanted) = as_of
            && wanted > version
        {
            return Err(StateError::BeyondLatest { latest: version });
        }
        if version == 0 {
            return Err(StateError::NotFound);
        }
        let occurred_at: DateTime<Utc> = sqlx::query_scalar(
            "SELECT occurred_at FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(i64::try_from(version).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from)?;
        Ok(AggregateState {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            version,
            occurred_at,
            state,
        })
    }
}

fn register<A: Aggregate + 'static>(
    folds: &mut BTreeMap<&'static str, Box<dyn Fold>>,
    redact: &'static [&'static str],
) {
    folds.insert(
        A::TYPE,
        Box::new(DomainFold::<A> {
            redact,
            aggregate: PhantomData,
        }),
    );
}
