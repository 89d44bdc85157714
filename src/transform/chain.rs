//! `chain`: stamps each event with its place in a hash chain per stream (one tailed file of one
//! source): `auditship.chain.stream`, `.seq` (from 1, gap-free) and `.hash` (see
//! `integrity::chain`). The chain's state travels with the chunk's acknowledgement into the
//! file's checkpoint, so a restart continues each chain from the events it had delivered,
//! and lines read again after a crash get the same seq and hash they had.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::Transform;
use crate::ack::ChainState;
use crate::chunk::EventChunk;
use crate::event::Value;

/// `[transforms.<name>] type = "chain"` (no settings).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {}

/// The running transform: where each stream's chain stands.
#[derive(Debug)]
pub struct Chainer {
    name: Arc<str>,
    streams: HashMap<(Arc<str>, u64), ChainState>,
    buf: Vec<u8>,
}

impl Chainer {
    /// A chain transform named `name` (its state is kept in checkpoints under that name).
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            streams: HashMap::new(),
            buf: Vec::with_capacity(1024),
        }
    }
}

impl Transform for Chainer {
    fn apply(&mut self, chunk: &mut EventChunk) {
        let Some(source) = chunk.events.first().map(|e| e.origin.source.clone()) else {
            return;
        };
        for event in &mut chunk.events {
            let key = (event.origin.source.clone(), event.origin.file_id);
            let state = self.streams.entry(key).or_insert_with(|| {
                // Where the file's checkpoint left this chain (a restart), else the start.
                chunk
                    .acks
                    .chunks()
                    .find(|a| a.file_id == event.origin.file_id)
                    .and_then(|a| a.resume.as_ref())
                    .and_then(|r| r.get(&*self.name).cloned())
                    .unwrap_or_default()
            });
            self.buf.clear();
            crate::encode::ndjson::line(event, &mut self.buf);
            let canonical = serde_json::from_slice::<serde_json::Value>(&self.buf).map_or_else(
                |_| self.buf.clone(),
                |doc| crate::integrity::chain::canonical(&doc),
            );
            state.hash = crate::integrity::chain::link(&state.hash, &canonical);
            state.seq += 1;
            let stream = format!("{}:{:016x}", event.origin.source, event.origin.file_id);
            event.set_str("auditship.chain.stream", &stream);
            event.set("auditship.chain.seq", Value::Int(state.seq as i64));
            event.set_str("auditship.chain.hash", &state.hash);
        }
        // Each chunk read from a file records where that file's chain stands after it.
        for ack in chunk.acks.chunks() {
            if let Some(state) = self.streams.get(&(source.clone(), ack.file_id)) {
                ack.record_chain(&self.name, state.clone());
            }
        }
    }
}
