//! `console`: ECS JSON, one event per line, on standard output; settled once flushed.

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{Sink, SinkError};
use crate::ack::Settlement;
use crate::event::Event;

/// `[sinks.<name>] type = "console"`. It has no other settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSinkConfig {}

/// Writes to standard output.
#[derive(Debug)]
pub struct ConsoleSink {
    out: tokio::io::Stdout,
    buf: Vec<u8>,
    sent: u64,
}

impl ConsoleSink {
    /// A sink on this process's standard output.
    #[must_use]
    pub fn new() -> Self {
        Self {
            out: tokio::io::stdout(),
            buf: Vec::with_capacity(64 * 1024),
            sent: 0,
        }
    }
}

impl Default for ConsoleSink {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink for ConsoleSink {
    async fn deliver(&mut self, events: &[Event]) -> Result<Settlement, SinkError> {
        self.buf.clear();
        crate::encode::ndjson::encode(events, &mut self.buf);
        let result = async {
            self.out.write_all(&self.buf).await?;
            self.out.flush().await
        }
        .await;
        result.map_err(|e| {
            let message = format!("writing to standard output: {e}");
            // A closed stdout does not reopen.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                SinkError::fatal(message)
            } else {
                SinkError::retry(message)
            }
        })?;
        self.sent += self.buf.len() as u64;
        Ok(Settlement::Delivered)
    }

    fn take_sent_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }
}

impl Clone for ConsoleSink {
    /// Another handle on standard output (used only when a sink runs batches concurrently).
    fn clone(&self) -> Self {
        Self::new()
    }
}
