//! Commands through HTTP against the raw append ceiling; command → read-model lag.

use std::time::{Duration, Instant};

use bytes::Bytes;
use domain::agent::AGENT_AGGREGATE_TYPE;
use eventstore::database;
use eventstore::repository::INSERT_EVENTS;
use hdrhistogram::Histogram;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::XorShift;
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
    /// `n` appenders on `database_url`.
    pub async fn connect_many(database_url: &str, n: usize) -> anyhow::Result<Vec<Self>> {
        let tenant_id = Uuid::now_v7();
        let template = agent_event(tenant_id, Uuid::now_v7(), 1);
        let options = database::connect_options(database_url)?;
        let mut appenders = Vec::with_capacity(n);
        for _ in 0..n {
            appenders.push(Self {
                connection: PgConnection::connect_with(&options).await?,
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
        if self.count % self.every == 0 {
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
    let commands = open_loop(workers, rate, phase).await;
    let (mut lag, mut polls) = (latency_histogram(), latency_histogram());
    for checker in checkers {
        if let Ok((checker_lag, checker_polls)) = checker.await {
            lag.add(checker_lag).ok();
            polls.add(checker_polls).ok();
        }
    }
    Ok(LagOutcome {
        commands,
        lag,
        polls,
    })
}

/// Raw appends at `raw_n` connections, then commands at `n` clients.
pub async fn append_and_commands(
    platform: &RunningPlatform,
    raw_database_url: &str,
    n: usize,
    raw_n: usize,
    phase: Phase,
) -> anyhow::Result<(Outcome, Outcome)> {
    let raw = closed_loop(
        RawAppend::connect_many(raw_database_url, raw_n).await?,
        phase,
    )
    .await;
    let commands = closed_loop(CommandClient::connect_many(platform, n).await?, phase).await;
    Ok((raw, commands))
}
