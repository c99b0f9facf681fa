//! Whether a tenant has crossed a quota of the metered LLM usage: asked before every model
//! call, so a run stops with `quota_exceeded` instead of spending past it.

use domain::billing::Meter;
use eventstore::billing_cache::{QuotaUse, quotas_use};
use uuid::Uuid;

use crate::EngineError;

/// Answers whether a tenant is over a quota now. The billing service plugs its own gate in
/// (the tenant's usage counters against its quotas on `llm_input_tokens` and
/// `llm_output_tokens`); a deployment without billing uses [`NoQuotas`].
#[async_trait::async_trait]
pub trait QuotaGate: Send + Sync {
    /// Whether `tenant_id` may not make another model call now.
    async fn quota_exceeded(&self, tenant_id: Uuid) -> Result<bool, EngineError>;
}

/// No quotas: every tenant may always go on.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoQuotas;

#[async_trait::async_trait]
impl QuotaGate for NoQuotas {
    async fn quota_exceeded(&self, _tenant_id: Uuid) -> Result<bool, EngineError> {
        Ok(false)
    }
}

/// The billing quotas on the LLM meters, read from the tenant's hot billing hash (one
/// Redis round trip for both). Like the command API's gate, it lets work through when
/// Redis cannot answer: quotas brake spending, and the usage is billed either way.
#[derive(Clone)]
pub struct BillingQuotas {
    redis: redis::aio::ConnectionManager,
    prefix: String,
}

impl BillingQuotas {
    /// The gate over the hashes kept in `redis` under `prefix`.
    pub fn new(redis: redis::aio::ConnectionManager, prefix: String) -> Self {
        Self { redis, prefix }
    }
}

#[async_trait::async_trait]
impl QuotaGate for BillingQuotas {
    async fn quota_exceeded(&self, tenant_id: Uuid) -> Result<bool, EngineError> {
        let meters = [Meter::LlmInputTokens, Meter::LlmOutputTokens];
        let mut redis = self.redis.clone();
        match quotas_use(
            &mut redis,
            &self.prefix,
            tenant_id,
            &meters,
            chrono::Utc::now(),
        )
        .await
        {
            Ok(used) => Ok(used.iter().any(QuotaUse::is_used_up)),
            Err(err) => {
                tracing::warn!(%err, "quota check unavailable; the run goes on");
                Ok(false)
            }
        }
    }
}
