//! `file`: ECS JSON lines appended to a file; a batch is settled only after `fsync`.

use std::path::PathBuf;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{Sink, SinkError};
use crate::ack::Settlement;
use crate::event::Event;

/// `[sinks.<name>] type = "file"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file to append to (created with its directories).
    pub path: PathBuf,
}

/// Appends to a file.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    buf: Vec<u8>,
    sent: u64,
}

impl FileSink {
    /// A sink appending to `path`; the file is opened on first delivery.
    #[must_use]
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            buf: Vec::with_capacity(64 * 1024),
            sent: 0,
        }
    }

    async fn open(&self) -> std::io::Result<tokio::fs::File> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        // Audit events: readable by the owner and its group only, whatever the umask.
        tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&self.path)
            .await
    }
}

impl Sink for FileSink {
    async fn deliver(&mut self, events: &[Event]) -> Result<Settlement, SinkError> {
        self.buf.clear();
        crate::encode::ndjson::encode(events, &mut self.buf);
        let fail =
            |e: std::io::Error| SinkError::retry(format!("writing {}: {e}", self.path.display()));
        if self.file.is_none() {
            self.file = Some(self.open().await.map_err(fail)?);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(fail(std::io::Error::other("file not open")));
        };
        // Where the batch starts: a failed write (a full disk) is cut back to it, so the file
        // never holds a torn line; the retry then writes the whole batch again.
        let start = file.metadata().await.map_err(fail)?.len();
        let written = async {
            file.write_all(&self.buf).await?;
            file.flush().await?;
            file.sync_data().await
        }
        .await;
        if let Err(e) = written {
            let cut = file.set_len(start).await;
            if let Err(cut) = cut {
                tracing::error!(path = %self.path.display(), error = %cut, "cannot cut a failed write back; the file may end with a torn line");
            }
            self.file = None;
            return Err(fail(e));
        }
        self.sent += self.buf.len() as u64;
        Ok(Settlement::Delivered)
    }

    fn take_sent_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }
}

impl Clone for FileSink {
    /// Another writer of the same file, which opens its own handle on first delivery.
    fn clone(&self) -> Self {
        Self::new(self.path.clone())
    }
}
