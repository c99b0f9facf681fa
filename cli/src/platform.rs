//! Starting the roles of a process and stopping them gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eventstore::audit::AggregateStates;
use eventstore::audit::checkpoints::ensure_audit_stream;
use eventstore::leader::LockSession;
use eventstore::loader::AggregateLoader;
use eventstore::relay::ensure_stream;
use eventstore::web::ops::{self, Dependencies};
use eventstore::{CommandBus, Relay, RelayWaker, database};
use executor::{ExecutorConfig, MemoryBuiltins};
use projections::api_keys::{ApiKeysModel, ApiKeysProjection};
use projections::api_keys_redis::{ApiKeyCache, ApiKeysRedisProjection};
use projections::billing::{BillingModel, BillingProjection};
use projections::billing_reactor::BillingReactor;
use projections::billing_redis::BillingRedisProjection;
use projections::memories::{MemoriesModel, MemoriesProjection};
use projections::memories_redis::MemoriesRedisProjection;
use projections::runs::{RunsModel, RunsProjection};
use projections::tool_invocations::{ToolInvocationsModel, ToolInvocationsProjection};
use projections::tools::{ToolsModel, ToolsProjection};
use projections::webhooks::{WebhooksModel, WebhooksProjection};
use projections::{
    AgentsModel, AgentsProjection, AgentsRedisProjection, Projection, ProjectionRunner,
    RunnerConfig,
};
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use webhooks::WebhookWorker;

use crate::{Config, Role};

/// A running process: the addresses it serves and the tasks of its roles.
pub struct Platform {
    pub command_api: Option<SocketAddr>,
    pub query_api: Option<SocketAddr>,
    pub ops: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Platform {
    /// Prepares the database, the stream and the connections, then starts `roles`.
    pub async fn start(config: &Config, roles: &[Role]) -> anyhow::Result<Self> {
        let signer = config.audit_signer()?;
        if signer.is_development() && Role::Relay.in_set(roles) {
            tracing::warn!(
                "audit checkpoints are signed with the published development key; set AGENTOS_AUDIT_SIGNING_KEY"
            );
        }
        ensure_database(config.database_url()).await?;
        let pool = database::connect(config.database_url(), config.db_max_connections)
            .await
            .context("connecting to Postgres")?;
        database::migrate(&pool)
            .await
            .context("migrating the event store")?;
        let nats = async_nats::connect(&config.nats_url)
            .await
            .context("connecting to NATS")?;
        let jetstream = async_nats::jetstream::new(nats.clone());
        ensure_stream(&jetstream, &config.namespace).await?;
        ensure_audit_stream(&jetstream, &config.namespace).await?;
        let needs_redis = Role::CommandApi.in_set(roles)
            || Role::Engine.in_set(roles)
            || Role::QueryApi.in_set(roles)
            || Role::Projector.in_set(roles);
        let redis = if needs_redis {
            let client = redis::Client::open(config.redis_url()).context("Redis URL")?;
            Some(
                redis::aio::ConnectionManager::new(client)
                    .await
                    .context("connecting to Redis")?,
            )
        } else {
            None
        };
        let dependencies = Dependencies {
            postgres: Some(pool.clone()),
            nats: Some(nats.clone()),
            redis: redis.clone(),
        };
        let shutdown = CancellationToken::new();
        let mut platform = Self {
            command_api: None,
            query_api: None,
            ops: None,
            shutdown: shutdown.clone(),
            tasks: JoinSet::new(),
        };

        if Role::CommandApi.in_set(roles) {
            let redis = redis.clone().context("command API needs Redis")?;
            let state = command_api::AppState::new(
                pool.clone(),
                RelayWaker::new(nats.clone(), &config.namespace),
            )
            .with_key_cache(redis.clone(), config.redis_prefix.clone())
            .with_allowances(redis, config.redis_prefix.clone());
            let app = command_api::router(state, dependencies.clone());
            platform.command_api = Some(platform.serve(config.command_api_addr, app).await?);
        }
        if Role::QueryApi.in_set(roles) {
            let redis = redis.clone().context("query API needs Redis")?;
            // Reads must not depend on a projector having started first.
            projections::catalog::ensure_postgres_tables(&pool)
                .await
                .context("creating the read models")?;
            let state = query_api::AppState {
                pool: pool.clone(),
                agent_summaries: AgentsRedisProjection::agents(
                    redis.clone(),
                    config.redis_prefix.clone(),
                ),
                memory_cache: MemoriesRedisProjection::memories(
                    redis.clone(),
                    config.redis_prefix.clone(),
                    pool.clone(),
                ),
                authenticator: eventstore::web::Authenticator::new(pool.clone())
                    .with_cache(redis.clone(), config.redis_prefix.clone()),
                consistency_wait: config.consistency_wait(),
                events: query_api::events::EventFeed {
                    jetstream: jetstream.clone(),
                    namespace: config.namespace.clone(),
                    heartbeat: config.sse_heartbeat(),
                    shutdown: shutdown.clone(),
                },
                aggregate_states: AggregateStates::new(
                    pool.clone(),
                    AggregateLoader::new(pool.clone(), domain::catalog::upcasters()),
                ),
            };
            let app = query_api::router(state, dependencies.clone());
            platform.query_api = Some(platform.serve(config.query_api_addr, app).await?);
        }
        if Role::Relay.in_set(roles) {
            let relay = Relay::new(pool.clone(), jetstream.clone(), config.namespace.clone())
                .with_signed_checkpoints(signer, config.checkpoint_policy());
            let wake = nats
                .subscribe(config.namespace.relay_wake_subject())
                .await
                .context("subscribing to relay wake-ups")?;
            let token = shutdown.clone();
            platform
                .tasks
                .spawn(async move { Ok(relay.run(Some(wake), token).await?) });
        }
        let context = RunContext {
            jetstream: jetstream.clone(),
            namespace: config.namespace.clone(),
            locks: LockSession::new(pool.clone()),
        };
        if Role::Projector.in_set(roles) {
            let redis = redis.clone().context("projector needs Redis")?;
            let prefix = config.redis_prefix.clone();
            platform.spawn_projection(&context, AgentsProjection::new(pool.clone(), AgentsModel));
            platform.spawn_projection(
                &context,
                AgentsRedisProjection::agents(redis.clone(), prefix.clone()),
            );
            platform.spawn_projection(&context, ApiKeysProjection::new(pool.clone(), ApiKeysModel));
            platform.spawn_projection(
                &context,
                ApiKeysRedisProjection::new(redis.clone(), prefix.clone(), ApiKeyCache),
            );
            platform.spawn_projection(
                &context,
                MemoriesProjection::new(pool.clone(), MemoriesModel),
            );
            platform.spawn_projection(
                &context,
                MemoriesRedisProjection::memories(redis.clone(), prefix.clone(), pool.clone()),
            );
            platform.spawn_projection(&context, BillingProjection::new(pool.clone(), BillingModel));
            platform.spawn_projection(&context, BillingRedisProjection::billing(redis, prefix));
            platform.spawn_projection(&context, ToolsProjection::new(pool.clone(), ToolsModel));
            platform.spawn_projection(
                &context,
                ToolInvocationsProjection::new(pool.clone(), ToolInvocationsModel),
            );
            platform.spawn_projection(
                &context,
                WebhooksProjection::new(pool.clone(), WebhooksModel),
            );
            platform.spawn_projection(&context, RunsProjection::new(pool.clone(), RunsModel));
        }
        if Role::BillingReactor.in_set(roles) {
            let accounts = CommandBus::new(
                pool.clone(),
                (),
                RelayWaker::new(nats.clone(), &config.namespace),
            );
            platform.spawn_projection(
                &context,
                BillingReactor::new(pool.clone(), Arc::new(accounts)),
            );
        }
        if Role::ToolExecutor.in_set(roles) {
            let executor = tool_executor(config, &pool, &jetstream, &nats)?;
            let token = shutdown.clone();
            platform
                .tasks
                .spawn(async move { Ok(executor.run(token).await?) });
        }
        if Role::WebhookWorker.in_set(roles) {
            let subscriptions = CommandBus::new(
                pool.clone(),
                (),
                RelayWaker::new(nats.clone(), &config.namespace),
            );
            let worker = WebhookWorker::new(
                pool.clone(),
                jetstream.clone(),
                config.namespace.clone(),
                Arc::new(subscriptions),
                config.webhooks.settings(),
            )?;
            let token = shutdown.clone();
            platform
                .tasks
                .spawn(async move { Ok(worker.run(token).await?) });
        }
        if Role::Engine.in_set(roles) {
            let redis = redis.clone().context("the engine needs Redis")?;
            let engine = run_engine(config, &pool, &jetstream, &nats, redis)?;
            let token = shutdown.clone();
            platform
                .tasks
                .spawn(async move { Ok(engine.run(token).await?) });
        }
        if platform.command_api.is_none() && platform.query_api.is_none() {
            let app = ops::router(dependencies);
            platform.ops = Some(platform.serve(config.ops_addr, app).await?);
        }
        Ok(platform)
    }

    /// Runs `projection` from its durable consumer, leading through a Postgres lock.
    fn spawn_projection<P: Projection>(&mut self, context: &RunContext, projection: P) {
        let runner = ProjectionRunner::new(
            Arc::new(projection),
            context.jetstream.clone(),
            context.namespace.clone(),
            RunnerConfig::default(),
        )
        // Leadership of every projection, Redis ones included, is a Postgres lock, held
        // in the one lock session the process's projectors share.
        .with_lock_session(context.locks.clone());
        let token = self.shutdown.clone();
        self.tasks
            .spawn(async move { Ok(runner.run(token).await?) });
    }

    async fn serve(&mut self, addr: SocketAddr, app: axum::Router) -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr()?;
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await?;
            Ok(())
        });
        tracing::info!(%local, "listening");
        Ok(local)
    }

    /// The token that stops every role.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until `stop` fires or a role fails, then drains every role.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let failure = tokio::select! {
            () = stop => None,
            Some(result) = self.tasks.join_next() => Some(result),
        };
        self.stop().await;
        match failure {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(err))) => Err(err),
            Some(Err(err)) => Err(err.into()),
        }
    }

    /// Cancels every role and waits (bounded) for in-flight work to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(result) = self.tasks.join_next().await {
                if let Ok(Err(err)) = result {
                    tracing::warn!(%err, "role ended with an error");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("roles did not stop within 20 s; aborting them");
            self.tasks.abort_all();
        }
    }
}

/// The tool executor role: no builtin tools yet (each builtin call fails, saying so).
fn tool_executor(
    config: &Config,
    pool: &sqlx::PgPool,
    jetstream: &async_nats::jetstream::Context,
    nats: &async_nats::Client,
) -> anyhow::Result<executor::Executor> {
    if config.signs_with_development_secret() {
        tracing::warn!(
            "tool requests are signed with the development secret: set AGENTOS_TOOL_SIGNING_SECRET"
        );
    }
    let mut settings = ExecutorConfig::new(config.tool_signing_secret.clone());
    settings.concurrency = usize::from(config.tool_executor_concurrency);
    executor::Executor::new(
        pool.clone(),
        jetstream.clone(),
        config.namespace.clone(),
        RelayWaker::new(nats.clone(), &config.namespace),
        Arc::new(MemoryBuiltins::new(
            pool.clone(),
            RelayWaker::new(nats.clone(), &config.namespace),
        )),
        settings,
    )
    .context("starting the tool executor")
}

/// The engine role: the scripted model, and an OpenAI-compatible one when configured; the
/// billing quotas on the LLM meters, read from the hot billing hashes in `redis`.
fn run_engine(
    config: &Config,
    pool: &sqlx::PgPool,
    jetstream: &async_nats::jetstream::Context,
    nats: &async_nats::Client,
    redis: redis::aio::ConnectionManager,
) -> anyhow::Result<engine::Engine> {
    let openai = match config.engine.openai_config() {
        Some(settings) => Some(Arc::new(
            engine::provider::OpenAiCompatible::new(settings)
                .context("the OpenAI-compatible client")?,
        ) as Arc<dyn engine::ModelProvider>),
        None => None,
    };
    Ok(engine::Engine::new(
        pool.clone(),
        jetstream.clone(),
        config.namespace.clone(),
        RelayWaker::new(nats.clone(), &config.namespace),
        engine::Providers::new(openai),
        Arc::new(engine::BillingQuotas::new(
            redis,
            config.redis_prefix.clone(),
        )),
        config.engine.engine_config(),
    ))
}

/// What every projector of a process shares.
struct RunContext {
    jetstream: async_nats::jetstream::Context,
    namespace: eventstore::Namespace,
    locks: Arc<LockSession>,
}

/// Creates the configured database if the server does not have it yet.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let options = database::connect_options(url)?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    if PgConnection::connect_with(&options).await.is_ok() {
        return Ok(());
    }
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .context("connecting to Postgres")?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    if let Err(err) = admin
        .execute(format!("CREATE DATABASE {quoted}").as_str())
        .await
    {
        // Another process may have created it meanwhile.
        tracing::debug!(%err, "CREATE DATABASE");
    }
    admin.close().await.ok();
    Ok(())
}
