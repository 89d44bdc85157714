//! `redact`: masks, pseudonymises or drops values beyond what the parsers mask: named fields
//! (whole subtrees) and patterns (email, IP addresses, JWTs, bearer tokens, card numbers,
//! IBANs, or any regex) in every string field and in `event.original`.
//!
//! Guarantee: a value taken from a redacted field is replaced wherever it appears in the
//! event (`event.original`, `message`, `related.*`, any other string), not only in its own
//! field; a redacted event is tagged `audit_redacted`. With `mode = "hmac"` the replacement is
//! the lowercase hex HMAC-SHA256 of the value under `key`, so equal values stay correlatable
//! without being readable (GDPR pseudonymisation).

use std::net::{Ipv4Addr, Ipv6Addr};

use memchr::memmem::Finder;
use regex::Regex;
use serde::Deserialize;

use super::Transform;
use crate::chunk::EventChunk;
use crate::event::{within, Event, Owned, ValueRef};

/// `[transforms.<name>] type = "redact"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// Field paths whose values are redacted (a path takes its whole subtree), e.g.
    /// `["user.name", "source.ip"]`.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Patterns redacted in every string field and in `event.original`: `email`, `ipv4`,
    /// `ipv6`, `jwt`, `bearer_token`, `credit_card`, `iban`, or a regex (a group named
    /// `secret` limits the replacement to that group).
    #[serde(default)]
    pub patterns: Vec<String>,
    /// `mask` (default: `********`), `hmac`, `drop` or `keep_prefix`.
    #[serde(default)]
    pub mode: Mode,
    /// Characters kept by `keep_prefix` (default 4).
    pub keep: Option<usize>,
    /// The HMAC key for `mode = "hmac"` (e.g. `"${REDACT_KEY}"`).
    pub key: Option<String>,
}

/// What replaces a redacted value.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `********`.
    #[default]
    Mask,
    /// Lowercase hex HMAC-SHA256 under `key`.
    Hmac,
    /// Nothing (a field is removed; a match inside a string is cut out).
    Drop,
    /// The first `keep` characters, then `********`.
    KeepPrefix,
}

/// The mask.
pub const MASK: &str = "********";

/// A pattern with the check its matches must pass (a checksum, an address parser).
#[derive(Clone, Debug)]
struct Pattern {
    matcher: Matcher,
    check: fn(&str) -> bool,
    /// A cheap test a text must pass to hold a match at all (a byte every match contains),
    /// so that most fields are not searched.
    may_hold: fn(&str) -> bool,
}

/// How a pattern finds its matches.
#[derive(Clone, Debug)]
enum Matcher {
    /// A regex; `group`: it has a group named `secret` (only that group is replaced).
    Regex { regex: Regex, group: bool },
    /// The `email` scanner (equal to its regex, [`super::email::REGEX`]).
    Email,
}

impl Matcher {
    fn regex(regex: Regex) -> Self {
        let group = regex.capture_names().any(|n| n == Some("secret"));
        Self::Regex { regex, group }
    }
}

fn anything(_: &str) -> bool {
    true
}

fn always(_: &str) -> bool {
    true
}

fn is_ipv4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

fn is_ipv6(s: &str) -> bool {
    s.parse::<Ipv6Addr>().is_ok()
}

/// The Luhn checksum of a card number (spaces and dashes ignored).
fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 {
                    d - 9
                } else {
                    d
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The ISO 13616 check of an IBAN (mod 97 = 1).
fn iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() < 15 || compact.len() > 34 {
        return false;
    }
    let rotated = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem: u32 = 0;
    for c in rotated.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        for d in v.to_string().chars() {
            rem = (rem * 10 + (d as u32 - '0' as u32)) % 97;
        }
    }
    rem == 1
}

/// A named pattern: its name, its regex, the check its matches must pass, and the cheap
/// test a text must pass to hold a match.
type Named = (
    &'static str,
    &'static str,
    fn(&str) -> bool,
    fn(&str) -> bool,
);

/// The named patterns.
const NAMED: [Named; 7] = [
    ("email", super::email::REGEX, always, |s| s.contains('@')),
    (
        "ipv4",
        r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b",
        is_ipv4,
        |s| s.contains('.'),
    ),
    (
        "ipv6",
        r"(?i)\b(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?\b|::",
        is_ipv6,
        |s| s.contains(':'),
    ),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
        always,
        |s| s.contains("eyJ"),
    ),
    (
        "bearer_token",
        r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/-]+=*)",
        always,
        anything,
    ),
    ("credit_card", r"\b\d(?:[ -]?\d){12,18}\b", luhn, |s| {
        s.bytes().filter(u8::is_ascii_digit).nth(12).is_some()
    }),
    (
        "iban",
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        iban,
        |s| s.bytes().filter(u8::is_ascii_digit).nth(1).is_some(),
    ),
];

/// Replacements remembered by a redactor (HMAC is the costly one; audit logs repeat the
/// same users and addresses). Cleared when full.
const CACHE_ENTRIES: usize = 16_384;

impl RedactConfig {
    /// Compiles the settings; every problem as `(key, message)`.
    ///
    /// # Panics
    /// Never: the named patterns are constant regexes that compile (a unit test builds each).
    pub fn compile(&self) -> Result<Redactor, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut patterns = Vec::new();
        for (i, p) in self.patterns.iter().enumerate() {
            if let Some((name, re, check, may_hold)) = NAMED.iter().find(|n| n.0 == p) {
                let matcher = if *name == "email" {
                    Matcher::Email
                } else {
                    Matcher::regex(Regex::new(re).expect("the named patterns compile"))
                };
                patterns.push(Pattern {
                    matcher,
                    check: *check,
                    may_hold: *may_hold,
                });
                continue;
            }
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                // A bare word is meant as a name: a typo must not become a literal regex.
                problems.push((
                    format!("patterns[{i}]"),
                    format!(
                        "unknown named pattern `{p}` (named: {}); to match the word itself, write `(?:{p})`",
                        NAMED.map(|n| n.0).join(", ")
                    ),
                ));
                continue;
            }
            match Regex::new(p) {
                Ok(regex) => patterns.push(Pattern {
                    matcher: Matcher::regex(regex),
                    check: always,
                    may_hold: anything,
                }),
                Err(e) => problems.push((
                    format!("patterns[{i}]"),
                    format!(
                        "`{p}` is not a valid regex: {}",
                        e.to_string()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                )),
            }
        }
        for (i, f) in self.fields.iter().enumerate() {
            if !crate::event::is_path(f) {
                problems.push((format!("fields[{i}]"), format!("`{f}` is not a field path")));
            }
            if f == "event.original" {
                problems.push((
                    format!("fields[{i}]"),
                    "`event.original` is the evidence: redact patterns in it (`patterns`), not the whole of it".to_owned(),
                ));
            }
        }
        if self.fields.is_empty() && self.patterns.is_empty() {
            problems.push((
                "fields".to_owned(),
                "give `fields`, `patterns` or both: there is nothing to redact".to_owned(),
            ));
        }
        let key = match (self.mode, self.key.as_deref()) {
            (Mode::Hmac, None | Some("")) => {
                problems.push((
                    "key".to_owned(),
                    "mode = \"hmac\" needs a key (e.g. key = \"${REDACT_KEY}\")".to_owned(),
                ));
                None
            }
            (Mode::Hmac, Some(k)) => {
                Some(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k.as_bytes()))
            }
            _ => None,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Redactor {
            fields: self.fields.clone(),
            patterns,
            replacer: Replacer {
                mode: self.mode,
                keep: self.keep.unwrap_or(4),
                key,
                cache: std::collections::HashMap::default(),
            },
        })
    }
}

/// The running redaction.
#[derive(Clone)]
pub struct Redactor {
    fields: Vec<String>,
    patterns: Vec<Pattern>,
    replacer: Replacer,
}

/// What replaces a value, remembered for the values seen last.
#[derive(Clone)]
struct Replacer {
    mode: Mode,
    keep: usize,
    key: Option<ring::hmac::Key>,
    cache: std::collections::HashMap<Box<str>, Box<str>, foldhash::fast::RandomState>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("fields", &self.fields)
            .field("patterns", &self.patterns.len())
            .field("mode", &self.replacer.mode)
            .finish_non_exhaustive()
    }
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

impl Replacer {
    /// What replaces `value`.
    fn get(&mut self, value: &str) -> &str {
        match self.mode {
            Mode::Mask => MASK,
            Mode::Drop => "",
            Mode::KeepPrefix | Mode::Hmac => {
                if !self.cache.contains_key(value) {
                    if self.cache.len() >= CACHE_ENTRIES {
                        self.cache.clear();
                    }
                    let new = self.compute(value);
                    self.cache.insert(value.into(), new.into_boxed_str());
                }
                self.cache.get(value).map_or("", |s| s)
            }
        }
    }

    /// The replacement the modes that depend on the value (`keep_prefix`, `hmac`) give.
    fn compute(&self, value: &str) -> String {
        if self.mode == Mode::KeepPrefix {
            let prefix: String = value.chars().take(self.keep).collect();
            return format!("{prefix}{MASK}");
        }
        self.key.as_ref().map_or_else(String::new, |k| {
            hex(ring::hmac::sign(k, value.as_bytes()).as_ref())
        })
    }
}

impl Redactor {
    /// What replaces `value`.
    #[cfg(test)]
    fn replacement(&mut self, value: &str) -> String {
        self.replacer.get(value).to_owned()
    }

    /// `text` with every secret replaced: the values taken from redacted fields (longest
    /// first, so that one value inside another is not half-replaced) and pattern matches.
    fn scrub(&mut self, text: &str, secrets: &[Finder<'_>]) -> Option<String> {
        let mut out: Option<String> = None;
        for secret in secrets {
            let current = out.as_deref().unwrap_or(text);
            let mut at = secret.find_iter(current.as_bytes()).peekable();
            if at.peek().is_none() {
                continue;
            }
            let needle = std::str::from_utf8(secret.needle()).unwrap_or_default();
            let with = self.replacer.get(needle);
            let mut result = String::with_capacity(current.len() + with.len());
            let mut last = 0;
            for start in at {
                result.push_str(&current[last..start]);
                result.push_str(with);
                last = start + needle.len();
            }
            result.push_str(&current[last..]);
            out = Some(result);
        }
        for p in &self.patterns {
            let current = out.as_deref().unwrap_or(text);
            if !(p.may_hold)(current) {
                continue;
            }
            let mut result: Option<String> = None;
            let mut last = 0;
            // Each match as (whole, replaced part), byte ranges of `current`.
            let mut each = |whole: (usize, usize), target: (usize, usize)| {
                let (whole, target_text) =
                    (&current[whole.0..whole.1], &current[target.0..target.1]);
                if !(p.check)(whole) || target_text.is_empty() || target_text == MASK {
                    return;
                }
                let r = result.get_or_insert_with(|| String::with_capacity(current.len() + 64));
                r.push_str(&current[last..target.0]);
                r.push_str(self.replacer.get(target_text));
                last = target.1;
            };
            match &p.matcher {
                Matcher::Regex { regex, group: true } => {
                    for caps in regex.captures_iter(current) {
                        let whole = caps.get(0).expect("group 0 always matches");
                        let target = caps.name("secret").unwrap_or(whole);
                        each((whole.start(), whole.end()), (target.start(), target.end()));
                    }
                }
                Matcher::Regex {
                    regex,
                    group: false,
                } => {
                    for m in regex.find_iter(current) {
                        each((m.start(), m.end()), (m.start(), m.end()));
                    }
                }
                Matcher::Email => {
                    for range in super::email::find_iter(current) {
                        each(range, range);
                    }
                }
            }
            if let Some(mut result) = result {
                result.push_str(&current[last..]);
                out = Some(result);
            }
        }
        out
    }

    /// Redacts one event; returns whether anything changed.
    pub fn redact(&mut self, event: &mut Event) -> bool {
        // The values of the named fields, to be replaced everywhere they appear.
        let mut secrets: Vec<String> = Vec::new();
        let mut dropped: Vec<String> = Vec::new();
        let mut numbers: Vec<(String, i64)> = Vec::new();
        if !self.fields.is_empty() {
            let fields = &self.fields;
            for (key, value) in event.fields_where(|k| fields.iter().any(|f| within(k, f))) {
                secrets.extend(value.strings().filter(|s| !s.is_empty()).map(str::to_owned));
                if let ValueRef::Int(i) = value {
                    secrets.push(i.to_string());
                    numbers.push((key.to_owned(), i));
                }
                if self.replacer.mode == Mode::Drop {
                    dropped.push(key.to_owned());
                }
            }
        }
        secrets.sort_unstable_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        let mut changed = false;
        for key in &dropped {
            changed |= event.remove_path(key).unwrap_or(0) > 0;
        }
        // Every string field (and list item), and the original text. Where the secrets occur
        // in the original is found once (overlapping occurrences too): a slice of the
        // original holds a secret only if one of these lies inside it.
        let finders: Vec<Finder<'_>> = secrets.iter().map(Finder::new).collect();
        let mut hits: Vec<(usize, usize)> = Vec::new();
        let original = event.original().as_bytes();
        for f in &finders {
            let mut at = 0;
            while let Some(i) = f.find(&original[at..]) {
                hits.push((at + i, at + i + f.needle().len()));
                at += i + 1;
            }
        }
        changed |= event.rewrite_strings(|s, place| {
            let inside =
                place.is_none_or(|r| hits.iter().any(|&(a, b)| a >= r.start && b <= r.end));
            self.scrub(s, if inside { &finders } else { &[] })
        });
        // A number in a redacted field becomes the replacement of its digits.
        if self.replacer.mode != Mode::Drop {
            for (key, i) in numbers {
                let new = self.replacer.get(&i.to_string()).to_owned();
                changed |= event.insert(&key, Owned::Str(new)).is_ok();
            }
        }
        if changed {
            event.add_tag("audit_redacted");
        }
        changed
    }
}

impl Transform for Redactor {
    fn fork(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(self.clone()))
    }

    fn apply(&mut self, chunk: &mut EventChunk) {
        for event in &mut chunk.events {
            self.redact(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;

    fn redactor(fields: &[&str], patterns: &[&str], mode: Mode) -> Redactor {
        RedactConfig {
            fields: fields.iter().map(|s| (*s).to_owned()).collect(),
            patterns: patterns.iter().map(|s| (*s).to_owned()).collect(),
            mode,
            keep: Some(5),
            key: Some("k3y".into()),
        }
        .compile()
        .unwrap()
    }

    fn event(original: &str, fields: &[(&str, &str)]) -> Event {
        let mut e = Event::new(original.to_owned(), Origin::default(), 0);
        for (k, v) in fields {
            e.insert(k, Owned::Str((*v).to_owned())).unwrap();
        }
        e
    }

    #[test]
    fn a_redacted_field_value_is_replaced_everywhere_it_appears() {
        let mut r = redactor(&["user"], &[], Mode::Mask);
        let mut e = event(
            "login by alice from 10.1.2.3",
            &[
                ("user.name", "alice"),
                ("message", "alice logged in"),
                ("source.ip", "10.1.2.3"),
            ],
        );
        e.insert(
            "related.user",
            Owned::List(vec!["alice".into(), "bob".into()]),
        )
        .unwrap();
        assert!(r.redact(&mut e));
        let json = e.to_json();
        assert!(!json.contains("alice"), "{json}");
        assert!(json.contains("bob") && json.contains("10.1.2.3"), "{json}");
        assert!(e.has_tag("audit_redacted"));
    }

    #[test]
    fn hmac_is_deterministic_lowercase_hex_and_keyed() {
        let mut r = redactor(&["user.name"], &[], Mode::Hmac);
        let mut a = event("x", &[("user.name", "alice")]);
        let mut b = event("y", &[("user.name", "alice")]);
        r.redact(&mut a);
        r.redact(&mut b);
        let ha = a
            .get("user.name")
            .unwrap()
            .strings()
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(ha.len(), 64);
        assert!(ha
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(
            Some(ha.as_str()),
            b.get("user.name").unwrap().strings().next()
        );
        // The published HMAC-SHA256 example (key "key"): the hex the mode writes.
        let mut r = RedactConfig {
            fields: vec!["message".into()],
            patterns: Vec::new(),
            mode: Mode::Hmac,
            keep: None,
            key: Some("key".into()),
        }
        .compile()
        .unwrap();
        assert_eq!(
            r.replacement("The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn named_patterns_find_only_what_passes_their_check() {
        let mut r = redactor(
            &[],
            &[
                "email",
                "ipv4",
                "ipv6",
                "jwt",
                "bearer_token",
                "credit_card",
                "iban",
            ],
            Mode::Mask,
        );
        let text = "mail a.b@example.org ip 192.0.2.7 not 999.1.1.1 v6 2001:db8::1 time 08:20:35 \
                    jwt eyJhbGciOi.eyJzdWIi.sig auth Bearer abc.DEF-123 card 4111 1111 1111 1111 \
                    not-card 1234 5678 9012 3456 iban DE89 3704 0044 0532 0130 00 end";
        let out = r.scrub(text, &[]).unwrap();
        for gone in [
            "a.b@example.org",
            "192.0.2.7",
            "2001:db8::1",
            "eyJhbGciOi",
            "abc.DEF-123",
            "4111 1111 1111 1111",
            "DE89 3704",
        ] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        for kept in ["999.1.1.1", "08:20:35", "Bearer ", "1234 5678 9012 3456"] {
            assert!(out.contains(kept), "{kept} lost from {out}");
        }
    }

    #[test]
    fn drop_and_keep_prefix_modes() {
        let mut r = redactor(&["user.email"], &[], Mode::Drop);
        let mut e = event(
            "mail alice@example.org",
            &[("user.email", "alice@example.org")],
        );
        r.redact(&mut e);
        assert!(e.get("user.email").is_none());
        assert_eq!(e.original(), "mail ");
        let mut r = redactor(&[], &["email"], Mode::KeepPrefix);
        let mut e = event("mail alice@example.org", &[]);
        r.redact(&mut e);
        assert_eq!(e.original(), "mail alice********");
    }

    #[test]
    fn bad_settings_are_all_reported() {
        let err = RedactConfig {
            fields: vec!["a..b".into(), "event.original".into()],
            patterns: vec!["email".into(), "([unclosed".into()],
            mode: Mode::Hmac,
            keep: None,
            key: None,
        }
        .compile()
        .unwrap_err();
        let keys: Vec<&str> = err.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["patterns[1]", "fields[0]", "fields[1]", "key"]);
    }
}
