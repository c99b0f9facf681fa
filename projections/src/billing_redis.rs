//! The hot billing hash per tenant (`<prefix>:billing_account:<tenant id>`): balance,
//! quotas and the usage counters of each meter's current day and month, which the command
//! API reads to refuse work past a quota. Field names are `eventstore::billing_cache`'s.

use domain::billing::{BILLING_ACCOUNT_AGGREGATE_TYPE, BillingEvent, Meter};
use eventstore::CloudEvent;
use eventstore::billing_cache::{
    BALANCE_FIELD, account_key, quota_limit_field, quota_period_field, used_field, used_prefix,
};
use uuid::Uuid;

use crate::ProjectionError;
use crate::pg_model::id_and_version;
use crate::redis_model::{ExtraOp, RedisChanges, RedisModel, RedisProjection};

/// The projection's name (consumer and checkpoint).
pub const BILLING_REDIS_PROJECTION: &str = "billing_redis";

/// The billing hash model.
#[derive(Debug, Clone, Copy, Default)]
pub struct BillingAllowances;

/// The Redis projection of billing accounts.
pub type BillingRedisProjection = RedisProjection<BillingAllowances>;

impl RedisModel for BillingAllowances {
    fn name(&self) -> &'static str {
        BILLING_REDIS_PROJECTION
    }

    fn aggregate_type(&self) -> &'static str {
        BILLING_ACCOUNT_AGGREGATE_TYPE
    }

    fn changes(&self, prefix: &str, event: &CloudEvent) -> Result<RedisChanges, ProjectionError> {
        let (tenant_id, _) = id_and_version(event)?;
        let billing_event: BillingEvent = crate::decode::domain_event(event)?;
        let hash = account_key(prefix, tenant_id);
        Ok(match billing_event {
            BillingEvent::BillingAccountOpened(opened) => RedisChanges {
                fields: vec![
                    ("tenant_id", opened.tenant_id.to_string()),
                    (BALANCE_FIELD, "0".to_owned()),
                ],
                extra: Vec::new(),
            },
            BillingEvent::CreditsGranted(granted) => balance(granted.balance_after_micros),
            BillingEvent::UsageRecorded(usage) => RedisChanges {
                extra: count_usage(&hash, usage.meter, usage.quantity, &usage.day, &usage.month),
                ..balance(usage.balance_after_micros)
            },
            BillingEvent::QuotaSet(set) => RedisChanges {
                fields: Vec::new(),
                extra: vec![
                    ExtraOp::HSet {
                        key: hash.clone(),
                        field: quota_limit_field(set.meter),
                        value: set.limit.to_string(),
                    },
                    ExtraOp::HSet {
                        key: hash,
                        field: quota_period_field(set.meter),
                        value: set.period.to_string(),
                    },
                ],
            },
            BillingEvent::QuotaRemoved(removed) => RedisChanges {
                fields: Vec::new(),
                extra: vec![
                    ExtraOp::HDel {
                        key: hash.clone(),
                        field: quota_limit_field(removed.meter),
                    },
                    ExtraOp::HDel {
                        key: hash,
                        field: quota_period_field(removed.meter),
                    },
                ],
            },
            // Only the version moves: nothing a quota check reads changes.
            BillingEvent::QuotaExceeded(_) | BillingEvent::InvoiceIssued(_) => {
                RedisChanges::default()
            }
        })
    }
}

fn balance(balance_after_micros: i64) -> RedisChanges {
    RedisChanges {
        fields: vec![(BALANCE_FIELD, balance_after_micros.to_string())],
        extra: Vec::new(),
    }
}

/// Adds the usage to its day's and month's counters, and drops the counters of earlier
/// months (days of the usage's own month stay until the next month's first usage), so the
/// hash stays small however long the account lives.
fn count_usage(hash: &str, meter: Meter, quantity: i64, day: &str, month: &str) -> Vec<ExtraOp> {
    vec![
        ExtraOp::HIncrBy {
            key: hash.to_owned(),
            field: used_field(meter, day),
            by: quantity,
        },
        ExtraOp::HIncrBy {
            key: hash.to_owned(),
            field: used_field(meter, month),
            by: quantity,
        },
        ExtraOp::HPrune {
            key: hash.to_owned(),
            prefix: used_prefix(meter),
            below: used_field(meter, month),
        },
    ]
}

impl RedisProjection<BillingAllowances> {
    /// Keys are `<prefix>:billing_account:<tenant id>` and
    /// `<prefix>:checkpoint:billing_redis`.
    pub fn billing(redis: redis::aio::ConnectionManager, prefix: impl Into<String>) -> Self {
        Self::new(redis, prefix, BillingAllowances)
    }

    /// Every field of `tenant_id`'s hash (empty when it has none yet).
    pub async fn account_fields(
        &self,
        tenant_id: Uuid,
    ) -> Result<std::collections::HashMap<String, String>, ProjectionError> {
        self.fields(&tenant_id.to_string()).await
    }
}
