//! The table printed at the end of a run, and the same figures as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::Figure;

/// Everything one run measured, and on what.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: String,
    pub machine: Machine,
    pub settings: String,
    pub figures: Vec<Figure>,
}

/// What the figures were taken on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub loadavg_at_start: f64,
}

impl Machine {
    /// This machine, now.
    pub fn here() -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(f64::NAN);
        Self {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            loadavg_at_start: crate::load::loadavg(),
        }
    }
}

impl Report {
    /// An empty report of a run with `settings`.
    pub fn new(settings: String) -> Self {
        Self {
            started_at: chrono::Utc::now().to_rfc3339(),
            machine: Machine::here(),
            settings,
            figures: Vec::new(),
        }
    }

    /// Adds a figure and prints its line at once (a long run shows progress).
    pub fn push(&mut self, figure: Figure) {
        println!("{}", row(&figure));
        self.figures.push(figure);
    }

    /// The whole table, as Markdown.
    pub fn table(&self) -> String {
        let mut out = String::new();
        writeln!(
            out,
            "machine: {} cores, {:.1} GiB, kernel {}; load average at start {:.2}",
            self.machine.cores,
            self.machine.memory_gib,
            self.machine.kernel,
            self.machine.loadavg_at_start
        )
        .ok();
        out.push_str(HEADER);
        for figure in &self.figures {
            out.push_str(&row(figure));
            out.push('\n');
        }
        for figure in self.figures.iter().filter(|f| !f.note.is_empty()) {
            writeln!(out, "- {}: {}", figure.name, figure.note).ok();
        }
        out
    }
}

const HEADER: &str = "| figure | median | p50 / p99 / p99.9 ms | raw baseline | ratio | target | runs (spread) | load |
|---|---|---|---|---|---|---|---|
";

/// One Markdown table row.
pub fn row(figure: &Figure) -> String {
    let latency = figure.latency.map_or_else(
        || "—".to_owned(),
        |l| format!("{:.2} / {:.2} / {:.2}", l.p50_ms, l.p99_ms, l.p999_ms),
    );
    let baseline = figure.baseline.as_ref().map_or_else(
        || "—".to_owned(),
        |b| format!("{} {} ({})", number(b.runs.median()), b.unit, b.name),
    );
    let ratio = figure
        .ratio()
        .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"));
    let target = figure.target.as_ref().map_or_else(
        || "—".to_owned(),
        |t| format!("{} {}", t.text, if t.met { "✔" } else { "✘" }),
    );
    let load = figure.load.map_or_else(
        || "—".to_owned(),
        |l| format!("{:.1} / {:.0}%", l.loadavg_1m, l.cpu_busy * 100.0),
    );
    format!(
        "| {} | {} {} | {latency} | {baseline} | {ratio} | {target} | {} ({:.0}%) | {load} |",
        figure.name,
        number(figure.runs.median()),
        figure.unit,
        figure.runs.0.len(),
        figure.runs.spread() * 100.0,
    )
}

/// Three significant digits, without exponent notation.
fn number(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Runs;

    #[test]
    fn a_row_shows_median_baseline_ratio_and_target() {
        let figure = Figure::new("commands/s @ 8", "/s", Runs(vec![600.0, 620.0]))
            .against("raw append", Runs(vec![1000.0]), "/s")
            .at_least_ratio(0.6);
        let line = row(&figure);
        assert!(line.starts_with("| commands/s @ 8 | 610 /s |"), "{line}");
        assert!(
            line.contains("1000 /s (raw append) | 0.61 | >= 0.6 x baseline ✔"),
            "{line}"
        );
    }
}
