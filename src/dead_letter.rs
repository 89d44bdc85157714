//! The dead-letter files: events a destination refused for good, kept with the reason.
//!
//! Ndjson files in `data_dir/dead_letter/`, each line
//! `{"time":..., "sink":..., "reason":..., "event": <the ECS event>}`, fsynced before the
//! batch is settled. The current file is `events.ndjson`; past `max_bytes` it is rotated to
//! `events.ndjson.<N>` (N grows: the smallest is the oldest). Generations are **never
//! deleted**: with `max_files` files present and the current one full, writing fails with
//! [`DeadLetterError::Full`], the sink stops settling (its batch waits, unacknowledged, so the
//! readers stop at the memory budget) and logs an ERROR until an operator replays or moves
//! the files (`auditship dead-letters list|replay`). Dead-lettered events count as settled, so
//! their lines may be checkpointed; they are counted and logged (WARN), never dropped
//! silently.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt as _;
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
    /// Size at which the current file is rotated (default 100MiB).
    pub max_bytes: Option<ByteSize>,
    /// Files kept at most, the current one included (default 10); when all are full, sinks
    /// wait instead of deleting any.
    pub max_files: Option<u32>,
}

/// Default rotation size.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Default number of files.
pub const DEFAULT_MAX_FILES: u32 = 10;
/// Name of the current file.
pub const CURRENT: &str = "events.ndjson";

/// Why the dead-letter file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The file could not be written.
    #[error("dead-letter file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Every generation is full; none is deleted.
    #[error("the dead-letter files in {dir} are full ({files} files of up to {max_bytes} bytes; dead_letter.max_files, dead_letter.max_bytes): replay them (`auditship dead-letters replay`) or move them away; until then refused events wait, unacknowledged")]
    Full {
        /// The directory.
        dir: PathBuf,
        /// Files present.
        files: usize,
        /// Size of one file.
        max_bytes: u64,
    },
}

/// The shared dead-letter files.
#[derive(Debug)]
pub struct DeadLetter {
    dir: PathBuf,
    max_bytes: u64,
    max_files: u32,
    lock: Mutex<()>,
    /// Events written so far.
    pub count: AtomicU64,
}

impl DeadLetter {
    /// The dead-letter files under `data_dir`.
    #[must_use]
    pub fn new(data_dir: &Path, max_bytes: u64, max_files: u32) -> Self {
        Self {
            dir: dead_letter_dir(data_dir),
            max_bytes: max_bytes.max(1024),
            max_files: max_files.max(1),
            lock: Mutex::new(()),
            count: AtomicU64::new(0),
        }
    }

    /// Where new dead letters are written.
    #[must_use]
    pub fn path(&self) -> PathBuf {
        self.dir.join(CURRENT)
    }

    /// Appends `events` refused by `sink` for `reason`, and fsyncs; rotates the current file
    /// past `max_bytes`, and fails with [`DeadLetterError::Full`] rather than delete one.
    pub fn write(&self, sink: &str, reason: &str, events: &[Event]) -> Result<(), DeadLetterError> {
        let path = self.path();
        let err = |source| DeadLetterError::Io {
            path: path.clone(),
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
        std::fs::create_dir_all(&self.dir).map_err(err)?;
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        if size > 0 && size + buf.len() as u64 > self.max_bytes {
            let rotated = generations(&self.dir);
            if rotated.len() + 1 >= self.max_files as usize {
                return Err(DeadLetterError::Full {
                    dir: self.dir.clone(),
                    files: rotated.len() + 1,
                    max_bytes: self.max_bytes,
                });
            }
            let next = rotated.last().map_or(1, |(n, _)| n + 1);
            std::fs::rename(&path, self.dir.join(format!("{CURRENT}.{next}"))).map_err(err)?;
        }
        // Refused audit events: the owner's alone, whatever the umask.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        let before = file.metadata().map_or(0, |m| m.len());
        if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
            // Never leave a torn line behind (a full disk): cut the file back.
            let _ = file.set_len(before);
            return Err(err(e));
        }
        self.count.fetch_add(events.len() as u64, Ordering::Relaxed);
        tracing::warn!(sink, reason, events = events.len(), file = %path.display(), "events refused by the destination were written to the dead-letter file");
        Ok(())
    }
}

/// The dead-letter directory under `data_dir`.
#[must_use]
pub fn dead_letter_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("dead_letter")
}

/// Rotated generations in `dir`, oldest first: (N, path) of `events.ndjson.<N>`.
#[must_use]
pub fn generations(dir: &Path) -> Vec<(u64, PathBuf)> {
    let prefix = format!("{CURRENT}.");
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let n = name.to_str()?.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, entry.path()))
        })
        .collect();
    found.sort();
    found
}

/// Every dead-letter file in `dir`, oldest first (the rotated generations, then the current).
#[must_use]
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = generations(dir).into_iter().map(|(_, p)| p).collect();
    let current = dir.join(CURRENT);
    if current.exists() {
        all.push(current);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;

    fn events() -> Vec<Event> {
        (0..3)
            .map(|i| Event::new(format!("line {i}"), Origin::default(), 0))
            .collect()
    }

    #[test]
    fn refused_events_are_kept_with_reason_and_rotated_into_generations() {
        let dir = tempfile::tempdir().unwrap();
        let dl = DeadLetter::new(dir.path(), 2048, 100);
        dl.write("es", "status 400: mapper_parsing_exception", &events())
            .unwrap();
        let text = std::fs::read_to_string(dl.path()).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["sink"], "es");
        assert_eq!(first["event"]["event"]["original"], "line 0");
        for _ in 0..20 {
            dl.write("es", "again", &events()).unwrap();
        }
        let dir = dead_letter_dir(dir.path());
        let gens = generations(&dir);
        assert!(gens.len() >= 2, "rotated into generations: {gens:?}");
        assert_eq!(gens[0].0, 1);
        let lines: usize = files(&dir)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
            .sum();
        assert_eq!(lines, 63, "nothing deleted");
        assert!(std::fs::metadata(dl.path()).unwrap().len() <= 2048 + 1024);
        assert_eq!(dl.count.load(Ordering::Relaxed), 63);
    }

    #[test]
    fn full_generations_refuse_to_write_and_delete_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dl = DeadLetter::new(dir.path(), 1024, 2);
        let mut written = 0;
        let full = loop {
            match dl.write("es", "refused", &events()) {
                Ok(()) => written += 3,
                Err(e) => break e,
            }
            assert!(written < 1000, "never full");
        };
        assert!(
            matches!(full, DeadLetterError::Full { files: 2, .. }),
            "{full}"
        );
        let lines: usize = files(&dead_letter_dir(dir.path()))
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
            .sum();
        assert_eq!(lines, written, "every written dead letter is still there");
        // Room made by an operator: writing goes on.
        std::fs::remove_file(&generations(&dead_letter_dir(dir.path()))[0].1).unwrap();
        dl.write("es", "refused", &events()).unwrap();
    }
}
