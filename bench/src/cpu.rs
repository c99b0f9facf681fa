//! CPU time spent per operation by the processes that serve it: the bench itself, the
//! platform's role processes and the Postgres backends of the run's own database. Unlike
//! a rate, this hardly changes when other work shares the machine, so it shows what a
//! change saved even on a busy machine. (Postgres' background writers, Redis and NATS
//! are shared with others and not counted.)

use std::collections::{HashMap, HashSet};

use sqlx::PgPool;

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU ticks of a process (all its threads) so far.
pub fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_ticks(&stat)
}

/// Fields 14 and 15 of /proc/<pid>/stat, counted after the `)` that ends the name.
fn parse_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name come the state (field 3) and on; utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The backends of `database` whose client is process `client_pid`: matched through the
/// TCP port of each backend's client and the sockets that process holds.
pub async fn backends_of(pool: &PgPool, database: &str, client_pid: u32) -> Vec<u32> {
    let rows: Vec<(i32, i32)> = sqlx::query_as(
        "SELECT pid, client_port FROM pg_stat_activity
          WHERE datname = $1 AND client_port IS NOT NULL",
    )
    .bind(database)
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    let ports_by_inode = local_ports_by_inode();
    let ports: HashSet<u16> = socket_inodes(client_pid)
        .iter()
        .filter_map(|inode| ports_by_inode.get(inode).copied())
        .collect();
    rows.into_iter()
        .filter(|(_, port)| u16::try_from(*port).is_ok_and(|p| ports.contains(&p)))
        .filter_map(|(pid, _)| u32::try_from(pid).ok())
        .collect()
}

/// Inodes of the sockets process `pid` holds open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// Local TCP port of every socket on the machine, by inode.
fn local_ports_by_inode() -> HashMap<u64, u16> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(parse_tcp_line)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `sl local_address rem_address st ... uid timeout inode`: (inode, local port).
fn parse_tcp_line(line: &str) -> Option<(u64, u16)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    Some((inode, port))
}

/// CPU ticks of a set of processes at one moment.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot(HashMap<u32, u64>);

impl CpuSnapshot {
    /// Ticks of `pids` now.
    pub fn of(pids: impl IntoIterator<Item = u32>) -> Self {
        Self(
            pids.into_iter()
                .filter_map(|pid| Some((pid, process_ticks(pid)?)))
                .collect(),
        )
    }

    /// CPU seconds spent between `self` and `later`; a process seen only in `later`
    /// started in between and counts whole.
    pub fn seconds_until(&self, later: &Self) -> f64 {
        let ticks: u64 = later
            .0
            .iter()
            .map(|(pid, after)| after.saturating_sub(self.0.get(pid).copied().unwrap_or(0)))
            .sum();
        ticks as f64 / TICKS_PER_SECOND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_even_with_spaces_in_the_name() {
        let stat = "42 (tokio (worker)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4";
        assert_eq!(parse_ticks(stat), Some(300));
    }

    #[test]
    fn reads_the_local_port_and_inode_of_a_tcp_socket() {
        let line = "   0: 0100007F:1538 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 123456 1 0";
        assert_eq!(parse_tcp_line(line), Some((123_456, 0x1538)));
    }

    #[test]
    fn a_process_that_appeared_counts_whole() {
        let before = CpuSnapshot(HashMap::from([(1, 100)]));
        let after = CpuSnapshot(HashMap::from([(1, 150), (2, 30)]));
        assert!((before.seconds_until(&after) - 0.8).abs() < 1e-9);
    }
}
