//! `throttle`: lets at most `threshold` events per `key_field` value through per `window`; the
//! excess is not dropped silently but sent to `<name>.dropped` (wire it to a sink), or, with
//! `drop_excess = true`, dropped on purpose and counted. Windows run on a monotonic clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::Transform;
use crate::chunk::EventChunk;
use crate::config::units::Span;
use crate::event::{Event, ValueRef};

/// `[transforms.<name>] type = "throttle"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// The field whose value keys the limit (e.g. `user.name`); one limit for all without it.
    pub key_field: Option<String>,
    /// Events let through per key and window.
    pub threshold: u64,
    /// The window (e.g. `"1m"`).
    pub window: Span,
    /// Drop the excess (counted) instead of sending it to `<name>.dropped`.
    #[serde(default)]
    pub drop_excess: bool,
}

/// Keys remembered at most; past it, keys whose window ended are forgotten first.
const MAX_KEYS: usize = 100_000;

impl ThrottleConfig {
    /// Checks the settings; every problem as `(key, message)`.
    pub fn compile(&self, name: &str) -> Result<Throttle, Vec<(String, String)>> {
        let mut problems = Vec::new();
        if self.threshold == 0 {
            problems.push(("threshold".to_owned(), "must be at least 1".to_owned()));
        }
        if self.window.0.is_zero() {
            problems.push(("window".to_owned(), "must be longer than 0".to_owned()));
        }
        if let Some(f) = &self.key_field {
            if !crate::event::is_path(f) {
                problems.push(("key_field".to_owned(), format!("`{f}` is not a field path")));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Throttle {
            name: name.into(),
            key_field: self.key_field.clone(),
            threshold: self.threshold,
            window: self.window.0,
            drop_excess: self.drop_excess,
            counts: HashMap::new(),
            excess: Arc::default(),
        })
    }
}

/// The running throttle.
#[derive(Debug)]
pub struct Throttle {
    name: Arc<str>,
    key_field: Option<String>,
    threshold: u64,
    window: Duration,
    drop_excess: bool,
    counts: HashMap<String, (Instant, u64)>,
    /// Events over the limit.
    pub excess: Arc<AtomicU64>,
}

impl Throttle {
    /// Its outputs: `name`, and `name.dropped` unless the excess is dropped.
    #[must_use]
    pub fn outputs(&self, name: &str) -> Vec<String> {
        if self.drop_excess {
            vec![name.to_owned()]
        } else {
            vec![name.to_owned(), format!("{name}.dropped")]
        }
    }

    /// A running copy with no counts (the plan keeps the original).
    #[must_use]
    pub fn fresh(&self) -> Self {
        Self {
            name: self.name.clone(),
            key_field: self.key_field.clone(),
            threshold: self.threshold,
            window: self.window,
            drop_excess: self.drop_excess,
            counts: HashMap::new(),
            excess: Arc::default(),
        }
    }

    /// Whether `event` is within the limit at `now` (and counts it).
    fn admit(&mut self, event: &Event, now: Instant) -> bool {
        let key = match self.key_field.as_deref().map(|f| event.get(f)) {
            None | Some(None) => String::new(),
            Some(Some(ValueRef::Int(i))) => i.to_string(),
            Some(Some(v)) => v.strings().collect::<Vec<_>>().join(","),
        };
        if self.counts.len() >= MAX_KEYS && !self.counts.contains_key(&key) {
            let window = self.window;
            self.counts
                .retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let (start, count) = self.counts.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count <= self.threshold
    }
}

impl Transform for Throttle {
    fn apply(&mut self, chunk: &mut EventChunk) {
        let now = Instant::now();
        let before = chunk.events.len();
        let mut events = std::mem::take(&mut chunk.events);
        events.retain(|e| self.admit(e, now));
        chunk.events = events;
        self.excess
            .fetch_add((before - chunk.events.len()) as u64, Ordering::Relaxed);
    }

    fn split(&mut self, mut chunk: EventChunk) -> Vec<EventChunk> {
        if self.drop_excess {
            self.apply(&mut chunk);
            return vec![chunk];
        }
        let now = Instant::now();
        let (mut kept, mut over) = (Vec::new(), Vec::new());
        for event in std::mem::take(&mut chunk.events) {
            if self.admit(&event, now) {
                kept.push(event);
            } else {
                over.push(event);
            }
        }
        self.excess.fetch_add(over.len() as u64, Ordering::Relaxed);
        let dropped = EventChunk::new(over, chunk.acks.fork());
        vec![EventChunk::new(kept, chunk.acks), dropped]
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        let total = self.excess.load(Ordering::Relaxed);
        if total > 0 {
            tracing::info!(transform = %self.name, excess = total, dropped = self.drop_excess, "throttle held back events over the limit");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Origin, Owned};

    fn event(user: &str) -> Event {
        let mut e = Event::new(user.to_owned(), Origin::default(), 0);
        e.insert("user.name", Owned::Str(user.into())).unwrap();
        e
    }

    #[test]
    fn each_key_has_its_own_limit_per_window() {
        let config: ThrottleConfig =
            toml::from_str("key_field = \"user.name\"\nthreshold = 2\nwindow = \"10s\"\n").unwrap();
        let mut t = config.compile("t").unwrap();
        let t0 = Instant::now();
        let admitted: Vec<bool> = ["a", "a", "a", "b", "b", "b", "b"]
            .iter()
            .map(|u| t.admit(&event(u), t0))
            .collect();
        assert_eq!(admitted, [true, true, false, true, true, false, false]);
        assert!(
            t.admit(&event("a"), t0 + Duration::from_secs(10)),
            "a new window"
        );
        let mut chunk = EventChunk::new(
            vec![event("c"), event("c"), event("c")],
            crate::ack::Acks::none(),
        );
        let outs = t.split(std::mem::replace(
            &mut chunk,
            EventChunk::new(Vec::new(), crate::ack::Acks::none()),
        ));
        assert_eq!((outs[0].events.len(), outs[1].events.len()), (2, 1));
        assert_eq!(t.outputs("t"), ["t", "t.dropped"]);
    }
}
