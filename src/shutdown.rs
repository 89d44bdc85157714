//! Shutdown on SIGTERM or SIGINT: stop tailing, flush batches, await acks, save checkpoints.
//!
//! The first signal starts a graceful drain (see `pipeline::run`); a second one exits at once
//! with status 1, leaving unacknowledged lines to be re-read after restart. SIGHUP is logged
//! and ignored (its default action would kill the agent without draining).

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM/SIGINT; exits the process on the second.
pub fn install(token: CancellationToken) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // SIGHUP's default action kills the process without draining; until reload exists it is
    // received and ignored with a log line.
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::warn!(signal = "SIGHUP", "ignored: configuration reload is not supported yet; restart the agent to apply a changed pipeline");
        }
    });
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            seen += 1;
            if seen == 1 {
                tracing::info!(signal = name, "shutting down: draining in-flight events");
                token.cancel();
            } else {
                tracing::warn!(signal = name, "second signal: exiting now; unacknowledged lines will be re-read after restart");
                std::process::exit(1);
            }
        }
    });
    Ok(())
}
