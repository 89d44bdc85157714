//! Batching: a batch closes at `max_events`, at `max_bytes`, or `timeout` after its first
//! event was read by this agent (the chunk's stamp; else `event.created`), whichever comes first; it carries the acknowledgements of
//! every chunk it holds. Counting from the read rather than from the event's arrival means an
//! event that already waited upstream (a multi-line record held for continuation lines, an
//! auditd event held for its last record) does not wait a full timeout again.
//!
//! A batch also closes once its input has been quiet (no event arrived) for `quiet`: the end
//! of a burst is sent at once instead of a `timeout` later. Quiet closes are rationed like a
//! token bucket ([`QUIET_BURST`] in a row, then one per `timeout`), so a trickle of events
//! does not become a request per event.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use crate::ack::Acks;
use crate::chunk::EventChunk;
use crate::config::units::{ByteSize, Span};
use crate::event::Event;

/// `batch` settings of a sink.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Events per batch at most (default 1000).
    pub max_events: Option<usize>,
    /// Approximate bytes per batch at most (default 5MiB).
    pub max_bytes: Option<ByteSize>,
    /// How long a batch waits for more events after its first one was read (default 1s).
    pub timeout: Option<Span>,
    /// A batch also closes once no event has arrived for this long, at most [`QUIET_BURST`]
    /// times in a row and then once per `timeout` (default 20ms; `0s` turns it off).
    pub quiet: Option<Span>,
}

/// Quiet closes allowed in a row before they are rationed to one per `timeout`.
pub const QUIET_BURST: u32 = 3;

/// Checked batch limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Events per batch at most.
    pub max_events: usize,
    /// Approximate bytes per batch at most.
    pub max_bytes: usize,
    /// Wait after the first event.
    pub timeout: Duration,
    /// Close once the input was quiet this long (zero: never).
    pub quiet: Duration,
    /// Bytes of the memory budget a batch may hold before it closes (0: no such limit): a
    /// batch that waited for more events while the budget was spent would wait for its
    /// timeout every time, the readers being stopped until it is sent.
    pub max_held: usize,
}

impl Limits {
    /// These limits, closing a batch once it holds half of `budget`.
    #[must_use]
    pub fn within(self, budget: Option<&crate::budget::Budget>) -> Self {
        Self {
            max_held: budget.map_or(0, |b| b.total() / 2),
            ..self
        }
    }
}

impl BatchConfig {
    /// The limits, with the network-sink defaults.
    #[must_use]
    pub fn limits(&self) -> Limits {
        Limits {
            max_events: self.max_events.unwrap_or(1000).max(1),
            max_bytes: self
                .max_bytes
                .map_or(5 * 1024 * 1024, ByteSize::as_usize)
                .max(1024),
            timeout: self.timeout.map_or(Duration::from_secs(1), |s| s.0),
            quiet: self.quiet.map_or(Duration::from_millis(20), |s| s.0),
            max_held: 0,
        }
    }
}

/// How long the input stays empty before the batcher says the sink is idle.
pub const IDLE: Duration = Duration::from_secs(1);

/// Gathers chunks into batches; a chunk larger than a batch is split (each part carries its
/// own handles on the chunk's acknowledgement, so the chunk counts only when all parts did).
pub struct Batcher {
    input: mpsc::Receiver<EventChunk>,
    limits: Limits,
    carry: Option<EventChunk>,
    idle: Option<Box<dyn FnMut() + Send>>,
    /// Events in the last batch: the next one is allocated for as many (at most
    /// `max_events`), rather than grown chunk by chunk, which moved every event again at each
    /// doubling.
    last_len: usize,
    /// Quiet closes that may be made now, and when that count was last topped up.
    quiet_tokens: u32,
    topped_up: tokio::time::Instant,
}

impl Batcher {
    /// Batches from `input` within `limits`.
    #[must_use]
    pub fn new(input: mpsc::Receiver<EventChunk>, limits: Limits) -> Self {
        Self {
            input,
            limits,
            carry: None,
            idle: None,
            last_len: 0,
            quiet_tokens: QUIET_BURST,
            topped_up: tokio::time::Instant::now(),
        }
    }

    /// Whether a quiet close may be made now: one token more for each `timeout` gone by, at
    /// most [`QUIET_BURST`].
    fn may_close_quietly(&mut self) -> bool {
        if self.limits.quiet.is_zero() {
            return false;
        }
        let now = tokio::time::Instant::now();
        let gone = now.duration_since(self.topped_up);
        let per = self.limits.timeout.max(Duration::from_millis(1));
        let earned = u32::try_from(gone.as_nanos() / per.as_nanos()).unwrap_or(u32::MAX);
        if earned > 0 {
            self.quiet_tokens = self.quiet_tokens.saturating_add(earned).min(QUIET_BURST);
            self.topped_up = if self.quiet_tokens == QUIET_BURST {
                now
            } else {
                self.topped_up + per * earned
            };
        }
        self.quiet_tokens > 0
    }

    /// Calls `idle` each time the input stayed empty for [`IDLE`] while no batch was open.
    #[must_use]
    pub fn when_idle(mut self, idle: impl FnMut() + Send + 'static) -> Self {
        self.idle = Some(Box::new(idle));
        self
    }

    /// The next chunk, saying so each [`IDLE`] it does not come.
    async fn first(&mut self) -> Option<EventChunk> {
        let Some(idle) = &mut self.idle else {
            return self.input.recv().await;
        };
        loop {
            // `recv` is cancel-safe: a timeout loses no chunk.
            match tokio::time::timeout(IDLE, self.input.recv()).await {
                Ok(chunk) => return chunk,
                Err(_) => idle(),
            }
        }
    }

    /// The next batch: waits for a first chunk, then gathers more until a limit or the
    /// timeout. `None` when the input is closed and everything was handed out.
    pub async fn next(&mut self) -> Option<(Vec<Event>, Acks)> {
        let first = match self.carry.take() {
            Some(chunk) => chunk,
            None => self.first().await?,
        };
        // When this agent read it: the chunk's stamp, else the first event's `event.created`.
        let read = first
            .acks
            .chunks()
            .map(|c| c.read_at)
            .filter(|t| *t > 0)
            .min()
            .or_else(|| first.events.first().map(|e| e.created));
        let waited = read.map_or(0, |t| crate::time::now_ms() - t);
        let waited = Duration::from_millis(u64::try_from(waited).unwrap_or(0));
        let deadline = tokio::time::Instant::now() + self.limits.timeout.saturating_sub(waited);
        let mut acks = Acks::none();
        let mut events: Vec<Event> = Vec::with_capacity(
            self.last_len
                .max(first.events.len())
                .min(self.limits.max_events),
        );
        let mut bytes = 0;
        let mut next = Some(first);
        loop {
            if let Some(mut chunk) = next.take() {
                // Take only what fits; the rest waits for the next batch.
                let mut fits = 0;
                let mut size = 0;
                for e in &chunk.events {
                    let b = e.approx_bytes();
                    if events.len() + fits >= self.limits.max_events
                        || (bytes + size + b > self.limits.max_bytes && events.len() + fits > 0)
                    {
                        break;
                    }
                    size += b;
                    fits += 1;
                }
                if fits < chunk.events.len() {
                    let rest = chunk.events.split_off(fits);
                    let part_acks = chunk.acks.fork();
                    self.carry = Some(EventChunk::new(rest, chunk.acks));
                    chunk = EventChunk::new(chunk.events, part_acks);
                }
                bytes += size;
                events.extend(chunk.events);
                acks.absorb(chunk.acks);
            }
            if self.carry.is_some()
                || events.len() >= self.limits.max_events
                || bytes >= self.limits.max_bytes
                || (self.limits.max_held > 0 && acks.memory_bytes() >= self.limits.max_held)
            {
                break;
            }
            next = match self.input.try_recv() {
                Ok(chunk) => Some(chunk),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if self.limits.timeout.is_zero() {
                        break;
                    }
                    let quiet_end = Some(tokio::time::Instant::now() + self.limits.quiet)
                        .filter(|end| *end < deadline && self.may_close_quietly());
                    match tokio::time::timeout_at(quiet_end.unwrap_or(deadline), self.input.recv())
                        .await
                    {
                        Ok(Some(chunk)) => Some(chunk),
                        Ok(None) => break,
                        Err(_) => {
                            if quiet_end.is_some() {
                                self.quiet_tokens -= 1;
                            }
                            break;
                        }
                    }
                }
            };
        }
        self.last_len = events.len();
        Some((events, acks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::testing::Log;
    use crate::ack::{AckReceiver, ChunkAck, Settlement};
    use crate::event::Origin;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_large_chunk_is_split_and_counts_only_when_every_part_settles() {
        let (tx, rx) = mpsc::channel(4);
        let log = Arc::new(Log::default());
        let acks = Acks::one(ChunkAck::new(1, Some(log.clone() as Arc<dyn AckReceiver>)));
        let events = (0..25)
            .map(|i| Event::new(format!("e{i}"), Origin::default(), 0))
            .collect();
        tx.send(EventChunk::new(events, acks)).await.unwrap();
        drop(tx);
        let limits = Limits {
            max_events: 10,
            max_bytes: usize::MAX,
            timeout: std::time::Duration::ZERO,
            quiet: std::time::Duration::ZERO,
            max_held: 0,
        };
        let mut b = Batcher::new(rx, limits);
        let mut sizes = Vec::new();
        let mut parts = Vec::new();
        while let Some((events, acks)) = b.next().await {
            sizes.push(events.len());
            parts.push(acks);
        }
        assert_eq!(sizes, [10, 10, 5]);
        let last = parts.pop().unwrap();
        for p in parts {
            p.settle(Settlement::Delivered);
        }
        assert!(log.0.lock().unwrap().is_empty(), "one part is still out");
        last.settle(Settlement::Delivered);
        assert_eq!(*log.0.lock().unwrap(), vec![(1, true)]);
    }

    /// Batches of up to 100 events that wait 5 s for company, or `quiet_millis` ms of quiet
    /// (zero: never).
    fn batcher(rx: mpsc::Receiver<EventChunk>, quiet_millis: u64) -> Batcher {
        Batcher::new(
            rx,
            Limits {
                max_events: 100,
                max_bytes: usize::MAX,
                timeout: std::time::Duration::from_secs(5),
                quiet: std::time::Duration::from_millis(quiet_millis),
                max_held: 0,
            },
        )
    }

    /// Batches of up to 100 events that wait 5 s for company.
    fn five_second_batcher(rx: mpsc::Receiver<EventChunk>) -> Batcher {
        batcher(rx, 0)
    }

    #[tokio::test]
    async fn the_timeout_counts_from_when_the_first_event_was_read() {
        let (tx, rx) = mpsc::channel(4);
        let mut b = five_second_batcher(rx);
        let now = crate::time::now_ms();
        let chunk = |created| {
            EventChunk::new(
                vec![Event::new("e".into(), Origin::default(), created)],
                Acks::none(),
            )
        };
        // Read 6 s ago (held upstream): its batch goes at once.
        tx.send(chunk(now - 6_000)).await.unwrap();
        let started = std::time::Instant::now();
        let (events, _) = b.next().await.unwrap();
        assert_eq!(events.len(), 1);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Read 4.8 s ago: the batch waits only the remaining ~0.2 s for company.
        tx.send(chunk(now - 4_800)).await.unwrap();
        let started = std::time::Instant::now();
        let (events, _) = b.next().await.unwrap();
        assert_eq!(events.len(), 1);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Read just now: the batch waits for more until the full timeout would pass.
        tx.send(chunk(crate::time::now_ms())).await.unwrap();
        let next = tokio::time::timeout(std::time::Duration::from_secs(1), b.next()).await;
        assert!(next.is_err(), "a fresh batch must wait for its timeout");
    }

    #[tokio::test]
    async fn a_document_created_long_ago_but_read_just_now_waits_for_company() {
        let (tx, rx) = mpsc::channel(4);
        let mut b = five_second_batcher(rx);
        // A document whose `event.created` is a day old (another agent read it), taken from
        // Kafka now: the batch counts from now, so it gathers more than this one event.
        let day_old = crate::time::now_ms() - 86_400_000;
        let log = Arc::new(Log::default());
        let ack = ChunkAck::of_file(
            1,
            log as Arc<dyn AckReceiver>,
            7,
            crate::time::now_ms(),
            None,
        );
        tx.send(EventChunk::new(
            vec![Event::new("e".into(), Origin::default(), day_old)],
            Acks::one(ack),
        ))
        .await
        .unwrap();
        let next = tokio::time::timeout(std::time::Duration::from_secs(1), b.next()).await;
        assert!(next.is_err(), "the batch must wait for its timeout");
    }

    #[tokio::test]
    async fn an_empty_input_says_the_sink_is_idle_each_second_until_a_chunk_comes() {
        let (tx, rx) = mpsc::channel(4);
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let mut b = five_second_batcher(rx).when_idle(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let waited = tokio::time::timeout(IDLE * 5 / 2, b.next()).await;
        assert!(waited.is_err(), "no batch without events");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        // An event read 6 s ago: its batch goes at once, and the waiting counts nothing more.
        let old = crate::time::now_ms() - 6_000;
        tx.send(EventChunk::new(
            vec![Event::new("e".into(), Origin::default(), old)],
            Acks::none(),
        ))
        .await
        .unwrap();
        let (events, _) = tokio::time::timeout(IDLE / 2, b.next())
            .await
            .expect("the waiting chunk is taken")
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// Batches of up to 100 events that wait 5 s for company, or 50 ms of quiet.
    fn quiet_batcher(rx: mpsc::Receiver<EventChunk>) -> Batcher {
        batcher(rx, 50)
    }

    fn fresh_chunk() -> EventChunk {
        EventChunk::new(
            vec![Event::new(
                "e".into(),
                Origin::default(),
                crate::time::now_ms(),
            )],
            Acks::none(),
        )
    }

    /// An input that gets `count` one-event chunks, one every `millis`, then closes.
    fn one_chunk_every(millis: u64, count: usize) -> mpsc::Receiver<EventChunk> {
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            for _ in 0..count {
                if tx.send(fresh_chunk()).await.is_err() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            }
        });
        rx
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_of_a_burst_is_sent_once_the_input_is_quiet() {
        let (tx, rx) = mpsc::channel(8);
        let mut b = quiet_batcher(rx);
        for _ in 0..3 {
            tx.send(fresh_chunk()).await.unwrap();
        }
        let started = tokio::time::Instant::now();
        let (events, _) = b.next().await.unwrap();
        assert_eq!(events.len(), 3);
        let waited = started.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(50)
                && waited < std::time::Duration::from_millis(100),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn events_that_keep_coming_are_not_cut_by_the_quiet_close() {
        // A chunk every 30 ms: never 50 ms of quiet, so the batch fills to its 100 events.
        let mut b = quiet_batcher(one_chunk_every(30, 150));
        let (events, _) = b.next().await.unwrap();
        assert_eq!(events.len(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_of_events_gets_a_few_quiet_closes_then_one_per_timeout() {
        // One event every 200 ms for 12 s: quiet closes would make a request per event. After
        // the first QUIET_BURST, quiet closes are one per timeout (5 s), and every other batch
        // waits for its timeout, so 60 events go in a handful of batches.
        let mut b = quiet_batcher(one_chunk_every(200, 60));
        let mut sizes = Vec::new();
        while let Some((events, _)) = b.next().await {
            sizes.push(events.len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 60);
        assert_eq!(&sizes[..QUIET_BURST as usize], [1; QUIET_BURST as usize]);
        assert!(sizes.len() <= 9, "{sizes:?}");
    }
}
