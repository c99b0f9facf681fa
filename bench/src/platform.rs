//! The platform under test: each role of the release `agentos` binary as its own process
//! (so each one's memory can be read), on an isolated database, NATS namespace and Redis
//! prefix that are removed afterwards.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventstore::testing::{TestEnv, nats_url, redis_url};
use hyper::Method;
use serde::Serialize;

use crate::http::HttpConnection;

/// A role process and where it answers `/readyz`.
pub struct RoleProcess {
    pub role: &'static str,
    child: Child,
    ready_addr: SocketAddr,
}

/// Peak and current resident memory of one process, in MiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Memory {
    pub peak_mib: f64,
    pub current_mib: f64,
}

/// The running platform and a tenant's API key for it.
pub struct RunningPlatform {
    pub env: TestEnv,
    pub command_addr: SocketAddr,
    pub query_addr: SocketAddr,
    pub tenant_id: uuid::Uuid,
    pub api_key: String,
    pub roles: Vec<RoleProcess>,
}

/// Where the release `agentos` binary is: beside this one unless told otherwise.
pub fn default_agentos_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("agentos")))
        .unwrap_or_else(|| PathBuf::from("target/release/agentos"))
}

impl RunningPlatform {
    /// Starts the command API, query API, relay and projector as four processes.
    pub async fn start(agentos: &Path) -> anyhow::Result<Self> {
        if !agentos.exists() {
            bail!(
                "{} not found: build it with `cargo build --release -p cli`",
                agentos.display()
            );
        }
        let env = TestEnv::new().await;
        let command_addr = free_port()?;
        let query_addr = free_port()?;
        let mut roles = Vec::new();
        for (role, pool) in [
            ("command-api", 32),
            ("query-api", 16),
            ("relay", 4),
            ("projector", 12),
        ] {
            let ops_addr = free_port()?;
            let ready_addr = match role {
                "command-api" => command_addr,
                "query-api" => query_addr,
                _ => ops_addr,
            };
            let child = Command::new(agentos)
                .args(["serve", "--role", role])
                .env("DATABASE_URL", &env.database_url)
                .env("NATS_URL", nats_url())
                .env("REDIS_URL", redis_url())
                .env("AGENTOS_NAMESPACE", env.namespace.as_str())
                .env("AGENTOS_REDIS_PREFIX", &env.redis_prefix)
                .env("AGENTOS_COMMAND_API_ADDR", command_addr.to_string())
                .env("AGENTOS_QUERY_API_ADDR", query_addr.to_string())
                .env("AGENTOS_OPS_ADDR", ops_addr.to_string())
                .env("AGENTOS_DB_MAX_CONNECTIONS", pool.to_string())
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", agentos.display()))?;
            roles.push(RoleProcess {
                role,
                child,
                ready_addr,
            });
        }
        let issued = eventstore::tenants::create_tenant(&env.pool, "bench").await?;
        let platform = Self {
            env,
            command_addr,
            query_addr,
            tenant_id: issued.tenant_id,
            api_key: issued.api_key,
            roles,
        };
        for role in &platform.roles {
            wait_ready(role).await?;
        }
        Ok(platform)
    }

    /// The process id of `role`.
    pub fn pid(&self, role: &str) -> Option<u32> {
        self.roles
            .iter()
            .find(|r| r.role == role)
            .map(|r| r.child.id())
    }

    /// Peak and current RSS of each role.
    pub fn memory(&self) -> Vec<(&'static str, Memory)> {
        self.roles
            .iter()
            .map(|role| (role.role, process_memory(role.child.id())))
            .collect()
    }

    /// SIGTERM to every role, then drops the database, stream and Redis keys.
    pub async fn stop(mut self) {
        for role in &self.roles {
            Command::new("kill")
                .args(["-TERM", &role.child.id().to_string()])
                .status()
                .ok();
        }
        let deadline = Instant::now() + Duration::from_secs(25);
        for role in &mut self.roles {
            while matches!(role.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            role.child.kill().ok();
            role.child.wait().ok();
        }
        self.env.cleanup().await;
    }
}

async fn wait_ready(role: &RoleProcess) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut connection) = HttpConnection::connect(role.ready_addr, None).await
            && let Ok((status, _)) = connection.send(Method::GET, "/readyz", None).await
            && status.is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} not ready on {} after 60 s", role.role, role.ready_addr);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// VmHWM (peak) and VmRSS of a process from /proc.
pub fn process_memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    Memory {
        peak_mib: kib("VmHWM:") / 1024.0,
        current_mib: kib("VmRSS:") / 1024.0,
    }
}
