//! File identity: device + inode, checked against a checksum of the file's first bytes.
//!
//! The inode alone is not enough (inodes are reused after deletion), and content alone is not
//! enough (two logs can start with the same line). A file is "the same file" when its device
//! and inode match *and* its first `head_len` bytes still hash to the recorded value. Files
//! shorter than [`HEAD_BYTES`] are fingerprinted over what they have; the head grows with them
//! (there is no blind spot for small files). A different inode whose full head matches a file
//! that no longer holds that content is a *copy* of it (copytruncate rotation).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// Bytes of the head that identify a file's content.
pub const HEAD_BYTES: usize = 1024;

/// The identity of a file as last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// How many head bytes were hashed (at most [`HEAD_BYTES`]).
    pub head_len: u32,
    /// FNV-1a hash of those bytes.
    pub head_hash: u64,
}

impl Fingerprint {
    /// Fingerprints an open file.
    pub fn of(file: &File) -> io::Result<Self> {
        let meta = file.metadata()?;
        let len = usize::try_from(meta.len())
            .unwrap_or(usize::MAX)
            .min(HEAD_BYTES);
        let head = read_head(file, len)?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            head_len: head.len() as u32,
            head_hash: fnv1a(&head),
        })
    }

    /// Whether `file` still starts with the bytes this fingerprint hashed.
    pub fn head_matches(&self, file: &File) -> io::Result<bool> {
        let head = read_head(file, self.head_len as usize)?;
        Ok(head.len() == self.head_len as usize && fnv1a(&head) == self.head_hash)
    }

    /// Whether the full head was hashed (content identity is reliable).
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.head_len as usize == HEAD_BYTES
    }

    /// A stable id for this file's content at this inode, for event ids and checkpoints.
    #[must_use]
    pub fn file_id(&self) -> u64 {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.dev.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.ino.to_le_bytes());
        bytes[16..].copy_from_slice(&self.head_hash.to_le_bytes());
        fnv1a(&bytes)
    }
}

/// Bytes before an offset that its marker covers (at most).
pub const MARK_BYTES: u64 = 1024;

/// The marker of `offset` in `bytes`, the file's bytes that end at `end` (`end >= offset`):
/// `None` when `bytes` do not reach back far enough.
#[must_use]
pub fn mark_in(bytes: &[u8], end: u64, offset: u64) -> Option<crate::checkpoint::Mark> {
    let len = offset.min(MARK_BYTES);
    let back = end.checked_sub(offset)? + len;
    let start = (bytes.len() as u64).checked_sub(back)? as usize;
    let slice = &bytes[start..start + len as usize];
    Some((len as u32, fnv1a(slice)))
}

/// The marker of `offset` read from `file`: `None` when the file is shorter than `offset`.
pub fn mark_of(file: &File, offset: u64) -> io::Result<Option<crate::checkpoint::Mark>> {
    let len = offset.min(MARK_BYTES);
    let mut buf = vec![0u8; len as usize];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset - len + filled as u64) {
            Ok(0) => return Ok(None),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some((len as u32, fnv1a(&buf))))
}

/// Whether the bytes of `file` before `offset` match `mark` (a marker of length 0 matches:
/// nothing was recorded).
#[must_use]
pub fn mark_matches(file: &File, offset: u64, mark: crate::checkpoint::Mark) -> bool {
    if mark.0 == 0 {
        return true;
    }
    if u64::from(mark.0) != offset.min(MARK_BYTES) {
        return false;
    }
    matches!(mark_of(file, offset), Ok(Some(m)) if m == mark)
}

/// Reads up to `len` bytes from the start of `file` (fewer if it is shorter).
pub fn read_head(file: &File, len: usize) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut head[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok(head)
}

/// FNV-1a, 64 bit: stable across builds, which the checkpoint file needs.
#[must_use]
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_continue(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a over `bytes`, continuing from `hash` (hashing a concatenation without building it).
#[must_use]
pub fn fnv1a_continue(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn small_files_are_fingerprinted_and_their_head_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"hello\n").unwrap();
        let f = File::open(&path).unwrap();
        let fp = Fingerprint::of(&f).unwrap();
        assert_eq!(fp.head_len, 6);
        assert!(!fp.is_full());
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[b'x'; 2000])
            .unwrap();
        assert!(fp.head_matches(&f).unwrap(), "appending keeps the head");
        let grown = Fingerprint::of(&f).unwrap();
        assert!(grown.is_full());
        assert_eq!((grown.dev, grown.ino), (fp.dev, fp.ino));
    }

    #[test]
    fn markers_read_from_memory_and_from_the_file_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let f = File::open(&path).unwrap();
        for offset in [0, 1, 100, 1024, 1025, 3000, 5000] {
            let from_file = mark_of(&f, offset).unwrap();
            // The last 4 KiB read, ending at byte 5000.
            let recent = &bytes[1000..];
            let from_memory = mark_in(recent, 5000, offset);
            if offset >= 1000 + offset.min(MARK_BYTES) {
                assert_eq!(from_memory, from_file, "{offset}");
            } else {
                assert_eq!(from_memory, None, "{offset}: not in memory");
            }
            assert!(mark_matches(&f, offset, from_file.unwrap()));
        }
        assert_eq!(mark_of(&f, 5001).unwrap(), None, "beyond the end");
        let other = mark_of(&f, 3001).unwrap().unwrap();
        assert!(!mark_matches(&f, 3000, other));
    }

    #[test]
    fn rewritten_head_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"first line\n").unwrap();
        let f = File::open(&path).unwrap();
        let fp = Fingerprint::of(&f).unwrap();
        std::fs::write(&path, b"other line\n").unwrap();
        assert!(!fp.head_matches(&f).unwrap());
    }
}
