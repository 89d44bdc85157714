//! Write plans for ECS JSON, cached per event shape: events with the same keys in the same order
//! (one parser, one event type) are written by one plan, made once by sorting and nesting their
//! keys. A plan is the JSON punctuation and pre-escaped keys between values, so writing an event
//! is copying those bytes and its values, with no sorting, key escaping or nesting work.
//! Constant values (a static string, a table's category list, the file path) are part of the
//! shape and written into the plan too: only the values that vary are copied per event.
//!
//! Plans are kept in a map by shape hash. They were kept in 512 slots, one per hash value
//! modulo 512, a plan replacing the one in its slot: two shapes of one source falling into one
//! slot (as likely as not among 30 shapes, and decided by where the linker put the parsers'
//! constant keys) had every event of theirs make its plan again, 15,000 instructions each.

use std::borrow::Cow;
use std::cell::RefCell;

use crate::source::fingerprint::fnv1a;

use crate::encode::escape::{copy_run, needs_escape, write_json_body, write_json_str, EscapeMap};
use crate::event::{Event, Text, Value, ValueRef};

/// Plans kept per thread at most; past it they are all dropped and made again as needed.
const MAX_PLANS: usize = 512;

/// The map's hasher: the key is a shape hash already, folded so that its low bits (the map's
/// bucket) depend on all of its bits, not only on the low bits of what it was made from.
#[derive(Default)]
struct ShapeHasher(u64);

impl std::hash::Hasher for ShapeHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Plans = std::collections::HashMap<u64, Plan, std::hash::BuildHasherDefault<ShapeHasher>>;

/// The fields every event writes itself, after its own fields, so that they win over a field of
/// the same name. The last two only when the event came from a file.
const OWN_KEYS: [&str; 5] = [
    "@timestamp",
    "event.created",
    "event.original",
    "log.file.path",
    "log.offset",
];

/// The position of `event.original` in `OWN_KEYS`.
const OWN_ORIGINAL: usize = 2;

/// The position of `log.file.path` in `OWN_KEYS`.
const OWN_PATH: usize = 3;

/// A key as a plan remembers it: a constant by address (the same constant is the same key), or
/// a key built at run time by its text.
enum KeySig {
    Static(usize, usize),
    Owned(Box<str>),
}

/// A value as a plan remembers it. Constants (a static string, a table's category list) are
/// written into the plan itself, known by address like constant keys; of any other value only
/// its kind, which decides the punctuation around it (a string's quotes are in the plan).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueSig {
    Text(usize, usize),
    Names(usize, usize),
    Kind(u8),
}

impl ValueSig {
    fn of(value: &Value) -> Self {
        match value {
            Value::Str(Text::Static(s)) => ValueSig::Text(s.as_ptr() as usize, s.len()),
            Value::Names(names) => ValueSig::Names(names.as_ptr() as usize, names.len()),
            Value::Str(_) => ValueSig::Kind(0),
            Value::List(_) => ValueSig::Kind(1),
            Value::Int(_) => ValueSig::Kind(2),
            Value::Bool(_) => ValueSig::Kind(3),
            Value::Time(_) => ValueSig::Kind(4),
            Value::Json(_) => ValueSig::Kind(5),
        }
    }

    fn hash_part(self) -> u64 {
        match self {
            ValueSig::Text(at, len) => (at as u64) ^ ((len as u64) << 48),
            ValueSig::Names(at, len) => ((at as u64) ^ ((len as u64) << 48)).rotate_left(1),
            ValueSig::Kind(k) => u64::from(k),
        }
    }
}

/// What goes between two runs of a plan's bytes.
#[derive(Clone, Copy)]
enum Step {
    /// The inside of field `i`'s string (its quotes are in the plan).
    Body(u32),
    /// Field `i`'s list of strings.
    List(u32),
    /// The inside of the original text's string.
    Original,
    /// Entry `i` written whole (numbers, times, fragments).
    Value(u32),
}

/// How to write events of one shape.
pub(crate) struct Plan {
    hash: u64,
    keys: Vec<(KeySig, ValueSig)>,
    own: usize,
    /// The file path written into the plan (`log.file.path`), when the events have one.
    path: Option<Box<str>>,
    /// Everything but the values that vary: `{"@timestamp":` … `,"event":{"action":"` … `"}}`.
    bytes: Vec<u8>,
    /// Per varying value in output order: what it is, and where in `bytes` its prefix ends.
    steps: Vec<(Step, u32)>,
}

thread_local! {
    static PLANS: RefCell<Plans> = RefCell::new(Plans::default());
    static MAP: RefCell<EscapeMap> = RefCell::new(EscapeMap::default());
}

/// Indices of `names` sorted by name, keeping only the last of equal names (a later value of
/// a key wins); the sort is stable, so among equal names the later one comes last.
fn last_of_equal_keys<'a>(names: &'a [Cow<'a, str>]) -> Vec<(&'a str, u32)> {
    let mut entries: Vec<(&str, u32)> = names
        .iter()
        .enumerate()
        .map(|(i, key)| (key.as_ref(), i as u32))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut kept: Vec<(&str, u32)> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if entries.get(i + 1).is_some_and(|next| next.0 == e.0) {
            continue;
        }
        kept.push(*e);
    }
    kept
}

/// The key under which a value is kept when its key is also the parent of other keys.
pub const PARENT_VALUE_KEY: &str = "_value";

/// The one rule for a key that is both a value and an object (`user = "alice"` and
/// `user.name = "bob"`; JSON would need the key `user` twice, which Elasticsearch refuses):
/// the object wins the key and the value moves inside it, under `_value`
/// (`"user":{"_value":"alice","name":"bob"}`). Nothing is dropped and no output has a key
/// twice. Applied until no such key is left (a moved value may meet a `_value` parent).
fn resolve_parents(mut names: Vec<Cow<'_, str>>) -> Vec<Cow<'_, str>> {
    for _ in 0..8 {
        let kept = last_of_equal_keys(&names);
        let sorted: Vec<&str> = kept.iter().map(|k| k.0).collect();
        let parents: Vec<String> = kept
            .iter()
            .filter(|(key, _)| {
                // Keys under `key.` are contiguous in sorted order, right after `key.` itself.
                let child = format!("{key}.");
                let at = sorted.partition_point(|k| *k < child.as_str());
                sorted.get(at).is_some_and(|k| k.starts_with(&child))
            })
            .map(|k| k.0.to_owned())
            .collect();
        if parents.is_empty() {
            break;
        }
        // Every entry of a parent key moves (shadowed ones too, so that the last value still
        // wins among them under the new key).
        for name in &mut names {
            if parents.iter().any(|p| p == name.as_ref()) {
                *name = Cow::Owned(format!("{name}.{PARENT_VALUE_KEY}"));
            }
        }
    }
    names
}

/// Writes `event` as nested ECS JSON with the plan for its shape, making the plan if needed.
pub(crate) fn write(event: &Event, out: &mut Vec<u8>) {
    let own = own_count(event);
    let hash = shape_hash(event, own);
    PLANS.with(|plans| {
        let mut plans = plans.borrow_mut();
        if plans.len() >= MAX_PLANS && !plans.contains_key(&hash) {
            plans.clear();
        }
        let plan = plans
            .entry(hash)
            .or_insert_with(|| Plan::make(event, hash, own));
        // Another shape with the same hash: made again, in its place.
        if !plan.matches(event, hash, own) {
            *plan = Plan::make(event, hash, own);
        }
        MAP.with(|map| plan.write(event, &mut map.borrow_mut(), out));
    });
}

fn own_count(event: &Event) -> usize {
    if event.origin.path.is_some() {
        5
    } else {
        3
    }
}

fn shape_hash(event: &Event, own: usize) -> u64 {
    let mut hash = own as u64;
    for field in &event.fields {
        let key = match field.key {
            Text::Static(s) => (s.as_ptr() as u64) ^ ((s.len() as u64) << 48),
            other => fnv1a(event.text(other).as_bytes()),
        };
        let part = key ^ ValueSig::of(&field.value).hash_part().rotate_left(29);
        hash = (hash.rotate_left(5) ^ part).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    hash
}

/// The value of entry `i`: the event's fields, then its own (`OWN_KEYS`).
fn entry(event: &Event, i: usize) -> ValueRef<'_> {
    let n = event.fields.len();
    if i < n {
        return event.view(&event.fields[i].value);
    }
    match i - n {
        0 => ValueRef::Time(event.timestamp.unwrap_or(event.created)),
        1 => ValueRef::Time(event.created),
        OWN_ORIGINAL => ValueRef::Str(&event.original),
        OWN_PATH => ValueRef::Str(event.origin.path.as_deref().unwrap_or("")),
        _ => ValueRef::Int(event.origin.offset as i64),
    }
}

impl Plan {
    fn matches(&self, event: &Event, hash: u64, own: usize) -> bool {
        self.hash == hash
            && self.own == own
            && self.keys.len() == event.fields.len()
            && self.path.as_deref() == event.origin.path.as_deref()
            && self
                .keys
                .iter()
                .zip(&event.fields)
                .all(|((key, value), field)| {
                    let same_key = match (key, field.key) {
                        (KeySig::Static(at, len), Text::Static(s)) => {
                            *at == s.as_ptr() as usize && *len == s.len()
                        }
                        (KeySig::Owned(k), Text::Original(..) | Text::Scratch(..)) => {
                            **k == *event.text(field.key)
                        }
                        _ => false,
                    };
                    same_key && *value == ValueSig::of(&field.value)
                })
    }

    fn make(event: &Event, hash: u64, own: usize) -> Plan {
        #[cfg(test)]
        tests::MADE.set(tests::MADE.get() + 1);
        let keys = event
            .fields
            .iter()
            .map(|f| {
                let key = match f.key {
                    Text::Static(s) => KeySig::Static(s.as_ptr() as usize, s.len()),
                    other => KeySig::Owned(event.text(other).into()),
                };
                (key, ValueSig::of(&f.value))
            })
            .collect();
        let names: Vec<Cow<'_, str>> = event
            .fields
            .iter()
            .map(|f| Cow::Borrowed(event.text(f.key)))
            .chain(OWN_KEYS[..own].iter().map(|k| Cow::Borrowed(*k)))
            .collect();
        let names = resolve_parents(names);
        let kept = last_of_equal_keys(&names);
        let mut plan = Plan {
            hash,
            keys,
            own,
            path: event.origin.path.as_deref().map(Box::from),
            bytes: Vec::with_capacity(256),
            steps: Vec::with_capacity(kept.len()),
        };
        plan.nest(event, &kept);
        plan
    }

    /// Lays out sorted dotted keys as nested objects. Keys sharing a prefix are contiguous in
    /// lexicographic order, so one pass suffices: compare each key with the previous one, close
    /// the objects they do not share, open the ones the new key needs.
    fn nest(&mut self, event: &Event, entries: &[(&str, u32)]) {
        let mut prev: &str = "";
        let mut first = true;
        self.bytes.push(b'{');
        for &(key, index) in entries {
            let out = &mut self.bytes;
            let kb = key.as_bytes();
            let pb = prev.as_bytes();
            let same = kb.iter().zip(pb).take_while(|(a, b)| a == b).count();
            // The shared parent path ends at the last dot inside the shared bytes, provided the
            // previous key does continue past it (it is then a dot of both keys).
            let shared_parent = kb[..same]
                .iter()
                .rposition(|&b| b == b'.')
                .map_or(0, |i| i + 1);
            for _ in pb[shared_parent..].iter().filter(|&&b| b == b'.') {
                out.push(b'}');
                first = false;
            }
            let mut rest = &key[shared_parent..];
            while let Some(dot) = rest.find('.') {
                if !first {
                    out.push(b',');
                }
                write_json_str(&rest[..dot], out);
                out.extend_from_slice(b":{");
                first = true;
                rest = &rest[dot + 1..];
            }
            if !first {
                out.push(b',');
            }
            write_json_str(rest, out);
            out.push(b':');
            self.place(event, index);
            first = false;
            prev = key;
        }
        let out = &mut self.bytes;
        for _ in prev.bytes().filter(|&b| b == b'.') {
            out.push(b'}');
        }
        out.push(b'}');
    }

    /// Writes entry `index`'s value into the plan when it is a constant, else the step that
    /// writes it (with a string's quotes around the step).
    fn place(&mut self, event: &Event, index: u32) {
        let i = index as usize;
        let n = event.fields.len();
        let out = &mut self.bytes;
        let step = match event.fields.get(i).map(|f| &f.value) {
            Some(Value::Str(Text::Static(s))) => return write_json_str(s, out),
            Some(Value::Names(names)) => return write_value(ValueRef::Names(names), out),
            Some(Value::Str(_)) => Step::Body(index),
            Some(Value::List(_)) => Step::List(index),
            None if i - n == OWN_PATH => return write_value(entry(event, i), out),
            None if i - n == OWN_ORIGINAL => Step::Original,
            Some(_) | None => Step::Value(index),
        };
        let quoted = matches!(step, Step::Body(_) | Step::Original);
        if quoted {
            out.push(b'"');
        }
        self.steps.push((step, out.len() as u32));
        if quoted {
            out.push(b'"');
        }
    }

    fn write(&self, event: &Event, map: &mut EscapeMap, out: &mut Vec<u8>) {
        out.reserve(self.bytes.len() + 2 * event.original.len() + event.scratch.len() + 64);
        // One scan of the original finds the bytes that need escaping: the original is then
        // written from that map, and each value cut from it is copied as it is when no such
        // byte falls inside it. The scratch buffer needs one scan to tell whether it has any.
        map.scan(event.original.as_bytes());
        let clean = Clean {
            map,
            scratch: !needs_escape(event.scratch.as_bytes()),
        };
        let mut at = 0;
        for &(step, end) in &self.steps {
            copy_run(&self.bytes, at, end as usize, out);
            match step {
                Step::Body(i) => {
                    if let Some(Value::Str(t)) = event.fields.get(i as usize).map(|f| &f.value) {
                        clean.write_body(event, *t, out);
                    }
                }
                Step::List(i) => {
                    if let Some(Value::List(items)) = event.fields.get(i as usize).map(|f| &f.value)
                    {
                        out.push(b'[');
                        for (k, t) in items.iter().enumerate() {
                            if k > 0 {
                                out.push(b',');
                            }
                            out.push(b'"');
                            clean.write_body(event, *t, out);
                            out.push(b'"');
                        }
                        out.push(b']');
                    }
                }
                Step::Original => clean.map.write_body(&event.original, out),
                Step::Value(i) => write_value(entry(event, i as usize), out),
            }
            at = end as usize;
        }
        out.extend_from_slice(&self.bytes[at..]);
    }
}

/// What is known of an event's buffers: where the original needs escaping, and whether the
/// scratch buffer needs any.
struct Clean<'m> {
    map: &'m EscapeMap,
    scratch: bool,
}

impl Clean<'_> {
    /// Writes the inside of `text`'s JSON string: copied as it is when known to need no
    /// escaping.
    fn write_body(&self, event: &Event, text: Text, out: &mut Vec<u8>) {
        // Ranges are cut at character boundaries when made: read as bytes, not checked again.
        let (plain, buffer, start, end) = match text {
            Text::Original(r) => (
                self.map.is_clean(r.start() as usize, r.end() as usize),
                event.original.as_bytes(),
                r.start(),
                r.end(),
            ),
            Text::Scratch(r) => (self.scratch, event.scratch.as_bytes(), r.start(), r.end()),
            Text::Static(s) => return write_json_body(s.as_bytes(), out),
        };
        let Some(bytes) = buffer.get(start as usize..end as usize) else {
            return;
        };
        if plain {
            // Values are mostly short: a block copy, not a call to `memcpy` per value.
            copy_run(buffer, start as usize, end as usize, out);
        } else {
            write_json_body(bytes, out);
        }
    }
}

/// Writes one value as JSON.
fn write_value(value: ValueRef<'_>, out: &mut Vec<u8>) {
    match value {
        ValueRef::Str(s) => write_json_str(s, out),
        ValueRef::Json(s) => out.extend_from_slice(s.as_bytes()),
        ValueRef::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        ValueRef::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        ValueRef::Time(ms) => {
            out.push(b'"');
            crate::time::write_rfc3339(ms, out);
            out.push(b'"');
        }
        ValueRef::Names(names) => {
            out.push(b'[');
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(name, out);
            }
            out.push(b']');
        }
        ValueRef::List(event, items) => {
            out.push(b'[');
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(event.text(*t), out);
            }
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;

    thread_local! {
        /// Plans made on this thread (each test runs on its own thread).
        pub(super) static MADE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn event_with_label(name: &str) -> Event {
        let mut event = Event::new("line".into(), Origin::default(), 0);
        event.set_dynamic("labels", name, Value::Int(1));
        event
    }

    #[test]
    fn shapes_whose_hashes_share_their_low_bits_each_keep_their_plan() {
        // Two shapes with hashes equal modulo 512 (one slot, when plans were kept in 512 slots
        // by hash), written in turn: each plan is made once, not once per event.
        let first = event_with_label("k0");
        let own = own_count(&first);
        let slot = shape_hash(&first, own) % 512;
        let second = (1..100_000)
            .map(|i| event_with_label(&format!("k{i}")))
            .find(|e| shape_hash(e, own) % 512 == slot)
            .expect("a second shape in the same slot");
        let mut out = Vec::new();
        for _ in 0..50 {
            write(&first, &mut out);
            write(&second, &mut out);
        }
        assert_eq!(MADE.get(), 2, "one plan per shape");
        assert!(String::from_utf8(out)
            .unwrap()
            .contains(r#""labels":{"k0":1}"#));
    }
}
