//! A transform with a counter of the events it drops (filtered, deduplicated, throttled), for
//! the metrics: one addition per chunk, and none when nothing was dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Prepare, Prepared, Transform};
use crate::chunk::EventChunk;

/// `inner`, counting into `discarded` the events that go in and come out on no output.
pub struct Counted {
    inner: Box<dyn Transform>,
    discarded: Arc<AtomicU64>,
}

impl Counted {
    /// Wraps `inner`; `discarded` is the component's counter (shared by its forks).
    #[must_use]
    pub fn new(inner: Box<dyn Transform>, discarded: Arc<AtomicU64>) -> Self {
        Self { inner, discarded }
    }

    fn count(&self, before: usize, after: usize) {
        if before > after {
            self.discarded
                .fetch_add((before - after) as u64, Ordering::Relaxed);
        }
    }
}

impl Transform for Counted {
    fn apply(&mut self, chunk: &mut EventChunk) {
        let before = chunk.events.len();
        self.inner.apply(chunk);
        self.count(before, chunk.events.len());
    }

    fn split(&mut self, chunk: EventChunk) -> Vec<EventChunk> {
        let before = chunk.events.len();
        let out = self.inner.split(chunk);
        self.count(before, out.iter().map(|c| c.events.len()).sum());
        out
    }

    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        self.inner.preparer()
    }

    fn split_prepared(&mut self, chunk: EventChunk, prepared: Prepared) -> Vec<EventChunk> {
        let before = chunk.events.len();
        let out = self.inner.split_prepared(chunk, prepared);
        self.count(before, out.iter().map(|c| c.events.len()).sum());
        out
    }

    fn fork(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(Counted {
            inner: self.inner.fork()?,
            discarded: self.discarded.clone(),
        }))
    }
}
