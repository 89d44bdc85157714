//! `auditd`: Linux audit records (RAW and ENRICHED), grouped into one ECS event per
//! `(node, time, serial)` (FORMATS.md §6).
//!
//! The parallel parse only reads each record's header (its group key and type). The per-file
//! [`AuditdSequencer`] then gathers the records of one event, however they interleave, and
//! builds the event when it is complete: on `EOE`, when a record of a much newer event of the
//! same node arrives, after [`FLUSH_AFTER_MS`] without records, or at shutdown. An event that
//! opens with a record of its own kind (a user-space record such as `USER_AUTH`, or `LOGIN`,
//! `ANOM_PROMISCUOUS`, `SERVICE_START`) may be followed by its kernel `SYSCALL`: it completes
//! when the node's next record belongs to another event, unless a kernel record joined it.
//! A serial far below the node's newest (a reboot, or two hosts' logs one after the other)
//! starts a new sequence: the node's open events are built, and grouping goes on. An `EOE`
//! whose event was already built carries nothing and is not shipped.

use nom::bytes::complete::{tag, take_while1};
use nom::IResult;
use smallvec::SmallVec;

use super::draft::Draft;
use super::until;
use super::{failure, Parser, Sequencer};
use crate::event::{Event, Origin};
use crate::normalize::auditd as table;
use crate::normalize::{self, Outcome};

/// A compound event is built after this long without a new record.
pub const FLUSH_AFTER_MS: i64 = 2000;
/// Serial distance after which an incomplete event of the same node is considered done.
const SERIAL_WINDOW: u64 = 16;
/// The ENRICHED format separator.
const GS: char = '\u{1d}';

/// The auditd parser.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuditdParser;

/// A record's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// `node=` (empty when absent).
    pub node: &'a str,
    /// The record type.
    pub kind: &'a str,
    /// Seconds since the epoch.
    pub secs: &'a str,
    /// Milliseconds.
    pub millis: &'a str,
    /// Serial number (per node, restarts at boot).
    pub serial: &'a str,
}

/// Parses `[node=N ]type=T msg=audit(S.MS:SERIAL):`; returns the header and the body.
pub fn header(line: &str) -> IResult<&str, Header<'_>> {
    let (i, node) = match tag::<_, _, nom::error::Error<&str>>("node=")(line) {
        Ok((i, _)) => {
            let (i, node) = until(" ")(i)?;
            let (i, _) = tag(" ")(i)?;
            (i, node)
        }
        Err(_) => (line, ""),
    };
    let (i, _) = tag("type=")(i)?;
    let (i, kind) = until(" ")(i)?;
    let (i, _) = tag(" msg=audit(")(i)?;
    let (i, secs) = take_while1(|c: char| c.is_ascii_digit())(i)?;
    let (i, _) = tag(".")(i)?;
    let (i, millis) = take_while1(|c: char| c.is_ascii_digit())(i)?;
    let (i, _) = tag(":")(i)?;
    let (i, serial) = take_while1(|c: char| c.is_ascii_digit())(i)?;
    let (i, _) = tag("):")(i)?;
    Ok((
        i,
        Header {
            node,
            kind,
            secs,
            millis,
            serial,
        },
    ))
}

impl Parser for AuditdParser {
    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        let key = match header(&record) {
            Ok((_, h)) => format!("{}|{}.{}:{}|{}", h.node, h.secs, h.millis, h.serial, h.kind),
            Err(_) => {
                return failure(
                    record,
                    origin,
                    created,
                    "not an auditd record (expected `type=... msg=audit(secs.ms:serial):`)",
                )
            }
        };
        let mut event = Event::new(record, origin, created);
        event.group_key = Some(key.into_boxed_str());
        event
    }

    fn sequencer(&self) -> Option<Box<dyn Sequencer>> {
        Some(Box::new(AuditdSequencer::default()))
    }
}

/// One record of a group: text and file range.
#[derive(Debug)]
struct Part {
    text: String,
    offset: u64,
    end: u64,
}

#[derive(Debug)]
struct Group {
    id: String,
    node: String,
    serial: u64,
    /// Opened by a record of its own kind, and no kernel record has joined it yet.
    single: bool,
    parts: Vec<Part>,
    origin: Origin,
    created: i64,
    last_ms: i64,
}

/// Groups the records of one event (see the module documentation).
#[derive(Debug, Default)]
pub struct AuditdSequencer {
    groups: Vec<Group>,
    /// The newest serial seen per node.
    newest: Vec<(String, u64)>,
}

impl Sequencer for AuditdSequencer {
    fn push(&mut self, mut event: Event, out: &mut Vec<Event>) {
        let Some(key) = event.group_key.take() else {
            out.push(event);
            return;
        };
        let mut fields = key.splitn(3, '|');
        let node = fields.next().unwrap_or("");
        let id = fields.next().unwrap_or("");
        let kind = fields.next().unwrap_or("");
        let serial: u64 = id
            .rsplit(':')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let compound = table::is_compound(kind);
        // Nodes are few (mostly one): a list is cheaper than hashing the name per record.
        let i = self
            .newest
            .iter()
            .position(|(n, _)| n == node)
            .unwrap_or_else(|| {
                self.newest.push((node.to_owned(), serial));
                self.newest.len() - 1
            });
        let newest = &mut self.newest[i].1;
        // The serials start again (a reboot, another host's log): what is open belongs to the
        // old sequence.
        let reset = serial + SERIAL_WINDOW < *newest;
        *newest = if reset { serial } else { (*newest).max(serial) };
        let newest = *newest;
        if reset {
            self.build_where(out, |g| g.node == node);
        }
        // An event opened by a record of its own kind is complete once its node moves on to
        // another event.
        self.build_where(out, |g| {
            g.single && (g.serial != serial || g.id != id) && g.node == node
        });
        let existing = self
            .groups
            .iter()
            .position(|g| g.serial == serial && g.id == id && g.node == node);
        if existing.is_none() && kind == "EOE" {
            // Its event was built already (by the serial window or the timer): the
            // end-of-event marker carries nothing.
            return;
        }
        let now = crate::time::monotonic_ms();
        let index = existing.unwrap_or_else(|| {
            self.groups.push(Group {
                id: id.to_owned(),
                node: node.to_owned(),
                serial,
                single: !compound,
                parts: Vec::new(),
                origin: event.origin.clone(),
                created: event.created,
                last_ms: now,
            });
            self.groups.len() - 1
        });
        let group = &mut self.groups[index];
        group.parts.push(Part {
            text: event.original().to_owned(),
            offset: event.origin.offset,
            end: event.origin.end,
        });
        group.single &= !compound;
        group.last_ms = now;
        if kind == "EOE" {
            let g = self.groups.remove(index);
            out.push(build_group(g));
        }
        self.build_where(out, |g| {
            newest >= g.serial + SERIAL_WINDOW && g.node == node
        });
    }

    fn flush(&mut self, now_ms: i64, force: bool, out: &mut Vec<Event>) {
        self.build_where(out, |g| force || now_ms - g.last_ms >= FLUSH_AFTER_MS);
    }

    fn oldest_held(&self) -> Option<u64> {
        self.groups
            .iter()
            .filter_map(|g| g.parts.iter().map(|p| p.offset).min())
            .min()
    }
}

impl AuditdSequencer {
    /// Builds (in the order they were opened) the open events that `done` selects.
    fn build_where(&mut self, out: &mut Vec<Event>, done: impl Fn(&Group) -> bool) {
        let mut i = 0;
        while i < self.groups.len() {
            if done(&self.groups[i]) {
                let g = self.groups.remove(i);
                out.push(build_group(g));
            } else {
                i += 1;
            }
        }
    }
}

fn build_group(g: Group) -> Event {
    build(&g.parts, g.origin, g.created)
}

/// Builds the ECS event of a group of records.
fn build(parts: &[Part], mut origin: Origin, created: i64) -> Event {
    let mut text = String::with_capacity(parts.iter().map(|p| p.text.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&p.text);
    }
    origin.offset = parts
        .iter()
        .map(|p| p.offset)
        .min()
        .unwrap_or(origin.offset);
    origin.end = parts.iter().map(|p| p.end).max().unwrap_or(origin.end);
    let (text, redacted) = redact(text);
    let mut event = match draft(&text) {
        Ok(d) => d.finish(text, origin, created),
        Err(reason) => failure(text, origin, created, &reason),
    };
    if redacted {
        event.add_tag("audit_redacted");
    }
    event
}

/// Masks `data=` of TTY records (keystrokes, which can include passwords).
fn redact(text: String) -> (String, bool) {
    if !text.contains("TTY msg=audit(") {
        return (text, false);
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let is_tty = header(line).is_ok_and(|(_, h)| h.kind == "TTY" || h.kind == "USER_TTY");
        match (is_tty, line.find(" data=")) {
            (true, Some(at)) => {
                let start = at + " data=".len();
                let end = line[start..]
                    .find([' ', '\'', GS])
                    .map_or(line.len(), |e| start + e);
                out.push_str(&line[..start]);
                out.push_str("********");
                out.push_str(&line[end..]);
                changed = true;
            }
            _ => out.push_str(line),
        }
    }
    (out, changed)
}

/// `key=value` pairs of a record body: `"quoted"`, `'nested'` (user-space `msg='...'`, whose
/// own pairs are returned too) or bare. Bare words without `=` are skipped.
fn fields(body: &str) -> Vec<(&str, &str, bool)> {
    let mut out = Vec::with_capacity(24);
    let mut rest = body;
    // Old RHEL `LOGIN` records qualify a key with a word before it: `old auid=700 new auid=700`.
    let mut qualifier = "";
    loop {
        rest = rest.trim_start_matches([' ', '(', ')', ',']);
        if rest.is_empty() {
            return out;
        }
        let key_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'[' | b']'))
            .count();
        if key_len == 0 || rest.as_bytes().get(key_len) != Some(&b'=') {
            // A bare word: a qualifier (`old`, `new`) or a stray word; skipped.
            let skip = memchr::memchr(b' ', rest.as_bytes()).unwrap_or(rest.len());
            qualifier = &rest[..skip];
            rest = &rest[skip.max(1).min(rest.len())..];
            continue;
        }
        let key = qualified(std::mem::take(&mut qualifier), &rest[..key_len]);
        let value_start = key_len + 1;
        let after = &rest[value_start..];
        match after.as_bytes().first() {
            Some(b'"') => {
                let end =
                    memchr::memchr(b'"', &after.as_bytes()[1..]).map_or(after.len(), |e| e + 1);
                out.push((key, &after[1..end], true));
                rest = after.get(end + 1..).unwrap_or("");
            }
            Some(b'\'') => {
                let end =
                    memchr::memrchr(b'\'', &after.as_bytes()[1..]).map_or(after.len(), |e| e + 1);
                let inner = &after[1..end];
                out.push((key, inner, true));
                out.extend(fields(inner));
                rest = after.get(end + 1..).unwrap_or("");
            }
            Some(b'{') => {
                let end = memchr::memchr(b'}', after.as_bytes()).map_or(after.len(), |e| e + 1);
                out.push((key, &after[..end], true));
                rest = &after[end..];
            }
            _ => {
                let mut end = memchr::memchr(b' ', after.as_bytes()).unwrap_or(after.len());
                if key == "op" {
                    // Legacy shadow-utils records leave `op` unquoted: `op=adding group to
                    // /etc/group id=1004`. The words up to the next `key=` are the value.
                    end = op_end(after, end);
                }
                out.push((key, &after[..end], false));
                rest = &after[end..];
            }
        }
    }
}

/// The key a qualifier word gives: `old auid=` reads as `old_auid`, `new ses=` as `new_ses`.
fn qualified<'a>(qualifier: &str, key: &'a str) -> &'a str {
    match (qualifier, key) {
        ("old", "auid") => "old_auid",
        ("old", "ses") => "old_ses",
        ("new", "auid") => "new_auid",
        ("new", "ses") => "new_ses",
        _ => key,
    }
}

/// Where an unquoted `op` value ends: before the first following word that is a `key=`.
fn op_end(after: &str, first: usize) -> usize {
    let mut end = first;
    while end < after.len() {
        let next = &after[end + 1..];
        let word = memchr::memchr(b' ', next.as_bytes()).unwrap_or(next.len());
        if word == 0 || next[..word].contains('=') || next[..word].contains('\'') {
            break;
        }
        end += 1 + word;
    }
    end
}

/// Decodes an auditd hex value (upper-case, even length); `None` when it is not hex.
fn unhex(value: &str) -> Option<String> {
    if value.len() < 2 || value.bytes().any(|b| b.is_ascii_lowercase()) {
        return None;
    }
    hex_bytes(value).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// A field value as text: hex decoded where auditd encodes, `None` for "no value".
fn value<'a>(key: &str, raw: &'a str, quoted: bool) -> Option<std::borrow::Cow<'a, str>> {
    if matches!(raw, "?" | "(null)" | "") {
        return None;
    }
    if !quoted && table::may_be_hex(key) {
        // `proctitle` is always hex when unquoted; some writers use lower case.
        let decoded = if key == "proctitle" {
            hex_bytes(raw).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        } else {
            unhex(raw)
        };
        if let Some(decoded) = decoded {
            return Some(std::borrow::Cow::Owned(decoded));
        }
    }
    Some(std::borrow::Cow::Borrowed(raw))
}

/// Which record of a group names the event: configuration records over the syscall that
/// carried them, the syscall over auxiliary records.
fn rank(kind: &str) -> u8 {
    match kind {
        "CONFIG_CHANGE" | "NETFILTER_CFG" => 3,
        "SYSCALL" => 2,
        _ if !table::is_compound(kind) => 2,
        _ => 1,
    }
}

fn unset_id(id: &str) -> bool {
    matches!(id, "4294967295" | "-1" | "unset")
}

/// Everything read from the records of one event.
#[derive(Default)]
struct Collected<'a> {
    primary: Option<Header<'a>>,
    kinds: Vec<&'a str>,
    pairs: Vec<(&'a str, &'a str, &'a str, bool)>,
    enriched: Vec<(&'a str, &'a str)>,
    args: Vec<(usize, String)>,
    paths: Vec<(&'a str, Option<String>)>,
    /// Where in `pairs` the first of each [`Key`] is: one pass instead of a search per key.
    found: [Option<u32>; KEYS],
}

/// The fields the mapping reads by name.
#[derive(Clone, Copy)]
enum Key {
    Res,
    Success,
    Saddr,
    Syscall,
    Arch,
    Apparmor,
    Auid,
    Acct,
    Grp,
    Id,
    Uid,
    Euid,
    Addr,
    Hostname,
    Terminal,
    Op,
    User,
}

const KEYS: usize = 17;

impl Key {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "res" => Self::Res,
            "success" => Self::Success,
            "saddr" => Self::Saddr,
            "syscall" => Self::Syscall,
            "arch" => Self::Arch,
            "apparmor" => Self::Apparmor,
            "auid" | "new_auid" => Self::Auid,
            "acct" => Self::Acct,
            "grp" => Self::Grp,
            "id" => Self::Id,
            "uid" => Self::Uid,
            "euid" => Self::Euid,
            "addr" => Self::Addr,
            "hostname" => Self::Hostname,
            "terminal" => Self::Terminal,
            "op" => Self::Op,
            "user" => Self::User,
            _ => return None,
        })
    }
}

impl Collected<'_> {
    fn pair(&self, key: Key) -> Option<&(&str, &str, &str, bool)> {
        self.pairs.get(self.found[key as usize]? as usize)
    }

    /// The raw value of the first field `key`.
    fn raw(&self, key: Key) -> Option<&str> {
        self.pair(key).map(|(_, _, v, _)| *v)
    }

    /// The value of the first field `key`, hex-decoded where auditd encodes it.
    fn text(&self, key: Key) -> Option<std::borrow::Cow<'_, str>> {
        let (_, k, v, q) = self.pair(key)?;
        value(k, v, *q)
    }

    /// An ENRICHED (interpreted) value.
    fn enriched(&self, key: &str) -> Option<&str> {
        self.enriched
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim_matches('"'))
    }
}

fn collect(text: &str) -> Result<Collected<'_>, String> {
    let mut c = Collected::default();
    for line in text.split('\n') {
        let (body, h) = header(line).map_err(|_| {
            format!(
                "not an auditd record: `{}`",
                line.chars().take(60).collect::<String>()
            )
        })?;
        let (body, enriched) = match body.split_once(GS) {
            Some((b, e)) => (b, Some(e)),
            None => (body, None),
        };
        c.kinds.push(h.kind);
        if c.primary
            .as_ref()
            .is_none_or(|p| rank(h.kind) > rank(p.kind))
        {
            c.primary = Some(h.clone());
        }
        let pairs = fields(body);
        match h.kind {
            "EXECVE" => {
                for &(k, v, q) in &pairs {
                    if let Some(n) = k.strip_prefix('a').and_then(|n| n.parse::<usize>().ok()) {
                        if let Some(v) = value("a0", v, q) {
                            c.args.push((n, v.into_owned()));
                        }
                    } else if let Some((n, _)) = k.strip_prefix('a').and_then(|s| s.split_once('['))
                    {
                        // aK[i]: pieces of a long argument, appended in order.
                        if let (Ok(n), Some(v)) = (n.parse::<usize>(), value("a0", v, q)) {
                            match c.args.iter_mut().find(|(i, _)| *i == n) {
                                Some((_, s)) => s.push_str(&v),
                                None => c.args.push((n, v.into_owned())),
                            }
                        }
                    }
                }
            }
            "PATH" => {
                let get = |key: &str| pairs.iter().find(|(k, _, _)| *k == key);
                // `nametype` since Linux 4.x; `objtype` in older kernels' records.
                let nametype = get("nametype")
                    .or_else(|| get("objtype"))
                    .map_or("", |(_, v, _)| *v);
                let name = get("name")
                    .and_then(|(k, v, q)| value(k, v, *q))
                    .map(std::borrow::Cow::into_owned);
                c.paths.push((nametype, name));
            }
            _ => {
                for (k, v, q) in pairs {
                    if let Some(key) = Key::of(k) {
                        let slot = &mut c.found[key as usize];
                        if slot.is_none() {
                            *slot = u32::try_from(c.pairs.len()).ok();
                        }
                    }
                    c.pairs.push((h.kind, k, v, q));
                }
            }
        }
        if let Some(e) = enriched {
            for (k, v, _) in fields(e) {
                c.enriched.push((k, v));
            }
        }
    }
    Ok(c)
}

fn draft(text: &str) -> Result<Draft, String> {
    let c = collect(text)?;
    let h = c.primary.clone().ok_or_else(|| "empty record".to_owned())?;
    let mut d = Draft::new();
    let secs: i64 = h.secs.parse().map_err(|_| "bad time".to_owned())?;
    let millis: i64 = h.millis.parse().unwrap_or(0);
    d.timestamp = Some(secs * 1000 + millis);
    d.constant("event.module", "auditd");
    d.constant("event.dataset", "auditd.log");
    d.constant("event.provider", "auditd");
    let mut id = String::with_capacity(h.secs.len() + h.millis.len() + h.serial.len() + 2);
    for (part, mark) in [(h.secs, "."), (h.millis, ":"), (h.serial, "")] {
        id.push_str(part);
        id.push_str(mark);
    }
    d.owned("event.id", id);
    d.str("auditd.log.record_type", text, h.kind);
    if let Ok(serial) = h.serial.parse::<i64>() {
        d.int("auditd.log.sequence", serial);
    }
    for kind in &c.kinds {
        d.push("auditd.log.record_types", text, kind);
    }
    if !h.node.is_empty() {
        d.str("host.name", text, h.node);
        d.push("related.hosts", text, h.node);
    }
    // Action and category.
    let mut kind_of_event = "event";
    let mut call = None;
    let syscall = syscall_of(&c);
    if h.kind == "SYSCALL" {
        call = syscall_action(&mut d, &c, syscall.as_deref());
    } else if let Some((action, mapping)) = table::record(h.kind) {
        d.constant("event.action", action);
        normalize::categorise(&mut d, virt_control(&c, h.kind).unwrap_or(mapping));
        if h.kind.starts_with("ANOM_") {
            kind_of_event = "alert";
        }
    } else {
        d.owned("event.action", h.kind.to_ascii_lowercase());
        d.tag("audit_unknown_action");
    }
    d.constant("event.kind", kind_of_event);
    // Outcome.
    let res = c.text(Key::Res).map(|v| v.to_ascii_lowercase());
    let outcome = match res.as_deref() {
        Some("success" | "yes" | "1") => Outcome::Success,
        Some("failed" | "no" | "0" | "failure") => Outcome::Failure,
        _ => match c.text(Key::Success).as_deref() {
            Some("yes") => Outcome::Success,
            Some("no") => Outcome::Failure,
            _ if c.kinds.contains(&"AVC") => {
                if text.contains("avc:  denied") || text.contains("avc: denied") {
                    Outcome::Failure
                } else if text.contains("avc:  granted") || text.contains("avc: granted") {
                    Outcome::Success
                } else {
                    Outcome::Unknown
                }
            }
            _ => Outcome::Unknown,
        },
    };
    normalize::outcome(&mut d, outcome);
    users(&mut d, text, &c, h.kind);
    let direction = call.as_ref().and_then(|k| k.direction).or_else(|| {
        // Sessions, logins and key exchanges from a remote address come in.
        let remote = table::is_remote_session(h.kind)
            && c.text(Key::Addr)
                .is_some_and(|a| normalize::clean_ip(&a).is_some());
        remote.then_some("ingress")
    });
    if let Some(direction) = direction {
        d.constant("network.direction", direction);
    }
    if let Some(saddr) = c.raw(Key::Saddr) {
        socket_address(&mut d, saddr, direction);
    }
    process(&mut d, text, &c, call.as_ref().and_then(|k| k.path_index));
    if let Some(name) = syscall {
        d.owned("auditd.data.syscall", name);
    }
    Ok(d)
}

/// The action and categories of a syscall event; what the table knows of the syscall.
fn syscall_action(d: &mut Draft, c: &Collected<'_>, name: Option<&str>) -> Option<table::Syscall> {
    let Some(name) = name else {
        d.constant("event.action", "syscall");
        return None;
    };
    let call = table::syscall(name);
    let mapping = call.as_ref().map_or(table::OTHER_SYSCALL, |k| k.mapping);
    // A policy decision names what happened; the syscall says to what.
    if c.kinds.contains(&"AVC") {
        d.constant(
            "event.action",
            if c.raw(Key::Apparmor).is_some() {
                "violated-apparmor-policy"
            } else {
                "violated-selinux-policy"
            },
        );
    } else if let Some(known) = &call {
        d.constant("event.action", known.action);
    } else {
        d.owned("event.action", name.to_owned());
    }
    normalize::categorise(d, mapping);
    call
}

/// A VM control record's type from its operation (`op=start`, `stop`, `create`).
fn virt_control(c: &Collected<'_>, kind: &str) -> Option<normalize::Mapping> {
    if kind != "VIRT_CONTROL" {
        return None;
    }
    Some(match c.raw(Key::Op)? {
        "start" | "resume" => normalize::m(&["host"], &["start"]),
        "stop" | "pause" => normalize::m(&["host"], &["end"]),
        "create" => normalize::m(&["host"], &["creation"]),
        _ => return None,
    })
}

/// The syscall of an event: interpreted by auditd (ENRICHED), a name in the record, or the
/// number looked up for the record's architecture.
fn syscall_of(c: &Collected<'_>) -> Option<String> {
    if let Some(name) = c.enriched("SYSCALL") {
        return Some(name.to_owned());
    }
    let raw = c.raw(Key::Syscall)?;
    match raw.parse::<u32>() {
        Ok(number) => table::syscall_name(c.raw(Key::Arch), number).map(str::to_owned),
        Err(_) => raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            .then(|| raw.to_owned()),
    }
}

/// Actor, target, effective user, addresses.
fn users(d: &mut Draft, line: &str, c: &Collected<'_>, kind: &str) {
    if let Some(auid) = c.text(Key::Auid).filter(|a| !unset_id(a)) {
        normalize::user(d, "user.id", line, &auid);
        if let Some(name) = c
            .enriched("AUID")
            .filter(|n| !n.is_empty() && *n != "unset")
        {
            normalize::user(d, "user.name", line, name);
        }
    }
    // libvirt names the acting account `user=`.
    if kind.starts_with("VIRT_") {
        if let Some(name) = c.raw(Key::User).filter(|n| !normalize::is_nothing(n)) {
            normalize::user(d, "user.name", line, name);
        }
    }
    let acct = c.text(Key::Acct).filter(|a| !normalize::is_nothing(a));
    if let Some(acct) = acct {
        if table::acct_is_actor(kind) {
            normalize::user(d, "user.name", line, &acct);
        } else if table::acct_is_target(kind) {
            normalize::user(d, "user.target.name", line, &acct);
        } else if table::is_group_record(kind) {
            d.str("group.name", line, &acct);
        } else {
            d.str("auditd.data.acct", line, &acct);
        }
    }
    if let Some(grp) = c.text(Key::Grp) {
        // A group record names its group; elsewhere (`USER_MGMT op=add-user-to-group`) the
        // group the account joins is kept as written.
        if table::is_group_record(kind) {
            d.str("group.name", line, &grp);
        } else {
            d.str("auditd.data.grp", line, &grp);
        }
    }
    // Account management names the account's number in `id`.
    if let Some(id) = c.text(Key::Id).filter(|i| !unset_id(i)) {
        if table::acct_is_target(kind) {
            d.str("user.target.id", line, &id);
        } else if table::is_group_record(kind) {
            d.str("group.id", line, &id);
        }
    }
    if let Some(uid) = c.text(Key::Uid).filter(|u| !unset_id(u)) {
        d.str("process.user.id", line, &uid);
        if let Some(name) = c.enriched("UID") {
            d.str("process.user.name", line, name);
        }
    }
    if let Some(euid) = c.text(Key::Euid).filter(|u| !unset_id(u)) {
        d.str("user.effective.id", line, &euid);
        if let Some(name) = c.enriched("EUID") {
            d.str("user.effective.name", line, name);
        }
    }
    if let Some(addr) = c.text(Key::Addr) {
        normalize::ip_or_address(d, line, &addr, "source.ip", "source.address");
    }
    if let Some(host) = c.text(Key::Hostname) {
        if normalize::clean_ip(&host).is_none() && !normalize::is_nothing(&host) {
            d.str("source.domain", line, &host);
        }
    }
    if let Some(t) = c.text(Key::Terminal).filter(|t| t != "(none)") {
        d.str("user.terminal", line, &t);
    }
}

/// The object of a syscall: the PATH record the syscall names (the new name of a rename),
/// else the first one naming a file (not its directory), else the first with a name.
fn object_path<'c>(c: &'c Collected<'_>, path_index: Option<usize>) -> Option<&'c str> {
    let named = |(_, n): &&(&str, Option<String>)| n.is_some();
    path_index
        .and_then(|i| c.paths.get(i).filter(|p| named(p)))
        .or_else(|| {
            c.paths
                .iter()
                .filter(named)
                .find(|(t, _)| matches!(*t, "NORMAL" | "CREATE" | "DELETE"))
        })
        .or_else(|| c.paths.iter().find(named))
        .and_then(|(_, n)| n.as_deref())
}

/// Decodes a `SOCKADDR` record's `saddr` (the socket address in hex, as the kernel holds it):
/// the family in `auditd.data.saddr_fam`, an IPv4 or IPv6 address and port as the remote end
/// (`source.*` for traffic coming in, else `destination.*`), a local socket's path in
/// `auditd.data.path`.
fn socket_address(d: &mut Draft, saddr: &str, direction: Option<&str>) {
    let Some(bytes) = hex_bytes(saddr) else {
        return;
    };
    let Some(family) = bytes.get(..2).map(|f| u16::from_le_bytes([f[0], f[1]])) else {
        return;
    };
    let port = |b: &[u8]| b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    let (ip_key, port_key) = if direction == Some("ingress") {
        ("source.ip", "source.port")
    } else {
        ("destination.ip", "destination.port")
    };
    let address: Option<(std::net::IpAddr, u16)> = match family {
        1 => {
            d.constant("auditd.data.saddr_fam", "local");
            let path = &bytes[2..];
            // An abstract socket: a NUL, then a name that may hold NULs.
            let text = if let Some(name) = path.strip_prefix(&[0]) {
                format!("@{}", String::from_utf8_lossy(name).trim_end_matches('\0'))
            } else {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                String::from_utf8_lossy(&path[..end]).into_owned()
            };
            if !text.is_empty() {
                d.owned("auditd.data.path", text);
            }
            None
        }
        2 => {
            d.constant("auditd.data.saddr_fam", "inet");
            bytes.get(4..8).and_then(|a| {
                let ip = std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]);
                Some((ip.into(), port(&bytes)?))
            })
        }
        10 => {
            d.constant("auditd.data.saddr_fam", "inet6");
            bytes.get(8..24).and_then(|a| {
                let octets: [u8; 16] = a.try_into().ok()?;
                Some((std::net::Ipv6Addr::from(octets).into(), port(&bytes)?))
            })
        }
        16 => {
            d.constant("auditd.data.saddr_fam", "netlink");
            None
        }
        _ => None,
    };
    if let Some((ip, port)) = address {
        let ip = ip.to_string();
        // auditd's own names for the decoded address (`ausearch -i`).
        d.owned("auditd.data.laddr", ip.clone());
        d.int("auditd.data.lport", i64::from(port));
        d.push("related.ip", "", &ip);
        d.owned(ip_key, ip);
        d.int(port_key, i64::from(port));
    }
}

/// Hex digits (either case) as bytes; `None` when `text` is not hex.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The architecture an auditd `arch` value (the `AUDIT_ARCH_*` constant in hex) names.
fn architecture(arch: &str) -> Option<&'static str> {
    // Interpreted logs (`ausearch -i`, `log_format=ENRICHED` copies) name it.
    Some(match arch.to_ascii_lowercase().as_str() {
        "c000003e" | "x86_64" => "x86_64",
        "40000003" | "i386" => "i386",
        "c00000b7" | "aarch64" => "aarch64",
        "40000028" | "arm" => "arm",
        "c0000015" | "ppc64le" => "ppc64le",
        "80000015" | "ppc64" => "ppc64",
        "80000016" | "s390x" => "s390x",
        "c00000f3" | "riscv64" => "riscv64",
        _ => return None,
    })
}

/// An address as written in `address_key`, and in `ip_key` (and `related.ip`) when it is one.
fn address(d: &mut Draft, line: &str, raw: &str, address_key: &'static str, ip_key: &'static str) {
    if normalize::is_nothing(raw) {
        return;
    }
    d.str(address_key, line, raw);
    if let Some(ip) = normalize::clean_ip(raw) {
        d.str(ip_key, line, ip);
        d.push("related.ip", line, ip);
    }
}

/// Keys [`process`] moves to ECS fields (not kept in `auditd.data` too).
fn moved(key: &str) -> bool {
    matches!(
        key,
        "pid" | "ppid" | "exe" | "comm" | "cwd" | "proctitle" | "key" | "cmd"
    )
}

/// Keys read by the actor and outcome mapping, or carried inside another field.
fn consumed(key: &str) -> bool {
    matches!(
        key,
        "auid"
            | "acct"
            | "uid"
            | "euid"
            | "addr"
            | "hostname"
            | "terminal"
            | "res"
            | "success"
            | "grp"
            | "msg"
            | "syscall"
    )
}

/// Process, files, arguments, keys and the remaining fields.
fn process(d: &mut Draft, line: &str, c: &Collected<'_>, path_index: Option<usize>) {
    // Keys written once already: a later record of the group does not repeat them.
    let mut seen: SmallVec<[&str; 32]> = SmallVec::new();
    for (_, k, v, q) in &c.pairs {
        // `src`, `dst`, `exit` and `arch` are read here and also kept as the record wrote them.
        if !moved(k) && !matches!(*k, "src" | "dst" | "exit" | "arch") {
            continue;
        }
        let Some(v) = value(k, v, *q).filter(|v| v != "(none)") else {
            continue;
        };
        match *k {
            "pid" => {
                if let Ok(p) = v.parse::<i64>() {
                    d.int("process.pid", p);
                }
            }
            "ppid" => {
                if let Ok(p) = v.parse::<i64>() {
                    d.int("process.parent.pid", p);
                }
            }
            "exe" => d.str("process.executable", line, &v),
            "comm" => d.str("process.name", line, &v),
            "cwd" => d.str("process.working_directory", line, &v),
            "cmd" => d.str("process.command_line", line, &v),
            "proctitle" => d.owned("process.title", v.replace('\0', " ")),
            // IPsec and netfilter records name the addresses of the policy they change.
            // ECS keeps the address as written in `.address` and copies an IP to `.ip`.
            "src" => address(d, line, &v, "source.address", "source.ip"),
            "dst" => address(d, line, &v, "destination.address", "destination.ip"),
            "exit" => {
                if let Ok(code) = v.parse::<i64>() {
                    d.int("process.exit_code", code);
                }
            }
            "arch" => {
                if let Some(name) = architecture(&v) {
                    d.constant("host.architecture", name);
                }
            }
            "key" => {
                // Rules with several fields log their key as `key=name`.
                for k in v.split('\u{1}').filter(|k| !k.is_empty()) {
                    d.push("auditd.key", line, k.strip_prefix("key=").unwrap_or(k));
                }
            }
            _ => {}
        }
    }
    let mut args = c.args.clone();
    args.sort_by_key(|(i, _)| *i);
    if !args.is_empty() {
        let joined: Vec<&str> = args.iter().map(|(_, a)| a.as_str()).collect();
        d.owned("process.command_line", joined.join(" "));
        d.list("process.args", line, &joined);
        d.int("process.args_count", args.len() as i64);
    }
    if let Some(path) = object_path(c, path_index) {
        d.owned("file.path", path.to_owned());
    }
    let single = c.kinds.len() == 1;
    for (kind, k, v, q) in &c.pairs {
        if moved(k) || consumed(k) || (!single && seen.contains(k)) {
            continue;
        }
        // A syscall's arguments are numbers in hex, never encoded text.
        let argument =
            *kind == "SYSCALL" && k.starts_with('a') && k[1..].bytes().all(|b| b.is_ascii_digit());
        let v = if argument {
            Some(std::borrow::Cow::Borrowed(*v))
        } else {
            value(k, v, *q)
        };
        if let Some(v) = v {
            d.dynamic("auditd.data", line, k, &v);
            if !single {
                seen.push(k);
            }
        }
    }
    // ENRICHED names (auditd's upper-case interpretations) under the record's own keys.
    for (k, v) in &c.enriched {
        d.dynamic("auditd.data", line, k, v.trim_matches('"'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Vec<serde_json::Value> {
        let mut seq = AuditdSequencer::default();
        let mut out = Vec::new();
        let mut offset = 0u64;
        for l in lines {
            let origin = Origin {
                path: Some("audit.log".into()),
                offset,
                end: offset + l.len() as u64 + 1,
                ..Origin::default()
            };
            offset += l.len() as u64 + 1;
            let e = AuditdParser.parse((*l).to_owned(), origin, 0);
            seq.push(e, &mut out);
        }
        seq.flush(0, true, &mut out);
        out.iter()
            .map(|e| serde_json::from_str(&e.to_json()).unwrap())
            .collect()
    }

    #[test]
    fn user_space_records_are_events_of_their_own() {
        let v = run(&[
            r#"type=USER_AUTH msg=audit(1750001000.101:8800): pid=3120 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=PAM:authentication grantors=? acct="oracle" exe="/usr/sbin/sshd" hostname=198.51.100.61 addr=198.51.100.61 terminal=ssh res=failed'"#,
        ]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0]["event"]["action"], "authenticated");
        assert_eq!(v[0]["event"]["outcome"], "failure");
        assert_eq!(v[0]["user"]["name"], "oracle");
        assert_eq!(v[0]["source"]["ip"], "198.51.100.61");
        assert_eq!(v[0]["@timestamp"], "2025-06-15T15:23:20.101Z");
        assert!(v[0]["user"]["id"].is_null(), "auid unset");
    }

    #[test]
    fn interleaved_records_are_grouped_by_serial() {
        let v = run(&[
            r#"type=SYSCALL msg=audit(1750001070.250:8816): arch=c000003e syscall=257 success=no exit=-13 items=1 ppid=3301 pid=3302 auid=1004 uid=1004 euid=1004 comm="less" exe="/usr/bin/less" key="identity""#,
            r#"type=SYSCALL msg=audit(1750001070.251:8817): arch=c000003e syscall=59 success=yes exit=0 items=1 ppid=1 pid=3303 auid=1004 uid=0 euid=0 comm="id" exe="/usr/bin/id""#,
            r#"type=PATH msg=audit(1750001070.250:8816): item=0 name="/etc/gshadow" inode=2041 nametype=NORMAL"#,
            r#"type=EXECVE msg=audit(1750001070.251:8817): argc=3 a0="id" a1="-u" a2=2D6E206D6520"#,
            "type=EOE msg=audit(1750001070.250:8816): ",
            "type=EOE msg=audit(1750001070.251:8817): ",
        ]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["event"]["action"], "opened-file");
        assert_eq!(v[0]["event"]["outcome"], "failure");
        assert_eq!(v[0]["file"]["path"], "/etc/gshadow");
        assert_eq!(v[0]["auditd"]["key"], serde_json::json!(["identity"]));
        assert_eq!(v[1]["event"]["action"], "executed");
        assert_eq!(
            v[1]["process"]["args"],
            serde_json::json!(["id", "-u", "-n me "])
        );
        assert_eq!(v[0]["log"]["offset"], 0);
    }

    #[test]
    fn enriched_and_hex_values_and_tty_redaction() {
        let v = run(&["type=USER_CMD msg=audit(1750001060.500:8815): pid=3301 uid=1004 auid=1004 ses=12 subj=unconfined msg='cwd=\"/srv\" cmd=6A6F75726E616C63746C202D66 exe=\"/usr/bin/sudo\" terminal=pts/0 res=success'\u{1d}UID=\"ops\" AUID=\"ops\""]);
        assert_eq!(v[0]["process"]["command_line"], "journalctl -f");
        assert_eq!(v[0]["user"]["name"], "ops");
        let v = run(&["type=USER_TTY msg=audit(1750001061.000:8820): pid=1 uid=0 auid=1004 ses=12 data=7365637265740D"]);
        assert!(!v[0]["event"]["original"]
            .as_str()
            .unwrap()
            .contains("7365637265740D"));
    }
}
