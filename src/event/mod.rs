//! The one record every stage passes on: ECS fields, the original text, and where it came from.
//!
//! Invariant: an event never holds a `serde_json::Value` tree. Field values are [`Text`] handles
//! that point into the event's own `original` line (zero-copy for values a parser can slice out
//! of the line) or into a per-event scratch string (values that needed unescaping or joining).
//! Keys are dotted ECS paths (`event.outcome`, `user.target.name`); the ECS encoder sorts
//! them and writes nested objects, as Elasticsearch stores ECS documents (the sorting and
//! nesting are done once per event shape: see `encode::ecs`).
//!
//! The [`Origin`] ties the event back to a byte range of a tailed file, so that an
//! acknowledgement can move that file's checkpoint (see `ack.rs`).

use std::sync::Arc;

pub(crate) mod document;

pub use crate::encode::escape::write_json_str;
pub use document::{is_path, within, DocumentError, Owned, OWN_PATHS};

/// A byte range of one of an event's buffers. Made only inside the crate (a handle cannot be
/// forged from outside) and read only through [`Event::text`], which checks it: a range that
/// does not fit its buffer reads as the empty string, never as other bytes or a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    start: u32,
    end: u32,
}

impl Slice {
    /// Bytes `start..end`.
    #[must_use]
    pub(crate) const fn new(start: u32, end: u32) -> Self {
        Self { start, end }
    }

    /// The first byte.
    #[must_use]
    pub(crate) const fn start(self) -> u32 {
        self.start
    }

    /// Just past the last byte.
    #[must_use]
    pub(crate) const fn end(self) -> u32 {
        self.end
    }
}

/// A string value of an event: a static name, or a range of the event's own buffers.
///
/// Handles are checked: one that does not fit its buffer reads as the empty string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    /// A constant, such as an ECS category name.
    Static(&'static str),
    /// A range of the event's original text.
    Original(Slice),
    /// A range of the event's scratch buffer.
    Scratch(Slice),
}

impl Text {
    /// The length of the text in bytes, without reading it.
    #[inline]
    #[must_use]
    pub fn len(self) -> usize {
        match self {
            Text::Static(s) => s.len(),
            Text::Original(r) | Text::Scratch(r) => r.end.saturating_sub(r.start) as usize,
        }
    }

    /// Whether the text is empty.
    #[inline]
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The range of `sub` inside `line`, when `sub` is a slice of `line`. Parsers work on the
    /// borrowed line and keep ranges; the event then owns a copy of the line, so the ranges
    /// stay valid without copying each value.
    #[must_use]
    pub fn within(line: &str, sub: &str) -> Option<Text> {
        let base = line.as_ptr() as usize;
        let at = sub.as_ptr() as usize;
        if at >= base && at + sub.len() <= base + line.len() {
            let start = (at - base) as u32;
            Some(Text::Original(Slice::new(start, start + sub.len() as u32)))
        } else {
            None
        }
    }
}

/// The items of a list value. One is held inline: most lists (`related.ip`, `related.user`)
/// have a single item, and a list allocated on its own was two of the six allocations of a
/// parsed Dogtag event (and two frees on the sink's thread).
pub type Items = smallvec::SmallVec<[Text; 1]>;

/// A field value. `List` holds ECS arrays (`event.category`, `tags`, `related.ip`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A JSON string.
    Str(Text),
    /// A JSON integer.
    Int(i64),
    /// A JSON boolean.
    Bool(bool),
    /// An instant in epoch milliseconds, written as RFC 3339 UTC.
    Time(i64),
    /// An array of strings.
    List(Items),
    /// An array of constants (a normalisation table's categories), without an allocation.
    Names(&'static [&'static str]),
    /// A JSON fragment written verbatim; only ever built from `serde_json` output.
    Json(Text),
}

/// A borrowed view of one field value, as conditions and encoders read it.
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An instant in epoch milliseconds.
    Time(i64),
    /// An array of strings.
    List(&'a Event, &'a [Text]),
    /// An array of constants.
    Names(&'static [&'static str]),
    /// A verbatim JSON fragment.
    Json(&'a str),
}

impl<'a> ValueRef<'a> {
    /// The string items of a list, or the value itself when it is a string.
    pub fn strings(self) -> impl Iterator<Item = &'a str> {
        let (event, list, names, single) = match self {
            ValueRef::List(event, list) => (Some(event), list, &[][..], None),
            ValueRef::Names(names) => (None, &[][..], names, None),
            ValueRef::Str(s) | ValueRef::Json(s) => (None, &[][..], &[][..], Some(s)),
            _ => (None, &[][..], &[][..], None),
        };
        single
            .into_iter()
            .chain(names.iter().copied())
            .chain(list.iter().filter_map(move |t| event.map(|e| e.text(*t))))
    }
}

/// Where an event came from: the byte range of its record in a tailed file.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The source component's name in the pipeline.
    pub source: Arc<str>,
    /// The file path the record was read from (`log.file.path`), if any.
    pub path: Option<Arc<str>>,
    /// The file's fingerprint (stable across renames); 0 for non-file input.
    pub file_id: u64,
    /// Byte offset of the record's first line (`log.offset`).
    pub offset: u64,
    /// Byte offset just past the record's last line terminator.
    pub end: u64,
}

/// One field: a dotted key and its value.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) key: Text,
    pub(crate) value: Value,
}

/// Asks the CPU to bring `items` into its cache, without waiting for them (a hint): the first
/// item of every cache line's worth from the start, then the last item, which together touch
/// every cache line the items lie on (items no larger than a line).
fn prefetch_all<T>(items: &[T]) {
    for item in items
        .iter()
        .step_by((CACHE_LINE / std::mem::size_of::<T>().max(1)).max(1))
    {
        mem_prefetch::prefetch_read_data::<_, 3>(item);
    }
    if let Some(last) = items.last() {
        mem_prefetch::prefetch_read_data::<_, 3>(last);
    }
}

/// The CPU's cache line, as prefetch hints count it.
const CACHE_LINE: usize = 64;

/// Yields `events`, each after asking the CPU for the next one's memory ([`Event::prefetch`]),
/// so that the next event's buffers arrive while the current one is written.
pub fn read_ahead<E: std::borrow::Borrow<Event>>(
    events: impl Iterator<Item = E>,
) -> impl Iterator<Item = E> {
    let mut events = events.peekable();
    std::iter::from_fn(move || {
        let event = events.next()?;
        if let Some(next) = events.peek() {
            next.borrow().prefetch();
        }
        Some(event)
    })
}

/// One audit event on its way through the pipeline.
#[derive(Clone, Debug)]
pub struct Event {
    pub(crate) original: String,
    pub(crate) scratch: String,
    pub(crate) fields: Vec<Field>,
    /// When the event happened (`@timestamp`), epoch ms UTC; `None` when the source did not say.
    pub timestamp: Option<i64>,
    /// When the agent read it (`event.created`), epoch ms UTC.
    pub created: i64,
    /// A second reading of an ambiguous local time (the repeated hour when summer time ends),
    /// for the per-file sequencer to choose from line order; never written out.
    pub alt_timestamp: Option<i64>,
    /// The record gave a time of day but no date (tagged `audit_date_assumed`): the per-file
    /// sequencer dates it from the line before; never written.
    pub date_assumed: bool,
    /// The key under which a sequencer merges records of one event (auditd); never written.
    pub group_key: Option<Box<str>>,
    /// Where it was read from.
    pub origin: Origin,
    /// A document rendered before (a replayed dead letter): written out as it is.
    rendered: Option<Box<str>>,
    /// The document id given by an earlier hop (a `kafka` source reading what an auditship
    /// `kafka` sink produced): sinks use it instead of computing one from the origin.
    pub(crate) id: Option<Box<str>>,
}

impl Event {
    /// A new event holding `original` with no fields yet.
    #[must_use]
    pub fn new(original: String, origin: Origin, created: i64) -> Self {
        Self {
            original,
            scratch: String::new(),
            fields: Vec::with_capacity(16),
            timestamp: None,
            created,
            alt_timestamp: None,
            date_assumed: false,
            group_key: None,
            origin,
            rendered: None,
            id: None,
        }
    }

    /// An event assembled by a parser's draft: `fields` and `scratch` refer to `original`.
    pub(crate) fn from_parts(
        original: String,
        scratch: String,
        fields: Vec<Field>,
        origin: Origin,
        created: i64,
        timestamp: Option<i64>,
    ) -> Self {
        Self {
            original,
            scratch,
            fields,
            timestamp,
            created,
            alt_timestamp: None,
            date_assumed: false,
            group_key: None,
            origin,
            rendered: None,
            id: None,
        }
    }

    /// The original record text (`event.original`).
    #[must_use]
    pub fn original(&self) -> &str {
        &self.original
    }

    /// Asks the CPU to bring this event's buffers (fields, original text, scratch) into its
    /// cache, without waiting for them: a hint, with no effect on what the program does. A
    /// sink calls it for the next event while it writes the current one. Events are built by
    /// the parse workers, often on the other core, and wait in the memory budget meanwhile: in
    /// `perf`, a fifth of the ECS writer's time sat on the first load of each field.
    pub fn prefetch(&self) {
        prefetch_all(&self.fields);
        prefetch_all(self.original.as_bytes());
        prefetch_all(self.scratch.as_bytes());
    }

    /// Replaces the original text (for redaction). Fields that pointed into the old text
    /// keep their values: the old text moves to the end of scratch once, and their handles
    /// move with it.
    pub fn set_original(&mut self, original: String) {
        let old = std::mem::replace(&mut self.original, original);
        let referenced = self.fields.iter().any(|f| {
            matches!(f.key, Text::Original(_))
                || match &f.value {
                    Value::Str(t) | Value::Json(t) => matches!(t, Text::Original(_)),
                    Value::List(items) => items.iter().any(|t| matches!(t, Text::Original(_))),
                    Value::Int(_) | Value::Bool(_) | Value::Time(_) | Value::Names(_) => false,
                }
        });
        if !referenced {
            return;
        }
        let base = self.scratch.len() as u32;
        self.scratch.push_str(&old);
        let moved = |t: &mut Text| {
            if let Text::Original(s) = *t {
                *t = Text::Scratch(Slice::new(base + s.start(), base + s.end()));
            }
        };
        for field in &mut self.fields {
            moved(&mut field.key);
            match &mut field.value {
                Value::Str(t) | Value::Json(t) => moved(t),
                Value::List(items) => items.iter_mut().for_each(moved),
                Value::Int(_) | Value::Bool(_) | Value::Time(_) | Value::Names(_) => {}
            }
        }
    }

    /// The string a [`Text`] handle stands for (empty if the handle is out of range).
    #[must_use]
    #[inline]
    pub fn text(&self, text: Text) -> &str {
        resolve(&self.original, &self.scratch, text)
    }

    /// Copies `s` into the scratch buffer and returns its handle.
    pub fn own(&mut self, s: &str) -> Text {
        let start = self.scratch.len() as u32;
        self.scratch.push_str(s);
        Text::Scratch(Slice::new(start, self.scratch.len() as u32))
    }

    /// Sets `key` to `value`, replacing an earlier value of the same key.
    pub fn set(&mut self, key: &'static str, value: Value) {
        self.set_keyed(Text::Static(key), value);
    }

    /// Sets a key built at run time (`prefix.name`), for vendor namespaces.
    pub fn set_dynamic(&mut self, prefix: &str, name: &str, value: Value) {
        let start = self.scratch.len() as u32;
        self.scratch.push_str(prefix);
        self.scratch.push('.');
        self.scratch.push_str(name);
        let key = Text::Scratch(Slice::new(start, self.scratch.len() as u32));
        self.set_keyed(key, value);
    }

    /// Sets a top-level key built at run time (generic JSON).
    pub fn set_dynamic_root(&mut self, name: &str, value: Value) {
        let key = self.own(name);
        self.set_keyed(key, value);
    }

    /// Setting is O(1): a later value of the same key shadows an earlier one (readers look
    /// from the end, the writer keeps the last of equal keys).
    fn set_keyed(&mut self, key: Text, value: Value) {
        self.fields.push(Field { key, value });
    }

    /// Sets a string field to a copy of `value` (parsers prefer [`Text::within`] ranges).
    pub fn set_str(&mut self, key: &'static str, value: &str) {
        let text = self.own(value);
        self.set(key, Value::Str(text));
    }

    /// Appends `item` to the list field `key`, creating it; a repeated item is not added again.
    pub fn push(&mut self, key: &'static str, item: Text) {
        let (original, scratch) = (self.original.as_str(), self.scratch.as_str());
        push_item(&mut self.fields, key, item, |t| {
            resolve(original, scratch, t)
        });
    }

    /// Adds a tag (`tags`), such as `audit_parse_failure`.
    pub fn add_tag(&mut self, tag: &'static str) {
        self.push("tags", Text::Static(tag));
    }

    /// Removes a field; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.fields.len();
        let mut kept = std::mem::take(&mut self.fields);
        kept.retain(|f| self.text(f.key) != key);
        self.fields = kept;
        self.fields.len() != before
    }

    /// Reads a field by its dotted ECS path, including the fields the event writes itself.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<ValueRef<'_>> {
        match key {
            "@timestamp" => return Some(ValueRef::Time(self.timestamp.unwrap_or(self.created))),
            "event.created" => return Some(ValueRef::Time(self.created)),
            "event.original" => return Some(ValueRef::Str(&self.original)),
            "log.file.path" => return self.origin.path.as_deref().map(ValueRef::Str),
            "log.offset" => return Some(ValueRef::Int(self.origin.offset as i64)),
            _ => {}
        }
        let field = self.fields.iter().rev().find(|f| self.text(f.key) == key)?;
        Some(self.view(&field.value))
    }

    /// [`Event::get`] of every key of `keys` at once, into `out` (as long as the set), in one
    /// pass over the fields: what detection reads of every event. A field is compared only
    /// with the wanted keys of its length that are still missing.
    pub fn get_many<'a>(&'a self, keys: &KeySet, out: &mut [Option<ValueRef<'a>>]) {
        for &i in &keys.special {
            out[i] = self.get(&keys.keys[i]);
        }
        let Some(mut missing) = keys.fields else {
            // More keys than the masks hold: one lookup each.
            for (key, slot) in keys.keys.iter().zip(out.iter_mut()) {
                *slot = self.get(key);
            }
            return;
        };
        // The last value of a key wins, as in `get`: read backwards, fill each slot once.
        for field in self.fields.iter().rev() {
            if missing == 0 {
                return;
            }
            let mut candidates = keys.by_len.get(field.key.len()).copied().unwrap_or(0) & missing;
            if candidates == 0 {
                continue;
            }
            let name = self.text(field.key);
            while candidates != 0 {
                let i = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                if keys.keys[i] == name {
                    out[i] = Some(self.view(&field.value));
                    missing &= !(1u64 << i);
                    break;
                }
            }
        }
    }

    pub(crate) fn view<'a>(&'a self, value: &'a Value) -> ValueRef<'a> {
        match value {
            Value::Str(t) => ValueRef::Str(self.text(*t)),
            Value::Json(t) => ValueRef::Json(self.text(*t)),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Time(t) => ValueRef::Time(*t),
            Value::List(items) => ValueRef::List(self, items),
            Value::Names(names) => ValueRef::Names(names),
        }
    }

    /// Whether the event carries `tag`.
    #[must_use]
    pub fn has_tag(&self, tag: &str) -> bool {
        self.get("tags")
            .is_some_and(|v| v.strings().any(|t| t == tag))
    }

    /// A rough count of the heap bytes this event holds, for the memory budget.
    #[must_use]
    pub fn approx_bytes(&self) -> usize {
        self.original.len()
            + self.scratch.len()
            + self.fields.capacity() * std::mem::size_of::<Field>()
            + std::mem::size_of::<Self>()
    }

    /// Appends the event as one ECS JSON object (nested, keys sorted, no newline) to `out`:
    /// the ECS encoder (`encode::ecs`), which every sink uses today. A later value of a key
    /// wins over an earlier one; the fields the event writes itself (`@timestamp`,
    /// `event.created`, `event.original`, `log.*`) win over all.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        crate::encode::ecs::write(self, out);
    }

    /// The document as it was rendered before (a replayed dead letter), if any.
    pub(crate) fn rendered(&self) -> Option<&str> {
        self.rendered.as_deref()
    }

    /// An event for an ECS document written before (a dead letter being replayed): written
    /// out exactly as `document` (one JSON object), with its `event.original`, `@timestamp`,
    /// `event.created` and `log.*` read back and its fields readable (index templates,
    /// conditions). Fails when `document` is not a JSON object.
    pub fn from_rendered(document: &str, source: &Arc<str>) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(document).map_err(|e| format!("not JSON: {e}"))?;
        let serde_json::Value::Object(map) = value else {
            return Err("not a JSON object".to_owned());
        };
        let (path, offset) = log_of(&map);
        let origin = Origin {
            source: source.clone(),
            // The file's fingerprint is not in the document: its path stands in, so that
            // equal lines at equal offsets of two files keep distinct document ids.
            file_id: path.map_or(0, |p| crate::source::fingerprint::fnv1a(p.as_bytes())),
            path: path.map(Arc::from),
            offset,
            end: 0,
        };
        let mut event = Self::from_document(&map, document, origin, crate::time::now_ms());
        event.rendered = Some(document.into());
        Ok(event)
    }

    /// An event for the ECS document `map` (whose text is `document`) that an auditship wrote:
    /// `event.original` (the document itself when it has none), `@timestamp` and
    /// `event.created` (`created` when it has none) become the event's own, every other leaf a
    /// field, so that writing the event gives the document back (keys sorted). When `origin`
    /// names a file, `log.file.path` and `log.offset` are the origin's (see [`log_of`]).
    #[must_use]
    pub fn from_document(
        map: &serde_json::Map<String, serde_json::Value>,
        document: &str,
        origin: Origin,
        created: i64,
    ) -> Self {
        let str_at = |path: &[&str]| {
            let mut v = map.get(path[0])?;
            for key in &path[1..] {
                v = v.get(key)?;
            }
            v.as_str()
        };
        let original = str_at(&["event", "original"])
            .unwrap_or(document)
            .to_owned();
        let created = str_at(&["event", "created"])
            .and_then(crate::time::parse_rfc3339)
            .unwrap_or(created);
        let from_file = origin.path.is_some();
        let mut event = Self::new(original, origin, created);
        event.timestamp = str_at(&["@timestamp"]).and_then(crate::time::parse_rfc3339);
        crate::parse::json::flatten_into(map, &mut event);
        // What the event writes itself is not kept twice.
        let own: &[&str] = if from_file {
            &[
                "@timestamp",
                "event.created",
                "event.original",
                "log.file.path",
                "log.offset",
            ]
        } else {
            &["@timestamp", "event.created", "event.original"]
        };
        let mut fields = std::mem::take(&mut event.fields);
        fields.retain(|f| !own.contains(&event.text(f.key)));
        event.fields = fields;
        event
    }

    /// The document id an earlier hop gave this event, if any.
    #[must_use]
    pub fn given_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Keeps `id` as the event's document id (see [`Event::given_id`]) when it is one an
    /// auditship could have written (1 to 128 of `[A-Za-z0-9._:-]`); false otherwise.
    pub fn set_given_id(&mut self, id: &str) -> bool {
        let fits = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if fits {
            self.id = Some(id.into());
        }
        fits
    }

    /// The event as an ECS JSON string.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(256 + self.original.len() * 2);
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `log.file.path` and `log.offset` (0 when absent) of an ECS document.
#[must_use]
pub fn log_of(map: &serde_json::Map<String, serde_json::Value>) -> (Option<&str>, u64) {
    let log = map.get("log");
    let path = log
        .and_then(|l| l.get("file"))
        .and_then(|f| f.get("path"))
        .and_then(serde_json::Value::as_str);
    let offset = log
        .and_then(|l| l.get("offset"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    (path, offset)
}

/// The string a [`Text`] handle stands for, given the buffers it may point into.
/// Keys looked up together ([`Event::get_many`]), indexed by length once rather than per event.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<String>,
    /// The keys `get` answers without the fields (`@timestamp`, `event.original`, ...).
    special: Vec<usize>,
    /// Per key length: a bit per key (by place) of that length, for the keys read from the
    /// fields.
    by_len: Vec<u64>,
    /// A bit per key read from the fields; `None` past 64 keys.
    fields: Option<u64>,
}

impl KeySet {
    /// The set of `keys`, each answered at its place in `keys`.
    #[must_use]
    pub fn new(keys: &[String]) -> Self {
        let special_key = |k: &str| {
            matches!(
                k,
                "@timestamp" | "event.created" | "event.original" | "log.file.path" | "log.offset"
            )
        };
        let mut set = Self {
            keys: keys.to_vec(),
            special: Vec::new(),
            by_len: Vec::new(),
            fields: (keys.len() <= 64).then_some(0),
        };
        for (i, key) in keys.iter().enumerate() {
            if special_key(key) {
                set.special.push(i);
                continue;
            }
            if let Some(bits) = set.fields.as_mut() {
                *bits |= 1u64 << i;
                if set.by_len.len() <= key.len() {
                    set.by_len.resize(key.len() + 1, 0);
                }
                set.by_len[key.len()] |= 1u64 << i;
            }
        }
        if set.fields.is_none() {
            set.special.clear();
        }
        set
    }

    /// How many keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[inline]
pub(crate) fn resolve<'a>(original: &'a str, scratch: &'a str, text: Text) -> &'a str {
    match text {
        Text::Static(s) => s,
        Text::Original(r) => original.get(r.start as usize..r.end as usize).unwrap_or(""),
        Text::Scratch(r) => scratch.get(r.start as usize..r.end as usize).unwrap_or(""),
    }
}

/// Appends `item` to the list `key` of `fields`, creating it (a constant array becomes a list
/// when something is added to it); an item already in the list is not added again.
pub(crate) fn push_item<'a>(
    fields: &mut Vec<Field>,
    key: &'static str,
    item: Text,
    text: impl Fn(Text) -> &'a str,
) {
    // The same constant is mostly the same address; otherwise lengths and first bytes rule
    // out most keys before the text is compared.
    let same_key = |k: Text| match k {
        Text::Static(s) => {
            std::ptr::eq(s, key)
                || (s.len() == key.len()
                    && s.as_bytes().first() == key.as_bytes().first()
                    && s == key)
        }
        other => text(other) == key,
    };
    let Some(i) = fields.iter().rposition(|f| same_key(f.key)) else {
        fields.push(Field {
            key: Text::Static(key),
            value: Value::List(smallvec::smallvec![item]),
        });
        return;
    };
    let wanted = text(item);
    let value = &mut fields[i].value;
    match value {
        Value::List(items) => {
            if !items.iter().any(|t| text(*t) == wanted) {
                items.push(item);
            }
        }
        Value::Names(names) => {
            if !names.contains(&wanted) {
                let mut items: Items = names.iter().map(|n| Text::Static(n)).collect();
                items.push(item);
                *value = Value::List(items);
            }
        }
        other => *other = Value::List(smallvec::smallvec![item]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Event {
        let origin = Origin {
            source: Arc::from("src"),
            path: Some(Arc::from("/var/log/a.log")),
            file_id: 7,
            offset: 120,
            end: 160,
        };
        Event::new(line.to_owned(), origin, 1_750_000_000_000)
    }

    #[test]
    fn reading_ahead_yields_every_event_once_in_order() {
        let mut events: Vec<Event> = ["a", "b", "c"].into_iter().map(event).collect();
        events[1].set_str("user.name", "alice");
        let seen: Vec<&str> = read_ahead(events.iter()).map(Event::original).collect();
        assert_eq!(seen, ["a", "b", "c"]);
        let owned: Vec<String> = read_ahead(events.into_iter())
            .map(|e| e.original().to_owned())
            .collect();
        assert_eq!(owned, ["a", "b", "c"]);
        assert_eq!(read_ahead(std::iter::empty::<Event>()).count(), 0);
    }

    #[test]
    fn nested_objects_are_written_from_dotted_keys() {
        let line = "user=alice outcome=failure";
        let mut e = event(line);
        e.set(
            "user.name",
            Value::Str(Text::within(line, &line[5..10]).unwrap()),
        );
        e.set("event.outcome", Value::Str(Text::Static("failure")));
        e.set("user.target.name", Value::Str(Text::Static("bob")));
        e.push("event.category", Text::Static("authentication"));
        e.timestamp = Some(0);
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["user"]["name"], "alice");
        assert_eq!(json["user"]["target"]["name"], "bob");
        assert_eq!(json["event"]["outcome"], "failure");
        assert_eq!(json["event"]["category"][0], "authentication");
        assert_eq!(json["@timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(json["event"]["created"], "2025-06-15T15:06:40.000Z");
        assert_eq!(json["log"]["offset"], 120);
        assert_eq!(json["log"]["file"]["path"], "/var/log/a.log");
        assert_eq!(json["event"]["original"], "user=alice outcome=failure");
    }

    #[test]
    fn many_fields_read_at_once_agree_with_reading_each() {
        let mut e = event("x");
        e.set("event.action", Value::Str(Text::Static("LOGIN")));
        e.set("user.name", Value::Str(Text::Static("alice")));
        e.set("event.action", Value::Str(Text::Static("LOGOUT")));
        e.set_keyed(
            Text::Static("event.action"),
            Value::Str(Text::Static("LAST")),
        );
        e.set("user.xame", Value::Str(Text::Static("same length")));
        let mut keys: Vec<String> = [
            "user.name",
            "missing",
            "event.action",
            "log.offset",
            "user.xame",
        ]
        .map(String::from)
        .to_vec();
        let show = |v: &[Option<ValueRef<'_>>]| format!("{v:?}");
        let check = |keys: &[String]| {
            let mut out = vec![None; keys.len()];
            e.get_many(&KeySet::new(keys), &mut out);
            let each: Vec<Option<ValueRef<'_>>> = keys.iter().map(|k| e.get(k)).collect();
            assert_eq!(show(&out), show(&each));
            assert!(matches!(out[2], Some(ValueRef::Str("LAST"))), "{out:?}");
            assert!(matches!(out[0], Some(ValueRef::Str("alice"))), "{out:?}");
            assert!(out[1].is_none());
        };
        check(&keys);
        // Past 64 keys, each is looked up on its own, with the same answers.
        keys.extend((0..70).map(|i| format!("labels.k{i}")));
        check(&keys);
    }

    #[test]
    fn slices_of_the_parsed_line_become_ranges_of_the_original() {
        let line = "type=LOGIN realm=corp";
        let text = Text::within(line, &line[5..10]).unwrap();
        assert_eq!(text, Text::Original(Slice::new(5, 10)));
        let e = Event::new(line.to_owned(), Origin::default(), 0);
        assert_eq!(e.text(text), "LOGIN");
        let elsewhere = String::from("LOGIN");
        assert_eq!(Text::within(line, &elsewhere), None);
    }

    #[test]
    fn setting_a_key_twice_replaces_it_and_lists_do_not_repeat() {
        let mut e = event("x");
        e.set("event.outcome", Value::Str(Text::Static("unknown")));
        e.set("event.outcome", Value::Str(Text::Static("success")));
        e.add_tag("t1");
        e.add_tag("t1");
        e.add_tag("t2");
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["event"]["outcome"], "success");
        assert_eq!(json["tags"], serde_json::json!(["t1", "t2"]));
        assert!(e.has_tag("t2"));
    }

    #[test]
    fn redacting_the_original_keeps_field_values() {
        let mut e = event("user=alice pin=1234");
        e.fields.push(Field {
            key: Text::Static("user.name"),
            value: Value::Str(Text::Original(Slice::new(5, 10))),
        });
        e.set_original("user=alice pin=****".to_owned());
        assert!(matches!(e.get("user.name"), Some(ValueRef::Str("alice"))));
        assert_eq!(e.original(), "user=alice pin=****");
    }

    #[test]
    fn dynamic_keys_nest_under_their_vendor_namespace() {
        let mut e = event("x");
        e.set_dynamic("dogtag", "CUID", Value::Str(Text::Static("40906145")));
        e.set_dynamic("dogtag", "tokenType", Value::Str(Text::Static("userKey")));
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["dogtag"]["CUID"], "40906145");
        assert_eq!(json["dogtag"]["tokenType"], "userKey");
    }

    #[test]
    fn events_of_one_shape_are_written_with_their_own_values() {
        // The same keys in the same order reuse one write plan; each keeps its values, and a
        // run-time key that differs makes a different shape.
        let mut outputs = Vec::new();
        for (name, vendor_key) in [("alice", "CUID"), ("bob", "CUID"), ("carol", "tokenType")] {
            let mut e = event(name);
            e.set(
                "user.name",
                Value::Str(Text::Original(Slice::new(0, name.len() as u32))),
            );
            e.set("event.outcome", Value::Str(Text::Static("failure")));
            e.set_dynamic("dogtag", vendor_key, Value::Str(Text::Static("v")));
            e.set("event.outcome", Value::Str(Text::Static("success")));
            e.set("event.original", Value::Str(Text::Static("shadowed")));
            outputs.push(serde_json::from_str::<serde_json::Value>(&e.to_json()).unwrap());
        }
        assert_eq!(outputs[0]["user"]["name"], "alice");
        assert_eq!(outputs[1]["user"]["name"], "bob");
        assert_eq!(outputs[2]["user"]["name"], "carol");
        assert_eq!(outputs[1]["event"]["outcome"], "success");
        assert_eq!(outputs[1]["event"]["original"], "bob");
        assert_eq!(outputs[1]["dogtag"]["CUID"], "v");
        assert_eq!(outputs[2]["dogtag"]["tokenType"], "v");
        assert!(outputs[2]["dogtag"].get("CUID").is_none());
        let no_path = Event::new("x".into(), Origin::default(), 0);
        let json: serde_json::Value = serde_json::from_str(&no_path.to_json()).unwrap();
        assert!(json.get("log").is_none());
    }

    #[test]
    fn constant_values_of_one_shape_are_written_per_event() {
        // The same keys with different constants, category lists and file paths, and back:
        // constants written into a plan never leak into an event that has others.
        const SUCCESS: &[&str] = &["authentication"];
        const FAILURE: &[&str] = &["iam"];
        let cases = [
            ("success", SUCCESS, "/var/log/a.log"),
            ("success", SUCCESS, "/var/log/b.log"),
            ("failure", FAILURE, "/var/log/b.log"),
            ("success", FAILURE, "/var/log/a.log"),
            ("success", SUCCESS, "/var/log/a.log"),
        ];
        for (outcome, category, path) in cases {
            let mut e = event("x");
            e.origin.path = Some(Arc::from(path));
            e.set("event.outcome", Value::Str(Text::Static(outcome)));
            e.set("event.category", Value::Names(category));
            let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
            assert_eq!(json["event"]["outcome"], outcome);
            assert_eq!(json["event"]["category"][0], category[0]);
            assert_eq!(json["log"]["file"]["path"], path);
        }
    }

    /// Keys with no prefix conflicts (no key is both a value and an object).
    const KEYS: [&str; 6] = [
        "event.action",
        "event.outcome",
        "user.name",
        "user.target.name",
        "source.ip",
        "message",
    ];

    proptest::proptest! {
        #[test]
        fn cached_plans_write_what_a_plain_nesting_of_the_fields_gives(
            fields in proptest::collection::vec((0usize..8, "[a-z\"\\\\]{0,6}"), 0..12),
            second in "[a-z]{1,4}",
        ) {
            // Twice with the same keys (the second event is written by the cached plan) and
            // different values: each must come out as its own fields, last value winning.
            for round in 0..2 {
                let mut e = event("line");
                let mut expected = serde_json::Map::new();
                for (k, v) in &fields {
                    let value = if round == 0 { v.clone() } else { format!("{v}{second}") };
                    let key = if *k < KEYS.len() {
                        let t = e.own(&value);
                        e.set(KEYS[*k], Value::Str(t));
                        KEYS[*k].to_owned()
                    } else {
                        let name = format!("k{k}");
                        e.set_dynamic("vendor", &name, Value::Str(Text::Static("x")));
                        let t = e.own(&value);
                        e.set_dynamic("vendor", &name, Value::Str(t));
                        format!("vendor.{name}")
                    };
                    let mut parts: Vec<&str> = key.split('.').collect();
                    let leaf = parts.pop().unwrap();
                    let mut node = &mut expected;
                    for part in parts {
                        node = node
                            .entry(part)
                            .or_insert_with(|| serde_json::json!({}))
                            .as_object_mut()
                            .unwrap();
                    }
                    node.insert(leaf.to_owned(), serde_json::Value::String(value));
                }
                let written: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
                let mut written = written.as_object().unwrap().clone();
                for own in ["@timestamp", "log"] {
                    written.remove(own);
                }
                if let Some(ev) = written.get_mut("event").and_then(|v| v.as_object_mut()) {
                    ev.remove("created");
                    ev.remove("original");
                    if ev.is_empty() {
                        written.remove("event");
                    }
                }
                proptest::prop_assert_eq!(written, expected);
            }
        }
    }

    #[test]
    fn a_key_that_is_both_a_value_and_an_object_keeps_its_value_under_value() {
        let mut e = event("line");
        let alice = e.own("alice");
        e.set_dynamic_root("user", Value::Str(alice));
        let bob = e.own("bob");
        e.set_dynamic_root("user.name", Value::Str(bob));
        let id = e.own("7");
        e.set_dynamic_root("user-id", Value::Str(id));
        let json = e.to_json();
        assert_eq!(crate::parse::json::duplicate_key(&json), None, "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["user"]["_value"], "alice");
        assert_eq!(v["user"]["name"], "bob");
        assert_eq!(v["user-id"], "7");
        // A value for `event` meets the event's own `event.*` fields.
        let mut e = event("line");
        e.set_dynamic_root("event", Value::Str(Text::Static("x")));
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["event"]["_value"], "x");
        assert_eq!(v["event"]["original"], "line");
    }

    proptest::proptest! {
        #[test]
        fn written_json_never_has_a_duplicate_key_at_any_level(
            keys in proptest::collection::vec("[ab](\\.[ab_]{1,2}){0,3}|_value|event|log", 0..14),
        ) {
            let mut e = event("line");
            for (i, key) in keys.iter().enumerate() {
                let t = e.own(&i.to_string());
                e.set_dynamic_root(key, Value::Str(t));
            }
            let json = e.to_json();
            proptest::prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{}", json);
            proptest::prop_assert_eq!(crate::parse::json::duplicate_key(&json), None, "{}", json);
            // Every value set last for its key is somewhere in the output.
            for (i, key) in keys.iter().enumerate() {
                if keys[i + 1..].iter().all(|k| k != key) {
                    let needle = format!("\"{i}\"");
                    proptest::prop_assert!(json.contains(&needle), "{} lost in {}", key, json);
                }
            }
        }
    }

    #[test]
    fn a_handle_that_does_not_fit_its_buffer_reads_as_empty() {
        let mut e = event("short");
        let t = e.own("x");
        assert_eq!(e.text(t), "x");
        assert_eq!(e.text(Text::Original(Slice::new(2, 500))), "");
        assert_eq!(e.text(Text::Scratch(Slice::new(9, 3))), "");
        assert_eq!(e.text(Text::Original(Slice::new(0, 5))), "short");
    }
}
