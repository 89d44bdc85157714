//! A group of events travelling together with the acknowledgement handles that cover them.
//!
//! Chunks are the unit on every channel: a source emits one per read of a file, transforms
//! edit it in place, and sinks gather several into a batch. Invariant: the `acks` of a chunk
//! cover every file range its events came from, including events a transform removed.

use crate::ack::{Acks, Settlement};
use crate::event::Event;

/// Events plus the acknowledgements a sink must settle for them.
#[derive(Debug)]
pub struct EventChunk {
    /// The events, in file order.
    pub events: Vec<Event>,
    /// Handles to settle once the events are delivered.
    pub acks: Acks,
}

impl EventChunk {
    /// A chunk of `events` covered by `acks`.
    #[must_use]
    pub fn new(events: Vec<Event>, acks: Acks) -> Self {
        Self { events, acks }
    }

    /// A copy for another fan-out branch, with its own acknowledgement handles.
    #[must_use]
    pub fn fork(&self) -> Self {
        Self {
            events: self.events.clone(),
            acks: self.acks.fork(),
        }
    }

    /// Settles a chunk whose events were all removed on purpose (filtered): nothing is left to
    /// deliver, so its lines may be checkpointed.
    pub fn settle_filtered(self) {
        self.acks.settle(Settlement::Delivered);
    }

    /// Estimated heap bytes of the events.
    #[must_use]
    pub fn approx_bytes(&self) -> usize {
        self.events.iter().map(Event::approx_bytes).sum()
    }
}
