//! The effect log: one JSON line per handled event, `{"sequence", "id", "type",
//! "subject"}`, synced to disk before the event is acknowledged. Its last sequence is
//! the subscriber's checkpoint: a delivery at or below it was handled already.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use serde_json::{Value, json};

/// An append-only log of handled events.
#[derive(Debug)]
pub struct EffectLog {
    file: File,
    last_sequence: u64,
}

impl EffectLog {
    /// Opens (or creates) the log at `path`, dropping a last line cut short by a crash.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(path)?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let complete = text.rfind('\n').map_or(0, |end| end + 1);
        if complete < text.len() {
            file.set_len(u64::try_from(complete).unwrap_or_default())?;
        }
        let last_sequence = text[..complete]
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|entry| entry["sequence"].as_u64())
            .max()
            .unwrap_or(0);
        Ok(Self {
            file,
            last_sequence,
        })
    }

    /// Whether the event at stream `sequence` was handled already.
    pub fn handled(&self, sequence: u64) -> bool {
        sequence <= self.last_sequence
    }

    /// Records that the event at `sequence` was handled, durably.
    pub fn record(&mut self, sequence: u64, event: &Value) -> io::Result<()> {
        let line = json!({
            "sequence": sequence,
            "id": event["id"],
            "type": event["type"],
            "subject": event["subject"],
        });
        self.file.write_all(format!("{line}\n").as_bytes())?;
        self.file.sync_data()?;
        self.last_sequence = sequence;
        Ok(())
    }
}
