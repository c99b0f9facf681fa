//! The whole run: the platform's figures first (commands, queries, lag, memory), then
//! the backlog figures (relay, rebuild, long aggregate) on a store of their own.

use std::path::Path;

use eventstore::Namespace;
use eventstore::testing::TestEnv;

use crate::figures::{Settings, commands, long_aggregate, publish, query, rebuild};
use crate::load::CpuMeter;
use crate::platform::RunningPlatform;
use crate::stats::{Figure, Latency, Runs, latency_histogram};
use crate::{Report, rows};

/// Groups of figures that can be run on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Group {
    /// Commands/s against the raw append ceiling, then queries, lag and memory.
    Platform,
    /// Relay and raw publish, rebuild and raw ordered read, long aggregate load.
    Backlog,
}

/// Runs `groups` and adds their figures to `report`.
pub async fn run(
    settings: &Settings,
    groups: &[Group],
    agentos: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    if groups.contains(&Group::Platform) {
        let platform = RunningPlatform::start(agentos).await?;
        let raw_env = TestEnv::new().await;
        let outcome = platform_figures(settings, &platform, &raw_env, report).await;
        platform.stop().await;
        raw_env.cleanup().await;
        outcome?;
    }
    if groups.contains(&Group::Backlog) {
        let env = TestEnv::new().await;
        let outcome = backlog_figures(settings, &env, report).await;
        env.cleanup().await;
        outcome?;
    }
    Ok(())
}

async fn platform_figures(
    settings: &Settings,
    platform: &RunningPlatform,
    raw_env: &TestEnv,
    report: &mut Report,
) -> anyhow::Result<()> {
    let idle = platform.memory();
    let mut best_command_rate: f64 = 0.0;
    for &n in &settings.clients {
        let raw_n = n
            .min(free_connections(&raw_env.pool).await?.saturating_sub(8))
            .max(1);
        let (mut raw_runs, mut command_runs) = (Runs::default(), Runs::default());
        let (mut raw_cpu, mut command_cpu) = (Runs::default(), Runs::default());
        let (mut latency, mut failed) = (latency_histogram(), 0);
        let mut fewest_connections = raw_n;
        let meter = CpuMeter::start();
        for _ in 0..settings.runs {
            let outcome =
                commands::append_and_commands(platform, raw_env, n, raw_n, settings.phase).await?;
            raw_runs.0.push(outcome.raw.rate());
            command_runs.0.push(outcome.commands.rate());
            raw_cpu.0.push(outcome.raw_cpu_us);
            command_cpu.0.push(outcome.command_cpu_us);
            latency.add(&outcome.commands.latency).ok();
            failed += outcome.commands.failed;
            fewest_connections = fewest_connections.min(outcome.raw_connections);
        }
        let raw_n = fewest_connections;
        let load = meter.finish();
        best_command_rate = best_command_rate.max(command_runs.median());
        let mut note = format!("{failed} commands failed");
        if raw_n < n {
            note.push_str(&format!(
                "; raw append capped at {raw_n} connections (server slots)"
            ));
        }
        report.push(
            Figure::new(format!("commands/s @ {n} clients"), "/s", command_runs)
                .against(format!("raw append, {raw_n} conns"), raw_runs, "/s")
                .at_least_ratio(0.6)
                .with_latency(Latency::of(&latency))
                .with_load(load)
                .with_note(note),
        );
        let cpu = Figure::new(
            format!("CPU µs per command @ {n} clients"),
            "µs",
            command_cpu,
        )
        .against("CPU µs per raw append", raw_cpu, "µs");
        // Where CPU is the limit, the rate ratio is the inverse: 0.6 x the rate is 1/0.6.
        let met = cpu.ratio().is_some_and(|r| r <= 1.0 / 0.6);
        report.push(
            cpu.with_target("<= 1.67 x baseline (0.6 x rate)", met)
                .with_load(load)
                .with_note(
                    "command API process and its backends, against the raw appender and its \
                     backends; Redis and NATS (shared servers) not counted",
                ),
        );
    }

    let ids = query::known_agents(platform, 10_000).await?;
    let (mut raw_max, mut api_max, mut raw_fixed, mut api_fixed) = (
        Runs::default(),
        Runs::default(),
        Runs::default(),
        Runs::default(),
    );
    let (mut api_fixed_latency, mut raw_fixed_latency) = (latency_histogram(), latency_histogram());
    let meter = CpuMeter::start();
    for _ in 0..settings.runs {
        let outcome =
            query::query_api(platform, &ids, 32, settings.query_rate, settings.phase).await?;
        raw_max.0.push(outcome.raw_max.rate());
        api_max.0.push(outcome.api_max.rate());
        raw_fixed
            .0
            .push(Latency::of(&outcome.raw_fixed.latency).p99_ms);
        api_fixed
            .0
            .push(Latency::of(&outcome.api_fixed.latency).p99_ms);
        raw_fixed_latency.add(&outcome.raw_fixed.latency).ok();
        api_fixed_latency.add(&outcome.api_fixed.latency).ok();
    }
    let load = meter.finish();
    report.push(
        Figure::new("query API max req/s @ 32 clients", "/s", api_max)
            .against("get_agent on a pool, 32 conns", raw_max, "/s")
            .with_load(load),
    );
    let p99 = Latency::of(&api_fixed_latency).p99_ms;
    report.push(
        Figure::new(
            format!("query API p99 @ {} req/s", settings.query_rate),
            "ms",
            api_fixed,
        )
        .against("get_agent on a pool, same rate, p99", raw_fixed, "ms")
        .with_latency(Latency::of(&api_fixed_latency))
        .with_target("p99 < 5 ms", p99 < 5.0)
        .with_load(load),
    );

    let rate = (best_command_rate * 0.5).max(1.0);
    let (mut lag_runs, mut poll_runs, mut lag_all) =
        (Runs::default(), Runs::default(), latency_histogram());
    let mut longest_transaction_ms: f64 = 0.0;
    let meter = CpuMeter::start();
    for _ in 0..settings.runs {
        let outcome = commands::read_model_lag(platform, rate, settings.phase).await?;
        lag_runs.0.push(Latency::of(&outcome.lag).p99_ms);
        poll_runs.0.push(Latency::of(&outcome.polls).p99_ms);
        lag_all.add(&outcome.lag).ok();
        longest_transaction_ms = longest_transaction_ms.max(outcome.longest_write_transaction_ms);
    }
    let lag = Latency::of(&lag_all);
    report.push(
        Figure::new(
            format!("command → read-model lag p99 @ {rate:.0} cmd/s"),
            "ms",
            lag_runs,
        )
        .against("p99 of one poll's GET (the floor)", poll_runs, "ms")
        .with_latency(lag)
        .with_target("p99 < 50 ms", lag.p99_ms < 50.0)
        .with_load(meter.finish())
        .with_note(format!(
                "{} samples, polled every 1 ms; the longest write transaction open on the \
                 server meanwhile (it holds every relay back) lasted {longest_transaction_ms:.0} ms",
                lag.count
            )),
    );

    for ((role, peak), (_, at_start)) in platform.memory().into_iter().zip(idle) {
        report.push(
            Figure::new(format!("peak RSS {role}"), "MiB", Runs(vec![peak.peak_mib]))
                .against("idle after start", Runs(vec![at_start.current_mib]), "MiB")
                .with_target("< 100 MiB", peak.peak_mib < 100.0),
        );
    }
    Ok(())
}

async fn backlog_figures(
    settings: &Settings,
    env: &TestEnv,
    report: &mut Report,
) -> anyhow::Result<()> {
    const EVENTS_PER_AGENT: usize = 10;
    let agents = settings.backlog_events.div_ceil(EVENTS_PER_AGENT);
    let backlog = agents * EVENTS_PER_AGENT;
    rows::fill_backlog(&env.pool, agents, EVENTS_PER_AGENT).await?;

    let (mut read_runs, mut rebuild_runs) = (Runs::default(), Runs::default());
    let meter = CpuMeter::start();
    for _ in 0..settings.runs {
        let (rate, rows) = rebuild::raw_ordered_read(&env.pool).await?;
        anyhow::ensure!(
            rows == backlog as u64,
            "ordered read saw {rows} rows of {backlog}"
        );
        read_runs.0.push(rate);
        rebuild_runs
            .0
            .push(rebuild::rebuild_agents(&env.pool).await?);
    }
    report.push(
        Figure::new(
            format!("projection rebuild, {backlog} events"),
            "events/s",
            rebuild_runs,
        )
        .against("COPY in commit order", read_runs, "rows/s")
        .at_least_ratio(0.5)
        .with_load(meter.finish()),
    );

    let (mut publish_runs, mut relay_runs) = (Runs::default(), Runs::default());
    let meter = CpuMeter::start();
    for run in 0..settings.runs {
        let raw_namespace =
            Namespace::new(format!("{}_p{run}", env.namespace)).map_err(anyhow::Error::msg)?;
        publish_runs.0.push(
            publish::raw_publish(&env.jetstream, &raw_namespace, settings.publish_messages).await?,
        );
        let relay_namespace =
            Namespace::new(format!("{}_r{run}", env.namespace)).map_err(anyhow::Error::msg)?;
        relay_runs.0.push(
            publish::relay_backlog(&env.pool, &env.jetstream, &relay_namespace, backlog).await?,
        );
    }
    report.push(
        Figure::new(
            format!("relay, backlog of {backlog}"),
            "events/s",
            relay_runs,
        )
        .against(
            format!("raw publish, {} acks in flight", publish::PUBLISH_WINDOW),
            publish_runs,
            "msgs/s",
        )
        .at_least_ratio(0.8)
        .with_load(meter.finish()),
    );

    let agent_id = long_aggregate::store_long_agent(&env.pool, 10_000).await?;
    let meter = CpuMeter::start();
    let (folded, from_snapshot) =
        long_aggregate::load_times(&env.pool, agent_id, settings.runs.max(3)).await?;
    let figure = Figure::new(
        "load of a 10k-event agent, from snapshot",
        "ms",
        Runs(from_snapshot),
    )
    .against("folded from event 1", Runs(folded), "ms");
    let met = figure.ratio().is_some_and(|r| r <= 0.1);
    report.push(
        figure
            .with_target("<= 0.1 x baseline", met)
            .with_load(meter.finish()),
    );
    Ok(())
}

/// Connections the server still accepts.
async fn free_connections(pool: &sqlx::PgPool) -> anyhow::Result<usize> {
    let free: i64 = sqlx::query_scalar(
        "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity",
    )
    .fetch_one(pool)
    .await?;
    Ok(usize::try_from(free).unwrap_or_default())
}
