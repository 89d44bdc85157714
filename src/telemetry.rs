//! The agent's own logs: structured, to stderr, never containing event payloads above TRACE.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger at `level` (overridden by `AUDITSHIP_LOG`, e.g. `debug`).
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_env("AUDITSHIP_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("auditship={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
