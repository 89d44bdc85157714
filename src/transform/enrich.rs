//! `enrich`: adds fields, constant (`set`) or looked up in CSV tables by the values of other
//! fields (`lookup`): ownership, departments, sites, asset classes.
//!
//! A table is read at start (a missing or malformed table refuses the pipeline, naming the
//! file, line and column) and read again when its file changes (checked at most once a
//! second); a table that has become unreadable is logged at ERROR and the previous one kept.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::Transform;
use crate::chunk::EventChunk;
use crate::event::{Event, Owned, ValueRef};

/// `[transforms.<name>] type = "enrich"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// Fields set on every event: `{ "labels.site" = "fra1", "host.name" = "${HOSTNAME}" }`.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// Lookup tables (`[[transforms.<name>.lookup]]`).
    #[serde(default)]
    pub lookup: Vec<LookupConfig>,
}

/// One lookup table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    /// A CSV file with a header row.
    pub file: PathBuf,
    /// Column = field whose value selects the row: `{ username = "user.name" }`.
    #[serde(rename = "match")]
    pub match_on: BTreeMap<String, String>,
    /// Column = field to set from the row: `{ department = "labels.department" }`.
    pub add: BTreeMap<String, String>,
}

/// How often a table's file is checked for changes.
const RECHECK: Duration = Duration::from_secs(1);

/// A table read from its file: match key (the match columns' values) → values to add.
#[derive(Clone, Debug)]
struct Table {
    rows: HashMap<Vec<String>, Vec<String>>,
    modified: Option<SystemTime>,
}

/// Reads `file`: the header must name every match and add column.
fn read_table(
    file: &Path,
    match_columns: &[String],
    add_columns: &[String],
) -> Result<Table, String> {
    let modified = std::fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .modified()
        .ok();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let header = reader
        .headers()
        .map_err(|e| format!("{}: header: {e}", file.display()))?
        .clone();
    let index = |column: &String| {
        header
            .iter()
            .position(|h| h.trim() == column)
            .ok_or_else(|| {
                format!(
                    "{}:1: no column `{column}` in the header ({})",
                    file.display(),
                    header.iter().collect::<Vec<_>>().join(", ")
                )
            })
    };
    let match_at: Vec<usize> = match_columns.iter().map(index).collect::<Result<_, _>>()?;
    let add_at: Vec<usize> = add_columns.iter().map(index).collect::<Result<_, _>>()?;
    let mut rows = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            format!("{}:{line}: {e}", file.display())
        })?;
        let field = |i: &usize| record.get(*i).unwrap_or("").trim().to_owned();
        rows.insert(
            match_at.iter().map(field).collect(),
            add_at.iter().map(field).collect(),
        );
    }
    Ok(Table { rows, modified })
}

/// One table with what it reads and writes.
#[derive(Clone, Debug)]
struct Lookup {
    file: PathBuf,
    match_columns: Vec<String>,
    match_fields: Vec<String>,
    add_columns: Vec<String>,
    add_fields: Vec<String>,
    table: Table,
    checked: Instant,
}

impl Lookup {
    /// Reads the table again when its file changed; keeps the old one when it cannot.
    fn refresh(&mut self) {
        if self.checked.elapsed() < RECHECK {
            return;
        }
        self.checked = Instant::now();
        let modified = std::fs::metadata(&self.file)
            .ok()
            .and_then(|m| m.modified().ok());
        if modified.is_some() && modified == self.table.modified {
            return;
        }
        match read_table(&self.file, &self.match_columns, &self.add_columns) {
            Ok(table) => {
                tracing::info!(file = %self.file.display(), rows = table.rows.len(), "lookup table read again");
                self.table = table;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the changed lookup table; the previous one is kept");
                // Not again until the file changes once more.
                self.table.modified = modified;
            }
        }
    }

    fn apply(&self, event: &mut Event) {
        let mut key = Vec::with_capacity(self.match_fields.len());
        for field in &self.match_fields {
            match event.get(field) {
                Some(ValueRef::Str(s)) => key.push(s.to_owned()),
                Some(ValueRef::Int(i)) => key.push(i.to_string()),
                _ => return,
            }
        }
        let Some(values) = self.table.rows.get(&key) else {
            return;
        };
        for (field, value) in self.add_fields.iter().zip(values.clone()) {
            if !value.is_empty() {
                let _ = event.insert(field, Owned::Str(value));
            }
        }
    }
}

impl EnrichConfig {
    /// Checks the settings and reads the tables; every problem as `(key, message)`.
    pub fn compile(&self) -> Result<Enricher, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut set = Vec::new();
        for (path, value) in &self.set {
            let owned = match value {
                toml::Value::String(s) => Owned::Str(s.clone()),
                toml::Value::Integer(i) => Owned::Int(*i),
                toml::Value::Boolean(b) => Owned::Bool(*b),
                other => {
                    problems.push((
                        format!("set.{path}"),
                        format!("a string, integer or boolean, not {}", other.type_str()),
                    ));
                    continue;
                }
            };
            if !crate::event::is_path(path) {
                problems.push((
                    format!("set.{path}"),
                    format!("`{path}` is not a field path"),
                ));
                continue;
            }
            set.push((path.clone(), owned));
        }
        let mut lookups = Vec::new();
        for (i, l) in self.lookup.iter().enumerate() {
            if l.match_on.is_empty() || l.add.is_empty() {
                problems.push((
                    format!("lookup[{i}]"),
                    "a lookup needs `match` and `add` (column = field)".to_owned(),
                ));
                continue;
            }
            let (match_columns, match_fields): (Vec<String>, Vec<String>) =
                l.match_on.clone().into_iter().unzip();
            let (add_columns, add_fields): (Vec<String>, Vec<String>) =
                l.add.clone().into_iter().unzip();
            match read_table(&l.file, &match_columns, &add_columns) {
                Ok(table) => lookups.push(Lookup {
                    file: l.file.clone(),
                    match_columns,
                    match_fields,
                    add_columns,
                    add_fields,
                    table,
                    checked: Instant::now(),
                }),
                Err(e) => problems.push((format!("lookup[{i}].file"), e)),
            }
        }
        if set.is_empty() && self.lookup.is_empty() {
            problems.push((
                "set".to_owned(),
                "give `set`, `lookup` or both: there is nothing to add".to_owned(),
            ));
        }
        if problems.is_empty() {
            Ok(Enricher { set, lookups })
        } else {
            Err(problems)
        }
    }
}

/// The running enrichment.
#[derive(Clone, Debug)]
pub struct Enricher {
    set: Vec<(String, Owned)>,
    lookups: Vec<Lookup>,
}

impl Transform for Enricher {
    fn fork(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(self.clone()))
    }

    fn apply(&mut self, chunk: &mut EventChunk) {
        for l in &mut self.lookups {
            l.refresh();
        }
        for event in &mut chunk.events {
            for (path, value) in &self.set {
                let _ = event.insert(path, value.clone());
            }
            for l in &self.lookups {
                l.apply(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;

    fn config(file: &Path) -> EnrichConfig {
        toml::from_str(&format!(
            "set = {{ \"labels.site\" = \"fra1\" }}\n[[lookup]]\nfile = '{}'\nmatch = {{ username = \"user.name\" }}\nadd = {{ department = \"labels.department\", owner = \"labels.owner\" }}\n",
            file.display()
        ))
        .unwrap()
    }

    #[test]
    fn set_and_lookup_add_fields_and_a_changed_table_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("users.csv");
        std::fs::write(
            &csv,
            "username,department,owner\nalice,finance,bob\n\"o'neil, jr\",it,\n",
        )
        .unwrap();
        let mut e = config(&csv).compile().unwrap();
        let mut chunk = EventChunk::new(Vec::new(), crate::ack::Acks::none());
        for name in ["alice", "o'neil, jr", "nobody"] {
            let mut ev = Event::new(name.into(), Origin::default(), 0);
            ev.insert("user.name", Owned::Str(name.into())).unwrap();
            chunk.events.push(ev);
        }
        e.apply(&mut chunk);
        let get = |i: usize, k: &str| {
            chunk.events[i]
                .get(k)
                .and_then(|v| v.strings().next().map(str::to_owned))
        };
        assert_eq!(get(0, "labels.department").as_deref(), Some("finance"));
        assert_eq!(get(0, "labels.owner").as_deref(), Some("bob"));
        assert_eq!(get(1, "labels.department").as_deref(), Some("it"));
        assert_eq!(get(1, "labels.owner"), None, "empty cells add nothing");
        assert_eq!(get(2, "labels.department"), None);
        assert_eq!(get(2, "labels.site").as_deref(), Some("fra1"));
        // The file changes: read again on the next chunk (after the recheck interval).
        std::fs::write(&csv, "username,department,owner\nalice,legal,carol\n").unwrap();
        let later = SystemTime::now() + Duration::from_secs(2);
        let f = std::fs::File::options().write(true).open(&csv).unwrap();
        f.set_modified(later).unwrap();
        for l in &mut e.lookups {
            l.checked = Instant::now().checked_sub(RECHECK).unwrap();
        }
        let mut again = EventChunk::new(Vec::new(), crate::ack::Acks::none());
        let mut ev = Event::new("x".into(), Origin::default(), 0);
        ev.insert("user.name", Owned::Str("alice".into())).unwrap();
        again.events.push(ev);
        e.apply(&mut again);
        assert_eq!(
            again.events[0]
                .get("labels.department")
                .and_then(|v| v.strings().next()),
            Some("legal")
        );
    }

    #[test]
    fn a_missing_column_or_file_is_a_configuration_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("users.csv");
        std::fs::write(&csv, "user,department\nalice,finance\n").unwrap();
        let err = config(&csv).compile().unwrap_err();
        assert_eq!(err[0].0, "lookup[0].file");
        assert!(
            err[0].1.contains("users.csv:1: no column `owner`")
                || err[0].1.contains("no column `username`"),
            "{err:?}"
        );
        let err = config(&dir.path().join("missing.csv"))
            .compile()
            .unwrap_err();
        assert!(err[0].1.contains("missing.csv"), "{err:?}");
    }
}
