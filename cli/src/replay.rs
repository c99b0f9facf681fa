//! `agentos replay`: the event history from the store, filtered like the audit API, as
//! NDJSON on stdout or folded into a projection, with a progress bar on a terminal.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use eventstore::audit::history::{self, AuditCursor, AuditFilter};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use uuid::Uuid;

const PAGE: i64 = 2_000;

/// What to replay, and where to.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReplayArgs {
    /// Only this tenant's events.
    #[arg(long)]
    pub tenant: Option<Uuid>,
    /// Only this kind of aggregate (`agent`, `api_key`, …).
    #[arg(long)]
    pub aggregate_type: Option<String>,
    /// Only this aggregate.
    #[arg(long)]
    pub aggregate_id: Option<String>,
    /// Only this event type (`AgentPaused`, …).
    #[arg(long)]
    pub event_type: Option<String>,
    /// Only events caused by this request.
    #[arg(long)]
    pub correlation_id: Option<Uuid>,
    /// Events that occurred at or after this RFC 3339 time.
    #[arg(long, value_parser = rfc3339)]
    pub from: Option<DateTime<Utc>>,
    /// Events that occurred before this RFC 3339 time.
    #[arg(long, value_parser = rfc3339)]
    pub until: Option<DateTime<Utc>>,
    /// Go on after the event whose `cursor` this is.
    #[arg(long, value_parser = cursor)]
    pub after: Option<String>,
    /// Rebuild this projection from every event instead of printing them (a projection
    /// folds the whole history, so no filter applies).
    #[arg(long, value_parser = ["agents"], conflicts_with_all = [
        "tenant", "aggregate_type", "aggregate_id", "event_type", "correlation_id", "from",
        "until", "after",
    ])]
    pub into: Option<String>,
}

impl ReplayArgs {
    /// The filter these arguments describe.
    pub fn filter(&self) -> AuditFilter {
        AuditFilter {
            tenant_id: self.tenant,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            event_type: self.event_type.clone(),
            correlation_id: self.correlation_id.map(|id| id.to_string()),
            occurred_from: self.from,
            occurred_until: self.until,
        }
    }

    fn start(&self) -> AuditCursor {
        self.after
            .as_deref()
            .and_then(AuditCursor::decode)
            .unwrap_or_default()
    }
}

/// Writes the matching events to `out`, one AuditRecord a line; how many. A closed pipe
/// (`| head`) ends the replay quietly.
pub async fn to_ndjson(
    pool: &PgPool,
    args: &ReplayArgs,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let filter = args.filter();
    let mut cursor = args.start();
    let progress = progress_bar(pool, &filter, cursor).await?;
    let mut written = 0;
    loop {
        let page = history::read_page(pool, &filter, cursor, PAGE).await?;
        let Some(last) = page.last() else { break };
        cursor = AuditCursor::decode(&last.cursor).unwrap_or(cursor);
        for record in &page {
            let mut line = serde_json::to_vec(record)?;
            line.push(b'\n');
            match out.write_all(&line) {
                Ok(()) => written += 1,
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {
                    progress.abandon();
                    return Ok(written);
                }
                Err(err) => return Err(err.into()),
            }
        }
        progress.inc(page.len() as u64);
        if i64::try_from(page.len()).unwrap_or(i64::MAX) < PAGE {
            break;
        }
    }
    match out.flush() {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => return Err(err.into()),
        _ => {}
    }
    progress.finish_and_clear();
    Ok(written)
}

/// Rebuilds the `agents` projection from every event, showing progress.
pub async fn into_agents(pool: &PgPool) -> anyhow::Result<projections::rebuild::RebuildReport> {
    let progress = progress_bar(pool, &AuditFilter::default(), AuditCursor::default()).await?;
    let report =
        projections::rebuild::rebuild_agents_observed(pool, |events| progress.inc(events)).await?;
    progress.finish_and_clear();
    Ok(report)
}

/// A bar with rate and ETA on a terminal's stderr; hidden (and no counting) otherwise.
async fn progress_bar(
    pool: &PgPool,
    filter: &AuditFilter,
    after: AuditCursor,
) -> anyhow::Result<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let total = history::count(pool, filter, after).await?;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} events, {per_sec}, ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    Ok(bar)
}

fn rfc3339(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| format!("not an RFC 3339 date-time: {err}"))
}

fn cursor(value: &str) -> Result<String, String> {
    AuditCursor::decode(value)
        .map(|_| value.to_owned())
        .ok_or_else(|| "not a cursor printed by replay or the audit API".to_owned())
}
