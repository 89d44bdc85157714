//! Parses chunks of records on every core while keeping each source's file order.
//!
//! Chunks are handed to the runtime's worker threads as they arrive; at most
//! `max_in_flight` are being parsed at once, and results are forwarded strictly in arrival
//! order (a FIFO of join handles), so events of one file never overtake each other.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use std::collections::HashMap;

use super::LineChunk;
use crate::chunk::EventChunk;
use crate::event::{Event, Origin};
use crate::fanout::Fanout;
use crate::parse::{Parser, Sequencer};

/// Runs the parser's per-file sequencer over a chunk, in file order.
fn sequence(
    parser: &dyn Parser,
    sequencers: &mut HashMap<u64, Box<dyn Sequencer>>,
    chunk: &mut EventChunk,
) {
    for event in &mut chunk.events {
        let file = event.origin.file_id;
        let sequencer = match sequencers.entry(file) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => match parser.sequencer() {
                Some(s) => v.insert(s),
                None => return,
            },
        };
        sequencer.sequence(event);
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
    out: Fanout,
    max_in_flight: usize,
) {
    let mut queue: VecDeque<JoinHandle<EventChunk>> = VecDeque::new();
    let mut input_open = true;
    let mut sequencers: HashMap<u64, Box<dyn Sequencer>> = HashMap::new();
    loop {
        tokio::select! {
            biased;
            done = async { queue.front_mut().expect("guarded by !is_empty").await }, if !queue.is_empty() => {
                queue.pop_front();
                match done {
                    Ok(mut chunk) => {
                        sequence(&*parser, &mut sequencers, &mut chunk);
                        if out.send(chunk).await.is_err() {
                            tracing::error!(source = %source, "downstream stopped; events stay unacknowledged and will be re-read");
                            return;
                        }
                    }
                    Err(e) => tracing::error!(source = %source, error = %e, "a parse task failed; its lines stay unacknowledged and will be re-read after restart"),
                }
            }
            chunk = input.recv(), if input_open && queue.len() < max_in_flight.max(1) => {
                match chunk {
                    Some(chunk) => {
                        let parser = parser.clone();
                        let source = source.clone();
                        queue.push_back(tokio::spawn(async move { parse_chunk(&source, chunk, &*parser) }));
                    }
                    None => input_open = false,
                }
            }
            else => break,
        }
    }
}

/// Parses one chunk (synchronously).
#[must_use]
pub fn parse_chunk(source: &Arc<str>, chunk: LineChunk, parser: &dyn Parser) -> EventChunk {
    let created = crate::time::now_ms();
    let mut events: Vec<Event> = Vec::with_capacity(chunk.records.len());
    for record in chunk.records {
        let origin = Origin {
            source: source.clone(),
            path: Some(chunk.path.clone()),
            file_id: chunk.file_id,
            offset: record.offset,
            end: record.end,
        };
        let mut event = parser.parse(record.text, origin, created);
        if record.truncated {
            event.add_tag("audit_truncated");
        }
        if record.invalid_utf8 {
            event.add_tag("audit_invalid_utf8");
        }
        if record.partial {
            event.add_tag("audit_partial");
        }
        events.push(event);
    }
    EventChunk::new(events, chunk.acks)
}
