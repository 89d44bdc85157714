//! `auditship dead-letters list|replay`: what the dead-letter files hold, and sending it again.
//!
//! Replay is one-shot and runs with the agent stopped: it takes the `data_dir` lock, so it
//! cannot race a running agent's writes. It first moves the current file into the rotated
//! generations, so events refused again are written to a fresh current file, then sends each
//! generation's events (oldest first) through the sink that refused them, built from the same
//! pipeline file. A line leaves its file only when its sink settled it (delivered, or refused
//! on its own again and so written to the new current file): nothing is ever lost, and a
//! destination that is still down leaves the files as they were. Events go out exactly as
//! they were dead-lettered (the same ECS document).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ack::{AckReceiver, Acks, ChunkAck};
use crate::chunk::EventChunk;
use crate::config::{Kind, Plan};
use crate::dead_letter::{self, DeadLetter, CURRENT};
use crate::event::Event;
use crate::sink::{SinkContext, SinkStats};

/// Why listing or replaying failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A dead-letter file could not be read or rewritten.
    #[error("dead-letter file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The data directory is in use, or cannot be locked.
    #[error(
        "{0}; stop the agent before replaying (replay into a running agent is not supported yet)"
    )]
    Locked(String),
    /// `--sink` names no sink of the pipeline.
    #[error("--sink {0}: the pipeline has no sink of that name")]
    UnknownSink(String),
}

/// One line of a dead-letter file.
#[derive(Deserialize)]
struct Entry<'a> {
    time: String,
    sink: String,
    #[serde(borrow)]
    event: &'a serde_json::value::RawValue,
}

/// What one dead-letter file holds.
#[derive(Debug, Default)]
pub struct FileSummary {
    /// The file.
    pub path: PathBuf,
    /// Events per sink.
    pub by_sink: BTreeMap<String, u64>,
    /// Lines that are not dead-letter entries (kept, never replayed).
    pub unreadable: u64,
    /// Time of the first and of the last entry.
    pub span: Option<(String, String)>,
}

/// Summarises every dead-letter file under `data_dir`, oldest first.
pub fn list(data_dir: &Path) -> Result<Vec<FileSummary>, ReplayError> {
    let dir = dead_letter::dead_letter_dir(data_dir);
    let mut out = Vec::new();
    for path in dead_letter::files(&dir) {
        let text = read(&path)?;
        let mut summary = FileSummary {
            path,
            ..FileSummary::default()
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            match serde_json::from_str::<Entry<'_>>(line) {
                Ok(e) => {
                    *summary.by_sink.entry(e.sink).or_default() += 1;
                    match &mut summary.span {
                        Some((_, last)) => *last = e.time,
                        None => summary.span = Some((e.time.clone(), e.time)),
                    }
                }
                Err(_) => summary.unreadable += 1,
            }
        }
        out.push(summary);
    }
    Ok(out)
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// Events settled per sink (delivered, or refused again and dead-lettered anew).
    pub settled: BTreeMap<String, u64>,
    /// Events refused again (now in the current dead-letter file).
    pub refused_again: u64,
    /// Events their sink did not settle in time (left in their files).
    pub unsettled: u64,
    /// Other lines left in their files (their sink is not in the pipeline or was not
    /// selected, or the line is not a dead-letter entry).
    pub left: u64,
}

/// Settles the chunks of a replay: remembers whether any was not delivered.
#[derive(Default)]
struct Tally {
    failed: AtomicBool,
}

impl AckReceiver for Tally {
    fn complete(&self, _seq: u64, delivered: bool) {
        if !delivered {
            self.failed.store(true, Ordering::Release);
        }
    }
}

/// Replays the dead letters of `plan`'s sinks (only `only`, when given); gives each file's
/// sends `timeout` at most before leaving what is unsettled in place.
pub async fn replay(
    plan: &Plan,
    only: Option<&str>,
    timeout: Duration,
) -> Result<ReplayReport, ReplayError> {
    let sinks: BTreeMap<&str, &crate::sink::SinkConfig> = plan
        .components
        .iter()
        .filter_map(|c| match &c.kind {
            Kind::Sink(s) => Some((c.name.as_str(), s)),
            _ => None,
        })
        .collect();
    if let Some(name) = only {
        if !sinks.contains_key(name) {
            return Err(ReplayError::UnknownSink(name.to_owned()));
        }
    }
    let _lock = crate::pipeline::lock_data_dir(&plan.data_dir)
        .map_err(|e| ReplayError::Locked(e.to_string()))?;
    let dir = dead_letter::dead_letter_dir(&plan.data_dir);
    let current = dir.join(CURRENT);
    if std::fs::metadata(&current).is_ok_and(|m| m.len() > 0) {
        let next = dead_letter::generations(&dir)
            .last()
            .map_or(1, |(n, _)| n + 1);
        let target = dir.join(format!("{CURRENT}.{next}"));
        std::fs::rename(&current, &target).map_err(|source| ReplayError::Io {
            path: current.clone(),
            source,
        })?;
    }
    let dead = Arc::new(DeadLetter::new(
        &plan.data_dir,
        plan.dead_letter_max_bytes,
        // The generations being replayed must not make the new dead letters wait.
        u32::MAX,
    ));
    let source: Arc<str> = Arc::from("dead_letter");
    let mut report = ReplayReport::default();
    for (_, path) in dead_letter::generations(&dir) {
        let text = read(&path)?;
        let mut keep: Vec<&str> = Vec::new();
        let mut unsettled = 0u64;
        let mut groups: BTreeMap<&str, Vec<(&str, Event)>> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let chosen = serde_json::from_str::<Entry<'_>>(line).ok().and_then(|e| {
                let name = *sinks.get_key_value(e.sink.as_str())?.0;
                if only.is_some_and(|o| o != name) {
                    return None;
                }
                Event::from_rendered(e.event.get(), &source)
                    .ok()
                    .map(|ev| (name, ev))
            });
            match chosen {
                Some((name, event)) => groups.entry(name).or_default().push((line, event)),
                None => keep.push(line),
            }
        }
        for (name, entries) in groups {
            let (lines, events): (Vec<&str>, Vec<Event>) = entries.into_iter().unzip();
            let count = events.len() as u64;
            let before = dead.count.load(Ordering::Relaxed);
            if send(name, sinks[name], events, &dead, timeout).await {
                *report.settled.entry(name.to_owned()).or_default() += count;
                report.refused_again += dead.count.load(Ordering::Relaxed) - before;
            } else {
                tracing::error!(sink = name, events = count, file = %path.display(), "the sink did not settle the replayed events in time; they stay in the dead-letter file");
                unsettled += count;
                keep.extend(lines);
            }
        }
        report.unsettled += unsettled;
        report.left += keep.len() as u64 - unsettled;
        rewrite(&path, &keep)?;
    }
    Ok(report)
}

/// Sends `events` through a fresh instance of sink `name`; true when every one settled.
async fn send(
    name: &str,
    config: &crate::sink::SinkConfig,
    events: Vec<Event>,
    dead: &Arc<DeadLetter>,
    timeout: Duration,
) -> bool {
    let abort = CancellationToken::new();
    let ctx = SinkContext {
        name: Arc::from(name),
        abort: abort.clone(),
        stats: Arc::new(SinkStats::default()),
        dead_letter: dead.clone(),
        max_attempts: None,
        budget: None,
    };
    let (tx, rx) = mpsc::channel(4);
    let handle = match config.spawn(rx, ctx) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(sink = name, error = %e, "cannot start the sink");
            return false;
        }
    };
    let tally = Arc::new(Tally::default());
    let seq = AtomicU64::new(0);
    let feed = async {
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let part: Vec<Event> = events.by_ref().take(1000).collect();
            let receiver: Arc<dyn AckReceiver> = tally.clone();
            let ack = ChunkAck::new(seq.fetch_add(1, Ordering::Relaxed), Some(receiver));
            if tx
                .send(EventChunk::new(part, Acks::one(ack)))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    };
    let all_sent = feed.await;
    drop(tx);
    let finished = tokio::select! {
        r = handle => matches!(r, Ok(Ok(()))),
        () = tokio::time::sleep(timeout) => {
            abort.cancel();
            false
        }
    };
    all_sent && finished && !tally.failed.load(Ordering::Acquire)
}

fn read(path: &Path) -> Result<String, ReplayError> {
    std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Replaces `path` with `lines` (atomically: temporary file, fsync, rename), or removes it
/// when none are left.
fn rewrite(path: &Path, lines: &[&str]) -> Result<(), ReplayError> {
    let io = |source| ReplayError::Io {
        path: path.to_path_buf(),
        source,
    };
    if lines.is_empty() {
        return std::fs::remove_file(path).map_err(io);
    }
    let tmp = path.with_extension("replay.tmp");
    {
        let mut file = crate::checkpoint::private_file(&tmp).map_err(io)?;
        for line in lines {
            file.write_all(line.as_bytes()).map_err(io)?;
            file.write_all(b"\n").map_err(io)?;
        }
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}
