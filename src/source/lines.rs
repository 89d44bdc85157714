//! Line framing: a line is yielded only once its LF is read; records join continuation lines.
//!
//! Invariants: a trailing CR is stripped; a partial last line is held (never shipped, never
//! checkpointed) until its LF arrives; a line longer than `max_line_bytes` is cut at that
//! length, flagged as truncated and shipped (the rest up to the LF is skipped, never dropped
//! silently); invalid UTF-8 is replaced with U+FFFD and flagged. Line offsets are absolute file
//! offsets, so a record's byte range maps straight to a checkpoint.

use crate::parse::Parser;

/// One complete line, or a record of several lines joined by `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The text (terminators removed; continuation lines joined with `\n`).
    pub text: String,
    /// File offset of the first byte of the first line.
    pub offset: u64,
    /// File offset just past the last line's LF.
    pub end: u64,
    /// A line was longer than the limit and was cut.
    pub truncated: bool,
    /// Invalid UTF-8 was replaced.
    pub invalid_utf8: bool,
    /// The last line had no LF (shipped only when the file will not grow again).
    pub partial: bool,
    /// When its first line was read, epoch ms (0: not stamped; the parse time is used).
    pub read_at: i64,
    /// The document id an earlier hop gave it (a Kafka message's `auditship.id` header).
    pub id: Option<Box<str>>,
    /// What the parser learned reading the start of the first line when it asked whether the
    /// line begins a record ([`Parser::record_start`]), handed back to it with the record; 0:
    /// nothing.
    pub start: u64,
}

/// A line's bytes as text; invalid UTF-8 is replaced (and said so). The bytes are checked
/// where they lie (`simdutf8`, with the CPU's widest vectors; the standard check took about
/// 200 instructions for a 283-byte line), then copied once into the text.
fn decode(raw: &[u8]) -> (String, bool) {
    match simdutf8::basic::from_utf8(raw) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (String::from_utf8_lossy(raw).into_owned(), true),
    }
}

/// Splits a byte stream into lines, across reads of any size.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// File offset of `partial[0]`.
    partial_offset: u64,
    /// Bytes of the current line beyond the limit, skipped.
    skipped: usize,
    /// The current line exceeded the limit.
    overflow: bool,
    max_line_bytes: usize,
}

impl LineSplitter {
    /// A splitter whose next byte is at file offset `offset`.
    #[must_use]
    pub fn new(offset: u64, max_line_bytes: usize) -> Self {
        Self {
            partial: Vec::new(),
            partial_offset: offset,
            skipped: 0,
            overflow: false,
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    /// File offset of the first byte not yet part of a yielded line.
    #[must_use]
    pub fn pending_offset(&self) -> u64 {
        self.partial_offset
    }

    /// Bytes of an incomplete last line held back.
    #[must_use]
    pub fn pending_len(&self) -> usize {
        self.partial.len()
    }

    /// Feeds `bytes` (the next bytes of the file) and appends each completed line to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Record>) {
        let mut rest = bytes;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(nl);
            if self.partial.is_empty() && self.skipped == 0 && line.len() <= self.max_line_bytes {
                // A whole line in this read: its text is made from the read's bytes at once.
                out.push(self.whole_line(line));
                rest = &tail[1..];
                continue;
            }
            self.push_bytes(line);
            let end = self.partial_offset + self.partial_len_total() as u64 + 1;
            // Taken, not cleared: a held line's buffer (up to `max_line_bytes`) is not kept.
            let raw = std::mem::take(&mut self.partial);
            let line = match raw.strip_suffix(b"\r") {
                Some(line) if !self.overflow => line,
                _ => &raw[..],
            };
            let (text, invalid_utf8) = decode(line);
            out.push(self.emit(text, invalid_utf8, end, false));
            rest = &tail[1..];
        }
        self.push_bytes(rest);
    }

    /// The record of `line`, read whole (no bytes held before it, within the limit).
    fn whole_line(&mut self, line: &[u8]) -> Record {
        let end = self.partial_offset + line.len() as u64 + 1;
        let (text, invalid_utf8) = decode(line.strip_suffix(b"\r").unwrap_or(line));
        self.emit(text, invalid_utf8, end, false)
    }

    /// The record of `text` from the held offset to `end`, with the current line's cut flag;
    /// the splitter then starts a new line at `end`.
    fn emit(&mut self, text: String, invalid_utf8: bool, end: u64, partial: bool) -> Record {
        let record = Record {
            text,
            offset: self.partial_offset,
            end,
            truncated: self.overflow,
            invalid_utf8,
            partial,
            read_at: 0,
            id: None,
            start: 0,
        };
        self.partial_offset = end;
        self.skipped = 0;
        self.overflow = false;
        record
    }

    fn partial_len_total(&self) -> usize {
        self.partial.len() + self.skipped
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        let room = self.max_line_bytes.saturating_sub(self.partial.len());
        if bytes.len() <= room {
            self.partial.extend_from_slice(bytes);
        } else {
            self.partial.extend_from_slice(&bytes[..room]);
            self.skipped += bytes.len() - room;
            self.overflow = true;
        }
    }

    /// Takes the held partial line (for a file that will not grow again, e.g. rotated away),
    /// flagged as incomplete by the caller.
    pub fn take_partial(&mut self) -> Option<Record> {
        if self.partial.is_empty() && self.skipped == 0 {
            return None;
        }
        let end = self.partial_offset + self.partial_len_total() as u64;
        let (text, invalid_utf8) = decode(&std::mem::take(&mut self.partial));
        Some(self.emit(text, invalid_utf8, end, true))
    }
}

/// Joins continuation lines to the record they continue, up to `max_bytes` of text: a record
/// that would grow past it is shipped as it is, flagged as truncated, and the lines after it
/// start a new piece (flagged too), so memory stays bounded and no line is dropped.
#[derive(Debug)]
pub struct RecordJoiner {
    held: Option<Record>,
    max_bytes: usize,
}

impl Default for RecordJoiner {
    fn default() -> Self {
        Self::new(usize::MAX)
    }
}

impl RecordJoiner {
    /// A joiner whose records hold at most `max_bytes` of text (`max_line_bytes`).
    #[must_use]
    pub fn new(max_bytes: usize) -> Self {
        Self {
            held: None,
            max_bytes: max_bytes.max(1),
        }
    }

    /// Adds `line`; `starts` says whether it begins a new record. Completed records go to
    /// `out`. The last record is held until the next record begins or [`Self::flush`].
    pub fn push(&mut self, mut line: Record, starts: bool, out: &mut Vec<Record>) {
        match (&mut self.held, starts) {
            (Some(held), false) if held.text.len() + 1 + line.text.len() <= self.max_bytes => {
                held.text.push('\n');
                held.text.push_str(&line.text);
                held.end = line.end;
                held.truncated |= line.truncated;
                held.invalid_utf8 |= line.invalid_utf8;
                held.partial |= line.partial;
            }
            (held @ Some(_), false) => {
                // Over the cap: ship what is held and continue in a new piece.
                if let Some(mut done) = held.take() {
                    done.truncated = true;
                    out.push(done);
                }
                line.truncated = true;
                *held = Some(line);
            }
            (held, _) => {
                if let Some(done) = held.replace(line) {
                    out.push(done);
                }
            }
        }
    }

    /// Adds `line` as [`Self::push`] does, `parser` saying whether it begins a record, and
    /// releases it at once when it begins one that nothing can continue
    /// ([`Parser::is_whole`]: a JSON object on one line).
    pub fn push_parsed(&mut self, mut line: Record, parser: &dyn Parser, out: &mut Vec<Record>) {
        let start = parser.record_start(&line.text);
        let starts = start.is_some();
        line.start = start.unwrap_or(0);
        let whole = starts && parser.is_whole(&line.text);
        self.push(line, starts, out);
        if whole {
            self.flush(out);
        }
    }

    /// Whether a record is held that `parser` says ends the way a whole record ends
    /// ([`Parser::looks_whole`]).
    #[must_use]
    pub fn holds_whole_looking(&self, parser: &dyn Parser) -> bool {
        self.held
            .as_ref()
            .is_some_and(|r| parser.looks_whole(&r.text))
    }

    /// Releases the held record.
    pub fn flush(&mut self, out: &mut Vec<Record>) {
        if let Some(done) = self.held.take() {
            out.push(done);
        }
    }

    /// Whether a record is held.
    #[must_use]
    pub fn is_holding(&self) -> bool {
        self.held.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_all(chunks: &[&[u8]], max: usize) -> (Vec<Record>, LineSplitter) {
        let mut s = LineSplitter::new(0, max);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut out);
        }
        (out, s)
    }

    #[test]
    fn partial_line_is_held_until_newline() {
        let (out, s) = split_all(&[b"one\ntw", b"o"], 1024);
        assert_eq!(out.len(), 1);
        assert_eq!(s.pending_len(), 3);
        assert_eq!(s.pending_offset(), 4);
        let (out, _) = split_all(&[b"one\ntw", b"o\n"], 1024);
        assert_eq!(out[1].text, "two");
        assert_eq!((out[1].offset, out[1].end), (4, 8));
    }

    #[test]
    fn crlf_is_stripped_and_offsets_count_it() {
        let (out, _) = split_all(&[b"a\r\nb\n"], 1024);
        assert_eq!(out[0].text, "a");
        assert_eq!(out[0].end, 3);
        assert_eq!(out[1].offset, 3);
    }

    #[test]
    fn long_lines_are_truncated_and_flagged_not_dropped() {
        let (out, _) = split_all(&[b"abcdefgh", b"ij\nok\n"], 4);
        assert_eq!(out[0].text, "abcd");
        assert!(out[0].truncated);
        assert_eq!(out[0].end, 11);
        assert_eq!(out[1].text, "ok");
        assert!(!out[1].truncated);
        assert_eq!(out[1].offset, 11);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_flagged() {
        let (out, _) = split_all(&[b"a\xffb\n"], 1024);
        assert_eq!(out[0].text, "a\u{fffd}b");
        assert!(out[0].invalid_utf8);
    }

    #[test]
    fn continuation_lines_join_the_record_they_follow() {
        let (lines, _) = split_all(&[b"2025 start\n  at x\n  at y\n2025 next\n"], 1024);
        let mut j = RecordJoiner::default();
        let mut out = Vec::new();
        for line in lines {
            let starts = line.text.starts_with("2025");
            j.push(line, starts, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].text, "2025 start\n  at x\n  at y");
        assert_eq!((out[0].offset, out[0].end), (0, 25));
        j.flush(&mut out);
        assert_eq!(out[1].text, "2025 next");
    }

    #[test]
    fn a_record_over_the_cap_is_shipped_in_flagged_pieces_and_no_line_is_lost() {
        let mut j = RecordJoiner::new(20);
        let mut out = Vec::new();
        let line = |text: &str, offset: u64| Record {
            text: text.to_owned(),
            offset,
            end: offset + text.len() as u64 + 1,
            truncated: false,
            invalid_utf8: false,
            partial: false,
            read_at: 0,
            id: None,
            start: 0,
        };
        j.push(line("head", 0), true, &mut out);
        let mut offset = 5;
        for i in 0..10 {
            let text = format!("  cont {i}");
            j.push(line(&text, offset), false, &mut out);
            offset += text.len() as u64 + 1;
        }
        j.flush(&mut out);
        assert!(
            out.iter().all(|r| r.text.len() <= 20 && r.truncated),
            "{out:?}"
        );
        let joined: Vec<&str> = out.iter().flat_map(|r| r.text.split('\n')).collect();
        let mut expected = vec!["head".to_owned()];
        expected.extend((0..10).map(|i| format!("  cont {i}")));
        assert_eq!(joined, expected);
        // Pieces cover the bytes in order, without gaps.
        for pair in out.windows(2) {
            assert_eq!(pair[0].end, pair[1].offset);
        }
        assert_eq!(out.last().unwrap().end, offset);
    }

    proptest! {
        #[test]
        fn line_splitting_is_independent_of_chunking(
            data in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), Just(0xffu8), any::<u8>()], 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..20),
        ) {
            let (whole, w) = split_all(&[&data], 64);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            points.push(0);
            points.push(data.len());
            points.sort_unstable();
            let pieces: Vec<&[u8]> = points.windows(2).map(|p| &data[p[0]..p[1]]).collect();
            let (chunked, c) = split_all(&pieces, 64);
            prop_assert_eq!(whole, chunked);
            prop_assert_eq!(w.pending_offset(), c.pending_offset());
        }
    }
}
