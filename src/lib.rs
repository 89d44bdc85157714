//! auditship: an audit-log shipper. Every event delivered at least once, each one normalised
//! to the Elastic Common Schema.
//!
//! ```text
//!  files ─▶ source::file (reader thread: discover, fingerprint, tail, frame lines)
//!  Kafka ─▶ source::kafka (consumer-group member: partitions as chunks of messages)
//!        ─▶ source::parallel (parse on every core, file order kept) ─▶ parse::<format>
//!        ─▶ transform::* (filter, ...)  ─▶ sink::* (console, file, ...)
//!                  ▲                                          │ settle
//!  checkpoint / committed offset ◀──── ack (all sinks) ◀──────┘
//! ```
//! Channels between stages are bounded and a byte budget bounds everything in flight, so a
//! slow sink stops the reader and the backlog stays in the files (or in Kafka).

pub mod time;

pub mod config;

pub mod event;

pub mod source;

pub mod parse;

pub mod normalize;

pub mod transform;

pub mod chunk;

pub mod fanout;

pub mod encode;

pub mod batch;

pub mod sink;

pub mod ack;

pub mod budget;

pub mod dead_letter;
pub mod replay;

pub mod checkpoint;

/// Tamper evidence: Dogtag's signed audit logs verified, and shipped events hash-chained.
pub mod integrity;

pub mod pipeline;
pub mod pipeline_tests;

/// The HTTP API: health probe and Prometheus metrics.
pub mod api;
/// `auditship tap` and `auditship top`: clients of a running agent's API.
pub mod client;
pub mod shutdown;
/// Telling systemd the agent is ready, stopping and alive.
pub mod systemd;
/// Copies of the events leaving a component, for `auditship tap`.
pub mod tap;
/// `auditship tap` and `auditship top`.
pub mod watch;

pub mod telemetry;

pub mod cli;

pub mod inspect;

pub mod embedded;
