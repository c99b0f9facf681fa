//! `agentos`: runs the platform's roles and its administrative commands.

use clap::{Parser, Subcommand};
use cli::{Config, Platform, Role, schemas};

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
