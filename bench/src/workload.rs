//! Drivers: a closed loop (N clients, each sending its next request when the last one
//! answered) and an open loop (requests due at a fixed rate, latency counted from when
//! each was due, so a stall is not hidden by fewer requests being sent).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{Mutex, mpsc};

use crate::stats::latency_histogram;

/// Warm-up (not counted) followed by the measured time.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub warmup: Duration,
    pub measure: Duration,
}

/// One client of a workload.
pub trait Worker: Send + 'static {
    /// Does one operation; true when it succeeded.
    fn step(&mut self) -> impl Future<Output = bool> + Send;
}

/// What a measured phase counted.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub succeeded: u64,
    pub failed: u64,
    pub seconds: f64,
    /// Successful operations including the warm-up (what CPU time is divided by).
    pub all_succeeded: u64,
    /// Microseconds per successful operation.
    pub latency: Histogram<u64>,
}

impl Outcome {
    /// Successful operations per second of the measured time.
    pub fn rate(&self) -> f64 {
        self.succeeded as f64 / self.seconds
    }

    fn merge(&mut self, other: Self) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.all_succeeded += other.all_succeeded;
        self.latency.add(other.latency).ok();
    }

    fn empty(seconds: f64) -> Self {
        Self {
            succeeded: 0,
            failed: 0,
            all_succeeded: 0,
            seconds,
            latency: latency_histogram(),
        }
    }

    fn record(&mut self, ok: bool, latency: Duration) {
        if ok {
            self.succeeded += 1;
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            self.latency.saturating_record(micros.max(1));
        } else {
            self.failed += 1;
        }
    }
}

/// Each worker runs back to back; operations that start after the warm-up and end within
/// the measured time are counted. The workers come back (with their connections open).
pub async fn closed_loop<W: Worker>(workers: Vec<W>, phase: Phase) -> (Outcome, Vec<W>) {
    let start = Instant::now();
    let counted_from = start + phase.warmup;
    let end = counted_from + phase.measure;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            tokio::spawn(async move {
                let mut outcome = Outcome::empty(phase.measure.as_secs_f64());
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let ok = worker.step().await;
                    let done = Instant::now();
                    outcome.all_succeeded += u64::from(ok);
                    if began >= counted_from && done <= end {
                        outcome.record(ok, done - began);
                    }
                }
                (outcome, worker)
            })
        })
        .collect();
    collect(tasks, phase).await
}

/// Operations are due at `rate` per second and taken by whichever worker is free; each
/// one's latency runs from when it was due. Counted: those due after the warm-up.
pub async fn open_loop<W: Worker>(workers: Vec<W>, rate: f64, phase: Phase) -> (Outcome, Vec<W>) {
    let (due_tx, due_rx) = mpsc::channel::<Instant>(1 << 20);
    let due_rx = Arc::new(Mutex::new(due_rx));
    let start = Instant::now();
    let counted_from = start + phase.warmup;
    let end = counted_from + phase.measure;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let due_rx = due_rx.clone();
            tokio::spawn(async move {
                let mut outcome = Outcome::empty(phase.measure.as_secs_f64());
                loop {
                    let Some(due) = due_rx.lock().await.recv().await else {
                        break;
                    };
                    let ok = worker.step().await;
                    outcome.all_succeeded += u64::from(ok);
                    if due >= counted_from {
                        outcome.record(ok, due.elapsed());
                    }
                }
                (outcome, worker)
            })
        })
        .collect();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut due = start;
    while due < end {
        tokio::time::sleep_until(due.into()).await;
        // Timers are coarse: send everything that is due by now in one go.
        let now = Instant::now();
        while due <= now && due < end {
            if due_tx.send(due).await.is_err() {
                break;
            }
            due += interval;
        }
    }
    drop(due_tx);
    collect(tasks, phase).await
}

async fn collect<W: Worker>(
    tasks: Vec<tokio::task::JoinHandle<(Outcome, W)>>,
    phase: Phase,
) -> (Outcome, Vec<W>) {
    let mut total = Outcome::empty(phase.measure.as_secs_f64());
    let mut workers = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok((outcome, worker)) = task.await {
            total.merge(outcome);
            workers.push(worker);
        }
    }
    (total, workers)
}
