//! Write plans for ECS JSON, cached per event shape: events with the same keys in the same order
//! (one parser, one event type) are written by one plan, made once by sorting and nesting their
//! keys. A plan is the JSON punctuation and pre-escaped keys between values, so writing an event
//! is copying those bytes and its values, with no sorting, key escaping or nesting work.

use std::cell::RefCell;

use crate::source::fingerprint::fnv1a;

use super::escape::{needs_escape, EscapeMap};
use super::{write_json_str, write_value, Event, Text, Value, ValueRef};

/// Plans kept per thread (direct-mapped by shape hash; a collision replaces the older plan).
const SLOTS: usize = 512;

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

/// A key as a plan remembers it: a constant by address (the same constant is the same key), or
/// a key built at run time by its text.
enum KeySig {
    Static(usize, usize),
    Owned(Box<str>),
}

/// How to write events of one shape.
pub(super) struct Plan {
    hash: u64,
    keys: Vec<KeySig>,
    own: usize,
    /// Everything but the values: `{"@timestamp":` … `,"event":{"action":` … `}}`.
    bytes: Vec<u8>,
    /// Per value in output order: which entry it is, and where in `bytes` its prefix ends.
    steps: Vec<(u32, u32)>,
}

thread_local! {
    static PLANS: RefCell<Vec<Option<Plan>>> = RefCell::new((0..SLOTS).map(|_| None).collect());
    static MAP: RefCell<EscapeMap> = RefCell::new(EscapeMap::default());
}

/// Writes `event` as nested ECS JSON with the plan for its shape, making the plan if needed.
pub(super) fn write(event: &Event, out: &mut Vec<u8>) {
    let own = own_count(event);
    let hash = shape_hash(event, own);
    PLANS.with(|plans| {
        let mut plans = plans.borrow_mut();
        let slot = &mut plans[(hash as usize) % SLOTS];
        if !slot
            .as_ref()
            .is_some_and(|plan| plan.matches(event, hash, own))
        {
            *slot = Some(Plan::make(event, hash, own));
        }
        if let Some(plan) = slot.as_ref() {
            MAP.with(|map| plan.write(event, &mut map.borrow_mut(), out));
        }
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
        let part = match field.key {
            Text::Static(s) => (s.as_ptr() as u64) ^ ((s.len() as u64) << 48),
            other => fnv1a(event.text(other).as_bytes()),
        };
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
        3 => ValueRef::Str(event.origin.path.as_deref().unwrap_or("")),
        _ => ValueRef::Int(event.origin.offset as i64),
    }
}

impl Plan {
    fn matches(&self, event: &Event, hash: u64, own: usize) -> bool {
        self.hash == hash
            && self.own == own
            && self.keys.len() == event.fields.len()
            && self
                .keys
                .iter()
                .zip(&event.fields)
                .all(|(sig, field)| match (sig, field.key) {
                    (KeySig::Static(at, len), Text::Static(s)) => {
                        *at == s.as_ptr() as usize && *len == s.len()
                    }
                    (KeySig::Owned(k), Text::Original(..) | Text::Scratch(..)) => {
                        **k == *event.text(field.key)
                    }
                    _ => false,
                })
    }

    fn make(event: &Event, hash: u64, own: usize) -> Plan {
        let keys = event
            .fields
            .iter()
            .map(|f| match f.key {
                Text::Static(s) => KeySig::Static(s.as_ptr() as usize, s.len()),
                other => KeySig::Owned(event.text(other).into()),
            })
            .collect();
        let mut entries: Vec<(&str, u32)> = event
            .fields
            .iter()
            .map(|f| event.text(f.key))
            .chain(OWN_KEYS[..own].iter().copied())
            .enumerate()
            .map(|(i, key)| (key, i as u32))
            .collect();
        // Stable: among equal keys the later entry stays last, and is the one kept.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut kept: Vec<(&str, u32)> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if entries.get(i + 1).is_some_and(|next| next.0 == e.0) {
                continue;
            }
            kept.push(*e);
        }
        let mut plan = Plan {
            hash,
            keys,
            own,
            bytes: Vec::with_capacity(256),
            steps: Vec::with_capacity(kept.len()),
        };
        plan.nest(&kept);
        plan
    }

    /// Lays out sorted dotted keys as nested objects. Keys sharing a prefix are contiguous in
    /// lexicographic order, so one pass suffices: compare each key with the previous one, close
    /// the objects they do not share, open the ones the new key needs.
    fn nest(&mut self, entries: &[(&str, u32)]) {
        let out = &mut self.bytes;
        let mut prev: &str = "";
        let mut first = true;
        out.push(b'{');
        for &(key, index) in entries {
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
            self.steps.push((index, out.len() as u32));
            first = false;
            prev = key;
        }
        for _ in prev.bytes().filter(|&b| b == b'.') {
            out.push(b'}');
        }
        out.push(b'}');
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
        let n = event.fields.len();
        let mut at = 0;
        for &(index, end) in &self.steps {
            out.extend_from_slice(&self.bytes[at..end as usize]);
            let index = index as usize;
            match event.fields.get(index).map(|f| &f.value) {
                Some(Value::Str(t)) => clean.write(event, *t, out),
                Some(Value::List(items)) => {
                    out.push(b'[');
                    for (i, t) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        clean.write(event, *t, out);
                    }
                    out.push(b']');
                }
                _ if index == n + OWN_ORIGINAL => clean.map.write(&event.original, out),
                _ => write_value(entry(event, index), out),
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
    fn write(&self, event: &Event, text: Text, out: &mut Vec<u8>) {
        let plain = match text {
            Text::Original(start, end) => self.map.is_clean(start as usize, end as usize),
            Text::Scratch(..) => self.scratch,
            Text::Static(_) => false,
        };
        write_str(event.text(text), plain, out);
    }
}

/// Writes `s` as a JSON string; `plain` when it is known to need no escaping.
fn write_str(s: &str, plain: bool, out: &mut Vec<u8>) {
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        write_json_str(s, out);
    }
}
