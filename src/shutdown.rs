//! Shutdown on SIGTERM or SIGINT: stop tailing, flush batches, await acks, save checkpoints.
//!
//! The first signal starts a graceful drain (see `pipeline::run`); a second one exits at once
//! with status 1, leaving unacknowledged lines to be re-read after restart. SIGHUP asks the
//! pipeline to reload its configuration (see `pipeline::apply`); without configuration files
//! (the embedded default pipeline) it is logged and ignored.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM/SIGINT; exits the process on the second. Each SIGHUP
/// notifies `reload`, or is logged and ignored without one.
pub fn install(
    token: CancellationToken,
    reload: Option<std::sync::Arc<tokio::sync::Notify>>,
) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // SIGHUP's default action kills the process without draining: it is always caught.
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            if let Some(notify) = &reload {
                tracing::info!(signal = "SIGHUP", "reloading the configuration");
                notify.notify_one();
            } else {
                tracing::warn!(
                    signal = "SIGHUP",
                    "ignored: the embedded default pipeline has no files to re-read"
                );
            }
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
