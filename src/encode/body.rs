//! A request body written event by event, gzip-compressed as it grows when asked: the whole
//! uncompressed body never exists at once, so a compressed request holds about its compressed
//! size in memory rather than both sizes. gzip levels 0 to 3 are ISA-L's igzip (`isal-rs`, built
//! from its bundled source, with one addition in `vendor/isal-rs`: it compresses straight into
//! the body), about twice as fast as zlib's level 1 on ECS documents and smaller; levels 4 to 9
//! are flate2 with its zlib-rs backend, for a smaller body at more CPU.

use std::io::Write as _;

/// Uncompressed bytes gathered before they are handed to the compressor. ISA-L copies the
/// first 32 KiB or more of every call's input into its own buffer (it needs that much history
/// behind what it compresses) and the last 32 KiB again as history for the next call: with
/// 64 KiB pieces nearly every byte was copied once more, with 256 KiB about a fifth of them
/// (callgrind, tps → `_bulk` gzip: 6.03 G → 5.68 G instructions for 200,000 events).
const PIECE: usize = 256 * 1024;

/// What a sink keeps from one request body to the next: the uncompressed bytes per event of
/// its latest body, so that the next is allocated at about its size (no regrowth, which copies
/// everything written so far and, for a plain body, leaves up to half of it unused); and the
/// buffers of bodies sent, so that a busy sink writes into the same few buffers instead of
/// allocating one per batch. Freed, a body's megabyte stays resident as the allocator's dirty
/// pages until it decays: at hundreds of bodies a second, that was most of the uncompressed
/// path's peak RSS. Kept buffers are let go of when the sink is idle ([`Bodies::release`]).
#[derive(Debug)]
pub struct Bodies {
    per_event: std::sync::atomic::AtomicUsize,
    free: std::sync::Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl Bodies {
    /// A store for a sink with `concurrency` requests in flight at once: it keeps a buffer
    /// for each, and one for the body being written.
    #[must_use]
    pub fn new(concurrency: usize) -> Self {
        Self {
            per_event: std::sync::atomic::AtomicUsize::new(0),
            free: std::sync::Mutex::new(Vec::new()),
            keep: concurrency + 1,
        }
    }

    /// About the bytes `events` events take (1 KiB each until a body was measured), with a
    /// sixteenth to spare.
    #[must_use]
    pub fn bytes_for(&self, events: usize) -> usize {
        let per = match self.per_event.load(std::sync::atomic::Ordering::Relaxed) {
            0 => 1024,
            n => n,
        };
        events.saturating_mul(per + per / 16)
    }

    /// Remembers that `events` events took `bytes` uncompressed bytes.
    pub fn learn(&self, events: usize, bytes: usize) {
        if let Some(per) = bytes.checked_div(events) {
            self.per_event
                .store(per, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A kept buffer (empty; any capacity), or a new one.
    #[must_use]
    pub fn take(&self) -> Vec<u8> {
        self.lock().pop().unwrap_or_default()
    }

    /// `bytes` as a body to send; its buffer comes back to this store when the last copy of
    /// the body is dropped.
    #[must_use]
    pub fn send(self: &std::sync::Arc<Self>, bytes: Vec<u8>) -> bytes::Bytes {
        bytes::Bytes::from_owner(Sent {
            bytes,
            home: std::sync::Arc::downgrade(self),
        })
    }

    /// Lets go of every kept buffer.
    pub fn release(&self) {
        drop(std::mem::take(&mut *self.lock()));
    }

    /// Buffers kept now.
    #[must_use]
    pub fn kept(&self) -> usize {
        self.lock().len()
    }

    fn give_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut free = self.lock();
        if free.len() < self.keep {
            free.push(buffer);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic while the list was held leaves it whole: a list of buffers has no invariant.
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A body's bytes while it is sent; its buffer goes back to the store on drop.
struct Sent {
    bytes: Vec<u8>,
    home: std::sync::Weak<Bodies>,
}

impl AsRef<[u8]> for Sent {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            home.give_back(std::mem::take(&mut self.bytes));
        }
    }
}

/// `buffer` emptied, with room for `need` bytes; a buffer more than twice as large is let go
/// of (a kept buffer from an unusually large body would otherwise stay that large).
fn sized(mut buffer: Vec<u8>, need: usize) -> Vec<u8> {
    if buffer.capacity() > 2 * need.max(PIECE) {
        buffer = Vec::new();
    }
    buffer.clear();
    buffer.reserve_exact(need);
    buffer
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
    /// Levels 0 to 3 (its state is about 85 KB: boxed), with the ISA-L level it was made for.
    Isal(isal::CompressionLevel, Box<Isal>),
    /// Levels 4 to 9.
    Zlib(Box<flate2::write::GzEncoder<Vec<u8>>>),
}

type Isal = isal::write::Encoder<Vec<u8>>;

/// ISA-L compressors kept on a thread after a body was finished with them, at most this many.
const KEPT_PER_THREAD: usize = 2;

thread_local! {
    /// ISA-L compressors ready for the next body on this thread, with their level. Making one
    /// per body cost more than its memory: its 85 KB state was zeroed and moved three times on
    /// the way into its box and once more on the way out, and its output buffer regrown each
    /// time (callgrind: about 3 % of the instructions of tps → `_bulk` gzip). Finishing a
    /// stream resets the compressor for the next one (`isal_deflate_reset`). Kept per thread
    /// because the compressor holds raw pointers into its own buffers and so is not `Send`;
    /// bodies are written synchronously, so a thread uses one at a time.
    static KEPT: std::cell::RefCell<Vec<(isal::CompressionLevel, Box<Isal>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
thread_local! {
    /// ISA-L compressors made on this thread (each test runs on its own thread).
    static MADE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Encoder {
    fn new(level: u32, out: Vec<u8>) -> Self {
        match level {
            0..=3 => {
                let isal_level = match level {
                    0 => isal::CompressionLevel::Zero,
                    1 => isal::CompressionLevel::One,
                    _ => isal::CompressionLevel::Three,
                };
                let kept = KEPT.with(|kept| {
                    let mut kept = kept.borrow_mut();
                    let at = kept.iter().position(|(l, _)| *l == isal_level)?;
                    Some(kept.swap_remove(at).1)
                });
                let encoder = if let Some(mut e) = kept {
                    *e.get_ref_mut() = out;
                    e
                } else {
                    #[cfg(test)]
                    MADE.set(MADE.get() + 1);
                    Box::new(Isal::new(out, isal_level, isal::Codec::Gzip))
                };
                Self::Isal(isal_level, encoder)
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
            Self::Isal(_, e) => {
                let written = e.compress_into_vec(bytes);
                clear_vector_upper_state();
                written
            }
            Self::Zlib(e) => e.write_all(bytes),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            // `finish_into_vec` ends the gzip stream (trailer included) and resets the
            // compressor for the next stream; the output is then taken out and the compressor
            // kept. One that failed is not kept.
            Self::Isal(level, mut e) => {
                let flushed = e.finish_into_vec();
                clear_vector_upper_state();
                flushed?;
                let out = std::mem::take(e.get_ref_mut());
                KEPT.with(|kept| {
                    let mut kept = kept.borrow_mut();
                    if kept.len() < KEPT_PER_THREAD {
                        kept.push((level, e));
                    }
                });
                Ok(out)
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
    /// A body for about `estimate` uncompressed bytes, written into `buffer` (any capacity:
    /// it is sized here); gzip at `level` (0–9; `None`: 1, the fastest that compresses) when
    /// `gzip`.
    #[must_use]
    pub fn new(gzip: bool, level: Option<u32>, estimate: usize, buffer: Vec<u8>) -> Self {
        if gzip {
            Body::Gzip(Box::new(Gzip {
                encoder: Encoder::new(level.unwrap_or(1), sized(buffer, estimate / 6)),
                piece: Vec::with_capacity(PIECE + 4096),
                compressed_in: 0,
            }))
        } else {
            Body::Plain(sized(buffer, estimate))
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
        let hint = Bodies::new(1);
        assert_eq!(
            hint.bytes_for(10),
            10 * 1088,
            "1 KiB and a sixteenth until measured"
        );
        let line = [b'x'; 1500];
        for round in 0..2 {
            let mut body = Body::new(false, None, hint.bytes_for(1000), Vec::new());
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
        let mut gz = Body::new(true, None, 100, Vec::new());
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
            let mut body = Body::new(true, level, 1000, Vec::new());
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
        let empty = Body::new(true, None, 10, Vec::new()).finish().unwrap();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&empty[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert!(decoded.is_empty());
        let mut plain = Body::new(false, None, 10, Vec::new());
        plain.buf().extend_from_slice(b"abc");
        plain.wrote().unwrap();
        assert_eq!(plain.finish().unwrap(), b"abc");
    }

    #[test]
    fn an_incompressible_gzip_body_outgrowing_its_estimate_still_decodes_whole() {
        use std::io::Read as _;
        // xorshift bytes: deflate cannot shrink them, so the compressed body outgrows the
        // sixth of the estimate it was sized for, piece after piece.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut expected = Vec::with_capacity(3 * PIECE);
        while expected.len() < 3 * PIECE + 1000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            expected.extend_from_slice(&state.to_le_bytes());
        }
        for level in [None, Some(0), Some(3), Some(6)] {
            let mut body = Body::new(true, level, expected.len(), Vec::new());
            for chunk in expected.chunks(1000) {
                body.buf().extend_from_slice(chunk);
                body.wrote().unwrap();
            }
            let compressed = body.finish().unwrap();
            assert!(
                compressed.len() > expected.len(),
                "level {level:?}: not compressible"
            );
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert!(decoded == expected, "level {level:?}");
        }
    }

    #[test]
    fn a_sent_bodys_buffer_is_written_into_again_and_idle_buffers_are_let_go_of() {
        let bodies = std::sync::Arc::new(Bodies::new(1));
        let mut body = Body::new(false, None, 4096, bodies.take());
        body.buf().extend_from_slice(b"first");
        let sent = bodies.send(body.finish().unwrap());
        let at = sent.as_ptr();
        let retry = sent.clone();
        drop(sent);
        assert_eq!(bodies.kept(), 0, "a copy is still being sent");
        drop(retry);
        assert_eq!(bodies.kept(), 1);
        let mut again = Body::new(false, None, 4096, bodies.take());
        assert!(again.buf().is_empty(), "handed back empty");
        again.buf().extend_from_slice(b"second");
        let second = bodies.send(again.finish().unwrap());
        assert_eq!(second.as_ptr(), at, "the same buffer");
        assert_eq!(&second[..], b"second");
        // At most one per request in flight and one being written are kept.
        let many: Vec<_> = (0..5).map(|i| bodies.send(vec![b'x'; 100 + i])).collect();
        drop((second, many));
        assert_eq!(bodies.kept(), 2);
        bodies.release();
        assert_eq!(bodies.kept(), 0);
        // A buffer far larger than the next body needs is not kept for it.
        let big = Vec::with_capacity(8 * PIECE);
        let small = Body::new(false, None, 100, big);
        assert!(matches!(small, Body::Plain(ref v) if v.capacity() < 2 * PIECE));
    }

    #[test]
    fn a_finished_gzip_bodys_compressor_writes_the_next_body_on_its_thread() {
        use std::fmt::Write as _;
        use std::io::Read as _;
        let decode = |body: &[u8]| {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
            out
        };
        let mut bodies = Vec::new();
        for (i, level) in [None, None, Some(1), Some(3), Some(3), Some(2)]
            .into_iter()
            .enumerate()
        {
            let mut body = Body::new(true, level, 1000, Vec::new());
            for n in 0..(30_000 * (i + 1)) {
                body.buf()
                    .extend_from_slice(format!("{i} {n}\n").as_bytes());
                body.wrote().unwrap();
            }
            bodies.push((i, body.finish().unwrap()));
        }
        assert_eq!(
            MADE.get(),
            2,
            "one per ISA-L level (1 and 3), each used again"
        );
        for (i, compressed) in bodies {
            let mut expected = String::new();
            for n in 0..(30_000 * (i + 1)) {
                writeln!(expected, "{i} {n}").unwrap();
            }
            assert_eq!(
                decode(&compressed),
                expected.as_bytes(),
                "body {i}: one whole stream"
            );
        }
        // Two bodies written at once on one thread each have their own.
        let first = Body::new(true, Some(0), 10, Vec::new());
        let second = Body::new(true, Some(0), 10, Vec::new());
        assert_eq!(MADE.get(), 4);
        assert!(decode(&first.finish().unwrap()).is_empty());
        assert!(decode(&second.finish().unwrap()).is_empty());
    }
}
