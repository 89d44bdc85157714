//! Sources: where events come from: `file` (tailed files) and `kafka` (a consumer group). A
//! source's reader thread hands chunks of records to an order-preserving parse stage that uses
//! every core; each chunk carries the acknowledgement its checkpoint (a file offset, a
//! partition's committed offset) waits for.

pub mod discover;
pub mod file;
pub mod fingerprint;
pub mod kafka;
pub mod lines;
pub mod parallel;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ack::Acks;
use crate::budget::Budget;
use crate::checkpoint::CheckpointBook;
use crate::config::document::{Document, Section};
use crate::config::ConfigError;
use crate::fanout::Fanout;
use crate::parse;
pub use file::{FileLag, FileSourceConfig, ReadStats};
use lines::Record;

/// Source types a pipeline file may name.
pub const TYPES: &[&str] = &["file", "kafka"];

/// Records read from one file, with the acknowledgement that covers their bytes.
#[derive(Debug)]
pub struct LineChunk {
    /// The file's path when read.
    pub path: Arc<str>,
    /// The file's stable id.
    pub file_id: u64,
    /// The records, in file order.
    pub records: Vec<Record>,
    /// Settled when every sink has the events.
    pub acks: Acks,
}

/// A source's checked settings.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per configuration load
pub enum SourceConfig {
    /// `file`.
    File(FileSourceConfig),
    /// `kafka`.
    Kafka(Box<kafka::KafkaSourceConfig>),
}

impl SourceConfig {
    /// Reads the settings of a source of type `kind`; `None` for an unknown type (no error
    /// recorded) or after recording errors.
    pub fn load(
        kind: &str,
        doc: &Document,
        section: &Section,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Self> {
        match kind {
            "file" => {
                let config: FileSourceConfig = doc.deserialize(section, errors)?;
                let mut problem = |key: &str, message: String| {
                    errors.push(doc.error(
                        section.span_of(key),
                        &format!("{}.{key}", section.name),
                        &message,
                    ));
                };
                if config.include.is_empty() {
                    problem("include", "must list at least one path or glob".to_owned());
                }
                if let Err(e) = discover::Discovery::new(&config.include, &config.exclude) {
                    let key = if config.include.contains(&e.pattern) {
                        "include"
                    } else {
                        "exclude"
                    };
                    problem(key, e.to_string());
                }
                if !config.format.is_available() {
                    problem(
                        "format",
                        format!(
                            "format `{}` is not available in this build (available: {})",
                            config.format.name(),
                            parse::Format::available().join(", ")
                        ),
                    );
                }
                if let Some(tz) = &config.timezone {
                    if let Err(e) = parse::zone(tz) {
                        problem("timezone", e);
                    }
                }
                for (abbr, offset) in &config.zones {
                    if parse::parse_offset(offset).is_none() {
                        problem(
                            "zones",
                            format!(
                                "zone `{abbr}`: `{offset}` is not an offset like +05:30 or -08:00"
                            ),
                        );
                    }
                }
                if config.max_line_bytes.is_some_and(|b| b.0 < 64) {
                    problem("max_line_bytes", "must be at least 64 bytes".to_owned());
                }
                if let Some(v) = &config.verify_signatures {
                    if config.format != parse::Format::Dogtag {
                        problem(
                            "verify_signatures",
                            "only a `dogtag` source can verify signatures".to_owned(),
                        );
                    }
                    if let Err(e) = crate::integrity::cert::SigningKey::from_file(&v.cert, v.digest)
                    {
                        problem("verify_signatures", e.to_string());
                    }
                }
                Some(Self::File(config))
            }
            "kafka" => {
                let config: kafka::KafkaSourceConfig = doc.deserialize(section, errors)?;
                for (key, message) in config.check() {
                    errors.push(doc.error(
                        section.span_of(key.split('.').next().unwrap_or(key)),
                        &format!("{}.{key}", section.name),
                        &message,
                    ));
                }
                Some(Self::Kafka(Box::new(config)))
            }
            _ => None,
        }
    }
}

/// What a running source shares with the pipeline.
pub struct SourceHandle {
    /// Its checkpoints, saved once more after the sinks have drained.
    pub book: Arc<CheckpointBook>,
    /// The reader thread (taken when joined).
    pub reader: Option<std::thread::JoinHandle<()>>,
    /// The parse stage.
    pub parser: tokio::task::JoinHandle<()>,
    /// Read counters.
    pub stats: Arc<ReadStats>,
    /// Per-file lag.
    pub lag: Arc<Mutex<Vec<FileLag>>>,
    /// Points the parse stage's output at other components (a reload). It holds a copy of
    /// the wiring: drop it once the parse stage has ended, so downstream sees its input close.
    pub rewire: Option<tokio::sync::watch::Sender<Fanout>>,
    /// Stops this source alone (a reload that removes or changes it); cancelled with the
    /// pipeline's shutdown too.
    pub stop: CancellationToken,
}

/// Shared resources a source runs with.
pub struct SourceContext {
    /// Where checkpoints live.
    pub data_dir: PathBuf,
    /// The memory budget.
    pub budget: Budget,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

/// Starts a source; its events go to `out`.
pub fn spawn(
    name: &str,
    config: &SourceConfig,
    ctx: &SourceContext,
    out: Fanout,
) -> std::io::Result<SourceHandle> {
    let config = match config {
        SourceConfig::File(config) => config,
        SourceConfig::Kafka(config) => return spawn_kafka(name, config, ctx, out),
    };
    let name: Arc<str> = Arc::from(name);
    let parser = parse::for_format(config.format, &config.parse_options());
    let book = file::open_book(&ctx.data_dir, &name);
    let (tx, rx) = mpsc::channel(crate::fanout::CHANNEL_CHUNKS);
    let (out, rewire) = crate::fanout::Rewirable::new(out);
    let stop = ctx.shutdown.child_token();
    let stats = Arc::new(ReadStats::default());
    let lag = Arc::new(Mutex::new(Vec::new()));
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let gate = match &config.verify_signatures {
        Some(v) => Some(parallel::Gate {
            key: Arc::new(
                crate::integrity::cert::SigningKey::from_file(&v.cert, v.digest)
                    .map_err(std::io::Error::other)?,
            ),
            unsigned_after_ms: v.unsigned_after.map_or(15_000, |s| s.0.as_millis() as i64),
        }),
        None => None,
    };
    let parse_task = tokio::spawn(parallel::parse_in_order(
        name.clone(),
        rx,
        parser.clone(),
        out,
        workers * 2,
        gate,
    ));
    let reader = file::Reader {
        name: name.clone(),
        config: config.clone(),
        parser,
        book: book.clone(),
        budget: ctx.budget.clone(),
        out: tx,
        shutdown: stop.clone(),
        runtime: tokio::runtime::Handle::current(),
        stats: stats.clone(),
        lag: lag.clone(),
        truncated: Mutex::new(Vec::new()),
        warned: Mutex::default(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("read-{name}"))
        .spawn(move || reader.run())?;
    Ok(SourceHandle {
        book,
        reader: Some(thread),
        parser: parse_task,
        stats,
        lag,
        rewire: Some(rewire),
        stop,
    })
}

/// Starts a `kafka` source: a consumer thread feeding the same parse stage as a file's.
fn spawn_kafka(
    name: &str,
    config: &kafka::KafkaSourceConfig,
    ctx: &SourceContext,
    out: Fanout,
) -> std::io::Result<SourceHandle> {
    let name: Arc<str> = Arc::from(name);
    let consumer = kafka::subscribe(&name, config).map_err(std::io::Error::other)?;
    let (tx, rx) = mpsc::channel(crate::fanout::CHANNEL_CHUNKS);
    let (out, rewire) = crate::fanout::Rewirable::new(out);
    let stop = ctx.shutdown.child_token();
    let stats = Arc::new(ReadStats::default());
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let parse_task = tokio::spawn(parallel::parse_in_order(
        name.clone(),
        rx,
        config.parser(),
        out,
        workers * 2,
        None,
    ));
    let reader = kafka::KafkaReader {
        name: name.clone(),
        config: config.clone(),
        budget: ctx.budget.clone(),
        out: tx,
        shutdown: stop.clone(),
        runtime: tokio::runtime::Handle::current(),
        stats: stats.clone(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("kafka-{name}"))
        .spawn(move || reader.run(consumer))?;
    Ok(SourceHandle {
        // No file checkpoints: the group's committed offsets are the checkpoint.
        book: Arc::new(CheckpointBook::empty(&ctx.data_dir, &name)),
        reader: Some(thread),
        parser: parse_task,
        stats,
        lag: Arc::new(Mutex::new(Vec::new())),
        rewire: Some(rewire),
        stop,
    })
}
