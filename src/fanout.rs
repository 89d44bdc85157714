//! A component's output: one bounded sender per downstream component.
//!
//! Sending waits while a downstream channel is full; that wait is the backpressure that stops
//! the readers. Every downstream but the last gets a fork of the chunk with its own
//! acknowledgement handles, so each branch must settle on its own.

use tokio::sync::mpsc;

use crate::chunk::EventChunk;

/// Chunks in flight on one channel between two components.
pub const CHANNEL_CHUNKS: usize = 4;

/// Chunks queued in front of one sink. Larger than the budget can fill (a chunk reserves at
/// least `READ_BYTES × TEXT_FACTOR` of it), so a slow sink queues up to the memory budget
/// before it slows a healthy sibling: the budget, not the count, is the bound.
pub const SINK_CHUNKS: usize = 1024;

/// The senders of one component.
#[derive(Clone, Default)]
pub struct Fanout {
    senders: Vec<mpsc::Sender<EventChunk>>,
    /// The output's tap (`auditship tap`): one atomic load per chunk while nobody watches.
    tap: Option<std::sync::Arc<crate::tap::TapPoint>>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("senders", &self.senders.len())
            .finish_non_exhaustive()
    }
}

/// Every downstream component has stopped.
#[derive(Debug, thiserror::Error)]
#[error("all downstream components have stopped")]
pub struct Closed;

impl Fanout {
    /// An output to `senders`.
    #[must_use]
    pub fn new(senders: Vec<mpsc::Sender<EventChunk>>) -> Self {
        Self { senders, tap: None }
    }

    /// The same output, tapped at `tap`.
    #[must_use]
    pub fn tapped(mut self, tap: std::sync::Arc<crate::tap::TapPoint>) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Sends `chunk` to every downstream component, waiting for room.
    pub async fn send(&self, chunk: EventChunk) -> Result<(), Closed> {
        if let Some(tap) = &self.tap {
            tap.offer(&chunk);
        }
        let Some((last, rest)) = self.senders.split_last() else {
            // No downstream: the graph check forbids this, so nothing was delivered.
            return Err(Closed);
        };
        let mut delivered_any = false;
        for sender in rest {
            delivered_any |= sender.send(chunk.fork()).await.is_ok();
        }
        delivered_any |= last.send(chunk).await.is_ok();
        if delivered_any {
            Ok(())
        } else {
            Err(Closed)
        }
    }
}

/// A source's output that a reload can point at a new set of downstream components while the
/// source keeps reading: the pipeline sends the new [`Fanout`] on the paired
/// [`tokio::sync::watch::Sender`], and the output switches before its next chunk (or as soon as
/// it notices, through [`Self::changed`], so an idle source lets go of the old components).
#[derive(Debug)]
pub struct Rewirable {
    current: Fanout,
    next: tokio::sync::watch::Receiver<Fanout>,
    watching: bool,
}

impl Rewirable {
    /// An output to `initial`, and the handle that rewires it.
    #[must_use]
    pub fn new(initial: Fanout) -> (Self, tokio::sync::watch::Sender<Fanout>) {
        let (tx, mut rx) = tokio::sync::watch::channel(Fanout::default());
        rx.mark_unchanged();
        (
            Self {
                current: initial,
                next: rx,
                watching: true,
            },
            tx,
        )
    }

    /// Takes the newest wiring if there is one; dropping the old one lets its components
    /// see their input close and drain.
    fn update(&mut self) {
        if self.watching && self.next.has_changed().unwrap_or(false) {
            self.current = self.next.borrow_and_update().clone();
        }
    }

    /// Resolves when a new wiring has arrived (and takes it); never, once the pipeline has let
    /// go of the handle.
    pub async fn changed(&mut self) {
        if !self.watching {
            return std::future::pending().await;
        }
        if self.next.changed().await.is_ok() {
            self.current = self.next.borrow_and_update().clone();
        } else {
            self.watching = false;
            std::future::pending::<()>().await;
        }
    }

    /// Sends `chunk` on the newest wiring.
    pub async fn send(&mut self, chunk: EventChunk) -> Result<(), Closed> {
        self.update();
        self.current.send(chunk).await
    }
}
