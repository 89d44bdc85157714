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
