//! Commands through HTTP against the raw append ceiling; command → read-model lag.

use std::time::{Duration, Instant};

use bytes::Bytes;
use domain::agent::AGENT_AGGREGATE_TYPE;
use eventstore::database;
use eventstore::repository::INSERT_EVENTS;
use eventstore::testing::TestEnv;
use hdrhistogram::Histogram;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::XorShift;
use crate::cpu::{CpuSnapshot, backends_of};
use crate::http::HttpConnection;
use crate::platform::RunningPlatform;
use crate::rows::agent_event;
use crate::stats::latency_histogram;
use crate::workload::{Outcome, Phase, Worker, closed_loop, open_loop};

/// The store's own event INSERT, one new agent per statement, on its own connection.
pub struct RawAppend {
    connection: PgConnection,
    tenant_id: Uuid,
    payload: String,
    metadata: String,
}

impl RawAppend {
    /// Up to `n` appenders on `database_url`: as many as the server still accepts (it is
    /// shared), at least one.
    pub async fn connect_many(database_url: &str, n: usize) -> anyhow::Result<Vec<Self>> {
        let tenant_id = Uuid::now_v7();
        let template = agent_event(tenant_id, Uuid::now_v7(), 1);
        let options = database::connect_options(database_url)?;
        let mut appenders = Vec::with_capacity(n);
        for _ in 0..n {
            let connection = match PgConnection::connect_with(&options).await {
                Ok(connection) => connection,
                Err(_) if !appenders.is_empty() => break,
                Err(err) => return Err(err.into()),
            };
            appenders.push(Self {
                connection,
                tenant_id,
                payload: template.payload.clone(),
                metadata: template.metadata.clone(),
            });
        }
        Ok(appenders)
    }
}

impl Worker for RawAppend {
    async fn step(&mut self) -> bool {
        sqlx::query(INSERT_EVENTS)
            .bind([AGENT_AGGREGATE_TYPE])
            .bind([Uuid::now_v7().to_string()])
            .bind([1_i64])
            .bind(["AgentCreated"])
            .bind(["1"])
            .bind([self.payload.as_str()])
            .bind([self.metadata.as_str()])
            .bind([Uuid::now_v7()])
            .bind([self.tenant_id])
            .bind([chrono::Utc::now()])
            .execute(&mut self.connection)
            .await
            .is_ok()
    }
}

/// A client that creates agents and changes the config of agents it created, half and half.
pub struct CommandClient {
    http: HttpConnection,
    owned: Vec<Uuid>,
    rng: XorShift,
    create_body: Bytes,
    revision: u64,
}

#[derive(Deserialize)]
struct Accepted {
    id: Uuid,
    version: u64,
}

/// How many of its agents a client keeps changing.
const OWNED_AGENTS: usize = 64;

impl CommandClient {
    /// `n` clients of `platform`'s command API.
    pub async fn connect_many(platform: &RunningPlatform, n: usize) -> anyhow::Result<Vec<Self>> {
        let create_body = Bytes::from(serde_json::to_vec(&serde_json::json!({
            "name": "bench-agent",
            "description": "answers billing questions",
            "model": {"provider": "anthropic", "name": "claude-sonnet", "temperature": 0.7},
            "system_prompt": "You are helpful.",
            "tool_ids": [Uuid::from_u128(1)],
            "metadata": {"team": "billing"},
        }))?);
        let mut clients = Vec::with_capacity(n);
        for seed in 0..n {
            clients.push(Self {
                http: HttpConnection::connect(platform.command_addr, Some(&platform.api_key))
                    .await?,
                owned: Vec::with_capacity(OWNED_AGENTS),
                rng: XorShift::new(seed as u64 + 1),
                create_body: create_body.clone(),
                revision: 0,
            });
        }
        Ok(clients)
    }

    /// Sends one command; the agent and version it wrote when it was accepted.
    pub async fn send_one(&mut self) -> Option<(Uuid, u64)> {
        let update = !self.owned.is_empty() && self.rng.below(2) == 0;
        let (status, body) = if update {
            let id = self.owned[self.rng.below(self.owned.len())];
            self.revision += 1;
            let body = format!(
                r#"{{"system_prompt":"You are helpful. Revision {}."}}"#,
                self.revision
            );
            self.http
                .send(
                    Method::POST,
                    &format!("/v1/agents/{id}/config"),
                    Some(body.into()),
                )
                .await
                .ok()?
        } else {
            self.http
                .send(Method::POST, "/v1/agents", Some(self.create_body.clone()))
                .await
                .ok()?
        };
        if !status.is_success() {
            return None;
        }
        let accepted: Accepted = serde_json::from_slice(&body).ok()?;
        if !update {
            if self.owned.len() < OWNED_AGENTS {
                self.owned.push(accepted.id);
            } else {
                let slot = self.rng.below(OWNED_AGENTS);
                self.owned[slot] = accepted.id;
            }
        }
        Some((accepted.id, accepted.version))
    }
}

impl Worker for CommandClient {
    async fn step(&mut self) -> bool {
        self.send_one().await.is_some()
    }
}

/// A command client that hands some accepted writes to the lag checkers.
struct LagCommandClient {
    client: CommandClient,
    written: mpsc::Sender<Written>,
    every: u64,
    count: u64,
}

/// An accepted write and when its 2xx arrived.
struct Written {
    id: Uuid,
    version: u64,
    answered: Instant,
}

impl Worker for LagCommandClient {
    async fn step(&mut self) -> bool {
        let Some((id, version)) = self.client.send_one().await else {
            return false;
        };
        self.count += 1;
        if self.count.is_multiple_of(self.every) {
            let written = Written {
                id,
                version,
                answered: Instant::now(),
            };
            // A full queue drops a sample rather than holding up the load.
            self.written.try_send(written).ok();
        }
        true
    }
}

/// What the lag figure measured.
#[derive(Debug)]
pub struct LagOutcome {
    pub commands: Outcome,
    /// From a command's 2xx until the query API returned its version, in µs.
    pub lag: Histogram<u64>,
    /// Each poll's own round trip, in µs: the floor of what the lag can show.
    pub polls: Histogram<u64>,
    /// The longest any write transaction on the server stayed open meanwhile, in ms: the
    /// relay reads below the cluster-wide xmin, so anyone's open transaction holds it back.
    pub longest_write_transaction_ms: f64,
}

/// Samples, until `stop`, how long the oldest open write transaction on the server has
/// been open; the longest seen, in ms.
async fn longest_write_transaction(pool: PgPool, stop: tokio_util::sync::CancellationToken) -> f64 {
    let mut longest: f64 = 0.0;
    while !stop.is_cancelled() {
        let oldest: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM max(now() - xact_start))::float8 * 1000
               FROM pg_stat_activity WHERE backend_xid IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or_default();
        longest = longest.max(oldest.unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    longest
}

/// Commands at a fixed `rate`; for a sample of the accepted ones, the time from the 2xx
/// until the query API returns that version (polled every millisecond).
pub async fn read_model_lag(
    platform: &RunningPlatform,
    rate: f64,
    phase: Phase,
) -> anyhow::Result<LagOutcome> {
    const CHECKERS: usize = 8;
    const SAMPLES_PER_SECOND: f64 = 100.0;
    let (written_tx, written_rx) = mpsc::channel::<Written>(10_000);
    let written_rx = std::sync::Arc::new(tokio::sync::Mutex::new(written_rx));
    let counted_from = Instant::now() + phase.warmup;
    let mut checkers = Vec::new();
    for _ in 0..CHECKERS {
        let mut http =
            HttpConnection::connect(platform.query_addr, Some(&platform.api_key)).await?;
        let written_rx = written_rx.clone();
        checkers.push(tokio::spawn(async move {
            let (mut lag, mut polls) = (latency_histogram(), latency_histogram());
            loop {
                let Some(written) = written_rx.lock().await.recv().await else {
                    break;
                };
                let path = format!("/v1/agents/{}", written.id);
                let deadline = written.answered + Duration::from_secs(10);
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let reply = http.send(Method::GET, &path, None).await;
                    polls.saturating_record(
                        u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX),
                    );
                    if let Ok((StatusCode::OK, body)) = reply
                        && serde_json::from_slice::<Accepted>(&body)
                            .is_ok_and(|view| view.version >= written.version)
                    {
                        if written.answered >= counted_from {
                            let micros = written.answered.elapsed().as_micros();
                            lag.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX));
                        }
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            (lag, polls)
        }));
    }
    let clients = CommandClient::connect_many(platform, 32).await?;
    let every = ((rate / SAMPLES_PER_SECOND).ceil() as u64).max(1);
    let workers = clients
        .into_iter()
        .map(|client| LagCommandClient {
            client,
            written: written_tx.clone(),
            every,
            count: 0,
        })
        .collect();
    drop(written_tx);
    let stop = tokio_util::sync::CancellationToken::new();
    let sampler = tokio::spawn(longest_write_transaction(
        platform.env.pool.clone(),
        stop.clone(),
    ));
    let (commands, _) = open_loop(workers, rate, phase).await;
    let (mut lag, mut polls) = (latency_histogram(), latency_histogram());
    for checker in checkers {
        if let Ok((checker_lag, checker_polls)) = checker.await {
            lag.add(checker_lag).ok();
            polls.add(checker_polls).ok();
        }
    }
    stop.cancel();
    Ok(LagOutcome {
        commands,
        lag,
        polls,
        longest_write_transaction_ms: sampler.await.unwrap_or_default(),
    })
}

/// Raw appends and commands at one concurrency, each with the CPU it took.
#[derive(Debug)]
pub struct AppendOutcome {
    pub raw: Outcome,
    /// Connections the raw appenders got.
    pub raw_connections: usize,
    /// CPU µs per raw append: the appending process and its backends.
    pub raw_cpu_us: f64,
    pub commands: Outcome,
    /// CPU µs per command: the command API process and its backends.
    pub command_cpu_us: f64,
}

/// Raw appends at `raw_n` connections, then commands at `n` clients.
pub async fn append_and_commands(
    platform: &RunningPlatform,
    raw_env: &TestEnv,
    n: usize,
    raw_n: usize,
    phase: Phase,
) -> anyhow::Result<AppendOutcome> {
    let appenders = RawAppend::connect_many(&raw_env.database_url, raw_n).await?;
    let raw_connections = appenders.len();
    let raw_cpu = Account::start(&raw_env.pool, &raw_env.database_name, std::process::id()).await;
    let (raw, appenders) = closed_loop(appenders, phase).await;
    let raw_cpu_us = raw_cpu.per_operation_us(raw.all_succeeded).await;
    drop(appenders);

    let clients = CommandClient::connect_many(platform, n).await?;
    let command_api = platform.pid("command-api").unwrap_or_default();
    let command_cpu =
        Account::start(&platform.env.pool, &platform.env.database_name, command_api).await;
    let (commands, _) = closed_loop(clients, phase).await;
    let command_cpu_us = command_cpu.per_operation_us(commands.all_succeeded).await;
    Ok(AppendOutcome {
        raw,
        raw_connections,
        raw_cpu_us,
        commands,
        command_cpu_us,
    })
}

/// CPU of one process and its backends, from when it was started.
struct Account<'a> {
    pool: &'a PgPool,
    database: &'a str,
    pid: u32,
    start: CpuSnapshot,
}

impl<'a> Account<'a> {
    async fn start(pool: &'a PgPool, database: &'a str, pid: u32) -> Self {
        Self {
            start: Self::snapshot(pool, database, pid).await,
            pool,
            database,
            pid,
        }
    }

    async fn snapshot(pool: &PgPool, database: &str, pid: u32) -> CpuSnapshot {
        let mut pids = backends_of(pool, database, pid).await;
        pids.push(pid);
        CpuSnapshot::of(pids)
    }

    /// CPU µs since the start per one of `operations`.
    async fn per_operation_us(self, operations: u64) -> f64 {
        let end = Self::snapshot(self.pool, self.database, self.pid).await;
        self.start.seconds_until(&end) * 1e6 / operations.max(1) as f64
    }
}
