//! Pipeline files → a validated [`Plan`]; every problem is reported at once, before anything starts.
//!
//! Errors name the file, the line and column, and the dotted key (`sinks.out.path`). The
//! runtime only ever sees a `Plan`, never a half-checked file.

pub mod document;
pub mod graph;
pub mod units;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::sink::SinkConfig;
use crate::source::SourceConfig;
use crate::transform::TransformConfig;
use document::{Document, Section};
use graph::{Node, Role};
use units::{ByteSize, Span};

/// Agent-wide settings: the top level of a pipeline file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Directory for checkpoints and dead letters (default `/var/lib/auditship`).
    pub data_dir: Option<PathBuf>,
    /// The memory budget for everything in flight.
    pub buffer: Option<BufferConfig>,
    /// The dead-letter file (refused events).
    pub dead_letter: Option<crate::dead_letter::DeadLetterConfig>,
    /// How long shutdown waits for in-flight batches before giving up on them (default 30s).
    /// Batches abandoned this way are not acknowledged, so they are re-sent after restart.
    pub shutdown_timeout: Option<Span>,
    /// The HTTP API (health probe and Prometheus metrics); off unless configured.
    pub api: Option<ApiConfig>,
}

/// `[api]`: where the health probe and the metrics are served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `host:port` to listen on, e.g. `127.0.0.1:8686` (plain HTTP: keep it on loopback or a
    /// pod-local address).
    pub address: std::net::SocketAddr,
}

/// `[buffer]`: the memory budget.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Bytes of events in flight for the whole agent (default 8MiB); readers wait when full.
    pub max_bytes: Option<ByteSize>,
}

/// Default memory budget: room for about 2,500 typical audit events in flight, enough to keep
/// a sink's batches full at full speed (the delivery bench), while the agent's peak RSS stays
/// under 32 MiB; the backlog waits in the files, not in memory.
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/auditship";
/// Default shutdown timeout.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// One problem in a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the whole file is at fault).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The dotted key at fault, if any.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All problems found in a set of pipeline files.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "error: {e}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "{n} error{} in the pipeline configuration; nothing was started",
            if n == 1 { "" } else { "s" }
        )
    }
}

/// A checked pipeline, ready to run.
#[derive(Debug)]
pub struct Plan {
    /// Where checkpoints and dead letters live.
    pub data_dir: PathBuf,
    /// The memory budget in bytes.
    pub max_bytes: usize,
    /// How long shutdown waits for in-flight batches.
    pub shutdown_timeout: Duration,
    /// Rotation size of the dead-letter file.
    pub dead_letter_max_bytes: u64,
    /// Dead-letter files kept at most (the current one included).
    pub dead_letter_max_files: u32,
    /// Components in data-path order (every component after all of its inputs).
    pub components: Vec<Component>,
    /// The `[[tests]]` of the pipeline files (`auditship test`).
    pub tests: Vec<crate::pipeline_tests::TestConfig>,
    /// Where the API listens, if it runs.
    pub api: Option<std::net::SocketAddr>,
}

/// One named component of the plan.
#[derive(Debug)]
pub struct Component {
    /// Its name.
    pub name: String,
    /// The names of its inputs (empty for sources).
    pub inputs: Vec<String>,
    /// What it is, with its settings.
    pub kind: Kind,
    /// Its settings as written (`type` included, `inputs` left out): a reload compares these
    /// to tell a changed component from an unchanged one.
    pub settings: toml::Table,
}

/// A component's kind and settings.
#[derive(Debug)]
pub enum Kind {
    /// A source.
    Source(SourceConfig),
    /// A transform.
    Transform(TransformConfig),
    /// A sink.
    Sink(SinkConfig),
}

impl Kind {
    fn role(&self) -> Role {
        match self {
            Kind::Source(_) => Role::Source,
            Kind::Transform(_) => Role::Transform,
            Kind::Sink(_) => Role::Sink,
        }
    }

    /// The names others may use as inputs: the component's name, or a transform's named
    /// outputs; none for a sink.
    #[must_use]
    pub fn outputs(&self, name: &str) -> Vec<String> {
        match self {
            Kind::Source(_) => vec![name.to_owned()],
            Kind::Transform(t) => t.outputs(name),
            Kind::Sink(_) => Vec::new(),
        }
    }
}

/// A component read from a file, before the graph is checked.
struct Pending {
    doc: usize,
    name: String,
    name_span: Range<usize>,
    inputs: Vec<(String, Range<usize>)>,
    kind: Kind,
    settings: toml::Table,
}

impl From<Pending> for Component {
    fn from(p: Pending) -> Self {
        Self {
            name: p.name,
            inputs: p.inputs.into_iter().map(|(n, _)| n).collect(),
            kind: p.kind,
            settings: p.settings,
        }
    }
}

/// Loads pipeline files (a file, or every `*.toml` in a directory) into a [`Plan`].
pub fn load(paths: &[PathBuf]) -> Result<Plan, ConfigErrors> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        expand(path, &mut files, &mut errors);
    }
    let mut docs = Vec::new();
    let mut roots = Vec::new();
    for file in &files {
        match Document::load(file) {
            Ok((doc, root)) => {
                docs.push(doc);
                roots.push(root);
            }
            Err(e) => errors.push(e),
        }
    }
    build(&mut docs, roots, errors)
}

/// Loads a pipeline held in memory (the embedded default, tests).
pub fn load_str(name: &Path, text: &str) -> Result<Plan, ConfigErrors> {
    match Document::parse(name, text.to_owned()) {
        Ok((doc, root)) => build(&mut [doc], vec![root], Vec::new()),
        Err(e) => Err(ConfigErrors(vec![e])),
    }
}

fn expand(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<ConfigError>) {
    let whole = |message: String| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        key: String::new(),
        message,
    };
    if path.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut found: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                    .collect();
                found.sort();
                if found.is_empty() {
                    errors.push(whole("directory holds no *.toml pipeline file".to_owned()));
                }
                files.extend(found);
            }
            Err(e) => errors.push(whole(format!("cannot read directory: {e}"))),
        }
    } else if path.exists() {
        files.push(path.to_path_buf());
    } else {
        errors.push(whole("no such file or directory".to_owned()));
    }
}

fn build(
    docs: &mut [Document],
    roots: Vec<Spanned<DeTable<'static>>>,
    mut errors: Vec<ConfigError>,
) -> Result<Plan, ConfigErrors> {
    let mut settings: Option<(usize, AgentConfig)> = None;
    let mut tests = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for (d, root) in roots.into_iter().enumerate() {
        let span = root.span();
        let mut rest = DeTable::new();
        let mut components = Vec::new();
        for (key, mut value) in root.into_inner() {
            let k = key.get_ref().to_string();
            docs[d].interpolate(&mut value, &k, &mut errors);
            match k.as_str() {
                "sources" | "transforms" | "sinks" => components.push((key, value)),
                "tests" => tests.extend(deserialize_tests(&docs[d], key, value, &mut errors)),
                _ => {
                    rest.insert(key, value);
                }
            }
        }
        let top = Section {
            name: String::new(),
            name_span: span.start..span.start,
            table: Spanned::new(span, rest),
        };
        if !top.table.get_ref().is_empty() {
            if let Some(agent) = deserialize_top(&docs[d], &top, &mut errors) {
                if let Some((first, _)) = &settings {
                    let k = top
                        .table
                        .get_ref()
                        .iter()
                        .next()
                        .map_or(0..0, |(k, _)| k.span());
                    errors.push(docs[d].error(
                        k,
                        "",
                        &format!(
                            "agent settings are already set in {}; set them in one file only",
                            docs[*first].path.display()
                        ),
                    ));
                } else {
                    settings = Some((d, agent));
                }
            }
        }
        for (key, value) in components {
            collect_components(
                &docs[d],
                d,
                &key,
                value,
                &mut pending,
                &mut failed,
                &mut errors,
            );
        }
    }
    check_names(docs, &pending, &mut errors);
    let order = check_graph(docs, &pending, &failed, &mut errors);
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        return Err(ConfigErrors(errors));
    }
    let agent = settings.map(|(_, a)| a).unwrap_or_default();
    let mut slots: Vec<Option<Pending>> = pending.into_iter().map(Some).collect();
    let components = order
        .into_iter()
        .filter_map(|i| slots[i].take())
        .map(Component::from)
        .collect();
    Ok(Plan {
        data_dir: agent
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        max_bytes: agent
            .buffer
            .and_then(|b| b.max_bytes)
            .map_or(DEFAULT_MAX_BYTES, ByteSize::as_usize),
        shutdown_timeout: agent
            .shutdown_timeout
            .map_or(DEFAULT_SHUTDOWN_TIMEOUT, |s| s.0),
        dead_letter_max_bytes: agent
            .dead_letter
            .as_ref()
            .and_then(|d| d.max_bytes)
            .map_or(crate::dead_letter::DEFAULT_MAX_BYTES, |b| b.0),
        dead_letter_max_files: agent
            .dead_letter
            .as_ref()
            .and_then(|d| d.max_files)
            .unwrap_or(crate::dead_letter::DEFAULT_MAX_FILES),
        api: agent.api.map(|a| a.address),
        components,
        tests,
    })
}

/// `tests = [...]` of one file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestsSection {
    tests: Vec<crate::pipeline_tests::TestConfig>,
}

/// Reads the `[[tests]]` of one file (every problem recorded, as for components).
fn deserialize_tests(
    doc: &Document,
    key: Spanned<std::borrow::Cow<'static, str>>,
    value: Spanned<DeValue<'static>>,
    errors: &mut Vec<ConfigError>,
) -> Vec<crate::pipeline_tests::TestConfig> {
    let span = value.span();
    let mut table = DeTable::new();
    table.insert(key, value);
    let section = Section {
        name: String::new(),
        name_span: span.clone(),
        table: Spanned::new(span, table),
    };
    let before = errors.len();
    let tests: Option<TestsSection> = doc.deserialize(&section, errors);
    for e in &mut errors[before..] {
        if let Some(k) = e.key.strip_prefix('.') {
            e.key = k.to_owned();
        }
    }
    tests.map(|t| t.tests).unwrap_or_default()
}

fn deserialize_top(
    doc: &Document,
    top: &Section,
    errors: &mut Vec<ConfigError>,
) -> Option<AgentConfig> {
    let before = errors.len();
    let agent: Option<AgentConfig> = doc.deserialize(top, errors);
    // Keys at the top level have no section prefix; drop the leading dot.
    for e in &mut errors[before..] {
        if let Some(k) = e.key.strip_prefix('.') {
            e.key = k.to_owned();
        }
    }
    agent
}

fn collect_components(
    doc: &Document,
    d: usize,
    group: &Spanned<std::borrow::Cow<'static, str>>,
    value: Spanned<DeValue<'static>>,
    pending: &mut Vec<Pending>,
    failed: &mut Vec<String>,
    errors: &mut Vec<ConfigError>,
) {
    let group_name = group.get_ref().to_string();
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        errors.push(doc.error(span, &group_name, "must be a table of named components"));
        return;
    };
    for (name, value) in table {
        let full = format!("{group_name}.{}", name.get_ref());
        let vspan = value.span();
        failed.push(name.get_ref().to_string());
        let DeValue::Table(mut body) = value.into_inner() else {
            errors.push(doc.error(vspan, &full, &format!("must be a table (`[{full}]`)")));
            continue;
        };
        let type_entry = body.remove("type");
        let Some(type_value) = type_entry else {
            errors.push(doc.error(
                name.span(),
                &full,
                &format!(
                    "missing required key `type` (one of: {})",
                    types(&group_name)
                ),
            ));
            continue;
        };
        let type_span = type_value.span();
        let Some(type_name) = type_value.get_ref().as_str().map(str::to_owned) else {
            errors.push(doc.error(type_span, &format!("{full}.type"), "must be a string"));
            continue;
        };
        let inputs = take_inputs(doc, &full, &group_name, &mut body, errors);
        let section = Section {
            name: full.clone(),
            name_span: name.span(),
            table: Spanned::new(vspan, body),
        };
        let before = errors.len();
        let mut settings: toml::Table = doc
            .deserialize(&section, &mut Vec::new())
            .unwrap_or_default();
        settings.insert("type".to_owned(), toml::Value::String(type_name.clone()));
        let kind = match group_name.as_str() {
            "sources" => SourceConfig::load(&type_name, doc, &section, errors).map(Kind::Source),
            "transforms" => {
                TransformConfig::load(&type_name, doc, &section, errors).map(Kind::Transform)
            }
            _ => SinkConfig::load(&type_name, doc, &section, errors).map(Kind::Sink),
        };
        match kind {
            // Loaded, possibly with errors in its settings: it still takes part in the graph
            // checks, so that its inputs are checked too.
            Some(kind) => {
                failed.pop();
                pending.push(Pending {
                    doc: d,
                    name: name.get_ref().to_string(),
                    name_span: name.span(),
                    inputs,
                    kind,
                    settings,
                });
            }
            None if errors.len() == before => errors.push(doc.error(
                type_span,
                &format!("{full}.type"),
                &format!(
                    "unknown component type `{type_name}` (known {group_name}: {})",
                    types(&group_name)
                ),
            )),
            None => {}
        }
    }
}

fn types(group: &str) -> String {
    match group {
        "sources" => crate::source::TYPES.join(", "),
        "transforms" => crate::transform::TYPES.join(", "),
        _ => crate::sink::TYPES.join(", "),
    }
}

fn take_inputs(
    doc: &Document,
    full: &str,
    group: &str,
    body: &mut DeTable<'static>,
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, Range<usize>)> {
    let Some(value) = body.remove("inputs") else {
        return Vec::new();
    };
    let key = format!("{full}.inputs");
    if group == "sources" {
        errors.push(doc.error(value.span(), &key, "sources have no inputs"));
        return Vec::new();
    }
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        errors.push(doc.error(span, &key, "must be an array of component names"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match item.get_ref().as_str() {
            Some(s) => out.push((s.to_owned(), item.span())),
            None => errors.push(doc.error(item.span(), &key, "must be a component name (string)")),
        }
    }
    out
}

fn check_names(docs: &[Document], pending: &[Pending], errors: &mut Vec<ConfigError>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in pending.iter().enumerate() {
        let doc = &docs[p.doc];
        if p.name.is_empty()
            || !p
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            errors.push(doc.error(
                p.name_span.clone(),
                &p.name,
                "component names use only letters, digits, `_` and `-`",
            ));
        }
        if let Some(&j) = seen.get(p.name.as_str()) {
            let other = &pending[j];
            let (line, _) = docs[other.doc].line_col(other.name_span.start);
            errors.push(doc.error(
                p.name_span.clone(),
                &p.name,
                &format!(
                    "component name is already used at {}:{line}",
                    docs[other.doc].path.display()
                ),
            ));
        } else {
            seen.insert(&p.name, i);
        }
    }
}

fn check_graph(
    docs: &[Document],
    pending: &[Pending],
    failed: &[String],
    errors: &mut Vec<ConfigError>,
) -> Vec<usize> {
    let nodes: Vec<Node<'_>> = pending
        .iter()
        .map(|p| Node {
            name: &p.name,
            role: p.kind.role(),
            inputs: p.inputs.iter().map(|(n, _)| n.as_str()).collect(),
            outputs: p.kind.outputs(&p.name),
        })
        .collect();
    if !nodes.iter().any(|n| n.role == Role::Source) && failed.is_empty() && errors.is_empty() {
        let file = docs.first().map(|d| d.path.clone()).unwrap_or_default();
        errors.push(ConfigError {
            file,
            line: 0,
            column: 0,
            key: "sources".to_owned(),
            message: "the pipeline has no source".to_owned(),
        });
        return Vec::new();
    }
    match graph::check(&nodes) {
        Ok(order) => order,
        Err(problems) => {
            for problem in problems {
                let p = &pending[problem.node];
                // Problems caused by a component that failed to load were reported already.
                let about_failed = match problem.input {
                    Some(k) => failed.contains(&p.inputs[k].0),
                    None => !failed.is_empty() && !problem.message.contains("cycle"),
                };
                if about_failed {
                    continue;
                }
                let group = match p.kind.role() {
                    Role::Source => "sources",
                    Role::Transform => "transforms",
                    Role::Sink => "sinks",
                };
                let (span, key) = match problem.input {
                    Some(k) => (p.inputs[k].1.clone(), format!("{group}.{}.inputs", p.name)),
                    None => (p.name_span.clone(), format!("{group}.{}", p.name)),
                };
                errors.push(docs[p.doc].error(span, &key, &problem.message));
            }
            Vec::new()
        }
    }
}
