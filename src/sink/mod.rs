//! Sinks: where events are delivered. Each sink gathers chunks into a batch, delivers it, and
//! settles the batch's acknowledgements with what really happened.

pub mod console;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod retry;
pub mod syslog;
pub mod tls;

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
pub use http::{HttpSink, HttpSinkConfig};

/// Sink types a pipeline file may name.
pub const TYPES: &[&str] = &["console", "file", "http", "elasticsearch", "syslog"];

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
    /// How long the destination asked us to wait (`Retry-After`).
    pub retry_after: Option<std::time::Duration>,
}

impl SinkError {
    /// A failure that may succeed later.
    #[must_use]
    pub fn retry(message: String) -> Self {
        Self {
            retryable: true,
            message,
            retry_after: None,
        }
    }

    /// A failure that will not succeed by trying again.
    #[must_use]
    pub fn fatal(message: String) -> Self {
        Self {
            retryable: false,
            message,
            retry_after: None,
        }
    }
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
    /// `http` (boxed: its settings are much larger than the others').
    Http(Box<HttpSinkConfig>),
    /// `elasticsearch`.
    Elasticsearch(Box<elasticsearch::ElasticsearchSinkConfig>),
    /// `syslog`.
    Syslog(Box<syslog::SyslogSinkConfig>),
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
        let (config, problems) = match kind {
            "console" => (Self::Console(doc.deserialize(section, errors)?), Vec::new()),
            "file" => {
                let config: FileSinkConfig = doc.deserialize(section, errors)?;
                let mut problems = Vec::new();
                if config.path.as_os_str().is_empty() {
                    problems.push(("path", "must not be empty".to_owned()));
                }
                (Self::File(config), problems)
            }
            "http" => {
                let config: HttpSinkConfig = doc.deserialize(section, errors)?;
                let problems = config.check();
                (Self::Http(Box::new(config)), problems)
            }
            "elasticsearch" => {
                let config: elasticsearch::ElasticsearchSinkConfig =
                    doc.deserialize(section, errors)?;
                let problems = config.check();
                (Self::Elasticsearch(Box::new(config)), problems)
            }
            "syslog" => {
                let config: syslog::SyslogSinkConfig = doc.deserialize(section, errors)?;
                let problems = config.check();
                (Self::Syslog(Box::new(config)), problems)
            }
            _ => return None,
        };
        for (key, message) in problems {
            errors.push(doc.error(
                section.span_of(key),
                &format!("{}.{key}", section.name),
                &message,
            ));
        }
        Some(config)
    }

    /// Starts the sink on `input`.
    pub fn spawn(
        &self,
        input: mpsc::Receiver<EventChunk>,
        mut ctx: SinkContext,
    ) -> Result<tokio::task::JoinHandle<Result<(), SinkError>>, String> {
        // Local sinks write whatever is queued at once, one batch at a time, in order.
        let local = Limits {
            max_events: MAX_BATCH_EVENTS,
            max_bytes: 64 * 1024 * 1024,
            timeout: std::time::Duration::ZERO,
        };
        Ok(match self {
            Self::Console(_) => tokio::spawn(drive(ConsoleSink::new(), input, local, 1, ctx)),
            Self::File(c) => {
                tokio::spawn(drive(FileSink::new(c.path.clone()), input, local, 1, ctx))
            }
            Self::Http(c) => {
                let sink = HttpSink::new(&ctx.name, c, ctx.dead_letter.clone())?;
                let concurrency = sink.concurrency();
                ctx.max_attempts = c.retry.max_attempts;
                tokio::spawn(drive(sink, input, c.batch.limits(), concurrency, ctx))
            }
            Self::Elasticsearch(c) => {
                let sink =
                    elasticsearch::ElasticsearchSink::new(&ctx.name, c, ctx.dead_letter.clone())?;
                let concurrency = sink.concurrency();
                ctx.max_attempts = c.retry.max_attempts;
                let check = sink.clone();
                let abort = ctx.abort.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = check.health_check() => {}
                        () = abort.cancelled() => {}
                    }
                });
                tokio::spawn(drive(sink, input, c.batch.limits(), concurrency, ctx))
            }
            Self::Syslog(c) => {
                ctx.max_attempts = c.retry.max_attempts;
                // One stream, in order.
                tokio::spawn(drive(
                    syslog::SyslogSink::new(c)?,
                    input,
                    c.batch.limits(),
                    1,
                    ctx,
                ))
            }
        })
    }
}

use crate::batch::{Batcher, Limits};
use crate::chunk::EventChunk;
use crate::dead_letter::DeadLetter;

/// What every running sink shares with the pipeline.
#[derive(Clone)]
pub struct SinkContext {
    /// The sink's name.
    pub name: Arc<str>,
    /// Cancelled when shutdown stops waiting: retries end, batches stay unacknowledged.
    pub abort: CancellationToken,
    /// Counters.
    pub stats: Arc<SinkStats>,
    /// Where refused events go.
    pub dead_letter: Arc<DeadLetter>,
    /// Attempts before a batch is dead-lettered (`None`: retry until shutdown).
    pub max_attempts: Option<u32>,
}

/// Runs a sink until its input closes: closes batches at the limits, keeps up to
/// `concurrency` deliveries in flight (each retried until done), and settles each batch with
/// what really happened.
pub async fn drive<S: Sink + Clone + 'static>(
    mut sink: S,
    input: mpsc::Receiver<EventChunk>,
    limits: Limits,
    concurrency: usize,
    ctx: SinkContext,
) -> Result<(), SinkError> {
    let mut batches = Batcher::new(input, limits);
    let mut in_flight: tokio::task::JoinSet<Result<(), SinkError>> = tokio::task::JoinSet::new();
    let mut failed: Option<SinkError> = None;
    loop {
        while in_flight.len() >= concurrency.max(1) {
            if let Some(Ok(Err(e))) = in_flight.join_next().await {
                failed.get_or_insert(e);
            }
        }
        if failed.is_some() {
            break;
        }
        let Some((events, acks)) = batches.next().await else {
            break;
        };
        if events.is_empty() {
            acks.settle(Settlement::Delivered);
            continue;
        }
        if concurrency <= 1 {
            if let Err(e) = deliver_batch(&mut sink, events, acks, &ctx).await {
                failed = Some(e);
                break;
            }
        } else {
            let mut worker = sink.clone();
            let ctx = ctx.clone();
            in_flight.spawn(async move { deliver_batch(&mut worker, events, acks, &ctx).await });
        }
    }
    while let Some(joined) = in_flight.join_next().await {
        if let Ok(Err(e)) = joined {
            failed.get_or_insert(e);
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Delivers one batch (with retries) and settles it.
async fn deliver_batch<S: Sink>(
    sink: &mut S,
    events: Vec<Event>,
    acks: Acks,
    ctx: &SinkContext,
) -> Result<(), SinkError> {
    let outcome = retry::until_done(
        &ctx.name,
        &ctx.abort,
        &ctx.stats,
        sink,
        &events,
        ctx.max_attempts,
    )
    .await;
    match outcome {
        Some(Ok(settlement)) => {
            let counter = match settlement {
                Settlement::DeadLettered => &ctx.stats.dead_lettered,
                _ => &ctx.stats.delivered,
            };
            counter.fetch_add(events.len() as u64, Ordering::Relaxed);
            acks.settle(settlement);
            Ok(())
        }
        Some(Err(e)) if e.retryable => {
            // Retries exhausted (`retry.max_attempts`): keep the events in the dead-letter file.
            let reason = format!(
                "gave up after {} attempts: {e}",
                ctx.max_attempts.unwrap_or(0)
            );
            match ctx.dead_letter.write(&ctx.name, &reason, &events) {
                Ok(()) => {
                    ctx.stats
                        .dead_lettered
                        .fetch_add(events.len() as u64, Ordering::Relaxed);
                    acks.settle(Settlement::DeadLettered);
                    Ok(())
                }
                Err(dl) => {
                    tracing::error!(sink = %ctx.name, error = %dl, "cannot write the dead-letter file; the events stay unacknowledged");
                    acks.settle(Settlement::Failed);
                    Err(SinkError::fatal(dl.to_string()))
                }
            }
        }
        Some(Err(e)) => {
            tracing::error!(sink = %ctx.name, error = %e, events = events.len(), "sink cannot deliver and stops; the events stay unacknowledged and are re-sent after restart");
            acks.settle(Settlement::Failed);
            Err(e)
        }
        None => {
            tracing::warn!(sink = %ctx.name, events = events.len(), "shutdown interrupted delivery; the events stay unacknowledged and are re-sent after restart");
            acks.settle(Settlement::Failed);
            Ok(())
        }
    }
}
