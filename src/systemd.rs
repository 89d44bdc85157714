//! The systemd notification protocol (`sd_notify`): `READY=1` once the pipeline runs,
//! `STOPPING=1` when it drains, and `WATCHDOG=1` pings from the event loop when the unit sets
//! `WatchdogSec=`. Without `NOTIFY_SOCKET` (not started by systemd) every call does nothing.
//!
//! A message is one datagram to the Unix socket named by `NOTIFY_SOCKET`: a path, or an
//! abstract name when it starts with `@`.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where the service manager listens, if it does.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` names (doing nothing when it is unset or empty).
    #[must_use]
    pub fn from_env() -> Self {
        Self {
            socket: std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }

    /// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=...`, lines joined by `\n`). A failure
    /// is logged, never fatal: the agent's work does not depend on its supervisor hearing it.
    pub fn notify(&self, state: &str) {
        let Some(target) = &self.socket else {
            return;
        };
        if let Err(e) = send(target, state) {
            tracing::warn!(socket = %target, error = %e, "cannot notify systemd");
        }
    }

    /// How often to ping the watchdog: half of `WATCHDOG_USEC`, when the watchdog is meant for
    /// this process (`WATCHDOG_PID` unset or equal to its pid).
    #[must_use]
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.socket.as_ref()?;
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        if let Ok(pid) = std::env::var("WATCHDOG_PID") {
            if pid.parse::<u32>().ok() != Some(std::process::id()) {
                return None;
            }
        }
        (usec > 0).then(|| Duration::from_micros(usec / 2))
    }

    /// Pings the watchdog every [`Self::watchdog_interval`] from a task of the runtime that
    /// runs the pipeline, so a stalled runtime stops the pings and systemd restarts the agent.
    pub fn spawn_watchdog(&self) {
        let Some(every) = self.watchdog_interval() else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                me.notify("WATCHDOG=1");
            }
        });
    }
}

fn send(target: &str, state: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    if let Some(name) = target.strip_prefix('@') {
        abstract_send(&socket, name, state)
    } else {
        socket.send_to(state.as_bytes(), target).map(|_| ())
    }
}

#[cfg(target_os = "linux")]
fn abstract_send(socket: &UnixDatagram, name: &str, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    socket.send_to_addr(state.as_bytes(), &address).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn abstract_send(_: &UnixDatagram, _: &str, _: &str) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract socket names exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_arrives_as_one_datagram_on_the_named_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: Some(path.display().to_string()),
        };
        notifier.notify("READY=1\nSTATUS=running");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running");
    }

    #[test]
    fn without_a_socket_nothing_is_sent_and_no_watchdog_runs() {
        let notifier = Notifier { socket: None };
        notifier.notify("READY=1");
        assert_eq!(notifier.watchdog_interval(), None);
    }
}
