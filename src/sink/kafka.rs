//! `kafka`: each event one message (the ECS JSON document), produced with librdkafka
//! (`rdkafka`), `acks=all` and idempotence by default. An event is settled only when the
//! broker's delivery report says it was written: a permanent refusal (message too large, an
//! unknown topic, no authorisation) dead-letters that event with the reason; any other error
//! sends that event again, alone, after a backoff. The topic is a template (`audit-{{
//! event.module }}`), the key a field (one key stays ordered in one partition), and
//! `event.module`, `event.dataset` and the event's document id travel as headers, so a
//! consumer (the `kafka` source) can keep the id across the second hop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;

use super::{Sink, SinkError};
use crate::ack::Settlement;
use crate::batch::BatchConfig;
use crate::dead_letter::DeadLetter;
use crate::event::{Event, ValueRef};

/// `[sinks.<name>] type = "kafka"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `host:port[,host:port...]` of the brokers.
    pub bootstrap_servers: String,
    /// The topic, a template with `{{ field.path }}` (e.g. `audit-{{ event.module }}`).
    pub topic: String,
    /// The field whose value is the message key (e.g. `host.name`, `user.name`); none: no key
    /// (the partitioner spreads the messages).
    pub key_field: Option<String>,
    /// `json` (the ECS document; the default).
    #[serde(default)]
    pub encoding: Encoding,
    /// `none` (default), `gzip`, `lz4`, `zstd` or `snappy`.
    #[serde(default)]
    pub compression: Compression,
    /// `all` (default), `1` or `0`: the brokers that must have the message before it counts.
    pub acks: Option<String>,
    /// How long librdkafka tries one message before its delivery report says it failed
    /// (it is then sent again by this sink; default 30s).
    pub message_timeout: Option<crate::config::units::Span>,
    /// SASL: `{ mechanism = "SCRAM-SHA-512", username = "...", password = "${KAFKA_PASSWORD}" }`
    /// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
    pub sasl: Option<Sasl>,
    /// TLS to the brokers: `{ enabled = true, ca_file, crt_file, key_file, verify }`.
    pub tls: Option<KafkaTls>,
    /// Any other librdkafka producer setting, as librdkafka names it
    /// (`{ "linger.ms" = "10" }`); they win over the settings above.
    #[serde(default)]
    pub librdkafka_options: BTreeMap<String, String>,
    /// Batch limits (the events one delivery waits for).
    #[serde(default)]
    pub batch: BatchConfig,
    /// Retry settings.
    #[serde(default)]
    pub retry: super::http::RetryConfig,
}

/// Message encoding.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The ECS JSON document.
    #[default]
    Json,
}

/// Compression of message batches on the wire.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// None.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
    /// Snappy.
    Snappy,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
            Self::Snappy => "snappy",
        }
    }
}

/// SASL settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// User name.
    pub username: String,
    /// Password (use `${VAR}`).
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// TLS settings for the brokers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTls {
    /// Use TLS (default true when the table is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// PEM file of a CA to trust.
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate.
    pub crt_file: Option<std::path::PathBuf>,
    /// PEM client key.
    pub key_file: Option<std::path::PathBuf>,
    /// Verify the broker's certificate (default true).
    #[serde(default = "yes")]
    pub verify: bool,
}

fn yes() -> bool {
    true
}

/// Settings a `librdkafka_options` table may not override: the delivery guarantee rests on
/// them.
const GUARDED: &[&str] = &["enable.idempotence", "acks", "request.required.acks"];

impl KafkaSinkConfig {
    /// Problems the types cannot catch: `(key, message)`.
    #[must_use]
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        check_shared(
            &self.bootstrap_servers,
            self.sasl.as_ref(),
            self.tls.as_ref(),
            &mut problems,
        );
        if self.topic.trim().is_empty() {
            problems.push(("topic", "must not be empty".to_owned()));
        }
        if let Some(a) = self
            .acks
            .as_deref()
            .filter(|a| !matches!(*a, "all" | "1" | "0"))
        {
            problems.push(("acks", format!("`{a}` is not all, 1 or 0")));
        }
        for key in self.librdkafka_options.keys() {
            if GUARDED.contains(&key.as_str()) {
                problems.push((
                    "librdkafka_options",
                    format!("`{key}` is set by the sink (use `acks`); idempotence stays on"),
                ));
            }
        }
        problems
    }

    /// The librdkafka producer settings.
    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", self.acks.as_deref().unwrap_or("all"))
            .set("compression.codec", self.compression.name())
            .set(
                "message.timeout.ms",
                self.message_timeout
                    .map_or(30_000, |s| s.0.as_millis())
                    .to_string(),
            )
            .set("linger.ms", "5");
        secure(&mut c, self.sasl.as_ref(), self.tls.as_ref());
        for (k, v) in &self.librdkafka_options {
            c.set(k, v);
        }
        c
    }
}

/// Sets `security.protocol` and the SASL and TLS settings of a producer or consumer.
pub(crate) fn secure(c: &mut ClientConfig, sasl: Option<&Sasl>, tls: Option<&KafkaTls>) {
    let tls = tls.filter(|t| t.enabled);
    let protocol = match (tls.is_some(), sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    c.set("security.protocol", protocol);
    if let Some(s) = sasl {
        c.set("sasl.mechanism", &s.mechanism)
            .set("sasl.username", &s.username)
            .set("sasl.password", &s.password);
    }
    if let Some(t) = tls {
        let path = |p: &std::path::PathBuf| p.display().to_string();
        if let Some(ca) = &t.ca_file {
            c.set("ssl.ca.location", path(ca));
        }
        if let Some(crt) = &t.crt_file {
            c.set("ssl.certificate.location", path(crt));
        }
        if let Some(key) = &t.key_file {
            c.set("ssl.key.location", path(key));
        }
        c.set(
            "enable.ssl.certificate.verification",
            if t.verify { "true" } else { "false" },
        );
    }
}

/// Problems of the settings a producer and a consumer share: `(key, message)`.
pub(crate) fn check_shared(
    bootstrap_servers: &str,
    sasl: Option<&Sasl>,
    tls: Option<&KafkaTls>,
    problems: &mut Vec<(&'static str, String)>,
) {
    if bootstrap_servers.trim().is_empty() {
        problems.push((
            "bootstrap_servers",
            "must name at least one broker".to_owned(),
        ));
    }
    if let Some(s) = sasl {
        if !matches!(
            s.mechanism.as_str(),
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
        ) {
            problems.push((
                "sasl.mechanism",
                format!(
                    "`{}` is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    s.mechanism
                ),
            ));
        }
    }
    if let Some(t) = tls {
        for file in [&t.ca_file, &t.crt_file, &t.key_file].into_iter().flatten() {
            if !file.is_file() {
                problems.push(("tls", format!("{} is not a readable file", file.display())));
            }
        }
    }
}

/// The running sink. Clones share the producer.
#[derive(Clone)]
pub struct KafkaSink {
    name: Arc<str>,
    producer: FutureProducer,
    topic: String,
    key_field: Option<String>,
    dead_letter: Arc<DeadLetter>,
    sent: u64,
}

/// What one round of sends came to.
enum Round {
    /// Every event settled (delivered or dead-lettered).
    Done,
    /// These events must be sent again.
    Retry(Vec<usize>, String),
}

impl KafkaSink {
    /// A sink producing with `config`; an error when librdkafka refuses the settings.
    pub fn new(
        name: &str,
        config: &KafkaSinkConfig,
        dead_letter: Arc<DeadLetter>,
    ) -> Result<Self, String> {
        let producer: FutureProducer = config
            .client_config()
            .create()
            .map_err(|e| format!("kafka producer: {e}"))?;
        Ok(Self {
            name: Arc::from(name),
            producer,
            topic: config.topic.clone(),
            key_field: config.key_field.clone(),
            dead_letter,
            sent: 0,
        })
    }

    /// The topic of `event`: the template rendered (in the case written), with every
    /// character Kafka does not allow in a topic name (`[A-Za-z0-9._-]`) as `_`; a template
    /// without placeholders as written.
    fn topic_of(&self, event: &Event) -> std::borrow::Cow<'_, str> {
        if !self.topic.contains("{{") && !self.topic.contains('%') {
            return std::borrow::Cow::Borrowed(&self.topic);
        }
        let rendered = super::elasticsearch::render_template(&self.topic, event);
        std::borrow::Cow::Owned(
            rendered
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect(),
        )
    }

    /// Sends the events `which` of `events` and waits for every delivery report.
    async fn round(&mut self, events: &[Event], which: &[usize]) -> Result<Round, SinkError> {
        let mut pending = Vec::with_capacity(which.len());
        let mut again = Vec::new();
        let mut refused: Vec<(usize, String)> = Vec::new();
        let mut last_error = String::new();
        for &i in which {
            let event = &events[i];
            let mut payload = Vec::with_capacity(1024);
            event.write_json(&mut payload);
            let topic = self.topic_of(event);
            let key = self
                .key_field
                .as_deref()
                .and_then(|k| crate::transform::detect::rules::key_of(event, k));
            let id = super::elasticsearch::document_id(event);
            let headers = headers(event, &id);
            let mut record = FutureRecord::to(&topic).payload(&payload).headers(headers);
            if let Some(k) = &key {
                record = record.key(k.as_str());
            }
            // A full local queue: wait for librdkafka to drain some (bounded by the batch).
            let mut waits = 0u32;
            let sent = loop {
                match self.producer.send_result(record) {
                    Ok(future) => break Some(future),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if waits < 6000 =>
                    {
                        record = back;
                        waits += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        classify(&e, i, &mut again, &mut refused, &mut last_error);
                        break None;
                    }
                }
            };
            if let Some(future) = sent {
                pending.push((i, payload.len() as u64, future));
            }
        }
        for (i, bytes, future) in pending {
            match future.await {
                Ok(Ok(_)) => self.sent += bytes,
                Ok(Err((e, _))) => classify(&e, i, &mut again, &mut refused, &mut last_error),
                Err(_canceled) => {
                    again.push(i);
                    "the producer was closed".clone_into(&mut last_error);
                }
            }
        }
        for (i, reason) in &refused {
            self.dead_letter
                .write(
                    &self.name,
                    &format!("Kafka refused the message: {reason}"),
                    std::slice::from_ref(&events[*i]),
                )
                .map_err(|e| SinkError::operator(e.to_string()))?;
        }
        Ok(if again.is_empty() {
            Round::Done
        } else {
            Round::Retry(again, last_error)
        })
    }
}

/// `event.module`, `event.dataset` and `auditship.id` (the document id) as message headers.
fn headers(event: &Event, id: &str) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(3);
    for key in ["event.module", "event.dataset"] {
        if let Some(ValueRef::Str(v)) = event.get(key) {
            headers = headers.insert(Header {
                key,
                value: Some(v),
            });
        }
    }
    headers.insert(Header {
        key: "auditship.id",
        value: Some(id),
    })
}

/// Whether a delivery error is the broker's verdict on the message itself (it will never be
/// taken) rather than a state that passes.
fn permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::InvalidRecord
            | C::UnknownTopic
            | C::UnknownTopicOrPartition
            | C::InvalidTopic
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::InvalidRequiredAcks
    )
}

fn classify(
    error: &KafkaError,
    i: usize,
    again: &mut Vec<usize>,
    refused: &mut Vec<(usize, String)>,
    last: &mut String,
) {
    match error.rdkafka_error_code() {
        Some(code) if permanent(code) => refused.push((i, error.to_string())),
        _ => {
            again.push(i);
            error.to_string().clone_into(last);
        }
    }
}

impl Sink for KafkaSink {
    async fn deliver(&mut self, events: &[Event]) -> Result<Settlement, SinkError> {
        let before = self
            .dead_letter
            .count
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut which: Vec<usize> = (0..events.len()).collect();
        let mut rounds = 0u32;
        loop {
            match self.round(events, &which).await? {
                Round::Done => break,
                Round::Retry(again, error) => {
                    rounds += 1;
                    tracing::warn!(sink = %self.name, messages = again.len(), round = rounds, error = %error, "Kafka did not take some messages; sending them again");
                    tokio::time::sleep(super::retry::backoff(rounds, None)).await;
                    which = again;
                }
            }
        }
        if self
            .dead_letter
            .count
            .load(std::sync::atomic::Ordering::Relaxed)
            > before
        {
            Ok(Settlement::DeadLettered)
        } else {
            Ok(Settlement::Delivered)
        }
    }

    fn take_sent_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }
}
