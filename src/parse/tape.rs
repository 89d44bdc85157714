//! A one-pass JSON reader for the parsers' hot path: a line is validated as strictly as
//! `serde_json` reads it into a `Value`, a key twice in one object is refused, and every value's
//! place in the line is recorded (a "tape"), so parsers read fields as slices of the line
//! without building a tree. Lines it refuses are explained by `serde_json` (see [`explain`]).

use std::borrow::Cow;
use std::collections::HashSet;

use crate::encode::escape::{flags, word};

/// Containers open at once beyond which a line is refused, as `serde_json` refuses it.
const MAX_DEPTH: usize = 127;

/// Keys of one object compared one by one up to this many; a set beyond.
const LINEAR_KEYS: usize = 32;

/// What a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    Str,
    Number,
    True,
    False,
    Null,
}

/// Why a line was refused; [`explain`] says it in words.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused;

/// A range of the text; for strings, inside the quotes.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: usize,
    end: usize,
    /// A string holding backslash escapes (its value is not the slice itself).
    escaped: bool,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    kind: Kind,
    /// The member's key, for values inside an object.
    key: Option<Span>,
    value: Span,
    /// The index of the first node after this value and everything inside it.
    after: usize,
}

/// A validated JSON text and the place of every value in it.
pub(crate) struct Tape<'a> {
    text: &'a str,
    nodes: Vec<Node>,
}

/// A container being read.
struct Open<'a> {
    node: usize,
    object: bool,
    /// Where this object's keys begin in [`Reader::sigs`].
    sigs_from: usize,
    /// All its keys, once there are more than [`LINEAR_KEYS`].
    keys: Option<HashSet<Cow<'a, str>>>,
}

/// The state of one [`read`].
struct Reader<'a> {
    text: &'a str,
    nodes: Vec<Node>,
    open: Vec<Open<'a>>,
    /// The keys of the open objects, innermost last, each with a signature (equal keys have
    /// equal signatures), so that a new key is compared with earlier ones in a word.
    sigs: Vec<(u64, Span)>,
    /// The key read for the value that comes next.
    key: Option<Span>,
}

/// Reads `text` (one JSON value, surrounded by whitespace at most).
pub(crate) fn read(text: &str) -> Result<Tape<'_>, Refused> {
    let mut r = Reader {
        text,
        nodes: Vec::with_capacity(32),
        open: Vec::with_capacity(4),
        sigs: Vec::with_capacity(32),
        key: None,
    };
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    loop {
        // A value starts at `i`.
        let index = r.nodes.len();
        let (kind, value, end) = match *b.get(i).ok_or(Refused)? {
            c @ (b'{' | b'[') => {
                if r.open.len() >= MAX_DEPTH {
                    return Err(Refused);
                }
                let object = c == b'{';
                r.nodes.push(Node {
                    kind: if object { Kind::Object } else { Kind::Array },
                    key: r.key.take(),
                    value: Span {
                        start: i,
                        ..Span::default()
                    },
                    after: 0,
                });
                r.open.push(Open {
                    node: index,
                    object,
                    sigs_from: r.sigs.len(),
                    keys: None,
                });
                i = skip_ws(b, i + 1);
                let close = if object { b'}' } else { b']' };
                if b.get(i) != Some(&close) {
                    if object {
                        i = r.member_key(i)?;
                    }
                    continue;
                }
                // An empty container is a finished value: on to what follows it.
                i = r.close(i);
                match r.next(i)? {
                    Some(at) => {
                        i = at;
                        continue;
                    }
                    None => return Ok(r.tape()),
                }
            }
            b'"' => {
                let span = string(b, i)?;
                (Kind::Str, span, span.end + 1)
            }
            b't' => literal(b, i, b"true", Kind::True)?,
            b'f' => literal(b, i, b"false", Kind::False)?,
            b'n' => literal(b, i, b"null", Kind::Null)?,
            b'-' | b'0'..=b'9' => {
                let end = number(text, i)?;
                let span = Span {
                    start: i,
                    end,
                    escaped: false,
                };
                (Kind::Number, span, end)
            }
            _ => return Err(Refused),
        };
        r.nodes.push(Node {
            kind,
            key: r.key.take(),
            value,
            after: index + 1,
        });
        match r.next(skip_ws(b, end))? {
            Some(at) => i = at,
            None => return Ok(r.tape()),
        }
    }
}

impl<'a> Reader<'a> {
    fn tape(self) -> Tape<'a> {
        Tape {
            text: self.text,
            nodes: self.nodes,
        }
    }

    /// After a value ends (`i` past it and its whitespace): closes the containers that end
    /// there; returns where the next value starts (its key, inside an object, already read),
    /// or `None` at the end of the text.
    fn next(&mut self, mut i: usize) -> Result<Option<usize>, Refused> {
        let b = self.text.as_bytes();
        loop {
            let Some(top) = self.open.last() else {
                return if i == b.len() { Ok(None) } else { Err(Refused) };
            };
            match (b.get(i), top.object) {
                (Some(b','), true) => return self.member_key(skip_ws(b, i + 1)).map(Some),
                (Some(b','), false) => return Ok(Some(skip_ws(b, i + 1))),
                (Some(b'}'), true) | (Some(b']'), false) => i = self.close(i),
                _ => return Err(Refused),
            }
        }
    }

    /// Ends the innermost container at its closing bracket `i`; returns where what follows
    /// it starts.
    fn close(&mut self, i: usize) -> usize {
        if let Some(done) = self.open.pop() {
            let after = self.nodes.len();
            let node = &mut self.nodes[done.node];
            node.value.end = i + 1;
            node.after = after;
            self.sigs.truncate(done.sigs_from);
        }
        skip_ws(self.text.as_bytes(), i + 1)
    }

    /// Reads `"key" :` at `i` for the innermost object, refusing a key it already has;
    /// returns where the value starts.
    fn member_key(&mut self, i: usize) -> Result<usize, Refused> {
        let text = self.text;
        let b = text.as_bytes();
        if b.get(i) != Some(&b'"') {
            return Err(Refused);
        }
        let span = string(b, i)?;
        let top = self.open.last_mut().ok_or(Refused)?;
        let earlier = &self.sigs[top.sigs_from..];
        if top.keys.is_none() && earlier.len() < LINEAR_KEYS {
            let sig = if span.escaped {
                signature(&unescaped(text, span))
            } else {
                signature(&text[span.start..span.end])
            };
            if earlier
                .iter()
                .any(|&(s, k)| s == sig && same_key(text, k, span))
            {
                return Err(Refused);
            }
            self.sigs.push((sig, span));
        } else {
            let keys = top
                .keys
                .get_or_insert_with(|| earlier.iter().map(|&(_, k)| unescaped(text, k)).collect());
            if !keys.insert(unescaped(text, span)) {
                return Err(Refused);
            }
        }
        let at = skip_ws(b, span.end + 1);
        if b.get(at) != Some(&b':') {
            return Err(Refused);
        }
        self.key = Some(span);
        Ok(skip_ws(b, at + 1))
    }
}

impl<'a> Tape<'a> {
    /// The value the whole text is.
    pub(crate) fn root(&self) -> Val<'_, 'a> {
        Val { tape: self, at: 0 }
    }
}

/// A word from a key's bytes that equal keys share (its length and first and last bytes).
/// Built in registers: a variable-length copy to memory and a load back stalls.
fn signature(key: &str) -> u64 {
    let b = key.as_bytes();
    let n = b.len();
    let mixed = if n >= 8 {
        word(&b[..8]) ^ word(&b[n - 8..]).rotate_left(29)
    } else {
        b.iter().fold(0u64, |w, &c| (w << 8) | u64::from(c))
    };
    mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n as u64
}

/// Whether two keys are the same string once unescaped.
fn same_key(text: &str, a: Span, b: Span) -> bool {
    if !a.escaped && !b.escaped {
        return text.as_bytes()[a.start..a.end] == text.as_bytes()[b.start..b.end];
    }
    unescaped(text, a) == unescaped(text, b)
}

/// A string's value.
#[inline]
fn unescaped(text: &str, span: Span) -> Cow<'_, str> {
    let raw = &text[span.start..span.end];
    if span.escaped {
        Cow::Owned(unescape(raw))
    } else {
        Cow::Borrowed(raw)
    }
}

/// Decodes the escapes of a validated string's contents.
fn unescape(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut run = 0;
    for at in memchr::memchr_iter(b'\\', b) {
        if at < run {
            // The second backslash of `\\\\`, already taken.
            continue;
        }
        out.push_str(&raw[run..at]);
        let (c, used) = match b.get(at + 1) {
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'n') => ('\n', 2),
            Some(b'r') => ('\r', 2),
            Some(b't') => ('\t', 2),
            Some(b'u') => {
                let unit = hex4(b, at + 2).unwrap_or(0xfffd);
                if (0xd800..0xdc00).contains(&unit) {
                    let low = hex4(b, at + 8).unwrap_or(0xdc00);
                    let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                    (char::from_u32(code).unwrap_or('\u{fffd}'), 12)
                } else {
                    (char::from_u32(unit).unwrap_or('\u{fffd}'), 6)
                }
            }
            // `"`, `\\` and `/` stand for themselves.
            Some(&c) => (char::from(c), 2),
            None => break,
        };
        out.push(c);
        run = (at + used).min(b.len());
    }
    out.push_str(&raw[run..]);
    out
}

/// Four hex digits at `at`.
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    digits
        .iter()
        .try_fold(0u32, |n, &d| char::from(d).to_digit(16).map(|v| n * 16 + v))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

fn literal(b: &[u8], i: usize, word: &[u8], kind: Kind) -> Result<(Kind, Span, usize), Refused> {
    if b.get(i..i + word.len()) != Some(word) {
        return Err(Refused);
    }
    let end = i + word.len();
    let span = Span {
        start: i,
        end,
        escaped: false,
    };
    Ok((kind, span, end))
}

/// The string whose opening quote is at `i`: its contents' span (the closing quote at its
/// end). Control characters are refused, escapes checked, surrogate escapes paired.
fn string(b: &[u8], i: usize) -> Result<Span, Refused> {
    let start = i + 1;
    let mut at = start;
    let mut escaped = false;
    loop {
        // The next byte that is a quote, a backslash or a control character.
        let found = loop {
            if let Some(chunk) = b.get(at..at + 8) {
                let mask = flags(word(chunk));
                if mask == 0 {
                    at += 8;
                    continue;
                }
                break at + (mask.trailing_zeros() / 8) as usize;
            }
            let rest = b.get(at..).ok_or(Refused)?;
            let off = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .ok_or(Refused)?;
            break at + off;
        };
        match b[found] {
            b'"' => {
                return Ok(Span {
                    start,
                    end: found,
                    escaped,
                })
            }
            b'\\' => {
                escaped = true;
                at = found + escape_len(b, found)?;
            }
            _ => return Err(Refused),
        }
    }
}

/// The length of the valid escape at `i` (its backslash).
fn escape_len(b: &[u8], i: usize) -> Result<usize, Refused> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(2),
        Some(b'u') => {
            let unit = hex4(b, i + 2).ok_or(Refused)?;
            match unit {
                0xdc00..=0xdfff => Err(Refused),
                0xd800..=0xdbff => {
                    // A leading surrogate: a trailing one must follow.
                    if b.get(i + 6..i + 8) != Some(b"\\u") {
                        return Err(Refused);
                    }
                    match hex4(b, i + 8).ok_or(Refused)? {
                        0xdc00..=0xdfff => Ok(12),
                        _ => Err(Refused),
                    }
                }
                _ => Ok(6),
            }
        }
        _ => Err(Refused),
    }
}

/// The end of the number at `i` (RFC 8259 §6); refused too when it is beyond `f64`, as
/// `serde_json` refuses it.
fn number(text: &str, i: usize) -> Result<usize, Refused> {
    let b = text.as_bytes();
    let digits = |mut at: usize| {
        let from = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        (at, at - from)
    };
    let mut at = i;
    if b[at] == b'-' {
        at += 1;
    }
    let int_start = at;
    match b.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at = digits(at).0,
        _ => return Err(Refused),
    }
    let int_digits = at - int_start;
    let mut plain = true;
    if b.get(at) == Some(&b'.') {
        let (end, n) = digits(at + 1);
        if n == 0 {
            return Err(Refused);
        }
        at = end;
        plain = false;
    }
    if matches!(b.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(b.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let (end, n) = digits(at);
        if n == 0 {
            return Err(Refused);
        }
        at = end;
        plain = false;
    }
    if (!plain || int_digits > 19) && !text[i..at].parse::<f64>().is_ok_and(f64::is_finite) {
        return Err(Refused);
    }
    Ok(at)
}

/// A value of a tape.
#[derive(Clone, Copy)]
pub(crate) struct Val<'t, 'a> {
    tape: &'t Tape<'a>,
    at: usize,
}

impl<'t, 'a> Val<'t, 'a> {
    fn node(self) -> &'t Node {
        &self.tape.nodes[self.at]
    }

    /// What the value is.
    pub(crate) fn kind(self) -> Kind {
        self.node().kind
    }

    /// The member `key` of an object.
    pub(crate) fn get(self, key: &str) -> Option<Self> {
        let tape = self.tape;
        let node = self.node();
        if node.kind != Kind::Object {
            return None;
        }
        let (text, key) = (tape.text.as_bytes(), key.as_bytes());
        let mut j = self.at + 1;
        while j < node.after {
            let child = &tape.nodes[j];
            if let Some(k) = child.key {
                // Lengths and first bytes first: most keys differ there, without a call.
                let same = if k.escaped {
                    unescaped(tape.text, k).as_bytes() == key
                } else {
                    k.end - k.start == key.len()
                        && text.get(k.start) == key.first()
                        && &text[k.start..k.end] == key
                };
                if same {
                    return Some(Val { tape, at: j });
                }
            }
            j = child.after;
        }
        None
    }

    /// The members named `names` of an object, found in one pass over its members (rather
    /// than one pass per name).
    pub(crate) fn pick<const N: usize>(self, names: [&str; N]) -> [Option<Self>; N] {
        let mut found = [None; N];
        let tape = self.tape;
        let node = self.node();
        if node.kind != Kind::Object {
            return found;
        }
        let text = tape.text.as_bytes();
        let mut j = self.at + 1;
        while j < node.after {
            let child = &tape.nodes[j];
            if let Some(k) = child.key {
                let decoded;
                let key = if k.escaped {
                    decoded = unescaped(tape.text, k);
                    decoded.as_bytes()
                } else {
                    &text[k.start..k.end]
                };
                for (slot, name) in found.iter_mut().zip(names) {
                    let name = name.as_bytes();
                    if slot.is_none()
                        && key.len() == name.len()
                        && key.first() == name.first()
                        && key == name
                    {
                        *slot = Some(Val { tape, at: j });
                        break;
                    }
                }
            }
            j = child.after;
        }
        found
    }

    /// The member `key` of an object when it is a `kind` (an object, an array...).
    pub(crate) fn get_kind(self, key: &str, kind: Kind) -> Option<Self> {
        self.get(key).filter(|v| v.kind() == kind)
    }

    /// An object's members in the order written (no member for anything else).
    pub(crate) fn members(self) -> impl Iterator<Item = (Cow<'a, str>, Self)> {
        let text = self.tape.text;
        self.children()
            .filter_map(move |v| v.node().key.map(|k| (unescaped(text, k), v)))
    }

    /// An array's items, or an object's values, in the order written.
    pub(crate) fn children(self) -> impl Iterator<Item = Self> {
        let node = self.node();
        let end = match node.kind {
            Kind::Object | Kind::Array => node.after,
            _ => self.at + 1,
        };
        let tape = self.tape;
        let mut j = self.at + 1;
        std::iter::from_fn(move || {
            (j < end).then(|| {
                let v = Val { tape, at: j };
                j = tape.nodes[j].after;
                v
            })
        })
    }

    /// A string's value (borrowed from the text when it has no escapes).
    pub(crate) fn str(self) -> Option<Cow<'a, str>> {
        let node = self.node();
        (node.kind == Kind::Str).then(|| unescaped(self.tape.text, node.value))
    }

    /// A boolean's value.
    pub(crate) fn bool(self) -> Option<bool> {
        match self.kind() {
            Kind::True => Some(true),
            Kind::False => Some(false),
            _ => None,
        }
    }

    /// The value as written (for strings, without the quotes).
    pub(crate) fn raw(self) -> &'a str {
        let span = self.node().value;
        &self.tape.text[span.start..span.end]
    }

    /// The value as JSON text (strings with their quotes).
    pub(crate) fn json(self) -> &'a str {
        let span = self.node().value;
        match self.kind() {
            Kind::Str => &self.tape.text[span.start - 1..=span.end],
            _ => &self.tape.text[span.start..span.end],
        }
    }

    /// A non-negative integer's value.
    pub(crate) fn u64(self) -> Option<u64> {
        (self.kind() == Kind::Number).then(|| self.raw().parse().ok())?
    }
}

/// Checks the reader against `serde_json` on `text` (for tests and the `json_reader` fuzz
/// target): both accept it or both refuse it (a key twice counting as refused), and what the
/// reader reads is what `serde_json` reads.
///
/// # Panics
/// When they differ.
pub fn check_against_serde(text: &str) {
    let serde = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .filter(|_| super::json::duplicate_key(text).is_none());
    match (read(text), serde) {
        (Ok(tape), Some(expected)) => assert_eq!(rebuild(tape.root()), expected, "{text:?}"),
        (Err(Refused), None) => {}
        (tape, serde) => panic!(
            "the reader {} {text:?}, serde_json {} it",
            if tape.is_ok() { "accepts" } else { "refuses" },
            if serde.is_some() {
                "accepts"
            } else {
                "refuses"
            }
        ),
    }
}

/// A value read by the reader, as a `serde_json::Value`.
fn rebuild(v: Val<'_, '_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v.kind() {
        Kind::Object => J::Object(
            v.members()
                .map(|(k, v)| (k.into_owned(), rebuild(v)))
                .collect(),
        ),
        Kind::Array => J::Array(v.children().map(rebuild).collect()),
        Kind::Str => J::String(v.str().unwrap_or_default().into_owned()),
        Kind::Number => serde_json::from_str(v.raw()).unwrap_or_default(),
        Kind::True => J::Bool(true),
        Kind::False => J::Bool(false),
        Kind::Null => J::Null,
    }
}

/// Why `text` was refused, in the words the parsers use: the first key twice in an object, or
/// `serde_json`'s description of the syntax error.
pub(crate) fn explain(text: &str) -> String {
    if let Some(dup) = super::json::duplicate_key(text) {
        return format!("duplicate JSON key `{dup}`");
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => format!("invalid JSON: {e}"),
        Ok(_) => "invalid JSON".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON-ish text: mostly valid documents, some with one flaw (a bad leaf, a key twice, a
    /// stray character).
    fn jsonish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            12 => prop_oneof![
                Just("null".to_owned()),
                Just("true".to_owned()),
                Just("false".to_owned()),
                "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
                "\"([a-c é😀]|\\\\[\"\\\\/bfnrt]|\\\\u00[4-6][0-9a-f]|\\\\ud83d\\\\ude00){0,6}\"",
            ],
            1 => prop_oneof![
                Just("fals".to_owned()),
                "[a-c]{1,2}",
                "-?(0[0-9]|[0-9]\\.|[0-9][eE]|[0-9]e999)",
                "\"a(\\\\x|\\\\u12|\\\\ud83d|\\\\ud83da|\\\\udc00|\\\\ud83d\\\\u0041|\u{1}|\u{1f})b\"",
            ],
        ];
        let key = prop_oneof![12 => "\"[a-f]{0,2}\"", 1 => Just("\"\\u0061\"".to_owned())];
        leaf.prop_recursive(4, 40, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|v| {
                    let members: Vec<String> =
                        v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
        .prop_flat_map(|doc| {
            let len = doc.len();
            let junk = prop_oneof![
                8 => Just(""),
                1 => prop_oneof![
                    Just(" "), Just("}"), Just("]"), Just(","), Just(":"), Just("\""), Just("0")
                ],
            ];
            (Just(doc), 0..=len, junk)
        })
        .prop_map(|(doc, at, junk)| {
            // A character inserted at a char boundary, or none.
            let at = (0..=at)
                .rev()
                .find(|&i| doc.is_char_boundary(i))
                .unwrap_or(0);
            format!("{}{junk}{}", &doc[..at], &doc[at..])
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        #[test]
        fn tape_accepts_what_serde_accepts_and_reads_the_same_values(text in jsonish()) {
            check_against_serde(&text);
        }
    }

    #[test]
    fn edge_cases_are_judged_as_serde_judges_them() {
        for text in [
            "{}",
            " [ ] ",
            "{\"a\":1,\"a\":2}",
            "{\"a\":1,\"\\u0061\":2}",
            "{\"a\":{\"b\":1},\"b\":[{\"b\":2,\"b\":3}]}",
            "01",
            "-",
            "1.",
            "1e",
            "1e400",
            "-1e400",
            "1e-400",
            "123456789012345678901234567890",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\\u0041\"",
            "\"a\u{1}\"",
            "\"unterminated",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "[1] x",
            "",
            "   ",
            "nul",
            "{\"a\":tru}",
        ] {
            check_against_serde(text);
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        check_against_serde(&deep(127));
        check_against_serde(&deep(128));
        let wide: Vec<String> = (0..100).map(|i| format!("\"k{i}\":1")).collect();
        check_against_serde(&format!("{{{}}}", wide.join(",")));
        check_against_serde(&format!("{{{},\"k70\":2}}", wide.join(",")));
    }

    #[test]
    fn values_are_read_in_place() {
        let tape = read(r#"{"a":"x\"y","b":{"c":[true,null,2]},"d":"plain"}"#).unwrap();
        let root = tape.root();
        assert_eq!(root.get("a").and_then(Val::str).as_deref(), Some("x\"y"));
        assert!(matches!(
            root.get("d").and_then(Val::str),
            Some(Cow::Borrowed("plain"))
        ));
        let c = root.get("b").and_then(|b| b.get("c")).unwrap();
        let kinds: Vec<Kind> = c.children().map(Val::kind).collect();
        assert_eq!(kinds, [Kind::True, Kind::Null, Kind::Number]);
        assert_eq!(root.get("b").unwrap().raw(), r#"{"c":[true,null,2]}"#);
        assert!(root.get("zz").is_none());
        let [a, zz, d] = root.pick(["a", "zz", "d"]);
        assert_eq!(a.and_then(Val::str).as_deref(), Some("x\"y"));
        assert!(zz.is_none());
        assert_eq!(d.and_then(Val::str).as_deref(), Some("plain"));
        let escaped = read(r#"{"\u0061":1,"b":2}"#).unwrap();
        let [a, b] = escaped.root().pick(["a", "b"]);
        assert_eq!((a.map(Val::raw), b.map(Val::raw)), (Some("1"), Some("2")));
        assert_eq!(explain(r#"{"a":1,"a":2}"#), "duplicate JSON key `a`");
        assert!(explain("{\"a\":").starts_with("invalid JSON: EOF"));
    }
}
