//! The billing reactor: reads every event from its durable consumer and records the usage
//! some of them cause (a recorded memory, a succeeded tool invocation) on the tenant's
//! billing account, by command.
//!
//! Exactly once in effect: each usage command reserves its causing event's id
//! ([`USAGE_CLAIM_SCOPE`]) in the same transaction as its events, so an event delivered
//! again (after a crash between the command and the checkpoint, or anywhere else) records
//! nothing. The checkpoint (`projection_checkpoints`) only saves the consumer from
//! replaying the whole stream on a restart.

mod usages;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::billing::{BillingAccount, BillingError};
use eventstore::alongside::claim_owner;
use eventstore::{Alongside, CommandBus, CommandError, Namespace};
use futures::{StreamExt, TryStreamExt};
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use crate::runner::{Delivered, Projection};
use crate::{ProjectionError, checkpoint};

pub use usages::{BILLING_ACTOR, Usage, token_usages, usages_of};

/// The reactor's name (durable consumer and checkpoint).
pub const BILLING_REACTOR: &str = "billing_reactor";
/// The claim scope in which each usage reserves its key.
pub const USAGE_CLAIM_SCOPE: &str = "billing_usage";
/// How often a usage command is retried after losing a race for its account (to a
/// command from the API) before the batch fails and comes back.
const CONFLICT_RETRIES: u32 = 5;
/// Accounts recorded at the same time; one account's usages go one after the other.
const ACCOUNTS_IN_FLIGHT: usize = 8;

/// What became of one usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded now.
    New,
    /// Recorded before: the claim on its key is taken.
    Already,
    /// Refused by the account for good (an invalid usage); logged and skipped.
    Refused,
}

/// Records usage from the event stream on billing accounts.
pub struct BillingReactor {
    pool: PgPool,
    accounts: Arc<CommandBus<BillingAccount>>,
}

impl BillingReactor {
    /// A reactor issuing its commands through `accounts`, with its checkpoint in `pool`.
    pub fn new(pool: PgPool, accounts: Arc<CommandBus<BillingAccount>>) -> Self {
        Self { pool, accounts }
    }

    /// Records the usages that `events` past the checkpoint cause, without moving the
    /// checkpoint; returns how many were recorded now (not before).
    pub async fn record(&self, events: &[Delivered]) -> Result<usize, ProjectionError> {
        let checkpoint = checkpoint::read(&self.pool, BILLING_REACTOR).await?;
        let mut by_account: BTreeMap<Uuid, Vec<Usage>> = BTreeMap::new();
        for delivered in events.iter().filter(|d| d.stream_sequence > checkpoint) {
            for usage in usages_of(&delivered.event) {
                by_account.entry(usage.tenant_id).or_default().push(usage);
            }
        }
        futures::stream::iter(by_account.into_values())
            .map(|usages| async move {
                let mut recorded = 0;
                for usage in &usages {
                    if self.record_usage(usage).await? == Recorded::New {
                        recorded += 1;
                    }
                }
                Ok::<_, ProjectionError>(recorded)
            })
            .buffer_unordered(ACCOUNTS_IN_FLIGHT)
            .try_fold(0, |total, recorded| async move { Ok(total + recorded) })
            .await
    }

    /// Records one usage unless its key was claimed before. Lost races for the account
    /// are retried after a short pause; a usage whose month was invoiced meanwhile is
    /// charged to the current month instead.
    pub async fn record_usage(&self, usage: &Usage) -> Result<Recorded, ProjectionError> {
        let span = tracing::info_span!(
            "record_usage",
            tenant_id = %usage.tenant_id,
            meter = %usage.meter,
            key = %usage.key,
            correlation_id = %usage.correlation_id,
        );
        async {
            // Cheaper than loading the account only to find the claim taken.
            if claim_owner(&self.pool, USAGE_CLAIM_SCOPE, &usage.key)
                .await?
                .is_some()
            {
                return Ok(Recorded::Already);
            }
            let account = usage.tenant_id.to_string();
            let context = usage.context();
            let mut charged_at = usage.occurred_at;
            let mut conflicts = 0;
            loop {
                let outcome = self
                    .accounts
                    .execute_with(
                        &account,
                        usage.command(charged_at),
                        &context,
                        vec![Alongside::claim(USAGE_CLAIM_SCOPE, usage.key.clone())],
                    )
                    .await;
                match outcome {
                    Ok(_) => {
                        metrics::counter!("agentos_billing_usage_recorded_total", "meter" => usage.meter.as_str())
                            .increment(1);
                        return Ok(Recorded::New);
                    }
                    Err(
                        CommandError::Claimed { .. }
                        | CommandError::Rejected(BillingError::DuplicateUsage),
                    ) => return Ok(Recorded::Already),
                    Err(CommandError::Rejected(BillingError::PeriodAlreadyClosed))
                        if charged_at == usage.occurred_at =>
                    {
                        tracing::warn!("usage arrived after its month was invoiced; charged to the current month");
                        charged_at = Utc::now();
                    }
                    Err(CommandError::Rejected(rejection)) => {
                        tracing::error!(%rejection, "usage refused by the account; skipped");
                        metrics::counter!("agentos_billing_usage_refused_total").increment(1);
                        return Ok(Recorded::Refused);
                    }
                    Err(CommandError::Conflict) if conflicts < CONFLICT_RETRIES => {
                        conflicts += 1;
                        tokio::time::sleep(Duration::from_millis(10 << conflicts)).await;
                    }
                    Err(CommandError::Store(err)) => return Err(err.into()),
                    Err(err) => return Err(ProjectionError::Command(err.to_string())),
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Moves the checkpoint forward to `sequence` (never back).
    async fn save_checkpoint(&self, sequence: u64) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        if checkpoint::lock(&mut tx, BILLING_REACTOR).await? < sequence {
            checkpoint::save(&mut tx, BILLING_REACTOR, sequence).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Projection for BillingReactor {
    fn name(&self) -> &str {
        BILLING_REACTOR
    }

    /// Every event: usage comes from several aggregate types, and NATS 2.9 honours one
    /// filter only.
    fn filter_subject(&self, namespace: &Namespace) -> String {
        format!("{}.>", namespace.subject_prefix())
    }

    async fn prepare(&self) -> Result<u64, ProjectionError> {
        checkpoint::ensure(&self.pool, BILLING_REACTOR).await?;
        checkpoint::read(&self.pool, BILLING_REACTOR).await
    }

    /// Records the batch's usages, then saves the checkpoint: a crash in between makes
    /// the batch come back, and its claims make it record nothing twice.
    async fn apply(&self, events: &[Delivered]) -> Result<usize, ProjectionError> {
        let recorded = self.record(events).await?;
        if let Some(last) = events.last() {
            self.save_checkpoint(last.stream_sequence).await?;
        }
        Ok(recorded)
    }
}
