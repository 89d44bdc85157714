//! `json`: generic JSON lines; nested objects become dotted fields and are written back nested.
//!
//! `@timestamp` (or `timestamp`, `time`) is taken when it is an RFC 3339 string. Duplicate keys
//! are treated as malformed: JSON readers disagree on which copy wins, which lets a writer hide
//! a field (FORMATS.md §2.5).

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
        let mut prefix = String::new();
        flatten(&object, &mut prefix, &mut event);
        event
    }
}

fn flatten(object: &Map<String, Json>, prefix: &mut String, event: &mut Event) {
    for (key, value) in object {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(key);
        match value {
            Json::Null => {}
            Json::Object(inner) => flatten(inner, prefix, event),
            Json::Bool(b) => set(event, prefix, Value::Bool(*b)),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    set(event, prefix, Value::Int(i));
                } else {
                    let t = event.own(&n.to_string());
                    set(event, prefix, Value::Json(t));
                }
            }
            Json::String(s) => {
                let t = event.own(s);
                set(event, prefix, Value::Str(t));
            }
            Json::Array(items) if items.iter().all(Json::is_string) => {
                let list = items
                    .iter()
                    .filter_map(Json::as_str)
                    .map(|s| event.own(s))
                    .collect();
                set(event, prefix, Value::List(list));
            }
            Json::Array(_) => {
                let t = event.own(&value.to_string());
                set(event, prefix, Value::Json(t));
            }
        }
        prefix.truncate(len);
    }
}

fn set(event: &mut Event, key: &str, value: Value) {
    match key.split_once('.') {
        Some((head, tail)) => event.set_dynamic(head, tail, value),
        None => event.set_dynamic_root(key, value),
    }
}

/// The first key that occurs twice in the same object, if any.
pub(crate) fn duplicate_key(text: &str) -> Option<String> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;

    struct Check<'a>(&'a RefCell<Option<String>>);
    impl<'de> Visitor<'de> for Check<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if !seen.insert(key.to_string()) && self.0.borrow().is_none() {
                    *self.0.borrow_mut() = Some(key.to_string());
                }
                map.next_value_seed(Seed(self.0))?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Seed(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    struct Seed<'a>(&'a RefCell<Option<String>>);
    impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Check(self.0))
        }
    }

    if !text.contains('"') {
        return None;
    }
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = serde::de::DeserializeSeed::deserialize(Seed(&found), &mut de);
    found.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> serde_json::Value {
        let e = JsonParser.parse(line.to_owned(), Origin::default(), 0);
        serde_json::from_str(&e.to_json()).unwrap()
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
    }
}
