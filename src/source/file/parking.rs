//! Bounded open files (`max_open_files`): past the bound, the files idle longest give up their
//! descriptor ("parked") and are reopened by path when they grow, from where they were read.
//!
//! Thousands of matched files under systemd's default `LimitNOFILE=1024` once left the file
//! sink unable to open its output, silently, forever. A parked file keeps everything but its
//! descriptor (offset, partial line, checkpoint tracker), so reopening it reads on exactly
//! where it stopped; a record held for continuation lines is never parked. Limit: a parked
//! file that is renamed to a name outside the globs and written to afterwards is not followed
//! (it has no open descriptor to read through); it is released after `close_after`.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Tailed, RECENT_BYTES};
use crate::checkpoint::{CheckpointBook, FileTracker};
use crate::source::fingerprint::Fingerprint;
use crate::source::lines::{LineSplitter, RecordJoiner};

/// Default bound on files open at once, per source.
pub const DEFAULT_MAX_OPEN_FILES: usize = 1024;

/// How long an open file must have been quiet before it gives its descriptor to a parked file
/// that has grown.
const QUIET: Duration = Duration::from_millis(250);

/// A file without its descriptor.
struct Parked {
    path: PathBuf,
    path_str: Arc<str>,
    fp: Fingerprint,
    file_id: u64,
    read_pos: u64,
    splitter: LineSplitter,
    joiner: RecordJoiner,
    tracker: Arc<Mutex<FileTracker>>,
    recent: Vec<u8>,
    /// Where the file's hash chains resumed (see `Tailed`).
    resume: Option<std::sync::Arc<crate::ack::ChainStates>>,
    /// Its size when parked.
    size: u64,
    since: Instant,
}

/// The parked files of one source and the bound.
pub(super) struct Parking {
    parked: Vec<Parked>,
    max_open: usize,
    /// Whether "every open file is busy" was said (once until it passes).
    warned: bool,
}

impl Parking {
    pub(super) fn new(max_open: usize) -> Self {
        Self {
            parked: Vec::new(),
            max_open: max_open.max(1),
            warned: false,
        }
    }

    /// Whether `fp` (found at `path` by a scan) is a parked file; follows a rename.
    pub(super) fn found(&mut self, path: &Path, fp: &Fingerprint) -> bool {
        let Some(p) = self
            .parked
            .iter_mut()
            .find(|p| p.fp.dev == fp.dev && p.fp.ino == fp.ino)
        else {
            return false;
        };
        if p.path != path {
            p.path_str = Arc::from(path.to_string_lossy().as_ref());
            p.path = path.to_path_buf();
        }
        true
    }

    /// Parked files.
    pub(super) fn len(&self) -> usize {
        self.parked.len()
    }

    /// Reopens parked files that grew (making room by parking quiet ones), parks the files
    /// idle longest while more than `max_open` are open, and releases parked files gone
    /// from their path for `close_after`.
    pub(super) fn balance(
        &mut self,
        files: &mut Vec<Tailed>,
        book: &CheckpointBook,
        source: &str,
        close_after: Duration,
    ) {
        let mut wanting = Vec::new();
        let mut gone = Vec::new();
        for p in &self.parked {
            match std::fs::metadata(&p.path) {
                Ok(m) if (m.dev(), m.ino()) == (p.fp.dev, p.fp.ino) => {
                    let grew = m.len() != p.size || p.read_pos < m.len();
                    if grew {
                        wanting.push(p.file_id);
                    }
                }
                _ if p.since.elapsed() >= close_after => gone.push(p.file_id),
                _ => {}
            }
        }
        for id in wanting {
            if files.len() >= self.max_open {
                let Some(v) = victim(files, QUIET) else {
                    if !self.warned {
                        self.warned = true;
                        tracing::warn!(source, max_open_files = self.max_open, "every open file is busy; files that grew wait for a descriptor (raise max_open_files)");
                    }
                    break;
                };
                let t = files.swap_remove(v);
                self.parked.push(park(t));
            }
            let Some(pos) = self.parked.iter().position(|p| p.file_id == id) else {
                continue;
            };
            match File::open(&self.parked[pos].path) {
                Ok(file) => {
                    let p = self.parked.swap_remove(pos);
                    files.push(unpark(p, file));
                    self.warned = false;
                }
                Err(e) => {
                    tracing::warn!(source, path = %self.parked[pos].path.display(), error = %e, "cannot reopen a parked file; will retry");
                }
            }
        }
        for id in gone {
            if let Some(pos) = self.parked.iter().position(|p| p.file_id == id) {
                let p = self.parked.swap_remove(pos);
                tracing::info!(source, path = %p.path.display(), "parked file gone from its path; released");
                book.release(p.file_id);
            }
        }
        self.enforce(files);
    }

    /// Parks files while more than `max_open` are open (drained ones first, then the ones
    /// quiet longest), so that opening a new file never goes past the bound.
    pub(super) fn enforce(&mut self, files: &mut Vec<Tailed>) {
        while files.len() > self.max_open {
            let Some(v) = victim(files, Duration::ZERO) else {
                break;
            };
            let t = files.swap_remove(v);
            self.parked.push(park(t));
        }
    }
}

/// The open file to park: not holding a record for continuation lines, quiet for at least
/// `quiet`; the one quiet longest (no system call per file: this runs for every file opened
/// past the bound).
fn victim(files: &[Tailed], quiet: Duration) -> Option<usize> {
    files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.joiner.is_holding() && f.last_data.elapsed() >= quiet)
        .min_by_key(|(_, f)| f.last_data)
        .map(|(i, _)| i)
}

fn park(t: Tailed) -> Parked {
    let size = t.file.metadata().map_or(0, |m| m.len());
    Parked {
        path: t.path,
        path_str: t.path_str,
        fp: t.fp,
        file_id: t.file_id,
        read_pos: t.read_pos,
        splitter: t.splitter,
        joiner: t.joiner,
        tracker: t.tracker,
        recent: t.recent,
        resume: t.resume,
        size,
        since: Instant::now(),
    }
}

fn unpark(p: Parked, file: File) -> Tailed {
    debug_assert!(p.recent.len() <= RECENT_BYTES);
    Tailed {
        path: p.path,
        path_str: p.path_str,
        file,
        fp: p.fp,
        file_id: p.file_id,
        read_pos: p.read_pos,
        splitter: p.splitter,
        joiner: p.joiner,
        tracker: p.tracker,
        // Counted as active from now, so that it is not the next to be parked before it
        // was read.
        last_data: Instant::now(),
        // Checked for truncation at once: the file may have been rewritten while parked.
        last_check: Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now),
        at_path: true,
        recent: p.recent,
        resume: p.resume,
        lines_per_read: 0,
    }
}
