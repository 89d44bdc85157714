//! Command-line interface: `run`, `validate`, `test`, `parse`, `dead-letters`, `tap`, `top`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::parse::Format;

/// auditship ships security audit logs: it tails audit files, normalises every event to the
/// Elastic Common Schema and delivers it at least once.
#[derive(Debug, Parser)]
#[command(name = "auditship", version, propagate_version = true)]
pub struct Cli {
    /// Agent log level on stderr (error, warn, info, debug, trace); `AUDITSHIP_LOG` overrides.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    /// Agent log lines as text, or as one JSON object each (for journald or Loki).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Verifiers `auditship verify --compat` can reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compat {
    /// Dogtag's `AuditVerify` tool.
    Auditverify,
}

/// How the agent writes its own log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO message key=value`.
    Text,
    /// `{"timestamp":...,"level":"INFO","fields":{"message":...}}`.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent. Without --config it runs the embedded default pipeline, which ships
    /// bundled sample audit logs to stdout as ECS JSON and keeps tailing them.
    Run {
        /// A pipeline file, or a directory of *.toml files; may be repeated.
        #[arg(long, short = 'c', value_name = "PATH")]
        config: Vec<PathBuf>,
    },
    /// Check pipeline files and report every problem (file, line, column, key); exit 2 if any.
    Validate {
        /// A pipeline file, or a directory of *.toml files; may be repeated.
        #[arg(long, short = 'c', value_name = "PATH", required = true)]
        config: Vec<PathBuf>,
    },
    /// Parse audit files (or stdin) and print one ECS JSON object per event, in file order.
    Parse {
        /// The format of the input.
        #[arg(long, short = 'f', value_enum, default_value = "auto")]
        format: Format,
        /// IANA zone for local times without a zone (Keycloak text), e.g. `Europe/Berlin`.
        #[arg(long)]
        timezone: Option<String>,
        /// Files to read; standard input when none.
        files: Vec<PathBuf>,
    },
    /// Run the `[[tests]]` of pipeline files: records in at sources, checks on what reaches
    /// outputs; no file, checkpoint or network is touched. Exit 0 all pass, 1 a test failed,
    /// 2 a bad file.
    Test {
        /// A pipeline file, or a directory of *.toml files; may be repeated.
        #[arg(long, short = 'c', value_name = "PATH", required = true)]
        config: Vec<PathBuf>,
    },
    /// What the dead-letter files hold (`list`), and sending it again (`replay`).
    DeadLetters {
        /// `list` or `replay`.
        #[command(subcommand)]
        action: DeadLetterAction,
    },
    /// Stream the events leaving components of a running agent as ECS JSON lines (its
    /// `[api]` must be on). A slow reader loses copies, never slows the agent.
    Tap {
        /// The agent's API address (`[api] address`).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8686")]
        api: String,
        /// Components to watch (a transform's name covers its named outputs); none: all.
        components: Vec<String>,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Copy every Nth event only.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        sample: u64,
    },
    /// Verify the signature chain of Dogtag signed audit logs, oldest file first. Exit 0 all
    /// good, 2 a bad signature or an unsigned tail, 1 an error (unreadable file, bad
    /// certificate), as AuditVerify.
    Verify {
        /// The audit signing certificate (PEM or DER).
        #[arg(long, value_name = "PEM")]
        cert: PathBuf,
        /// Reproduce Dogtag's AuditVerify (its counts, verdicts and misreadings) instead of
        /// the strict verification.
        #[arg(long, value_enum)]
        compat: Option<Compat>,
        /// Print one JSON object instead of the human report.
        #[arg(long)]
        json: bool,
        /// The digest of RSA signatures (ECDSA always uses SHA-256).
        #[arg(long, value_enum, default_value = "sha256")]
        digest: crate::integrity::cert::Digest,
        /// The signed audit files, oldest first (the active file last).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check the hash chains of exported events (NDJSON from the file sink, an Elasticsearch
    /// export, ...; any order): deletions, insertions, edits and reordering. Exit 0 all good,
    /// 2 a finding, 1 an unreadable file.
    VerifyChain {
        /// Print one JSON object instead of the human report.
        #[arg(long)]
        json: bool,
        /// NDJSON files of events stamped by a `chain` transform.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// A terminal view of a running agent (its `[api]` must be on): each component's event
    /// rate, totals, errors, lag and the buffer, refreshed every second. Ctrl-C quits.
    Top {
        /// The agent's API address (`[api] address`).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8686")]
        api: String,
        /// Print one view (rates over one interval) and exit, without clearing the screen.
        #[arg(long)]
        once: bool,
        /// Seconds between refreshes.
        #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
        interval: f64,
    },
}

/// `dead-letters` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeadLetterAction {
    /// Print every dead-letter file under the pipeline's `data_dir`: events per sink, times.
    List {
        /// The pipeline file(s) whose `data_dir` to read.
        #[arg(long, short = 'c', value_name = "PATH", required = true)]
        config: Vec<PathBuf>,
    },
    /// Send dead-lettered events again through the sinks that refused them (one-shot; the
    /// agent must be stopped). A line leaves its file only once its sink settled it.
    Replay {
        /// The pipeline file(s): the sinks and `data_dir` to use.
        #[arg(long, short = 'c', value_name = "PATH", required = true)]
        config: Vec<PathBuf>,
        /// Replay only the events of this sink.
        #[arg(long)]
        sink: Option<String>,
        /// How long each file's sends may take before what is unsettled is left in place.
        #[arg(long, default_value = "60s", value_parser = parse_span)]
        timeout: std::time::Duration,
    },
}

fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    crate::config::units::parse_duration(text)
}
