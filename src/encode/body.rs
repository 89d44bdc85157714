//! A request body written event by event, gzip-compressed as it grows when asked: the whole
//! uncompressed body never exists at once, so a compressed request holds about its compressed
//! size in memory rather than both sizes. gzip is flate2 with its zlib-rs backend, the fastest
//! it has.

use std::io::Write as _;

/// Uncompressed bytes gathered before they are handed to the compressor.
const PIECE: usize = 64 * 1024;

/// A body being written.
pub enum Body {
    /// Sent as written.
    Plain(Vec<u8>),
    /// Compressed in pieces of about [`PIECE`] bytes.
    Gzip(Box<Gzip>),
}

/// The compressor and the piece being gathered for it.
pub struct Gzip {
    encoder: flate2::write::GzEncoder<Vec<u8>>,
    piece: Vec<u8>,
}

impl Body {
    /// A body for about `estimate` uncompressed bytes; gzip at `level` (0–9; `None`: 1, the
    /// fastest) when `gzip`.
    #[must_use]
    pub fn new(gzip: bool, level: Option<u32>, estimate: usize) -> Self {
        if gzip {
            let level = flate2::Compression::new(level.unwrap_or(1).min(9));
            Body::Gzip(Box::new(Gzip {
                encoder: flate2::write::GzEncoder::new(Vec::with_capacity(estimate / 6), level),
                piece: Vec::with_capacity(PIECE + 4096),
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
                gz.piece.clear();
            }
        }
        Ok(())
    }

    /// The bytes to send.
    ///
    /// # Errors
    /// When the compressor fails.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Plain(out) => Ok(out),
            Body::Gzip(gz) => {
                let Gzip { mut encoder, piece } = *gz;
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
    fn gzip_bodies_written_in_pieces_decode_to_what_was_written() {
        use std::io::Read as _;
        let mut body = Body::new(true, None, 1000);
        let mut expected = Vec::new();
        for i in 0..20_000 {
            let line = format!("{{\"n\":{i},\"text\":\"line {i} of the body\"}}\n");
            body.buf().extend_from_slice(line.as_bytes());
            body.wrote().unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        let compressed = body.finish().unwrap();
        assert!(compressed.len() < expected.len() / 4);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, expected);
        let mut plain = Body::new(false, None, 10);
        plain.buf().extend_from_slice(b"abc");
        plain.wrote().unwrap();
        assert_eq!(plain.finish().unwrap(), b"abc");
    }
}
