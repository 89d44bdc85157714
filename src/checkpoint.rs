//! Checkpoints: per file, the offset up to which every line has been acknowledged by every sink.
//!
//! Guarantee: the saved offset of a file only ever covers the longest *contiguous* prefix of
//! chunks whose events every sink settled as delivered or dead-lettered. A chunk that failed (or
//! was dropped unsettled) stops the offset for the rest of the run; after a restart reading
//! resumes at the saved offset, so unacknowledged lines are sent again (at-least-once; the
//! duplicates are exactly the unacknowledged window).
//!
//! The store is one JSON file in `data_dir`, replaced atomically: write a temporary file,
//! fsync it, rename it over the old one, fsync the directory. It carries a format version.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::ack::{AckReceiver, ChainStates};

/// Version of the checkpoint file format written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// Errors reading or writing the checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("checkpoint file {path}: {source}")]
    Io {
        /// The checkpoint file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint file this build understands.
    #[error("checkpoint file {path} is corrupt: {reason}")]
    Corrupt {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    Pending,
    Delivered,
    Failed,
}

/// The acknowledgement state of one file's chunks, in read order.
#[derive(Debug)]
pub struct FileTracker {
    acked: u64,
    /// The offset marker of `acked` (see [`Mark`]), once a chunk with one was folded in.
    acked_mark: Option<Mark>,
    next_seq: u64,
    /// Chunks not yet folded into `acked`: (seq, end offset, state, marker of the end), seq
    /// ascending.
    pending: VecDeque<(u64, u64, ChunkState, Option<Mark>)>,
    /// Chain states of completed chunks not yet folded, by seq.
    chained: Vec<(u64, ChainStates)>,
    /// The chain states at `acked` (those that moved since the tracker was made).
    acked_chain: ChainStates,
    /// Chunks of other trackers that stand for this file's bytes up to an offset: settled
    /// when this tracker's acknowledged offset reaches it (see [`FileTracker::follow`]).
    followers: Vec<(u64, Arc<Mutex<FileTracker>>, u64)>,
}

impl FileTracker {
    /// A tracker whose first chunk starts at `acked`.
    #[must_use]
    pub fn new(acked: u64) -> Self {
        Self {
            acked,
            acked_mark: None,
            next_seq: 0,
            pending: VecDeque::new(),
            chained: Vec::new(),
            acked_chain: ChainStates::new(),
            followers: Vec::new(),
        }
    }

    /// Settles chunk `seq` of `follower` once every byte of this file before `until` is
    /// acknowledged (delivered), or as failed once a failed chunk makes that impossible. A
    /// copy of a file (copytruncate) uses it: its checkpoint must not pass bytes that were
    /// read from the original but are still in flight, or a crash would lose them.
    pub fn follow(&mut self, until: u64, follower: Arc<Mutex<FileTracker>>, seq: u64) {
        self.followers.push((until, follower, seq));
        self.settle_followers();
    }

    fn settle_followers(&mut self) {
        if self.followers.is_empty() {
            return;
        }
        let acked = self.acked;
        // The first failed chunk holds `acked` below its start for the rest of the run.
        let blocked_at = self
            .pending
            .iter()
            .position(|p| p.2 == ChunkState::Failed)
            .map(|i| if i == 0 { acked } else { self.pending[i - 1].1 });
        self.followers.retain(|(until, follower, seq)| {
            let outcome = if acked >= *until {
                Some(true)
            } else if blocked_at.is_some_and(|b| b < *until) {
                Some(false)
            } else {
                None
            };
            match outcome {
                Some(delivered) => {
                    AckReceiver::complete(&**follower, *seq, delivered);
                    false
                }
                None => true,
            }
        });
    }

    /// Registers the next chunk, ending at byte `end`; returns its sequence number.
    pub fn register(&mut self, end: u64) -> u64 {
        self.register_marked(end, None)
    }

    /// Registers the next chunk, ending at byte `end`, with the marker of the bytes before
    /// `end`; returns its sequence number.
    pub fn register_marked(&mut self, end: u64, mark: Option<Mark>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending
            .push_back((seq, end, ChunkState::Pending, mark));
        seq
    }

    /// The marker of the acknowledged offset, when a chunk that carried one was folded in
    /// (`None`: the offset has not moved since the tracker was made, or its chunk had none).
    #[must_use]
    pub fn acked_mark(&self) -> Option<Mark> {
        self.acked_mark
    }

    /// Records the final status of chunk `seq` and advances over the delivered prefix.
    pub fn complete(&mut self, seq: u64, delivered: bool) {
        self.complete_chained(seq, delivered, None);
    }

    /// The chain states at the acknowledged offset (only chains that moved this run).
    #[must_use]
    pub fn acked_chain(&self) -> &ChainStates {
        &self.acked_chain
    }

    /// As [`Self::complete`], with the chain states after the chunk's events.
    pub fn complete_chained(&mut self, seq: u64, delivered: bool, chain: Option<ChainStates>) {
        // Behind a failed chunk the offset never moves this run: nothing to keep.
        let stuck = self
            .pending
            .front()
            .is_some_and(|p| p.2 == ChunkState::Failed);
        if let Some(chain) = chain.filter(|_| delivered && !stuck) {
            self.chained.push((seq, chain));
        }
        let Some(front) = self.pending.front().map(|p| p.0) else {
            return;
        };
        let Some(slot) = seq
            .checked_sub(front)
            .and_then(|i| self.pending.get_mut(i as usize))
        else {
            return;
        };
        slot.2 = if delivered {
            ChunkState::Delivered
        } else {
            ChunkState::Failed
        };
        while let Some(&(done, end, ChunkState::Delivered, mark)) = self.pending.front() {
            self.acked = end;
            self.acked_mark = mark;
            self.pending.pop_front();
            if let Some(i) = self.chained.iter().position(|(s, _)| *s == done) {
                let (_, states) = self.chained.swap_remove(i);
                self.acked_chain.extend(states);
            }
        }
        self.settle_followers();
    }

    /// The acknowledged offset: every byte before it was delivered.
    #[must_use]
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Whether a failed chunk holds the offset back for the rest of this run.
    #[must_use]
    pub fn is_stuck(&self) -> bool {
        self.pending.iter().any(|p| p.2 == ChunkState::Failed)
    }

    /// Chunks read but not yet acknowledged.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Forgets pending chunks and restarts at `offset` (the file was truncated).
    pub fn reset(&mut self, offset: u64) {
        self.pending.clear();
        self.chained.clear();
        self.acked = offset;
        self.acked_mark = None;
    }
}

impl AckReceiver for Mutex<FileTracker> {
    fn complete(&self, seq: u64, delivered: bool) {
        if let Ok(mut tracker) = self.lock() {
            tracker.complete(seq, delivered);
        }
    }

    fn complete_chained(&self, seq: u64, delivered: bool, chain: Option<ChainStates>) {
        if let Ok(mut tracker) = self.lock() {
            tracker.complete_chained(seq, delivered, chain);
        }
    }
}

/// The marker of an offset: (how many bytes before it, their hash). A file is the one a
/// checkpoint was saved for only if its head *and* the bytes just before the saved offset
/// match, so a file with the same first KiB (a common header) is never taken for another.
pub type Mark = (u32, u64);

/// One file's saved position, with the identity that lets a restart find the file again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheckpoint {
    /// Stable id of the file's content at its inode (used in event ids).
    pub file_id: u64,
    /// The path the file had when last seen (informational; identity is below).
    pub path: String,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Bytes of the head that were hashed.
    pub head_len: u32,
    /// Hash of the head.
    pub head_hash: u64,
    /// Acknowledged offset: every byte before it was delivered.
    pub offset: u64,
    /// How many bytes before `offset` the marker covers (up to 1 KiB; 0: no marker, as in
    /// files written before markers existed, or at offset 0).
    #[serde(default)]
    pub mark_len: u32,
    /// Hash of those bytes: the file continues where it was left only if they still match.
    #[serde(default)]
    pub mark_hash: u64,
    /// When this entry was last updated (epoch ms); old entries are pruned.
    pub updated_ms: i64,
    /// Where each `chain` transform's hash chain of this file stands at `offset`.
    #[serde(default, skip_serializing_if = "ChainStates::is_empty")]
    pub chain: ChainStates,
}

/// The saved positions of one source's files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoints {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// One entry per file identity.
    pub files: Vec<FileCheckpoint>,
}

/// Live trackers and saved entries of one source, saved together.
///
/// The reader registers a tracker per open file; [`CheckpointBook::save`] folds each tracker's
/// acknowledged offset into its entry and writes the file. Detached trackers (of a file that
/// was truncated) are kept until their in-flight chunks settle.
#[derive(Debug)]
pub struct CheckpointBook {
    store: CheckpointStore,
    /// False for a source whose checkpoints live elsewhere (a Kafka group's offsets).
    persist: bool,
    state: Mutex<BookState>,
    /// When the checkpoints were last written (epoch ms; 0: not yet).
    saved_ms: std::sync::atomic::AtomicI64,
}

#[derive(Debug, Default)]
struct BookState {
    entries: Vec<FileCheckpoint>,
    live: Vec<(u64, std::sync::Arc<Mutex<FileTracker>>)>,
}

/// Entries not updated for this long are dropped when saving.
pub const RETENTION_MS: i64 = 14 * 24 * 3600 * 1000;

impl CheckpointBook {
    /// A book over `store`, starting from `loaded` entries.
    #[must_use]
    pub fn new(store: CheckpointStore, loaded: Vec<FileCheckpoint>) -> Self {
        Self {
            store,
            state: Mutex::new(BookState {
                entries: loaded,
                live: Vec::new(),
            }),
            persist: true,
            saved_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// A book with no files that never writes: for a source that keeps its checkpoints
    /// elsewhere (a Kafka consumer group's committed offsets).
    #[must_use]
    pub fn empty(data_dir: &Path, name: &str) -> Self {
        Self {
            persist: false,
            ..Self::new(CheckpointStore::new(data_dir, name), Vec::new())
        }
    }

    /// When the checkpoints were last written, in epoch ms (`None` before the first save).
    #[must_use]
    pub fn saved_ms(&self) -> Option<i64> {
        let ms = self.saved_ms.load(std::sync::atomic::Ordering::Relaxed);
        (ms > 0).then_some(ms)
    }

    /// The saved entries (as of the last fold).
    #[must_use]
    pub fn entries(&self) -> Vec<FileCheckpoint> {
        self.state
            .lock()
            .map(|s| s.entries.clone())
            .unwrap_or_default()
    }

    /// Adds or replaces the entry for `entry.file_id` and tracks its offset with `tracker`.
    pub fn track(&self, entry: FileCheckpoint, tracker: std::sync::Arc<Mutex<FileTracker>>) {
        if let Ok(mut s) = self.state.lock() {
            let id = entry.file_id;
            match s.entries.iter_mut().find(|e| e.file_id == id) {
                Some(e) => *e = entry,
                None => s.entries.push(entry),
            }
            s.live.push((id, tracker));
        }
    }

    /// Updates the identity fields of an entry (the file was renamed, or its head grew).
    pub fn update_identity(&self, file_id: u64, path: &str, head_len: u32, head_hash: u64) {
        if let Ok(mut s) = self.state.lock() {
            if let Some(e) = s.entries.iter_mut().find(|e| e.file_id == file_id) {
                path.clone_into(&mut e.path);
                e.head_len = head_len;
                e.head_hash = head_hash;
            }
        }
    }

    /// Stops tracking `file_id` once its tracker has nothing in flight.
    pub fn release(&self, file_id: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.live
                .retain(|(id, t)| *id != file_id || t.lock().is_ok_and(|t| t.in_flight() > 0));
        }
    }

    /// Folds live offsets into the entries and writes the checkpoint file.
    pub fn save(&self) -> Result<(), CheckpointError> {
        if !self.persist {
            return Ok(());
        }
        let snapshot = {
            let Ok(mut s) = self.state.lock() else {
                return Ok(());
            };
            let now = crate::time::now_ms();
            let live: Vec<(u64, u64, Option<Mark>, ChainStates)> = s
                .live
                .iter()
                .filter_map(|(id, t)| {
                    t.lock()
                        .ok()
                        .map(|t| (*id, t.acked(), t.acked_mark(), t.acked_chain().clone()))
                })
                .collect();
            for (id, acked, mark, chain) in live {
                if let Some(e) = s.entries.iter_mut().find(|e| e.file_id == id) {
                    if e.offset != acked {
                        e.offset = acked;
                        // An offset without its marker is saved without one (never with
                        // the marker of another offset).
                        (e.mark_len, e.mark_hash) = mark.unwrap_or((0, 0));
                    }
                    // Chains that moved; the others stay where the checkpoint had them.
                    e.chain.extend(chain);
                    e.updated_ms = now;
                }
            }
            s.entries.retain(|e| now - e.updated_ms < RETENTION_MS);
            Checkpoints {
                version: FORMAT_VERSION,
                files: s.entries.clone(),
            }
        };
        self.store.save(&snapshot)?;
        self.saved_ms
            .store(crate::time::now_ms(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Whether every tracked chunk has settled.
    #[must_use]
    pub fn is_settled(&self) -> bool {
        self.state.lock().is_ok_and(|s| {
            s.live
                .iter()
                .all(|(_, t)| t.lock().is_ok_and(|t| t.in_flight() == 0 || t.is_stuck()))
        })
    }

    /// The store behind this book.
    #[must_use]
    pub fn store(&self) -> &CheckpointStore {
        &self.store
    }
}

/// The checkpoint file of one source in `data_dir`.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    /// The store for source `name` under `data_dir`.
    #[must_use]
    pub fn new(data_dir: &Path, name: &str) -> Self {
        Self {
            path: data_dir.join("checkpoints").join(format!("{name}.json")),
        }
    }

    /// Where the checkpoint file lives.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the checkpoints; `Ok(None)` when there is no file yet.
    pub fn load(&self) -> Result<Option<Checkpoints>, CheckpointError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let parsed: Checkpoints =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if parsed.version != FORMAT_VERSION {
            return Err(CheckpointError::Corrupt {
                path: self.path.clone(),
                reason: format!("format version {} is not {FORMAT_VERSION}", parsed.version),
            });
        }
        Ok(Some(parsed))
    }

    /// Replaces the checkpoint file atomically (temp file, fsync, rename, fsync directory).
    pub fn save(&self, checkpoints: &Checkpoints) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut body =
            serde_json::to_vec_pretty(checkpoints).map_err(|e| io(std::io::Error::other(e)))?;
        body.push(b'\n');
        {
            let mut file = private_file(&tmp).map_err(io)?;
            file.write_all(&body).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }

    /// Moves a corrupt checkpoint file aside (`.corrupt-<ms>`) so it can be inspected.
    pub fn quarantine(&self) -> Result<PathBuf, CheckpointError> {
        let aside = self
            .path
            .with_extension(format!("json.corrupt-{}", crate::time::now_ms()));
        std::fs::rename(&self.path, &aside).map_err(|source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(aside)
    }
}

/// Creates (or truncates) `path` readable and writable by the owner only, whatever the umask:
/// checkpoints name the audit files read, dead letters hold audit events.
pub fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offset_moves_only_over_the_contiguous_delivered_prefix() {
        let mut t = FileTracker::new(0);
        let a = t.register(100);
        let b = t.register(200);
        let c = t.register(300);
        t.complete(b, true);
        assert_eq!(t.acked(), 0, "chunk a is still pending");
        t.complete(a, true);
        assert_eq!(t.acked(), 200);
        t.complete(c, true);
        assert_eq!(t.acked(), 300);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_copy_passes_the_originals_in_flight_bytes_only_once_they_are_delivered() {
        let mut original = FileTracker::new(0);
        let first = original.register(100);
        let second = original.register(200);
        let copy = Arc::new(Mutex::new(FileTracker::new(0)));
        let stand_in = copy.lock().unwrap().register(200);
        let own = copy.lock().unwrap().register(300);
        original.follow(200, copy.clone(), stand_in);
        copy.lock().unwrap().complete(own, true);
        assert_eq!(
            copy.lock().unwrap().acked(),
            0,
            "the original's bytes are in flight"
        );
        original.complete(first, true);
        assert_eq!(copy.lock().unwrap().acked(), 0);
        original.complete(second, true);
        assert_eq!(copy.lock().unwrap().acked(), 300);

        // A failed chunk of the original holds the copy too (re-read after a restart).
        let mut original = FileTracker::new(0);
        let lost = original.register(100);
        let copy = Arc::new(Mutex::new(FileTracker::new(0)));
        let stand_in = copy.lock().unwrap().register(100);
        original.follow(100, copy.clone(), stand_in);
        original.complete(lost, false);
        assert!(copy.lock().unwrap().is_stuck());
        assert_eq!(copy.lock().unwrap().acked(), 0);
    }

    #[test]
    fn a_failed_chunk_holds_the_offset() {
        let mut t = FileTracker::new(50);
        let a = t.register(100);
        let b = t.register(200);
        t.complete(a, false);
        t.complete(b, true);
        assert_eq!(t.acked(), 50);
        assert!(t.is_stuck());
    }

    #[test]
    fn store_round_trips_and_rejects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), "tps");
        assert_eq!(store.load().unwrap(), None);
        let entry = FileCheckpoint {
            file_id: u64::MAX - 3,
            path: "/var/log/a".into(),
            dev: 1,
            ino: 2,
            head_len: 10,
            head_hash: 99,
            offset: 42,
            mark_len: 42,
            mark_hash: 7,
            updated_ms: crate::time::now_ms(),
            chain: ChainStates::new(),
        };
        let book = CheckpointBook::new(store.clone(), vec![]);
        let tracker = std::sync::Arc::new(Mutex::new(FileTracker::new(42)));
        book.track(entry.clone(), tracker.clone());
        let seq = tracker
            .lock()
            .unwrap()
            .register_marked(100, Some((100, 1234)));
        book.save().unwrap();
        let before = &store.load().unwrap().unwrap().files[0];
        assert_eq!(
            (before.offset, before.mark_len, before.mark_hash),
            (42, 42, 7)
        );
        tracker.lock().unwrap().complete(seq, true);
        book.save().unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.files[0].offset, 100);
        assert_eq!(
            (loaded.files[0].mark_len, loaded.files[0].mark_hash),
            (100, 1234),
            "the marker moves with its offset"
        );
        // Files written before markers existed still load (no marker: not checked).
        let old = r#"{"version":1,"files":[{"file_id":1,"path":"p","dev":1,"ino":2,"head_len":3,"head_hash":4,"offset":5,"updated_ms":6}]}"#;
        std::fs::write(store.path(), old).unwrap();
        assert_eq!(store.load().unwrap().unwrap().files[0].mark_len, 0);
        assert_eq!(loaded.files[0].file_id, u64::MAX - 3);
        std::fs::write(store.path(), b"{not json").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("is corrupt"), "{err}");
        let aside = store.quarantine().unwrap();
        assert!(aside.exists());
        assert_eq!(store.load().unwrap(), None);
    }

    proptest! {
        #[test]
        fn checkpoint_is_longest_contiguous_acknowledged_prefix(
            order in Just((0..20u64).collect::<Vec<_>>()).prop_shuffle(),
            cut in 0usize..=20,
        ) {
            let mut t = FileTracker::new(0);
            for i in 0..20u64 {
                t.register((i + 1) * 10);
            }
            let acked: Vec<u64> = order[..cut].to_vec();
            for &seq in &acked {
                t.complete(seq, true);
            }
            let mut prefix = 0;
            while acked.contains(&prefix) {
                prefix += 1;
            }
            prop_assert_eq!(t.acked(), prefix * 10);
        }
    }

    #[test]
    fn chain_states_are_kept_only_up_to_the_acknowledged_offset() {
        let state = |seq: u64| {
            let mut m = ChainStates::new();
            m.insert(
                "seal".into(),
                crate::ack::ChainState {
                    seq,
                    hash: format!("h{seq}"),
                },
            );
            Some(m)
        };
        let mut t = FileTracker::new(0);
        let (a, b, c) = (t.register(10), t.register(20), t.register(30));
        t.complete_chained(b, true, state(2));
        assert!(t.acked_chain().is_empty(), "b is not acknowledged before a");
        t.complete_chained(a, true, state(1));
        assert_eq!(t.acked(), 20);
        assert_eq!(t.acked_chain()["seal"].seq, 2);
        t.complete_chained(c, false, state(3));
        assert_eq!(
            t.acked_chain()["seal"].seq,
            2,
            "a failed chunk's state is never kept"
        );
    }
}
