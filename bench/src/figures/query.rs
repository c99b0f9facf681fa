//! `GET /v1/agents/{id}` against the same read model query made directly.

use std::sync::Arc;

use eventstore::database;
use hyper::{Method, StatusCode};
use sqlx::PgPool;
use uuid::Uuid;

use super::XorShift;
use crate::http::HttpConnection;
use crate::platform::RunningPlatform;
use crate::workload::{Outcome, Phase, Worker, closed_loop, open_loop};

/// Reads random known agents through the query API.
pub struct QueryClient {
    http: HttpConnection,
    ids: Arc<Vec<Uuid>>,
    rng: XorShift,
}

impl QueryClient {
    /// `n` clients reading among `ids`.
    pub async fn connect_many(
        platform: &RunningPlatform,
        ids: &Arc<Vec<Uuid>>,
        n: usize,
    ) -> anyhow::Result<Vec<Self>> {
        let mut clients = Vec::with_capacity(n);
        for seed in 0..n {
            clients.push(Self {
                http: HttpConnection::connect(platform.query_addr, Some(&platform.api_key)).await?,
                ids: ids.clone(),
                rng: XorShift::new(seed as u64 + 101),
            });
        }
        Ok(clients)
    }
}

impl Worker for QueryClient {
    async fn step(&mut self) -> bool {
        let id = self.ids[self.rng.below(self.ids.len())];
        matches!(
            self.http
                .send(Method::GET, &format!("/v1/agents/{id}"), None)
                .await,
            Ok((StatusCode::OK, _))
        )
    }
}

/// The query API's own read (`projections::agents::get_agent`) straight on a pool.
pub struct RawRead {
    pool: PgPool,
    tenant_id: Uuid,
    ids: Arc<Vec<Uuid>>,
    rng: XorShift,
}

impl Worker for RawRead {
    async fn step(&mut self) -> bool {
        let id = self.ids[self.rng.below(self.ids.len())];
        matches!(
            projections::agents::get_agent(&self.pool, self.tenant_id, id).await,
            Ok(Some(_))
        )
    }
}

/// The agents the platform's read model holds (at most `limit`).
pub async fn known_agents(
    platform: &RunningPlatform,
    limit: i64,
) -> anyhow::Result<Arc<Vec<Uuid>>> {
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM agents WHERE tenant_id = $1 LIMIT $2")
        .bind(platform.tenant_id)
        .bind(limit)
        .fetch_all(&platform.env.pool)
        .await?;
    anyhow::ensure!(!ids.is_empty(), "the read model holds no agents to read");
    Ok(Arc::new(ids))
}

/// The query figures of one run.
#[derive(Debug)]
pub struct QueryOutcome {
    pub raw_max: Outcome,
    pub api_max: Outcome,
    pub raw_fixed: Outcome,
    pub api_fixed: Outcome,
}

/// Max req/s of the raw read and of the query API at `n` clients, then both at a
/// fixed `rate`.
pub async fn query_api(
    platform: &RunningPlatform,
    ids: &Arc<Vec<Uuid>>,
    n: usize,
    rate: f64,
    phase: Phase,
) -> anyhow::Result<QueryOutcome> {
    let pool = database::connect(&platform.env.database_url, u32::try_from(n)?).await?;
    let raw_workers = || -> Vec<RawRead> {
        (0..n)
            .map(|seed| RawRead {
                pool: pool.clone(),
                tenant_id: platform.tenant_id,
                ids: ids.clone(),
                rng: XorShift::new(seed as u64 + 1),
            })
            .collect()
    };
    let (raw_max, _) = closed_loop(raw_workers(), phase).await;
    let (raw_fixed, _) = open_loop(raw_workers(), rate, phase).await;
    pool.close().await;
    let clients = QueryClient::connect_many(platform, ids, n).await?;
    let (api_max, _) = closed_loop(clients, phase).await;
    let clients = QueryClient::connect_many(platform, ids, n).await?;
    let (api_fixed, _) = open_loop(clients, rate, phase).await;
    Ok(QueryOutcome {
        raw_max,
        api_max,
        raw_fixed,
        api_fixed,
    })
}
