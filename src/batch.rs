//! Batching: a batch closes at `max_events`, at `max_bytes`, or `timeout` after its first
//! event, whichever comes first; it carries the acknowledgements of every chunk it holds.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use crate::ack::Acks;
use crate::chunk::EventChunk;
use crate::config::units::{ByteSize, Span};
use crate::event::Event;

/// `batch` settings of a sink.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Events per batch at most (default 1000).
    pub max_events: Option<usize>,
    /// Approximate bytes per batch at most (default 5MiB).
    pub max_bytes: Option<ByteSize>,
    /// How long a batch waits for more events after its first one (default 1s).
    pub timeout: Option<Span>,
}

/// Checked batch limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Events per batch at most.
    pub max_events: usize,
    /// Approximate bytes per batch at most.
    pub max_bytes: usize,
    /// Wait after the first event.
    pub timeout: Duration,
}

impl BatchConfig {
    /// The limits, with the network-sink defaults.
    #[must_use]
    pub fn limits(&self) -> Limits {
        Limits {
            max_events: self.max_events.unwrap_or(1000).max(1),
            max_bytes: self
                .max_bytes
                .map_or(5 * 1024 * 1024, ByteSize::as_usize)
                .max(1024),
            timeout: self.timeout.map_or(Duration::from_secs(1), |s| s.0),
        }
    }
}

/// The next batch from `input`: waits for a first chunk, then gathers more until a limit or
/// the timeout. `None` when the input is closed and empty.
pub async fn next_batch(
    input: &mut mpsc::Receiver<EventChunk>,
    limits: Limits,
) -> Option<(Vec<Event>, Acks)> {
    let first = input.recv().await?;
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let mut acks = Acks::none();
    let mut events = Vec::new();
    let mut bytes = 0;
    let mut next = Some(first);
    loop {
        if let Some(chunk) = next.take() {
            bytes += chunk.approx_bytes();
            events.extend(chunk.events);
            acks.absorb(chunk.acks);
        }
        if events.len() >= limits.max_events || bytes >= limits.max_bytes {
            break;
        }
        next = match input.try_recv() {
            Ok(chunk) => Some(chunk),
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                if limits.timeout.is_zero() {
                    break;
                }
                match tokio::time::timeout_at(deadline, input.recv()).await {
                    Ok(Some(chunk)) => Some(chunk),
                    Ok(None) | Err(_) => break,
                }
            }
        };
    }
    Some((events, acks))
}
