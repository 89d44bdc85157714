//! Parses chunks of records on every core while keeping each source's file order.
//!
//! Chunks are handed to the runtime's worker threads as they arrive; at most
//! `max_in_flight` are being parsed at once, and results are taken strictly in arrival order
//! (a FIFO of join handles), so events of one file never overtake each other. Then each file's
//! [`Sequencer`] runs in order: it may hold records back (auditd events spanning records and
//! chunks) and merge them later.
//!
//! Invariant: a chunk's acknowledgement is released only when none of its records is held;
//! until then, every outgoing chunk that carries some of its events carries a fork of it
//! (so a failure of that delivery still holds the checkpoint).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::LineChunk;
use crate::ack::Acks;
use crate::chunk::EventChunk;
use crate::event::{Event, Origin};
use crate::fanout::Rewirable;
use crate::parse::{Parser, Sequencer};

/// How often held records are checked against their flush window.
const FLUSH_TICK: Duration = Duration::from_millis(500);

/// A parsed chunk with the file range its acknowledgement covers.
pub struct Parsed {
    chunk: EventChunk,
    file_id: u64,
    start: u64,
    end: u64,
}

/// Acknowledgements waiting for held records, per chunk.
struct Pending {
    file_id: u64,
    start: u64,
    end: u64,
    acks: Acks,
}

/// Signature verification of a source's files (`verify_signatures`).
#[derive(Clone)]
pub struct Gate {
    /// The audit signing key.
    pub key: Arc<crate::integrity::cert::SigningKey>,
    /// How long records wait for their signature.
    pub unsigned_after_ms: i64,
}

/// The ordered, sequenced output of one source.
struct Sequenced {
    parser: Arc<dyn Parser>,
    gate: Option<Gate>,
    sequencers: HashMap<u64, Box<dyn Sequencer>>,
    pending: VecDeque<Pending>,
}

impl Sequenced {
    fn new(parser: Arc<dyn Parser>, gate: Option<Gate>) -> Self {
        Self {
            parser,
            gate,
            sequencers: HashMap::new(),
            pending: VecDeque::new(),
        }
    }

    /// Runs a parsed chunk through its file's sequencer; returns what can go downstream.
    fn accept(&mut self, parsed: Parsed) -> EventChunk {
        let Parsed {
            chunk,
            file_id,
            start,
            end,
        } = parsed;
        if !self.sequencers.contains_key(&file_id) {
            let gated = self.gate.as_ref().map(|g| {
                Box::new(crate::integrity::live::SignatureGate::new(
                    g.key.clone(),
                    g.unsigned_after_ms,
                )) as Box<dyn Sequencer>
            });
            match gated.or_else(|| self.parser.sequencer()) {
                Some(s) => {
                    self.sequencers.insert(file_id, s);
                }
                None => return chunk,
            }
        }
        let mut out = Vec::with_capacity(chunk.events.len());
        if let Some(seq) = self.sequencers.get_mut(&file_id) {
            for event in chunk.events {
                seq.push(event, &mut out);
            }
        }
        self.pending.push_back(Pending {
            file_id,
            start,
            end,
            acks: chunk.acks,
        });
        self.release(out)
    }

    /// Flushes held records past their window (or all, with `force`).
    fn flush(&mut self, force: bool) -> Option<EventChunk> {
        let now = crate::time::monotonic_ms();
        let mut out = Vec::new();
        for seq in self.sequencers.values_mut() {
            seq.flush(now, force, &mut out);
        }
        if out.is_empty() && !self.pending.iter().any(|p| self.releasable(p)) {
            return None;
        }
        Some(self.release(out))
    }

    fn holding(&self) -> bool {
        self.sequencers.values().any(|s| s.oldest_held().is_some())
    }

    fn releasable(&self, p: &Pending) -> bool {
        self.sequencers
            .get(&p.file_id)
            .and_then(|s| s.oldest_held())
            .is_none_or(|held| held >= p.end)
    }

    /// Builds the outgoing chunk for `events`: the acknowledgements of chunks with nothing
    /// held are released into it; chunks still holding records that contributed events get a
    /// fork.
    fn release(&mut self, events: Vec<Event>) -> EventChunk {
        let mut acks = Acks::none();
        let mut kept = VecDeque::with_capacity(self.pending.len());
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            if self.releasable(&p) {
                acks.absorb(p.acks);
            } else {
                let contributes = events.iter().any(|e| {
                    e.origin.file_id == p.file_id
                        && e.origin.end > p.start
                        && e.origin.offset < p.end
                });
                if contributes {
                    acks.absorb(p.acks.fork());
                }
                kept.push_back(p);
            }
        }
        self.pending = kept;
        EventChunk::new(events, acks)
    }
}

/// Parses every chunk from `input` with `parser` and sends the events on `out`, in order.
///
/// # Panics
/// Never: the queue is only awaited when it is not empty.
pub async fn parse_in_order(
    source: Arc<str>,
    mut input: mpsc::Receiver<LineChunk>,
    parser: Arc<dyn Parser>,
    mut out: Rewirable,
    max_in_flight: usize,
    gate: Option<Gate>,
) {
    let keep_raw = gate.is_some();
    let mut queue: VecDeque<JoinHandle<Parsed>> = VecDeque::new();
    let mut input_open = true;
    let mut sequenced = Sequenced::new(parser.clone(), gate);
    loop {
        let holding = sequenced.holding();
        let outgoing = tokio::select! {
            biased;
            done = async { queue.front_mut().expect("guarded by !is_empty").await }, if !queue.is_empty() => {
                queue.pop_front();
                match done {
                    Ok(parsed) => Some(sequenced.accept(parsed)),
                    Err(e) => {
                        tracing::error!(source = %source, error = %e, "a parse task failed; its lines stay unacknowledged and will be re-read after restart");
                        None
                    }
                }
            }
            chunk = input.recv(), if input_open && queue.len() < max_in_flight.max(1) => {
                match chunk {
                    Some(chunk) => {
                        let parser = parser.clone();
                        let source = source.clone();
                        queue.push_back(tokio::spawn(async move { parse_chunk(&source, chunk, &*parser, keep_raw) }));
                    }
                    None => input_open = false,
                }
                None
            }
            // Once the input is closed (shutdown) everything held is released below, at once.
            () = tokio::time::sleep(FLUSH_TICK), if holding && input_open => sequenced.flush(false),
            // A reload rewired the output: let go of the old components at once.
            () = out.changed(), if input_open || !queue.is_empty() => None,
            else => break,
        };
        if let Some(chunk) = outgoing {
            if chunk.events.is_empty() && chunk.acks.is_empty() {
                continue;
            }
            if out.send(chunk).await.is_err() {
                tracing::error!(source = %source, "downstream stopped; events stay unacknowledged and will be re-read");
                return;
            }
        }
    }
    // Input closed (shutdown): release everything still held.
    if let Some(chunk) = sequenced.flush(true) {
        let _ = out.send(chunk).await;
    }
}

/// Parses one chunk (synchronously).
#[must_use]
///
/// With `keep_raw`, each event keeps its record's text as read (before any masking) in
/// `group_key`, for the signature gate.
pub fn parse_chunk(
    source: &Arc<str>,
    chunk: LineChunk,
    parser: &dyn Parser,
    keep_raw: bool,
) -> Parsed {
    let now = crate::time::now_ms();
    let start = chunk.records.first().map_or(0, |r| r.offset);
    let end = chunk.records.last().map_or(0, |r| r.end);
    let mut events: Vec<Event> = Vec::with_capacity(chunk.records.len());
    // The chunk's events share copies of the source's name and the file's path made for this
    // chunk. With the source's own copies, every event counted a reference to the same two
    // `Arc`s from every parse worker, and the sink let go of them on another core: `perf` put
    // 85 % of the time of dropping an event on those two `lock dec` instructions.
    let source: Arc<str> = Arc::from(&**source);
    // An empty path: not read from a file (a Kafka partition).
    let path: Option<Arc<str>> = (!chunk.path.is_empty()).then(|| Arc::from(&*chunk.path));
    for record in chunk.records {
        if is_blank(&record.text) {
            // A blank line is not a record (its bytes are still acknowledged with the chunk).
            continue;
        }
        let origin = Origin {
            source: source.clone(),
            path: path.clone(),
            file_id: chunk.file_id,
            offset: record.offset,
            end: record.end,
        };
        // `event.created` is when the record was read (its first line, for joined records).
        let created = if record.read_at > 0 {
            record.read_at
        } else {
            now
        };
        let raw = keep_raw.then(|| record.text.clone().into_boxed_str());
        let mut event = parse_record(parser, record, origin, created);
        if raw.is_some() {
            event.group_key = raw;
        }
        events.push(event);
    }
    Parsed {
        chunk: EventChunk::new(events, chunk.acks),
        file_id: chunk.file_id,
        start,
        end,
    }
}

/// Whether a record is a blank line (only whitespace): skipped, not a parse failure.
#[must_use]
pub fn is_blank(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_whitespace())
}

/// Parses one framed record and tags what the framing found (cut, invalid UTF-8, no LF).
#[must_use]
pub fn parse_record(
    parser: &dyn Parser,
    record: super::lines::Record,
    origin: Origin,
    created: i64,
) -> Event {
    let mut event = parser.parse_started(record.text, record.start, origin, created);
    if let Some(id) = &record.id {
        event.set_given_id(id);
    }
    if record.truncated {
        event.add_tag("audit_truncated");
    }
    if record.invalid_utf8 {
        event.add_tag("audit_invalid_utf8");
    }
    if record.partial {
        event.add_tag("audit_partial");
    }
    event
}
