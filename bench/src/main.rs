//! `agentos-bench`: measures the platform on this machine and prints the BENCHMARKS.md
//! table; the same figures go to a JSON file.

use std::path::PathBuf;
use std::time::Duration;

use bench::Report;
use bench::figures::Settings;
use bench::suite::{self, Group};
use bench::workload::Phase;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "agentos-bench",
    about = "Figures of AgentOS beside raw baselines of the same run"
)]
struct Args {
    /// Which groups of figures to take.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "platform,backlog"
    )]
    only: Vec<Group>,
    /// Runs of each figure.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds of warm-up before each measured phase (not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Concurrent clients of the command figures.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    clients: Vec<usize>,
    /// Events in the backlog the relay and the rebuild start from.
    #[arg(long, default_value_t = 1_000_000)]
    backlog_events: usize,
    /// Messages per raw JetStream publish run.
    #[arg(long, default_value_t = 200_000)]
    publish_messages: usize,
    /// Request rate of the fixed-rate query figure.
    #[arg(long, default_value_t = 5_000.0)]
    query_rate: f64,
    /// The release `agentos` binary whose roles are measured.
    #[arg(long)]
    agentos: Option<PathBuf>,
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench-results.json")]
    json: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Settings {
        runs: args.runs.max(1),
        phase: Phase {
            warmup: Duration::from_secs_f64(args.warmup),
            measure: Duration::from_secs_f64(args.seconds),
        },
        clients: args.clients.clone(),
        backlog_events: args.backlog_events,
        publish_messages: args.publish_messages,
        query_rate: args.query_rate,
    };
    let agentos = args
        .agentos
        .clone()
        .unwrap_or_else(bench::platform::default_agentos_binary);
    let mut report = Report::new(format!("{args:?}"));
    let outcome = suite::run(&settings, &args.only, &agentos, &mut report).await;
    println!("\n{}", report.table());
    std::fs::write(&args.json, serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", args.json.display());
    outcome
}
