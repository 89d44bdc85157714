//! Taps: copies of the events leaving a component, streamed to `auditship tap` through the API.
//!
//! Every component output has a [`TapPoint`]. With nobody watching it costs one atomic load
//! per chunk. A watcher gets ECS JSON lines through a small bounded queue that is only ever
//! offered to (`try_send`): when the watcher reads slower than events flow, its copies are
//! dropped and counted, and the pipeline never waits for it. Events are tapped after the
//! component ran, so what the sources redact by default stays redacted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::chunk::EventChunk;

/// Chunks of encoded events queued for one watcher before its copies are dropped.
pub const WATCHER_CHUNKS: usize = 16;

/// One watcher of a tap point.
struct Watcher {
    tx: mpsc::Sender<Bytes>,
    /// Every `sample`th event is copied.
    sample: u64,
    seen: u64,
    /// Copies dropped because the watcher was slow (shared by all its tap points).
    dropped: Arc<AtomicU64>,
}

/// The tap of one component output (`name`, or `route.output`).
#[derive(Default)]
pub struct TapPoint {
    watching: AtomicUsize,
    watchers: Mutex<Vec<Watcher>>,
}

impl TapPoint {
    /// Copies `chunk`'s events to every watcher that has room; drops watchers that left.
    pub fn offer(&self, chunk: &EventChunk) {
        if self.watching.load(Ordering::Relaxed) == 0 || chunk.events.is_empty() {
            return;
        }
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        watchers.retain_mut(|w| {
            let mut buf = Vec::new();
            let mut copied = 0u64;
            for event in &chunk.events {
                w.seen += 1;
                if w.seen % w.sample == 0 {
                    crate::encode::ndjson::line(event, &mut buf);
                    copied += 1;
                }
            }
            if buf.is_empty() {
                return true;
            }
            match w.tx.try_send(Bytes::from(buf)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    w.dropped.fetch_add(copied, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        self.watching.store(watchers.len(), Ordering::Relaxed);
    }

    fn watch(&self, watcher: Watcher) {
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        watchers.push(watcher);
        self.watching.store(watchers.len(), Ordering::Relaxed);
    }
}

/// Every tap point of the agent, by output name; they outlive reloads, so a watcher keeps
/// watching a component that a reload restarted.
#[derive(Default)]
pub struct Taps {
    points: Mutex<HashMap<String, Arc<TapPoint>>>,
    /// The outputs of the running pipeline (what a watcher may name).
    outputs: Mutex<Vec<String>>,
    /// Copies dropped for slow watchers, over the agent's life.
    pub dropped: Arc<AtomicU64>,
}

/// A watcher named an output the pipeline does not have.
#[derive(Debug, thiserror::Error)]
#[error("no component output `{name}` (outputs: {known})")]
pub struct UnknownOutput {
    /// The name asked for.
    pub name: String,
    /// The outputs there are.
    pub known: String,
}

impl Taps {
    /// The tap point of output `name`.
    pub fn point(&self, name: &str) -> Arc<TapPoint> {
        self.points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Records the outputs of the running pipeline.
    pub fn set_outputs(&self, outputs: Vec<String>) {
        *self.outputs.lock().unwrap_or_else(PoisonError::into_inner) = outputs;
    }

    /// Watches the outputs of `components` (a component's name covers all of its named
    /// outputs; none: every output), every `sample`th event. The receiver yields chunks of
    /// ECS JSON lines.
    pub fn watch(
        &self,
        components: &[String],
        sample: u64,
    ) -> Result<mpsc::Receiver<Bytes>, UnknownOutput> {
        let outputs = self
            .outputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut chosen: Vec<&String> = Vec::new();
        for name in components {
            let matching: Vec<&String> = outputs
                .iter()
                .filter(|o| {
                    *o == name
                        || o.strip_prefix(name.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                })
                .collect();
            if matching.is_empty() {
                return Err(UnknownOutput {
                    name: name.clone(),
                    known: outputs.join(", "),
                });
            }
            chosen.extend(matching);
        }
        if components.is_empty() {
            chosen = outputs.iter().collect();
        }
        chosen.sort();
        chosen.dedup();
        let (tx, rx) = mpsc::channel(WATCHER_CHUNKS);
        for output in chosen {
            self.point(output).watch(Watcher {
                tx: tx.clone(),
                sample: sample.max(1),
                seen: 0,
                dropped: self.dropped.clone(),
            });
        }
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize) -> EventChunk {
        let events = (0..n)
            .map(|i| {
                crate::event::Event::new(format!("line {i}"), crate::event::Origin::default(), 0)
            })
            .collect();
        EventChunk::new(events, crate::ack::Acks::default())
    }

    #[test]
    fn a_watcher_that_does_not_read_loses_copies_and_never_blocks() {
        let taps = Taps::default();
        taps.set_outputs(vec!["in".into()]);
        let point = taps.point("in");
        let mut rx = taps.watch(&["in".into()], 1).unwrap();
        for _ in 0..WATCHER_CHUNKS + 5 {
            point.offer(&chunk(10));
        }
        assert_eq!(taps.dropped.load(Ordering::Relaxed), 50);
        let first = rx.try_recv().unwrap();
        assert_eq!(memchr::memchr_iter(b'\n', &first).count(), 10);
        drop(rx);
        point.offer(&chunk(1));
        assert_eq!(
            point.watching.load(Ordering::Relaxed),
            0,
            "a watcher that left is dropped"
        );
    }

    #[test]
    fn sampling_copies_every_nth_event_and_unknown_names_are_refused() {
        let taps = Taps::default();
        taps.set_outputs(vec![
            "in".into(),
            "split.a".into(),
            "split._unmatched".into(),
        ]);
        let mut rx = taps.watch(&["in".into()], 3).unwrap();
        taps.point("in").offer(&chunk(10));
        let got = rx.try_recv().unwrap();
        assert_eq!(memchr::memchr_iter(b'\n', &got).count(), 3);
        let e = taps.watch(&["nope".into()], 1).unwrap_err();
        assert!(
            e.to_string().contains("in, split.a, split._unmatched"),
            "{e}"
        );
        let _both = taps.watch(&["split".into()], 1).unwrap();
        assert_eq!(taps.point("split.a").watching.load(Ordering::Relaxed), 1);
        assert_eq!(
            taps.point("split._unmatched")
                .watching
                .load(Ordering::Relaxed),
            1
        );
    }
}
