//! JSON string escaping (RFC 8259 §7): `"`, `\` and control characters. Most audit text needs
//! none, and the rest needs little, so bytes are examined eight at a time (one `u64`), and only
//! the bytes that need an escape are visited.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `word` that is zero, and of no other byte (exact, unlike the
/// shorter test that may flag a byte above a zero one).
#[inline]
fn zero_bytes(word: u64) -> u64 {
    !(((word & LOW7) + LOW7) | word | LOW7)
}

/// The high bit of each byte of `word` (little-endian bytes of the text) that needs escaping.
#[inline]
pub(crate) fn flags(word: u64) -> u64 {
    let quote = zero_bytes(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_bytes(word ^ (ONES * u64::from(b'\\')));
    // Below 0x20: adding 0x60 to the low seven bits does not reach the high bit, and the byte
    // had none of its own.
    let control = !(((word & LOW7) + ONES * 0x60) | word) & HIGH;
    quote | backslash | control
}

/// The high bit of each byte of `word` that is `"`.
#[inline]
pub(crate) fn quotes(word: u64) -> u64 {
    zero_bytes(word ^ (ONES * u64::from(b'"')))
}

/// [`flags`] for text known to hold no control characters.
#[inline]
fn quote_or_backslash(word: u64) -> u64 {
    zero_bytes(word ^ (ONES * u64::from(b'"'))) | zero_bytes(word ^ (ONES * u64::from(b'\\')))
}

/// The flags of a short tail (under eight bytes), zero-padded; the padding is not flagged.
/// Built in a register: going through a buffer in memory costs a stalled load.
fn tail_flags(tail: &[u8]) -> u64 {
    if tail.is_empty() {
        return 0;
    }
    let w = tail
        .iter()
        .rev()
        .fold(0u64, |w, &b| (w << 8) | u64::from(b));
    flags(w) & (u64::MAX >> (8 * (8 - tail.len())))
}

/// A word of exactly eight bytes.
#[inline]
pub(crate) fn word(chunk: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(chunk);
    u64::from_le_bytes(buf)
}

/// Whether any byte of `bytes` needs escaping.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        // Four words at once, tested together: no branch per word.
        let any = block.chunks_exact(8).fold(0, |acc, w| acc | flags(word(w)));
        if any != 0 {
            return true;
        }
    }
    let mut words = blocks.remainder().chunks_exact(8);
    words.any(|w| flags(word(w)) != 0) || tail_flags(words.remainder()) != 0
}

/// Appends the escape sequence for a control character.
fn escape_control(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_json_body(s.as_bytes(), out);
    out.push(b'"');
}

/// Writes the inside of the JSON string literal of `bytes`, UTF-8 text (escaped, without the
/// quotes).
pub(crate) fn write_json_body(bytes: &[u8], out: &mut Vec<u8>) {
    // `run` is where the bytes not yet copied begin.
    let mut run = 0;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let mask = flags(word(w));
        if mask != 0 {
            run = escape_flagged(bytes, at, mask, run, out);
        }
        at += 8;
    }
    let mask = tail_flags(words.remainder());
    if mask != 0 {
        run = escape_flagged(bytes, at, mask, run, out);
    }
    out.extend_from_slice(&bytes[run..]);
}

/// Copies the text before each flagged byte of the word at `at` and escapes the byte; returns
/// where the bytes not yet copied begin.
fn escape_flagged(
    bytes: &[u8],
    at: usize,
    mut mask: u64,
    mut run: usize,
    out: &mut Vec<u8>,
) -> usize {
    while mask != 0 {
        let i = at + (mask.trailing_zeros() / 8) as usize;
        mask &= mask - 1;
        run = escape_at(bytes, i, run, out);
    }
    run
}

/// Copies `bytes[run..i]` and escapes byte `i`; returns where the bytes not yet copied begin.
// Measured: left to the compiler, it stays a call in the escape map's loop (6 % more
// instructions per SAP record).
#[allow(clippy::inline_always)]
#[inline(always)]
fn escape_at(bytes: &[u8], i: usize, run: usize, out: &mut Vec<u8>) -> usize {
    copy_run(bytes, run, i, out);
    let b = bytes[i];
    if b == b'"' || b == b'\\' {
        // A backslash now; the byte itself goes out with the next run.
        out.push(b'\\');
        i
    } else {
        escape_control(b, out);
        i + 1
    }
}

/// Appends `bytes[start..end]`. Runs between escapes and between a plan's values are mostly a
/// few bytes: when a block of sixteen (or thirty-two) bytes can be read from `start`, it is
/// copied whole, a fixed-size copy, and the surplus cut off, which is cheaper than a call to
/// `memcpy` for a short length.
#[inline]
pub(crate) fn copy_run(bytes: &[u8], start: usize, end: usize, out: &mut Vec<u8>) {
    let len = end - start;
    let copied = if len <= 16 {
        copy_block::<16>(bytes, start, len, out)
    } else {
        len <= 32 && copy_block::<32>(bytes, start, len, out)
    };
    if !copied {
        out.extend_from_slice(&bytes[start..end]);
    }
}

/// Appends `len` bytes from `start` by copying a block of `N` (`len <= N`); `false` when
/// `bytes` has no such block there.
#[inline]
fn copy_block<const N: usize>(bytes: &[u8], start: usize, len: usize, out: &mut Vec<u8>) -> bool {
    let Some(block) = bytes.get(start..start + N) else {
        return false;
    };
    let keep = out.len() + len;
    out.extend_from_slice(block);
    out.truncate(keep);
    true
}

/// Where the bytes that need escaping are in one text, found in one scan, so that the text and
/// every slice of it are then written without scanning again (an event's values are mostly
/// slices of its original line). One bit per byte of the text.
#[derive(Default)]
pub(crate) struct EscapeMap {
    bits: Vec<u64>,
    /// The text has control characters (escapes longer than one backslash).
    controls: bool,
}

impl EscapeMap {
    /// Maps `text`, forgetting the previous one.
    pub(crate) fn scan(&mut self, text: &[u8]) {
        self.bits.clear();
        self.bits.resize(text.len().div_ceil(64), 0);
        // Without control characters (a minimum the compiler computes many bytes at a time),
        // only quotes and backslashes need looking for.
        self.controls = text.iter().fold(u8::MAX, |low, &b| low.min(b)) < 0x20;
        if self.controls {
            self.fill(text, 0, flags);
        } else if let Some(first) = memchr::memchr2(b'"', b'\\', text) {
            // The bytes before the first quote or backslash need no looking at again: many
            // lines (Dogtag's, most plain-text logs) have none at all, and memchr finds that
            // with the CPU's widest vectors, where the word-at-a-time scan below took about
            // 700 instructions for a 283-byte line.
            self.fill(text, first / 32 * 32, quote_or_backslash);
        }
    }

    /// Maps `text` from byte `start` (a multiple of 32) on.
    fn fill(&mut self, text: &[u8], start: usize, flags: impl Fn(u64) -> u64) {
        // Blocks of four words with nothing to escape leave their bits as they are (zero).
        let mut blocks = text[start..].chunks_exact(32);
        let mut k = start / 8;
        for block in &mut blocks {
            let f: [u64; 4] = std::array::from_fn(|j| flags(word(&block[8 * j..8 * j + 8])));
            if f.iter().fold(0, |acc, x| acc | x) != 0 {
                // Four words are one half of a `u64` of bits.
                let half = f
                    .iter()
                    .enumerate()
                    .fold(0, |acc, (j, &x)| acc | (gather(x) << (8 * j)));
                self.bits[k / 8] |= half << (8 * (k % 8));
            }
            k += 4;
        }
        let mut words = blocks.remainder().chunks_exact(8);
        for w in &mut words {
            self.bits[k / 8] |= gather(flags(word(w))) << (8 * (k % 8));
            k += 1;
        }
        let tail = tail_flags(words.remainder());
        if tail != 0 {
            self.bits[k / 8] |= gather(tail) << (8 * (k % 8));
        }
    }

    /// Whether bytes `start..end` of the mapped text need no escaping.
    pub(crate) fn is_clean(&self, start: usize, end: usize) -> bool {
        if start >= end {
            return true;
        }
        let (first, last) = (start / 64, (end - 1) / 64);
        let mut dirty = 0;
        for (n, &bits) in self.bits[first..=last].iter().enumerate() {
            let w = first + n;
            let mut mask = u64::MAX;
            if w == first {
                mask &= u64::MAX << (start % 64);
            }
            if w == last {
                mask &= u64::MAX >> (63 - (end - 1) % 64);
            }
            dirty |= bits & mask;
        }
        dirty == 0
    }

    /// Writes the inside of the mapped text's JSON string literal (without the quotes).
    pub(crate) fn write_body(&self, text: &str, out: &mut Vec<u8>) {
        let bytes = text.as_bytes();
        if !self.controls {
            return self.write_quoted_body(bytes, out);
        }
        out.reserve(bytes.len() + 16);
        let mut run = 0;
        for (w, &bits) in self.bits.iter().enumerate() {
            let mut mask = bits;
            while mask != 0 {
                let i = w * 64 + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                run = escape_at(bytes, i, run, out);
            }
        }
        out.extend_from_slice(&bytes[run..]);
    }

    /// [`EscapeMap::write_body`] of a text whose escapes are all one backslash before a quote or
    /// a backslash (a JSON line has dozens of quotes): the output's length is known, so it is
    /// sized once and written by position, with no capacity check per piece.
    fn write_quoted_body(&self, bytes: &[u8], out: &mut Vec<u8>) {
        let extra: usize = self.bits.iter().map(|w| w.count_ones() as usize).sum();
        if extra == 0 {
            out.extend_from_slice(bytes);
            return;
        }
        let base = out.len();
        out.resize(base + bytes.len() + extra, 0);
        let dst = &mut out[base..];
        let (mut run, mut at) = (0, 0);
        for (w, &bits) in self.bits.iter().enumerate() {
            let mut mask = bits;
            while mask != 0 {
                let i = w * 64 + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                at = copy_into(bytes, run, i, dst, at);
                dst[at] = b'\\';
                at += 1;
                // The quote or backslash itself goes out with the next run.
                run = i;
            }
        }
        copy_into(bytes, run, bytes.len(), dst, at);
    }
}

/// Copies `bytes[start..end]` to `dst` at `at`; returns where it ends in `dst`. A short run is
/// copied as a block of sixteen bytes when both sides have them: the bytes past the run are
/// written again by what follows, as `dst` is written front to back to its end.
#[inline]
fn copy_into(bytes: &[u8], start: usize, end: usize, dst: &mut [u8], at: usize) -> usize {
    let len = end - start;
    if len <= 16 {
        if let (Some(src), Some(block)) = (bytes.get(start..start + 16), dst.get_mut(at..at + 16)) {
            block.copy_from_slice(src);
            return at + len;
        }
    }
    dst[at..at + len].copy_from_slice(&bytes[start..end]);
    at + len
}

/// The high bits of a word's eight bytes (as [`flags`] sets them) gathered into the low eight
/// bits, byte `i` to bit `i`: each flag is moved to the top byte at its own offset by one
/// multiplication, without carries (the partial products fall on distinct bits).
fn gather(flags: u64) -> u64 {
    ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn json_strings_round_trip(s in "\\PC*|[\"\\\\\u{0}-\u{1f}a-z]{0,40}|[\u{0}-\u{7f}é€😀]{0,100}|[a-z ]{20,140}[\"\\\\][a-z\"]{0,70}") {
            let mut out = Vec::new();
            write_json_str(&s, &mut out);
            let back: String = serde_json::from_slice(&out).unwrap();
            proptest::prop_assert_eq!(&back, &s);
            proptest::prop_assert_eq!(needs_escape(s.as_bytes()), out.len() != s.len() + 2);
            // The map writes the same, and knows which slices are clean.
            let mut map = EscapeMap::default();
            map.scan(s.as_bytes());
            let mut mapped = vec![b'"'];
            map.write_body(&s, &mut mapped);
            mapped.push(b'"');
            proptest::prop_assert_eq!(&mapped, &out);
            for (start, _) in s.char_indices().step_by(3) {
                for (end, _) in s[start..].char_indices().skip(1).step_by(2) {
                    let slice = &s.as_bytes()[start..start + end];
                    proptest::prop_assert_eq!(map.is_clean(start, start + end), !needs_escape(slice));
                }
            }
        }
    }

    #[test]
    fn control_characters_and_quotes_are_escaped() {
        let mut out = Vec::new();
        write_json_str("a\"b\\c\nd\u{1}e", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u0001e""#);
    }
}
