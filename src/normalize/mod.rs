//! Normalisation: each source's event names → ECS `event.category`, `event.type` and outcome,
//! kept as data tables (one file per source), plus the shared rules of FORMATS.md §1.
//!
//! Policy: `event.action` is the source's own name, verbatim; `event.outcome` is `success` or
//! `failure` only when the source says so, else `unknown`; an unknown action of a known source
//! gets no category and keeps its action.

pub mod auditd;
pub mod dogtag;
pub mod keycloak;
pub mod sap;
pub mod syscalls;
pub mod totp;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::OnceLock;

use crate::parse::draft::Draft;
use crate::source::fingerprint::{fnv1a, fnv1a_continue};

/// ECS categorisation of one event name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// `event.category` values.
    pub category: &'static [&'static str],
    /// `event.type` values.
    pub kind: &'static [&'static str],
}

/// A table row: a name pattern (`NAME`, `PREFIX*`, `*SUFFIX`) and its mapping.
pub type Row = (&'static str, Mapping);

/// Shorthand for table rows.
#[must_use]
pub const fn m(category: &'static [&'static str], kind: &'static [&'static str]) -> Mapping {
    Mapping { category, kind }
}

/// A source's table: rows in priority order, and an index of the exact names built on first
/// use, so that a lookup costs one hash probe and a check of the (few) wildcard rows.
pub struct Table {
    rows: &'static [Row],
    index: OnceLock<Index>,
}

struct Index {
    exact: HashMap<&'static str, usize, BuildHasherDefault<Fnv>>,
    wildcards: Vec<usize>,
}

/// FNV-1a for the table index: names are short and not chosen by an attacker who could
/// profit from collisions (a collision costs a comparison, not correctness).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(fnv1a(&[]))
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a_continue(self.0, bytes);
    }
}

impl Table {
    /// A table of `rows`; the first row that matches a name wins.
    #[must_use]
    pub const fn new(rows: &'static [Row]) -> Self {
        Self {
            rows,
            index: OnceLock::new(),
        }
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let mut exact =
                HashMap::with_capacity_and_hasher(self.rows.len(), BuildHasherDefault::default());
            let mut wildcards = Vec::new();
            for (i, (pattern, _)) in self.rows.iter().enumerate() {
                if pattern.starts_with('*') || pattern.ends_with('*') {
                    wildcards.push(i);
                } else {
                    exact.entry(*pattern).or_insert(i);
                }
            }
            Index { exact, wildcards }
        })
    }
}

/// The first row of `table` whose pattern matches `name`.
#[must_use]
pub fn lookup(table: &Table, name: &str) -> Option<Mapping> {
    let index = table.index();
    let exact = index.exact.get(name).copied();
    let wildcard = index
        .wildcards
        .iter()
        .copied()
        .take_while(|&i| exact.is_none_or(|e| i < e))
        .find(|&i| matches(table.rows[i].0, name));
    wildcard.or(exact).map(|i| table.rows[i].1)
}

fn matches(pattern: &str, name: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        name.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        name.ends_with(suffix)
    } else {
        pattern == name
    }
}

/// Writes `event.category` and `event.type`.
pub fn categorise(draft: &mut Draft, mapping: Mapping) {
    draft.names("event.category", mapping.category);
    draft.names("event.type", mapping.kind);
}

/// An event's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The source says it succeeded.
    Success,
    /// The source says it failed.
    Failure,
    /// The source does not say.
    Unknown,
}

impl Outcome {
    /// The ECS value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// Writes `event.outcome`.
pub fn outcome(draft: &mut Draft, outcome: Outcome) {
    draft.constant("event.outcome", outcome.as_str());
}

/// The IP address in `raw` (trimmed; IPv6 zone id, brackets and a port removed), as a slice of
/// `raw`, or `None` when it is not an address (`unknown`, a host name).
#[must_use]
pub fn clean_ip(raw: &str) -> Option<&str> {
    let s = raw.trim();
    let s = s
        .strip_prefix('[')
        .map_or(s, |inner| inner.split(']').next().unwrap_or(inner));
    let s = s
        .bytes()
        .position(|b| b == b'%')
        .map_or(s, |zone| &s[..zone]);
    if plain_ipv4(s) || s.parse::<IpAddr>().is_ok() {
        return Some(s);
    }
    // a.b.c.d:port
    let (host, port) = s.rsplit_once(':')?;
    (port.chars().all(|c| c.is_ascii_digit()) && host.parse::<std::net::Ipv4Addr>().is_ok())
        .then_some(host)
}

/// Whether `s` is a dotted-quad IPv4 address in its plain spelling (four numbers up to 255, no
/// leading zeros): the common case, read without the standard parser's generality. Everything
/// it refuses is left to that parser, so the two agree.
fn plain_ipv4(s: &str) -> bool {
    let b = s.as_bytes();
    if !(7..=15).contains(&b.len()) {
        return false;
    }
    // Per number: its value, its digits and its first digit (a leading zero is refused).
    let (mut dots, mut value, mut digits, mut first) = (0, 0u32, 0, 0u8);
    for &c in b {
        if c.is_ascii_digit() {
            if digits == 0 {
                first = c;
            } else if first == b'0' || digits == 3 {
                return false;
            }
            digits += 1;
            value = value * 10 + u32::from(c - b'0');
        } else if c == b'.' && digits > 0 && value <= 255 && dots < 3 {
            dots += 1;
            (value, digits) = (0, 0);
        } else {
            return false;
        }
    }
    dots == 3 && digits > 0 && value <= 255
}

/// Sets `<prefix>.ip` (and `related.ip`) when `raw` is an address, else `<prefix>.address`.
pub fn ip_or_address(
    draft: &mut Draft,
    line: &str,
    raw: &str,
    ip_key: &'static str,
    address_key: &'static str,
) {
    // The common case first: a plain address needs no trimming and no other reading.
    if plain_ipv4(raw) {
        draft.str(ip_key, line, raw);
        draft.push("related.ip", line, raw);
        return;
    }
    let raw = raw.trim();
    if raw.is_empty() || is_nothing(raw) {
        return;
    }
    match clean_ip(raw) {
        Some(ip) => {
            draft.str(ip_key, line, ip);
            draft.push("related.ip", line, ip);
        }
        None => draft.str(address_key, line, raw),
    }
}

/// Values that say "nothing" in the sources (FORMATS.md §7).
#[must_use]
pub fn is_nothing(value: &str) -> bool {
    matches!(
        value,
        "" | "null" | "<null>" | "?" | "(null)" | "unknown" | "-" | "UNKNOWN_USER" | "$USER"
    )
}

/// Sets a user field and adds it to `related.user`, unless it says "nothing".
pub fn user(draft: &mut Draft, key: &'static str, line: &str, value: &str) {
    if is_nothing(value) {
        return;
    }
    draft.str(key, line, value);
    draft.push("related.user", line, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn plain_ipv4_addresses_are_what_the_standard_parser_reads(
            parts in proptest::collection::vec("0|[0-9]{1,4}|25[0-9]|2[0-4][0-9]|0[0-9]{1,2}| 1|x", 0..6),
        ) {
            let s = parts.join(".");
            if plain_ipv4(&s) {
                proptest::prop_assert!(s.parse::<std::net::Ipv4Addr>().is_ok(), "{}", s);
            }
            let valid = s.parse::<std::net::Ipv4Addr>().is_ok();
            proptest::prop_assert_eq!(plain_ipv4(&s), valid, "{}", s);
        }
    }

    #[test]
    fn plain_ipv4_agrees_with_the_standard_parser_at_every_boundary() {
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.256.1.1",
            "1.1.256.1",
            "1.1.1.256",
            "199.200.249.250",
            "01.1.1.1",
            "1.1.1.01",
            "1000.1.1.1",
            "1.1.1",
            "1.1.1.1.1",
            "1..1.1",
            ".1.1.1",
            "1.1.1.",
            " 1.1.1.1",
            "1.1.1.1 ",
            "1.1.1.1:80",
            "a.1.1.1",
            "123.123.123.1234",
        ] {
            let valid = s.parse::<std::net::Ipv4Addr>().is_ok();
            assert_eq!(plain_ipv4(s), valid, "{s}");
        }
    }

    #[test]
    fn patterns_match_names_prefixes_and_suffixes() {
        static T: Table = Table::new(&[
            ("AUTH", m(&["authentication"], &["start"])),
            ("CONFIG_*", m(&["configuration"], &["change"])),
            ("*_CRL_PUBLISHING", m(&["iam"], &["info"])),
            ("FULL_CRL_PUBLISHING", m(&["web"], &["info"])),
        ]);
        assert_eq!(lookup(&T, "AUTH").unwrap().category, ["authentication"]);
        assert_eq!(lookup(&T, "CONFIG_TOKEN_PROFILE").unwrap().kind, ["change"]);
        assert_eq!(lookup(&T, "FULL_CRL_PUBLISHING").unwrap().category, ["iam"]);
        assert!(lookup(&T, "AUTHZ").is_none());
    }

    #[test]
    fn addresses_are_cleaned_or_kept_as_text() {
        assert_eq!(clean_ip(" 198.51.100.14 "), Some("198.51.100.14"));
        assert_eq!(clean_ip("fe80::1%eth0"), Some("fe80::1"));
        assert_eq!(clean_ip("::ffff:192.0.2.1"), Some("::ffff:192.0.2.1"));
        assert_eq!(clean_ip("[2001:db8::1]:443"), Some("2001:db8::1"));
        assert_eq!(clean_ip("203.0.113.9:51000"), Some("203.0.113.9"));
        assert_eq!(clean_ip("unknown"), None);
        assert_eq!(clean_ip("db-2.corp.test"), None);
    }
}
