//! The dead-letter file: events a destination refused for good, kept with the reason.
//!
//! One ndjson file in `data_dir/dead_letter/events.ndjson`, each line
//! `{"time":..., "sink":..., "reason":..., "event": <the ECS event>}`, fsynced before the
//! batch is settled. When it grows past `max_bytes` it is rotated to `events.ndjson.1` (the
//! previous `.1` is replaced: the bound is about 2 × `max_bytes`). Dead-lettered events count as
//! settled, so their lines may be checkpointed; they are counted and logged (WARN), never
//! dropped silently.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Deserialize;

use crate::config::units::ByteSize;
use crate::event::{write_json_str, Event};

/// `[dead_letter]`: where refused events go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Size at which the file is rotated (default 100MiB).
    pub max_bytes: Option<ByteSize>,
}

/// Default rotation size.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Why the dead-letter file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("dead-letter file {path}: {source}")]
pub struct DeadLetterError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The shared dead-letter file.
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    max_bytes: u64,
    lock: Mutex<()>,
    /// Events written so far.
    pub count: AtomicU64,
}

impl DeadLetter {
    /// The dead-letter file under `data_dir`.
    #[must_use]
    pub fn new(data_dir: &Path, max_bytes: u64) -> Self {
        Self {
            path: data_dir.join("dead_letter").join("events.ndjson"),
            max_bytes: max_bytes.max(1024),
            lock: Mutex::new(()),
            count: AtomicU64::new(0),
        }
    }

    /// Where dead letters are written.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `events` refused by `sink` for `reason`, and fsyncs.
    pub fn write(&self, sink: &str, reason: &str, events: &[Event]) -> Result<(), DeadLetterError> {
        let err = |source| DeadLetterError {
            path: self.path.clone(),
            source,
        };
        let mut buf = Vec::with_capacity(events.len() * 512);
        let now = crate::time::now_ms();
        for event in events {
            buf.extend_from_slice(b"{\"time\":\"");
            crate::time::write_rfc3339(now, &mut buf);
            buf.extend_from_slice(b"\",\"sink\":");
            write_json_str(sink, &mut buf);
            buf.extend_from_slice(b",\"reason\":");
            write_json_str(reason, &mut buf);
            buf.extend_from_slice(b",\"event\":");
            event.write_json(&mut buf);
            buf.extend_from_slice(b"}\n");
        }
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if size > 0 && size + buf.len() as u64 > self.max_bytes {
            std::fs::rename(&self.path, self.path.with_extension("ndjson.1")).map_err(err)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        file.write_all(&buf).map_err(err)?;
        file.sync_data().map_err(err)?;
        self.count.fetch_add(events.len() as u64, Ordering::Relaxed);
        tracing::warn!(sink, reason, events = events.len(), file = %self.path.display(), "events refused by the destination were written to the dead-letter file");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;

    #[test]
    fn refused_events_are_kept_with_reason_and_rotated_at_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let dl = DeadLetter::new(dir.path(), 2048);
        let events: Vec<Event> = (0..3)
            .map(|i| Event::new(format!("line {i}"), Origin::default(), 0))
            .collect();
        dl.write("es", "status 400: mapper_parsing_exception", &events)
            .unwrap();
        let text = std::fs::read_to_string(dl.path()).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["sink"], "es");
        assert_eq!(first["event"]["event"]["original"], "line 0");
        for _ in 0..20 {
            dl.write("es", "again", &events).unwrap();
        }
        assert!(dl.path().with_extension("ndjson.1").exists(), "rotated");
        assert!(std::fs::metadata(dl.path()).unwrap().len() <= 2048 + 1024);
        assert_eq!(dl.count.load(Ordering::Relaxed), 63);
    }
}
