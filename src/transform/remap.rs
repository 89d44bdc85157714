//! `remap`: runs a VRL program (Vector Remap Language, the `vrl` crate) on every event, so a
//! Vector user's `source = '''...'''` runs unchanged: assignments, `del()`, `if`, and the
//! standard functions (`downcase`, `replace`, `parse_regex`, `sha2`, `to_int`,
//! `format_timestamp`, ...). Network and system functions are not built in.
//!
//! The program sees the event as its ECS document. An event whose program fails (or aborts)
//! passes unchanged, tagged `remap_error`, with VRL's message in `error.message`: never
//! dropped. A program that does not compile is a configuration error, shown with VRL's own
//! diagnostic and the file and line of the pipeline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;
use vrl::compiler::{state::RuntimeState, Context, Program, TargetValue, TimeZone};
use vrl::value::{Secrets, Value};

use super::Transform;
use crate::chunk::EventChunk;
use crate::event::{Event, Owned};

/// `[transforms.<name>] type = "remap"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemapConfig {
    /// The VRL program.
    pub source: Option<String>,
    /// A file holding the VRL program (instead of `source`).
    pub file: Option<PathBuf>,
}

impl RemapConfig {
    /// Compiles the program; the problem as `(key, message)`.
    pub fn compile(&self) -> Result<Remap, (String, String)> {
        let (key, text) = match (&self.source, &self.file) {
            (Some(s), None) => ("source", s.clone()),
            (None, Some(f)) => (
                "file",
                std::fs::read_to_string(f)
                    .map_err(|e| ("file".to_owned(), format!("{}: {e}", f.display())))?,
            ),
            _ => {
                return Err((
                    "source".to_owned(),
                    "give the program in `source` or in `file` (one of them)".to_owned(),
                ))
            }
        };
        let functions = vrl::stdlib::all();
        match vrl::compiler::compile(&text, &functions) {
            Ok(compiled) => Ok(Remap {
                program: Arc::new(compiled.program),
            }),
            Err(diagnostics) => {
                let shown = vrl::diagnostic::Formatter::new(&text, diagnostics).to_string();
                Err((
                    key.to_owned(),
                    format!("the VRL program does not compile:\n{}", shown.trim_end()),
                ))
            }
        }
    }
}

/// The running program.
#[derive(Clone)]
pub struct Remap {
    program: Arc<Program>,
}

impl std::fmt::Debug for Remap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Remap")
    }
}

impl Remap {
    /// Runs the program on `event`; on failure the event is left as it was, tagged.
    pub fn remap(&self, event: &mut Event) {
        let document: Json = match serde_json::from_str(&event.to_json()) {
            Ok(d) => d,
            Err(e) => return fail(event, &format!("the event is not JSON: {e}")),
        };
        let mut target = TargetValue {
            value: Value::from(document),
            metadata: Value::Object(BTreeMap::new()),
            secrets: Secrets::default(),
        };
        let mut state = RuntimeState::default();
        let zone = TimeZone::default();
        let mut ctx = Context::new(&mut target, &mut state, &zone);
        if let Err(e) = self.program.resolve(&mut ctx) {
            return fail(event, &e.to_string());
        }
        let result: Result<Json, _> = target.value.try_into();
        match result {
            Ok(Json::Object(map)) => rebuild(event, &map),
            Ok(_) => fail(
                event,
                "the program left the event as something other than an object",
            ),
            Err(e) => fail(event, &format!("the result is not JSON: {e}")),
        }
    }
}

fn fail(event: &mut Event, message: &str) {
    event.add_tag("remap_error");
    let _ = event.insert("error.message", Owned::Str(message.to_owned()));
}

/// Replaces `event`'s fields with the document `map` (its origin, hence its checkpoint
/// position and document id, stays).
fn rebuild(event: &mut Event, map: &serde_json::Map<String, Json>) {
    let original = map
        .get("event")
        .and_then(|e| e.get("original"))
        .and_then(Json::as_str)
        .map_or_else(|| event.original().to_owned(), str::to_owned);
    let mut fresh = Event::new(original, event.origin.clone(), event.created);
    fresh.timestamp = None;
    crate::parse::json::each_leaf(map, &mut |path, value| {
        if path == "event.original" {
            return;
        }
        let value = match value {
            Json::Bool(b) => Owned::Bool(*b),
            Json::Number(n) => n
                .as_i64()
                .map_or_else(|| Owned::Json(n.to_string()), Owned::Int),
            Json::String(s) => match path {
                "@timestamp" | "event.created" => {
                    crate::time::parse_rfc3339(s).map_or_else(|| Owned::Str(s.clone()), Owned::Time)
                }
                _ => Owned::Str(s.clone()),
            },
            Json::Array(items) if items.iter().all(Json::is_string) => Owned::List(
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            other => Owned::Json(other.to_string()),
        };
        // A JSON object's paths are distinct: only the event's own fields need `insert`.
        if crate::event::OWN_PATHS.contains(&path) {
            let _ = fresh.insert(path, value);
        } else {
            fresh.push_owned(path, value);
        }
    });
    if !map.contains_key("log") {
        fresh.origin.path = None;
    }
    *event = fresh;
}

impl Transform for Remap {
    fn fork(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(self.clone()))
    }

    fn apply(&mut self, chunk: &mut EventChunk) {
        for event in &mut chunk.events {
            self.remap(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::document::tests::text;
    use crate::event::Origin;

    fn remap(source: &str) -> Remap {
        RemapConfig {
            source: Some(source.to_owned()),
            file: None,
        }
        .compile()
        .unwrap()
    }

    fn event() -> Event {
        let origin = Origin {
            source: "s".into(),
            path: Some("/var/log/a.log".into()),
            file_id: 9,
            offset: 100,
            end: 150,
        };
        let mut e = Event::new("LOGIN user=Alice".into(), origin, 1_750_000_000_000);
        e.insert("user.name", Owned::Str("Alice".into())).unwrap();
        e.insert("event.action", Owned::Str("LOGIN".into()))
            .unwrap();
        e.insert("source.port", Owned::Int(443)).unwrap();
        e
    }

    #[test]
    fn a_vector_program_runs_unchanged_and_the_origin_stays() {
        let r = remap(
            r#"
.user.name = downcase(string!(.user.name))
.user.hash = sha2(string!(.user.name))
del(.source.port)
if .event.action == "LOGIN" { .labels.kind = "login" }
.labels.port_text = to_string(443)
"#,
        );
        let mut e = event();
        r.remap(&mut e);
        assert_eq!(text(&e, "user.name").as_deref(), Some("alice"));
        assert_eq!(text(&e, "labels.kind").as_deref(), Some("login"));
        assert_eq!(text(&e, "user.hash").map(|h| h.len()), Some(64));
        assert!(e.get("source.port").is_none());
        assert_eq!(e.original(), "LOGIN user=Alice");
        assert_eq!((e.origin.file_id, e.origin.offset), (9, 100));
        assert!(!e.has_tag("remap_error"));
        let json = e.to_json();
        assert_eq!(crate::parse::json::duplicate_key(&json), None, "{json}");
    }

    #[test]
    fn a_failing_program_leaves_the_event_tagged_with_the_error() {
        let r = remap(".n = to_int!(.user.name)");
        let mut e = event();
        r.remap(&mut e);
        assert!(e.has_tag("remap_error"));
        assert_eq!(text(&e, "user.name").as_deref(), Some("Alice"), "unchanged");
        assert!(text(&e, "error.message").is_some_and(|m| m.contains("Alice")));
    }

    #[test]
    fn a_program_that_does_not_compile_shows_vrls_diagnostic() {
        let err = RemapConfig {
            source: Some(".a = downcase(.b".into()),
            file: None,
        }
        .compile()
        .unwrap_err();
        assert_eq!(err.0, "source");
        assert!(
            err.1.contains("does not compile") && err.1.contains("error["),
            "{}",
            err.1
        );
    }
}
