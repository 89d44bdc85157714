//! Parsers: one file per audit format. A parser turns one record into one ECS event and never
//! fails: a record it cannot read becomes a raw event tagged `audit_parse_failure`.
//!
//! Parsers are `Send + Sync` and stateless, so chunks of one file can be parsed on every core;
//! the source restores file order afterwards. A record is one or more physical lines joined by
//! `\n`: the reader asks [`Parser::starts_record`] whether a line begins a new record or
//! continues the previous one (stack traces, values holding newlines).

pub mod auditd;
pub(crate) mod borrow;
pub mod dogtag;
pub mod draft;
pub mod ecs;
pub mod json;
pub mod keycloak;
pub(crate) mod keycloak_json;
pub mod keys;
pub mod raw;
pub mod sap;
pub(crate) mod tape;
pub mod totp;
pub mod zone;

use std::sync::Arc;

use serde::Deserialize;

use crate::event::{Event, Origin, Text, Value};

/// The formats a source may declare.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Detect the format of each record.
    #[default]
    Auto,
    /// Keycloak and `TideCloak` events.
    Keycloak,
    /// SAP BTP audit log retrieval records.
    Sap,
    /// The TOTP manager's audit rows.
    Totp,
    /// Dogtag PKI signed audit log.
    Dogtag,
    /// Linux auditd.
    Auditd,
    /// Generic JSON lines.
    Json,
    /// Lines shipped as they are.
    Raw,
}

impl Format {
    /// The name used in pipeline files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Keycloak => "keycloak",
            Format::Sap => "sap",
            Format::Totp => "totp",
            Format::Dogtag => "dogtag",
            Format::Auditd => "auditd",
            Format::Json => "json",
            Format::Raw => "raw",
        }
    }

    /// Whether this build has a parser for the format.
    #[must_use]
    pub fn is_available(self) -> bool {
        matches!(
            self,
            Format::Auto
                | Format::Dogtag
                | Format::Keycloak
                | Format::Totp
                | Format::Sap
                | Format::Auditd
                | Format::Json
                | Format::Raw
        )
    }

    /// Every format, in documentation order.
    pub const ALL: [Format; 8] = [
        Format::Auto,
        Format::Keycloak,
        Format::Sap,
        Format::Totp,
        Format::Dogtag,
        Format::Auditd,
        Format::Json,
        Format::Raw,
    ];

    /// The formats this build can parse.
    #[must_use]
    pub fn available() -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|f| f.is_available())
            .map(Format::name)
            .collect()
    }
}

/// Options that change how records are read.
#[derive(Clone, Debug, Default)]
pub struct ParseOptions {
    /// IANA zone (e.g. `Europe/Berlin`) for sources that write local times without a zone (Keycloak text).
    pub timezone: Option<String>,
    /// Zone abbreviations (Dogtag) that override the default table: name → minutes east of UTC.
    pub zones: Vec<(String, i32)>,
}

/// nom: the input up to the first `needle`, which stays in the rest. nom's `take_until` on
/// `&str` sets up a generic substring searcher on every call; see [`find`].
pub(crate) fn until<'a>(
    needle: &'static str,
) -> impl Fn(&'a str) -> nom::IResult<&'a str, &'a str> {
    move |i: &'a str| match find(i, needle) {
        Some(at) => Ok((&i[at..], &i[..at])),
        None => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TakeUntil,
        ))),
    }
}

/// A substring searcher for a constant needle, built once: for searches over whole records,
/// where a needle's first byte may be common (`"` in Keycloak lines).
macro_rules! finder {
    ($needle:literal) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new($needle));
        &*FINDER
    }};
}
pub(crate) use finder;

/// Where `needle` first occurs in `haystack`. The needles here are short constants and the
/// haystacks single records, so a SIMD search for the first byte, then a comparison, beats
/// building a substring searcher per call (work is at most haystack × needle length).
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    memchr::memchr_iter(first, hay).find(|&i| hay[i + 1..].starts_with(rest))
}

/// Minutes east of UTC for `+05:30` / `-08:00` / `+0530`.
#[must_use]
pub fn parse_offset(text: &str) -> Option<i32> {
    let t = text.trim();
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some(p) => p,
        None if rest.len() == 4 => rest.split_at(2),
        None => return None,
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m <= 59).then_some(sign * (h * 60 + m))
}

/// Whether `line` is a whole JSON object on one line (`{` … `}`): JSON layouts escape the
/// newlines inside their values, so nothing can continue such a line. A stray line after it
/// (a stack trace printed outside the layout) then ships as its own record instead of spoiling
/// the JSON it would have been glued to.
#[must_use]
pub fn json_object_line(line: &str) -> bool {
    line.starts_with('{') && line.trim_end().ends_with('}')
}

/// Turns records into events.
pub trait Parser: Send + Sync {
    /// Parses one record (physical lines joined by `\n`, terminators removed). The record's
    /// buffer becomes the event's `event.original`, so values sliced from it are not copied.
    fn parse(&self, record: String, origin: Origin, created: i64) -> Event;

    /// Whether records of this format can span several lines. Only then does the reader hold
    /// the last record back, waiting for continuation lines.
    fn joins_lines(&self) -> bool {
        false
    }

    /// Whether `line` begins a new record; `false` joins it to the previous record. Asked only
    /// when [`Parser::joins_lines`] is true.
    fn starts_record(&self, line: &str) -> bool {
        let _ = line;
        true
    }

    /// [`Parser::starts_record`], and what reading the line's start told the parser, as a
    /// number it understands (0: nothing): the reader keeps it with the record and hands it to
    /// [`Parser::parse_started`], so that a parser reading the same start again (the Dogtag
    /// prefix, about 330 instructions) reads it once. `None`: the line does not begin a record.
    fn record_start(&self, line: &str) -> Option<u64> {
        self.starts_record(line).then_some(0)
    }

    /// [`Parser::parse`] of a record whose first line [`Parser::record_start`] read, with the
    /// number it returned (0: nothing known).
    fn parse_started(&self, record: String, start: u64, origin: Origin, created: i64) -> Event {
        let _ = start;
        self.parse(record, origin, created)
    }

    /// Whether `line`, which begins a record, is whole for certain: nothing can continue it (a
    /// JSON object on one line). It is handed on at once, and a line after it that does not
    /// begin a record is a record of its own. Asked for every line that begins a record.
    fn is_whole(&self, line: &str) -> bool {
        let _ = line;
        false
    }

    /// Whether the held `record` (continuation lines included) ends the way a whole record
    /// ends, though a continuation line could still follow: it is held only while the file has
    /// more to read, and handed on once the reader has caught up, not `multiline_timeout`
    /// later. Asked only then.
    fn looks_whole(&self, record: &str) -> bool {
        self.is_whole(record)
    }

    /// A fresh per-file sequencer, for formats whose events depend on the lines before them.
    fn sequencer(&self) -> Option<Box<dyn Sequencer>> {
        None
    }
}

/// Stateful steps that need file order, run after the parallel parse, one per file: fixing
/// times from line order, merging the records of one multi-record event.
///
/// Contract: every event pushed comes out of `push` or `flush` exactly once (possibly merged
/// into another); [`Sequencer::oldest_held`] names the file offset of the oldest record still
/// held, so that acknowledgements of lines from there on wait until it is released.
pub trait Sequencer: Send {
    /// Takes the next event of the file; appends the events that are complete to `out`.
    fn push(&mut self, event: Event, out: &mut Vec<Event>);

    /// Releases held events older than the sequencer's window (all of them with `force`);
    /// `now_ms` is [`crate::time::monotonic_ms`], never the wall clock.
    fn flush(&mut self, now_ms: i64, force: bool, out: &mut Vec<Event>) {
        let _ = (now_ms, force, out);
    }

    /// File offset of the oldest record still held, if any.
    fn oldest_held(&self) -> Option<u64> {
        None
    }
}

/// The zone named `name` (IANA), for sources that write local times.
pub fn zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("unknown time zone `{name}` (use an IANA name such as Europe/Berlin)"))
}

/// The parser for `format`.
#[must_use]
pub fn for_format(format: Format, options: &ParseOptions) -> Arc<dyn Parser> {
    let tz = options.timezone.as_deref().and_then(|z| zone(z).ok());
    match format {
        Format::Dogtag => Arc::new(dogtag::DogtagParser::new(&options.zones)),
        Format::Keycloak => Arc::new(keycloak::KeycloakParser::new(tz)),
        Format::Totp => Arc::new(totp::TotpParser),
        Format::Sap => Arc::new(sap::SapParser),
        Format::Auditd => Arc::new(auditd::AuditdParser),
        Format::Json => Arc::new(json::JsonParser),
        Format::Raw => Arc::new(raw::RawParser),
        Format::Auto => Arc::new(Auto::new(options)),
    }
}

/// Detects the format of each record.
#[derive(Debug, Default)]
pub struct Auto {
    dogtag: dogtag::DogtagParser,
    keycloak: keycloak::KeycloakParser,
}

impl Auto {
    /// A detector whose format parsers use `options`.
    #[must_use]
    pub fn new(options: &ParseOptions) -> Self {
        Self {
            dogtag: dogtag::DogtagParser::new(&options.zones),
            keycloak: keycloak::KeycloakParser::new(
                options.timezone.as_deref().and_then(|z| zone(z).ok()),
            ),
        }
    }
}

impl Parser for Auto {
    fn joins_lines(&self) -> bool {
        true
    }

    fn sequencer(&self) -> Option<Box<dyn Sequencer>> {
        Some(Box::new(AutoSequencer::default()))
    }

    fn starts_record(&self, line: &str) -> bool {
        // Detection cannot know which format a free-form line continues, so only the shape of
        // a Java stack trace is joined (indented lines, `Caused by:`). Set the source's format
        // to join a format's own continuation lines (Dogtag values holding newlines).
        !(line.starts_with([' ', '\t']) || line.starts_with("Caused by: "))
    }

    fn is_whole(&self, line: &str) -> bool {
        json_object_line(line)
    }

    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        let trimmed = record.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with('{') {
            let keycloak = [
                "\"realmId\"",
                "\"loggerName\":\"org.keycloak",
                "\"log.logger\":\"org.keycloak",
            ]
            .iter()
            .any(|k| trimmed.contains(k));
            if keycloak {
                return self.keycloak.parse(record, origin, created);
            }
            if trimmed.contains("\"message_uuid\"") || trimmed.contains("\"Uuid\"") {
                return sap::SapParser.parse(record, origin, created);
            }
            if trimmed.contains("\"action\"") && trimmed.contains("\"ip_address\"") {
                return totp::TotpParser.parse(record, origin, created);
            }
            return json::JsonParser.parse(record, origin, created);
        }
        if self.keycloak.starts_record(trimmed) {
            return self.keycloak.parse(record, origin, created);
        }
        if trimmed.starts_with("type=") || trimmed.starts_with("node=") {
            return auditd::AuditdParser.parse(record, origin, created);
        }
        if trimmed.starts_with("[AuditEvent=")
            || (trimmed.starts_with(|c: char| c.is_ascii_digit())
                && trimmed.contains("] [14] [6] [AuditEvent="))
        {
            return self.dogtag.parse(record, origin, created);
        }
        failure(
            record,
            origin,
            created,
            "no audit format recognised for this line",
        )
    }
}

/// The event for a record that could not be parsed: the original text, its origin, the tag
/// `audit_parse_failure` and the reason in `error.message`. `@timestamp` is the read time.
#[must_use]
pub fn failure(record: String, origin: Origin, created: i64, reason: &str) -> Event {
    // Failures are the exception: one atomic add each costs the hot path nothing.
    PARSE_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut event = Event::new(record, origin, created);
    event.set("event.kind", Value::Str(Text::Static("event")));
    event.add_tag("audit_parse_failure");
    event.set_str("error.message", reason);
    event
}

/// Records this process could not parse, for the metrics.
static PARSE_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many records no parser could read since the agent started.
#[must_use]
pub fn parse_failures() -> u64 {
    PARSE_FAILURES.load(std::sync::atomic::Ordering::Relaxed)
}

/// The sequencers of every detected format: auditd records are grouped, Keycloak times are
/// resolved, everything else passes.
#[derive(Default)]
struct AutoSequencer {
    keycloak: keycloak::KeycloakSequencer,
    auditd: auditd::AuditdSequencer,
}

impl Sequencer for AutoSequencer {
    fn push(&mut self, event: Event, out: &mut Vec<Event>) {
        if event.group_key.is_some() {
            self.auditd.push(event, out);
        } else {
            self.keycloak.push(event, out);
        }
    }

    fn flush(&mut self, now_ms: i64, force: bool, out: &mut Vec<Event>) {
        self.auditd.flush(now_ms, force, out);
    }

    fn oldest_held(&self) -> Option<u64> {
        self.auditd.oldest_held()
    }
}

/// For parser tests: `line` parsed by `parser` and written as ECS JSON, read back.
#[cfg(test)]
pub(crate) fn ecs_of(parser: &dyn Parser, line: &str, origin: Origin) -> serde_json::Value {
    let event = parser.parse(line.to_owned(), origin, 0);
    serde_json::from_str(&event.to_json()).expect("the ECS writer writes JSON")
}
