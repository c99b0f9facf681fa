//! How an engine runs: who it is, how much it does at once, and its lease timings.

use std::time::Duration;

use uuid::Uuid;

/// An engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The name the engine takes leases under; unique per process.
    pub engine_id: String,
    /// Most runs advanced at once.
    pub concurrency: usize,
    /// How long JetStream waits for an ack (or a progress beat) before it redelivers an
    /// event to another engine; beats go out every third of it while a run is advanced.
    pub ack_wait: Duration,
    /// How long a lease lasts unless its heartbeats extend it.
    pub lease_duration: Duration,
    /// How often the engine extends the leases it holds, and how often the reaper looks
    /// for leases that ran out.
    pub heartbeat_every: Duration,
    /// How long a run may go on before the reaper times it out.
    pub run_timeout: Duration,
}

impl EngineConfig {
    /// The defaults, under a fresh engine name.
    pub fn new() -> Self {
        Self {
            engine_id: format!("engine-{}", Uuid::now_v7()),
            concurrency: 32,
            ack_wait: Duration::from_secs(30),
            lease_duration: Duration::from_secs(30),
            heartbeat_every: Duration::from_secs(10),
            run_timeout: Duration::from_secs(60 * 60),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_has_its_own_name_and_beats_well_within_its_lease() {
        let (one, two) = (EngineConfig::new(), EngineConfig::new());
        assert_ne!(one.engine_id, two.engine_id);
        assert!(one.heartbeat_every * 2 < one.lease_duration);
    }
}
