//! A request body written event by event, gzip-compressed as it grows when asked: the whole
//! uncompressed body never exists at once, so a compressed request holds about its compressed
//! size in memory rather than both sizes. gzip levels 0 to 3 are ISA-L's igzip (`isal-rs`, built
//! from its bundled source), about twice as fast as zlib's level 1 on ECS documents and
//! smaller; levels 4 to 9 are flate2 with its zlib-rs backend, for a smaller body at more CPU.

use std::io::Write as _;

/// Uncompressed bytes gathered before they are handed to the compressor.
const PIECE: usize = 64 * 1024;

/// The uncompressed bytes per event of a sink's latest body, so that the next body is
/// allocated at about its size: no regrowth (which copies everything written so far and, for a
/// plain body, leaves up to half of it unused).
#[derive(Debug, Default)]
pub struct SizeHint(std::sync::atomic::AtomicUsize);

impl SizeHint {
    /// About the bytes `events` events take (1 KiB each until a body was measured), with a
    /// sixteenth to spare.
    #[must_use]
    pub fn bytes_for(&self, events: usize) -> usize {
        let per = match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => 1024,
            n => n,
        };
        events.saturating_mul(per + per / 16)
    }

    /// Remembers that `events` events took `bytes` uncompressed bytes.
    pub fn learn(&self, events: usize, bytes: usize) {
        if let Some(per) = bytes.checked_div(events) {
            self.0.store(per, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A body being written.
pub enum Body {
    /// Sent as written.
    Plain(Vec<u8>),
    /// Compressed in pieces of about [`PIECE`] bytes.
    Gzip(Box<Gzip>),
}

/// The compressor and the piece being gathered for it.
pub struct Gzip {
    encoder: Encoder,
    piece: Vec<u8>,
    /// Bytes handed to the compressor so far.
    compressed_in: usize,
}

/// A gzip stream writing into a `Vec`.
enum Encoder {
    /// Levels 0 to 3 (its state is about 85 KB: boxed).
    Isal(Box<isal::write::GzipEncoder<Vec<u8>>>),
    /// Levels 4 to 9.
    Zlib(Box<flate2::write::GzEncoder<Vec<u8>>>),
}

impl Encoder {
    fn new(level: u32, capacity: usize) -> Self {
        let out = Vec::with_capacity(capacity);
        match level {
            0..=3 => {
                let level = match level {
                    0 => isal::CompressionLevel::Zero,
                    1 => isal::CompressionLevel::One,
                    _ => isal::CompressionLevel::Three,
                };
                Self::Isal(Box::new(isal::write::GzipEncoder::new(out, level)))
            }
            _ => Self::Zlib(Box::new(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(level.min(9)),
            ))),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            Self::Isal(e) => {
                let written = e.write_all(bytes);
                clear_vector_upper_state();
                written
            }
            Self::Zlib(e) => e.write_all(bytes),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            // Its `finish` ends the gzip stream (trailer included) and returns the output.
            Self::Isal(e) => {
                let out = (*e).finish();
                clear_vector_upper_state();
                out
            }
            Self::Zlib(e) => (*e).finish(),
        }
    }
}

/// ISA-L's assembly returns with the upper halves of the vector registers in use (it has no
/// `vzeroupper`; intel/isa-l#24). Until something clears them, every legacy-SSE instruction
/// of the rest of the agent (built for baseline x86-64) pays for the transition: the
/// `bodies_from_events` bench made a gzip body 1.6 times slower than its parts (writing the
/// documents, compressing them) measured apart. LLVM ends every function that used the wide
/// registers with `vzeroupper`, so a call into an AVX2 routine clears the state without
/// `unsafe` here: memchr's search over 64 bytes takes its AVX2 loop where the CPU has AVX2
/// (where it has not, ISA-L used no wide registers either).
#[inline]
fn clear_vector_upper_state() {
    #[cfg(target_arch = "x86_64")]
    {
        static BLANK: [u8; 64] = [0; 64];
        std::hint::black_box(memchr::memchr(1, std::hint::black_box(&BLANK)));
    }
}

impl Body {
    /// A body for about `estimate` uncompressed bytes; gzip at `level` (0–9; `None`: 1, the
    /// fastest that compresses) when `gzip`.
    #[must_use]
    pub fn new(gzip: bool, level: Option<u32>, estimate: usize) -> Self {
        if gzip {
            Body::Gzip(Box::new(Gzip {
                encoder: Encoder::new(level.unwrap_or(1), estimate / 6),
                piece: Vec::with_capacity(PIECE + 4096),
                compressed_in: 0,
            }))
        } else {
            Body::Plain(Vec::with_capacity(estimate))
        }
    }

    /// Where the next bytes go; call [`Body::wrote`] after writing.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        match self {
            Body::Plain(out) => out,
            Body::Gzip(gz) => &mut gz.piece,
        }
    }

    /// Compresses what was written once a piece is full.
    ///
    /// # Errors
    /// When the compressor fails.
    pub fn wrote(&mut self) -> std::io::Result<()> {
        if let Body::Gzip(gz) = self {
            if gz.piece.len() >= PIECE {
                gz.encoder.write_all(&gz.piece)?;
                gz.compressed_in += gz.piece.len();
                gz.piece.clear();
            }
        }
        Ok(())
    }

    /// The uncompressed bytes written so far.
    #[must_use]
    pub fn written(&self) -> usize {
        match self {
            Body::Plain(out) => out.len(),
            Body::Gzip(gz) => gz.compressed_in + gz.piece.len(),
        }
    }

    /// The bytes to send.
    ///
    /// # Errors
    /// When the compressor fails.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Plain(out) => Ok(out),
            Body::Gzip(gz) => {
                let Gzip {
                    mut encoder, piece, ..
                } = *gz;
                encoder.write_all(&piece)?;
                encoder.finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_sized_from_the_last_one_is_never_regrown() {
        let hint = SizeHint::default();
        assert_eq!(
            hint.bytes_for(10),
            10 * 1088,
            "1 KiB and a sixteenth until measured"
        );
        let line = [b'x'; 1500];
        for round in 0..2 {
            let mut body = Body::new(false, None, hint.bytes_for(1000));
            let capacity = body.buf().capacity();
            for _ in 0..1000 {
                body.buf().extend_from_slice(&line);
                body.wrote().unwrap();
            }
            if round == 1 {
                assert_eq!(body.buf().capacity(), capacity, "not regrown");
            }
            hint.learn(1000, body.written());
            assert_eq!(body.written(), 1_500_000);
        }
        let mut gz = Body::new(true, None, 100);
        gz.buf().extend_from_slice(&vec![b'y'; 100_000]);
        gz.wrote().unwrap();
        gz.buf().extend_from_slice(b"z");
        assert_eq!(
            gz.written(),
            100_001,
            "compressed and waiting bytes both count"
        );
    }

    #[test]
    fn gzip_bodies_written_in_pieces_decode_to_what_was_written_at_every_level() {
        use std::io::Read as _;
        for level in [None, Some(0), Some(1), Some(2), Some(3), Some(6), Some(9)] {
            let mut body = Body::new(true, level, 1000);
            let mut expected = Vec::new();
            for i in 0..20_000 {
                let line = format!("{{\"n\":{i},\"text\":\"line {i} of the body\"}}\n");
                body.buf().extend_from_slice(line.as_bytes());
                body.wrote().unwrap();
                expected.extend_from_slice(line.as_bytes());
            }
            let compressed = body.finish().unwrap();
            if level != Some(0) {
                assert!(compressed.len() < expected.len() / 4, "level {level:?}");
            }
            // One gzip member, as every HTTP server reads it.
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, expected, "level {level:?}");
        }
        // An empty compressed body is still a whole gzip stream.
        let empty = Body::new(true, None, 10).finish().unwrap();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&empty[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert!(decoded.is_empty());
        let mut plain = Body::new(false, None, 10);
        plain.buf().extend_from_slice(b"abc");
        plain.wrote().unwrap();
        assert_eq!(plain.finish().unwrap(), b"abc");
    }
}
