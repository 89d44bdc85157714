//! `kafka`: reads topics as a member of a consumer group (librdkafka), at least once: a
//! partition's offset is committed only up to the messages every sink has settled.
//!
//! Each partition has a tracker like a tailed file's: a chunk of consecutive messages is one
//! acknowledgement, and the committed offset is the end of the longest settled prefix of
//! chunks. A crash therefore re-delivers what was not settled and never skips it. When the
//! group takes partitions away (a rebalance), the source waits for their chunks in flight
//! (`drain_timeout`) and commits what settled before it lets them go; what did not settle in
//! time is read again by the next owner. The same happens at shutdown.
//!
//! While the memory budget or the pipeline is full for long (5 s) the source pauses its
//! partitions and keeps serving the group (heartbeats, rebalances), so a slow sink never costs
//! it its membership.
//!
//! `format = "ecs"` (the default) reads the documents an auditship sink produced as they are
//! and keeps their document id (the `auditship.id` header), so Elasticsearch stays
//! idempotent across the two hops; any parser format reads the messages as raw lines.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::lines::Record;
use super::{LineChunk, ReadStats};
use crate::ack::{Acks, ChunkAck};
use crate::budget::Budget;
use crate::checkpoint::FileTracker;
use crate::config::units::Span;
use crate::sink::kafka::{KafkaTls, Sasl};

/// `[sources.<name>] type = "kafka"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// `host:port[,host:port...]` of the brokers.
    pub bootstrap_servers: String,
    /// The topics to read.
    pub topics: Vec<String>,
    /// The consumer group: members of one group share the partitions.
    pub group_id: String,
    /// `ecs` (default: documents an auditship produced) or a parser format (`auto`,
    /// `keycloak`, `auditd`, `raw`...) for raw lines.
    #[serde(default = "ecs")]
    pub format: String,
    /// Where a partition without a committed offset starts: `earliest` (default) or `latest`.
    #[serde(default = "earliest")]
    pub auto_offset_reset: String,
    /// IANA zone for raw lines that carry local times without a zone.
    pub timezone: Option<String>,
    /// How often settled offsets are committed (default 1s).
    pub commit_interval: Option<Span>,
    /// How long a revoked partition (and every partition at shutdown) waits for its messages
    /// in flight before it is let go (default 10s).
    pub drain_timeout: Option<Span>,
    /// Messages per chunk at most (one acknowledgement; default 1000; a chunk also closes at
    /// 128 KiB of messages).
    pub chunk_messages: Option<usize>,
    /// SASL, as on the `kafka` sink.
    pub sasl: Option<Sasl>,
    /// TLS, as on the `kafka` sink.
    pub tls: Option<KafkaTls>,
    /// Any other librdkafka consumer setting, as librdkafka names it; they win over the
    /// settings above.
    #[serde(default)]
    pub librdkafka_options: BTreeMap<String, String>,
}

fn ecs() -> String {
    "ecs".to_owned()
}

fn earliest() -> String {
    "earliest".to_owned()
}

/// Settings a `librdkafka_options` table may not override: the guarantee rests on them.
const GUARDED: &[&str] = &["enable.auto.commit", "enable.auto.offset.store", "group.id"];

impl KafkaSourceConfig {
    /// Problems the types cannot catch: `(key, message)`.
    #[must_use]
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        crate::sink::kafka::check_shared(
            &self.bootstrap_servers,
            self.sasl.as_ref(),
            self.tls.as_ref(),
            &mut problems,
        );
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            problems.push((
                "topics",
                "must list at least one topic, none empty".to_owned(),
            ));
        }
        if self.group_id.trim().is_empty() {
            problems.push(("group_id", "must not be empty".to_owned()));
        }
        if self.format != "ecs" && self.parse_format().is_none() {
            let mut names = vec!["ecs"];
            names.extend(crate::parse::Format::available());
            problems.push((
                "format",
                format!("`{}` is not one of {}", self.format, names.join(", ")),
            ));
        }
        if !matches!(self.auto_offset_reset.as_str(), "earliest" | "latest") {
            problems.push((
                "auto_offset_reset",
                format!("`{}` is not earliest or latest", self.auto_offset_reset),
            ));
        }
        if let Some(tz) = &self.timezone {
            if let Err(e) = crate::parse::zone(tz) {
                problems.push(("timezone", e));
            }
        }
        if self.chunk_messages == Some(0) {
            problems.push(("chunk_messages", "must be at least 1".to_owned()));
        }
        for key in self.librdkafka_options.keys() {
            if GUARDED.contains(&key.as_str()) {
                problems.push((
                    "librdkafka_options",
                    format!(
                        "`{key}` is set by the source: offsets are committed only for what every sink settled"
                    ),
                ));
            }
        }
        problems
    }

    /// The parser format of raw lines (`None` for `ecs` or an unknown name).
    fn parse_format(&self) -> Option<crate::parse::Format> {
        crate::parse::Format::ALL
            .into_iter()
            .find(|f| f.name() == self.format && f.is_available())
    }

    /// The parser of the messages.
    #[must_use]
    pub fn parser(&self) -> Arc<dyn crate::parse::Parser> {
        match self.parse_format() {
            Some(format) => crate::parse::for_format(
                format,
                &crate::parse::ParseOptions {
                    timezone: self.timezone.clone(),
                    zones: Vec::new(),
                },
            ),
            None => Arc::new(crate::parse::ecs::EcsParser),
        }
    }

    fn drain(&self) -> Duration {
        self.drain_timeout.map_or(Duration::from_secs(10), |s| s.0)
    }

    /// The librdkafka consumer settings.
    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", &self.auto_offset_reset)
            // librdkafka's prefetch (64 MiB by default) would be most of the memory budget.
            .set("queued.max.messages.kbytes", "8192")
            // With so small a prefetch it is full whenever the sinks set the pace, and
            // librdkafka then waits `fetch.queue.backoff.ms` (1 s by default) before it
            // fetches again: that held an aggregator to 20,000 messages/s where it reads
            // 130,000 with 10 ms.
            .set("fetch.queue.backoff.ms", "10");
        crate::sink::kafka::secure(&mut c, self.sasl.as_ref(), self.tls.as_ref());
        for (k, v) in &self.librdkafka_options {
            c.set(k, v);
        }
        c
    }
}

/// One assigned partition as the source reads it.
struct Partition {
    tracker: Arc<Mutex<FileTracker>>,
    file_id: u64,
    /// The offset last committed (the next message to read after a restart).
    committed: u64,
    /// The offset after the last message read.
    next: u64,
    /// Messages read and not yet handed on.
    batch: Vec<Record>,
    /// Their text, in bytes.
    bytes: usize,
}

type Key = (String, i32);

/// The consumer's context: the partitions, shared with the rebalance callbacks (which run
/// inside `poll`, on the reader's thread).
pub struct Group {
    name: Arc<str>,
    parts: Mutex<HashMap<Key, Partition>>,
    drain: Duration,
    /// The reader waits for room with its partitions paused: partitions assigned meanwhile
    /// are paused too.
    paused: std::sync::atomic::AtomicBool,
}

impl ClientContext for Group {}

impl ConsumerContext for Group {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        list: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.start_at_committed(consumer, list);
                let assigned = if cooperative {
                    consumer.incremental_assign(list)
                } else {
                    consumer.assign(list)
                };
                let names: Vec<String> = list
                    .elements()
                    .iter()
                    .map(|e| format!("{}/{}", e.topic(), e.partition()))
                    .collect();
                // librdkafka keeps a partition's pause across a revoke and a new assignment: a
                // partition paused when it was taken away would come back paused for good
                // (the tests caught one that never read again). Each new assignment is set
                // to what the reader is doing now.
                let _ = if self.paused.load(Ordering::Acquire) {
                    consumer.pause(list)
                } else {
                    consumer.resume(list)
                };
                match assigned {
                    Ok(()) => {
                        tracing::info!(source = %self.name, partitions = ?names, "Kafka partitions assigned");
                    }
                    Err(e) => {
                        tracing::error!(source = %self.name, partitions = ?names, error = %e, "cannot take the Kafka partitions assigned");
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let keys: Vec<Key> = list
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                let given_up = self.take(|k| keys.contains(k));
                self.let_go(consumer, given_up, "revoked");
                let _ = if cooperative {
                    consumer.incremental_unassign(list)
                } else {
                    consumer.unassign()
                };
            }
            other => {
                let code: rdkafka::error::RDKafkaErrorCode = other.into();
                tracing::warn!(source = %self.name, error = %code, "Kafka consumer group rebalance failed");
                let all = self.take(|_| true);
                self.let_go(consumer, all, "rebalance error");
                let _ = consumer.unassign();
            }
        }
    }
}

impl Group {
    /// Sets each partition of `list` to start at the group's committed offset. librdkafka
    /// may otherwise go on from where this member's own fetcher was when the partition comes
    /// back to it, past messages it read but let go unsent (a hole the tests caught).
    fn start_at_committed(&self, consumer: &BaseConsumer<Self>, list: &mut TopicPartitionList) {
        match consumer.committed_offsets(list.clone(), Duration::from_secs(10)) {
            Ok(committed) => {
                for e in committed.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        let _ =
                            list.set_partition_offset(e.topic(), e.partition(), Offset::Offset(o));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(source = %self.name, error = %e, "cannot read the group's committed offsets; the partitions start where librdkafka says");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Partition>> {
        self.parts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes the partitions whose key meets `which`.
    fn take(&self, which: impl Fn(&Key) -> bool) -> Vec<(Key, Partition)> {
        let mut parts = self.lock();
        let keys: Vec<Key> = parts.keys().filter(|k| which(k)).cloned().collect();
        keys.into_iter()
            .filter_map(|k| parts.remove(&k).map(|p| (k, p)))
            .collect()
    }

    /// Waits (up to `drain`) until the chunks of `parts` in flight have settled, then commits
    /// what settled. Their unsent messages are dropped: the next owner reads them.
    fn let_go(&self, consumer: &BaseConsumer<Self>, parts: Vec<(Key, Partition)>, why: &str) {
        if parts.is_empty() {
            return;
        }
        let deadline = Instant::now() + self.drain;
        let settled = |p: &Partition| {
            p.tracker
                .lock()
                .is_ok_and(|t| t.in_flight() == 0 || t.is_stuck())
        };
        while !parts.iter().all(|(_, p)| settled(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let unsettled = parts.iter().filter(|(_, p)| !settled(p)).count();
        if unsettled > 0 {
            tracing::warn!(source = %self.name, partitions = unsettled, "Kafka partitions let go with messages not yet delivered; their next reader reads them again");
        }
        let mut parts = parts;
        commit(
            &self.name,
            consumer,
            parts.iter_mut().map(|(k, p)| (&*k, p)),
            CommitMode::Sync,
        );
        tracing::info!(source = %self.name, partitions = parts.len(), reason = why, "Kafka partitions let go after committing what was delivered");
    }
}

/// Commits, for each partition, the offset up to which every message settled (when it moved).
fn commit<'a>(
    name: &str,
    consumer: &BaseConsumer<Group>,
    parts: impl IntoIterator<Item = (&'a Key, &'a mut Partition)>,
    mode: CommitMode,
) {
    let mut list = TopicPartitionList::new();
    let mut moved: Vec<(&mut Partition, u64)> = Vec::new();
    for ((topic, partition), p) in parts {
        let acked = p.tracker.lock().map_or(p.committed, |t| t.acked());
        if acked > p.committed {
            let Ok(offset) = i64::try_from(acked) else {
                continue;
            };
            if list
                .add_partition_offset(topic, *partition, Offset::Offset(offset))
                .is_ok()
            {
                moved.push((p, acked));
            }
        }
    }
    if moved.is_empty() {
        return;
    }
    match consumer.commit(&list, mode) {
        Ok(()) => {
            for (p, acked) in moved {
                p.committed = acked;
            }
        }
        Err(e) => {
            tracing::warn!(source = %name, error = %e, "cannot commit Kafka offsets; they are committed at the next try (a crash before it re-delivers those messages)");
        }
    }
}

/// What the reader thread needs.
pub struct KafkaReader {
    /// The source's name.
    pub name: Arc<str>,
    /// Its settings.
    pub config: KafkaSourceConfig,
    /// The memory budget.
    pub budget: Budget,
    /// Where chunks go (the parse stage); dropped when the reader stops.
    pub out: mpsc::Sender<LineChunk>,
    /// Cancelled to stop.
    pub shutdown: CancellationToken,
    /// The runtime (to wait for budget and room).
    pub runtime: tokio::runtime::Handle,
    /// Read counters.
    pub stats: Arc<ReadStats>,
}

/// Creates the consumer and subscribes it; an error when librdkafka refuses the settings.
pub fn subscribe(name: &str, config: &KafkaSourceConfig) -> Result<BaseConsumer<Group>, String> {
    let group = Group {
        name: Arc::from(name),
        parts: Mutex::new(HashMap::new()),
        drain: config.drain(),
        paused: std::sync::atomic::AtomicBool::new(false),
    };
    let consumer: BaseConsumer<Group> = config
        .client_config()
        .create_with_context(group)
        .map_err(|e| format!("kafka consumer: {e}"))?;
    let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| format!("kafka subscribe: {e}"))?;
    Ok(consumer)
}

/// How long one poll waits for a message when none is queued.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// How long the reader waits for room before it pauses its partitions and serves the group
/// while it waits. A rebalance waits at most this long for this member.
const PAUSE_AFTER: Duration = Duration::from_secs(5);

/// Why handing a chunk on stopped.
enum Stop {
    /// The source is shutting down.
    Shutdown,
    /// The pipeline stopped taking chunks.
    Closed,
}

impl KafkaReader {
    /// Reads until shut down; then lets every partition go (waiting for what is in flight and
    /// committing what settled) and leaves the group.
    pub fn run(self, consumer: BaseConsumer<Group>) {
        let chunk_messages = self.config.chunk_messages.unwrap_or(1000);
        let commit_every = self
            .config
            .commit_interval
            .map_or(Duration::from_secs(1), |s| s.0);
        let mut last_commit = Instant::now();
        let mut last_error: Option<Instant> = None;
        let mut out = Some(self.out.clone());
        'read: while !self.shutdown.is_cancelled() {
            if last_commit.elapsed() >= commit_every {
                let mut parts = consumer.context().lock();
                commit(&self.name, &consumer, parts.iter_mut(), CommitMode::Sync);
                drop(parts);
                last_commit = Instant::now();
            }
            let holding = consumer
                .context()
                .lock()
                .values()
                .any(|p| !p.batch.is_empty());
            let wait = if holding { Duration::ZERO } else { POLL_WAIT };
            let full = match consumer.poll(wait) {
                Some(Ok(message)) => self.add(&consumer, &message, chunk_messages),
                Some(Err(e)) => {
                    if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(source = %self.name, error = %e, "Kafka consumer error");
                        last_error = Some(Instant::now());
                    }
                    None
                }
                None => {
                    // Nothing more right now: hand on every partial chunk.
                    let keys: Vec<Key> = consumer
                        .context()
                        .lock()
                        .iter()
                        .filter(|(_, p)| !p.batch.is_empty())
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in keys {
                        if let Err(stop) = self.emit(&consumer, out.as_ref(), &key) {
                            if matches!(stop, Stop::Closed) {
                                out = None;
                            }
                            break 'read;
                        }
                    }
                    None
                }
            };
            if let Some(key) = full {
                if let Err(stop) = self.emit(&consumer, out.as_ref(), &key) {
                    if matches!(stop, Stop::Closed) {
                        out = None;
                    }
                    break;
                }
            }
        }
        // The parse stage ends once its input closes: let it hand on what it has.
        drop(out);
        drop(self.out);
        let all = consumer.context().take(|_| true);
        consumer.context().let_go(&consumer, all, "shutdown");
        consumer.unsubscribe();
        // Closing leaves the group now, so its partitions move to the other members at once.
        drop(consumer);
    }

    /// Adds a message to its partition's batch; the partition's key when the batch is full.
    fn add(
        &self,
        consumer: &BaseConsumer<Group>,
        message: &BorrowedMessage<'_>,
        chunk_messages: usize,
    ) -> Option<Key> {
        let (topic, partition) = (message.topic(), message.partition());
        let offset = u64::try_from(message.offset()).ok()?;
        let payload = message.payload().unwrap_or_default();
        let (text, invalid_utf8) = match std::str::from_utf8(payload) {
            Ok(t) => (t.to_owned(), false),
            Err(_) => (String::from_utf8_lossy(payload).into_owned(), true),
        };
        let id = message.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == "auditship.id")
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(Box::from)
        });
        self.stats
            .bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        let record = Record {
            text,
            offset,
            end: offset + 1,
            truncated: false,
            invalid_utf8,
            partial: false,
            read_at: crate::time::now_ms(),
            id,
            start: 0,
        };
        let mut parts = consumer.context().lock();
        // A partition's key is allocated when it is first seen, not for every message.
        let known = |k: &Key| k.1 == partition && k.0 == topic;
        if !parts.keys().any(known) {
            let mut name = topic.as_bytes().to_vec();
            name.push(0);
            name.extend_from_slice(&partition.to_le_bytes());
            parts.insert(
                (topic.to_owned(), partition),
                Partition {
                    tracker: Arc::new(Mutex::new(FileTracker::new(offset))),
                    file_id: crate::source::fingerprint::fnv1a(&name) | 1,
                    committed: offset,
                    next: offset,
                    batch: Vec::new(),
                    bytes: 0,
                },
            );
        }
        let (key, part) = parts.iter_mut().find(|(k, _)| known(k))?;
        if offset < part.next {
            // Read before (a fetch that restarted behind what was read): in hand already.
            return None;
        }
        if offset > part.next {
            // A compacted or transactional topic leaves gaps; anything else is a fault of the
            // client or the broker worth knowing of.
            tracing::warn!(source = %self.name, topic = %key.0, partition = key.1, expected = part.next, got = offset, "Kafka offsets skipped: the messages in between were not read (a compacted or transactional topic, or a broker that answered a fetch from the wrong place)");
        }
        part.next = offset + 1;
        part.bytes += record.text.len();
        part.batch.push(record);
        // As a file is read: chunks of at most `READ_BYTES` of text, so that several fit in
        // the memory budget at once and the sinks' batches fill while more is read.
        (part.batch.len() >= chunk_messages || part.bytes >= super::file::READ_BYTES)
            .then(|| key.clone())
    }

    /// Hands the batch of partition `key` on: reserves budget, registers it with the
    /// partition's tracker and sends it to the parse stage.
    fn emit(
        &self,
        consumer: &BaseConsumer<Group>,
        out: Option<&mpsc::Sender<LineChunk>>,
        key: &Key,
    ) -> Result<(), Stop> {
        let out = out.ok_or(Stop::Closed)?;
        let Some((records, tracker)) = consumer.context().lock().get_mut(key).map(|p| {
            p.bytes = 0;
            (std::mem::take(&mut p.batch), p.tracker.clone())
        }) else {
            return Ok(());
        };
        if records.is_empty() {
            return Ok(());
        }
        let text: usize = records.iter().map(|r| r.text.len()).sum();
        let estimate = Budget::estimate(text, records.len());
        let budget = self.budget.clone();
        let reservation = self
            .wait(consumer, budget.reserve(estimate))
            .ok_or(Stop::Shutdown)?;
        let permit = self.wait(consumer, out.reserve()).ok_or(Stop::Shutdown)?;
        let Ok(permit) = permit else {
            return Err(Stop::Closed);
        };
        // A rebalance while waiting may have taken the partition away (and maybe given it back,
        // to be read again from its committed offset): then these messages are not ours.
        let parts = consumer.context().lock();
        let Some(part) = parts.get(key).filter(|p| Arc::ptr_eq(&p.tracker, &tracker)) else {
            return Ok(());
        };
        let end = records.last().map_or(0, |r| r.end);
        let Ok(seq) = part.tracker.lock().map(|mut t| t.register(end)) else {
            return Ok(());
        };
        let receiver: Arc<dyn crate::ack::AckReceiver> = part.tracker.clone();
        self.stats
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let read_at = records.first().map_or(0, |r| r.read_at);
        let chunk = LineChunk {
            path: Arc::from(""),
            file_id: part.file_id,
            records,
            acks: Acks::holding(
                ChunkAck::of_file(seq, receiver, part.file_id, read_at, None),
                Some(reservation),
            ),
        };
        drop(parts);
        permit.send(chunk);
        Ok(())
    }

    /// Waits for `future`; while it takes long, pauses the assigned partitions and keeps
    /// serving the group (messages librdkafka had already queued join their batches).
    /// `None` when shutting down.
    fn wait<T>(
        &self,
        consumer: &BaseConsumer<Group>,
        future: impl Future<Output = T>,
    ) -> Option<T> {
        let mut future = std::pin::pin!(future);
        let mut paused: Option<TopicPartitionList> = None;
        let started = Instant::now();
        let result = loop {
            let shutdown = self.shutdown.clone();
            let step = self.runtime.block_on(async {
                tokio::select! {
                    v = &mut future => Some(Some(v)),
                    () = shutdown.cancelled() => Some(None),
                    () = tokio::time::sleep(Duration::from_millis(100)) => None,
                }
            });
            if let Some(done) = step {
                break done;
            }
            // Short waits are the sinks' ordinary pace (a batch gathering for its timeout):
            // librdkafka's bounded prefetch holds the messages meanwhile and its heartbeats go
            // on. Only a long wait pauses, to serve the group.
            if started.elapsed() < PAUSE_AFTER {
                continue;
            }
            if paused.is_none() {
                consumer.context().paused.store(true, Ordering::Release);
                let assigned = consumer.assignment().unwrap_or_default();
                let _ = consumer.pause(&assigned);
                paused = Some(assigned);
            }
            if let Some(Ok(message)) = consumer.poll(Duration::ZERO) {
                self.add(consumer, &message, usize::MAX);
            }
        };
        if let Some(list) = paused {
            consumer.context().paused.store(false, Ordering::Release);
            // Partitions revoked meanwhile are not ours to resume: resume what is assigned.
            let assigned = consumer.assignment().unwrap_or(list);
            let _ = consumer.resume(&assigned);
        }
        result
    }
}
