//! Sinks: where events are delivered. Each sink gathers chunks into a batch, delivers it, and
//! settles the batch's acknowledgements with what really happened.

pub mod console;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod kafka;
pub mod relp;
pub mod retry;
pub mod syslog;
pub mod tls;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ack::{Acks, Settlement};
use crate::budget::Reservation;
use crate::config::document::{Document, Section};
use crate::config::ConfigError;
use crate::encode::request::Encoded;
use crate::event::Event;
pub use console::{ConsoleSink, ConsoleSinkConfig};
pub use file::{FileSink, FileSinkConfig};
pub use http::{HttpSink, HttpSinkConfig};

/// Sink types a pipeline file may name.
pub const TYPES: &[&str] = &[
    "console",
    "file",
    "http",
    "elasticsearch",
    "syslog",
    "kafka",
];

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
    /// The destination refused the request as a whole for its body (413 too large, 400/422
    /// malformed): not a verdict on each event. The batch is split in halves and each half
    /// sent again, down to single events; only an event refused on its own is dead-lettered.
    pub split: bool,
    /// Trying again succeeds only after an operator acts (401/403 credentials, 404 wrong
    /// path): retried with backoff like a transient error, but logged at ERROR.
    pub operator: bool,
}

impl SinkError {
    /// A failure that may succeed later.
    #[must_use]
    pub fn retry(message: String) -> Self {
        Self {
            retryable: true,
            message,
            retry_after: None,
            split: false,
            operator: false,
        }
    }

    /// A failure that will not succeed by trying again.
    #[must_use]
    pub fn fatal(message: String) -> Self {
        Self {
            retryable: false,
            ..Self::retry(message)
        }
    }

    /// A refusal of the request's body as a whole (see [`SinkError::split`]).
    #[must_use]
    pub fn split(message: String) -> Self {
        Self {
            split: true,
            ..Self::fatal(message)
        }
    }

    /// A failure that needs an operator (see [`SinkError::operator`]).
    #[must_use]
    pub fn operator(message: String) -> Self {
        Self {
            operator: true,
            ..Self::retry(message)
        }
    }

    /// The error for a non-2xx HTTP answer `status` from `url`: retried (408, 429, 5xx),
    /// split (400, 413, 422), or retried as needing an operator (every other status).
    #[must_use]
    pub fn for_status(url: &str, status: u16, snippet: &str) -> Self {
        let message = if snippet.is_empty() {
            format!("{url} answered {status}")
        } else {
            format!("{url} answered {status}: {snippet}")
        };
        if http::retryable_status(status) {
            Self::retry(message)
        } else if matches!(status, 400 | 413 | 422) {
            Self::split(message)
        } else {
            Self::operator(message)
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

    /// The one request body a sink that sends one per batch makes of `events` (`None`: this
    /// sink delivers events). The body is sent with [`Sink::deliver_encoded`], and sent again
    /// as it is on retries; the events can be let go of once it exists.
    fn encode(&self, events: &[Event]) -> Option<std::io::Result<Encoded>> {
        let _ = events;
        None
    }

    /// [`Sink::encode`] of a batch the sink may let go of as it goes: each event is dropped
    /// once written, while its memory is still in the cache (a batch freed after its body is
    /// made is read again from memory). `Err` gives the events back when the sink makes no
    /// body.
    ///
    /// # Errors
    /// The events, unencoded, when this sink delivers events.
    fn encode_owned(&self, events: Vec<Event>) -> Result<std::io::Result<Encoded>, Vec<Event>> {
        match self.encode(&events) {
            Some(body) => Ok(body),
            None => Err(events),
        }
    }

    /// Called when the sink had nothing to send for [`crate::batch::IDLE`]: lets go of memory
    /// kept for its next batch.
    fn idle(&self) {}

    /// Delivers a body made by [`Sink::encode`]; `Ok` says how its records were settled.
    fn deliver_encoded(
        &mut self,
        batch: &Encoded,
    ) -> impl Future<Output = Result<Settlement, SinkError>> + Send {
        let _ = batch;
        async {
            Err(SinkError::fatal(
                "this sink does not send encoded bodies".into(),
            ))
        }
    }

    /// The bytes this sink put on the wire (encoded and compressed, as sent) in deliveries
    /// that succeeded since it was last asked; the counter starts again at 0.
    fn take_sent_bytes(&mut self) -> u64 {
        0
    }
}

/// Counters of one sink.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Events delivered.
    pub delivered: AtomicU64,
    /// Bytes of the deliveries that succeeded, as sent (encoded, compressed).
    pub sent_bytes: AtomicU64,
    /// Events dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Failed delivery attempts.
    pub failures: AtomicU64,
    /// Failed attempts by kind, indexed like [`ERROR_TYPES`].
    pub errors: [AtomicU64; 4],
}

/// The kinds of delivery error the metrics tell apart: the destination could not be reached
/// or answered with a transient error; it refused the request's body (split and sent again);
/// it refuses this sink until an operator acts (credentials, address); the sink cannot go on.
pub const ERROR_TYPES: [&str; 4] = ["transient", "rejected", "operator", "fatal"];

impl SinkStats {
    /// Counts one failed attempt of the kind `error` is.
    pub fn count_error(&self, error: &SinkError) {
        let kind = if error.split {
            1
        } else if error.operator {
            2
        } else if error.retryable {
            0
        } else {
            3
        };
        self.errors[kind].fetch_add(1, Ordering::Relaxed);
    }
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
    /// `kafka`.
    Kafka(Box<kafka::KafkaSinkConfig>),
}

impl SinkConfig {
    /// The sink's `type`.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Console(_) => "console",
            SinkConfig::File(_) => "file",
            SinkConfig::Http(_) => "http",
            SinkConfig::Elasticsearch(_) => "elasticsearch",
            SinkConfig::Syslog(_) => "syslog",
            SinkConfig::Kafka(_) => "kafka",
        }
    }

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
            "kafka" => {
                let config: kafka::KafkaSinkConfig = doc.deserialize(section, errors)?;
                let problems = config.check();
                (Self::Kafka(Box::new(config)), problems)
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
            quiet: std::time::Duration::ZERO,
            max_held: 0,
        };
        Ok(match self {
            Self::Console(_) => tokio::spawn(drive(ConsoleSink::new(), input, local, 1, ctx)),
            Self::File(c) => {
                tokio::spawn(drive(FileSink::new(c.path.clone()), input, local, 1, ctx))
            }
            Self::Http(c) => {
                let sink = HttpSink::new(c)?;
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
            Self::Kafka(c) => {
                let sink = kafka::KafkaSink::new(&ctx.name, c, ctx.dead_letter.clone())?;
                ctx.max_attempts = c.retry.max_attempts;
                // Two batches in flight: librdkafka pipelines them; one key stays in order
                // unless a message of it is sent again.
                tokio::spawn(drive(sink, input, c.batch.limits(), 2, ctx))
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
    /// The memory budget, charged for encoded bodies in flight (`None`: not charged).
    pub budget: Option<crate::budget::Budget>,
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
    let idle = sink.clone();
    let mut batches =
        Batcher::new(input, limits.within(ctx.budget.as_ref())).when_idle(move || idle.idle());
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

/// [`Sink::deliver`] of a sink that sends one encoded body per batch: the body, then
/// [`Sink::deliver_encoded`].
///
/// # Errors
/// As [`Sink::deliver_encoded`]; fatal when the body cannot be made (or `sink` makes none).
pub async fn deliver_by_encoding<S: Sink>(
    sink: &mut S,
    events: &[Event],
) -> Result<Settlement, SinkError> {
    let body = match sink.encode(events) {
        Some(Ok(body)) => body,
        Some(Err(e)) => return Err(SinkError::fatal(format!("gzip: {e}"))),
        None => {
            return Err(SinkError::fatal(
                "this sink does not send encoded bodies".into(),
            ))
        }
    };
    sink.deliver_encoded(&body).await
}

/// What one delivery carries: events, or the body a sink made of them ([`Sink::encode`]).
pub enum Batch {
    /// Events, for sinks that write them one by one.
    Events(Vec<Event>),
    /// One encoded request body.
    Encoded(Encoded),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::Events(events) => events.len(),
            Batch::Encoded(body) => body.len(),
        }
    }
}

/// A part of a [`Batch`] being delivered.
pub enum Part<'a> {
    /// Some of a batch's events.
    Events(&'a [Event]),
    /// A body (the batch's, or one made of some of its records).
    Encoded(&'a Encoded),
}

impl Part<'_> {
    fn len(&self) -> usize {
        match self {
            Part::Events(events) => events.len(),
            Part::Encoded(body) => body.len(),
        }
    }

    /// Delivers this part through `sink`.
    pub async fn deliver<S: Sink>(&self, sink: &mut S) -> Result<Settlement, SinkError> {
        match self {
            Part::Events(events) => sink.deliver(events).await,
            Part::Encoded(body) => sink.deliver_encoded(body).await,
        }
    }
}

/// Delivers one batch (with retries) and settles it. A sink that sends one body per batch
/// makes it first; the events are then let go of, and their budget with them, but for the
/// body's bytes (a sixth of the events' when compressed, about half when not): kept from
/// the events' own reservation where this batch alone held it, else taken from the budget as
/// far as it has room (waiting here could wait on memory held by chunks that wait on this
/// sink).
async fn deliver_batch<S: Sink>(
    sink: &mut S,
    events: Vec<Event>,
    mut acks: Acks,
    ctx: &SinkContext,
) -> Result<(), SinkError> {
    let mut _body_memory: (Option<Reservation>, Option<Reservation>) = (None, None);
    let batch = match sink.encode_owned(events) {
        Err(events) => Batch::Events(events),
        Ok(Ok(body)) => {
            let need = body.held_bytes();
            let kept = acks.exchange_memory(need);
            let more = need.saturating_sub(kept.as_ref().map_or(0, Reservation::bytes));
            let added = (more > 0)
                .then(|| ctx.budget.as_ref().and_then(|b| b.reserve_now(more)))
                .flatten();
            _body_memory = (kept, added);
            Batch::Encoded(body)
        }
        Ok(Err(e)) => {
            acks.settle(Settlement::Failed);
            let e = SinkError::fatal(format!("cannot encode the request body: {e}"));
            tracing::error!(sink = %ctx.name, error = %e, "sink cannot deliver and stops; the events stay unacknowledged and are re-sent after restart");
            return Err(e);
        }
    };
    let count = batch.len();
    match deliver_in_parts(sink, &batch, ctx).await {
        Ok(Some(settlement)) => {
            acks.settle(settlement);
            Ok(())
        }
        Ok(None) => {
            tracing::warn!(sink = %ctx.name, events = count, "shutdown interrupted delivery; the events stay unacknowledged and are re-sent after restart");
            acks.settle(Settlement::Failed);
            Ok(())
        }
        Err(e) => {
            acks.settle(Settlement::Failed);
            Err(e)
        }
    }
}

/// Writes `events` to the dead-letter file, waiting (with backoff, ERROR logged) while it
/// cannot be written (full, disk full): the batch stays unsettled meanwhile, so the sink
/// stops and the readers stop at the memory budget; no event is dropped. False when shutdown
/// interrupted the wait (the events stay unacknowledged).
async fn dead_letter_until_written(ctx: &SinkContext, reason: &str, events: &[Event]) -> bool {
    let mut failures = 0u32;
    loop {
        let Err(e) = ctx.dead_letter.write(&ctx.name, reason, events) else {
            return true;
        };
        failures += 1;
        let wait = retry::backoff(failures, None);
        tracing::error!(sink = %ctx.name, error = %e, events = events.len(), attempt = failures, wait_ms = wait.as_millis() as u64, "cannot write refused events to the dead-letter file; the sink waits, the events stay unacknowledged");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = ctx.abort.cancelled() => return false,
        }
    }
}

/// Delivers `events` (with retries), splitting them in halves while the destination refuses
/// a request's body as a whole ([`SinkError::split`]); a single event refused that way is
/// dead-lettered. Counts what it settles. `Ok(None)`: interrupted by shutdown.
async fn deliver_in_parts<S: Sink>(
    sink: &mut S,
    batch: &Batch,
    ctx: &SinkContext,
) -> Result<Option<Settlement>, SinkError> {
    let mut parts: Vec<std::ops::Range<usize>> = Vec::with_capacity(8);
    parts.push(0..batch.len());
    let mut overall = Settlement::Delivered;
    let unreadable =
        |e: std::io::Error| SinkError::fatal(format!("cannot read the request body back: {e}"));
    while let Some(part) = parts.pop() {
        // A part of an encoded batch is a body of its records, made when it is needed.
        let made;
        let slice = match batch {
            Batch::Events(events) => Part::Events(&events[part.clone()]),
            Batch::Encoded(body) if part.len() == body.len() => Part::Encoded(body),
            Batch::Encoded(body) => {
                made = body
                    .subset(&part.clone().collect::<Vec<_>>())
                    .map_err(unreadable)?;
                Part::Encoded(&made)
            }
        };
        let outcome = retry::until_done(
            &ctx.name,
            &ctx.abort,
            &ctx.stats,
            sink,
            &slice,
            ctx.max_attempts,
        )
        .await;
        ctx.stats
            .sent_bytes
            .fetch_add(sink.take_sent_bytes(), Ordering::Relaxed);
        let settlement = match outcome {
            None => return Ok(None),
            Some(Ok(settlement)) => settlement,
            Some(Err(e)) if e.split && slice.len() > 1 => {
                let mid = part.start + slice.len() / 2;
                tracing::warn!(sink = %ctx.name, error = %e, events = slice.len(), "the destination refused the request as a whole; sending it again in halves");
                // Popped last-in first-out: the first half goes first.
                parts.push(mid..part.end);
                parts.push(part.start..mid);
                continue;
            }
            Some(Err(e)) if e.split || e.retryable => {
                // A single event refused on its own, or retries exhausted
                // (`retry.max_attempts`): kept in the dead-letter file.
                let reason = if e.split {
                    format!("refused on its own: {e}")
                } else {
                    format!(
                        "gave up after {} attempts: {e}",
                        ctx.max_attempts.unwrap_or(0)
                    )
                };
                let read_back;
                let events = match &slice {
                    Part::Events(events) => *events,
                    Part::Encoded(body) => {
                        read_back = body.events(&body.all(), &ctx.name).map_err(unreadable)?;
                        &read_back[..]
                    }
                };
                if !dead_letter_until_written(ctx, &reason, events).await {
                    return Ok(None);
                }
                Settlement::DeadLettered
            }
            Some(Err(e)) => {
                tracing::error!(sink = %ctx.name, error = %e, events = slice.len(), "sink cannot deliver and stops; the events stay unacknowledged and are re-sent after restart");
                return Err(e);
            }
        };
        let counter = match settlement {
            Settlement::DeadLettered => {
                overall = Settlement::DeadLettered;
                &ctx.stats.dead_lettered
            }
            _ => &ctx.stats.delivered,
        };
        counter.fetch_add(slice.len() as u64, Ordering::Relaxed);
    }
    Ok(Some(overall))
}

#[cfg(test)]
mod tests {
    use super::SinkError;

    #[test]
    fn failed_attempts_are_counted_by_their_kind() {
        let stats = super::SinkStats::default();
        for status in [503, 413, 401, 401] {
            stats.count_error(&SinkError::for_status("http://x/", status, ""));
        }
        stats.count_error(&SinkError::fatal("closed".into()));
        let counts: Vec<u64> = stats
            .errors
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [1, 1, 2, 1], "{:?}", super::ERROR_TYPES);
    }

    #[test]
    fn answers_are_classified_as_retry_split_or_operator() {
        for status in [408, 429, 500, 502, 503, 504] {
            let e = SinkError::for_status("u", status, "");
            assert!(e.retryable && !e.split && !e.operator, "{status}");
        }
        for status in [400, 413, 422] {
            let e = SinkError::for_status("u", status, "body");
            assert!(e.split && !e.retryable, "{status}");
            assert_eq!(e.message, format!("u answered {status}: body"));
        }
        for status in [401, 403, 404, 405, 407, 410, 501] {
            let e = SinkError::for_status("u", status, "");
            assert!(e.retryable && e.operator && !e.split, "{status}");
        }
    }
}
