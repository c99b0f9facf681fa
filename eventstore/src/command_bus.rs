//! Executes commands: load the aggregate from the store (or take the state this bus
//! wrote last), let the pure domain decide, append the events (with idempotency,
//! optimistic concurrency and the writes that must commit with them), wake the relay.

mod recent;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use sqlx::PgPool;

use crate::alongside::Alongside;
use crate::idempotency::{self, IdempotencyRecord};
use crate::loader::{AggregateLoader, snapshot_due};
use crate::relay::RelayWaker;
use crate::repository::{AppendError, AppendFacts, EventRepository};
use crate::{CommandContext, StoreError};
use recent::RecentAggregates;

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
    /// A key the command reserves (see [`Alongside::Claim`]) is held by `owner`.
    #[error("`{key}` in `{scope}` is already taken")]
    Claimed {
        scope: String,
        key: String,
        owner: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs commands for one aggregate type against the event store.
pub struct CommandBus<A: Aggregate> {
    loader: AggregateLoader,
    repository: EventRepository,
    pool: PgPool,
    services: A::Services,
    waker: RelayWaker,
    recent: RecentAggregates<A>,
}

impl<A> CommandBus<A>
where
    A: Aggregate,
    A::Command: Send + Clone,
{
    /// A bus appending to `pool`'s event store and waking the relay through `waker`; it
    /// reads older event versions through every upcaster the domain has.
    pub fn new(pool: PgPool, services: A::Services, waker: RelayWaker) -> Self {
        Self {
            loader: AggregateLoader::new(pool.clone(), domain::catalog::upcasters()),
            repository: EventRepository::new(pool.clone()),
            pool,
            services,
            waker,
            recent: RecentAggregates::new(),
        }
    }

    /// Upcasts stored events of older versions with `upcasters` when loading.
    pub fn with_upcasters(mut self, upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        self.loader = AggregateLoader::new(self.pool.clone(), upcasters);
        self
    }

    /// Executes `command` on `aggregate_id`.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<CommandReceipt, CommandError<A::Error>> {
        self.execute_with(aggregate_id, command, context, Vec::new())
            .await
    }

    /// Executes `command` on `aggregate_id`, committing `alongside` with its events.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id, correlation_id = %context.correlation_id))]
    pub async fn execute_with(
        &self,
        aggregate_id: &str,
        command: A::Command,
        context: &CommandContext,
        alongside: Vec<Alongside>,
    ) -> Result<CommandReceipt, CommandError<A::Error>> {
        let outcome = match self.recent.take(aggregate_id) {
            Some((aggregate, version)) => {
                let recent = Load::Recent(aggregate, version);
                let outcome = self
                    .execute_once(aggregate_id, command.clone(), context, &alongside, recent)
                    .await;
                match outcome {
                    // The state may be stale (see `recent`): decide again on the stored one.
                    Err(
                        CommandError::Rejected(_)
                        | CommandError::VersionMismatch { .. }
                        | CommandError::Conflict,
                    ) => {
                        self.execute_once(aggregate_id, command, context, &alongside, Load::Stored)
                            .await
                    }
                    other => other,
                }
            }
            None => {
                self.execute_once(aggregate_id, command, context, &alongside, Load::Stored)
                    .await
            }
        };
        self.settle_twin(outcome, context).await
    }

    /// Executes a command that creates `aggregate_id`, an id the caller just made (a new
    /// UUIDv7), so that nothing can be stored under it yet: the aggregate is not loaded.
    /// Should the id exist after all, the append conflicts and the command is executed
    /// again on the stored aggregate, which then decides.
    pub async fn create(
        &self,
        aggregate_id: &str,
        command: A::Command,
        context: &CommandContext,
        alongside: Vec<Alongside>,
    ) -> Result<CommandReceipt, CommandError<A::Error>> {
        let outcome = self
            .execute_once(
                aggregate_id,
                command.clone(),
                context,
                &alongside,
                Load::Fresh,
            )
            .await;
        match outcome {
            Err(CommandError::Conflict) => {
                self.execute_with(aggregate_id, command, context, alongside)
                    .await
            }
            other => self.settle_twin(other, context).await,
        }
    }

    /// A twin request with the same key on the same aggregate makes this one conflict,
    /// or fail its version check or the domain's rules against the twin's events: if the
    /// twin's key has committed, its outcome is the answer.
    async fn settle_twin(
        &self,
        outcome: Result<CommandReceipt, CommandError<A::Error>>,
        context: &CommandContext,
    ) -> Result<CommandReceipt, CommandError<A::Error>> {
        match (&outcome, &context.idempotency) {
            (
                Err(
                    CommandError::Conflict
                    | CommandError::VersionMismatch { .. }
                    | CommandError::Rejected(_)
                    | CommandError::Claimed { .. },
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
        alongside: &[Alongside],
        load: Load<A>,
    ) -> Result<CommandReceipt, CommandError<A::Error>> {
        if let Some(claim) = &context.idempotency
            && let Some(record) =
                idempotency::find(&self.pool, context.tenant_id, &claim.key).await?
        {
            return replay(record, &claim.request_hash);
        }
        let (mut aggregate, current) = match load {
            Load::Stored => self.load(aggregate_id).await?,
            Load::Fresh => (A::default(), 0),
            Load::Recent(aggregate, version) => (aggregate, version),
        };
        let sink = EventSink::default();
        aggregate
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
            self.recent.put(aggregate_id, aggregate, current);
            return Ok(receipt::<A>(aggregate_id, current, status_code, false));
        }
        let serialized = serialize::<A>(aggregate_id, current, &events, context)?;
        let version = current + events.len() as u64;
        match self
            .repository
            .append(&serialized, &AppendFacts::of(context), alongside)
            .await
        {
            Ok(()) => {
                self.waker.wake().await;
                if snapshot_due(current, version)
                    && let Err(err) = self
                        .loader
                        .save_snapshot(aggregate_id, &aggregate, version)
                        .await
                {
                    // A snapshot is only a shortcut for later loads; the command stands.
                    tracing::warn!(%err, aggregate_type = A::TYPE, aggregate_id, "snapshot not saved");
                }
                self.recent.put(aggregate_id, aggregate, version);
                metrics::counter!("agentos_commands_total", "aggregate_type" => A::TYPE)
                    .increment(1);
                Ok(receipt::<A>(aggregate_id, version, status_code, false))
            }
            Err(AppendError::Conflict) => Err(CommandError::Conflict),
            Err(AppendError::Claimed { scope, key, owner }) => {
                Err(CommandError::Claimed { scope, key, owner })
            }
            Err(AppendError::IdempotencyKeyTaken) => {
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
            Err(AppendError::Store(err)) => Err(CommandError::Store(err)),
        }
    }

    /// The receipt of this request's first execution, when its `Idempotency-Key` was used
    /// before: for handlers that check something outside the aggregate first, whose
    /// answer may have changed since (a replay must still answer as the first time did).
    pub async fn replayed(
        &self,
        context: &CommandContext,
    ) -> Result<Option<CommandReceipt>, CommandError<A::Error>> {
        let Some(claim) = &context.idempotency else {
            return Ok(None);
        };
        match idempotency::find(&self.pool, context.tenant_id, &claim.key).await? {
            Some(record) => replay(record, &claim.request_hash).map(Some),
            None => Ok(None),
        }
    }

    /// The current state and version of an aggregate (its snapshot and later events).
    pub async fn load(&self, aggregate_id: &str) -> Result<(A, u64), StoreError> {
        self.loader.load(aggregate_id).await
    }
}

/// Where the aggregate's state comes from.
enum Load<A> {
    /// Read from the store.
    Stored,
    /// Known to be new.
    Fresh,
    /// As this bus wrote it last (possibly stale).
    Recent(A, u64),
}

/// The events as rows, numbered on from `current`, each with the command's metadata.
fn serialize<A: Aggregate>(
    aggregate_id: &str,
    current: u64,
    events: &[A::Event],
    context: &CommandContext,
) -> Result<Vec<SerializedEvent>, StoreError> {
    let metadata = serde_json::to_value(context.to_metadata())?;
    events
        .iter()
        .enumerate()
        .map(|(offset, event)| {
            Ok(SerializedEvent::new(
                aggregate_id.to_owned(),
                usize::try_from(current).unwrap_or(usize::MAX) + offset + 1,
                A::TYPE.to_owned(),
                event.event_type(),
                event.event_version(),
                serde_json::to_value(event)?,
                metadata.clone(),
            ))
        })
        .collect()
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
