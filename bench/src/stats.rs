//! Summaries of repeated runs and of latency histograms; the ratios the targets use.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, up to one minute, with 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// One value per run of a figure (after warm-up).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Runs(pub Vec<f64>);

impl Runs {
    /// The median run (the mean of the middle two for an even count).
    pub fn median(&self) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    /// (max - min) / median: how far the runs disagree, as a fraction.
    pub fn spread(&self) -> f64 {
        let min = self.0.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let median = self.median();
        if self.0.is_empty() || median == 0.0 {
            return f64::NAN;
        }
        (max - min) / median.abs()
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// The summary of a histogram recorded in microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1_000.0;
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// What a figure is compared with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    pub name: String,
    pub runs: Runs,
    pub unit: String,
}

/// A target and whether this run met it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub text: String,
    pub met: bool,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub name: String,
    pub unit: String,
    pub runs: Runs,
    pub latency: Option<Latency>,
    pub baseline: Option<Baseline>,
    pub target: Option<Target>,
    /// Machine load while the figure was taken (see `load`).
    pub load: Option<crate::load::LoadSample>,
    pub note: String,
}

impl Figure {
    /// A figure of `runs` in `unit`, with nothing to compare it with yet.
    pub fn new(name: impl Into<String>, unit: impl Into<String>, runs: Runs) -> Self {
        Self {
            name: name.into(),
            unit: unit.into(),
            runs,
            latency: None,
            baseline: None,
            target: None,
            load: None,
            note: String::new(),
        }
    }

    /// Compares the figure with `baseline` measured in the same run.
    pub fn against(mut self, name: impl Into<String>, runs: Runs, unit: impl Into<String>) -> Self {
        self.baseline = Some(Baseline {
            name: name.into(),
            runs,
            unit: unit.into(),
        });
        self
    }

    /// Median of the figure over median of its baseline.
    pub fn ratio(&self) -> Option<f64> {
        let baseline = self.baseline.as_ref()?.runs.median();
        (baseline != 0.0).then(|| self.runs.median() / baseline)
    }

    /// Sets a target of at least `minimum` × the baseline.
    pub fn at_least_ratio(mut self, minimum: f64) -> Self {
        let met = self.ratio().is_some_and(|r| r >= minimum);
        self.target = Some(Target {
            text: format!(">= {minimum} x baseline"),
            met,
        });
        self
    }

    /// Sets a target whose check the caller made.
    pub fn with_target(mut self, text: impl Into<String>, met: bool) -> Self {
        self.target = Some(Target {
            text: text.into(),
            met,
        });
        self
    }

    /// Attaches latency percentiles.
    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Attaches the machine load while it was measured.
    pub fn with_load(mut self, load: crate::load::LoadSample) -> Self {
        self.load = Some(load);
        self
    }

    /// A remark printed under the table.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_of_runs() {
        let runs = Runs(vec![10.0, 30.0, 20.0]);
        assert_eq!(runs.median(), 20.0);
        assert_eq!(runs.spread(), 1.0);
        assert_eq!(Runs(vec![1.0, 3.0]).median(), 2.0);
        assert!(Runs::default().median().is_nan());
    }

    #[test]
    fn a_ratio_target_compares_medians() {
        let figure = Figure::new("commands", "/s", Runs(vec![6.0, 7.0, 8.0]))
            .against("raw", Runs(vec![10.0]), "/s")
            .at_least_ratio(0.6);
        assert_eq!(figure.ratio(), Some(0.7));
        assert!(figure.target.is_some_and(|t| t.met));
    }

    #[test]
    fn latency_percentiles_are_in_milliseconds() {
        let mut histogram = latency_histogram();
        for us in 1..=1_000 {
            histogram.record(us).unwrap();
        }
        let latency = Latency::of(&histogram);
        assert_eq!(latency.count, 1_000);
        assert!((latency.p50_ms - 0.5).abs() < 0.01);
        assert!((latency.p99_ms - 0.99).abs() < 0.01);
    }
}
