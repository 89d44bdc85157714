//! Sinks: where events are delivered. Each sink gathers chunks into a batch, delivers it, and
//! settles the batch's acknowledgements with what really happened.

pub mod console;
pub mod file;
pub mod retry;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ack::{Acks, Settlement};
use crate::config::document::{Document, Section};
use crate::config::ConfigError;
use crate::event::Event;
pub use console::{ConsoleSink, ConsoleSinkConfig};
pub use file::{FileSink, FileSinkConfig};

/// Sink types a pipeline file may name.
pub const TYPES: &[&str] = &["console", "file"];

/// Events gathered into one batch at most (console and file sinks).
pub const MAX_BATCH_EVENTS: usize = 4096;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// Whether trying again can succeed (a full disk can empty; a closed stdout cannot).
    pub retryable: bool,
    /// What happened (never event content).
    pub message: String,
}

/// A destination. Delivery must be complete (written and flushed, or fsynced) before it
/// returns `Ok`.
pub trait Sink: Send {
    /// Delivers `events`; `Ok` says how they were settled.
    fn deliver(
        &mut self,
        events: &[Event],
    ) -> impl Future<Output = Result<Settlement, SinkError>> + Send;
}

/// Counters of one sink.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Events delivered.
    pub delivered: AtomicU64,
    /// Events dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Failed delivery attempts.
    pub failures: AtomicU64,
}

/// A sink's checked settings.
#[derive(Debug)]
pub enum SinkConfig {
    /// `console`.
    Console(ConsoleSinkConfig),
    /// `file`.
    File(FileSinkConfig),
}

impl SinkConfig {
    /// Reads the settings of a sink of type `kind`; `None` for an unknown type (no error
    /// recorded) or after recording errors.
    pub fn load(
        kind: &str,
        doc: &Document,
        section: &Section,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Self> {
        match kind {
            "console" => doc.deserialize(section, errors).map(Self::Console),
            "file" => {
                let config: FileSinkConfig = doc.deserialize(section, errors)?;
                if config.path.as_os_str().is_empty() {
                    let span = section.span_of("path");
                    errors.push(doc.error(
                        span,
                        &format!("{}.path", section.name),
                        "must not be empty",
                    ));
                }
                Some(Self::File(config))
            }
            _ => None,
        }
    }

    /// Starts the sink on `input`; `abort` ends retries at shutdown.
    #[must_use]
    pub fn spawn(
        &self,
        name: &str,
        input: mpsc::Receiver<EventChunk>,
        abort: CancellationToken,
        stats: Arc<SinkStats>,
    ) -> tokio::task::JoinHandle<Result<(), SinkError>> {
        let name: Arc<str> = Arc::from(name);
        match self {
            Self::Console(_) => tokio::spawn(drive(name, ConsoleSink::new(), input, abort, stats)),
            Self::File(c) => tokio::spawn(drive(
                name,
                FileSink::new(c.path.clone()),
                input,
                abort,
                stats,
            )),
        }
    }
}

use crate::chunk::EventChunk;

/// Runs a sink until its input closes: gathers what is queued into a batch, delivers it
/// (retrying retryable errors until `abort`), and settles the batch.
pub async fn drive<S: Sink>(
    name: Arc<str>,
    mut sink: S,
    mut input: mpsc::Receiver<EventChunk>,
    abort: CancellationToken,
    stats: Arc<SinkStats>,
) -> Result<(), SinkError> {
    while let Some(first) = input.recv().await {
        let mut acks = Acks::none();
        let mut events = Vec::new();
        let mut next = Some(first);
        while let Some(chunk) = next.take() {
            events.extend(chunk.events);
            acks.absorb(chunk.acks);
            if events.len() < MAX_BATCH_EVENTS {
                next = input.try_recv().ok();
            }
        }
        if events.is_empty() {
            acks.settle(Settlement::Delivered);
            continue;
        }
        let outcome = retry::until_done(&name, &abort, &stats, &mut sink, &events).await;
        match outcome {
            Some(Ok(settlement)) => {
                let counter = match settlement {
                    Settlement::DeadLettered => &stats.dead_lettered,
                    _ => &stats.delivered,
                };
                counter.fetch_add(events.len() as u64, Ordering::Relaxed);
                acks.settle(settlement);
            }
            Some(Err(e)) => {
                tracing::error!(sink = %name, error = %e, events = events.len(), "sink cannot deliver and stops; the events stay unacknowledged and are re-sent after restart");
                acks.settle(Settlement::Failed);
                return Err(e);
            }
            None => {
                tracing::warn!(sink = %name, events = events.len(), "shutdown interrupted delivery; the events stay unacknowledged and are re-sent after restart");
                acks.settle(Settlement::Failed);
                return Ok(());
            }
        }
    }
    Ok(())
}
