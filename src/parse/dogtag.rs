//! `dogtag`: Dogtag PKI signed audit lines (CA, KRA, OCSP, TKS, TPS), FORMATS.md §5.
//!
//! `pid.thread - [dd/MMM/yyyy:HH:mm:ss zone] [14] [6] [AuditEvent=NAME][Name=value]... text`,
//! with or without the prefix. Values are written unescaped, so a value ends at the first `]`
//! that is followed by another `[Name=` attribute, by the free text (when no attribute follows),
//! or by the end of the record. A value with a newline continues on the next physical line,
//! which does not start with the prefix; such lines are joined to their record.

use super::draft::Draft;
use super::{failure, Parser};
use crate::event::{Event, Origin};
use crate::normalize::dogtag::{
    attribute_field, is_sensitive_param, MASK, MONTHS, RENAMED, TABLE, ZONES,
};
use crate::normalize::{self, Outcome};

/// Text that precedes the signature of an `AUDIT_LOG_SIGNING` record.
const SIGNING_TEXT: &str = "signature of audit buffer just flushed: sig: ";

/// The Dogtag parser, with its zone-abbreviation table.
#[derive(Debug, Clone)]
pub struct DogtagParser {
    /// Minutes east of UTC by abbreviation. A map: a line's zone was compared with the
    /// table's names one after another, and `PST` came 34th (18 `memcmp` calls a line).
    zones: std::collections::HashMap<String, i32, foldhash::fast::FixedState>,
}

impl Default for DogtagParser {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl DogtagParser {
    /// A parser whose zone table is the default one with `overrides` (abbreviation, minutes
    /// east of UTC) taking precedence.
    #[must_use]
    pub fn new(overrides: &[(String, i32)]) -> Self {
        let mut zones = std::collections::HashMap::default();
        // The first spelling of an abbreviation wins: the overrides, then the defaults.
        for (zone, offset) in overrides
            .iter()
            .map(|(z, o)| (z.as_str(), *o))
            .chain(ZONES.iter().copied())
        {
            zones.entry(zone.to_owned()).or_insert(offset);
        }
        Self { zones }
    }

    fn zone_offset(&self, zone: &str) -> Option<i32> {
        if let Some(off) = self.zones.get(zone) {
            return Some(*off);
        }
        // Java prints GMT±hh:mm when a zone has no short name; accept ±hhmm too.
        let rest = zone
            .strip_prefix("GMT")
            .or_else(|| zone.strip_prefix("UTC"))
            .unwrap_or(zone);
        super::parse_offset(rest)
    }

    /// Parses `dd/MMM/yyyy:HH:mm:ss zone` to epoch ms.
    fn stamp(&self, stamp: &str) -> Option<i64> {
        self.stamp_fixed(stamp)
            .or_else(|| self.stamp_general(stamp))
    }

    /// The common shape, `12/Jan/2025:08:20:30 CET`, read at fixed positions.
    fn stamp_fixed(&self, stamp: &str) -> Option<i64> {
        let b = stamp.as_bytes();
        let punctuation = [
            (2, b'/'),
            (6, b'/'),
            (11, b':'),
            (14, b':'),
            (17, b':'),
            (20, b' '),
        ];
        if b.len() < 22 || !crate::time::marks(b, punctuation) {
            return None;
        }
        let num = |r| crate::time::digits(b, r);
        let month_name = &stamp[3..6];
        let month = MONTHS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(month_name))?
            .1;
        let offset = self.zone_offset(stamp[21..].trim())?;
        let local = crate::time::utc_ms(
            i64::from(num(7..11)?),
            month,
            num(0..2)?,
            num(12..14)?,
            num(15..17)?,
            num(18..20)?,
            0,
        )?;
        Some(local - i64::from(offset) * 60_000)
    }

    /// Any other spelling: localised month names with or without a dot, one-digit days.
    fn stamp_general(&self, stamp: &str) -> Option<i64> {
        let (date, zone) = stamp.split_once(' ')?;
        let mut parts = date.splitn(3, '/');
        let day: u32 = parts.next()?.parse().ok()?;
        let month_name = parts.next()?.trim_end_matches('.');
        let rest = parts.next()?;
        let month = MONTHS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(month_name))
            .or_else(|| {
                // Localised names beyond ASCII (`DÉC`).
                let lower = month_name.to_lowercase();
                MONTHS.iter().find(|(n, _)| *n == lower)
            })?
            .1;
        let mut hms = rest.splitn(4, ':');
        let year: i64 = hms.next()?.parse().ok()?;
        let h: u32 = hms.next()?.parse().ok()?;
        let mi: u32 = hms.next()?.parse().ok()?;
        let s: u32 = hms.next()?.parse().ok()?;
        let offset = self.zone_offset(zone.trim())?;
        let local = crate::time::utc_ms(year, month, day, h, mi, s, 0)?;
        Some(local - i64::from(offset) * 60_000)
    }
}

impl Parser for DogtagParser {
    fn joins_lines(&self) -> bool {
        true
    }

    fn starts_record(&self, line: &str) -> bool {
        self.record_start(line).is_some()
    }

    /// The prefix's positions ([`Prefix::pack`]), which [`Self::parse_started`] reads the
    /// prefix from instead of scanning it again.
    fn record_start(&self, line: &str) -> Option<u64> {
        match prefix(line) {
            Some(p) => Some(p.pack(line)),
            None => line.starts_with("[AuditEvent=").then_some(0),
        }
    }

    fn looks_whole(&self, record: &str) -> bool {
        looks_whole(record)
    }

    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        self.parse_started(record, 0, origin, created)
    }

    fn parse_started(&self, record: String, start: u64, origin: Origin, created: i64) -> Event {
        if let Some(redacted) = redact(&record) {
            // The prefix is read again: masking a value changes lengths, and a value found by
            // its `[ParamNameValPairs=` may lie in a (malformed) prefix.
            let mut event = match self.draft(&redacted, origin.path.as_deref(), 0) {
                Ok(draft) => draft.finish(redacted, origin, created),
                Err(reason) => failure(redacted, origin, created, &reason),
            };
            event.add_tag("audit_redacted");
            return event;
        }
        match self.draft(&record, origin.path.as_deref(), start) {
            Ok(draft) => draft.finish(record, origin, created),
            Err(reason) => failure(record, origin, created, &reason),
        }
    }
}

/// The parts of the `pid.thread - [stamp] [source] [level] ` prefix.
#[derive(Debug, PartialEq, Eq)]
struct Prefix<'a> {
    pid: &'a str,
    thread: &'a str,
    stamp: &'a str,
    message: &'a str,
}

impl<'a> Prefix<'a> {
    /// Where the parts of this prefix of `line` end (the pid, thread and stamp) and where the
    /// message starts, in 16 bits each; 0 when one is past 65,535 (then read again).
    fn pack(&self, line: &str) -> u64 {
        let end = |part: &str| part.as_ptr() as usize - line.as_ptr() as usize + part.len();
        let ends = [
            end(self.pid),
            end(self.thread),
            end(self.stamp),
            line.len() - self.message.len(),
        ];
        if ends.iter().any(|&e| e > usize::from(u16::MAX)) {
            return 0;
        }
        ends.iter()
            .enumerate()
            .fold(0, |packed, (i, &e)| packed | (e as u64) << (16 * i))
    }

    /// The prefix of `record` from what [`Self::pack`] made of its first line: the same parts
    /// [`prefix`] reads, since the prefix lies in the first line. `None` for 0 or positions
    /// that do not fit `record`.
    fn unpack(record: &'a str, packed: u64) -> Option<Self> {
        if packed == 0 {
            return None;
        }
        let at = |i: u32| (packed >> (16 * i)) as usize & 0xffff;
        let (pid_end, thread_end, stamp_end, message_at) = (at(0), at(1), at(2), at(3));
        Some(Prefix {
            pid: record.get(..pid_end)?,
            thread: record.get(pid_end + 1..thread_end)?,
            stamp: record.get(thread_end + " - [".len()..stamp_end)?,
            message: record.get(message_at..)?,
        })
    }
}

/// A record ending in `] ` and its text (no bracket in it) looks whole
/// ([`super::Parser::looks_whole`]):
/// a value holding a newline breaks its line inside the brackets, so the line's last `]` is
/// followed by the next attribute's `[`. Only a value holding `] ` and then a newline looks
/// whole too early; such a record is still joined when its continuation comes in the same
/// read, and split otherwise (the pieces ship, the second tagged as a parse failure), as a
/// continuation later than `multiline_timeout` always was. A record without text keeps
/// waiting.
fn looks_whole(record: &str) -> bool {
    let tail = memchr::memrchr(b']', record.as_bytes()).map_or("", |i| &record[i + 1..]);
    tail.len() > 1 && tail.starts_with(' ') && !tail.contains('[')
}

/// The prefix of `line`, `None` when it has none. Read byte by byte: the file reader reads
/// it for every line ([`Parser::record_start`]; the parse worker takes its positions from
/// there); with nom's combinators it took about 460 instructions a line, now about 330
/// (callgrind, TPS lines).
fn prefix(line: &str) -> Option<Prefix<'_>> {
    let bytes = line.as_bytes();
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let pid = digits(0);
    if pid == 0 || bytes.get(pid) != Some(&b'.') {
        return None;
    }
    let thread_at = pid + 1;
    let thread_end = thread_at + super::find(&line[thread_at..], " - [")?;
    let stamp_at = thread_end + " - [".len();
    let stamp_end = stamp_at + memchr::memchr(b']', &bytes[stamp_at..])?;
    // `] [source] [level] `, each a run of digits.
    let mut at = stamp_end;
    for _ in 0..2 {
        if !bytes[at..].starts_with(b"] [") {
            return None;
        }
        at += "] [".len();
        let n = digits(at);
        if n == 0 {
            return None;
        }
        at += n;
    }
    if !bytes[at..].starts_with(b"] ") {
        return None;
    }
    Some(Prefix {
        pid: &line[..pid],
        thread: &line[thread_at..thread_end],
        stamp: &line[stamp_at..stamp_end],
        message: &line[at + "] ".len()..],
    })
}

/// Whether `s` starts with `[Name=`.
fn attribute_starts(s: &str) -> bool {
    attribute_name_len(s).is_some()
}

/// The bytes of an attribute name: ASCII letters, digits and `_`.
static NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    table
};

/// The length of `Name` when `s` starts with `[Name=`.
fn attribute_name_len(s: &str) -> Option<usize> {
    let rest = s.as_bytes().strip_prefix(b"[")?;
    let name_len = rest
        .iter()
        .position(|&b| !NAME_BYTE[usize::from(b)])
        .unwrap_or(rest.len());
    (name_len > 0 && rest.get(name_len) == Some(&b'=')).then_some(name_len)
}

/// `(name, value)` pairs in line order: on the stack for the usual 7 to 11 (no allocation).
type Attributes<'a> = smallvec::SmallVec<[(&'a str, &'a str); 12]>;

/// Splits `[Name=value]...` attributes off `message` into `attrs` (filled by the caller's
/// frame, not moved out); returns the free text.
///
/// Linear in the length of `message`: each `]` is looked at once, and whether an attribute
/// follows a `] ` is answered from the position of the last attribute start, found in one
/// pass (asking it of the rest of the line at every `] ` made a value full of `] ` quadratic).
fn attributes<'a>(message: &'a str, attrs: &mut Attributes<'a>) -> Result<&'a str, String> {
    let mut rest = message;
    let last_attribute =
        memchr::memrchr_iter(b'[', message.as_bytes()).find(|&i| attribute_starts(&message[i..]));
    // The name length of the attribute at the start of `rest`, when found while ending the
    // previous value (each name is read once).
    let mut next_name = attribute_name_len(rest);
    while let Some(eq) = next_name.take() {
        let body = &rest[1..];
        let name = &body[..eq];
        let value_start = eq + 1;
        // The value ends at the first `]` followed by another attribute or the end; before
        // the free text, at the last `]` followed by a space (the text has no `]`).
        let mut end = None;
        let mut before_text = None;
        for j in memchr::memchr_iter(b']', &body.as_bytes()[value_start..]) {
            let at = value_start + j;
            let next = &body[at + 1..];
            let following = attribute_name_len(next);
            if next.is_empty() || following.is_some() {
                next_name = following;
                end = Some(at);
                break;
            }
            let at_in_message = message.len() - body.len() + at;
            if next.starts_with(' ') && last_attribute.is_none_or(|l| l <= at_in_message) {
                before_text = Some(at);
            }
        }
        let end = end.or(before_text);
        let Some(end) = end else {
            return Err(format!("attribute `{name}` has no closing `]`"));
        };
        attrs.push((name, &body[value_start..end]));
        rest = &body[end + 1..];
    }
    if attrs.is_empty() {
        return Err("no [AuditEvent=...] attribute".to_owned());
    }
    Ok(rest.strip_prefix(' ').unwrap_or(rest))
}

/// The current name of an event and the outcome its old name implied.
fn normalise_name(raw: &str) -> (&str, Option<Outcome>) {
    if let Some((_, new)) = RENAMED.iter().find(|(old, _)| *old == raw) {
        return (new, None);
    }
    for (suffix, outcome) in [
        ("_SUCCESS", Outcome::Success),
        ("_FAILURE", Outcome::Failure),
        ("_FAIL", Outcome::Failure),
    ] {
        if let Some(base) = raw.strip_suffix(suffix) {
            if !base.is_empty() {
                return (base, Some(outcome));
            }
        }
    }
    (raw, None)
}

/// The subsystem that wrote the file, from its name (`tps_audit` → `dogtag-tps`).
fn provider(path: Option<&str>) -> &'static str {
    // The file name: after the last `/` (one backward scan; `rsplit` cost 250 instructions
    // an event).
    let name = path.map_or("", |p| {
        memchr::memrchr(b'/', p.as_bytes()).map_or(p, |slash| &p[slash + 1..])
    });
    for (sub, provider) in [
        ("ca_audit", "dogtag-ca"),
        ("kra_audit", "dogtag-kra"),
        ("ocsp_audit", "dogtag-ocsp"),
        ("tks_audit", "dogtag-tks"),
        ("tps_audit", "dogtag-tps"),
    ] {
        if name.starts_with(sub) {
            return provider;
        }
    }
    "dogtag"
}

impl DogtagParser {
    /// The record `line`'s fields; `start` is what [`Parser::record_start`] returned for its
    /// first line (0: the prefix is read here).
    fn draft(&self, line: &str, path: Option<&str>, start: u64) -> Result<Draft, String> {
        let mut d = Draft::new();
        let message = if line.starts_with('[') {
            d.tag("audit_no_timestamp");
            line
        } else {
            let p = Prefix::unpack(line, start).or_else(|| prefix(line)).ok_or_else(|| {
                "not a Dogtag signed audit line (expected `pid.thread - [time] [14] [6] [AuditEvent=...]`)"
                    .to_owned()
            })?;
            if let Some(ms) = self.stamp(p.stamp) {
                d.timestamp = Some(ms);
            } else {
                d.tag("audit_timestamp_unparsed");
                d.owned(
                    "error.message",
                    format!("unknown time or zone `{}`", p.stamp),
                );
            }
            if let Ok(pid) = p.pid.parse::<i64>() {
                d.int("process.pid", pid);
            }
            d.str("process.thread.name", line, p.thread);
            p.message
        };
        let mut attrs = Attributes::new();
        let text = attributes(message, &mut attrs)?;
        let Some(&("AuditEvent", raw_name)) = attrs.first() else {
            return Err("the first attribute is not AuditEvent".to_owned());
        };
        let (name, implied) = normalise_name(raw_name);
        d.constant("event.kind", "event");
        d.constant("event.module", "dogtag");
        d.constant("event.dataset", "dogtag.signed_audit");
        d.constant("event.provider", provider(path));
        d.str("event.action", line, name);
        if name != raw_name {
            d.str("event.code", line, raw_name);
        }
        if let Some(mapping) = normalize::lookup(&TABLE, name) {
            normalize::categorise(&mut d, mapping);
        } else {
            d.tag("audit_unknown_action");
        }
        let session = super::find(name, "ACCESS_SESSION").is_some();
        let (outcome, subject, attempted) = fields(&mut d, line, &attrs[1..], session);
        normalize::outcome(&mut d, outcome.or(implied).unwrap_or(Outcome::Unknown));
        actor(&mut d, line, subject, attempted, session);
        if name == "AUDIT_LOG_SIGNING" {
            if let Some(sig) = text.strip_prefix(SIGNING_TEXT) {
                d.str("dogtag.signature", line, sig.trim());
            } else {
                d.tag("audit_signature_malformed");
            }
        }
        if !text.is_empty() {
            d.str("message", line, text);
        }
        Ok(d)
    }
}

/// Maps the attributes; returns the stated outcome, `SubjectID` and `AttemptedCred`.
fn fields<'a>(
    d: &mut Draft,
    line: &str,
    attrs: &[(&'a str, &'a str)],
    session: bool,
) -> (Option<Outcome>, Option<&'a str>, Option<&'a str>) {
    let mut outcome = None;
    let mut subject: Option<&str> = None;
    let mut attempted: Option<&str> = None;
    for &(key, value) in attrs {
        match key {
            "Outcome" => {
                if value.eq_ignore_ascii_case("success") {
                    outcome = Some(Outcome::Success);
                } else if value.eq_ignore_ascii_case("failure") {
                    outcome = Some(Outcome::Failure);
                }
            }
            "SubjectID" => subject = Some(value),
            "AttemptedCred" => attempted = Some(value),
            // Dogtag writes `--`, `<null>` or nothing for a value it does not have: absent.
            _ if matches!(value, "" | "--" | "<null>") => {}
            "ClientIP" | "IP" => {
                normalize::ip_or_address(d, line, value, "source.ip", "source.address");
            }
            "ServerIP" => {
                normalize::ip_or_address(d, line, value, "destination.ip", "destination.address");
            }
            "CertSerialNum" if session => {
                d.str("tls.client.x509.serial_number", line, serial(value));
            }
            "CertSerialNum" | "SerialNum" => {
                d.str("dogtag.cert.serial_number", line, serial(value));
            }
            "IssuerDN" if session => {
                d.str("tls.client.x509.issuer.distinguished_name", line, value);
            }
            "ParamNameValPairs" => params(d, line, value),
            _ => match attribute_field(key) {
                Some(field) => d.str(field, line, value),
                None => d.dynamic("dogtag", line, key, value),
            },
        }
    }
    (outcome, subject, attempted)
}

/// The actor: `SubjectID` unless it is a placeholder, else the attempted credential. The
/// server's own subject (`$System$`, `SYSTEM`) is the actor the record names: it stays in
/// `user.name`, marked with the role `system` so a query can tell it from a person.
fn actor(d: &mut Draft, line: &str, subject: Option<&str>, attempted: Option<&str>, session: bool) {
    let placeholder = |s: &str| matches!(s, "$Unidentified$" | "$NonRoleUser$" | "<null>" | "");
    match (subject, attempted) {
        (Some(s @ ("$System$" | "SYSTEM")), _) => {
            d.str("user.name", line, s);
            d.push_constant("user.roles", "system");
        }
        (Some(s), _) if !placeholder(s) => {
            normalize::user(d, "user.name", line, s);
            if session && s.contains('=') {
                d.str("tls.client.x509.subject.distinguished_name", line, s);
            }
        }
        (_, Some(a)) => normalize::user(d, "user.name", line, a),
        _ => {}
    }
    if let Some(s) = subject {
        d.str("dogtag.subject_id", line, s);
    }
}

/// A certificate serial in hex without `0x` (decimal serials are kept as written).
fn serial(value: &str) -> &str {
    value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
        .unwrap_or(value)
}

/// `name;;value+name;;value`, split on `+` only where the next piece holds `;;`.
fn split_params(raw: &str) -> Vec<(&str, &str)> {
    let mut pieces: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, _) in raw.match_indices('+') {
        if i < start {
            continue;
        }
        let next = &raw[i + 1..];
        let next_piece_end = next.find('+').unwrap_or(next.len());
        if next[..next_piece_end].contains(";;") {
            pieces.push(&raw[start..i]);
            start = i + 1;
        }
    }
    pieces.push(&raw[start..]);
    pieces
        .into_iter()
        .filter_map(|p| p.split_once(";;"))
        .collect()
}

fn params(d: &mut Draft, line: &str, raw: &str) {
    d.str("dogtag.params_raw", line, raw);
    for (name, value) in split_params(raw) {
        let clean = name.trim();
        if clean.is_empty()
            || !clean
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            continue;
        }
        d.dynamic("dogtag.params", line, clean, value);
    }
}

/// The record with sensitive parameter values masked, or `None` when nothing needs masking.
/// A value is masked whole, up to the end of its `ParamNameValPairs` attribute as the
/// attribute splitting finds it (a PIN may contain `]`).
fn redact(line: &str) -> Option<String> {
    let start =
        super::finder!("[ParamNameValPairs=").find(line.as_bytes())? + "[ParamNameValPairs=".len();
    // The attribute's value as the record's own splitting reads it; failing that (a
    // malformed record), the rest of the line, so that no part of a secret is left.
    let message_at = line.len()
        - prefix(line)
            .map_or(if line.starts_with('[') { line } else { "" }, |p| p.message)
            .len();
    let mut attrs = Attributes::new();
    let body = attributes(&line[message_at..], &mut attrs)
        .ok()
        .and_then(|_| {
            attrs
                .into_iter()
                .find(|(name, value)| {
                    *name == "ParamNameValPairs"
                        && value.as_ptr() as usize - line.as_ptr() as usize == start
                })
                .map(|(_, value)| value)
        })
        .unwrap_or(&line[start..]);
    let mut out: Option<String> = None;
    for (name, value) in split_params(body) {
        if !is_sensitive_param(name) || value == MASK || value == "<null>" || value.is_empty() {
            continue;
        }
        let at = value.as_ptr() as usize - line.as_ptr() as usize;
        let text = out.get_or_insert_with(|| line.to_owned());
        let shift = text.len() as isize - line.len() as isize;
        let from = (at as isize + shift) as usize;
        text.replace_range(from..from + value.len(), MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_looks_whole_only_when_it_ends_in_its_text() {
        let head = "0.http-bio-8443-exec-3 - [12/Jan/2025:08:20:00 CET] [14] [6] [AuditEvent=AUTH][SubjectID=alice]";
        for (tail, want) in [
            ("[Outcome=Success] authentication success", true),
            (
                "[Outcome=Failure] signature of audit buffer just flushed: sig: AbC+/=",
                true,
            ),
            // A value broken by a newline: the line ends inside the brackets.
            ("[Info=first part", false),
            ("[Info=a] b [c", false),
            // No text after the last attribute: nothing tells it is whole.
            ("[Outcome=Success]", false),
            ("[Outcome=Success] ", false),
            // The joined record, continuation included, ends in its text.
            ("[Info=first\nsecond][Outcome=Success] auth", true),
        ] {
            assert_eq!(looks_whole(&format!("{head}{tail}")), want, "{tail}");
        }
        assert!(!looks_whole("no brackets at all"));
    }

    /// The prefix as nom's combinators read it (the reader before the byte-by-byte one).
    fn prefix_by_nom(line: &str) -> Option<(&str, &str, &str, &str)> {
        use nom::bytes::complete::{tag, take_while1};
        fn digits(i: &str) -> nom::IResult<&str, &str> {
            take_while1(|c: char| c.is_ascii_digit())(i)
        }
        let until = crate::parse::until;
        let inner = |i| -> nom::IResult<&str, (&str, &str, &str, &str)> {
            let (i, pid) = digits(i)?;
            let (i, _) = tag(".")(i)?;
            let (i, thread) = until(" - [")(i)?;
            let (i, _) = tag(" - [")(i)?;
            let (i, stamp) = until("]")(i)?;
            let (i, _) = tag("] [")(i)?;
            let (i, _) = digits(i)?;
            let (i, _) = tag("] [")(i)?;
            let (i, _) = digits(i)?;
            let (i, _) = tag("] ")(i)?;
            Ok(("", (pid, thread, stamp, i)))
        };
        inner(line).ok().map(|(_, p)| p)
    }

    proptest::proptest! {
        #[test]
        fn the_prefix_is_read_as_the_combinators_read_it(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("0.".to_owned()),
                    proptest::strategy::Just(" - [".to_owned()),
                    proptest::strategy::Just("] [".to_owned()),
                    proptest::strategy::Just("] ".to_owned()),
                    "[0-9]{1,3}",
                    "[a-zA-Z \\-\\[\\].:é]{0,4}",
                ],
                0..12,
            ),
        ) {
            let line: String = pieces.concat();
            let ours = prefix(&line).map(|p| (p.pid, p.thread, p.stamp, p.message));
            proptest::prop_assert_eq!(ours, prefix_by_nom(&line), "{:?}", line);
        }
    }

    proptest::proptest! {
        #[test]
        fn a_prefix_handed_on_from_the_first_line_is_the_prefix_read_from_the_record(
            pid in "[0-9]{0,3}",
            thread in "[a-zA-Z \\-\\[\\].:é]{0,8}",
            stamp in "[a-zA-Z0-9/: \\[\\]é-]{0,10}",
            levels in "[0-9]{0,2}\\] \\[[0-9]{0,2}",
            message in "[a-zA-Z \\[\\]=]{0,10}",
            continuation in proptest::option::of("[a-z \\]\\[-]{0,12}"),
        ) {
            let first = format!("{pid}.{thread} - [{stamp}] [{levels}] {message}");
            let parser = DogtagParser::default();
            let start = parser.record_start(&first);
            proptest::prop_assert_eq!(start.is_some(), parser.starts_record(&first));
            let record = match &continuation {
                Some(more) => format!("{first}\n{more}"),
                None => first.clone(),
            };
            let handed = Prefix::unpack(&record, start.unwrap_or(0));
            match prefix(&record) {
                Some(read) if start.is_some_and(|s| s != 0) => {
                    proptest::prop_assert_eq!(handed, Some(read), "{:?}", record);
                }
                _ => proptest::prop_assert!(handed.is_none(), "{:?}", record),
            }
        }
    }

    #[test]
    fn records_parsed_with_their_handed_on_prefix_are_the_records_parsed_alone() {
        let parser = DogtagParser::default();
        let origin = Origin {
            path: Some("/var/log/pki/tps/signedAudit/tps_audit".into()),
            ..Origin::default()
        };
        for (first, rest) in [
            ("0.http-bio-8443-exec-16 - [15/Feb/2016:16:03:39 PST] [14] [6] [AuditEvent=TOKEN_AUTH_SUCCESS][IP=10.44.216.9][SubjectID=user244a][CUID=815E3B8FAA1837F8A88B][Outcome=success] token authentication success", ""),
            ("0.main - [12/Jan/2025:08:16:11 UTC] [14] [6] [AuditEvent=CONFIG_ROLE][SubjectID=caadmin][Info=first", "\nsecond][Outcome=Success] role change"),
            ("0.main - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=TOKEN_PIN_RESET][SubjectID=asmith][Outcome=Success][ParamNameValPairs=Scope;;tps+pin;;123456+uid;;asmith] pin reset", ""),
            ("[AuditEvent=AUTH][SubjectID=a][Outcome=Success] no prefix", ""),
        ] {
            let start = parser.record_start(first).expect("begins a record");
            assert_eq!(start == 0, first.starts_with('['), "a prefix is handed on: {first}");
            let record = format!("{first}{rest}");
            let started = parser.parse_started(record.clone(), start, origin.clone(), 0);
            let alone = parser.parse(record, origin.clone(), 0);
            assert_eq!(started.to_json(), alone.to_json(), "{first}");
            assert!(!started.to_json().contains("audit_parse_failure"), "{first}");
        }
    }

    #[test]
    fn prefixes_of_real_and_broken_lines_are_read_as_the_combinators_read_them() {
        let lines = [
            "0.http-bio-8443-exec-3 - [14/Jun/2025:10:00:00 +0000] [14] [6] [AuditEvent=X][A=b] t",
            "123.main - [stamp] [1] [2] ",
            "123.main - [stamp] [1] [2]",
            "123.main - [stamp] [1] [] x",
            ".main - [stamp] [1] [2] x",
            "12main - [stamp] [1] [2] x",
            "1. - [] [1] [2] x",
            "1.a - [b - [c] [1] [2] x",
            "1.a - [b]] [1] [2] x",
            "[AuditEvent=X][A=b]",
            "",
        ];
        for line in lines {
            let ours = prefix(line).map(|p| (p.pid, p.thread, p.stamp, p.message));
            assert_eq!(ours, prefix_by_nom(line), "{line:?}");
        }
        assert!(prefix(lines[0]).is_some() && prefix(lines[1]).is_some());
    }

    fn parse(line: &str) -> serde_json::Value {
        let origin = Origin {
            path: Some("/var/lib/pki/pki-tomcat/logs/tps/signedAudit/tps_audit".into()),
            ..Origin::default()
        };
        crate::parse::ecs_of(&DogtagParser::default(), line, origin)
    }

    #[test]
    fn auth_failure_takes_the_attempted_name_and_time_zone() {
        let v = parse("0.https-jsse-nio-8443-exec-4 - [12/Jan/2025:08:15:02 CET] [14] [6] [AuditEvent=AUTH][SubjectID=$Unidentified$][Outcome=Failure][AuthMgr=passwdUserDBAuthMgr][AttemptedCred=m.ortiz] authentication failure");
        assert_eq!(v["@timestamp"], "2025-01-12T07:15:02.000Z");
        assert_eq!(v["event"]["action"], "AUTH");
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(
            v["event"]["category"],
            serde_json::json!(["authentication"])
        );
        assert_eq!(v["user"]["name"], "m.ortiz");
        assert_eq!(v["dogtag"]["auth_manager"], "passwdUserDBAuthMgr");
        assert_eq!(v["event"]["provider"], "dogtag-tps");
        assert_eq!(v["message"], "authentication failure");
    }

    #[test]
    fn values_may_hold_brackets_and_separators() {
        let v = parse("0.main - [12/Jan/2025:08:16:11 GMT+05:45] [14] [6] [AuditEvent=CONFIG_ROLE][SubjectID=caadmin][Outcome=Success][ParamNameValPairs=Scope;;groups+Operation;;OP_MODIFY+Resource;;Certificate Manager Agents+desc;;a+b [x] y] role configuration parameter(s) change");
        assert_eq!(v["@timestamp"], "2025-01-12T02:31:11.000Z");
        assert_eq!(
            v["dogtag"]["params"]["Resource"],
            "Certificate Manager Agents"
        );
        assert_eq!(v["dogtag"]["params"]["desc"], "a+b [x] y");
        assert_eq!(v["message"], "role configuration parameter(s) change");
    }

    #[test]
    fn old_names_become_current_names_with_outcome() {
        let v = parse("0.main - [12/Jan/2025:08:16:11 UTC] [14] [6] [AuditEvent=TOKEN_FORMAT_SUCCESS][SubjectID=asmith][CUID=4090] token format");
        assert_eq!(v["event"]["action"], "TOKEN_FORMAT");
        assert_eq!(v["event"]["code"], "TOKEN_FORMAT_SUCCESS");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["dogtag"]["token"]["cuid"], "4090");
    }

    #[test]
    fn signing_records_are_recognised_by_their_structure() {
        let v = parse("0./var/lib/pki/pki-tomcat/logs/tps/signedAudit/tps_audit.flush-3 - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=AUDIT_LOG_SIGNING][SubjectID=$System$][Outcome=Success] signature of audit buffer just flushed: sig: Qm9ndXM=");
        assert_eq!(v["dogtag"]["signature"], "Qm9ndXM=");
        assert_eq!(v["event"]["category"], serde_json::json!(["process"]));
        let fake = parse("0.main - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=AUTH][SubjectID=x][Info=AUDIT_LOG_SIGNING sig: x] auth");
        assert!(fake["dogtag"]["signature"].is_null());
    }

    #[test]
    fn sensitive_parameters_are_masked_in_fields_and_original() {
        let v = parse("0.main - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=TOKEN_PIN_RESET][SubjectID=asmith][Outcome=Success][ParamNameValPairs=Scope;;tps+pin;;123456+uid;;asmith] pin reset");
        assert_eq!(v["dogtag"]["params"]["pin"], MASK);
        assert!(!v["event"]["original"].as_str().unwrap().contains("123456"));
        assert!(v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "audit_redacted"));
    }

    #[test]
    fn secret_names_are_matched_by_pattern_and_a_pin_with_brackets_is_masked_whole() {
        let v = parse("0.main - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=TOKEN_PIN_RESET][SubjectID=asmith][Outcome=Success][ParamNameValPairs=so_pin;;Zx]9+q+userPin;;4711+NewPassword;;hunter2+tokenType;;userKey+authToken;;abc.def] pin reset");
        let original = v["event"]["original"].as_str().unwrap();
        for secret in ["Zx]9+q", "Zx", "9+q", "4711", "hunter2", "abc.def"] {
            assert!(!original.contains(secret), "{secret} in {original}");
            assert!(!v.to_string().contains(secret), "{secret} in {v}");
        }
        assert_eq!(v["dogtag"]["params"]["so_pin"], MASK);
        assert_eq!(v["dogtag"]["params"]["userPin"], MASK);
        assert_eq!(v["dogtag"]["params"]["NewPassword"], MASK);
        assert_eq!(v["dogtag"]["params"]["authToken"], MASK);
        assert_eq!(
            v["dogtag"]["params"]["tokenType"], "userKey",
            "a name, not a secret"
        );
    }

    #[test]
    fn a_configured_zone_abbreviation_wins_over_the_default_one() {
        let stamp = "14/Nov/2023:22:13:20 IST";
        let india = DogtagParser::default().stamp(stamp).unwrap();
        assert_eq!(
            india,
            crate::time::parse_rfc3339("2023-11-14T16:43:20Z").unwrap()
        );
        let irish = DogtagParser::new(&[("IST".into(), 60), ("IST".into(), 120)]);
        assert_eq!(
            irish.stamp(stamp),
            crate::time::parse_rfc3339("2023-11-14T21:13:20Z"),
            "the first spelling given wins"
        );
        assert_eq!(
            irish.stamp("14/Nov/2023:22:13:20 PST"),
            DogtagParser::default().stamp("14/Nov/2023:22:13:20 PST")
        );
    }

    #[test]
    fn localised_months_and_unknown_zones() {
        let v = parse("0.main - [14/nov./2023:22:13:20 UTC] [14] [6] [AuditEvent=AUTH][SubjectID=a][Outcome=Success] x");
        assert_eq!(v["@timestamp"], "2023-11-14T22:13:20.000Z");
        let v = parse("0.main - [14/Nov/2023:22:13:20 XYZT] [14] [6] [AuditEvent=AUTH][SubjectID=a][Outcome=Success] x");
        assert!(v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "audit_timestamp_unparsed"));
        assert_eq!(v["event"]["action"], "AUTH");
    }

    #[test]
    fn garbage_is_a_tagged_failure() {
        let v = parse("hello world");
        assert_eq!(v["tags"], serde_json::json!(["audit_parse_failure"]));
        let v = parse(
            "0.main - [14/Nov/2023:22:13:20 UTC] [14] [6] [AuditEvent=AUTH][Info=never closed",
        );
        assert_eq!(v["tags"], serde_json::json!(["audit_parse_failure"]));
    }
}
