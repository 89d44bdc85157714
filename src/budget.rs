//! The agent-wide memory budget (`buffer.max_bytes`): a byte semaphore that sources wait on.
//!
//! A source reserves an estimate of a chunk's in-memory size before it hands the chunk on; the
//! reservation is released when the chunk's last acknowledgement handle is gone (see
//! `ack.rs`). When the budget is spent, reading stops and the backlog stays in the files.
//! Nothing is ever dropped for lack of budget.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes charged per event on top of its text, for fields and bookkeeping. Calibrated with
/// `benches/delivery.sh`: with these figures peak RSS stays within the budget plus about
/// 20 MiB while a sink is down (with 512 and 3 it overshot the budget by about 100 MiB).
pub const EVENT_OVERHEAD_BYTES: usize = 2048;

/// How many copies of its text an event costs while it is parsed, fanned out and encoded.
pub const TEXT_FACTOR: usize = 4;

/// The shared budget.
#[derive(Clone, Debug)]
pub struct Budget {
    semaphore: Arc<Semaphore>,
    total: usize,
}

/// Bytes held against the budget; returned on drop.
#[derive(Debug)]
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    bytes: usize,
}

impl Reservation {
    /// Bytes this reservation holds.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes over `other`'s bytes.
    pub fn merge(&mut self, other: Reservation) {
        self.bytes += other.bytes;
        self.permit.merge(other.permit);
    }

    /// Keeps at most `bytes`; the rest returns to the budget now.
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            drop(self.permit.split(self.bytes - bytes));
            self.bytes = bytes;
        }
    }
}

impl Budget {
    /// A budget of `total` bytes (at least 64 KiB).
    #[must_use]
    pub fn new(total: usize) -> Self {
        let total = total.clamp(64 * 1024, Semaphore::MAX_PERMITS);
        Self {
            semaphore: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The estimated cost of a chunk of `lines` lines holding `text_bytes` bytes of text.
    #[must_use]
    pub fn estimate(text_bytes: usize, lines: usize) -> usize {
        text_bytes * TEXT_FACTOR + lines * EVENT_OVERHEAD_BYTES
    }

    /// Waits until `bytes` are free and reserves them. A request above the whole budget is
    /// clamped to it, so one huge record can still pass (alone).
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let bytes = bytes.clamp(1, self.total);
        let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
        match self.semaphore.clone().acquire_many_owned(permits).await {
            Ok(permit) => Reservation { permit, bytes },
            // The semaphore is never closed; this arm only keeps the types honest.
            Err(_) => unreachable!("budget semaphore closed"),
        }
    }

    /// Reserves up to `bytes` without waiting: what is free now, at most `bytes` (`None` when
    /// nothing is). For stages downstream of the readers (transforms that add bytes): waiting
    /// there could wait on chunks that wait on them, so they take what is free and never
    /// block; the readers, which do wait, then find less.
    #[must_use]
    pub fn reserve_now(&self, bytes: usize) -> Option<Reservation> {
        let bytes = bytes.min(self.semaphore.available_permits());
        let permits = u32::try_from(bytes).ok().filter(|&p| p > 0)?;
        let permit = self
            .semaphore
            .clone()
            .try_acquire_many_owned(permits)
            .ok()?;
        Some(Reservation { permit, bytes })
    }

    /// Bytes currently free.
    #[must_use]
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// The configured total.
    #[must_use]
    pub fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn reserving_past_the_budget_waits_until_memory_is_returned() {
        let budget = Budget::new(100_000);
        let first = budget.reserve(80_000).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.reserve(40_000)).await;
        assert!(waiting.is_err(), "second reservation must wait");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), budget.reserve(40_000))
            .await
            .expect("freed budget is reusable");
        assert_eq!(second.bytes(), 40_000);
        assert_eq!(budget.available(), 60_000);
    }

    #[test]
    fn reserving_now_takes_what_is_free_and_never_waits() {
        let budget = Budget::new(100_000);
        let held = budget.reserve_now(70_000).unwrap();
        assert_eq!(held.bytes(), 70_000);
        let rest = budget.reserve_now(50_000).unwrap();
        assert_eq!(rest.bytes(), 30_000, "only what is free");
        assert!(budget.reserve_now(1).is_none());
        drop((held, rest));
        assert_eq!(budget.available(), 100_000);
    }

    #[tokio::test]
    async fn a_request_larger_than_the_budget_is_clamped_not_deadlocked() {
        let budget = Budget::new(70_000);
        let r = budget.reserve(10_000_000).await;
        assert_eq!(r.bytes(), 70_000);
    }
}
