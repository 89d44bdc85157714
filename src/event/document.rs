//! The event as a document, for transforms: `insert` replaces, `remove_path` and `rename`
//! act on whole subtrees (`user` takes `user.name` and `user.target.id` with it), `fields`
//! iterates what the event holds, and the fields the event writes itself (`@timestamp`,
//! `event.created`, `event.original`, `log.file.path`, `log.offset`) are ordinary paths.
//!
//! Invariant: after any sequence of these operations, at most one value per key is visible
//! (earlier values of a key are gone, not shadowed), and the written JSON has no key twice
//! (a key that is both a value and an object is resolved by the writer's one rule: the value
//! moves inside the object as `_value`).

use super::{Event, Field, Text, Value, ValueRef};

/// A value a transform sets: owned, with no handles into the event's buffers.
#[derive(Clone, Debug, PartialEq)]
pub enum Owned {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An instant in epoch milliseconds (written as RFC 3339 UTC).
    Time(i64),
    /// An array of strings.
    List(Vec<String>),
    /// A JSON fragment written as it is (a float, an array of objects).
    Json(String),
}

/// Why a document operation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// The path is empty or has an empty segment (`a..b`, `.a`, `a.`).
    #[error("`{0}` is not a field path")]
    BadPath(String),
    /// A field the event writes itself takes values of one kind only.
    #[error("`{path}` takes {expected}")]
    WrongKind {
        /// The path.
        path: &'static str,
        /// What it takes.
        expected: &'static str,
    },
    /// `event.original` is the evidence: it can be replaced (redaction), never removed.
    #[error("`event.original` cannot be removed (it can be replaced)")]
    Required,
}

/// The paths of the fields the event writes itself.
pub const OWN_PATHS: [&str; 5] = [
    "@timestamp",
    "event.created",
    "event.original",
    "log.file.path",
    "log.offset",
];

/// Whether `path` is a field path: non-empty, no empty segment (`a..b`, `.a`, `a.`).
#[must_use]
pub fn is_path(path: &str) -> bool {
    !path.is_empty() && !path.split('.').any(str::is_empty)
}

fn check(path: &str) -> Result<(), DocumentError> {
    if !is_path(path) {
        return Err(DocumentError::BadPath(path.to_owned()));
    }
    Ok(())
}

/// Whether `key` is `path` or lies under it.
#[must_use]
pub fn within(key: &str, path: &str) -> bool {
    key.strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

impl Event {
    /// Sets `path` to `value`, replacing any earlier value of that key (fields under it stay:
    /// see the module's invariant). The fields the event writes itself are set in place.
    pub fn insert(&mut self, path: &str, value: Owned) -> Result<(), DocumentError> {
        check(path)?;
        match (path, value) {
            ("@timestamp", Owned::Time(ms)) => self.timestamp = Some(ms),
            ("@timestamp", Owned::Str(s)) => {
                self.timestamp = Some(crate::time::parse_rfc3339(&s).ok_or(
                    DocumentError::WrongKind {
                        path: "@timestamp",
                        expected: "an RFC 3339 time",
                    },
                )?);
            }
            ("event.created", Owned::Time(ms)) => self.created = ms,
            ("event.original", Owned::Str(s)) => self.set_original(s),
            ("log.file.path", Owned::Str(s)) => self.origin.path = Some(s.into()),
            ("log.offset", Owned::Int(i)) => {
                self.origin.offset = u64::try_from(i).map_err(|_| DocumentError::WrongKind {
                    path: "log.offset",
                    expected: "a non-negative integer",
                })?;
            }
            (own, _) if OWN_PATHS.contains(&own) => {
                let path = OWN_PATHS.iter().find(|p| **p == own).copied().unwrap_or("");
                return Err(DocumentError::WrongKind {
                    path,
                    expected: match own {
                        "@timestamp" | "event.created" => "a time",
                        "log.offset" => "an integer",
                        _ => "a string",
                    },
                });
            }
            (_, value) => {
                let value = self.own_value(value);
                // The key's last entry takes the value in place (it keeps its position);
                // earlier entries of the key, if any, go.
                if let Some(last) = self.fields.iter().rposition(|f| self.text(f.key) == path) {
                    self.fields[last].value = value;
                    if self.fields[..last].iter().any(|f| self.text(f.key) == path) {
                        let mut fields = std::mem::take(&mut self.fields);
                        let mut i = 0;
                        fields.retain(|f| {
                            i += 1;
                            i - 1 == last || self.text(f.key) != path
                        });
                        self.fields = fields;
                    }
                } else {
                    let key = self.own(path);
                    self.fields.push(Field { key, value });
                }
            }
        }
        Ok(())
    }

    /// Removes `path` and every field under it; returns how many fields went. The fields the
    /// event writes itself: `@timestamp` falls back to `event.created`, `log.*` go (the
    /// event keeps its checkpoint position); `event.original` cannot be removed.
    pub fn remove_path(&mut self, path: &str) -> Result<usize, DocumentError> {
        check(path)?;
        if within("event.original", path) {
            return Err(DocumentError::Required);
        }
        let mut removed = 0;
        if within("@timestamp", path) && self.timestamp.take().is_some() {
            removed += 1;
        }
        if within("log.file.path", path) && self.origin.path.take().is_some() {
            removed += 1;
        }
        Ok(removed + self.drop_keys(|key| within(key, path)))
    }

    /// Moves `from` (and every field under it) to `to`, replacing what was at `to`; returns
    /// how many fields moved. The fields the event writes itself cannot be renamed.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<usize, DocumentError> {
        check(from)?;
        check(to)?;
        if OWN_PATHS.iter().any(|p| within(p, from) || within(p, to)) {
            return Err(DocumentError::WrongKind {
                path: "event.original",
                expected: "no rename (the fields the event writes itself stay where they are)",
            });
        }
        if from == to {
            return Ok(0);
        }
        let moving: Vec<(String, Value)> = self
            .fields()
            .filter(|(key, _)| within(key, from))
            .map(|(key, _)| key.to_owned())
            .collect::<Vec<_>>()
            .into_iter()
            .filter_map(|key| {
                let field = self.fields.iter().rev().find(|f| self.text(f.key) == key)?;
                Some((format!("{to}{}", &key[from.len()..]), field.value.clone()))
            })
            .collect();
        if moving.is_empty() {
            return Ok(0);
        }
        self.drop_keys(|key| within(key, from) || within(key, to));
        for (key, value) in &moving {
            let key = self.own(key);
            self.fields.push(Field {
                key,
                value: value.clone(),
            });
        }
        Ok(moving.len())
    }

    /// The fields the event holds, each key once (its last value), in the order they were
    /// first set; then the fields the event writes itself.
    pub fn fields(&self) -> impl Iterator<Item = (&str, ValueRef<'_>)> {
        // The last entry of each key. Events hold a few dozen fields: comparing with the
        // later ones is cheaper than a hash set up to about 64 (measured with the transforms
        // bench); past that, a set keeps it linear.
        let n = self.fields.len();
        let last: Vec<usize> = if n <= 64 {
            (0..n)
                .filter(|&i| {
                    let key = self.text(self.fields[i].key);
                    !self.fields[i + 1..].iter().any(|f| self.text(f.key) == key)
                })
                .collect()
        } else {
            let mut seen = std::collections::HashSet::with_capacity(n);
            let mut last: Vec<usize> = (0..n)
                .rev()
                .filter(|&i| seen.insert(self.text(self.fields[i].key)))
                .collect();
            last.reverse();
            last
        };
        let stored = last.into_iter().map(move |i| {
            let f = &self.fields[i];
            (self.text(f.key), self.view(&f.value))
        });
        let own = OWN_PATHS
            .iter()
            .filter_map(move |p| self.get(p).map(|v| (*p, v)));
        stored.chain(own)
    }

    /// The fields whose key satisfies `wanted`, each key once (its last value), then the
    /// fields the event writes itself that it wants: [`Event::fields`] filtered, without
    /// the cost of finding every key's last entry.
    pub fn fields_where<'a>(
        &'a self,
        wanted: impl Fn(&str) -> bool + Clone + 'a,
    ) -> impl Iterator<Item = (&'a str, ValueRef<'a>)> {
        let w = wanted.clone();
        let stored = (0..self.fields.len()).filter_map(move |i| {
            let key = self.text(self.fields[i].key);
            let last = || !self.fields[i + 1..].iter().any(|f| self.text(f.key) == key);
            (w(key) && last()).then(|| (key, self.view(&self.fields[i].value)))
        });
        let own = OWN_PATHS
            .iter()
            .filter(move |p| wanted(p))
            .filter_map(move |p| self.get(p).map(|v| (*p, v)));
        stored.chain(own)
    }

    /// Rewrites every string the event holds where `rewrite` returns a new text: field
    /// values (shadowed entries too), list items, `log.file.path` and `event.original`.
    /// Returns whether anything changed. For redaction: one pass, no key lookups.
    ///
    /// `rewrite` is also told where a text lies in `event.original` when it is a slice of it
    /// (the original itself is `0..len`), so that what was searched for in the original once
    /// need not be searched for again in each of its slices.
    pub fn rewrite_strings(
        &mut self,
        mut rewrite: impl FnMut(&str, Option<std::ops::Range<usize>>) -> Option<String>,
    ) -> bool {
        let place = |t: Text| match t {
            Text::Original(s) => Some(s.start() as usize..s.end() as usize),
            Text::Static(_) | Text::Scratch(_) => None,
        };
        let mut changed = false;
        for i in 0..self.fields.len() {
            // The new value, when a text changed.
            let new = match &mut self.fields[i].value {
                Value::Str(t) => {
                    let t = *t;
                    rewrite(self.text(t), place(t)).map(|new| Value::Str(self.own(&new)))
                }
                Value::Json(t) => {
                    let t = *t;
                    rewrite(self.text(t), place(t)).map(|new| Value::Json(self.own(&new)))
                }
                Value::List(items) => {
                    // Taken out while its texts are read and new ones stored, and put back.
                    let mut items = std::mem::take(items);
                    let mut any = false;
                    for t in &mut items {
                        if let Some(new) = rewrite(self.text(*t), place(*t)) {
                            *t = self.own(&new);
                            any = true;
                        }
                    }
                    self.fields[i].value = Value::List(items);
                    changed |= any;
                    None
                }
                Value::Names(names) => {
                    let names: &'static [&'static str] = names;
                    let new: Vec<Option<String>> = names.iter().map(|s| rewrite(s, None)).collect();
                    new.iter().any(Option::is_some).then(|| {
                        let list = names
                            .iter()
                            .zip(new)
                            .map(|(s, n)| n.map_or(Text::Static(s), |n| self.own(&n)))
                            .collect();
                        Value::List(list)
                    })
                }
                Value::Int(_) | Value::Bool(_) | Value::Time(_) => None,
            };
            if let Some(value) = new {
                self.fields[i].value = value;
                changed = true;
            }
        }
        if let Some(path) = self.origin.path.as_deref().and_then(|p| rewrite(p, None)) {
            self.origin.path = Some(path.into());
            changed = true;
        }
        if let Some(original) = rewrite(&self.original, Some(0..self.original.len())) {
            self.set_original(original);
            changed = true;
        }
        changed
    }

    /// Appends `path` = `value` without looking for an earlier value of that key: for
    /// building an event from a document whose paths are known to be distinct.
    pub(crate) fn push_owned(&mut self, path: &str, value: Owned) {
        let value = self.own_value(value);
        let key = self.own(path);
        self.fields.push(Field { key, value });
    }

    /// Drops every stored field whose key satisfies `gone`; returns how many keys went.
    fn drop_keys(&mut self, gone: impl Fn(&str) -> bool) -> usize {
        let fields = &self.fields;
        // A key counts once: at its last entry.
        let keys = (0..fields.len())
            .filter(|&i| {
                let key = self.text(fields[i].key);
                gone(key) && !fields[i + 1..].iter().any(|f| self.text(f.key) == key)
            })
            .count();
        if keys == 0 {
            return 0;
        }
        let mut kept = std::mem::take(&mut self.fields);
        kept.retain(|f| !gone(self.text(f.key)));
        self.fields = kept;
        keys
    }

    fn own_value(&mut self, value: Owned) -> Value {
        match value {
            Owned::Str(s) => Value::Str(self.own(&s)),
            Owned::Int(i) => Value::Int(i),
            Owned::Bool(b) => Value::Bool(b),
            Owned::Time(t) => Value::Time(t),
            Owned::List(items) => Value::List(items.iter().map(|s| self.own(s)).collect()),
            Owned::Json(text) => Value::Json(self.own(&text)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::event::{Origin, Text};

    fn event() -> Event {
        let origin = Origin {
            source: Arc::from("s"),
            path: Some(Arc::from("/var/log/a.log")),
            file_id: 1,
            offset: 10,
            end: 20,
        };
        Event::new("user=alice".to_owned(), origin, 1_750_000_000_000)
    }

    /// A field's value as text (strings as they are, integers in decimal), for assertions.
    pub(crate) fn text(e: &Event, path: &str) -> Option<String> {
        e.get(path).map(|v| match v {
            ValueRef::Str(s) => s.to_owned(),
            ValueRef::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn insert_replaces_and_remove_and_rename_take_whole_subtrees() {
        let mut e = event();
        e.insert("user.name", Owned::Str("alice".into())).unwrap();
        e.insert("user.name", Owned::Str("bob".into())).unwrap();
        e.insert("user.target.id", Owned::Int(7)).unwrap();
        e.insert("user_agent", Owned::Str("curl".into())).unwrap();
        assert_eq!(text(&e, "user.name").as_deref(), Some("bob"));
        assert_eq!(e.fields().filter(|(k, _)| *k == "user.name").count(), 1);
        assert_eq!(e.rename("user", "actor").unwrap(), 2);
        assert_eq!(text(&e, "actor.name").as_deref(), Some("bob"));
        assert_eq!(text(&e, "actor.target.id").as_deref(), Some("7"));
        assert!(e.get("user.name").is_none());
        assert_eq!(
            text(&e, "user_agent").as_deref(),
            Some("curl"),
            "a sibling, not a child"
        );
        assert_eq!(e.remove_path("actor").unwrap(), 2);
        assert!(e.get("actor.target.id").is_none());
        assert_eq!(text(&e, "user_agent").as_deref(), Some("curl"));
    }

    #[test]
    fn the_fields_the_event_writes_itself_are_paths_too() {
        let mut e = event();
        e.insert("@timestamp", Owned::Str("2025-01-12T08:20:00Z".into()))
            .unwrap();
        assert!(matches!(
            e.get("@timestamp"),
            Some(ValueRef::Time(1_736_670_000_000))
        ));
        e.insert("event.original", Owned::Str("user=<redacted>".into()))
            .unwrap();
        assert_eq!(e.original(), "user=<redacted>");
        e.insert("log.offset", Owned::Int(99)).unwrap();
        assert_eq!(e.origin.offset, 99);
        assert_eq!(
            e.remove_path("event.original"),
            Err(DocumentError::Required)
        );
        assert_eq!(e.remove_path("event"), Err(DocumentError::Required));
        assert_eq!(e.remove_path("log").unwrap(), 1);
        assert!(e.get("log.file.path").is_none());
        assert!(matches!(
            e.insert("log.offset", Owned::Str("x".into())),
            Err(DocumentError::WrongKind { .. })
        ));
        assert!(matches!(
            e.insert("a..b", Owned::Int(1)),
            Err(DocumentError::BadPath(_))
        ));
        let own: Vec<&str> = e.fields().map(|(k, _)| k).collect();
        assert!(
            own.contains(&"@timestamp") && own.contains(&"event.original"),
            "{own:?}"
        );
    }

    #[test]
    fn fields_lists_each_key_once_with_its_last_value_at_any_size() {
        for n in [10usize, 100] {
            let mut e = event();
            for i in 0..n {
                // Keys repeat every 7: the last value of each wins.
                e.push_owned(&format!("k{}", i % 7), Owned::Int(i as i64));
            }
            let stored: Vec<(String, String)> = e
                .fields()
                .filter(|(k, _)| k.starts_with('k'))
                .map(|(k, v)| (k.to_owned(), format!("{v:?}")))
                .collect();
            let mut expected: Vec<(usize, String)> = (0..7)
                .map(|k| {
                    (
                        (0..n).filter(|i| i % 7 == k).max().unwrap(),
                        format!("k{k}"),
                    )
                })
                .collect();
            expected.sort();
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(i, k)| (k, format!("{:?}", ValueRef::Int(i as i64))))
                .collect();
            assert_eq!(stored, expected, "{n} fields");
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(usize, u8),
        Remove(usize),
        Rename(usize, usize),
    }

    const PATHS: [&str; 8] = ["a", "a.b", "a.b.c", "a.d", "ab", "x", "x.a", "x.a.b"];

    fn model_within(key: &str, path: &str) -> bool {
        within(key, path)
    }

    #[test]
    fn fields_where_is_fields_filtered() {
        let mut e = event();
        e.set_str("user.name", "alice");
        e.set_str("user.name", "bob"); // a shadowing entry, as parsers write
        e.insert("user.id", Owned::Int(7)).unwrap();
        e.insert("host.name", Owned::Str("h".into())).unwrap();
        let wanted = |k: &str| within(k, "user") || k == "event.original";
        let all: Vec<String> = e
            .fields()
            .filter(|(k, _)| wanted(k))
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let some: Vec<String> = e
            .fields_where(wanted)
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        assert_eq!(some, all);
        assert_eq!(some.len(), 3, "{some:?}");
    }

    #[test]
    fn rewrite_strings_reaches_every_string_and_keeps_what_it_does_not_change() {
        let mut e = event();
        let alice = Text::within(e.original(), &e.original()[5..]).unwrap();
        e.set("user.name", Value::Str(alice));
        e.set("event.category", Value::Names(&["alice", "iam"]));
        e.insert(
            "related.user",
            Owned::List(vec!["alice".into(), "carol".into()]),
        )
        .unwrap();
        e.insert("labels.n", Owned::Int(1)).unwrap();
        e.insert("labels.keep", Owned::Str("x".into())).unwrap();
        let changed =
            e.rewrite_strings(|s, _| s.contains("alice").then(|| s.replace("alice", "A")));
        assert!(changed);
        assert_eq!(e.original(), "user=A");
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["user"]["name"], "A");
        assert_eq!(json["event"]["category"], serde_json::json!(["A", "iam"]));
        assert_eq!(json["related"]["user"], serde_json::json!(["A", "carol"]));
        assert_eq!(json["labels"]["keep"], "x");
        assert_eq!(json["labels"]["n"], 1);
        assert!(!e.rewrite_strings(|_, _| None), "nothing to change");
        // A field still pointing into the old original keeps its value when only the
        // original changes.
        let mut e = event();
        let alice = Text::within(e.original(), &e.original()[5..]).unwrap();
        e.set("user.name", Value::Str(alice));
        e.rewrite_strings(|s, _| (s == "user=alice").then(|| "user=*****".to_owned()));
        assert_eq!(text(&e, "user.name").as_deref(), Some("alice"));
        assert_eq!(e.original(), "user=*****");
    }

    proptest::proptest! {
        #[test]
        fn any_sequence_of_operations_matches_a_map_and_writes_no_key_twice(
            ops in proptest::collection::vec(
                proptest::prop_oneof![
                    (0usize..8, proptest::num::u8::ANY).prop_map(|(p, v)| Op::Insert(p, v)),
                    (0usize..8).prop_map(Op::Remove),
                    (0usize..8, 0usize..8).prop_map(|(a, b)| Op::Rename(a, b)),
                ],
                0..24,
            ),
        ) {
            let mut e = event();
            let mut model: BTreeMap<String, String> = BTreeMap::new();
            for op in ops.clone() {
                match op {
                    Op::Insert(p, v) => {
                        e.insert(PATHS[p], Owned::Str(format!("v{v}"))).unwrap();
                        model.insert(PATHS[p].to_owned(), format!("v{v}"));
                    }
                    Op::Remove(p) => {
                        e.remove_path(PATHS[p]).unwrap();
                        model.retain(|k, _| !model_within(k, PATHS[p]));
                    }
                    Op::Rename(a, b) => {
                        let (from, to) = (PATHS[a], PATHS[b]);
                        e.rename(from, to).unwrap();
                        if from != to {
                            let moving: Vec<(String, String)> = model
                                .iter()
                                .filter(|(k, _)| model_within(k, from))
                                .map(|(k, v)| (format!("{to}{}", &k[from.len()..]), v.clone()))
                                .collect();
                            if !moving.is_empty() {
                                model.retain(|k, _| !model_within(k, from) && !model_within(k, to));
                                model.extend(moving);
                            }
                        }
                    }
                }
            }
            for path in PATHS {
                prop_assert_eq!(text(&e, path), model.get(path).cloned(), "{} after {:?}", path, ops);
            }
            let json = e.to_json();
            prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{}", json);
            prop_assert_eq!(crate::parse::json::duplicate_key(&json), None, "{}", json);
            for value in model.values() {
                let quoted = format!("\"{value}\"");
                prop_assert!(json.contains(&quoted), "{} lost in {}", value, json);
            }
        }
    }
}
