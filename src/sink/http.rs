//! `http`: batches of ECS events sent with POST or PUT as ndjson or a JSON array, optionally gzip.
//!
//! Every response is classified (STYLE §5): 2xx delivered; 408, 429 and 5xx other than 501, and
//! connection errors and timeouts, retried with capped exponential backoff and full jitter,
//! honouring `Retry-After` (seconds or an HTTP date); any other status (4xx, 501) is final: the
//! batch goes to the dead-letter file with the status and the start of the body. A non-2xx
//! answer is never treated as sent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{Sink, SinkError};
use crate::ack::Settlement;
use crate::batch::BatchConfig;
use crate::config::units::Span;
use crate::encode::body::Bodies;
use crate::encode::request::{Encoded, Framing, Shape, Writer};
use crate::event::Event;

/// `[sinks.<name>] type = "http"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// Where to send, e.g. `https://collector.corp.test/audit`.
    pub uri: String,
    /// `post` (default) or `put`.
    #[serde(default)]
    pub method: Method,
    /// `ndjson` (default: one event per line) or `json` (an array).
    #[serde(default)]
    pub encoding: Encoding,
    /// Extra request headers (values may use `${VAR}`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Authentication.
    pub auth: Option<Auth>,
    /// `none` (default) or `gzip`.
    #[serde(default)]
    pub compression: Compression,
    /// gzip level 0–9 (default 1: fastest).
    pub compression_level: Option<u32>,
    /// Batch limits.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Requests in flight at once (default 4).
    pub concurrency: Option<usize>,
    /// Timeout of one request (default 30s).
    pub request_timeout: Option<Span>,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Retry settings.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// HTTP method.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// POST.
    #[default]
    Post,
    /// PUT.
    Put,
}

/// Body encoding.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// One JSON object per line.
    #[default]
    Ndjson,
    /// One JSON array.
    Json,
}

/// Body compression.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// None.
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip`).
    Gzip,
}

/// Authentication.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "strategy", rename_all = "lowercase", deny_unknown_fields)]
pub enum Auth {
    /// HTTP basic.
    Basic {
        /// User name.
        user: String,
        /// Password (use `${VAR}`).
        password: String,
    },
    /// Bearer token.
    Bearer {
        /// The token (use `${VAR}`).
        token: String,
    },
}

/// TLS settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of a CA to trust (besides the system roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate.
    pub crt_file: Option<PathBuf>,
    /// PEM client key.
    pub key_file: Option<PathBuf>,
    /// Verify the server certificate (default true).
    #[serde(default = "yes")]
    pub verify: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_file: None,
            crt_file: None,
            key_file: None,
            verify: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// Retry settings.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Give up after this many attempts and dead-letter the batch (default: never give up).
    pub max_attempts: Option<u32>,
}

impl TlsConfig {
    /// Problems with the files this configuration names: `(key, message)`.
    #[must_use]
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems: Vec<(&'static str, String)> =
            [&self.ca_file, &self.crt_file, &self.key_file]
                .into_iter()
                .flatten()
                .filter(|f| !f.exists())
                .map(|f| ("tls", format!("file {} does not exist", f.display())))
                .collect();
        if self.crt_file.is_some() != self.key_file.is_some() {
            problems.push(("tls", "crt_file and key_file go together".to_owned()));
        }
        problems
    }
}

impl HttpSinkConfig {
    /// Requests in flight at once.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(4).max(1)
    }

    /// Problems the types cannot catch: `(key, message)`.
    #[must_use]
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = self.tls.check();
        if let Err(e) = reqwest::Url::parse(&self.uri) {
            problems.push((
                "uri",
                format!("`{}` is not a URL: {e}", mask_userinfo(&self.uri)),
            ));
        }
        problems
    }
}

/// The running sink: cheap to clone (one per request in flight).
#[derive(Clone)]
pub struct HttpSink {
    client: reqwest::Client,
    config: Arc<HttpSinkConfig>,
    sent: u64,
    /// Body sizes and buffers, shared by the sink's deliveries.
    bodies: Arc<Bodies>,
}

/// Builds the HTTP client for `tls`, `timeout` (shared by the http and elasticsearch sinks).
pub fn client(tls: &TlsConfig, timeout: Duration) -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("auditship/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    if let (Some(crt), Some(key)) = (&tls.crt_file, &tls.key_file) {
        let mut pem =
            std::fs::read(crt).map_err(|e| format!("tls.crt_file {}: {e}", crt.display()))?;
        pem.extend(std::fs::read(key).map_err(|e| format!("tls.key_file {}: {e}", key.display()))?);
        let identity =
            reqwest::Identity::from_pem(&pem).map_err(|e| format!("client certificate: {e}"))?;
        builder = builder.identity(identity);
    }
    if !tls.verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// `uri` with the password of its userinfo replaced by `<redacted>`
/// (`https://user:<redacted>@host/...`), for logs and dead-letter reasons: a password in an
/// address (even from `${VAR}`) must never be written anywhere.
#[must_use]
pub fn mask_userinfo(uri: &str) -> String {
    scrub(uri, uri)
}

/// `text` with every occurrence of the password in `uri`'s userinfo (as written, and
/// percent-decoded) replaced by `<redacted>` (error texts of the HTTP client quote the URL).
#[must_use]
pub fn scrub(text: &str, uri: &str) -> String {
    let Some(password) = userinfo_password(uri) else {
        return text.to_owned();
    };
    let mut out = text.replace(password, "<redacted>");
    if let Some(decoded) = percent_decoded(password).filter(|d| !d.is_empty() && d != password) {
        out = out.replace(&decoded, "<redacted>");
    }
    out
}

/// The password of `uri`'s userinfo (`scheme://user:password@host`), if any.
fn userinfo_password(uri: &str) -> Option<&str> {
    let rest = &uri[uri.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let password = &userinfo[userinfo.find(':')? + 1..];
    (!password.is_empty()).then_some(password)
}

fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date.
#[must_use]
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate_ms(value)?;
    let now = crate::time::now_ms();
    Some(Duration::from_millis(
        u64::try_from(when - now).unwrap_or(0),
    ))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to epoch ms.
fn httpdate_ms(value: &str) -> Option<i64> {
    let mut parts = value.split_whitespace().skip(1);
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let (h, m, s) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    crate::time::utc_ms(year, month, day, h, m, s, 0)
}

/// Whether a status is worth retrying.
#[must_use]
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..600).contains(&status) && status != 501
}

impl HttpSink {
    /// A sink for `config` (events it refuses go to the dead-letter file through
    /// [`super::drive`]).
    pub fn new(config: &HttpSinkConfig) -> Result<Self, String> {
        let timeout = config
            .request_timeout
            .map_or(Duration::from_secs(30), |s| s.0);
        Ok(Self {
            client: client(&config.tls, timeout)?,
            config: Arc::new(config.clone()),
            sent: 0,
            bodies: Arc::new(Bodies::new(config.concurrency())),
        })
    }

    /// Requests in flight at once.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.config.concurrency()
    }

    /// The body for `events`: ndjson lines or one JSON array, compressed when configured.
    fn body<E: std::borrow::Borrow<Event>>(
        &self,
        events: impl ExactSizeIterator<Item = E>,
    ) -> std::io::Result<Encoded> {
        let count = events.len();
        let json = self.config.encoding == Encoding::Json;
        let shape = Shape {
            framing: if json { Framing::Array } else { Framing::Lines },
            gzip: (self.config.compression == Compression::Gzip)
                .then_some(self.config.compression_level),
            action_line: false,
        };
        let mut body = Writer::new(shape, count, &self.bodies);
        for e in crate::event::read_ahead(events) {
            let e = e.borrow();
            let out = body.record();
            if json {
                e.write_json(out);
            } else {
                crate::encode::ndjson::line(e, out);
            }
            body.end_record()?;
        }
        self.bodies.learn(count, body.written());
        body.finish()
    }
}

impl Sink for HttpSink {
    async fn deliver(&mut self, events: &[Event]) -> Result<Settlement, SinkError> {
        super::deliver_by_encoding(self, events).await
    }

    fn idle(&self) {
        self.bodies.release();
    }

    fn encode(&self, events: &[Event]) -> Option<std::io::Result<Encoded>> {
        Some(self.body(events.iter()))
    }

    fn encode_owned(&self, events: Vec<Event>) -> Result<std::io::Result<Encoded>, Vec<Event>> {
        Ok(self.body(events.into_iter()))
    }

    async fn deliver_encoded(&mut self, batch: &Encoded) -> Result<Settlement, SinkError> {
        let body = batch.body.clone();
        let length = body.len() as u64;
        let method = match self.config.method {
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
        };
        let content_type = match self.config.encoding {
            Encoding::Ndjson => "application/x-ndjson",
            Encoding::Json => "application/json",
        };
        let mut request = self
            .client
            .request(method, &self.config.uri)
            .header(reqwest::header::CONTENT_TYPE, content_type);
        if batch.gzip() {
            request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        for (k, v) in &self.config.headers {
            request = request.header(k.as_str(), v.as_str());
        }
        request = match &self.config.auth {
            Some(Auth::Basic { user, password }) => request.basic_auth(user, Some(password)),
            Some(Auth::Bearer { token }) => request.bearer_auth(token),
            None => request,
        };
        let response = request.body(body).send().await.map_err(|e| {
            // Connection refused, reset, timeout: the destination may come back.
            SinkError::retry(format!(
                "request to {} failed: {}",
                mask_userinfo(&self.config.uri),
                scrub(&error_chain(&e), &self.config.uri)
            ))
        })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            self.sent += length;
            return Ok(Settlement::Delivered);
        }
        let wait = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        let snippet: String = text.chars().take(4096).collect();
        // A refusal of the request is not a verdict on each event: retried, or split down to
        // the single event refused on its own (see `SinkError::for_status`).
        let mut e = SinkError::for_status(
            &mask_userinfo(&self.config.uri),
            status,
            &scrub(&snippet, &self.config.uri),
        );
        e.retry_after = wait;
        Err(e)
    }

    fn take_sent_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }
}

/// The error and its causes, for logs (reqwest's top-level text is terse).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 501] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn passwords_in_addresses_are_masked_as_written_and_decoded() {
        let uri = "https://shipper:p%40ss%3Aw0rd@logs.example:8443/ingest?x=1";
        assert_eq!(
            mask_userinfo(uri),
            "https://shipper:<redacted>@logs.example:8443/ingest?x=1"
        );
        let error = "error sending request for url (https://shipper:p%40ss%3Aw0rd@logs.example:8443/ingest?x=1): auth p@ss:w0rd";
        let clean = scrub(error, uri);
        assert!(!clean.contains("w0rd"), "{clean}");
        assert_eq!(
            mask_userinfo("http://127.0.0.1:9200"),
            "http://127.0.0.1:9200"
        );
        assert_eq!(mask_userinfo("http://user@host/"), "http://user@host/");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        assert_eq!(
            httpdate_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            crate::time::utc_ms(1994, 11, 6, 8, 49, 37, 0)
        );
    }
}
