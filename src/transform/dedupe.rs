//! `dedupe`: drops an event whose `fields` were seen among the last `cache.max_events` events
//! (default: `event.original` and `log.file.path`, so a line written twice to a file, or read
//! twice after a copy, ships once). Dropped events count as delivered and are counted.
//!
//! Events are remembered by a 128-bit keyed hash of their fields' values (two `SipHash`
//! digests with independent random keys): two different events are taken for one with a
//! probability far below that of a disk error, and nothing of their content is kept.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Deserialize;

use super::Transform;
use crate::chunk::EventChunk;
use crate::event::{Event, ValueRef};

/// `[transforms.<name>] type = "dedupe"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// The fields that make two events the same (default `event.original`, `log.file.path`).
    pub fields: Option<Vec<String>>,
    /// How many recent events are remembered.
    #[serde(default)]
    pub cache: CacheConfig,
}

/// `cache = { max_events = N }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Events remembered (default 5,000).
    pub max_events: Option<usize>,
}

/// Default fields.
pub const DEFAULT_FIELDS: [&str; 2] = ["event.original", "log.file.path"];
/// Default cache size.
pub const DEFAULT_MAX_EVENTS: usize = 5000;

impl DedupeConfig {
    /// Checks the settings; every problem as `(key, message)`.
    pub fn compile(&self, name: &str) -> Result<Dedupe, Vec<(String, String)>> {
        let fields: Vec<String> = self
            .fields
            .clone()
            .unwrap_or_else(|| DEFAULT_FIELDS.map(str::to_owned).to_vec());
        let mut problems = Vec::new();
        if fields.is_empty() {
            problems.push(("fields".to_owned(), "name at least one field".to_owned()));
        }
        for (i, f) in fields.iter().enumerate() {
            if !crate::event::is_path(f) {
                problems.push((format!("fields[{i}]"), format!("`{f}` is not a field path")));
            }
        }
        let max = self.cache.max_events.unwrap_or(DEFAULT_MAX_EVENTS);
        if max == 0 {
            problems.push((
                "cache".to_owned(),
                "max_events must be at least 1".to_owned(),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Dedupe {
            name: name.into(),
            fields,
            max,
            keys: (RandomState::new(), RandomState::new()),
            seen: HashSet::new(),
            order: VecDeque::new(),
            dropped: Arc::default(),
        })
    }
}

/// The running deduplication.
#[derive(Debug)]
pub struct Dedupe {
    name: Arc<str>,
    fields: Vec<String>,
    max: usize,
    keys: (RandomState, RandomState),
    seen: HashSet<u128>,
    order: VecDeque<u128>,
    /// Events dropped as duplicates.
    pub dropped: Arc<AtomicU64>,
}

impl Dedupe {
    /// A running copy with an empty cache and its own counter (the plan keeps the original).
    #[must_use]
    pub fn fresh(&self) -> Self {
        Self {
            name: self.name.clone(),
            fields: self.fields.clone(),
            max: self.max,
            keys: (RandomState::new(), RandomState::new()),
            seen: HashSet::new(),
            order: VecDeque::new(),
            dropped: Arc::default(),
        }
    }

    fn key(&self, event: &Event) -> u128 {
        let mut a = self.keys.0.build_hasher();
        let mut b = self.keys.1.build_hasher();
        for field in &self.fields {
            // A separator per field and kind, so that ("ab","c") and ("a","bc") differ.
            let mut feed = |bytes: &[u8]| {
                a.write(bytes);
                b.write(bytes);
            };
            match event.get(field) {
                None => feed(&[0]),
                Some(ValueRef::Int(i)) => {
                    feed(&[1]);
                    feed(&i.to_le_bytes());
                }
                Some(value) => {
                    feed(&[2]);
                    for s in value.strings() {
                        feed(&(s.len() as u64).to_le_bytes());
                        feed(s.as_bytes());
                    }
                }
            }
        }
        (u128::from(a.finish()) << 64) | u128::from(b.finish())
    }

    /// Whether `event` was seen among the last `max` events (and remembers it).
    fn seen_before(&mut self, event: &Event) -> bool {
        let key = self.key(event);
        if self.seen.contains(&key) {
            return true;
        }
        self.seen.insert(key);
        self.order.push_back(key);
        if self.order.len() > self.max {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        false
    }
}

impl Transform for Dedupe {
    fn apply(&mut self, chunk: &mut EventChunk) {
        let before = chunk.events.len();
        let mut events = std::mem::take(&mut chunk.events);
        events.retain(|e| !self.seen_before(e));
        chunk.events = events;
        let dropped = (before - chunk.events.len()) as u64;
        if dropped > 0 {
            let total = self.dropped.fetch_add(dropped, Ordering::Relaxed) + dropped;
            tracing::debug!(transform = %self.name, dropped, total, "duplicate events dropped");
        }
    }
}

impl Drop for Dedupe {
    fn drop(&mut self) {
        let total = self.dropped.load(Ordering::Relaxed);
        if total > 0 {
            tracing::info!(transform = %self.name, dropped = total, "dedupe dropped duplicate events (counted as delivered)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Origin, Owned};

    fn event(line: &str, path: &str) -> Event {
        let origin = Origin {
            path: Some(path.into()),
            ..Origin::default()
        };
        Event::new(line.to_owned(), origin, 0)
    }

    #[test]
    fn an_event_seen_among_the_last_n_is_dropped_and_older_ones_are_forgotten() {
        let mut d = DedupeConfig {
            fields: None,
            cache: CacheConfig {
                max_events: Some(3),
            },
        }
        .compile("d")
        .unwrap();
        let mut chunk = EventChunk::new(Vec::new(), crate::ack::Acks::none());
        for (line, path) in [
            ("a", "/x"),
            ("a", "/x"),
            ("a", "/y"),
            ("b", "/x"),
            ("c", "/x"),
            ("d", "/x"),
            ("a", "/x"),
        ] {
            chunk.events.push(event(line, path));
        }
        d.apply(&mut chunk);
        let kept: Vec<(String, String)> = chunk
            .events
            .iter()
            .map(|e| {
                (
                    e.original().to_owned(),
                    e.origin.path.as_deref().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let expected = [
            ("a", "/x"),
            ("a", "/y"),
            ("b", "/x"),
            ("c", "/x"),
            ("d", "/x"),
            ("a", "/x"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()));
        assert_eq!(
            kept, expected,
            "the second a@/x is dropped; the last comes after 3 others"
        );
        assert_eq!(d.dropped.load(Ordering::Relaxed), 1);
        // Field boundaries count: ("ab","c") is not ("a","bc").
        let mut d = DedupeConfig {
            fields: Some(vec!["x".into(), "y".into()]),
            cache: CacheConfig::default(),
        }
        .compile("d")
        .unwrap();
        let mut one = event("1", "/p");
        one.insert("x", Owned::Str("ab".into())).unwrap();
        one.insert("y", Owned::Str("c".into())).unwrap();
        let mut two = event("2", "/p");
        two.insert("x", Owned::Str("a".into())).unwrap();
        two.insert("y", Owned::Str("bc".into())).unwrap();
        assert!(!d.seen_before(&one));
        assert!(!d.seen_before(&two));
    }
}
