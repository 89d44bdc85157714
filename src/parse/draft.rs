//! A parser's working record: fields gathered while the line is borrowed, then moved into an
//! [`Event`] that takes ownership of the line (values sliced from it stay zero-copy).

use crate::event::{Event, Origin, Text, Value};

enum Op {
    Set(&'static str, Val),
    Dynamic(&'static str, Val, Val),
    Push(&'static str, Val),
    Tag(&'static str),
}

/// A string taken from the line (as a range) or built by the parser.
enum Val {
    Text(Text),
    Owned(String),
    Int(i64),
    Bool(bool),
    Time(i64),
}

/// Fields of an event under construction.
#[derive(Default)]
pub struct Draft {
    ops: Vec<Op>,
    /// When the event happened, epoch ms UTC.
    pub timestamp: Option<i64>,
}

impl Draft {
    /// An empty draft.
    #[must_use]
    pub fn new() -> Self {
        Self {
            ops: Vec::with_capacity(24),
            timestamp: None,
        }
    }

    fn val(line: &str, value: &str) -> Val {
        match Text::within(line, value) {
            Some(t) => Val::Text(t),
            None => Val::Owned(value.to_owned()),
        }
    }

    /// Sets `key` to `value`, a slice of `line` (kept as a range) or any other string.
    pub fn str(&mut self, key: &'static str, line: &str, value: &str) {
        self.ops.push(Op::Set(key, Self::val(line, value)));
    }

    /// Sets `key` to a constant.
    pub fn constant(&mut self, key: &'static str, value: &'static str) {
        self.ops.push(Op::Set(key, Val::Text(Text::Static(value))));
    }

    /// Sets `key` to a string built by the parser.
    pub fn owned(&mut self, key: &'static str, value: String) {
        self.ops.push(Op::Set(key, Val::Owned(value)));
    }

    /// Sets `key` to an integer.
    pub fn int(&mut self, key: &'static str, value: i64) {
        self.ops.push(Op::Set(key, Val::Int(value)));
    }

    /// Sets `key` to a boolean.
    pub fn bool(&mut self, key: &'static str, value: bool) {
        self.ops.push(Op::Set(key, Val::Bool(value)));
    }

    /// Sets `key` to an instant (epoch ms).
    pub fn time(&mut self, key: &'static str, ms: i64) {
        self.ops.push(Op::Set(key, Val::Time(ms)));
    }

    /// Sets `prefix.name` (a vendor field whose name comes from the line).
    pub fn dynamic(&mut self, prefix: &'static str, line: &str, name: &str, value: &str) {
        self.ops.push(Op::Dynamic(
            prefix,
            Self::val(line, name),
            Self::val(line, value),
        ));
    }

    /// Appends to the list `key` (duplicates are skipped when applied).
    pub fn push(&mut self, key: &'static str, line: &str, value: &str) {
        self.ops.push(Op::Push(key, Self::val(line, value)));
    }

    /// Appends a constant to the list `key`.
    pub fn push_constant(&mut self, key: &'static str, value: &'static str) {
        self.ops.push(Op::Push(key, Val::Text(Text::Static(value))));
    }

    /// Adds a tag.
    pub fn tag(&mut self, tag: &'static str) {
        self.ops.push(Op::Tag(tag));
    }

    /// Builds the event, which takes ownership of `record` (the line the draft was built from).
    #[must_use]
    pub fn finish(self, record: String, origin: Origin, created: i64) -> Event {
        let mut event = Event::new(record, origin, created);
        event.timestamp = self.timestamp;
        for op in self.ops {
            match op {
                Op::Set(key, val) => {
                    let value = into_value(&mut event, val);
                    event.set(key, value);
                }
                Op::Dynamic(prefix, name, val) => {
                    let name = match name {
                        Val::Text(t) => event.text(t).to_owned(),
                        Val::Owned(s) => s,
                        _ => continue,
                    };
                    let value = into_value(&mut event, val);
                    event.set_dynamic(prefix, &name, value);
                }
                Op::Push(key, val) => {
                    if let Value::Str(t) = into_value(&mut event, val) {
                        event.push(key, t);
                    }
                }
                Op::Tag(tag) => event.add_tag(tag),
            }
        }
        event
    }
}

fn into_value(event: &mut Event, val: Val) -> Value {
    match val {
        Val::Text(t) => Value::Str(t),
        Val::Owned(s) => Value::Str(event.own(&s)),
        Val::Int(i) => Value::Int(i),
        Val::Bool(b) => Value::Bool(b),
        Val::Time(ms) => Value::Time(ms),
    }
}
