//! Acknowledgements: a chunk of lines counts as delivered only when every sink settled it.
//!
//! Guarantee: at-least-once, end to end. The tailed file is the durable buffer; nothing is
//! persisted between stages. Each chunk of lines a source reads gets one [`ChunkAck`], shared
//! (by `Arc`) by every copy of its events: one per fan-out branch, one per sink batch that holds
//! any of them. When the last copy is gone, the `ChunkAck` reports to its file's tracker whether
//! *all* copies were settled as delivered or dead-lettered. Any copy that was settled as
//! [`Settlement::Failed`], or dropped without being settled at all, marks the chunk failed, and
//! the file's checkpoint never moves past a failed chunk: after a restart those lines are read
//! and sent again.
//!
//! The memory budget's reservation for the chunk rides with the `Acks` of each copy of its
//! events, apart from the `ChunkAck`: memory is returned when every copy has let go of its
//! events, which a sink that encodes a batch into one request body does as soon as the body
//! exists ([`Acks::release_memory`]), long before the destination answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::budget::Reservation;

/// How a sink settles a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// The destination accepted the events.
    Delivered,
    /// The destination refused them for good; they were written to the dead-letter file.
    DeadLettered,
    /// Not delivered (the sink gave up or is shutting down): the checkpoint must not pass them.
    Failed,
}

/// Receives the final status of a chunk; implemented by the file checkpoint tracker.
pub trait AckReceiver: Send + Sync {
    /// Called once per chunk `seq` when its last copy is gone; `delivered` is false when any
    /// copy failed or was dropped unsettled.
    fn complete(&self, seq: u64, delivered: bool);

    /// As [`AckReceiver::complete`], with the states the `chain` transforms reached after
    /// the chunk's events (kept with the checkpoint when the offset passes the chunk).
    fn complete_chained(&self, seq: u64, delivered: bool, chain: Option<ChainStates>) {
        let _ = chain;
        self.complete(seq, delivered);
    }
}

/// Where one hash chain stands after an event: its sequence number and hash (hex).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainState {
    /// The last event's `auditship.chain.seq`.
    pub seq: u64,
    /// The last event's `auditship.chain.hash`.
    pub hash: String,
}

/// The states of a file's chains, by `chain` transform name.
pub type ChainStates = std::collections::BTreeMap<String, ChainState>;

/// The shared acknowledgement state of one chunk of lines.
pub struct ChunkAck {
    seq: u64,
    failed: AtomicBool,
    receiver: Option<Arc<dyn AckReceiver>>,
    /// The file the chunk was read from (0: none).
    pub file_id: u64,
    /// When this agent read the chunk's first record, epoch ms (0: not stamped). Batches
    /// count their timeout from it: an event's own `event.created` may be far older (a
    /// document another agent read, taken from Kafka).
    pub read_at: i64,
    /// The file's chain states when reading resumed from its checkpoint: where each chain
    /// continues.
    pub resume: Option<Arc<ChainStates>>,
    /// The chain states after this chunk's events (set by `chain` transforms).
    chain: Mutex<Option<ChainStates>>,
}

impl ChunkAck {
    /// A chunk `seq` that reports to `receiver`.
    #[must_use]
    pub fn new(seq: u64, receiver: Option<Arc<dyn AckReceiver>>) -> Arc<Self> {
        Arc::new(Self {
            seq,
            failed: AtomicBool::new(false),
            receiver,
            file_id: 0,
            read_at: 0,
            resume: None,
            chain: Mutex::new(None),
        })
    }

    /// A chunk of file `file_id` (or Kafka partition) whose first record was read at
    /// `read_at`, and whose chains resume at `resume`.
    #[must_use]
    pub fn of_file(
        seq: u64,
        receiver: Arc<dyn AckReceiver>,
        file_id: u64,
        read_at: i64,
        resume: Option<Arc<ChainStates>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            seq,
            failed: AtomicBool::new(false),
            receiver: Some(receiver),
            file_id,
            read_at,
            resume,
            chain: Mutex::new(None),
        })
    }

    /// Records where chain `name` stands after this chunk's events.
    pub fn record_chain(&self, name: &str, state: ChainState) {
        self.chain
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(ChainStates::new)
            .insert(name.to_owned(), state);
    }
}

impl Drop for ChunkAck {
    fn drop(&mut self) {
        if let Some(receiver) = &self.receiver {
            let chain = self
                .chain
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            receiver.complete_chained(self.seq, !self.failed.load(Ordering::Acquire), chain);
        }
    }
}

/// The acknowledgement handles that travel with some events. Dropping it unsettled means
/// "not delivered" (so a crash or an aborted task can never advance a checkpoint).
#[derive(Default)]
pub struct Acks {
    chunks: Vec<Arc<ChunkAck>>,
    /// The budget held for the events this copy carries (shared with the other copies).
    memory: Vec<Arc<Reservation>>,
    settled: bool,
}

impl Acks {
    /// Handles for one chunk.
    #[must_use]
    pub fn one(chunk: Arc<ChunkAck>) -> Self {
        Self {
            chunks: vec![chunk],
            memory: Vec::new(),
            settled: false,
        }
    }

    /// Handles for one chunk whose events hold `reservation` of the memory budget.
    #[must_use]
    pub fn holding(chunk: Arc<ChunkAck>, reservation: Option<Reservation>) -> Self {
        let mut acks = Self::one(chunk);
        acks.memory.extend(reservation.map(Arc::new));
        acks
    }

    /// Also holds `reservation` until the events are let go of (bytes a transform added).
    pub fn hold(&mut self, reservation: Reservation) {
        self.memory.push(Arc::new(reservation));
    }

    /// Bytes of the memory budget this copy's events hold (shared with other copies).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.memory.iter().map(|m| m.bytes()).sum()
    }

    /// This copy no longer holds its events (a sink encoded them into a request body): the
    /// budget they held returns once no other copy holds them either. The acknowledgements
    /// stay until settled.
    pub fn release_memory(&mut self) {
        self.memory.clear();
    }

    /// As [`Acks::release_memory`], but keeps up to `bytes` of the budget the events held
    /// (for what replaces them: a request body), where this copy alone held it; a share held
    /// with other copies is let go of.
    pub fn exchange_memory(&mut self, bytes: usize) -> Option<Reservation> {
        let mut kept: Option<Reservation> = None;
        for held in self.memory.drain(..) {
            if let Ok(reservation) = Arc::try_unwrap(held) {
                match &mut kept {
                    Some(k) => k.merge(reservation),
                    None => kept = Some(reservation),
                }
            }
        }
        if let Some(k) = &mut kept {
            k.shrink_to(bytes);
        }
        kept
    }

    /// No handles: events that no file offset depends on (stdin, tests).
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// A second, independent set of handles for the same chunks (fan-out): each must be
    /// settled on its own.
    #[must_use]
    pub fn fork(&self) -> Self {
        Self {
            chunks: self.chunks.clone(),
            memory: self.memory.clone(),
            settled: false,
        }
    }

    /// Takes over `other`'s handles (a batch gathering several chunks).
    pub fn absorb(&mut self, mut other: Acks) {
        for chunk in other.chunks.drain(..) {
            if !self.chunks.last().is_some_and(|c| Arc::ptr_eq(c, &chunk)) {
                self.chunks.push(chunk);
            }
        }
        for held in other.memory.drain(..) {
            if !self.memory.iter().any(|m| Arc::ptr_eq(m, &held)) {
                self.memory.push(held);
            }
        }
        other.settled = true;
    }

    /// The chunks covered.
    pub fn chunks(&self) -> impl Iterator<Item = &Arc<ChunkAck>> {
        self.chunks.iter()
    }

    /// Number of distinct chunks covered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether no chunk is covered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Settles every covered chunk for this copy.
    pub fn settle(mut self, settlement: Settlement) {
        if settlement == Settlement::Failed {
            self.mark_failed();
        }
        self.settled = true;
    }

    fn mark_failed(&self) {
        for chunk in &self.chunks {
            chunk.failed.store(true, Ordering::Release);
        }
    }
}

impl Drop for Acks {
    fn drop(&mut self) {
        if !self.settled {
            self.mark_failed();
        }
    }
}

impl std::fmt::Debug for Acks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acks")
            .field("chunks", &self.chunks.len())
            .field("memory", &self.memory.len())
            .field("settled", &self.settled)
            .finish()
    }
}

/// Test helpers shared by the modules that settle acknowledgements.
#[cfg(test)]
pub(crate) mod testing {
    use super::AckReceiver;
    use std::sync::Mutex;

    /// Records every completed chunk: `(seq, delivered)`.
    #[derive(Default)]
    pub(crate) struct Log(pub(crate) Mutex<Vec<(u64, bool)>>);

    impl AckReceiver for Log {
        fn complete(&self, seq: u64, delivered: bool) {
            self.0.lock().unwrap().push((seq, delivered));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Log;
    use super::*;

    fn chunk(log: &Arc<Log>, seq: u64) -> Acks {
        Acks::one(ChunkAck::new(
            seq,
            Some(log.clone() as Arc<dyn AckReceiver>),
        ))
    }

    #[tokio::test]
    async fn memory_returns_when_every_copy_lets_go_of_its_events_before_it_is_settled() {
        let log = Arc::new(Log::default());
        let budget = crate::budget::Budget::new(100_000);
        let mut a = Acks::holding(
            ChunkAck::new(7, Some(log.clone() as Arc<dyn AckReceiver>)),
            Some(budget.reserve(60_000).await),
        );
        let mut b = a.fork();
        let mut batch = Acks::none();
        batch.absorb(a.fork());
        a.release_memory();
        assert_eq!(
            budget.available(),
            40_000,
            "two copies still hold the events"
        );
        b.release_memory();
        batch.release_memory();
        assert_eq!(budget.available(), 100_000, "no copy holds them");
        assert!(log.0.lock().unwrap().is_empty(), "nothing settled yet");
        a.settle(Settlement::Delivered);
        b.settle(Settlement::Delivered);
        batch.settle(Settlement::Delivered);
        assert_eq!(*log.0.lock().unwrap(), vec![(7, true)]);
        // A copy alone with its events' memory keeps what it asks for, and returns the rest.
        let mut alone = Acks::holding(ChunkAck::new(9, None), Some(budget.reserve(5000).await));
        let shared = alone.fork();
        assert!(alone.exchange_memory(100).is_none(), "shared: nothing kept");
        let mut alone = shared;
        let kept = alone.exchange_memory(1200).unwrap();
        assert_eq!(kept.bytes(), 1200);
        assert_eq!(budget.available(), 100_000 - 1200);
        drop(kept);
        // Dropped copies return their memory too.
        let held = Acks::holding(ChunkAck::new(8, None), Some(budget.reserve(1000).await));
        let copy = held.fork();
        drop(held);
        assert_eq!(budget.available(), 99_000);
        drop(copy);
        assert_eq!(budget.available(), 100_000);
    }

    #[test]
    fn chunk_is_delivered_only_when_every_fanout_copy_settles() {
        let log = Arc::new(Log::default());
        let a = chunk(&log, 1);
        let b = a.fork();
        a.settle(Settlement::Delivered);
        assert!(
            log.0.lock().unwrap().is_empty(),
            "one sink is still pending"
        );
        b.settle(Settlement::DeadLettered);
        assert_eq!(*log.0.lock().unwrap(), vec![(1, true)]);
    }

    #[test]
    fn dropping_an_unsettled_copy_means_not_delivered() {
        let log = Arc::new(Log::default());
        let a = chunk(&log, 4);
        let b = a.fork();
        a.settle(Settlement::Delivered);
        drop(b);
        assert_eq!(*log.0.lock().unwrap(), vec![(4, false)]);
    }

    #[test]
    fn a_failed_copy_fails_the_chunk_even_if_others_delivered() {
        let log = Arc::new(Log::default());
        let a = chunk(&log, 2);
        let b = a.fork();
        b.settle(Settlement::Failed);
        a.settle(Settlement::Delivered);
        assert_eq!(*log.0.lock().unwrap(), vec![(2, false)]);
    }

    #[test]
    fn a_batch_absorbing_chunks_settles_them_all() {
        let log = Arc::new(Log::default());
        let mut batch = Acks::none();
        batch.absorb(chunk(&log, 1));
        batch.absorb(chunk(&log, 2));
        assert_eq!(batch.len(), 2);
        batch.settle(Settlement::Delivered);
        let mut seen = log.0.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, vec![(1, true), (2, true)]);
    }
}
