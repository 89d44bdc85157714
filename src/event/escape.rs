//! JSON string escaping (RFC 8259 §7): `"`, `\` and control characters. Most audit text needs
//! none, so every routine here first finds out, sixteen bytes at a time, whether it must.

/// Bit set for a byte that needs escaping.
fn flag(b: u8) -> u8 {
    u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\')
}

/// Whether any byte of a block needs escaping. No branches inside a block, so that the
/// compiler turns it into a few vector compares.
fn block_flags(block: &[u8]) -> u8 {
    block.iter().fold(0u8, |acc, &b| acc | flag(b))
}

/// Whether any byte of `bytes` needs escaping.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        if block_flags(block) != 0 {
            return true;
        }
    }
    let tail = blocks.remainder();
    if tail.is_empty() {
        return false;
    }
    if bytes.len() >= 16 {
        // The last sixteen bytes, overlapping the blocks already checked.
        return block_flags(&bytes[bytes.len() - 16..]) != 0;
    }
    tail.iter().any(|&b| flag(b) != 0)
}

/// Appends the escape sequence for `b` (a byte that needs one).
fn escape_byte(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        }
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    if needs_escape(bytes) {
        let mut run = 0;
        for (n, block) in bytes.chunks(16).enumerate() {
            // One bit per byte that needs escaping; visit only those.
            let mut mask = block
                .iter()
                .enumerate()
                .fold(0u32, |m, (j, &b)| m | (u32::from(flag(b)) << j));
            while mask != 0 {
                let at = n * 16 + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                out.extend_from_slice(&bytes[run..at]);
                escape_byte(bytes[at], out);
                run = at + 1;
            }
        }
        out.extend_from_slice(&bytes[run..]);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn json_strings_round_trip(s in "\\PC*|[\"\\\\\u{0}-\u{1f}a-z]{0,40}") {
            let mut out = Vec::new();
            write_json_str(&s, &mut out);
            let back: String = serde_json::from_slice(&out).unwrap();
            proptest::prop_assert_eq!(&back, &s);
            proptest::prop_assert_eq!(needs_escape(s.as_bytes()), out.len() != s.len() + 2);
        }
    }

    #[test]
    fn control_characters_and_quotes_are_escaped() {
        let mut out = Vec::new();
        write_json_str("a\"b\\c\nd\u{1}e", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u0001e""#);
    }
}
