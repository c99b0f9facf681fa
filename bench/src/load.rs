//! How busy the machine was while a figure was taken: the figures are only comparable
//! between runs on an equally loaded machine, so every figure carries this.

use serde::Serialize;

/// Machine load over one measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LoadSample {
    /// The 1-minute load average when the measurement ended.
    pub loadavg_1m: f64,
    /// Share of all cores busy (any process) during the measurement, 0 to 1.
    pub cpu_busy: f64,
}

/// Started before a measurement, read after it.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    start: Option<CpuTimes>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuMeter {
    /// Reads the counters now.
    pub fn start() -> Self {
        Self {
            start: read_cpu_times(),
        }
    }

    /// The load since [`CpuMeter::start`].
    pub fn finish(self) -> LoadSample {
        let cpu_busy = match (self.start, read_cpu_times()) {
            (Some(a), Some(b)) if b.total > a.total => {
                (b.busy - a.busy) as f64 / (b.total - a.total) as f64
            }
            _ => f64::NAN,
        };
        LoadSample {
            loadavg_1m: loadavg(),
            cpu_busy,
        }
    }
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn read_cpu_times() -> Option<CpuTimes> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(text.lines().next()?)
}

/// `cpu  user nice system idle iowait irq softirq steal ...`: idle and iowait are idle.
fn parse_cpu_line(line: &str) -> Option<CpuTimes> {
    let fields: Vec<u64> = line
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some(CpuTimes {
        busy: total - idle,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_iowait_count_as_idle() {
        let times = parse_cpu_line("cpu  10 0 5 80 5 0 0 0 0 0").unwrap();
        assert_eq!(
            times,
            CpuTimes {
                busy: 15,
                total: 100
            }
        );
        assert_eq!(parse_cpu_line("cpu0 1 2 3"), None);
    }
}
