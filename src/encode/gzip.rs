//! gzip for request bodies (flate2 with its zlib-rs backend, the fastest it has).

use std::io::Write as _;

/// `raw` gzip-compressed at `level` (0–9; `None`: 1, the fastest).
pub fn compress(raw: &[u8], level: Option<u32>) -> std::io::Result<Vec<u8>> {
    let level = flate2::Compression::new(level.unwrap_or(1).min(9));
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() / 4), level);
    gz.write_all(raw)?;
    gz.finish()
}
