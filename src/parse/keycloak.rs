//! `keycloak`: Keycloak and `TideCloak` events (FORMATS.md §2): jboss-logging text lines, the
//! Quarkus JSON log layouts carrying the same text, and the REST representations.
//!
//! Text lines carry local time without a zone: the source's `timezone` gives it. In the
//! repeated hour at the end of summer time a local time has two readings; the parser takes the
//! first and records the second, and the per-file [`KeycloakSequencer`] switches to the second
//! reading when time goes backwards (FORMATS.md §1.5). Lines that do not start with a date are
//! continuation lines (stack traces) and are joined to the record before them.

use std::borrow::Cow;

use nom::bytes::complete::{tag, take_while1};
use nom::IResult;
use smallvec::SmallVec;

use super::draft::Draft;
use super::until;
use super::zone::{to_local, to_utc, Reading};
use super::{failure, Parser, Sequencer};
use crate::event::{Event, Origin};
use crate::normalize::keycloak::{
    detail_field, is_tidecloak, operation_type, resource_from_path, user_event, ADMIN_RESOURCES,
};
use crate::normalize::{self, Outcome};

/// The Keycloak parser.
#[derive(Debug, Clone, Default)]
pub struct KeycloakParser {
    zone: Option<chrono_tz::Tz>,
}

impl KeycloakParser {
    /// A parser reading zone-less text times in `zone` (UTC, tagged, when `None`).
    #[must_use]
    pub fn new(zone: Option<chrono_tz::Tz>) -> Self {
        Self { zone }
    }
}

/// One event as the three layouts carry it.
#[derive(Debug, Default)]
struct Record<'a> {
    /// `type` (user event) or `operationType` (admin event).
    kind: Option<Cow<'a, str>>,
    admin: bool,
    realm_id: Option<Cow<'a, str>>,
    realm_name: Option<Cow<'a, str>>,
    client_id: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    session_id: Option<Cow<'a, str>>,
    ip_address: Option<Cow<'a, str>>,
    error: Option<Cow<'a, str>>,
    resource_type: Option<Cow<'a, str>>,
    resource_path: Option<Cow<'a, str>>,
    representation: Option<Cow<'a, str>>,
    /// The changed realm, when it differs from the admin's (REST admin events).
    target_realm: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    /// Inline room for the usual details (`auth_method`, `redirect_uri`, `code_id`, `username`...).
    details: SmallVec<[(Cow<'a, str>, Cow<'a, str>); 8]>,
}

impl Parser for KeycloakParser {
    fn joins_lines(&self) -> bool {
        true
    }

    fn starts_record(&self, line: &str) -> bool {
        line.starts_with('{') || starts_dated(line) || locate(line).is_some()
    }

    fn is_whole(&self, line: &str) -> bool {
        super::json_object_line(line)
    }

    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        if let Some(redacted) = redact(&record) {
            let mut event = self.parse_clean(redacted, origin, created);
            event.add_tag("audit_redacted");
            return event;
        }
        self.parse_clean(record, origin, created)
    }

    fn sequencer(&self) -> Option<Box<dyn Sequencer>> {
        Some(Box::new(KeycloakSequencer::default()))
    }
}

impl KeycloakParser {
    fn parse_clean(&self, record: String, origin: Origin, created: i64) -> Event {
        // Field ranges are offsets into the record, so a byte-order mark is removed first.
        let record = match record.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => record,
        };
        let body = record.as_str();
        let result = if body.starts_with('{') {
            json_record(body)
        } else {
            self.text_record(body, created)
        };
        match result {
            Ok((d, Times { alt, dateless })) => {
                let mut event = d.finish(record, origin, created);
                event.alt_timestamp = alt;
                event.date_assumed = dateless;
                event
            }
            Err(reason) => failure(record, origin, created, &reason),
        }
    }

    /// A jboss-logging pattern line: `stamp LEVEL [category] (thread) message`, possibly after
    /// a syslog or docker-compose prefix, and possibly with a time but no date (the `WildFly` console).
    fn text_record(&self, line: &str, created: i64) -> Result<(Draft, Times), String> {
        let start = locate(line).ok_or_else(|| {
            if starts_dated(line) {
                "a line that starts with a time but is no Keycloak record (no calendar date, no \
                 milliseconds, or no `LEVEL [category] (thread)` after the time)"
                    .to_owned()
            } else {
                "not a Keycloak log line (expected `yyyy-MM-dd HH:mm:ss,SSS LEVEL [category] (thread) ...`)"
                    .to_owned()
            }
        })?;
        let mut d = Draft::new();
        let mut local = start.local;
        if !start.dated {
            // Only a time of day: the date of the read time here; the file's sequencer moves
            // it to the date of the line before, when there is one.
            let now = self.zone.map_or(created, |z| to_local(z, created));
            local += now.div_euclid(DAY_MS) * DAY_MS;
            d.tag("audit_date_assumed");
        }
        let mut alt = None;
        if let Some(zone) = self.zone {
            match to_utc(zone, local) {
                Reading::Single(t) => d.timestamp = Some(t),
                Reading::Ambiguous(first, second) => {
                    d.timestamp = Some(first);
                    alt = Some(second);
                }
                Reading::Gap(t) => {
                    d.timestamp = Some(t);
                    d.tag("audit_time_in_dst_gap");
                }
            }
        } else {
            d.timestamp = Some(local);
            d.tag("audit_timezone_assumed");
        }
        let (level, category, thread) = start.header;
        let message = start.message;
        d.str("log.level", line, level);
        d.str("log.logger", line, category);
        d.str("process.thread.name", line, thread);
        // A SIMD search: the standard library's looks at one word at a time.
        let (first, trace) = match memchr::memchr(b'\n', message.as_bytes()) {
            Some(at) => (&message[..at], Some(&message[at + 1..])),
            None => (message, None),
        };
        if let Some(trace) = trace {
            d.str("error.stack_trace", line, trace);
        }
        body(&mut d, line, category, first)?;
        let dateless = !start.dated;
        Ok((d, Times { alt, dateless }))
    }
}

const DAY_MS: i64 = 86_400_000;

/// What the per-file sequencer settles about a record's time.
#[derive(Default)]
struct Times {
    /// The second reading of a time in the repeated hour.
    alt: Option<i64>,
    /// Only a time of day was given.
    dateless: bool,
}

/// Where the jboss-logging record of a line starts.
struct Start<'a> {
    /// The wall-clock time (of the date, or of the day's start when `dated` is false).
    local: i64,
    dated: bool,
    /// Level, category and thread.
    header: (&'a str, &'a str, &'a str),
    message: &'a str,
}

/// How far into a line a prefix (syslog header, docker-compose service name) may reach.
const PREFIX_MAX: usize = 256;

/// Finds the record in `line`: at its start, or after a prefix that ends in a space
/// (`2025-12-09T08:49:18+00:00 host service[kc] 2025-12-09 09:49:17,971 INFO [...]`,
/// `keycloak  | 08:12:20,561 WARN [...]`). A time is taken only where a `LEVEL [category]
/// (thread)` header follows it.
fn locate(line: &str) -> Option<Start<'_>> {
    let b = line.as_bytes();
    let limit = b.len().min(PREFIX_MAX);
    (0..limit)
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || b[i - 1] == b' '))
        .find_map(|i| at(&line[i..], i == 0 || line[..i].ends_with("| ")))
}

/// A record starting exactly at `s`: a dated stamp, or (where `undated` may start a record:
/// at the line's start or after a docker-compose `service | `) a time of day; then the header.
/// A time inside a line is otherwise no record start: `2025-13-45 09:00:00,000` is a bad date,
/// not a time of day.
fn at(s: &str, undated: bool) -> Option<Start<'_>> {
    let (rest, local, dated) = match stamp(s) {
        Some((rest, local)) => (rest, local, true),
        None if undated => {
            let (rest, local) = clock(s)?;
            (rest, local, false)
        }
        None => return None,
    };
    let (message, header) = header(rest).ok()?;
    Some(Start {
        local,
        dated,
        header,
        message,
    })
}

/// Whether a line starts like a log record of any layout (a date or a time of day): such a
/// line is never glued to the record before it as a stack trace, even when it cannot be read.
fn starts_dated(line: &str) -> bool {
    let b = line.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let date = b.len() >= 10 && crate::time::marks(b, [(4, b'-'), (7, b'-')]);
    let time = b.len() >= 8 && crate::time::marks(b, [(2, b':'), (5, b':')]);
    (date && [0, 1, 2, 3, 5, 6, 8, 9].into_iter().all(d))
        || (time && [0, 1, 3, 4, 6, 7].into_iter().all(d))
}

/// `HH:mm:ss,SSS` at the start of `s`: the rest and the time of day in milliseconds.
fn clock(s: &str) -> Option<(&str, i64)> {
    let b = s.as_bytes();
    if b.len() < 12
        || !crate::time::marks(b, [(2, b':'), (5, b':')])
        || !matches!(b[8], b',' | b'.')
    {
        return None;
    }
    let num = |r| crate::time::digits(b, r).map(i64::from);
    let (hour, minute, second) = (num(0..2)?, num(3..5)?, num(6..8)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let ms = num(9..12)?;
    Some((&s[12..], ((hour * 60 + minute) * 60 + second) * 1000 + ms))
}

/// The message of a log record: an event from the events logger, or a record of another
/// logger, shipped as a log record tagged `audit_non_audit` (never as if it were an audit event).
/// An events-logger message that names no event type is a parse failure.
fn body(d: &mut Draft, line: &str, logger: &str, message: &str) -> Result<(), String> {
    let typed = message.starts_with("type=") || message.starts_with("operationType=");
    if logger.ends_with(".events") {
        if !typed {
            return Err(format!(
                "`{logger}` record without `type=` or `operationType=`: no event to read"
            ));
        }
        // The text layout embedded in a JSON string and copied out verbatim: `type=\"LOGIN\"`.
        if message.starts_with("type=\\\"") || message.starts_with("operationType=\\\"") {
            let unescaped = message.replace("\\\"", "\"");
            let record = kv_record(&unescaped)?;
            emit(d, line, &record);
        } else {
            let record = kv_record(message)?;
            emit(d, line, &record);
        }
        return Ok(());
    }
    d.constant("event.kind", "event");
    d.constant("event.module", "keycloak");
    d.constant("event.dataset", "keycloak.log");
    d.tag("audit_non_audit");
    if !message.is_empty() {
        d.str("message", line, message);
    }
    Ok(())
}

/// `yyyy-MM-dd HH:mm:ss,SSS` (or `.SSS`, or a `T` between date and time) at the start of a line, read at fixed positions: the
/// rest of the line and the wall-clock time counted like epoch milliseconds.
fn stamp(line: &str) -> Option<(&str, i64)> {
    let b = line.as_bytes();
    let punctuation = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 23
        || !crate::time::marks(b, punctuation)
        || !matches!(b[10], b' ' | b'T')
        || !matches!(b[19], b',' | b'.')
    {
        return None;
    }
    let num = |r| crate::time::digits(b, r);
    // Seconds stop at 59: a leap second (`:60`) is no time a Java clock writes.
    let second = num(17..19).filter(|&s| s < 60)?;
    let local = crate::time::utc_ms(
        i64::from(num(0..4)?),
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        second,
        num(20..23)?,
    )?;
    Some((&line[23..], local))
}

/// ` LEVEL [category] (thread) ` → (level, category, thread); the rest is the message.
fn header(i: &str) -> IResult<&str, (&str, &str, &str)> {
    let (i, _) = take_while1(|c| c == ' ')(i)?;
    let (i, level) = take_while1(|c: char| c.is_ascii_uppercase())(i)?;
    let (i, _) = take_while1(|c| c == ' ')(i)?;
    let (i, _) = tag("[")(i)?;
    let (i, category) = until("] (")(i)?;
    let (i, _) = tag("] (")(i)?;
    let (i, thread) = until(") ")(i)?;
    let (i, _) = tag(") ")(i)?;
    Ok((i, (level, category, thread)))
}

/// Whether `s` is `, key=` (the start of the next pair).
fn next_key(s: &str) -> bool {
    let Some(rest) = s.strip_prefix(", ") else {
        return false;
    };
    let n = rest.bytes().take_while(|&b| key_byte(b)).count();
    n > 0 && rest.as_bytes().get(n) == Some(&b'=')
}

/// The end of a value starting at `rest[from..]`: the first `close` (or, with `None`, the first
/// `, `) that is followed by the next pair or by the end.
fn value_end(rest: &str, from: usize, close: Option<u8>) -> Option<usize> {
    let bytes = rest.as_bytes();
    match close {
        Some(c) => memchr::memchr_iter(c, &bytes[from..])
            .map(|j| from + j)
            .find(|&at| at + 1 == rest.len() || next_key(&rest[at + 1..])),
        None => Some(
            memchr::memchr_iter(b',', &bytes[from..])
                .map(|j| from + j)
                .find(|&at| next_key(&rest[at..]))
                .unwrap_or(rest.len()),
        ),
    }
}

/// Whether `b` may appear in a key.
const fn key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// The common case of the tokeniser in one pass, handing each pair to `pair`: every value
/// double-quoted, no backslash, each closing quote followed by `, ` and the next `key="`, or by
/// the end. `false` for anything else (pairs already handed over are then to be forgotten),
/// which [`general_pairs`] then reads (with the same result where both apply).
fn quoted_pairs<'a>(message: &'a str, mut pair: impl FnMut(&'a str, &'a str)) -> bool {
    let b = message.as_bytes();
    let mut i = 0;
    loop {
        let key_start = i;
        while i < b.len() && KEY_BYTES[usize::from(b[i])] {
            i += 1;
        }
        if i == key_start || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
            return false;
        }
        let value_start = i + 2;
        let Some(len) = memchr::memchr2(b'"', b'\\', &b[value_start..]) else {
            return false;
        };
        let close = value_start + len;
        if b[close] == b'\\' {
            return false;
        }
        pair(&message[key_start..i], &message[value_start..close]);
        if close + 1 == b.len() {
            return true;
        }
        if b.get(close + 1..close + 3) != Some(b", ") {
            return false;
        }
        i = close + 3;
    }
}

/// [`key_byte`] as a table.
static KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = key_byte(b as u8);
        b += 1;
    }
    table
};

/// Tokenises `key=value, key=value` in any of the three value encodings (§2.2): unquoted, `"`-quoted with escapes, `'`-quoted, `cookies=[..]`.
fn general_pairs(message: &str) -> Result<Vec<(&str, Cow<'_, str>)>, String> {
    let first_value = message.find('=').map_or(0, |i| i + 1);
    let quote = match message.as_bytes().get(first_value) {
        Some(b'"') => Some(b'"'),
        Some(b'\'') => Some(b'\''),
        _ => None,
    };
    let mut out = Vec::with_capacity(16);
    let mut rest = message;
    loop {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("expected `key=` at `{}`", truncate(rest)))?;
        let key = &rest[..eq];
        if key.is_empty() || !key.bytes().all(|b| KEY_BYTES[usize::from(b)]) {
            return Err(format!("bad key `{}`", truncate(key)));
        }
        let vstart = eq + 1;
        let first = rest.as_bytes().get(vstart).copied();
        let (value, end): (Cow<'_, str>, usize) = if key == "cookies" && first == Some(b'[') {
            let end = value_end(rest, vstart + 1, Some(b']'))
                .ok_or_else(|| "unclosed cookies=[".to_owned())?;
            (Cow::Borrowed(&rest[vstart + 1..end]), end + 1)
        } else if let (Some(q), Some(f)) = (quote, first) {
            if f == q {
                let end = value_end(rest, vstart + 1, Some(q))
                    .ok_or_else(|| format!("unclosed quote in value of `{key}`"))?;
                let raw = &rest[vstart + 1..end];
                let escaped = [b'\\', q];
                let escaped = std::str::from_utf8(&escaped).unwrap_or("\\\"");
                let value = if super::find(raw, escaped).is_some() {
                    Cow::Owned(raw.replace(escaped, &escaped[1..]))
                } else {
                    Cow::Borrowed(raw)
                };
                (value, end + 1)
            } else {
                let end = value_end(rest, vstart, None).unwrap_or(rest.len());
                (Cow::Borrowed(&rest[vstart..end]), end)
            }
        } else if first == Some(b'\'') {
            // Old format: detail values with spaces in single quotes, unescaped.
            if let Some(end) = value_end(rest, vstart + 1, Some(b'\'')) {
                (Cow::Borrowed(&rest[vstart + 1..end]), end + 1)
            } else {
                let end = value_end(rest, vstart, None).unwrap_or(rest.len());
                (Cow::Borrowed(&rest[vstart..end]), end)
            }
        } else {
            let end = value_end(rest, vstart, None).unwrap_or(rest.len());
            (Cow::Borrowed(&rest[vstart..end]), end)
        };
        out.push((key, value));
        rest = &rest[end..];
        if rest.is_empty() {
            return Ok(out);
        }
        rest = rest
            .strip_prefix(", ")
            .ok_or_else(|| format!("expected `, ` after the value of `{key}`"))?;
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A present value: `null` (quoted or not) and empty mean absent.
fn present<'a>(value: impl Into<Cow<'a, str>>) -> Option<Cow<'a, str>> {
    let value = value.into();
    (!value.is_empty() && value != "null").then_some(value)
}

/// Builds a [`Record`] from a text message.
fn kv_record(message: &str) -> Result<Record<'_>, String> {
    let mut r = Record::default();
    if quoted_pairs(message, |key, value| r.set(key, Cow::Borrowed(value))) {
        return Ok(r);
    }
    let mut r = Record::default();
    for (key, value) in general_pairs(message)? {
        r.set(key, value);
    }
    Ok(r)
}

impl<'a> Record<'a> {
    /// One pair of a text message.
    fn set(&mut self, key: &'a str, value: Cow<'a, str>) {
        match key {
            "type" => self.kind = present(value),
            "operationType" => {
                self.kind = present(value);
                self.admin = true;
            }
            "realmId" => self.realm_id = present(value),
            "realmName" => self.realm_name = present(value),
            "clientId" => self.client_id = present(value),
            "userId" => self.user_id = present(value),
            "sessionId" => self.session_id = present(value),
            "ipAddress" => self.ip_address = present(value),
            "error" => self.error = present(value),
            "resourceType" => self.resource_type = present(value),
            "resourcePath" => self.resource_path = Some(value),
            "representation" => self.representation = present(value),
            _ => self.details.push((Cow::Borrowed(key), value)),
        }
    }
}

fn json_record(line: &str) -> Result<(Draft, Times), String> {
    let mut j = super::keycloak_json::Json::default();
    super::keycloak_json::read(line, &mut j)?;
    let mut d = Draft::new();
    // A JSON log record: the message is the text of a pattern line. A record without a
    // message (an exception logged with no text) is still a log record, not a REST event.
    let stamp = j.timestamp.as_deref().or(j.at_timestamp.as_deref());
    let logger = j.logger_name.as_deref().or(j.log_logger.as_deref());
    if j.message.is_some() || (j.time.is_none() && (stamp.is_some() || logger.is_some())) {
        let message = j.message.as_deref().unwrap_or("");
        d.timestamp = stamp.and_then(crate::time::parse_rfc3339);
        if d.timestamp.is_none() {
            d.tag("audit_timestamp_unparsed");
        }
        if let Some(l) = logger {
            d.str("log.logger", line, l);
        }
        if let Some(l) = j.level.as_deref().or(j.log_level.as_deref()) {
            d.str("log.level", line, l);
        }
        if let Some(t) = j
            .thread_name
            .as_deref()
            .or(j.process_thread_name.as_deref())
        {
            d.str("process.thread.name", line, t);
        }
        if let Some(h) = j.host_name.as_deref().or(j.host_hostname.as_deref()) {
            d.str("host.name", line, h);
        }
        if let Some(s) = &j.stack_trace {
            d.str("error.stack_trace", line, s);
        }
        if let Some(n) = j.sequence.or(j.event_sequence) {
            d.int("event.sequence", n);
        }
        if let Some(n) = j.process_id.or(j.process_pid) {
            d.int("process.pid", n);
        }
        if let Some(n) = j.process_name.as_deref().or(j.process_name_ecs.as_deref()) {
            // The layouts write the executable's path under the name field.
            d.str("process.name", line, n);
            if n.starts_with('/') {
                d.str("process.executable", line, n);
            }
        }
        body(&mut d, line, logger.unwrap_or(""), message)?;
        return Ok((d, Times::default()));
    }
    // A REST representation.
    let Some(time) = j.time else {
        return Err("Keycloak JSON without `time` or `message`".to_owned());
    };
    d.timestamp = Some(time);
    let mut r = Record {
        id: j.id.map(Cow::from),
        error: j.error.and_then(present),
        representation: j.representation.map(Cow::from),
        ..Record::default()
    };
    if let Some(op) = j.operation_type {
        r.admin = true;
        r.kind = Some(op.into());
        r.resource_path = j.resource_path.map(Cow::from);
        r.resource_type = j.resource_type.map(Cow::from).or_else(|| {
            r.resource_path
                .as_deref()
                .map(|p| Cow::Borrowed(resource_from_path(p)))
        });
        r.target_realm = j.realm_id.map(Cow::from);
        if let Some(a) = j.auth_details {
            r.realm_id = a.realm_id.map(Cow::from);
            r.realm_name = a.realm_name.map(Cow::from);
            r.client_id = a.client_id.and_then(present);
            r.user_id = a.user_id.and_then(present);
            r.ip_address = a.ip_address.and_then(present);
        }
    } else if let Some(kind) = j.kind {
        r.kind = Some(kind.into());
        r.realm_id = j.realm_id.map(Cow::from);
        r.realm_name = j.realm_name.map(Cow::from);
        r.client_id = j.client_id.and_then(present);
        r.user_id = j.user_id.and_then(present);
        r.session_id = j.session_id.and_then(present);
        r.ip_address = j.ip_address.and_then(present);
    } else {
        return Err("Keycloak event JSON without `type` or `operationType`".to_owned());
    }
    for (k, v) in j.details.into_iter().flatten() {
        if let Some(v) = v {
            r.details.push((k, v));
        }
    }
    emit(&mut d, line, &r);
    Ok((d, Times::default()))
}

/// Maps a record to ECS (§2.6, §2.7).
fn emit(d: &mut Draft, line: &str, r: &Record<'_>) {
    let kind = r.kind.as_deref().unwrap_or("");
    let tide = is_tidecloak(kind) || r.resource_type.as_deref().is_some_and(is_tidecloak);
    d.constant("event.kind", "event");
    d.constant("event.module", "keycloak");
    d.constant(
        "event.provider",
        if tide { "tidecloak" } else { "keycloak" },
    );
    let failed = r.error.is_some() || kind.ends_with("_ERROR");
    normalize::outcome(
        d,
        if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        },
    );
    if r.admin {
        emit_admin(d, line, r, kind);
    } else {
        d.constant("event.dataset", "keycloak.event");
        d.str("event.action", line, kind);
        match user_event(kind) {
            Some(mapping) => normalize::categorise(d, mapping),
            None => d.tag("audit_unknown_action"),
        }
    }
    emit_common(d, line, r);
}

/// The admin-event part of [`emit`]: `<OP>-<RESOURCE>`, the resource's category, the target.
fn emit_admin(d: &mut Draft, line: &str, r: &Record<'_>, kind: &str) {
    {
        d.constant("event.dataset", "keycloak.admin");
        // Old versions write no resourceType: infer it from the path (§2.4).
        let resource = r.resource_type.as_deref().unwrap_or_else(|| {
            r.resource_path
                .as_deref()
                .map_or("REALM", resource_from_path)
        });
        d.owned("event.action", format!("{kind}-{resource}"));
        d.str("keycloak.admin.operation", line, kind);
        d.str("keycloak.admin.resource.type", line, resource);
        let mapping = normalize::lookup(&ADMIN_RESOURCES, resource);
        match (mapping, resource) {
            (Some(_), "USER_SESSION") => {
                d.push_constant("event.category", "session");
                d.push_constant("event.type", if kind == "DELETE" { "end" } else { "info" });
            }
            (Some(_), "GROUP_MEMBERSHIP") => {
                d.push_constant("event.category", "iam");
                d.push_constant("event.type", "group");
                d.push_constant("event.type", "change");
            }
            (Some(mapping), _) => {
                normalize::categorise(d, mapping);
                if let Some(t) = operation_type(kind) {
                    d.push_constant("event.type", t);
                }
            }
            (None, _) => d.tag("audit_unknown_action"),
        }
        let about_accounts = mapping.is_some_and(|m| m.category != ["configuration"]);
        if let Some(path) = &r.resource_path {
            d.str("keycloak.admin.resource.path", line, path);
            let mut segments = path.split('/');
            match (segments.next(), segments.next()) {
                (Some("users"), Some(id)) if !id.is_empty() && about_accounts => {
                    d.str("user.target.id", line, id);
                    d.push("related.user", line, id);
                }
                (Some("groups"), Some(id)) if !id.is_empty() => d.str("group.id", line, id),
                _ => {}
            }
            if kind == "ACTION" {
                if let Some(last) = path.rsplit('/').next().filter(|s| !s.is_empty()) {
                    d.str("keycloak.admin.action", line, last);
                }
            }
        }
        if let Some(target) = &r.target_realm {
            d.str("keycloak.admin.realm.id", line, target);
        }
        if let Some(rep) = &r.representation {
            d.str("keycloak.admin.representation", line, rep);
        }
    }
}

/// Fields common to user and admin events: realm, client, session, address, actor, details.
fn emit_common(d: &mut Draft, line: &str, r: &Record<'_>) {
    if let Some(id) = &r.id {
        d.str("event.id", line, id);
    }
    if let Some(realm) = &r.realm_id {
        d.str("keycloak.realm.id", line, realm);
        d.str("organization.id", line, realm);
    }
    if let Some(name) = &r.realm_name {
        d.str("user.domain", line, name);
        d.str("organization.name", line, name);
    }
    if let Some(c) = &r.client_id {
        d.str("keycloak.client.id", line, c);
    }
    if let Some(s) = &r.session_id {
        d.str("keycloak.session.id", line, s);
    }
    if let Some(ip) = &r.ip_address {
        normalize::ip_or_address(d, line, ip, "source.ip", "source.address");
    }
    if let Some(e) = &r.error {
        d.str("error.code", line, e);
    }
    let impersonator = r
        .details
        .iter()
        .find(|(k, _)| k == "impersonator")
        .map(|(_, v)| v);
    match (impersonator, &r.user_id) {
        (Some(actor), Some(user)) => {
            normalize::user(d, "user.name", line, actor);
            d.str("user.effective.id", line, user);
            d.push("related.user", line, user);
        }
        (_, Some(user)) => normalize::user(d, "user.id", line, user),
        _ => {}
    }
    for (key, value) in &r.details {
        details(d, line, key, value, impersonator.is_some());
    }
}

fn details(d: &mut Draft, line: &str, key: &str, value: &str, impersonated: bool) {
    match key {
        "impersonator" => {}
        "impersonator_realm" => d.str("user.domain", line, value),
        "username" if impersonated => d.str("user.effective.name", line, value),
        "username" => normalize::user(d, "user.name", line, value),
        "previous_email" | "previous_first_name" | "previous_last_name" => {
            d.dynamic("keycloak.details", line, key, value);
        }
        "updated_first_name" => d.str("user.changes.full_name", line, value),
        "cookies" => {
            // Names only: cookie values are session secrets.
            let names: Vec<&str> = value
                .split(", ")
                .filter_map(|c| c.split('=').next())
                .collect();
            d.owned("keycloak.cookies", names.join(", "));
        }
        "redirect_uri" => {
            d.str("url.original", line, value);
            d.str("keycloak.redirect_uri", line, value);
        }
        _ => match detail_field(key) {
            Some(field) => d.str(field, line, value),
            None => d.dynamic("keycloak.details", line, key, value),
        },
    }
}

/// Secrets in a record, masked (FORMATS.md §1.6): credential and secret values inside admin
/// representations, cookie values, and `code=`/`session_code=` in request URIs. `None` when
/// there is nothing to mask.
fn redact(record: &str) -> Option<String> {
    let mut out: Option<String> = None;
    // One test for all the JSON patterns below (ten searches of the whole record, one per
    // pattern, were a tenth of a Keycloak JSON event's parse and write).
    if has_secret_key(record.as_bytes()) {
        for (finder, quote) in SECRET_FINDERS.iter() {
            mask_after(record, &mut out, finder, quote);
        }
    }
    // Both parameters end in `code=`: one search tells whether either can be there.
    if super::finder!("code=").find(record.as_bytes()).is_some() {
        for param in ["code=", "session_code="] {
            mask_query(record, &mut out, param);
        }
    }
    mask_cookies(record, &mut out);
    out
}

/// Whether any of [`SECRET_KEYS`] occurs in `bytes`. Every key ends in one of three words
/// (`value`, `ecret`, `password`) and then `":` or `\":`, and records seldom hold these words:
/// three SIMD searches settle most records, and only where a word occurs is the key around
/// it compared. (Comparing the keys at every `":` of a record that held a word took about
/// 1,000 instructions a record on the workload, where `client-secret` is in two of five.)
fn has_secret_key(bytes: &[u8]) -> bool {
    let ends_a_key = |end: usize| {
        [2, 3].into_iter().any(|suffix| {
            bytes.get(..end + suffix).is_some_and(|key| {
                SECRET_KEYS
                    .iter()
                    .any(|(pattern, _)| key.ends_with(pattern.as_bytes()))
            })
        })
    };
    [
        (super::finder!("value"), 5),
        (super::finder!("ecret"), 5),
        (super::finder!("password"), 8),
    ]
    .into_iter()
    .any(|(word, len)| word.find_iter(bytes).any(|at| ends_a_key(at + len)))
}

const MASK: &str = "********";

/// `"key":` of the JSON keys whose string values are secrets, also as written inside a JSON
/// string (`\"key\":`), with the quote that opens and ends the value. Whitespace may stand
/// between the colon and the value (`"password": "x"`).
const SECRET_KEYS: [(&str, &str); 10] = [
    (r#""value":"#, "\""),
    (r#"\"value\":"#, "\\\""),
    (r#""secret":"#, "\""),
    (r#"\"secret\":"#, "\\\""),
    (r#""password":"#, "\""),
    (r#"\"password\":"#, "\\\""),
    (r#""clientSecret":"#, "\""),
    (r#"\"clientSecret\":"#, "\\\""),
    (r#""client_secret":"#, "\""),
    (r#"\"client_secret\":"#, "\\\""),
];

/// [`SECRET_KEYS`] with a substring searcher each, built once: JSON records are full of the
/// quote every pattern starts with.
static SECRET_FINDERS: std::sync::LazyLock<Vec<(memchr::memmem::Finder<'static>, &'static str)>> =
    std::sync::LazyLock::new(|| {
        SECRET_KEYS
            .iter()
            .map(|(pattern, quote)| (memchr::memmem::Finder::new(pattern), *quote))
            .collect()
    });

/// Masks the string value after each occurrence of `pattern` (up to the closing `quote`).
fn mask_after(
    record: &str,
    out: &mut Option<String>,
    pattern: &memchr::memmem::Finder<'_>,
    quote: &str,
) {
    if pattern
        .find(out.as_deref().unwrap_or(record).as_bytes())
        .is_none()
    {
        return;
    }
    let current = out.as_deref().unwrap_or(record).to_owned();
    let mut result = String::with_capacity(current.len());
    let mut rest = current.as_str();
    let mut changed = false;
    while let Some(i) = pattern.find(rest.as_bytes()) {
        let after = i + pattern.needle().len();
        let spaces = rest[after..]
            .bytes()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .count();
        if !rest[after + spaces..].starts_with(quote) {
            // Not a string value (a number, null, an object): nothing to mask here.
            result.push_str(&rest[..after]);
            rest = &rest[after..];
            continue;
        }
        let start = after + spaces + quote.len();
        result.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = if quote == "\"" {
            // JSON string: ends at an unescaped quote.
            let mut esc = false;
            tail.char_indices()
                .find(|&(_, c)| {
                    let stop = c == '"' && !esc;
                    esc = c == '\\' && !esc;
                    stop
                })
                .map_or(tail.len(), |(j, _)| j)
        } else {
            tail.find(quote).unwrap_or(tail.len())
        };
        if &tail[..end] != MASK && end > 0 {
            changed = true;
            result.push_str(MASK);
        } else {
            result.push_str(&tail[..end]);
        }
        rest = &tail[end..];
    }
    result.push_str(rest);
    if changed {
        *out = Some(result);
    }
}

fn mask_query(record: &str, out: &mut Option<String>, param: &str) {
    if super::find(out.as_deref().unwrap_or(record), param).is_none() {
        return;
    }
    let current = out.as_deref().unwrap_or(record).to_owned();
    let mut result = String::with_capacity(current.len());
    let mut rest = current.as_str();
    let mut changed = false;
    while let Some(i) = rest.find(param) {
        let before = rest[..i].chars().last();
        let start = i + param.len();
        result.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(['&', '"', ',', ' ', '\'']).unwrap_or(tail.len());
        if matches!(before, Some('?' | '&')) && end > 0 && &tail[..end] != MASK {
            result.push_str(MASK);
            changed = true;
        } else {
            result.push_str(&tail[..end]);
        }
        rest = &tail[end..];
    }
    result.push_str(rest);
    if changed {
        *out = Some(result);
    }
}

fn mask_cookies(record: &str, out: &mut Option<String>) {
    let current = out.as_deref().unwrap_or(record);
    let Some(i) = super::finder!("cookies=[").find(current.as_bytes()) else {
        return;
    };
    let start = i + "cookies=[".len();
    let Some(len) = current[start..].find(']') else {
        return;
    };
    let list = &current[start..start + len];
    let masked: Vec<String> = list
        .split(", ")
        .map(|c| match c.split_once('=') {
            Some((name, v)) if v != MASK => format!("{name}={MASK}"),
            _ => c.to_owned(),
        })
        .collect();
    let masked = masked.join(", ");
    if masked != list {
        let mut s = String::with_capacity(current.len());
        s.push_str(&current[..start]);
        s.push_str(&masked);
        s.push_str(&current[start + len..]);
        *out = Some(s);
    }
}

/// Resolves the repeated hour at the end of summer time from line order: once time goes
/// backwards inside an ambiguous hour, the second reading applies until the hour is over.
#[derive(Debug, Default)]
pub struct KeycloakSequencer {
    last: Option<i64>,
    second_pass: bool,
}

/// Backwards steps smaller than this are ordinary disorder between threads.
const DISORDER_MS: i64 = 5 * 60 * 1000;

impl Sequencer for KeycloakSequencer {
    fn push(&mut self, mut event: Event, out: &mut Vec<Event>) {
        self.resolve(&mut event);
        out.push(event);
    }
}

impl KeycloakSequencer {
    /// Chooses the reading of an ambiguous local time, and gives a line with a time but no
    /// date the date of the line before it (the next day when the clock passed midnight).
    pub fn resolve(&mut self, event: &mut Event) {
        let Some(mut first) = event.timestamp else {
            return;
        };
        if let (Some(last), true) = (self.last, event.date_assumed) {
            let behind = last - DISORDER_MS - first;
            let days = behind.div_euclid(DAY_MS) + i64::from(behind.rem_euclid(DAY_MS) != 0);
            first += days * DAY_MS;
            event.timestamp = Some(first);
            if let Some(second) = &mut event.alt_timestamp {
                *second += days * DAY_MS;
            }
        }
        match event.alt_timestamp.take() {
            Some(second) => {
                let backwards = self.last.is_some_and(|l| first + DISORDER_MS < l);
                if self.second_pass || backwards {
                    self.second_pass = true;
                    event.timestamp = Some(second);
                }
            }
            None => self.second_pass = false,
        }
        self.last = event.timestamp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn the_secret_key_pretest_agrees_with_a_search_per_pattern(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "\"", "\\\"", "\":", "\\\":", "value", "secret", "password", "clientSecret",
                    "client_secret", "Secret", "user", " ", ":", "x", "{", "}",
                ]),
                0..24,
            )
        ) {
            let record = parts.concat();
            let naive = SECRET_KEYS
                .iter()
                .any(|(pattern, _)| record.contains(pattern));
            proptest::prop_assert_eq!(has_secret_key(record.as_bytes()), naive, "{}", record);
        }
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_tokeniser_agrees_with_the_general_one(
            pairs in proptest::collection::vec(("[a-zA-Z_]{1,8}", "[a-z =,\"\\\\]{0,12}"), 1..6)
        ) {
            let message = pairs
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let mut fast = Vec::new();
            if quoted_pairs(&message, |k, v| fast.push((k, Cow::Borrowed(v)))) {
                proptest::prop_assert_eq!(Ok(fast), general_pairs(&message));
            }
        }
    }

    fn parse_with(zone: Option<chrono_tz::Tz>, line: &str) -> serde_json::Value {
        crate::parse::ecs_of(&KeycloakParser::new(zone), line, Origin::default())
    }

    fn parse(line: &str) -> serde_json::Value {
        parse_with(Some(chrono_tz::Europe::Berlin), line)
    }

    #[test]
    fn quoted_login_maps_actor_realm_and_zone() {
        let v = parse(
            r#"2025-06-03 09:14:22,481 DEBUG [org.keycloak.events] (executor-thread-12) type="LOGIN", realmId="7b0c", realmName="corp", clientId="hr-portal", userId="a1b2", sessionId="f0e1", ipAddress="198.51.100.14", auth_method="openid-connect", redirect_uri="https://hr.corp.test/callback?a=b, c", username="k.tanaka""#,
        );
        assert_eq!(v["@timestamp"], "2025-06-03T07:14:22.481Z");
        assert_eq!(v["event"]["action"], "LOGIN");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(
            v["event"]["category"],
            serde_json::json!(["authentication"])
        );
        assert_eq!(v["user"]["name"], "k.tanaka");
        assert_eq!(v["user"]["id"], "a1b2");
        assert_eq!(v["user"]["domain"], "corp");
        assert_eq!(v["organization"]["id"], "7b0c");
        assert_eq!(v["source"]["ip"], "198.51.100.14");
        assert_eq!(v["url"]["original"], "https://hr.corp.test/callback?a=b, c");
    }

    #[test]
    fn escaped_quotes_and_null_user() {
        let v = parse(
            r#"2025-06-03 09:15:02,007 WARN  [org.keycloak.events] (executor-thread-3) type="LOGIN_ERROR", realmId="7b0c", clientId="hr-portal", userId="null", ipAddress="203.0.113.90", error="user_not_found", username="adm\"in""#,
        );
        assert_eq!(v["user"]["name"], "adm\"in");
        assert!(v["user"]["id"].is_null());
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["error"]["code"], "user_not_found");
    }

    #[test]
    fn unquoted_old_format_with_single_quoted_details() {
        let v = parse("2023-02-11 17:02:59,114 WARN  [org.keycloak.events] (executor-thread-1) type=REFRESH_TOKEN_ERROR, realmId=legacy, clientId=mobile, userId=null, ipAddress=10.4.4.4, error=invalid_token, grant_type=refresh_token, reason='Token is not active'");
        assert_eq!(v["event"]["reason"], "Token is not active");
        assert_eq!(v["keycloak"]["grant_type"], "refresh_token");
        assert_eq!(
            v["event"]["category"],
            serde_json::json!(["authentication"])
        );
        assert_eq!(v["event"]["type"], serde_json::json!(["info"]));
    }

    #[test]
    fn admin_events_name_target_and_tidecloak() {
        let v = parse(
            r#"2025-06-03 09:31:10,020 DEBUG [org.keycloak.events] (executor-thread-2) operationType="ACTION", realmId="7b0c", realmName="corp", clientId="security-admin-console", userId="0f0e", ipAddress="192.0.2.33", resourceType="TIDE_VENDOR_KEY", resourcePath="vendorResources/sign""#,
        );
        assert_eq!(v["event"]["action"], "ACTION-TIDE_VENDOR_KEY");
        assert_eq!(v["event"]["provider"], "tidecloak");
        assert_eq!(v["event"]["category"], serde_json::json!(["configuration"]));
        let v = parse(
            r#"2025-06-03 09:20:45,300 DEBUG [org.keycloak.events] (executor-thread-8) operationType="CREATE", realmId="m1", realmName="master", clientId="security-admin-console", userId="0f0e", ipAddress="192.0.2.33", resourceType="REALM_ROLE_MAPPING", resourcePath="users/a1b2/role-mappings/realm""#,
        );
        assert_eq!(v["user"]["target"]["id"], "a1b2");
        assert_eq!(v["user"]["id"], "0f0e");
        assert_eq!(v["event"]["type"], serde_json::json!(["user", "creation"]));
    }

    #[test]
    fn rest_and_json_log_layouts() {
        let v = parse(
            r#"{"id":"5c6d","time":1748942062007,"type":"LOGIN_ERROR","realmId":"7b0c","clientId":"hr-portal","userId":null,"sessionId":null,"ipAddress":"203.0.113.90","error":"user_not_found","details":{"auth_method":"openid-connect","username":"admin"}}"#,
        );
        assert_eq!(v["@timestamp"], "2025-06-03T09:14:22.007Z");
        assert_eq!(v["event"]["id"], "5c6d");
        assert_eq!(v["user"]["name"], "admin");
        let v = parse(
            r#"{"timestamp":"2025-06-03T11:14:22.481907113+02:00","sequence":40211,"loggerClassName":"org.jboss.logging.Logger","loggerName":"org.keycloak.events","level":"INFO","message":"type=\"LOGOUT\", realmId=\"7b0c\", realmName=\"corp\", clientId=\"hr-portal\", userId=\"a1b2\", ipAddress=\"198.51.100.14\"","threadName":"executor-thread-12","threadId":88,"mdc":{"kc.realmName":"corp"},"ndc":"","hostName":"kc-1","processName":"java","processId":1}"#,
        );
        assert_eq!(v["@timestamp"], "2025-06-03T09:14:22.481Z");
        assert_eq!(v["event"]["action"], "LOGOUT");
        assert_eq!(v["event"]["type"], serde_json::json!(["end"]));
        assert_eq!(v["host"]["name"], "kc-1");
    }

    #[test]
    fn repeated_hour_is_resolved_from_line_order() {
        let p = KeycloakParser::new(Some(chrono_tz::Europe::Berlin));
        let mut seq = KeycloakSequencer::default();
        let lines = [
            "2025-10-26 02:10:00,000 INFO  [org.keycloak.events] (t) type=\"LOGIN\", realmId=\"r\", clientId=\"c\", userId=\"u\", ipAddress=\"10.0.0.1\"",
            "2025-10-26 02:50:00,000 INFO  [org.keycloak.events] (t) type=\"LOGIN\", realmId=\"r\", clientId=\"c\", userId=\"u\", ipAddress=\"10.0.0.1\"",
            "2025-10-26 02:05:00,000 INFO  [org.keycloak.events] (t) type=\"LOGIN\", realmId=\"r\", clientId=\"c\", userId=\"u\", ipAddress=\"10.0.0.1\"",
            "2025-10-26 02:30:00,000 INFO  [org.keycloak.events] (t) type=\"LOGIN\", realmId=\"r\", clientId=\"c\", userId=\"u\", ipAddress=\"10.0.0.1\"",
            "2025-10-26 03:01:00,000 INFO  [org.keycloak.events] (t) type=\"LOGIN\", realmId=\"r\", clientId=\"c\", userId=\"u\", ipAddress=\"10.0.0.1\"",
        ];
        let stamps: Vec<String> = lines
            .iter()
            .map(|l| {
                let mut e = p.parse((*l).to_owned(), Origin::default(), 0);
                seq.resolve(&mut e);
                crate::time::rfc3339(e.timestamp.unwrap())
            })
            .collect();
        assert_eq!(
            stamps,
            [
                "2025-10-26T00:10:00.000Z",
                "2025-10-26T00:50:00.000Z",
                "2025-10-26T01:05:00.000Z",
                "2025-10-26T01:30:00.000Z",
                "2025-10-26T02:01:00.000Z"
            ]
        );
    }

    #[test]
    fn secrets_are_masked_in_the_original() {
        let v = parse(
            r#"2025-06-03 09:20:45,300 DEBUG [org.keycloak.events] (t) operationType="CREATE", realmId="r", clientId="c", userId="u", ipAddress="192.0.2.33", resourceType="USER", resourcePath="users/a1", representation="{\"username\":\"bob\",\"credentials\":[{\"type\":\"password\",\"value\":\"hunter2\"}]}""#,
        );
        let orig = v["event"]["original"].as_str().unwrap();
        assert!(!orig.contains("hunter2"), "{orig}");
        assert!(!v["keycloak"]["admin"]["representation"]
            .as_str()
            .unwrap()
            .contains("hunter2"));
        let v = parse(
            r#"2025-06-03 09:20:45,300 TRACE [org.keycloak.events] (t) type="LOGIN", realmId="r", clientId="c", userId="u", ipAddress="192.0.2.33", requestUri="https://kc/realms/r/login-actions/authenticate?session_code=abc123&execution=x", cookies=[KC_RESTART=eyJhbGciOi, AUTH_SESSION_ID=xyz]"#,
        );
        let orig = v["event"]["original"].as_str().unwrap();
        assert!(
            !orig.contains("abc123") && !orig.contains("eyJhbGciOi") && !orig.contains("xyz"),
            "{orig}"
        );
        assert_eq!(v["keycloak"]["cookies"], "KC_RESTART, AUTH_SESSION_ID");
        // JSON written with a space after the colon (REST exports, pretty printers).
        let v = parse(
            r#"{"time":1748942062007,"realmId":"r","operationType":"CREATE","resourceType":"CLIENT","resourcePath":"clients/c1","representation":"{\"clientId\": \"app\", \"secret\": \"s3cr3t-value\"}","authDetails":{"realmId":"r","userId":"u","ipAddress":"192.0.2.1"},"details": {"password": "pa55word"}}"#,
        );
        let text = v.to_string();
        assert!(
            !text.contains("s3cr3t-value") && !text.contains("pa55word"),
            "{text}"
        );
    }

    #[test]
    fn stack_traces_join_and_other_loggers_are_log_records() {
        let p = KeycloakParser::default();
        assert!(!p.starts_record("\tat org.keycloak.Foo.bar(Foo.java:1)"));
        assert!(p.starts_record("2025-06-03 09:14:22,481 DEBUG [x] (y) z"));
        let v = parse("2025-06-03 09:14:22,481 ERROR [org.keycloak.services] (executor-thread-1) Uncaught server error\njava.lang.NullPointerException\n\tat org.keycloak.Foo.bar(Foo.java:1)");
        assert_eq!(v["event"]["dataset"], "keycloak.log");
        assert!(v["error"]["stack_trace"]
            .as_str()
            .unwrap()
            .contains("NullPointerException"));
    }
}
