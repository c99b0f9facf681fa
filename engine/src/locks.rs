//! One task at a time per run within a process: two events of one run handled at once
//! would otherwise both find the same work (and, under the same lease, both do it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// A lock per run, made on first use and dropped when nobody holds or waits for it.
#[derive(Debug, Clone, Default)]
pub struct RunLocks {
    locks: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

/// Holds a run's lock until dropped.
#[derive(Debug)]
pub struct RunGuard {
    run_id: Uuid,
    locks: RunLocks,
    guard: Option<OwnedMutexGuard<()>>,
}

impl RunLocks {
    /// Waits until this task alone works on `run_id`.
    pub async fn lock(&self, run_id: Uuid) -> RunGuard {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(run_id).or_default().clone()
        };
        RunGuard {
            run_id,
            locks: self.clone(),
            guard: Some(lock.lock_owned().await),
        }
    }

    /// How many runs have a lock right now.
    pub fn len(&self) -> usize {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no run has a lock right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.locks.lock().unwrap_or_else(|e| e.into_inner());
        // The map's own reference is the only one left: nobody holds or waits.
        if locks
            .get(&self.run_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.run_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_task_at_a_time_per_run_and_no_lock_left_behind() {
        let locks = RunLocks::default();
        let run = Uuid::from_u128(1);
        let first = locks.lock(run).await;
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(run).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "the second task waits for the first"
        );
        let other = locks.lock(Uuid::from_u128(2)).await;
        drop(first);
        let second = waiting.await.unwrap();
        drop((second, other));
        assert!(locks.is_empty());
    }
}
