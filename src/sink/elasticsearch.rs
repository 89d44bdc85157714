//! `elasticsearch`: the bulk API with per-item results, deterministic ids and data streams.
//!
//! A 200 answer to `_bulk` can still refuse items, so every item is read: 2xx delivered; 409 on
//! a `create` with our own id means the document is already there (a re-delivery after a
//! crash): delivered; 429 and 5xx items are sent again, alone; any other refusal (e.g.
//! `mapper_parsing_exception`) goes to the dead-letter file with the document and the error.
//! Request-level answers are classified as in the `http` sink. Ids are derived from the file
//! fingerprint and offset (or the original line), so re-delivery never duplicates.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::http::{
    client, mask_userinfo, retry_after, retryable_status, scrub, Compression, TlsConfig,
};
use super::{Sink, SinkError};
use crate::ack::Settlement;
use crate::batch::BatchConfig;
use crate::config::units::Span;
use crate::dead_letter::DeadLetter;
use crate::encode::body::Bodies;
use crate::encode::request::{Encoded, Framing, Shape, Writer};
use crate::event::{write_json_str, Event, ValueRef};
use crate::parse::tape::{self, Kind, Val};

/// What of a bulk answer the sink reads (Elasticsearch's response filtering, a query parameter
/// every REST API takes): `errors`, and each item's `status` and `error`. An item then reads
/// `{"create":{"status":201}}` instead of about 230 bytes with its index, id, version and
/// shard counts, which the cluster would write and the agent read and drop for every document.
/// Beats and Logstash ask for the same.
const BULK_FILTER: &str = "errors,items.*.error,items.*.status";

/// `[sinks.<name>] type = "elasticsearch"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchSinkConfig {
    /// Cluster URLs; requests go round-robin and fail over on connection errors.
    pub endpoints: Vec<String>,
    /// Index name template: `%Y %m %d` from the event's `@timestamp` (UTC) and
    /// `{{ field.path }}` from its fields (default `auditship-%Y.%m.%d`).
    pub index: Option<String>,
    /// `bulk` (default) or `data_stream`.
    #[serde(default)]
    pub mode: Mode,
    /// Data stream naming (mode `data_stream`).
    #[serde(default)]
    pub data_stream: DataStream,
    /// Ingest pipeline to run.
    pub pipeline: Option<String>,
    /// Authentication.
    pub auth: Option<EsAuth>,
    /// `none` or `gzip` (default).
    #[serde(default = "gzip")]
    pub compression: Compression,
    /// gzip level 0–9 (default 1).
    pub compression_level: Option<u32>,
    /// Batch limits.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Requests in flight at once (default 4).
    pub concurrency: Option<usize>,
    /// Timeout of one request (default 60s).
    pub request_timeout: Option<Span>,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Retry settings.
    #[serde(default)]
    pub retry: super::http::RetryConfig,
    /// `deterministic` (default: from file and offset) or `none` (Elasticsearch picks).
    #[serde(default)]
    pub id: IdStrategy,
}

impl ElasticsearchSinkConfig {
    /// Requests in flight at once.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(4).max(1)
    }

    /// Problems the types cannot catch: `(key, message)`.
    #[must_use]
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = self.tls.check();
        if self.endpoints.is_empty() {
            problems.push(("endpoints", "must list at least one URL".to_owned()));
        }
        for e in &self.endpoints {
            if let Err(err) = reqwest::Url::parse(e) {
                problems.push((
                    "endpoints",
                    format!("`{}` is not a URL: {err}", mask_userinfo(e)),
                ));
            }
        }
        problems
    }
}

fn gzip() -> Compression {
    Compression::Gzip
}

/// Index or data stream.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `create` into the templated index.
    #[default]
    Bulk,
    /// `create` into `<type>-<dataset>-<namespace>`.
    DataStream,
}

/// Data stream naming.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataStream {
    /// Type (default `logs`).
    #[serde(rename = "type", default = "logs")]
    pub kind: String,
    /// Dataset (default `auditship`).
    #[serde(default = "auditship")]
    pub dataset: String,
    /// Namespace (default `default`).
    #[serde(default = "default_ns")]
    pub namespace: String,
}

fn logs() -> String {
    "logs".into()
}
fn auditship() -> String {
    "auditship".into()
}
fn default_ns() -> String {
    "default".into()
}

impl Default for DataStream {
    fn default() -> Self {
        Self {
            kind: logs(),
            dataset: auditship(),
            namespace: default_ns(),
        }
    }
}

/// Authentication.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum EsAuth {
    /// HTTP basic.
    Basic {
        /// User.
        user: String,
        /// Password (use `${VAR}`).
        password: String,
    },
    /// An API key (`id:key` base64, as Elasticsearch returns it as `encoded`).
    ApiKey {
        /// The encoded key (use `${VAR}`).
        key: String,
    },
}

/// How documents get their `_id`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IdStrategy {
    /// Derived from the event's origin: re-delivery creates no duplicates.
    #[default]
    Deterministic,
    /// Left to Elasticsearch.
    None,
}

/// The running sink (cheap to clone: one per request in flight).
#[derive(Clone)]
pub struct ElasticsearchSink {
    name: Arc<str>,
    client: reqwest::Client,
    config: Arc<ElasticsearchSinkConfig>,
    next: Arc<AtomicUsize>,
    /// Body sizes and buffers, shared by the sink's deliveries.
    bodies: Arc<Bodies>,
    dead_letter: Arc<DeadLetter>,
    /// Bytes of bulk requests answered 2xx, not yet counted.
    sent: u64,
}

/// The result of one bulk round.
enum Round {
    /// Indices (into the events sent) to send again.
    Retry(Vec<usize>, Option<Duration>),
    /// Everything settled.
    Done,
}

impl ElasticsearchSink {
    /// A sink named `name`.
    pub fn new(
        name: &str,
        config: &ElasticsearchSinkConfig,
        dead_letter: Arc<DeadLetter>,
    ) -> Result<Self, String> {
        let timeout = config
            .request_timeout
            .map_or(Duration::from_secs(60), |s| s.0);
        Ok(Self {
            name: Arc::from(name),
            client: client(&config.tls, timeout)?,
            config: Arc::new(config.clone()),
            next: Arc::new(AtomicUsize::new(0)),
            bodies: Arc::new(Bodies::new(config.concurrency())),
            dead_letter,
            sent: 0,
        })
    }

    /// Requests in flight at once.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.config.concurrency()
    }

    fn endpoint(&self) -> &str {
        let n = self.config.endpoints.len().max(1);
        let i = self.next.load(Ordering::Relaxed) % n;
        self.config
            .endpoints
            .get(i)
            .map_or("", String::as_str)
            .trim_end_matches('/')
    }

    fn fail_over(&self) {
        self.next.fetch_add(1, Ordering::Relaxed);
    }

    fn authorise(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.auth {
            Some(EsAuth::Basic { user, password }) => request.basic_auth(user, Some(password)),
            Some(EsAuth::ApiKey { key }) => {
                request.header("Authorization", format!("ApiKey {key}"))
            }
            None => request,
        }
    }

    /// Logs the cluster's version; retried in the background until it answers (not fatal).
    pub async fn health_check(self) {
        for attempt in 1..=u32::MAX {
            let url = format!("{}/", self.endpoint());
            match self.authorise(self.client.get(&url)).send().await {
                Ok(r) if r.status().is_success() => {
                    let text = r.text().await.unwrap_or_default();
                    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    let version = body["version"]["number"].as_str().unwrap_or("unknown");
                    tracing::info!(sink = %self.name, endpoint = %mask_userinfo(self.endpoint()), version, "Elasticsearch reachable");
                    return;
                }
                Ok(r) => {
                    tracing::warn!(sink = %self.name, endpoint = %mask_userinfo(&url), status = r.status().as_u16(), "Elasticsearch health check failed; retrying");
                }
                Err(e) => {
                    self.fail_over();
                    tracing::warn!(sink = %self.name, endpoint = %mask_userinfo(&url), error = %scrub(&e.to_string(), &url), "Elasticsearch unreachable; retrying");
                }
            }
            tokio::time::sleep(super::retry::backoff(attempt.min(10), None)).await;
        }
    }

    /// The index for `event`.
    fn index_of(&self, event: &Event) -> String {
        if self.config.mode == Mode::DataStream {
            let ds = &self.config.data_stream;
            return format!("{}-{}-{}", ds.kind, ds.dataset, ds.namespace);
        }
        render_index(self.template(), event)
    }

    fn template(&self) -> &str {
        self.config.index.as_deref().unwrap_or("auditship-%Y.%m.%d")
    }

    /// The bulk body for `events`, compressed when configured: an action line and the
    /// document per event.
    fn body<E: std::borrow::Borrow<Event>>(
        &self,
        events: impl ExactSizeIterator<Item = E>,
    ) -> std::io::Result<Encoded> {
        let count = events.len();
        let shape = Shape {
            framing: Framing::Lines,
            gzip: (self.config.compression == Compression::Gzip)
                .then_some(self.config.compression_level),
            action_line: true,
        };
        let mut body = Writer::new(shape, count, &self.bodies);
        // An index that depends only on the day is rendered once per day in the batch.
        let by_day = self.config.mode == Mode::DataStream || !self.template().contains("{{");
        let mut last: Option<(i64, Vec<u8>)> = None;
        for event in crate::event::read_ahead(events) {
            let event = event.borrow();
            let out = body.record();
            out.extend_from_slice(b"{\"create\":{\"_index\":");
            let day = event
                .timestamp
                .unwrap_or(event.created)
                .div_euclid(86_400_000);
            match &last {
                Some((d, quoted)) if by_day && *d == day => out.extend_from_slice(quoted),
                _ => {
                    let mut quoted = Vec::new();
                    write_json_str(&self.index_of(event), &mut quoted);
                    out.extend_from_slice(&quoted);
                    last = Some((day, quoted));
                }
            }
            if self.config.id == IdStrategy::Deterministic {
                out.extend_from_slice(b",\"_id\":");
                write_document_id(event, out);
            }
            out.extend_from_slice(b"}}\n");
            crate::encode::ndjson::line(event, out);
            body.end_record()?;
        }
        self.bodies.learn(count, body.written());
        body.finish()
    }

    async fn round(&mut self, batch: &Encoded) -> Result<Round, SinkError> {
        let body = batch.body.clone();
        let length = body.len() as u64;
        let mut url = format!("{}/_bulk?filter_path={BULK_FILTER}", self.endpoint());
        if let Some(p) = &self.config.pipeline {
            url.push_str("&pipeline=");
            url.push_str(p);
        }
        let mut request = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson");
        if batch.gzip() {
            request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        let response = match self.authorise(request).body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                self.fail_over();
                return Err(SinkError::retry(format!(
                    "bulk request to {} failed: {}",
                    mask_userinfo(&url),
                    scrub(&e.to_string(), &url)
                )));
            }
        };
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        if !(200..300).contains(&status) {
            let answer = response.bytes().await.unwrap_or_default();
            let text = String::from_utf8_lossy(&answer[..answer.len().min(16 * 1024)]);
            // A refusal of the request (credentials, index path, body size) is not a
            // verdict on each document: retried, or split down to the single document
            // refused on its own (see `SinkError::for_status`). Per-document verdicts come
            // in a 2xx answer's items.
            let snippet: String = text.chars().take(4096).collect();
            let mut e = SinkError::for_status(&mask_userinfo(&url), status, &scrub(&snippet, &url));
            e.retry_after = wait;
            return Err(e);
        }
        let answer = read_answer(response).await;
        self.sent += length;
        self.items(batch, &answer, wait)
    }

    /// Reads the per-item results of a 2xx bulk answer to `batch`.
    fn items(
        &self,
        batch: &Encoded,
        answer: &[u8],
        wait: Option<Duration>,
    ) -> Result<Round, SinkError> {
        // Elasticsearch writes `errors` before `items`: when it says there were none, every
        // document was taken and the item list need not be read (as other shippers do).
        if errors_first(answer) == Some(false) {
            return Ok(Round::Done);
        }
        let text = String::from_utf8_lossy(answer);
        let text: &str = &text;
        // Otherwise every item is read, in place (a response lists every document).
        let tape = tape::read(text).map_err(|tape::Refused| {
            SinkError::retry(format!("unreadable bulk response: {}", tape::explain(text)))
        })?;
        let root = tape.root();
        if root.get("errors").and_then(Val::bool) == Some(false) {
            return Ok(Round::Done);
        }
        let items: Vec<Val<'_, '_>> = root
            .get_kind("items", Kind::Array)
            .map(|a| a.children().collect())
            .unwrap_or_default();
        if items.len() != batch.len() {
            return Err(SinkError::retry(format!(
                "bulk response has {} items for {} documents",
                items.len(),
                batch.len()
            )));
        }
        let mut again = Vec::new();
        let mut refused: Vec<(usize, String)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            // `{"create": {...}}`: the result is the one member's value.
            let result = item.members().next().map(|(_, v)| v);
            let status = result
                .and_then(|r| r.get("status"))
                .and_then(Val::u64)
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(0);
            match status {
                200..=299 => {}
                // Our id already exists: this document was delivered before (a re-send).
                409 if self.config.id == IdStrategy::Deterministic => {}
                s if retryable_status(s) => again.push(i),
                _ => {
                    let error = result
                        .and_then(|r| r.get("error"))
                        .and_then(|e| serde_json::from_str::<serde_json::Value>(e.json()).ok())
                        .unwrap_or_default();
                    refused.push((i, error.to_string()));
                }
            }
        }
        for (i, error) in &refused {
            let document = batch
                .events(&[*i], &self.name)
                .map_err(|e| SinkError::fatal(format!("cannot read the bulk body back: {e}")))?;
            self.dead_letter
                .write(
                    &self.name,
                    &format!("Elasticsearch refused the document: {error}"),
                    &document,
                )
                .map_err(|e| SinkError::operator(e.to_string()))?;
        }
        if again.is_empty() {
            Ok(Round::Done)
        } else {
            Ok(Round::Retry(again, wait))
        }
    }
}

/// The bytes of a 2xx bulk answer that [`ElasticsearchSink::items`] needs. An answer lists every
/// document (about 26 bytes each with [`BULK_FILTER`], 230 from a server that ignores it), and
/// one that starts with `"errors":false` is settled by its first bytes: the rest is read and
/// dropped chunk by chunk as it comes, never gathered (nor copied) into one buffer. Any other
/// answer is kept whole.
/// An answer that breaks off is empty (unreadable: the batch is retried), as before.
async fn read_answer(mut response: reqwest::Response) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut settled = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if !settled => {
                kept.extend_from_slice(&chunk);
                settled = errors_first(&kept) == Some(false);
            }
            Ok(Some(_)) => {}
            Ok(None) => return kept,
            Err(_) => return Vec::new(),
        }
    }
}

/// The top-level `errors` of a bulk response, when it comes before anything but numbers,
/// booleans and `null` (as Elasticsearch writes it: `{"took":3,"errors":false,"items":[...`);
/// `None` when it does not, and then the whole response is read.
fn errors_first(b: &[u8]) -> Option<bool> {
    let ws = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut i = ws(0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    loop {
        i = ws(i + 1);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let len = memchr::memchr2(b'"', b'\\', &b[i + 1..])?;
        if b[i + 1 + len] != b'"' {
            return None;
        }
        let key = &b[i + 1..i + 1 + len];
        i = ws(i + len + 2);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = ws(i + 1);
        let rest = &b[i..];
        if key == b"errors" {
            // The literal, then what may follow a value.
            let ends = |n: usize| {
                matches!(
                    rest.get(n),
                    Some(b',' | b'}' | b' ' | b'\n' | b'\r' | b'\t')
                )
            };
            return if rest.starts_with(b"false") && ends(5) {
                Some(false)
            } else if rest.starts_with(b"true") && ends(4) {
                Some(true)
            } else {
                None
            };
        }
        // Skip a scalar: a number, `true`, `false` or `null`.
        let len = rest
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.')))
            .unwrap_or(rest.len());
        if len == 0 || rest[0] == b'"' {
            return None;
        }
        i = ws(i + len);
        if b.get(i) != Some(&b',') {
            return None;
        }
    }
}

impl Sink for ElasticsearchSink {
    async fn deliver(&mut self, events: &[Event]) -> Result<Settlement, SinkError> {
        super::deliver_by_encoding(self, events).await
    }

    fn idle(&self) {
        self.bodies.release();
    }

    fn encode(&self, events: &[Event]) -> Option<std::io::Result<Encoded>> {
        Some(self.body(events.iter()))
    }

    fn encode_owned(&self, events: Vec<Event>) -> Result<std::io::Result<Encoded>, Vec<Event>> {
        Ok(self.body(events.into_iter()))
    }

    /// Sends the bulk body, then again the documents Elasticsearch asked to retry (alone, in
    /// a body made of their records), until every document is settled.
    async fn deliver_encoded(&mut self, batch: &Encoded) -> Result<Settlement, SinkError> {
        let mut rounds: u32 = 0;
        let before = self.dead_letter.count.load(Ordering::Relaxed);
        let mut again: Option<Encoded> = None;
        loop {
            let current = again.as_ref().unwrap_or(batch);
            match self.round(current).await? {
                Round::Done => break,
                Round::Retry(which, wait) => {
                    rounds += 1;
                    tracing::warn!(sink = %self.name, items = which.len(), round = rounds, "Elasticsearch asked to retry some documents; resending them alone");
                    let next = current.subset(&which).map_err(|e| {
                        SinkError::fatal(format!("cannot read the bulk body back: {e}"))
                    })?;
                    again = Some(next);
                    tokio::time::sleep(super::retry::backoff(rounds, wait)).await;
                }
            }
        }
        if self.dead_letter.count.load(Ordering::Relaxed) > before {
            Ok(Settlement::DeadLettered)
        } else {
            Ok(Settlement::Delivered)
        }
    }

    fn take_sent_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }
}

/// A 128-bit id from the event's file fingerprint and offset (or its original text), as 32
/// hex digits: the same line at the same place always gets the same id, so a batch re-sent
/// after a crash creates no duplicates.
#[must_use]
pub fn document_id(event: &Event) -> String {
    let mut out = Vec::with_capacity(34);
    write_document_id(event, &mut out);
    String::from_utf8(out[1..out.len() - 1].to_vec()).unwrap_or_default()
}

/// Appends the document id, as a JSON string, to `out`: the one an earlier hop gave the
/// event ([`Event::given_id`]: only characters that need no escaping), else one made from
/// where the event was read and its original text.
pub(crate) fn write_document_id(event: &Event, out: &mut Vec<u8>) {
    use crate::source::fingerprint::fnv1a;
    if let Some(id) = event.given_id() {
        out.push(b'"');
        out.extend_from_slice(id.as_bytes());
        out.push(b'"');
        return;
    }
    let mut origin = [0u8; 16];
    origin[..8].copy_from_slice(&event.origin.file_id.to_le_bytes());
    origin[8..].copy_from_slice(&event.origin.offset.to_le_bytes());
    let line = event.original().as_bytes();
    let seed = fnv1a(&origin);
    let a = if event.origin.file_id == 0 {
        word_hash(fnv1a(&[]), line)
    } else {
        seed
    };
    let b = word_hash(seed, line);
    let mut text = [0u8; 34];
    text[0] = b'"';
    text[33] = b'"';
    for (i, byte) in a.to_be_bytes().iter().chain(&b.to_be_bytes()).enumerate() {
        text[1 + 2 * i..3 + 2 * i].copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
    }
    out.extend_from_slice(&text);
}

/// Each byte's two lowercase hex digits, one lookup per byte of an id.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    pairs
};

/// FNV-1a over 8-byte words (then the tail bytes), continuing from `seed`, with murmur3's
/// 64-bit finaliser so that every input bit reaches every output bit. Eight times fewer
/// multiplications than byte-wise FNV over a line; the ids are part of the delivery contract,
/// so this function must never change.
fn word_hash(seed: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut h = seed;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(PRIME);
    }
    for &byte in words.remainder() {
        h = (h ^ u64::from(byte)).wrapping_mul(PRIME);
    }
    h ^= bytes.len() as u64;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Renders an index template for `event` (lower-cased, as Elasticsearch requires).
#[must_use]
pub fn render_index(template: &str, event: &Event) -> String {
    render_template(template, event).to_lowercase()
}

/// Renders a name template for `event`: `{{ field.path }}` (its value, or `unknown`) and
/// `%Y`, `%m`, `%d` of the event's time, in the case written.
#[must_use]
pub fn render_template(template: &str, event: &Event) -> String {
    let ms = event.timestamp.unwrap_or(event.created);
    let (y, mo, d) = crate::time::civil_from_days(ms.div_euclid(86_400_000));
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            let end = after.find("}}").unwrap_or(after.len());
            let path = after[..end].trim();
            let value = match event.get(path) {
                Some(ValueRef::Str(s)) => s.to_owned(),
                Some(ValueRef::Int(i)) => i.to_string(),
                _ => "unknown".to_owned(),
            };
            out.push_str(&value);
            rest = after.get(end + 2..).unwrap_or("");
        } else if let Some(after) = rest.strip_prefix('%') {
            match after.chars().next() {
                Some('Y') => {
                    let _ = write!(out, "{y:04}");
                }
                Some('m') => {
                    let _ = write!(out, "{mo:02}");
                }
                Some('d') => {
                    let _ = write!(out, "{d:02}");
                }
                Some(c) => {
                    out.push('%');
                    out.push(c);
                }
                None => out.push('%'),
            }
            rest = after.get(1..).unwrap_or("");
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_are_read_from_the_head_of_a_bulk_response() {
        use super::errors_first;
        assert_eq!(
            errors_first(br#"{"took":3,"errors":false,"items":[]}"#),
            Some(false)
        );
        assert_eq!(
            errors_first(br#" { "took" : 3 , "errors" : true , "items":[]}"#),
            Some(true)
        );
        assert_eq!(errors_first(br#"{"errors":false}"#), Some(false));
        assert_eq!(errors_first(br#"{"errors":falsey}"#), None);
        assert_eq!(errors_first(br#"{"errors":false"#), None);
        // Anything else before `errors`, or no `errors` at all: the response is read in full.
        assert_eq!(errors_first(br#"{"items":[],"errors":false}"#), None);
        assert_eq!(errors_first(br#"{"took":"3","errors":false}"#), None);
        assert_eq!(errors_first(br#"{"took":3}"#), None);
        assert_eq!(errors_first(br#"{"err\u006frs":false}"#), None);
        assert_eq!(errors_first(b"not json"), None);
        assert_eq!(errors_first(b""), None);
    }

    use super::*;
    use crate::event::{Origin, Text, Value};

    #[test]
    fn index_templates_use_event_time_and_fields() {
        let mut e = Event::new("x".into(), Origin::default(), 0);
        e.timestamp = crate::time::utc_ms(2025, 1, 12, 7, 0, 0, 0);
        e.set(
            "event.dataset",
            Value::Str(Text::Static("dogtag.signed_audit")),
        );
        assert_eq!(render_index("audit-%Y.%m.%d", &e), "audit-2025.01.12");
        assert_eq!(
            render_index("audit-{{ event.dataset }}-%Y.%m", &e),
            "audit-dogtag.signed_audit-2025.01"
        );
        assert_eq!(render_index("a-{{ missing }}", &e), "a-unknown");
    }

    #[test]
    fn ids_are_stable_and_differ_by_origin() {
        let at = |offset| {
            Event::new(
                "same line".into(),
                Origin {
                    file_id: 9,
                    offset,
                    ..Origin::default()
                },
                0,
            )
        };
        assert_eq!(document_id(&at(10)), document_id(&at(10)));
        assert_ne!(document_id(&at(10)), document_id(&at(11)));
        assert_eq!(document_id(&at(10)).len(), 32);
        // The scheme is part of the delivery contract: ids must not change between versions.
        assert_eq!(document_id(&at(10)), "f7320dfba4f751667f8acde608a99868");
    }
}
