//! `json`: generic JSON lines; nested objects become dotted fields and are written back nested.
//!
//! `@timestamp` (or `timestamp`, `time`) is taken when it is an RFC 3339 string. Duplicate keys
//! are treated as malformed: JSON readers disagree on which copy wins, which lets a writer hide
//! a field (FORMATS.md §2.5).

use std::borrow::Cow;

use serde_json::{Map, Value as Json};

use super::{failure, Parser};
use crate::event::{Event, Origin, Value};

/// The generic JSON-lines parser.
#[derive(Debug, Default)]
pub struct JsonParser;

impl Parser for JsonParser {
    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        let body = record.trim_start_matches('\u{feff}');
        let object: Map<String, Json> = match serde_json::from_str(body) {
            Ok(Json::Object(map)) => map,
            Ok(_) => return failure(record, origin, created, "JSON line is not an object"),
            Err(e) => {
                let reason = format!("invalid JSON: {e}");
                return failure(record, origin, created, &reason);
            }
        };
        if let Some(dup) = duplicate_key(body) {
            let reason = format!("duplicate JSON key `{dup}`");
            return failure(record, origin, created, &reason);
        }
        let mut event = Event::new(record, origin, created);
        for key in ["@timestamp", "timestamp", "time"] {
            if let Some(ms) = object
                .get(key)
                .and_then(Json::as_str)
                .and_then(crate::time::parse_rfc3339)
            {
                event.timestamp = Some(ms);
                break;
            }
        }
        flatten_into(&object, &mut event);
        event
    }
}

/// Sets every leaf of `object` on `event` under its dotted path.
pub(crate) fn flatten_into(object: &Map<String, Json>, event: &mut Event) {
    each_leaf(object, &mut |path, value| {
        let value = match value {
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Json(event.own(&n.to_string())),
            },
            Json::String(s) => Value::Str(event.own(s)),
            Json::Array(items) if items.iter().all(Json::is_string) => Value::List(
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .map(|s| event.own(s))
                    .collect(),
            ),
            other => Value::Json(event.own(&other.to_string())),
        };
        set(event, path, value);
    });
}

/// Calls `leaf` with the dotted path and the value of every leaf of `object`: objects are
/// walked into, nulls skipped, arrays and scalars are leaves.
pub(crate) fn each_leaf(object: &Map<String, Json>, leaf: &mut impl FnMut(&str, &Json)) {
    fn walk(object: &Map<String, Json>, prefix: &mut String, leaf: &mut impl FnMut(&str, &Json)) {
        for (key, value) in object {
            let len = prefix.len();
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(key);
            match value {
                Json::Null => {}
                Json::Object(inner) => walk(inner, prefix, leaf),
                other => leaf(prefix, other),
            }
            prefix.truncate(len);
        }
    }
    walk(object, &mut String::new(), leaf);
}

fn set(event: &mut Event, key: &str, value: Value) {
    match key.split_once('.') {
        Some((head, tail)) => event.set_dynamic(head, tail, value),
        None => event.set_dynamic_root(key, value),
    }
}

/// The first key that occurs twice in the same object, if any (compared after unescaping, so
/// `"a"` and `"\u0061"` are the same key). One pass over the bytes: strings are skipped with a
/// SIMD search for their closing quote, and each open object keeps the keys seen so far.
/// Meant for text that is valid JSON; on anything else it ends without panicking.
pub(crate) fn duplicate_key(text: &str) -> Option<String> {
    struct Scope<'a> {
        object: bool,
        expect_key: bool,
        // Searched linearly while small; a set beyond that, so that a line of many keys
        // costs no quadratic time.
        keys: Vec<Cow<'a, str>>,
        many: std::collections::HashSet<Cow<'a, str>>,
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<Scope<'_>> = Vec::with_capacity(4);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => stack.push(Scope {
                object: bytes[i] == b'{',
                expect_key: bytes[i] == b'{',
                keys: Vec::new(),
                many: std::collections::HashSet::new(),
            }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.expect_key = top.object;
                }
            }
            b'"' => {
                // The closing quote: the first one not escaped by an odd run of backslashes.
                let start = i + 1;
                let mut end = start;
                loop {
                    let at = memchr::memchr2(b'"', b'\\', &bytes[end..])?;
                    if bytes[end + at] == b'\\' {
                        end += at + 2;
                        if end > bytes.len() {
                            return None;
                        }
                    } else {
                        end += at;
                        break;
                    }
                }
                if let Some(top) = stack.last_mut().filter(|t| t.object && t.expect_key) {
                    top.expect_key = false;
                    let raw = &text[start..end];
                    let key = if raw.contains('\\') {
                        Cow::Owned(serde_json::from_str(&text[i..=end]).unwrap_or_default())
                    } else {
                        Cow::Borrowed(raw)
                    };
                    if top.keys.len() < 32 {
                        if top.keys.contains(&key) {
                            return Some(key.into_owned());
                        }
                        top.keys.push(key);
                    } else if top.keys.contains(&key) || !top.many.insert(key.clone()) {
                        return Some(key.into_owned());
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> serde_json::Value {
        crate::parse::ecs_of(&JsonParser, line, Origin::default())
    }

    #[test]
    fn nested_objects_round_trip_and_timestamp_is_read() {
        let v = parse(
            r#"{"@timestamp":"2025-01-20T06:41:09.512Z","user":{"name":"a","roles":["x","y"]},"n":3,"f":1.5,"ok":true}"#,
        );
        assert_eq!(v["@timestamp"], "2025-01-20T06:41:09.512Z");
        assert_eq!(v["user"]["name"], "a");
        assert_eq!(v["user"]["roles"], serde_json::json!(["x", "y"]));
        assert_eq!(v["n"], 3);
        assert_eq!(v["f"], 1.5);
        assert_eq!(v["ok"], true);
    }

    #[test]
    fn malformed_json_is_tagged_not_dropped() {
        let v = parse(r#"{"a": 1"#);
        assert_eq!(v["tags"], serde_json::json!(["audit_parse_failure"]));
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid JSON"));
        assert_eq!(v["event"]["original"], r#"{"a": 1"#);
    }

    #[test]
    fn duplicate_keys_are_malformed() {
        let v = parse(r#"{"user":"alice","user":"root"}"#);
        assert_eq!(v["tags"], serde_json::json!(["audit_parse_failure"]));
        assert!(v["error"]["message"].as_str().unwrap().contains("`user`"));
        assert_eq!(
            duplicate_key(r#"{"a":{"b":1,"b":2}}"#),
            Some("b".to_owned())
        );
        assert_eq!(duplicate_key(r#"{"a":{"b":1},"b":2}"#), None);
        assert_eq!(
            duplicate_key(r#"{"a":"x\"y","c":[{"a":1}],"\u0061":2}"#),
            Some("a".to_owned())
        );
        assert_eq!(duplicate_key(r#"{"a":"\\","b":{"a":"}"}}"#), None);
        assert_eq!(duplicate_key(r#"{"a":"unterminated"#), None);
        let many: Vec<String> = (0..100).map(|i| format!("\"k{i}\":1")).collect();
        let wide = format!("{{{},\"k70\":2}}", many.join(","));
        assert_eq!(duplicate_key(&wide), Some("k70".to_owned()));
        assert_eq!(duplicate_key(&format!("{{{}}}", many.join(","))), None);
    }
}
