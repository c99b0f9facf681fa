//! Executes commands: load the aggregate from the store, let the pure domain decide,
//! append the events (with idempotency and optimistic concurrency), wake the relay.

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use sqlx::PgPool;

use crate::idempotency::{self, IdempotencyRecord};
use crate::relay::RelayWaker;
use crate::repository::{EventRepository, IdempotencyKeyTaken};
use crate::{CommandContext, StoreError};

/// What a command that was accepted (or replayed) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandReceipt {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The aggregate's version (sequence of its last event) after the command.
    pub version: u64,
    /// The HTTP status the first execution answered with.
    pub status_code: u16,
    /// True when an `Idempotency-Key` matched and nothing was appended.
    pub replayed: bool,
}

/// Why a command appended nothing. A rejection by the domain is its own variant.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    #[error(transparent)]
    Rejected(E),
    #[error("expected version {expected}, the aggregate is at {actual}")]
    VersionMismatch { expected: u64, actual: u64 },
    #[error("another command changed the aggregate concurrently")]
    Conflict,
    #[error("the idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs commands for one aggregate type against the event store.
pub struct CommandBus<A: Aggregate> {
    store: PersistedEventStore<EventRepository, A>,
    pool: PgPool,
    services: A::Services,
    waker: RelayWaker,
}

impl<A> CommandBus<A>
where
    A: Aggregate,
    A::Command: Send,
{
    /// A bus appending to `pool`'s event store and waking the relay through `waker`.
    pub fn new(pool: PgPool, services: A::Services, waker: RelayWaker) -> Self {
        Self {
            store: PersistedEventStore::new_event_store(EventRepository::new(pool.clone())),
            pool,
            services,
            waker,
        }
    }

    /// Executes `command` on `aggregate_id`.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id, correlation_id = %context.correlation_id))]
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<CommandReceipt, CommandError<A::Error>> {
        let outcome = self.execute_once(aggregate_id, command, context).await;
        match (&outcome, &context.idempotency) {
            // A twin request with the same key on the same aggregate makes this one
            // conflict, or fail its version check or the domain's rules against the
            // twin's events: if the twin's key has committed, its outcome is the answer.
            (
                Err(
                    CommandError::Conflict
                    | CommandError::VersionMismatch { .. }
                    | CommandError::Rejected(_),
                ),
                Some(claim),
            ) => match idempotency::find(&self.pool, context.tenant_id, &claim.key).await? {
                Some(record) => replay(record, &claim.request_hash),
                None => outcome,
            },
            _ => outcome,
        }
    }

    async fn execute_once(
        &self,
        aggregate_id: &str,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<CommandReceipt, CommandError<A::Error>> {
        if let Some(claim) = &context.idempotency
            && let Some(record) =
                idempotency::find(&self.pool, context.tenant_id, &claim.key).await?
        {
            return replay(record, &claim.request_hash);
        }
        let mut aggregate_context = self
            .store
            .load_aggregate(aggregate_id)
            .await
            .map_err(store_error)?;
        let current = aggregate_context.current_sequence as u64;
        let sink = EventSink::default();
        aggregate_context
            .aggregate()
            .handle(command, &self.services, &sink)
            .await
            .map_err(CommandError::Rejected)?;
        // The precondition is checked only once the domain accepted the command: a command
        // on an aggregate the caller cannot see is the domain's "not found", and a version
        // answered before that would tell any tenant that the aggregate exists.
        if let Some(expected) = context.expected_version
            && expected != current
        {
            return Err(CommandError::VersionMismatch {
                expected,
                actual: current,
            });
        }
        let events = sink.collect().await;
        let status_code = context.idempotency.as_ref().map_or(200, |c| c.status_code);
        if events.is_empty() {
            return Ok(receipt::<A>(aggregate_id, current, status_code, false));
        }
        let committed = self
            .store
            .commit(events, aggregate_context, context.to_metadata())
            .await;
        match committed {
            Ok(envelopes) => {
                self.waker.wake().await;
                let version = envelopes.last().map_or(current, |e| e.sequence as u64);
                metrics::counter!("agentos_commands_total", "aggregate_type" => A::TYPE)
                    .increment(1);
                Ok(receipt::<A>(aggregate_id, version, status_code, false))
            }
            Err(AggregateError::AggregateConflict) => Err(CommandError::Conflict),
            Err(AggregateError::UnexpectedError(err)) if err.is::<IdempotencyKeyTaken>() => {
                // A twin request with the same key committed between our lookup and our
                // append; ours rolled back as a whole, so answer with the twin's outcome.
                let claim = context.idempotency.as_ref().ok_or_else(|| {
                    StoreError::Invalid("idempotency conflict without a key".into())
                })?;
                let record = idempotency::find(&self.pool, context.tenant_id, &claim.key)
                    .await?
                    .ok_or_else(|| StoreError::Invalid("idempotency record vanished".into()))?;
                replay(record, &claim.request_hash)
            }
            Err(err) => Err(store_error(err)),
        }
    }

    /// The current state and version of an aggregate, folded from its events.
    pub async fn load(&self, aggregate_id: &str) -> Result<(A, u64), StoreError> {
        let context = self
            .store
            .load_aggregate(aggregate_id)
            .await
            .map_err(|e| StoreError::Persistence(e.to_string()))?;
        Ok((context.aggregate, context.current_sequence as u64))
    }
}

fn receipt<A: Aggregate>(
    aggregate_id: &str,
    version: u64,
    status_code: u16,
    replayed: bool,
) -> CommandReceipt {
    CommandReceipt {
        aggregate_type: A::TYPE.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        version,
        status_code,
        replayed,
    }
}

fn replay<E: std::error::Error>(
    record: IdempotencyRecord,
    request_hash: &str,
) -> Result<CommandReceipt, CommandError<E>> {
    if record.request_hash != request_hash {
        return Err(CommandError::IdempotencyKeyReused);
    }
    Ok(CommandReceipt {
        aggregate_type: record.aggregate_type,
        aggregate_id: record.aggregate_id,
        version: u64::try_from(record.version).unwrap_or_default(),
        status_code: u16::try_from(record.status_code).unwrap_or(200),
        replayed: true,
    })
}

fn store_error<E: std::error::Error>(err: AggregateError<E>) -> CommandError<E> {
    match err {
        AggregateError::UserError(e) => CommandError::Rejected(e),
        AggregateError::AggregateConflict => CommandError::Conflict,
        other => CommandError::Store(StoreError::Persistence(other.to_string())),
    }
}
