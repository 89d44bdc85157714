//! RELP (the Reliable Event Logging Protocol, librelp's `relp.html`): syslog messages that
//! the receiver acknowledges one by one, so a batch counts as delivered only once the
//! receiver answered `200` for each of its messages, never when it merely sat in a socket.
//!
//! Frames are `TXNR SP COMMAND SP DATALEN [SP DATA] LF`; DATA is omitted when DATALEN is 0.
//! A session opens with `open` (offering `commands=syslog`), sends `syslog` frames with
//! increasing transaction numbers (pipelined up to [`WINDOW`] unanswered), and reads `rsp`
//! frames whose data starts with a status code. Anything but `200` for any message, a
//! `serverclose`, or a broken connection fails the batch (it is sent again, whole, on a new
//! session: at-least-once; duplicates only for messages acknowledged before the break).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::SinkError;

/// Messages sent before their answers are awaited (librelp's default window is 128).
pub const WINDOW: usize = 128;
/// Longest frame data accepted from the receiver.
const MAX_DATA: usize = 64 * 1024;
/// The highest transaction number; the next one is 1 again.
const MAX_TXNR: u64 = 999_999_999;

/// An open RELP session.
pub struct RelpSession {
    stream: BufReader<TcpStream>,
    next_txnr: u64,
    address: String,
    timeout: Duration,
}

/// One frame read from the receiver.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    txnr: u64,
    command: String,
    data: Vec<u8>,
}

impl RelpSession {
    /// Connects to `address` and opens a session; `timeout` bounds every wait.
    pub async fn open(address: &str, timeout: Duration) -> Result<Self, SinkError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| SinkError::retry(format!("connecting to {address} timed out")))?
            .map_err(|e| SinkError::retry(format!("connecting to {address}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut session = Self {
            stream: BufReader::new(stream),
            next_txnr: 1,
            address: address.to_owned(),
            timeout,
        };
        let offer = b"relp_version=0\nrelp_software=auditship\ncommands=syslog";
        let txnr = session.take_txnr();
        let mut frame = Vec::new();
        encode(&mut frame, txnr, "open", offer);
        session.write(&frame).await?;
        let answer = session.read_frame().await?;
        if answer.txnr != txnr || answer.command != "rsp" || !answer.data.starts_with(b"200") {
            return Err(session.refused("open", &answer));
        }
        let offered = String::from_utf8_lossy(&answer.data);
        if !offered.lines().any(|l| {
            l.strip_prefix("commands=")
                .is_some_and(|c| c.split(',').any(|c| c == "syslog"))
        }) {
            return Err(SinkError::operator(format!(
                "RELP receiver {address} does not offer the syslog command"
            )));
        }
        Ok(session)
    }

    fn take_txnr(&mut self) -> u64 {
        let txnr = self.next_txnr;
        self.next_txnr = if txnr >= MAX_TXNR { 1 } else { txnr + 1 };
        txnr
    }

    /// Sends `messages` and waits until the receiver acknowledged every one with `200`.
    pub async fn send(&mut self, messages: &[Vec<u8>]) -> Result<(), SinkError> {
        for window in messages.chunks(WINDOW) {
            let mut frames = Vec::with_capacity(window.iter().map(|m| m.len() + 24).sum());
            let mut waiting = std::collections::VecDeque::with_capacity(window.len());
            for message in window {
                let txnr = self.take_txnr();
                encode(&mut frames, txnr, "syslog", message);
                waiting.push_back(txnr);
            }
            self.write(&frames).await?;
            while let Some(expected) = waiting.pop_front() {
                let answer = self.read_frame().await?;
                if answer.command == "serverclose" {
                    return Err(SinkError::retry(format!(
                        "RELP receiver {} closed the session",
                        self.address
                    )));
                }
                if answer.command != "rsp" || answer.txnr != expected {
                    return Err(SinkError::retry(format!(
                        "RELP receiver {} answered `{} {}` where `{expected} rsp` was due",
                        self.address, answer.txnr, answer.command
                    )));
                }
                if !answer.data.starts_with(b"200") {
                    return Err(self.refused("syslog", &answer));
                }
            }
        }
        Ok(())
    }

    /// Closes the session politely (best effort).
    pub async fn close(mut self) {
        let txnr = self.take_txnr();
        let mut frame = Vec::new();
        encode(&mut frame, txnr, "close", b"");
        if self.write(&frame).await.is_ok() {
            let _ = self.read_frame().await;
        }
    }

    fn refused(&self, command: &str, answer: &Frame) -> SinkError {
        let text: String = String::from_utf8_lossy(&answer.data)
            .chars()
            .take(200)
            .collect();
        SinkError::retry(format!(
            "RELP receiver {} refused `{command}`: {text}",
            self.address
        ))
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let stream = self.stream.get_mut();
        tokio::time::timeout(self.timeout, stream.write_all(bytes))
            .await
            .map_err(|_| {
                SinkError::retry(format!(
                    "writing to {} timed out (receiver stalled)",
                    self.address
                ))
            })?
            .map_err(|e| SinkError::retry(format!("writing to {}: {e}", self.address)))
    }

    async fn read_frame(&mut self) -> Result<Frame, SinkError> {
        let address = self.address.clone();
        tokio::time::timeout(self.timeout, read_frame(&mut self.stream))
            .await
            .map_err(|_| {
                SinkError::retry(format!("no RELP answer from {address} within the timeout"))
            })?
            .map_err(|e| SinkError::retry(format!("reading from {address}: {e}")))
    }
}

/// Appends one frame.
fn encode(out: &mut Vec<u8>, txnr: u64, command: &str, data: &[u8]) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(num.format(txnr).as_bytes());
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(num.format(data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// Reads a header field ended by a space into `token` (without the space).
async fn header_field<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    token: &mut Vec<u8>,
) -> std::io::Result<()> {
    token.clear();
    let n = r.read_until(b' ', token).await?;
    if n == 0 {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
    }
    if token.pop() != Some(b' ') || token.len() > 32 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "malformed RELP frame header",
        ));
    }
    Ok(())
}

/// Reads one frame; refuses malformed ones.
async fn read_frame<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut token = Vec::new();
    header_field(r, &mut token).await?;
    let txnr: u64 = std::str::from_utf8(&token)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| bad("RELP frame without a transaction number"))?;
    header_field(r, &mut token).await?;
    let command = String::from_utf8(token.clone()).map_err(|_| bad("RELP command not UTF-8"))?;
    // DATALEN, then a space and DATA, or the trailer at once when DATALEN is 0.
    let mut len: usize = 0;
    let mut digits = 0;
    let after = loop {
        let b = r.read_u8().await?;
        if b.is_ascii_digit() && digits < 9 {
            len = len * 10 + usize::from(b - b'0');
            digits += 1;
        } else {
            break b;
        }
    };
    if digits == 0 || len > MAX_DATA {
        return Err(bad("RELP frame with a bad DATALEN"));
    }
    let mut data = vec![0u8; len];
    match after {
        b' ' => {
            r.read_exact(&mut data).await?;
            if r.read_u8().await? != b'\n' {
                return Err(bad("RELP frame without its trailer"));
            }
        }
        b'\n' if len == 0 => {}
        _ => return Err(bad("malformed RELP frame")),
    }
    Ok(Frame {
        txnr,
        command,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_encoded_and_read_back_with_and_without_data() {
        let mut wire = Vec::new();
        encode(&mut wire, 7, "rsp", b"200 OK");
        encode(&mut wire, 8, "close", b"");
        encode(&mut wire, 0, "serverclose", b"");
        assert_eq!(wire, b"7 rsp 6 200 OK\n8 close 0\n0 serverclose 0\n");
        let mut r = BufReader::new(&wire[..]);
        let f = read_frame(&mut r).await.unwrap();
        assert_eq!(
            (f.txnr, f.command.as_str(), &f.data[..]),
            (7, "rsp", &b"200 OK"[..])
        );
        let f = read_frame(&mut r).await.unwrap();
        assert_eq!((f.txnr, f.command.as_str(), f.data.len()), (8, "close", 0));
        let f = read_frame(&mut r).await.unwrap();
        assert_eq!(f.command, "serverclose");
        assert!(read_frame(&mut r).await.is_err(), "end of stream");
    }

    #[tokio::test]
    async fn malformed_frames_are_refused() {
        for wire in [
            &b"x rsp 0\n"[..],
            b"1 rsp 6 200 OKX",
            b"1 rsp 99999999999 a\n",
            b"1 rsp 3\n",
            b"1 rsp \n",
        ] {
            let mut r = BufReader::new(wire);
            assert!(
                read_frame(&mut r).await.is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }
}
