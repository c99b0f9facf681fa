//! `agentos`: runs the platform's roles and its administrative commands.

use clap::{Parser, Subcommand};
use cli::replay::ReplayArgs;
use cli::{Config, Platform, Role, audit, replay, schemas};

#[derive(Parser)]
#[command(
    name = "agentos",
    version,
    about = "AgentOS: an event-sourced backend for AI agents"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the platform: every role, or the ones named with --role.
    Serve {
        #[arg(long, value_enum, default_value = "all")]
        role: Vec<Role>,
    },
    /// Tenants and their API keys.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Applies the event store migrations.
    Migrate,
    /// Rebuilds a read model from the event store and swaps it in.
    Projection {
        #[command(subcommand)]
        command: ProjectionCommand,
    },
    /// Prints the event history in global commit order as NDJSON, or rebuilds a projection
    /// from it (`--into`).
    Replay(ReplayArgs),
    /// The tamper-evident hash chain over every event.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Writes (or checks) the JSON Schemas and OpenAPI documents in schemas/.
    Schemas {
        #[arg(long, default_value = "schemas")]
        dir: std::path::PathBuf,
        /// Fail if the files differ from the code instead of writing them.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Creates a tenant and prints its first API key as JSON.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recomputes the chain from the store and checks it against the stored hashes and the
    /// signed checkpoints; exits 1 at the first place that does not match.
    Verify {
        /// The chain index (place in global commit order, from 1) to start at; the stored
        /// hash before it is trusted.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        from: i64,
        /// Base64 Ed25519 public key the checkpoints must be signed with (repeatable);
        /// default: the configured signing key's.
        #[arg(long, env = "AGENTOS_AUDIT_PUBLIC_KEY", value_delimiter = ',')]
        public_key: Vec<String>,
    },
    /// Signs the chain head now, stores it and publishes it to the audit stream.
    Checkpoint,
    /// Prints the public key of the configured signing key (base64).
    PublicKey,
}

#[derive(Subcommand)]
enum ProjectionCommand {
    /// Rebuilds the `agents` Postgres read model.
    Rebuild {
        #[arg(value_parser = ["agents"])]
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config;
    match cli.command {
        Command::Serve { role } => {
            let _telemetry = eventstore::telemetry::init(
                "agentos",
                config.otlp_endpoint.as_deref(),
                config.log_json,
            );
            let platform = Platform::start(&config, &role).await?;
            platform.run_until(shutdown_signal()).await
        }
        Command::Tenant {
            command: TenantCommand::Create { name },
        } => {
            let pool = connect(&config).await?;
            let issued = eventstore::tenants::create_tenant(&pool, &name).await?;
            println!("{}", serde_json::to_string_pretty(&issued)?);
            Ok(())
        }
        Command::Migrate => {
            connect(&config).await?;
            println!("migrated");
            Ok(())
        }
        Command::Projection {
            command: ProjectionCommand::Rebuild { .. },
        } => {
            let pool = connect(&config).await?;
            let report = projections::rebuild::rebuild_agents(&pool).await?;
            println!(
                "{}",
                serde_json::json!({"projection": "agents", "events": report.events, "seconds": report.seconds})
            );
            Ok(())
        }
        Command::Replay(args) => {
            let pool = connect(&config).await?;
            if args.into.is_some() {
                let report = replay::into_agents(&pool).await?;
                println!(
                    "{}",
                    serde_json::json!({"projection": "agents", "events": report.events, "seconds": report.seconds})
                );
            } else {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                replay::to_ndjson(&pool, &args, &mut out).await?;
            }
            Ok(())
        }
        Command::Audit { command } => run_audit(&config, command).await,
        Command::Schemas { dir, check } => {
            if check {
                let drifted = schemas::check(&dir)?;
                if !drifted.is_empty() {
                    anyhow::bail!(
                        "schemas drifted from the code: {drifted:?}; run `agentos schemas`"
                    );
                }
                println!("schemas match the code");
            } else {
                let written = schemas::write(&dir)?;
                println!("wrote {written} files to {}", dir.display());
            }
            Ok(())
        }
    }
}

async fn run_audit(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { from, public_key } => {
            let pool = connect(config).await?;
            let report = audit::verify_chain(&pool, config, &public_key, from).await?;
            println!("{}", serde_json::to_string(&report)?);
            if let Some(mismatch) = &report.mismatch {
                eprintln!("audit chain does not verify: {}", mismatch.describe());
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let pool = connect(config).await?;
            match audit::checkpoint(&pool, config).await? {
                Some(checkpoint) => println!("{}", serde_json::to_string(&checkpoint)?),
                None => println!("{{\"checkpoint\": null, \"reason\": \"the chain is empty\"}}"),
            }
            Ok(())
        }
        AuditCommand::PublicKey => {
            println!("{}", config.audit_signer()?.public_key_base64());
            Ok(())
        }
    }
}

async fn connect(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    cli::platform::ensure_database(config.database_url()).await?;
    let pool = eventstore::database::connect(config.database_url(), 4).await?;
    eventstore::database::migrate(&pool).await?;
    Ok(pool)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
