//! A parser's working record: fields gathered while the line is borrowed, in the event's own
//! representation (ranges into the line, a scratch buffer), then moved into an [`Event`] that
//! takes ownership of the line. Nothing is copied twice.

use crate::event::{push_item, resolve, Event, Field, Origin, Text, Value};

/// Fields of an event under construction.
#[derive(Default)]
pub struct Draft {
    fields: Vec<Field>,
    scratch: String,
    /// When the event happened, epoch ms UTC.
    pub timestamp: Option<i64>,
}

/// The bytes first allocated for a draft's fields: room for the 20 to 27 fields of a parsed
/// audit event. 1,792 is one of jemalloc's size classes whose slabs hold 16 regions, so its
/// per-thread cache holds 32 of them; the 2,048-byte class holds 4 per slab and 8 in the
/// cache. Events are allocated by the parse workers and freed by the sinks on other threads,
/// so each allocation is refilled from and flushed to the arena: with 32 fields of 64 bytes
/// (2,048), allocating and freeing a draft's fields cost 1,000 and 270 instructions, against
/// 210 and 140 at 1,792 (callgrind, the TPS workload).
const FIELDS_BYTES: usize = 1792;

impl Draft {
    /// An empty draft.
    #[must_use]
    pub fn new() -> Self {
        Self {
            fields: Vec::with_capacity(FIELDS_BYTES / std::mem::size_of::<Field>()),
            scratch: String::new(),
            timestamp: None,
        }
    }

    /// A handle for `value`: a range of `line` when it is a slice of it, else a copy.
    fn text(&mut self, line: &str, value: &str) -> Text {
        if let Some(t) = Text::within(line, value) {
            return t;
        }
        self.reserve(value.len());
        let start = self.scratch.len() as u32;
        self.scratch.push_str(value);
        Text::Scratch(crate::event::Slice::new(start, self.scratch.len() as u32))
    }

    /// Room for `more` bytes of scratch: a first use takes a block most events never outgrow,
    /// rather than growing a few bytes at a time.
    fn reserve(&mut self, more: usize) {
        if self.scratch.capacity() == 0 {
            self.scratch.reserve(more.max(256));
        }
    }

    fn set(&mut self, key: Text, value: Value) {
        self.fields.push(Field { key, value });
    }

    /// Sets `key` to `value`, a slice of `line` (kept as a range) or any other string.
    pub fn str(&mut self, key: &'static str, line: &str, value: &str) {
        let t = self.text(line, value);
        self.set(Text::Static(key), Value::Str(t));
    }

    /// Sets `key` to a constant.
    pub fn constant(&mut self, key: &'static str, value: &'static str) {
        self.set(Text::Static(key), Value::Str(Text::Static(value)));
    }

    /// Sets `key` to a string built by the parser.
    // Callers hand over strings they just built (`format!`); taking them keeps call sites plain.
    #[allow(clippy::needless_pass_by_value)]
    pub fn owned(&mut self, key: &'static str, value: String) {
        let t = self.text("", &value);
        self.set(Text::Static(key), Value::Str(t));
    }

    /// Sets `key` to an integer.
    pub fn int(&mut self, key: &'static str, value: i64) {
        self.set(Text::Static(key), Value::Int(value));
    }

    /// Sets `key` to a boolean.
    pub fn bool(&mut self, key: &'static str, value: bool) {
        self.set(Text::Static(key), Value::Bool(value));
    }

    /// Sets `key` to an instant (epoch ms).
    pub fn time(&mut self, key: &'static str, ms: i64) {
        self.set(Text::Static(key), Value::Time(ms));
    }

    /// Sets `prefix.name` (a vendor field whose name comes from the line). The key is a kept
    /// constant ([`super::keys`]) unless the table of them is full, then spelt in scratch.
    pub fn dynamic(&mut self, prefix: &'static str, line: &str, name: &str, value: &str) {
        let key = if let Some(key) = super::keys::interned(prefix, name) {
            Text::Static(key)
        } else {
            self.reserve(prefix.len() + 1 + name.len());
            let start = self.scratch.len() as u32;
            self.scratch.push_str(prefix);
            self.scratch.push('.');
            self.scratch.push_str(name);
            Text::Scratch(crate::event::Slice::new(start, self.scratch.len() as u32))
        };
        let v = self.text(line, value);
        self.set(key, Value::Str(v));
    }

    /// Sets `key` to the list `items`, in order and with repeats (arguments, not a set).
    pub fn list(&mut self, key: &'static str, line: &str, items: &[&str]) {
        let items = items.iter().map(|i| self.text(line, i)).collect();
        self.set(Text::Static(key), Value::List(items));
    }

    /// Appends to the list `key`; an item already in the list is not added again.
    pub fn push(&mut self, key: &'static str, line: &str, value: &str) {
        let item = self.text(line, value);
        self.push_text(key, line, item);
    }

    /// Appends a constant to the list `key`.
    pub fn push_constant(&mut self, key: &'static str, value: &'static str) {
        self.push_text(key, "", Text::Static(value));
    }

    fn push_text(&mut self, key: &'static str, line: &str, item: Text) {
        let scratch = self.scratch.as_str();
        push_item(&mut self.fields, key, item, |t| resolve(line, scratch, t));
    }

    /// Sets the list `key` to constants (a table's categories); adds to it if already set.
    pub fn names(&mut self, key: &'static str, names: &'static [&'static str]) {
        let exists = self
            .fields
            .iter()
            .any(|f| matches!(f.key, Text::Static(k) if k == key));
        if exists {
            for name in names {
                self.push_constant(key, name);
            }
        } else if !names.is_empty() {
            self.set(Text::Static(key), Value::Names(names));
        }
    }

    /// Adds a tag.
    pub fn tag(&mut self, tag: &'static str) {
        self.push_constant("tags", tag);
    }

    /// Builds the event, which takes ownership of `record` (the line the draft was built from).
    #[must_use]
    pub fn finish(self, record: String, origin: Origin, created: i64) -> Event {
        Event::from_parts(
            record,
            self.scratch,
            self.fields,
            origin,
            created,
            self.timestamp,
        )
    }
}
