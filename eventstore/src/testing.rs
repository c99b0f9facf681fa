//! Test support: every test gets its own database, NATS namespace and Redis prefix on the
//! real services, so tests run in parallel and repeat.

use async_nats::jetstream;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::{Namespace, database};

mod foreign_events;

pub use foreign_events::{append_foreign_event, memory_recorded, tool_invocation_succeeded};

/// Where the services are; the same variables the platform reads.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// NATS address for tests.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Redis address for tests.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// An isolated environment: a fresh migrated database, a namespace and a Redis prefix.
pub struct TestEnv {
    pub id: String,
    pub database_name: String,
    pub database_url: String,
    pub pool: PgPool,
    pub namespace: Namespace,
    pub redis_prefix: String,
    pub nats: async_nats::Client,
    pub jetstream: jetstream::Context,
}

impl TestEnv {
    /// Creates the database (migrated) and connects to NATS.
    pub async fn new() -> Self {
        STALE_COLLECTED.get_or_init(collect_stale).await;
        // The creation time leads the id, so leftovers of crashed tests can be aged out.
        let id = format!(
            "{}_{}",
            unix_seconds(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let database_name = format!("agentos_test_{id}");
        let admin_url = database_url();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to Postgres (is it running? see ops/services.sh)");
        admin
            .execute(format!("CREATE DATABASE {database_name}").as_str())
            .await
            .expect("create test database");
        admin.close().await.ok();
        let database_url = with_database(&admin_url, &database_name);
        let pool = database::connect(&database_url, 16).await.expect("connect");
        database::migrate(&pool).await.expect("migrate");
        let nats = async_nats::connect(nats_url())
            .await
            .expect("connect to NATS");
        let jetstream = jetstream::new(nats.clone());
        Self {
            namespace: Namespace::new(format!("t{id}")).expect("namespace"),
            redis_prefix: format!("agentos_test:{id}"),
            id,
            database_name,
            database_url,
            pool,
            nats,
            jetstream,
        }
    }

    /// A Redis connection manager.
    pub async fn redis(&self) -> redis::aio::ConnectionManager {
        let client = redis::Client::open(redis_url()).expect("redis url");
        redis::aio::ConnectionManager::new(client)
            .await
            .expect("connect to Redis")
    }

    /// Drops the database, the stream and the Redis keys.
    pub async fn cleanup(self) {
        self.jetstream
            .delete_stream(self.namespace.stream())
            .await
            .ok();
        self.jetstream
            .delete_stream(self.namespace.audit_stream())
            .await
            .ok();
        let mut redis = self.redis().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.redis_prefix))
            .query_async(&mut redis)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut redis)
                .await
                .ok();
        }
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&database_url()).await {
            admin
                .execute(
                    format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.database_name
                    )
                    .as_str(),
                )
                .await
                .ok();
        }
    }
}

/// Test resources older than this are leftovers of tests that panicked before cleanup.
const STALE_AFTER_SECONDS: u64 = 2 * 60 * 60;

static STALE_COLLECTED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a resource named `<prefix><seconds>_<id>...` was created long ago.
fn is_stale(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.split('_').next())
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .is_some_and(|created| unix_seconds().saturating_sub(created) > STALE_AFTER_SECONDS)
}

/// Drops databases, streams and Redis keys that crashed tests left behind.
async fn collect_stale() {
    if let Ok(mut admin) = PgConnection::connect(&database_url()).await {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'agentos_test_%'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
        for name in names.iter().filter(|n| is_stale(n, "agentos_test_")) {
            admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await
                .ok();
        }
        admin.close().await.ok();
    }
    if let Ok(nats) = async_nats::connect(nats_url()).await {
        let jetstream = jetstream::new(nats);
        let names: Vec<String> = futures::StreamExt::collect::<Vec<_>>(jetstream.stream_names())
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        for name in names.iter().filter(|n| is_stale(n, "T")) {
            jetstream.delete_stream(name).await.ok();
        }
    }
    if let Ok(client) = redis::Client::open(redis_url())
        && let Ok(mut redis) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("agentos_test:*")
            .query_async(&mut redis)
            .await
            .unwrap_or_default();
        let stale: Vec<&String> = keys
            .iter()
            .filter(|k| is_stale(k, "agentos_test:"))
            .collect();
        if !stale.is_empty() {
            redis::cmd("DEL")
                .arg(stale)
                .query_async::<()>(&mut redis)
                .await
                .ok();
        }
    }
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    // The path starts at the first '/' after "scheme://authority".
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(path_start) => &base[..authority_start + path_start],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_or_adds_the_database_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }

    #[test]
    fn ages_only_resources_named_with_an_old_timestamp() {
        let old = unix_seconds() - STALE_AFTER_SECONDS - 10;
        assert!(is_stale(
            &format!("agentos_test_{old}_abcd"),
            "agentos_test_"
        ));
        assert!(!is_stale(
            &format!("agentos_test_{}_abcd", unix_seconds()),
            "agentos_test_"
        ));
        assert!(!is_stale("agentos_test_deadbeef", "agentos_test_"));
    }
}
