//! `syslog`: RFC 5424 (or RFC 3164) messages over UDP (RFC 5426), TCP or TLS (RFC 5425), with
//! octet counting (RFC 6587 §3.4.1, the default) or newline framing (§3.4.2) on streams.
//!
//! Header: PRI from `facility` (default authpriv) and a severity from the outcome (failure →
//! warning, success → notice, otherwise info); TIMESTAMP = the event's `@timestamp`; APP-NAME,
//! HOSTNAME from the settings; MSGID = `event.action`. Selected ECS fields go into one
//! structured-data element, escaped per RFC 5424 §6.3.3 (`"`, `\` and `]`). The message is the
//! event as ECS JSON, or a template. A UDP datagram above `max_udp_bytes` is cut to that size;
//! its event is tagged `audit_truncated_syslog` and its structured data says
//! `truncated="true"` (the SD comes before the message, so the mark survives the cut). TCP
//! batches count as delivered once the receiving host acknowledged every byte (the send queue
//! drained); RELP batches once the receiver acknowledged every message (`relp.rs`). A broken
//! connection is re-opened on the next attempt.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{Sink, SinkError};
use crate::ack::Settlement;
use crate::batch::BatchConfig;
use crate::event::{Event, ValueRef};

/// `[sinks.<name>] type = "syslog"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// `host:port` of the receiver.
    pub address: String,
    /// `tcp` (default), `udp`, `tls` or `relp`.
    #[serde(default)]
    pub mode: Mode,
    /// How long a write, a drain of the send queue or a RELP answer may take before the
    /// receiver is called stalled: the attempt fails (WARN) and the batch is sent again on
    /// a new connection (default 30s).
    pub request_timeout: Option<crate::config::units::Span>,
    /// `rfc5424` (default) or `rfc3164`.
    #[serde(default)]
    pub format: Format,
    /// TCP framing: `octet_counting` (default) or `newline`.
    #[serde(default)]
    pub framing: Framing,
    /// APP-NAME (default `auditship`).
    pub app_name: Option<String>,
    /// HOSTNAME (default: this machine's name).
    pub hostname: Option<String>,
    /// Facility name (default `authpriv`).
    pub facility: Option<String>,
    /// ECS fields written as structured data (default: event.action, event.outcome,
    /// event.category, user.name, source.ip).
    pub structured_data: Option<Vec<String>>,
    /// SD-ID of the element (default `ecs@32473`; use your own enterprise number).
    pub sd_id: Option<String>,
    /// The message: `json` (default, the ECS event) or a template with `{{ field.path }}`.
    pub message: Option<String>,
    /// Largest UDP datagram (default 2048, as RFC 5426 recommends).
    pub max_udp_bytes: Option<usize>,
    /// TLS settings (mode `tls`): `ca_file` (default: the system bundle), client
    /// `crt_file`/`key_file`, `verify`.
    #[serde(default)]
    pub tls: super::http::TlsConfig,
    /// Batch limits.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Retry settings.
    #[serde(default)]
    pub retry: super::http::RetryConfig,
}

impl SyslogSinkConfig {
    /// Problems the types cannot catch: `(key, message)`.
    #[must_use]
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.mode == Mode::Tls {
            problems.extend(self.tls.check());
            if let Err(e) = super::tls::server_name(&self.address) {
                problems.push(("address", e));
            }
        }
        if let Some(f) = self.facility.as_deref().filter(|f| facility(f).is_none()) {
            problems.push((
                "facility",
                format!("unknown facility `{f}` (authpriv, auth, local0..local7, ...)"),
            ));
        }
        if self.mode == Mode::Relp && self.format == Format::Rfc3164 {
            problems.push((
                "format",
                "RELP carries RFC 5424 messages here; use format = \"rfc5424\"".to_owned(),
            ));
        }
        if !self.address.contains(':') {
            problems.push(("address", format!("`{}` is not host:port", self.address)));
        }
        problems
    }
}

/// Transport.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// TLS (RFC 5425).
    Tls,
    /// RELP over TCP: every message acknowledged by the receiver (`relp.rs`).
    Relp,
}

/// Message format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 5424.
    #[default]
    Rfc5424,
    /// RFC 3164 (BSD).
    Rfc3164,
}

/// TCP framing.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// `LEN SP MSG` (RFC 6587 §3.4.1).
    #[default]
    OctetCounting,
    /// `MSG LF` (RFC 6587 §3.4.2).
    Newline,
}

/// Facility names → numbers (RFC 5424 §6.2.1).
#[must_use]
pub fn facility(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

const DEFAULT_SD: [&str; 5] = [
    "event.action",
    "event.outcome",
    "event.category",
    "user.name",
    "source.ip",
];

/// The running sink.
pub struct SyslogSink {
    config: SyslogSinkConfig,
    hostname: String,
    facility: u8,
    tls: Option<tokio_rustls::TlsConnector>,
    tcp: Option<tokio::io::BufWriter<Stream>>,
    /// The socket inode of the TCP connection, to read its send queue.
    tcp_inode: Option<u64>,
    udp: Option<tokio::net::UdpSocket>,
    relp: Option<super::relp::RelpSession>,
    /// Bytes written in deliveries that succeeded, not yet counted.
    sent: u64,
}

/// A TCP stream, plain or wrapped in TLS.
type Stream = Box<dyn tokio::io::AsyncWrite + Unpin + Send + Sync>;

impl Clone for SyslogSink {
    /// A second sender with its own connection (opened on first use).
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            hostname: self.hostname.clone(),
            facility: self.facility,
            tls: self.tls.clone(),
            tcp: None,
            tcp_inode: None,
            udp: None,
            relp: None,
            sent: 0,
        }
    }
}

/// This machine's host name.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

impl SyslogSink {
    /// A sink for `config` (checked by the loader); fails when TLS settings cannot be loaded.
    pub fn new(config: &SyslogSinkConfig) -> Result<Self, String> {
        let tls = if config.mode == Mode::Tls {
            Some(super::tls::connector(&config.tls)?)
        } else {
            None
        };
        Ok(Self {
            tls,
            hostname: config.hostname.clone().unwrap_or_else(local_hostname),
            facility: config.facility.as_deref().and_then(facility).unwrap_or(10),
            config: config.clone(),
            tcp: None,
            tcp_inode: None,
            udp: None,
            relp: None,
            sent: 0,
        })
    }

    /// Formats one event as a syslog message (without transport framing).
    #[must_use]
    pub fn format(&self, event: &Event) -> Vec<u8> {
        self.format_marked(event, false)
    }

    fn format_marked(&self, event: &Event, truncated: bool) -> Vec<u8> {
        let severity = match event.get("event.outcome") {
            Some(ValueRef::Str("failure")) => 4,
            Some(ValueRef::Str("success")) => 5,
            _ => 6,
        };
        let pri = u16::from(self.facility) * 8 + severity;
        let app = self.config.app_name.as_deref().unwrap_or("auditship");
        let ts = event.timestamp.unwrap_or(event.created);
        let mut out = Vec::with_capacity(1024);
        match self.config.format {
            Format::Rfc5424 => {
                let msgid = match event.get("event.action") {
                    Some(ValueRef::Str(a)) => header_token(a, 32),
                    _ => "-".to_owned(),
                };
                let _ = write!(
                    Writer(&mut out),
                    "<{pri}>1 {} {} {} - {msgid} ",
                    crate::time::rfc3339(ts),
                    header_token(&self.hostname, 255),
                    header_token(app, 48)
                );
                self.structured_data(event, truncated, &mut out);
                out.push(b' ');
            }
            Format::Rfc3164 => {
                let (date, time) = bsd_time(ts);
                let _ = write!(
                    Writer(&mut out),
                    "<{pri}>{date} {time} {} {}: ",
                    header_token(&self.hostname, 255),
                    header_token(app, 32)
                );
            }
        }
        self.message(event, &mut out);
        out
    }

    fn structured_data(&self, event: &Event, truncated: bool, out: &mut Vec<u8>) {
        let fields: Vec<&str> = match &self.config.structured_data {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => DEFAULT_SD.to_vec(),
        };
        let mut params = String::new();
        for field in fields {
            let value = match event.get(field) {
                Some(ValueRef::Str(s)) => s.to_owned(),
                Some(ValueRef::Int(i)) => i.to_string(),
                Some(ValueRef::Bool(b)) => b.to_string(),
                Some(ValueRef::Time(ms)) => crate::time::rfc3339(ms),
                Some(v @ (ValueRef::List(..) | ValueRef::Names(_))) => {
                    v.strings().collect::<Vec<_>>().join(",")
                }
                _ => continue,
            };
            let _ = write!(params, " {}=\"{}\"", sd_name(field), sd_escape(&value));
        }
        if truncated {
            params.push_str(" truncated=\"true\"");
        }
        if params.is_empty() {
            out.push(b'-');
        } else {
            let id = self.config.sd_id.as_deref().unwrap_or("ecs@32473");
            let _ = write!(Writer(out), "[{}{params}]", sd_name(id));
        }
    }

    fn message(&self, event: &Event, out: &mut Vec<u8>) {
        match self.config.message.as_deref() {
            None | Some("json") => event.write_json(out),
            Some(template) => {
                let mut rest = template;
                while let Some(start) = rest.find("{{") {
                    out.extend_from_slice(&rest.as_bytes()[..start]);
                    let after = &rest[start + 2..];
                    let end = after.find("}}").unwrap_or(after.len());
                    let value = match event.get(after[..end].trim()) {
                        Some(ValueRef::Str(s)) => s.to_owned(),
                        Some(ValueRef::Int(i)) => i.to_string(),
                        Some(v @ (ValueRef::List(..) | ValueRef::Names(_))) => {
                            v.strings().collect::<Vec<_>>().join(",")
                        }
                        _ => "-".to_owned(),
                    };
                    out.extend_from_slice(value.as_bytes());
                    rest = after.get(end + 2..).unwrap_or("");
                }
                out.extend_from_slice(rest.as_bytes());
            }
        }
    }

    async fn send_tcp(&mut self, events: &[Event]) -> Result<(), SinkError> {
        if self.tcp.is_none() {
            let stream = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::TcpStream::connect(&self.config.address),
            )
            .await
            .map_err(|_| {
                SinkError::retry(format!("connecting to {} timed out", self.config.address))
            })?
            .map_err(|e| SinkError::retry(format!("connecting to {}: {e}", self.config.address)))?;
            self.tcp_inode = socket_inode(&stream);
            let stream: Stream = match &self.tls {
                Some(connector) => {
                    let name =
                        super::tls::server_name(&self.config.address).map_err(SinkError::fatal)?;
                    let tls = connector.connect(name, stream).await.map_err(|e| {
                        SinkError::retry(format!("TLS handshake with {}: {e}", self.config.address))
                    })?;
                    Box::new(tls)
                }
                None => Box::new(stream),
            };
            self.tcp = Some(tokio::io::BufWriter::with_capacity(256 * 1024, stream));
        }
        let mut frame = Vec::with_capacity(events.len() * 700);
        for event in events {
            let msg = self.format(event);
            match self.config.framing {
                Framing::OctetCounting => {
                    let _ = write!(Writer(&mut frame), "{} ", msg.len());
                    frame.extend_from_slice(&msg);
                }
                Framing::Newline => {
                    // A raw LF would split the message: replace it (JSON messages have none).
                    frame.extend(msg.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
                    frame.push(b'\n');
                }
            }
        }
        let timeout = self.timeout();
        let Some(conn) = self.tcp.as_mut() else {
            return Err(SinkError::retry("no connection".into()));
        };
        let written = tokio::time::timeout(timeout, async {
            conn.write_all(&frame).await?;
            conn.flush().await
        })
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("a write was blocked for more than {timeout:?} (the receiver stalled)"),
            ))
        });
        let written = match written {
            // In the kernel is not delivered: wait until the receiver acknowledged every
            // byte (the send queue is empty), so that a receiver that resets now loses
            // nothing we count as sent.
            Ok(()) => self.drained(timeout).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // The connection is gone: re-open on the next attempt; the batch is sent again
            // whole (at-least-once).
            self.tcp = None;
            return Err(SinkError::retry(format!(
                "writing to {}: {e}",
                self.config.address
            )));
        }
        self.sent += frame.len() as u64;
        Ok(())
    }

    async fn send_udp(&mut self, events: &[Event]) -> Result<(), SinkError> {
        if self.udp.is_none() {
            let local = if self.config.address.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let socket = tokio::net::UdpSocket::bind(local)
                .await
                .map_err(|e| SinkError::retry(format!("UDP socket: {e}")))?;
            socket
                .connect(&self.config.address)
                .await
                .map_err(|e| SinkError::retry(format!("UDP {}: {e}", self.config.address)))?;
            self.udp = Some(socket);
        }
        let max = self.config.max_udp_bytes.unwrap_or(2048).max(480);
        for event in events {
            let mut msg = self.format(event);
            if msg.len() > max {
                let mut tagged = event.clone();
                tagged.add_tag("audit_truncated_syslog");
                msg = self.format_marked(&tagged, true);
                let mut cut = max;
                while cut > 0 && (msg[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
                msg.truncate(cut);
            }
            if let Some(socket) = &self.udp {
                socket.send(&msg).await.map_err(|e| {
                    SinkError::retry(format!("UDP send to {}: {e}", self.config.address))
                })?;
                self.sent += msg.len() as u64;
            }
        }
        Ok(())
    }
}

impl SyslogSink {
    fn timeout(&self) -> Duration {
        self.config
            .request_timeout
            .map_or(Duration::from_secs(30), |s| s.0)
    }

    /// Waits (bounded by `timeout`) until the TCP send queue is empty: every byte written
    /// was acknowledged by the receiving host. Where the queue cannot be read (not Linux),
    /// returns at once.
    async fn drained(&self, timeout: Duration) -> std::io::Result<()> {
        let Some(inode) = self.tcp_inode else {
            return Ok(());
        };
        let start = tokio::time::Instant::now();
        let mut wait = Duration::from_millis(1);
        loop {
            match send_queue_bytes(inode) {
                None | Some(0) => return Ok(()),
                Some(queued) if start.elapsed() >= timeout => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "{queued} bytes still unacknowledged by the receiver after {timeout:?} (the receiver stalled)"
                        ),
                    ));
                }
                Some(_) => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(50));
        }
    }

    async fn send_relp(&mut self, events: &[Event]) -> Result<(), SinkError> {
        if self.relp.is_none() {
            self.relp =
                Some(super::relp::RelpSession::open(&self.config.address, self.timeout()).await?);
        }
        let messages: Vec<Vec<u8>> = events.iter().map(|e| self.format(e)).collect();
        let Some(session) = self.relp.as_mut() else {
            return Err(SinkError::retry("no RELP session".into()));
        };
        if let Err(e) = session.send(&messages).await {
            // A new session on the next attempt; the batch is sent again whole.
            self.relp = None;
            return Err(e);
        }
        self.sent += messages.iter().map(|m| m.len() as u64).sum::<u64>();
        Ok(())
    }
}

/// The inode of a socket (`/proc/self/fd/N` → `socket:[inode]`), to find it in
/// `/proc/net/tcp`.
fn socket_inode(stream: &tokio::net::TcpStream) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", stream.as_raw_fd())).ok()?;
    link.to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Bytes written to the socket with inode `inode` and not yet acknowledged by the peer
/// (`tx_queue` of `/proc/net/tcp` and `tcp6`, what the `SIOCOUTQ` ioctl reports), or
/// `None` when the socket is not found.
fn send_queue_bytes(inode: u64) -> Option<u64> {
    let wanted = inode.to_string();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(9) == Some(&wanted.as_str()) {
                let tx = fields.get(4)?.split(':').next()?;
                return u64::from_str_radix(tx, 16).ok();
            }
        }
    }
    None
}

impl Sink for SyslogSink {
    async fn deliver(&mut self, events: &[Event]) -> Result<Settlement, SinkError> {
        match self.config.mode {
            Mode::Udp => self.send_udp(events).await?,
            Mode::Tcp | Mode::Tls => self.send_tcp(events).await?,
            Mode::Relp => self.send_relp(events).await?,
        }
        Ok(Settlement::Delivered)
    }

    fn take_sent_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }
}

/// `fmt::Write` over a byte buffer.
struct Writer<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A header field: printable US-ASCII without spaces, at most `max` characters, `-` if empty.
fn header_token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| ('!'..='~').contains(c))
        .take(max)
        .collect();
    if t.is_empty() {
        "-".to_owned()
    } else {
        t
    }
}

/// An SD-NAME: printable US-ASCII except `=`, space, `]` and `"`, at most 32 characters.
fn sd_name(s: &str) -> String {
    s.chars()
        .filter(|c| ('!'..='~').contains(c) && !matches!(c, '=' | ']' | '"'))
        .take(32)
        .collect()
}

/// RFC 5424 §6.3.3: in PARAM-VALUE, `"`, `\` and `]` are escaped with a backslash.
#[must_use]
pub fn sd_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `Mmm dd` and `hh:mm:ss` (RFC 3164), in UTC.
fn bsd_time(ms: i64) -> (String, String) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, m, d) = crate::time::civil_from_days(ms.div_euclid(86_400_000));
    let secs = ms.rem_euclid(86_400_000) / 1000;
    (
        format!("{} {d:>2}", MONTHS[(m as usize).saturating_sub(1) % 12]),
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Origin, Text, Value};

    fn config() -> SyslogSinkConfig {
        SyslogSinkConfig {
            request_timeout: None,
            address: "127.0.0.1:514".into(),
            mode: Mode::Udp,
            format: Format::Rfc5424,
            framing: Framing::OctetCounting,
            app_name: None,
            hostname: Some("pki-1".into()),
            facility: None,
            structured_data: None,
            sd_id: None,
            message: None,
            max_udp_bytes: None,
            tls: super::super::http::TlsConfig::default(),
            batch: BatchConfig::default(),
            retry: super::super::http::RetryConfig::default(),
        }
    }

    fn event() -> Event {
        let mut e = Event::new("orig".into(), Origin::default(), 0);
        e.timestamp = crate::time::utc_ms(2025, 1, 12, 7, 15, 2, 0);
        e.set("event.action", Value::Str(Text::Static("AUTH")));
        e.set("event.outcome", Value::Str(Text::Static("failure")));
        e.set("user.name", Value::Str(Text::Static("m\"o]r\\t")));
        e
    }

    #[test]
    fn rfc5424_header_structured_data_and_escaping() {
        let s = SyslogSink::new(&config()).unwrap();
        let msg = String::from_utf8(s.format(&event())).unwrap();
        assert!(
            msg.starts_with(r#"<84>1 2025-01-12T07:15:02.000Z pki-1 auditship - AUTH [ecs@32473 event.action="AUTH" event.outcome="failure" user.name="m\"o\]r\\t"] {"#),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn udp_datagrams_above_the_bound_are_cut_and_marked() {
        let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut c = config();
        c.address = receiver.local_addr().unwrap().to_string();
        c.max_udp_bytes = Some(600);
        let mut sink = SyslogSink::new(&c).unwrap();
        let mut e = event();
        e.set_original("x".repeat(3000));
        sink.deliver(&[e]).await.unwrap();
        let mut buf = vec![0u8; 65536];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), receiver.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n <= 600, "datagram of {n} bytes");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.contains(r#"truncated="true""#), "{text}");
    }

    #[test]
    fn rfc3164_and_templates() {
        let mut c = config();
        c.format = Format::Rfc3164;
        c.message = Some("{{ event.action }} by {{ user.name }}".into());
        let s = SyslogSink::new(&c).unwrap();
        let msg = String::from_utf8(s.format(&event())).unwrap();
        assert_eq!(
            msg,
            "<84>Jan 12 07:15:02 pki-1 auditship: AUTH by m\"o]r\\t"
        );
    }
}
