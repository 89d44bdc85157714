//! The agent's own logs: structured, to stderr, never containing event payloads above TRACE.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger at `level` (overridden by `AUDITSHIP_LOG`, e.g. `debug`), writing
/// text lines or, with `json`, one JSON object per line.
///
/// A bare level (`AUDITSHIP_LOG=trace`) applies to auditship's own logs only; other crates stay
/// at `warn`. Libraries log at TRACE per file-system notification, and with stderr written into
/// a watched directory each line would cause the next one (the agent fed itself at 56 MB/s).
/// Per-crate directives (`AUDITSHIP_LOG=auditship=debug,notify=trace`) are taken as given.
pub fn init(level: &str, json: bool) {
    let filter = std::env::var("AUDITSHIP_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or_else(
            || EnvFilter::new(format!("auditship={level},warn")),
            |v| directives(&v),
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder.json().with_ansi(false).try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

/// The filter for an `AUDITSHIP_LOG` value (see [`init`]).
fn directives(value: &str) -> EnvFilter {
    let value = value.trim();
    if value.contains('=') || value.contains(',') {
        EnvFilter::new(value)
    } else {
        EnvFilter::new(format!("auditship={value},warn"))
    }
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn a_bare_level_applies_to_auditship_only() {
        assert_eq!(directives("trace").to_string(), "auditship=trace,warn");
        assert_eq!(
            directives("auditship=debug,notify=trace").to_string(),
            "auditship=debug,notify=trace"
        );
    }
}
