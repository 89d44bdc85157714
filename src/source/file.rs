//! `file` source: tails files matching globs, follows rotation, and resumes from checkpoints.
//!
//! Guarantee: at-least-once. A line is handed on only once its LF is read; its bytes count as
//! done only when every sink settled its events (see `ack.rs`, `checkpoint.rs`). The reader
//! runs on its own thread with blocking file I/O, reads every open file in turn (at most one
//! read of [`READ_BYTES`] per file per pass, so a hot file cannot starve the others) and waits
//! on the memory budget before handing a chunk on, so a slow sink stops reading and the backlog
//! stays on disk. `notify` wakes it on changes; a rescan every `glob_interval` is the safety net
//! for filesystems that do not report changes.
//!
//! Rotation: a renamed file keeps its descriptor and is read to its end; a file truncated in
//! place (copytruncate, Dogtag) is read again from its start, after the record held for
//! continuation lines is shipped; a copy of a file whose content we were reading continues
//! from the checkpoint instead of starting over. "Continues" needs more than the same first
//! KiB: the bytes just before the offset must match too (the offset marker), so a file that
//! only shares a header with another is read from its start. A copy found while its original
//! still has bytes to read (copytruncate between its two steps) waits until the original has
//! read as far as the copy goes or is seen truncated, so no line is read from both. Lines
//! written after a copy and before the truncation that follows it exist in neither file and
//! cannot be read.

mod parking;

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::discover::Discovery;
use super::fingerprint::{mark_in, mark_matches, mark_of, Fingerprint};
use super::lines::{LineSplitter, Record, RecordJoiner};
use super::LineChunk;
use crate::ack::{Acks, ChunkAck};
use crate::budget::Budget;
use crate::checkpoint::{CheckpointBook, CheckpointStore, FileCheckpoint, FileTracker, Mark};
use crate::config::units::{ByteSize, Span};
use crate::parse::{Format, Parser};

/// `[sources.<name>] type = "file"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Globs of files to read (`*`, `?`, `**`, `[...]`).
    pub include: Vec<String>,
    /// Globs of files to leave alone (e.g. compressed rotations).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The audit format of the files.
    #[serde(default)]
    pub format: Format,
    /// IANA zone for local times without a zone (Keycloak text), e.g. "Europe/Berlin".
    pub timezone: Option<String>,
    /// Zone abbreviations to read differently from the default table (Dogtag), e.g.
    /// `{ IST = "+02:00" }` for Israel rather than India.
    #[serde(default)]
    pub zones: std::collections::BTreeMap<String, String>,
    /// Where to start in files that have no checkpoint and exist at startup.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// How often to rescan the globs even without notifications (default 10s).
    pub glob_interval: Option<Span>,
    /// How long a drained file that was deleted or rotated away stays open (default 60s).
    pub close_after: Option<Span>,
    /// Longer lines are cut to this length and tagged `audit_truncated` (default 1MiB).
    pub max_line_bytes: Option<ByteSize>,
    /// How long a multi-line record waits for more continuation lines (default 1s).
    pub multiline_timeout: Option<Span>,
    /// Files kept open at once (default 1024); past it, the files idle longest are closed and
    /// reopened from where they were read when they grow.
    pub max_open_files: Option<usize>,
    /// Verify Dogtag's signed audit log as it is read (`dogtag` format only).
    pub verify_signatures: Option<VerifySignatures>,
}

/// `verify_signatures = { cert = "...", digest = "sha256", unsigned_after = "15s" }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySignatures {
    /// The audit signing certificate (PEM or DER).
    pub cert: PathBuf,
    /// The digest of RSA signatures (default SHA-256).
    #[serde(default)]
    pub digest: crate::integrity::cert::Digest,
    /// How long records wait for their signature before they ship as unsigned (default 15s:
    /// Dogtag signs at least every 5 s while it runs).
    pub unsigned_after: Option<Span>,
}

impl FileSourceConfig {
    /// How this source's records are read (zone settings).
    #[must_use]
    pub fn parse_options(&self) -> crate::parse::ParseOptions {
        crate::parse::ParseOptions {
            timezone: self.timezone.clone(),
            zones: self
                .zones
                .iter()
                .filter_map(|(k, v)| crate::parse::parse_offset(v).map(|o| (k.clone(), o)))
                .collect(),
        }
    }
}

/// Where to start reading a file that has no checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    /// From its first byte.
    #[default]
    Beginning,
    /// From its end (only for files present at startup; later files are read in full).
    End,
}

/// Bytes read from one file in one pass.
pub const READ_BYTES: usize = 128 * 1024;
/// How often idle files are checked for truncation, growth and deletion.
const IDLE_CHECK: Duration = Duration::from_millis(250);
/// The last bytes read from a file, kept to mark offsets without reading again.
const RECENT_BYTES: usize = 4096;
/// How often checkpoints are written while running.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What one read step did.
enum Step {
    /// Nothing new.
    Idle,
    /// Read.
    Read,
    /// Restarted a truncated file: a copy of it waiting to be opened may be opened now.
    Truncated,
    /// Shutting down: stop this pass.
    Stop,
}

/// Content truncated away from a file this run (a copy of it may turn up: copytruncate).
#[derive(Debug)]
pub struct Truncation {
    head_hash: u64,
    read: u64,
    /// The marker of `read` (the bytes just before it), when they were still in memory.
    mark: Option<Mark>,
    tracker: Arc<Mutex<FileTracker>>,
}

/// The file's head changed under a read: it was truncated or rewritten in place.
#[derive(Debug, thiserror::Error)]
#[error("file truncated or rewritten during a read")]
struct Truncated;

/// Counters for metrics: bytes and lines read by a source.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Bytes read from files.
    pub bytes: AtomicU64,
    /// Records handed on.
    pub records: AtomicU64,
}

/// Lag of one open file: its size minus its acknowledged offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLag {
    /// The file.
    pub path: String,
    /// Bytes on disk.
    pub size: u64,
    /// Acknowledged offset.
    pub acked: u64,
}

/// What the reader thread needs.
pub struct Reader {
    /// The source's name.
    pub name: Arc<str>,
    /// Its settings.
    pub config: FileSourceConfig,
    /// Its parser (asked where records start).
    pub parser: Arc<dyn Parser>,
    /// Its checkpoints.
    pub book: Arc<CheckpointBook>,
    /// The agent's memory budget.
    pub budget: Budget,
    /// Where chunks go.
    pub out: mpsc::Sender<LineChunk>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// The runtime, to wait on the budget from this thread.
    pub runtime: tokio::runtime::Handle,
    /// Counters.
    pub stats: Arc<ReadStats>,
    /// Per-file lag, refreshed every pass.
    pub lag: Arc<Mutex<Vec<FileLag>>>,
    /// Content truncated away this run: its head, how far it had been read, and the tracker
    /// of what was read from it (which may still be in flight).
    pub truncated: Mutex<Vec<Truncation>>,
    /// Paths that could not be opened and globs that matched nothing, each said once (WARN)
    /// until that changes.
    pub warned: Mutex<std::collections::HashSet<String>>,
}

/// New files that may be copies of a file being read (a head shorter than a fingerprint's, so
/// not yet comparable, or a head like that of a file read before), watched while they grow:
/// a copy (`copytruncate`, `cp`) is created empty and filled an instant later, and opening it
/// half-written would make what the copy has beyond that point look new. Such a file is opened
/// once its size has stayed the same for [`SETTLE`], or after [`YOUNG_MAX`] at the latest.
#[derive(Default)]
struct Young {
    /// (device, inode) → (size when last seen, when the size last changed, when first seen).
    seen: std::collections::HashMap<(u64, u64), (u64, Instant, Instant)>,
    /// Those seen in the current scan.
    current: std::collections::HashSet<(u64, u64)>,
}

/// How long a possible copy's size must stay the same before it is opened.
const SETTLE: Duration = Duration::from_millis(250);

/// How long a possible copy is waited for at most.
const YOUNG_MAX: Duration = Duration::from_secs(5);

impl Young {
    fn start_scan(&mut self) {
        self.current.clear();
    }

    /// Whether to wait with the file at (`dev`, `ino`), `len` bytes long, for a later scan.
    fn wait(&mut self, dev: u64, ino: u64, len: u64, now: Instant) -> bool {
        let key = (dev, ino);
        self.current.insert(key);
        let (last, changed, first) = self.seen.entry(key).or_insert((len, now, now));
        if *last != len {
            *last = len;
            *changed = now;
        }
        let wait = now.duration_since(*changed) < SETTLE && now.duration_since(*first) < YOUNG_MAX;
        if !wait {
            self.seen.remove(&key);
        }
        wait
    }

    /// Forgets files not seen in the scan that ended.
    fn end_scan(&mut self) {
        let current = &self.current;
        self.seen.retain(|key, _| current.contains(key));
    }

    /// How soon to scan again: soon enough to open a settled copy without delay.
    fn interval(&self, glob_interval: Duration) -> Duration {
        if self.seen.is_empty() {
            glob_interval
        } else {
            glob_interval.min(SETTLE / 2)
        }
    }
}

struct Tailed {
    path: PathBuf,
    path_str: Arc<str>,
    file: File,
    fp: Fingerprint,
    file_id: u64,
    read_pos: u64,
    splitter: LineSplitter,
    joiner: RecordJoiner,
    tracker: Arc<Mutex<FileTracker>>,
    last_data: Instant,
    last_check: Instant,
    at_path: bool,
    /// The last bytes read (at most [`RECENT_BYTES`]), ending at `read_pos`.
    recent: Vec<u8>,
    /// Where the file's hash chains stood at the checkpoint reading resumed from.
    resume: Option<Arc<crate::ack::ChainStates>>,
    /// Lines in the last read: room for as many is made before the next one.
    lines_per_read: usize,
}

impl Tailed {
    /// The marker of `offset` (at most `read_pos`): from the bytes last read, or read again
    /// from the file when they are no longer in memory.
    fn mark_at(&self, offset: u64) -> Option<Mark> {
        mark_in(&self.recent, self.read_pos, offset)
            .or_else(|| mark_of(&self.file, offset).ok().flatten())
    }

    /// Whether `file` (another inode, `len` bytes, fingerprint `fp`) is a copy of this file:
    /// the same full head, and the same bytes before what was read of this one (or before
    /// the copy's end, when it is shorter).
    fn has_copy(&self, file: &File, fp: &Fingerprint, len: u64) -> bool {
        fp.is_full()
            && self.fp.is_full()
            && self.fp.head_hash == fp.head_hash
            && continues(file, len, self.splitter.pending_offset(), |at| {
                self.mark_at(at)
            })
    }
}

/// Opens the checkpoint book of a source, reporting (never hiding) a corrupt file.
pub fn open_book(data_dir: &Path, name: &str) -> Arc<CheckpointBook> {
    let store = CheckpointStore::new(data_dir, name);
    let loaded = match store.load() {
        Ok(Some(cp)) => cp.files,
        Ok(None) => Vec::new(),
        Err(e) => {
            let aside = store.quarantine();
            tracing::error!(
                source = name,
                error = %e,
                moved_to = ?aside.ok(),
                "checkpoint file is unreadable; it was moved aside and files are read as if new (read_from applies), so events may be sent again"
            );
            Vec::new()
        }
    };
    Arc::new(CheckpointBook::new(store, loaded))
}

impl Reader {
    /// Runs until shutdown; blocking, so call it on its own thread.
    pub fn run(self) {
        let discovery = match Discovery::new(&self.config.include, &self.config.exclude) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(source = %self.name, error = %e, "cannot start");
                return;
            }
        };
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<bool>();
        let _watcher = watch(&discovery, wake_tx, &self.name);
        let glob_interval = self
            .config
            .glob_interval
            .map_or(Duration::from_secs(10), |s| s.0);
        let close_after = self
            .config
            .close_after
            .map_or(Duration::from_secs(60), |s| s.0);
        let multiline_timeout = self
            .config
            .multiline_timeout
            .map_or(Duration::from_secs(1), |s| s.0);
        let mut files: Vec<Tailed> = Vec::new();
        let mut parking = parking::Parking::new(
            self.config
                .max_open_files
                .unwrap_or(parking::DEFAULT_MAX_OPEN_FILES),
        );
        let mut last_balance = Instant::now();
        let mut young = Young::default();
        let mut first_scan = true;
        let mut dirty = true;
        let mut last_scan = Instant::now();
        let mut last_save = Instant::now();
        let mut start = 0usize;
        let mut buf = vec![0u8; READ_BYTES];
        let max_line = self.max_line_bytes();
        while !self.shutdown.is_cancelled() {
            if dirty || last_scan.elapsed() >= young.interval(glob_interval) {
                self.reconcile(&discovery, &mut files, &mut parking, &mut young, first_scan);
                first_scan = false;
                dirty = false;
                last_scan = Instant::now();
                parking.balance(&mut files, &self.book, &self.name, close_after);
                last_balance = Instant::now();
            }
            let mut progressed = false;
            let n = files.len();
            for k in 0..n {
                if self.shutdown.is_cancelled() {
                    break;
                }
                let i = (start + k) % n;
                match self.read_step(&mut files[i], &mut buf, max_line, multiline_timeout) {
                    Step::Idle => {}
                    Step::Read => progressed = true,
                    Step::Truncated => {
                        progressed = true;
                        dirty = true;
                    }
                    Step::Stop => break,
                }
            }
            start = start.wrapping_add(1);
            self.idle_checks(&mut files, close_after, &mut dirty);
            if parking.len() > 0 && last_balance.elapsed() >= IDLE_CHECK {
                parking.balance(&mut files, &self.book, &self.name, close_after);
                last_balance = Instant::now();
            }
            if last_save.elapsed() >= SAVE_EVERY {
                self.save();
                self.publish_lag(&files);
                last_save = Instant::now();
            }
            if !progressed {
                match wake_rx.recv_timeout(IDLE_CHECK) {
                    Ok(structural) => {
                        dirty |= structural;
                        while let Ok(s) = wake_rx.try_recv() {
                            dirty |= s;
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(IDLE_CHECK);
                    }
                }
            }
        }
        self.finish(&mut files);
    }

    /// One read of `f` and the records it completes, handed on.
    fn read_step(
        &self,
        f: &mut Tailed,
        buf: &mut [u8],
        max_line: usize,
        multiline_timeout: Duration,
    ) -> Step {
        let mut step = Step::Idle;
        let mut records = Vec::new();
        let mut caught_up = false;
        match self.read_once(f, buf, &mut records) {
            Ok(0) => caught_up = true,
            Ok(_) => step = Step::Read,
            Err(e)
                if e.get_ref()
                    .is_some_and(<dyn std::error::Error + Send + Sync>::is::<Truncated>) =>
            {
                // A record held for continuation lines is complete as far as this content
                // goes: ship it before the content is forgotten.
                f.joiner.flush(&mut records);
                if !records.is_empty() && !self.emit(f, std::mem::take(&mut records)) {
                    return Step::Stop;
                }
                let len = f.file.metadata().map_or(0, |m| m.len());
                self.restart_truncated(f, len, max_line);
                step = Step::Truncated;
            }
            Err(e) => {
                tracing::warn!(source = %self.name, path = %f.path.display(), error = %e, "read failed; will retry");
            }
        }
        // A held record goes once `multiline_timeout` passed without data, or, when it ends
        // the way a whole record ends, as soon as the file has nothing more to read.
        if f.joiner.is_holding()
            && (f.last_data.elapsed() >= multiline_timeout
                || (caught_up && f.joiner.holds_whole_looking(self.parser.as_ref())))
        {
            f.joiner.flush(&mut records);
        }
        if !records.is_empty() && !self.emit(f, records) {
            return Step::Stop;
        }
        step
    }

    /// At shutdown: complete records held for continuation lines are shipped; partial lines
    /// are not (they are read again after restart, from the checkpoint).
    fn finish(&self, files: &mut [Tailed]) {
        for f in files {
            let mut records = Vec::new();
            f.joiner.flush(&mut records);
            if !records.is_empty() {
                self.emit_now(f, records);
            }
        }
        self.save();
        tracing::debug!(source = %self.name, "reader stopped");
    }

    /// Reads once from `f`; returns the bytes read.
    fn read_once(
        &self,
        f: &mut Tailed,
        buf: &mut [u8],
        records: &mut Vec<Record>,
    ) -> std::io::Result<usize> {
        let n = loop {
            match f.file.read_at(buf, f.read_pos) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(0);
        }
        // The file may have been truncated (and written again) before or during this read, in
        // which case these bytes could belong to the new content. If the head no longer
        // matches, nothing read now is used; the caller restarts the file from its start.
        if f.fp.head_len > 0 && !f.fp.head_matches(&f.file)? {
            return Err(std::io::Error::other(Truncated));
        }
        f.read_pos += n as u64;
        if n >= RECENT_BYTES {
            f.recent.clear();
            f.recent.extend_from_slice(&buf[n - RECENT_BYTES..n]);
        } else {
            let keep = RECENT_BYTES - n;
            if f.recent.len() > keep {
                f.recent.drain(..f.recent.len() - keep);
            }
            f.recent.extend_from_slice(&buf[..n]);
        }
        f.last_data = Instant::now();
        self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let now = crate::time::now_ms();
        if !self.parser.joins_lines() {
            let first = records.len();
            records.reserve(f.lines_per_read);
            f.splitter.feed(&buf[..n], records);
            f.lines_per_read = records.len() - first;
            for r in &mut records[first..] {
                r.read_at = now;
            }
            return Ok(n);
        }
        let mut lines = Vec::with_capacity(f.lines_per_read);
        f.splitter.feed(&buf[..n], &mut lines);
        f.lines_per_read = lines.len();
        records.reserve(lines.len());
        for mut line in lines {
            line.read_at = now;
            f.joiner.push_parsed(line, self.parser.as_ref(), records);
        }
        Ok(n)
    }

    /// Hands `records` on after reserving budget; false when shutting down.
    fn emit(&self, f: &Tailed, records: Vec<Record>) -> bool {
        let text: usize = records.iter().map(|r| r.text.len()).sum();
        let estimate = Budget::estimate(text, records.len());
        let budget = self.budget.clone();
        let shutdown = self.shutdown.clone();
        let reservation = self.runtime.block_on(async move {
            tokio::select! {
                r = budget.reserve(estimate) => Some(r),
                () = shutdown.cancelled() => None,
            }
        });
        let Some(reservation) = reservation else {
            // Not registered, so not checkpointed: these lines are read again after restart.
            return false;
        };
        self.send(f, records, Some(reservation))
    }

    /// Hands `records` on without waiting for budget (at shutdown).
    fn emit_now(&self, f: &Tailed, records: Vec<Record>) {
        self.send(f, records, None);
    }

    fn send(
        &self,
        f: &Tailed,
        records: Vec<Record>,
        reservation: Option<crate::budget::Reservation>,
    ) -> bool {
        let end = records.last().map_or(0, |r| r.end);
        let mark = f.mark_at(end);
        let seq = match f.tracker.lock() {
            Ok(mut t) => t.register_marked(end, mark),
            Err(_) => return false,
        };
        self.stats
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let receiver: Arc<dyn crate::ack::AckReceiver> = f.tracker.clone();
        let read_at = records.iter().map(|r| r.read_at).filter(|t| *t > 0).min();
        let acks = Acks::holding(
            ChunkAck::of_file(
                seq,
                receiver,
                f.file_id,
                read_at.unwrap_or(0),
                f.resume.clone(),
            ),
            reservation,
        );
        let chunk = LineChunk {
            path: f.path_str.clone(),
            file_id: f.file_id,
            records,
            acks,
        };
        self.out.blocking_send(chunk).is_ok()
    }

    /// Matches discovered paths with open files, checkpoints and copies; opens new files.
    fn reconcile(
        &self,
        discovery: &Discovery,
        files: &mut Vec<Tailed>,
        parking: &mut parking::Parking,
        young: &mut Young,
        first_scan: bool,
    ) {
        let mut found = discovery.scan();
        self.say_unmatched(discovery, &found);
        for f in files.iter_mut() {
            f.at_path = false;
        }
        young.start_scan();
        // Files with a checkpoint for their inode first: an original is open (with its read
        // position) before a copy of it is considered, whatever the order of their names.
        // (By `stat`: opening every file here would hold a descriptor per file at once.)
        let checkpointed: std::collections::HashSet<(u64, u64)> =
            self.book.entries().iter().map(|e| (e.dev, e.ino)).collect();
        found.sort_by_cached_key(|path| {
            !std::fs::metadata(path).is_ok_and(|m| checkpointed.contains(&(m.dev(), m.ino())))
        });
        for path in found {
            let Some((file, fp)) = self.open_found(&path) else {
                continue;
            };
            if let Some(f) = files
                .iter_mut()
                .find(|f| f.fp.dev == fp.dev && f.fp.ino == fp.ino)
            {
                if f.at_path && f.path != path {
                    // The same file under a second path in this scan (a symlink and its
                    // target both matched): it is read once, under the first path.
                    continue;
                }
                if f.path != path {
                    tracing::info!(source = %self.name, from = %f.path.display(), to = %path.display(), "file renamed; reading on");
                    f.path_str = Arc::from(path.to_string_lossy().as_ref());
                    f.path.clone_from(&path);
                    self.book.update_identity(
                        f.file_id,
                        &f.path_str,
                        f.fp.head_len,
                        f.fp.head_hash,
                    );
                }
                f.at_path = true;
                continue;
            }
            if parking.found(&path, &fp) {
                continue;
            }
            let len = file.metadata().map_or(0, |m| m.len());
            if original_still_reading(&file, &fp, len, files) {
                // Opened now, the copy's bytes past the original's read position would be read
                // twice: from the copy, and from the original until its truncation is seen.
                // Once the original has read them or is seen truncated (which rescans), the
                // copy continues after what the original read.
                continue;
            }
            if !first_scan
                && self.may_be_copy(&fp, files)
                && young.wait(fp.dev, fp.ino, len, Instant::now())
            {
                continue;
            }
            let tailed = self.open(path, file, fp, files, first_scan);
            files.push(tailed);
            parking.enforce(files);
        }
        young.end_scan();
    }

    /// Opens a file discovery found, with its fingerprint; `None` when it cannot be opened
    /// now (said once per path, tried again at every scan).
    fn open_found(&self, path: &Path) -> Option<(File, Fingerprint)> {
        let file = match File::open(path) {
            Ok(file) => {
                self.recovered(&path.to_string_lossy(), "file can be opened again");
                file
            }
            Err(e) => {
                // Out of descriptors is an operator's matter: ERROR.
                let key = path.to_string_lossy().into_owned();
                if self.warn_once(&key) {
                    if e.raw_os_error() == Some(24) {
                        tracing::error!(source = %self.name, path = %path.display(), error = %e, "out of file descriptors: cannot open a file matched by include (lower max_open_files or raise LimitNOFILE)");
                    } else {
                        tracing::warn!(source = %self.name, path = %path.display(), error = %e, "cannot open a file matched by include; its lines are not read until it can be opened");
                    }
                }
                return None;
            }
        };
        let fp = Fingerprint::of(&file).ok()?;
        Some((file, fp))
    }

    /// Warns once per include glob that matches no file (and says when it matches again).
    fn say_unmatched(&self, discovery: &Discovery, found: &[PathBuf]) {
        let unmatched = discovery.unmatched(found);
        for pattern in &self.config.include {
            let key = format!("glob:{pattern}");
            if unmatched.contains(&pattern.as_str()) {
                if self.warn_once(&key) {
                    tracing::warn!(source = %self.name, glob = %pattern, "include glob matches no file (yet); new files are picked up when they appear");
                }
            } else {
                self.recovered(&key, "include glob matches files now");
            }
        }
    }

    /// Records a warning about `key`; true the first time (until [`Self::recovered`]).
    fn warn_once(&self, key: &str) -> bool {
        self.warned
            .lock()
            .is_ok_and(|mut w| w.insert(key.to_owned()))
    }

    /// Forgets a warning about `key`, saying `what` when there was one.
    fn recovered(&self, key: &str, what: &str) {
        let was = self.warned.lock().is_ok_and(|mut w| w.remove(key));
        if was {
            tracing::info!(source = %self.name, what = key, "{what}");
        }
    }

    /// Whether a new file may be a copy of one read before (see [`Young`]).
    fn may_be_copy(&self, fp: &Fingerprint, files: &[Tailed]) -> bool {
        !fp.is_full()
            || files
                .iter()
                .any(|f| f.fp.is_full() && f.fp.head_hash == fp.head_hash)
            || self
                .truncated
                .lock()
                .is_ok_and(|t| t.iter().any(|t| t.head_hash == fp.head_hash))
            || self
                .book
                .entries()
                .iter()
                .any(|e| e.head_len == fp.head_len && e.head_hash == fp.head_hash)
    }

    fn open(
        &self,
        path: PathBuf,
        file: File,
        fp: Fingerprint,
        files: &[Tailed],
        first_scan: bool,
    ) -> Tailed {
        let len = file.metadata().map_or(0, |m| m.len());
        let entries = self.book.entries();
        let same_inode = entries.iter().find(|e| {
            e.dev == fp.dev
                && e.ino == fp.ino
                && head_hash_of(&file, e.head_len) == Some(e.head_hash)
        });
        let live_copy = self.live_copy(&file, &fp, len, files);
        let copy_of = || {
            entries.iter().find(|e| {
                fp.is_full()
                    && e.head_len == fp.head_len
                    && e.head_hash == fp.head_hash
                    && e.offset <= len
                    && mark_matches(&file, e.offset, (e.mark_len, e.mark_hash))
                    && !files
                        .iter()
                        .any(|f| f.fp.head_hash == e.head_hash && f.fp.is_full())
            })
        };
        let mut original = None;
        // Where the file's hash chains stand, when reading resumes at its checkpoint.
        let resume = same_inode
            .filter(|e| e.offset <= len && !e.chain.is_empty())
            .map(|e| Arc::new(e.chain.clone()));
        let (offset, file_id, why) = if let Some(e) = same_inode {
            if e.offset > len {
                tracing::warn!(source = %self.name, path = %path.display(), saved = e.offset, size = len, "file is shorter than its checkpoint (truncated while stopped); reading it from the start");
                (0, fp.file_id(), "truncated while stopped")
            } else if !mark_matches(&file, e.offset, (e.mark_len, e.mark_hash)) {
                tracing::warn!(source = %self.name, path = %path.display(), saved = e.offset, "the bytes before the checkpoint changed (rewritten while stopped, with the same head); reading it from the start");
                (0, fp.file_id(), "rewritten while stopped")
            } else {
                (e.offset, e.file_id, "checkpoint")
            }
        } else if let Some((read, tracker)) = live_copy {
            let offset = read.min(len);
            tracing::info!(source = %self.name, path = %path.display(), offset, "file is a copy of one being read (copytruncate rotation); continuing after what was read");
            original = Some(tracker);
            (offset, fp.file_id(), "copy")
        } else if let Some(e) = copy_of() {
            let offset = e.offset;
            tracing::info!(source = %self.name, path = %path.display(), copy_of = %e.path, offset, "file is a copy of one already read (copytruncate rotation); continuing from its checkpoint");
            (offset, fp.file_id(), "copy")
        } else if first_scan && self.config.read_from == ReadFrom::End {
            (len, fp.file_id(), "read_from = end")
        } else {
            (0, fp.file_id(), "new file")
        };
        let mark = mark_of(&file, offset).ok().flatten().unwrap_or((0, 0));
        tracing::info!(source = %self.name, path = %path.display(), offset, reason = why, "tailing file");
        let path_str: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        let (tracker, saved) = match original {
            Some(original) => copy_tracker(&original, offset, mark),
            None => (Arc::new(Mutex::new(FileTracker::new(offset))), offset),
        };
        let saved_mark = if saved == offset {
            mark
        } else {
            mark_of(&file, saved).ok().flatten().unwrap_or((0, 0))
        };
        self.book.track(
            FileCheckpoint {
                file_id,
                path: path_str.to_string(),
                dev: fp.dev,
                ino: fp.ino,
                head_len: fp.head_len,
                head_hash: fp.head_hash,
                offset: saved,
                mark_len: saved_mark.0,
                mark_hash: saved_mark.1,
                updated_ms: crate::time::now_ms(),
                chain: resume
                    .as_deref()
                    .filter(|_| why == "checkpoint")
                    .cloned()
                    .unwrap_or_default(),
            },
            tracker.clone(),
        );
        let max_line = self.max_line_bytes();
        Tailed {
            path,
            path_str,
            file,
            fp,
            file_id,
            read_pos: offset,
            splitter: LineSplitter::new(offset, max_line),
            joiner: RecordJoiner::new(max_line),
            tracker,
            last_data: Instant::now(),
            last_check: Instant::now(),
            at_path: true,
            recent: Vec::new(),
            resume: resume.filter(|_| why == "checkpoint"),
            lines_per_read: 0,
        }
    }

    /// The file being read (or truncated this run) that `file` (`len` bytes, fingerprint
    /// `fp`) is a copy of, with how far it was read and its tracker.
    fn live_copy(
        &self,
        file: &File,
        fp: &Fingerprint,
        len: u64,
        files: &[Tailed],
    ) -> Option<(u64, Arc<Mutex<FileTracker>>)> {
        // A different inode holding the full head of a file being read now is a copy of it
        // (copytruncate in progress, or done before we noticed the truncation) only if the
        // bytes before the offset read so far match too: a new file that merely starts with
        // the same first KiB (a common header) is read from its start. Continue after what
        // was already read from the original; duplicates are possible, loss is not.
        files
            .iter()
            .find(|f| f.has_copy(file, fp, len))
            .map(|f| (f.splitter.pending_offset(), f.tracker.clone()))
            .or_else(|| {
                self.truncated.lock().ok().and_then(|t| {
                    t.iter()
                        .find(|t| {
                            t.head_hash == fp.head_hash
                                && fp.is_full()
                                && continues(file, len, t.read, |at| {
                                    (at == t.read).then_some(t.mark).flatten()
                                })
                        })
                        .map(|t| (t.read, t.tracker.clone()))
                })
            })
    }

    fn max_line_bytes(&self) -> usize {
        self.config
            .max_line_bytes
            .map_or(1024 * 1024, ByteSize::as_usize)
    }

    /// Truncation, head growth, deletion and release of idle files.
    fn idle_checks(&self, files: &mut Vec<Tailed>, close_after: Duration, dirty: &mut bool) {
        let max_line = self.max_line_bytes();
        let mut released = Vec::new();
        for (i, f) in files.iter_mut().enumerate() {
            if f.last_check.elapsed() < IDLE_CHECK || f.last_data.elapsed() < IDLE_CHECK {
                continue;
            }
            f.last_check = Instant::now();
            let Ok(meta) = f.file.metadata() else {
                continue;
            };
            let rewritten = meta.len() < f.read_pos
                || (f.read_pos > 0 && !f.fp.head_matches(&f.file).unwrap_or(true));
            if rewritten {
                let mut held = Vec::new();
                f.joiner.flush(&mut held);
                if !held.is_empty() && !self.emit(f, held) {
                    return;
                }
                self.restart_truncated(f, meta.len(), max_line);
                *dirty = true;
                continue;
            }
            if !f.fp.is_full() && meta.len() > u64::from(f.fp.head_len) {
                if let Ok(grown) = Fingerprint::of(&f.file) {
                    f.fp = grown;
                    self.book.update_identity(
                        f.file_id,
                        &f.path_str,
                        grown.head_len,
                        grown.head_hash,
                    );
                }
            }
            if meta.nlink() == 0 && f.at_path {
                // Deleted: keep the descriptor until drained, then release after close_after.
                f.at_path = false;
                *dirty = true;
            }
            if !f.at_path && f.read_pos >= meta.len() && f.last_data.elapsed() >= close_after {
                released.push(i);
            }
        }
        for i in released.into_iter().rev() {
            let mut f = files.remove(i);
            let mut records = Vec::new();
            f.joiner.flush(&mut records);
            if let Some(partial) = f.splitter.take_partial() {
                records.push(partial);
            }
            if !records.is_empty() {
                self.emit(&f, records);
            }
            tracing::info!(source = %self.name, path = %f.path.display(), "file drained and gone from its path; released");
            self.book.release(f.file_id);
        }
    }

    fn restart_truncated(&self, f: &mut Tailed, len: u64, max_line: usize) {
        tracing::info!(source = %self.name, path = %f.path.display(), was = f.read_pos, now = len, "file truncated or rewritten in place; reading it from the start");
        if f.splitter.pending_len() > 0 {
            tracing::warn!(source = %self.name, path = %f.path.display(), bytes = f.splitter.pending_len(), "an unfinished last line was lost to the truncation (it may be in the rotated copy)");
        }
        self.book.release(f.file_id);
        if f.fp.is_full() {
            if let Ok(mut t) = self.truncated.lock() {
                // Every line before this offset was read before the truncation and handed on;
                // the tracker knows which of them are still in flight.
                let read = f.splitter.pending_offset();
                t.push(Truncation {
                    head_hash: f.fp.head_hash,
                    read,
                    mark: mark_in(&f.recent, f.read_pos, read),
                    tracker: f.tracker.clone(),
                });
                if t.len() > 64 {
                    t.remove(0);
                }
            }
        }
        let Ok(fp) = Fingerprint::of(&f.file) else {
            return;
        };
        f.fp = fp;
        f.file_id = fp.file_id();
        f.read_pos = 0;
        f.recent.clear();
        f.splitter = LineSplitter::new(0, max_line);
        f.joiner = RecordJoiner::new(max_line);
        f.tracker = Arc::new(Mutex::new(FileTracker::new(0)));
        self.book.track(
            FileCheckpoint {
                file_id: f.file_id,
                path: f.path_str.to_string(),
                dev: fp.dev,
                ino: fp.ino,
                head_len: fp.head_len,
                head_hash: fp.head_hash,
                offset: 0,
                mark_len: 0,
                mark_hash: 0,
                updated_ms: crate::time::now_ms(),
                chain: crate::ack::ChainStates::new(),
            },
            f.tracker.clone(),
        );
        f.resume = None;
    }

    fn save(&self) {
        if let Err(e) = self.book.save() {
            tracing::error!(source = %self.name, error = %e, "cannot write checkpoints");
        }
    }

    fn publish_lag(&self, files: &[Tailed]) {
        let lag = files
            .iter()
            .map(|f| FileLag {
                path: f.path_str.to_string(),
                size: f.file.metadata().map_or(0, |m| m.len()),
                acked: f.tracker.lock().map_or(0, |t| t.acked()),
            })
            .collect();
        if let Ok(mut l) = self.lag.lock() {
            *l = lag;
        }
    }
}

/// The tracker of a copy of a file that is (or was) read, reading from `offset` on: its saved
/// offset stays at what the original has acknowledged, and moves to `offset` only when the
/// original's chunks before it are delivered. Returns the tracker and the offset to save.
fn copy_tracker(
    original: &Arc<Mutex<FileTracker>>,
    offset: u64,
    mark: Mark,
) -> (Arc<Mutex<FileTracker>>, u64) {
    let Ok(mut original) = original.lock() else {
        // Poisoned: nothing is known to be delivered; read from the start of the copy.
        return (Arc::new(Mutex::new(FileTracker::new(0))), 0);
    };
    let acked = original.acked().min(offset);
    let mut tracker = FileTracker::new(acked);
    if acked == offset {
        return (Arc::new(Mutex::new(tracker)), offset);
    }
    // One chunk stands for the bytes read from the original but not yet acknowledged.
    let seq = tracker.register_marked(offset, Some(mark));
    let tracker = Arc::new(Mutex::new(tracker));
    original.follow(offset, tracker.clone(), seq);
    (tracker, acked)
}

/// Whether `file` (`len` bytes, fingerprint `fp`) is a copy of a file being read whose reader
/// has not yet read as far as the copy goes and still has bytes to read: the original is not
/// truncated as far as is known (a truncation seen is in [`Reader::truncated`]).
fn original_still_reading(file: &File, fp: &Fingerprint, len: u64, files: &[Tailed]) -> bool {
    files.iter().any(|f| {
        f.splitter.pending_offset() < len
            && f.has_copy(file, fp, len)
            && f.file.metadata().is_ok_and(|m| f.read_pos < m.len())
    })
}

/// Whether `file` (`len` bytes long) continues a file of which `read` bytes were read, whose
/// marker at an offset `mark_at` tells: the bytes before `read` (or before the end of a copy
/// shorter than that) must be the same.
fn continues(file: &File, len: u64, read: u64, mark_at: impl Fn(u64) -> Option<Mark>) -> bool {
    let at = read.min(len);
    match (mark_at(at), mark_of(file, at)) {
        (Some(theirs), Ok(Some(ours))) => theirs == ours,
        _ => false,
    }
}

fn head_hash_of(file: &File, len: u32) -> Option<u64> {
    let head = super::fingerprint::read_head(file, len as usize).ok()?;
    (head.len() == len as usize).then(|| super::fingerprint::fnv1a(&head))
}

/// Watches the include roots; sends `true` for structural changes (create, remove, rename)
/// and `false` for writes. Returns `None` when notifications are unavailable.
fn watch(
    discovery: &Discovery,
    wake: std::sync::mpsc::Sender<bool>,
    name: &str,
) -> Option<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            let structural = matches!(
                event.kind,
                EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(notify::event::ModifyKind::Name(_))
            );
            let _ = wake.send(structural);
        }
    })
    .map_err(|e| tracing::warn!(source = name, error = %e, "file notifications unavailable; relying on rescans"))
    .ok()?;
    for (dir, recursive) in discovery.watch_roots() {
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        if let Err(e) = watcher.watch(&dir, mode) {
            tracing::debug!(source = name, dir = %dir.display(), error = %e, "cannot watch directory yet; rescans will find its files");
        }
    }
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_possible_copy_is_opened_once_its_size_settles_or_it_waited_long_enough() {
        let mut young = Young::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // A copy being written: created empty, then filled.
        young.start_scan();
        assert!(young.wait(1, 7, 0, at(0)), "just created");
        assert!(young.wait(1, 7, 4096, at(10)), "growing");
        assert!(young.wait(1, 7, 8192, at(200)), "still growing");
        assert!(
            young.wait(1, 7, 8192, at(300)),
            "not settled for long enough yet"
        );
        assert!(!young.wait(1, 7, 8192, at(460)), "settled: opened");
        // A file that never stops growing is opened after the longest wait.
        for ms in (0..5000).step_by(100) {
            assert!(young.wait(1, 8, ms, at(ms)), "growing at {ms} ms");
        }
        assert!(!young.wait(1, 8, 9999, at(5000)));
        // Files gone from the scan are forgotten; waiting starts again if they come back.
        young.end_scan();
        young.start_scan();
        assert!(young.wait(1, 9, 10, at(6000)));
        young.end_scan();
        young.start_scan();
        young.end_scan();
        assert!(young.seen.is_empty());
        assert_eq!(
            young.interval(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }
}
