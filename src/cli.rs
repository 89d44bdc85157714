//! Command-line interface: `run`, `validate`, `parse`.

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
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
}
