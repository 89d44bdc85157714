//! Sigma rules (YAML) compiled to the detect transform's rule kinds: a detection becomes a
//! `match` rule over ECS fields (through a field map), a correlation `event_count` a
//! `threshold`, `temporal_ordered` a `sequence`, `temporal` an unordered sequence.
//!
//! What is supported, and refused with an error naming the file, the rule and the feature
//! otherwise: selections as maps (all fields) or lists of maps (any), value lists (any, or all
//! with `|all`), the modifiers `contains`, `startswith`, `endswith`, `all`, `re` (with `i`,
//! `m`, `s`), `cased`, `exists`, `gt`, `gte`, `lt`, `lte`; `*` and `?` wildcards; `null`; the
//! condition operators `and`, `or`, `not`, parentheses, `1 of`/`all of` a pattern or `them`.
//! Strings compare without regard to case unless `|cased`, as the Sigma specification says.
//! A correlation names rules of the same file (by `name` or `id`), one `group-by` field and a
//! `timespan`; the rules it names raise no alerts of their own unless they say `generate: true`.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use super::rules::{Kind, Rule, RuleConfig};
use crate::transform::condition::{Condition, Literal, Op, Pattern};

/// Sigma's field names for `logsource: { product: linux, service: auditd }` and their ECS
/// paths in auditship's auditd events. A field not named here is read from `auditd.data.<name>`,
/// where the auditd parser keeps every field it does not map.
const AUDITD_FIELDS: &[(&str, &str)] = &[
    ("type", "auditd.log.record_types"),
    ("syscall", "auditd.data.syscall"),
    ("exe", "process.executable"),
    ("comm", "process.name"),
    ("cwd", "process.working_directory"),
    ("proctitle", "process.title"),
    ("key", "auditd.key"),
    ("pid", "process.pid"),
    ("ppid", "process.parent.pid"),
    ("auid", "user.id"),
    ("uid", "process.user.id"),
    ("euid", "user.effective.id"),
    ("acct", "auditd.data.acct"),
    ("grp", "auditd.data.grp"),
    ("name", "file.path"),
    ("res", "event.outcome"),
    ("success", "event.outcome"),
    ("terminal", "user.terminal"),
    ("hostname", "source.address"),
    ("addr", "source.address"),
    ("exit", "process.exit_code"),
    // EXECVE's arguments: any position (auditship keeps them as the list `process.args`).
    ("a0", "process.args"),
    ("a1", "process.args"),
    ("a2", "process.args"),
    ("a3", "process.args"),
    ("a4", "process.args"),
    ("a5", "process.args"),
    ("a6", "process.args"),
    ("a7", "process.args"),
    ("a8", "process.args"),
    ("a9", "process.args"),
];

/// ECS fields a Sigma rule may name as they are, without a dot.
const PLAIN_ECS: &[&str] = &["message", "tags", "labels", "@timestamp"];

/// A problem in one Sigma file, shown as `file: rule `title`: message`.
pub type Problem = String;

/// The rules of one Sigma file (one or more YAML documents), compiled. `field_map` maps
/// Sigma field names to ECS paths and is consulted before the built-in maps.
pub fn compile(
    text: &str,
    file: &str,
    field_map: &BTreeMap<String, String>,
) -> Result<Vec<Rule>, Vec<Problem>> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| vec![format!("{file}: {e}")])?;
    let mut problems = Vec::new();
    let mut detections: Vec<(Detection, bool)> = Vec::new();
    let mut correlations = Vec::new();
    for (n, doc) in docs.iter().enumerate() {
        let shown = format!("{file}: document {}", n + 1);
        let Yaml::Hash(_) = doc else {
            problems.push(format!("{shown}: not a Sigma rule (a mapping)"));
            continue;
        };
        let title = doc["title"].as_str().unwrap_or("").to_owned();
        let at = if title.is_empty() {
            shown
        } else {
            format!("{file}: rule `{title}`")
        };
        if title.is_empty() {
            problems.push(format!("{at}: `title` is missing"));
            continue;
        }
        let result = if doc["correlation"].is_badvalue() {
            detection(doc, field_map).map(|d| {
                let generate = doc["generate"].as_bool().unwrap_or(false);
                detections.push((d, generate));
            })
        } else {
            correlations.push((doc, at.clone()));
            Ok(())
        };
        if let Err(e) = result {
            problems.push(format!("{at}: {e}"));
        }
    }
    let mut rules = Vec::new();
    let mut referenced = vec![false; detections.len()];
    for (doc, at) in correlations {
        match correlation(doc, &detections, &mut referenced, field_map, file) {
            Ok(rule) => rules.push(rule),
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    for (i, (d, generate)) in detections.into_iter().enumerate() {
        // Sigma: a rule a correlation refers to raises nothing itself unless `generate: true`.
        if referenced[i] && !generate {
            continue;
        }
        let config = d.config("match", None, None, None);
        rules.push(Rule::new(config, d.condition, Kind::Match, file));
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

/// A compiled detection rule, before it becomes a [`Rule`].
struct Detection {
    id: String,
    name: Option<String>,
    title: String,
    description: String,
    severity: i64,
    condition: Condition,
    /// The logsource's field map (auditd), if any.
    auditd: bool,
}

impl Detection {
    fn config(
        &self,
        kind: &str,
        count: Option<u64>,
        group_by: Option<String>,
        window: Option<crate::config::units::Span>,
    ) -> RuleConfig {
        RuleConfig {
            id: self.id.clone(),
            name: self.title.clone(),
            description: self.description.clone(),
            severity: self.severity,
            kind: kind.to_owned(),
            condition: String::new(),
            after: None,
            count,
            group_by,
            window,
        }
    }
}

/// `event.severity` of a Sigma `level`, as Elastic's detection rules score them.
fn severity(level: Option<&str>) -> Result<i64, String> {
    Ok(match level.unwrap_or("medium") {
        "informational" | "low" => 21,
        "medium" => 47,
        "high" => 73,
        "critical" => 99,
        other => return Err(format!("unknown level `{other}`")),
    })
}

/// The rule's `id` (or `name`), title, description and severity.
fn identity(doc: &Yaml) -> Result<(String, Option<String>, String, String, i64), String> {
    let name = doc["name"].as_str().map(str::to_owned);
    let id = doc["id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| name.clone())
        .ok_or("needs an `id` (or a `name`)")?;
    let title = doc["title"].as_str().unwrap_or("").to_owned();
    let description = doc["description"].as_str().unwrap_or("").trim().to_owned();
    let severity = severity(doc["level"].as_str())?;
    Ok((id, name, title, description, severity))
}

fn detection(doc: &Yaml, field_map: &BTreeMap<String, String>) -> Result<Detection, String> {
    let (id, name, title, description, severity) = identity(doc)?;
    let source = &doc["logsource"];
    let auditd =
        source["product"].as_str() == Some("linux") && source["service"].as_str() == Some("auditd");
    let Yaml::Hash(items) = &doc["detection"] else {
        return Err("`detection` is missing or not a mapping".to_owned());
    };
    let mut named: Vec<(String, Condition)> = Vec::new();
    let mut condition_text = None;
    for (k, v) in items {
        let key = k.as_str().ok_or("a detection key that is not a name")?;
        match key {
            "condition" => condition_text = Some(v),
            "timeframe" => {
                return Err(
                    "`timeframe` in a detection (aggregations): write a correlation rule".into(),
                )
            }
            _ => {
                let cond = selection(key, v, auditd, field_map)?;
                named.push((key.to_owned(), cond));
            }
        }
    }
    let condition = match condition_text {
        Some(Yaml::String(text)) => expression(text, &named)?,
        Some(Yaml::Array(texts)) => {
            let mut all = Vec::new();
            for t in texts {
                let text = t
                    .as_str()
                    .ok_or("a `condition` list item that is not text")?;
                all.push(expression(text, &named)?);
            }
            any(all).ok_or("an empty `condition` list")?
        }
        _ => return Err("`detection.condition` is missing".to_owned()),
    };
    Ok(Detection {
        id,
        name,
        title,
        description,
        severity,
        condition,
        auditd,
    })
}

fn any(items: Vec<Condition>) -> Option<Condition> {
    items
        .into_iter()
        .reduce(|a, b| Condition::Or(Box::new(a), Box::new(b)))
}

fn all(items: Vec<Condition>) -> Option<Condition> {
    items
        .into_iter()
        .reduce(|a, b| Condition::And(Box::new(a), Box::new(b)))
}

/// One named selection: a map (every field), or a list of maps (any of them).
fn selection(
    name: &str,
    value: &Yaml,
    auditd: bool,
    field_map: &BTreeMap<String, String>,
) -> Result<Condition, String> {
    match value {
        Yaml::Hash(fields) => {
            let mut parts = Vec::new();
            for (k, v) in fields {
                let spec = k
                    .as_str()
                    .ok_or_else(|| format!("selection `{name}`: a field name that is not text"))?;
                parts.push(
                    field(spec, v, auditd, field_map)
                        .map_err(|e| format!("selection `{name}`, field `{spec}`: {e}"))?,
                );
            }
            all(parts).ok_or_else(|| format!("selection `{name}` is empty"))
        }
        Yaml::Array(items) if items.iter().all(|i| matches!(i, Yaml::Hash(_))) => {
            let parts: Result<Vec<_>, _> = items
                .iter()
                .map(|i| selection(name, i, auditd, field_map))
                .collect();
            any(parts?).ok_or_else(|| format!("selection `{name}` is empty"))
        }
        _ => Err(format!(
            "selection `{name}`: keyword (full-text) search is not supported; name a field"
        )),
    }
}

/// The ECS path of a Sigma field name.
fn path_of(
    field: &str,
    auditd: bool,
    field_map: &BTreeMap<String, String>,
) -> Result<String, String> {
    if let Some(p) = field_map.get(field) {
        return Ok(p.clone());
    }
    if auditd {
        if let Some((_, p)) = AUDITD_FIELDS.iter().find(|(f, _)| *f == field) {
            return Ok((*p).to_owned());
        }
        if field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Ok(format!("auditd.data.{field}"));
        }
    }
    if field.contains('.') || PLAIN_ECS.contains(&field) {
        return Ok(field.to_owned());
    }
    Err(format!(
        "no ECS path for the field `{field}`: add it to the detect transform's `sigma_field_map`"
    ))
}

/// Where a value must sit in the field's text.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// The whole text (no modifier).
    #[default]
    Whole,
    /// `|contains`
    Anywhere,
    /// `|startswith`
    Start,
    /// `|endswith`
    End,
}

/// How a value is compared, when not as text.
#[derive(Default)]
enum Special {
    /// As text, with wildcards.
    #[default]
    Text,
    /// `|re`, with its flags (`|i`, `|m`, `|s`).
    Regex(String),
    /// `|exists`
    Exists,
    /// `|gt`, `|gte`, `|lt`, `|lte`
    Order(Op),
}

/// Modifiers a field spec may carry.
#[derive(Default)]
struct Modifiers {
    anchor: Anchor,
    all: bool,
    cased: bool,
    special: Special,
}

fn field(
    spec: &str,
    value: &Yaml,
    auditd: bool,
    field_map: &BTreeMap<String, String>,
) -> Result<Condition, String> {
    let mut parts = spec.split('|');
    let name = parts.next().unwrap_or("");
    if name.is_empty() {
        return Err("keyword (full-text) search is not supported; name a field".to_owned());
    }
    let path = path_of(name, auditd, field_map)?;
    let mut m = Modifiers::default();
    for modifier in parts {
        match (modifier, &mut m.special) {
            ("contains", _) => m.anchor = Anchor::Anywhere,
            ("startswith", _) => m.anchor = Anchor::Start,
            ("endswith", _) => m.anchor = Anchor::End,
            ("all", _) => m.all = true,
            ("cased", _) => m.cased = true,
            ("re", _) => m.special = Special::Regex(String::new()),
            ("i" | "m" | "s", Special::Regex(flags)) => flags.push_str(modifier),
            ("exists", _) => m.special = Special::Exists,
            ("gt", _) => m.special = Special::Order(Op::Gt),
            ("gte", _) => m.special = Special::Order(Op::Ge),
            ("lt", _) => m.special = Special::Order(Op::Lt),
            ("lte", _) => m.special = Special::Order(Op::Le),
            (other, _) => return Err(format!("the modifier `{other}` is not supported")),
        }
    }
    let values: Vec<&Yaml> = match value {
        Yaml::Array(items) => items.iter().collect(),
        v => vec![v],
    };
    let mut conds = Vec::new();
    for v in values {
        conds.push(one_value(&path, v, &m)?);
    }
    let combined = if m.all { all(conds) } else { any(conds) };
    combined.ok_or_else(|| "an empty list of values".to_owned())
}

fn one_value(path: &str, value: &Yaml, m: &Modifiers) -> Result<Condition, String> {
    let compare = |op, lit| Condition::Compare(path.to_owned(), op, lit);
    if let Special::Exists = m.special {
        let Yaml::Boolean(b) = value else {
            return Err("`|exists` takes true or false".to_owned());
        };
        let exists = Condition::Exists(path.to_owned());
        return Ok(if *b {
            exists
        } else {
            Condition::Not(Box::new(exists))
        });
    }
    if let Special::Order(op) = m.special {
        let Yaml::Integer(n) = value else {
            return Err("`|gt`, `|gte`, `|lt`, `|lte` take an integer".to_owned());
        };
        return Ok(compare(op, Literal::Int(*n)));
    }
    let text = match value {
        Yaml::Null => return Ok(Condition::Not(Box::new(Condition::Exists(path.to_owned())))),
        Yaml::Boolean(b) => {
            return Ok(Condition::Or(
                Box::new(compare(Op::Eq, Literal::Bool(*b))),
                Box::new(compare(Op::Eq, Literal::Str(b.to_string()))),
            ))
        }
        Yaml::Integer(n) if m.anchor == Anchor::Whole && matches!(m.special, Special::Text) => {
            return Ok(Condition::Or(
                Box::new(compare(Op::Eq, Literal::Int(*n))),
                Box::new(compare(Op::Eq, Literal::Str(n.to_string()))),
            ))
        }
        Yaml::Integer(n) => n.to_string(),
        Yaml::Real(r) => r.clone(),
        Yaml::String(s) => s.clone(),
        _ => return Err("a value that is not text, a number, a boolean or null".to_owned()),
    };
    if let Special::Regex(flags) = &m.special {
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("(?{flags})")
        };
        let re = regex::Regex::new(&format!("{flags}{text}"))
            .map_err(|e| format!("invalid regular expression: {e}"))?;
        return Ok(compare(Op::Matches, Literal::Regex(Pattern(re))));
    }
    let (body, wild) = wildcard(&text);
    if !wild && m.anchor == Anchor::Whole {
        let has_case = text.chars().any(char::is_alphabetic);
        if m.cased || !has_case {
            return Ok(compare(Op::Eq, Literal::Str(unescape(&text))));
        }
    }
    let start = if matches!(m.anchor, Anchor::Anywhere | Anchor::End) {
        ""
    } else {
        "^"
    };
    let end = if matches!(m.anchor, Anchor::Anywhere | Anchor::Start) {
        ""
    } else {
        "$"
    };
    let case = if m.cased { "" } else { "i" };
    let re = regex::Regex::new(&format!("(?s{case}){start}{body}{end}"))
        .map_err(|e| format!("cannot compile the value: {e}"))?;
    Ok(compare(Op::Matches, Literal::Regex(Pattern(re))))
}

/// A Sigma value as a regex body (`*` any run, `?` one character, `\*`, `\?`, `\\` escaped),
/// and whether it had a wildcard.
fn wildcard(text: &str) -> (String, bool) {
    let mut out = String::new();
    let mut wild = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                let next = chars.next().unwrap_or('\\');
                out.push_str(&regex::escape(&next.to_string()));
            }
            '*' => {
                wild = true;
                out.push_str(".*");
            }
            '?' => {
                wild = true;
                out.push('.');
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    (out, wild)
}

/// A value without wildcards, its escapes resolved.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('*' | '?' | '\\')) {
            out.push(chars.next().unwrap_or('\\'));
        } else {
            out.push(c);
        }
    }
    out
}

/// Tokens of a Sigma condition.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    And,
    Or,
    Not,
    Open,
    Close,
    OneOf,
    AllOf,
}

fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    if text.contains('|') {
        return Err(format!(
            "the aggregation in `condition: {text}` is not supported: write a correlation rule"
        ));
    }
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let tok = match w {
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "(" => Tok::Open,
            ")" => Tok::Close,
            "1" | "all" if words.get(i + 1) == Some(&"of") => {
                i += 1;
                if w == "1" {
                    Tok::OneOf
                } else {
                    Tok::AllOf
                }
            }
            n if words.get(i + 1) == Some(&"of") && n.parse::<u32>().is_ok() => {
                return Err(format!(
                    "`{n} of` is not supported (only `1 of` and `all of`)"
                ))
            }
            name => Tok::Name(name.to_owned()),
        };
        out.push(tok);
        i += 1;
    }
    Ok(out)
}

/// Compiles a detection's `condition` over its named selections.
fn expression(text: &str, named: &[(String, Condition)]) -> Result<Condition, String> {
    let toks = tokens(text)?;
    let mut p = CondParser {
        toks,
        pos: 0,
        named,
        text,
    };
    let c = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!(
            "`condition: {text}`: unexpected `{:?}`",
            p.toks[p.pos]
        ));
    }
    Ok(c)
}

struct CondParser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    named: &'a [(String, Condition)],
    text: &'a str,
}

impl CondParser<'_> {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Condition::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut left = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Condition::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, String> {
        let text = self.text;
        match self.next() {
            Some(Tok::Open) => {
                let c = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(c),
                    _ => Err(format!("`condition: {text}`: a `(` is not closed")),
                }
            }
            Some(Tok::Name(n)) => self
                .named
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, c)| c.clone())
                .ok_or_else(|| {
                    format!("`condition: {text}` names `{n}`, which is not a selection")
                }),
            Some(t @ (Tok::OneOf | Tok::AllOf)) => {
                let Some(Tok::Name(pattern)) = self.next() else {
                    return Err(format!(
                        "`condition: {text}`: `of` needs a name pattern or `them`"
                    ));
                };
                let chosen: Vec<Condition> = self
                    .named
                    .iter()
                    .filter(|(k, _)| {
                        if pattern == "them" {
                            !k.starts_with('_')
                        } else {
                            glob_match(&pattern, k)
                        }
                    })
                    .map(|(_, c)| c.clone())
                    .collect();
                let combined = if t == Tok::OneOf {
                    any(chosen)
                } else {
                    all(chosen)
                };
                combined
                    .ok_or_else(|| format!("`condition: {text}`: `{pattern}` matches no selection"))
            }
            other => Err(format!("`condition: {text}`: unexpected `{other:?}`")),
        }
    }
}

/// Whether `name` matches a condition pattern with `*` wildcards.
fn glob_match(pattern: &str, name: &str) -> bool {
    let body = pattern
        .split('*')
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(".*");
    regex::Regex::new(&format!("^{body}$")).is_ok_and(|re| re.is_match(name))
}

/// The least count of an `event_count` condition (`gte: N`, or `gt: N`).
fn event_count(condition: &Yaml) -> Result<u64, String> {
    let count = match (condition["gte"].as_i64(), condition["gt"].as_i64()) {
        (Some(n), None) => n,
        (None, Some(n)) => n + 1,
        _ => {
            return Err(
                "an `event_count` condition needs `gte` or `gt` (others are not supported)"
                    .to_owned(),
            )
        }
    };
    u64::try_from(count)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "an `event_count` condition below 1".to_owned())
}

/// A Sigma `timespan` (`30s`, `10m`, `1h`, `2d`) in ms.
fn timespan(text: &str) -> Option<i64> {
    let (n, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(n * ms)
}

fn correlation(
    doc: &Yaml,
    detections: &[(Detection, bool)],
    referenced: &mut [bool],
    field_map: &BTreeMap<String, String>,
    file: &str,
) -> Result<Rule, String> {
    let (id, _name, title, description, severity) = identity(doc)?;
    let c = &doc["correlation"];
    for key in ["aliases", "value_count", "value_sum", "value_avg"] {
        if !c[key].is_badvalue() {
            return Err(format!("correlation `{key}` is not supported"));
        }
    }
    let kind = c["type"].as_str().ok_or("`correlation.type` is missing")?;
    let names: Vec<&str> = match &c["rules"] {
        Yaml::Array(items) => items.iter().filter_map(Yaml::as_str).collect(),
        Yaml::String(s) => vec![s.as_str()],
        _ => return Err("`correlation.rules` is missing".to_owned()),
    };
    let mut found = Vec::new();
    for n in &names {
        let i = detections
            .iter()
            .position(|(d, _)| d.id == *n || d.name.as_deref() == Some(n))
            .ok_or_else(|| {
                format!("the correlation names `{n}`, which is not a rule of this file")
            })?;
        referenced[i] = true;
        found.push(&detections[i].0);
    }
    let group_by: Vec<&str> = match &c["group-by"] {
        Yaml::Array(items) => items.iter().filter_map(Yaml::as_str).collect(),
        Yaml::String(s) => vec![s.as_str()],
        _ => Vec::new(),
    };
    let [field] = group_by.as_slice() else {
        return Err(format!(
            "`correlation.group-by` needs exactly one field (it has {})",
            group_by.len()
        ));
    };
    let auditd = found.iter().any(|d| d.auditd);
    let group = path_of(field, auditd, field_map)?;
    let span_text = c["timespan"]
        .as_str()
        .ok_or("`correlation.timespan` is missing")?;
    let window = timespan(span_text)
        .ok_or_else(|| format!("`timespan: {span_text}` is not a duration such as 10m"))?;
    let span = Some(crate::config::units::Span(
        std::time::Duration::from_millis(window.unsigned_abs()),
    ));
    let config = |kind: &str, count| RuleConfig {
        id: id.clone(),
        name: title.clone(),
        description: description.clone(),
        severity,
        kind: kind.to_owned(),
        condition: String::new(),
        after: None,
        count,
        group_by: Some(group.clone()),
        window: span,
    };
    match kind {
        "event_count" => {
            let count = event_count(&c["condition"])?;
            let condition = any(found.iter().map(|d| d.condition.clone()).collect())
                .ok_or("`correlation.rules` is empty")?;
            Ok(Rule::new(
                config("threshold", Some(count)),
                condition,
                Kind::Threshold { count, window },
                file,
            ))
        }
        "temporal" | "temporal_ordered" => {
            let [first, then] = found.as_slice() else {
                return Err(format!(
                    "a `{kind}` correlation of {} rules: only two are supported",
                    found.len()
                ));
            };
            Ok(Rule::new(
                config("sequence", Some(1)),
                then.condition.clone(),
                Kind::Sequence {
                    after: Box::new(first.condition.clone()),
                    count: 1,
                    window,
                    ordered: kind == "temporal_ordered",
                },
                file,
            ))
        }
        other => Err(format!("correlation type `{other}` is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Result<Vec<Rule>, Vec<Problem>> {
        compile(text, "t.yml", &BTreeMap::new())
    }

    #[test]
    fn wildcards_become_anchored_case_insensitive_patterns() {
        assert_eq!(wildcard("a*b?c").0, "a.*b.c");
        assert_eq!(wildcard(r"a\*b").0, r"a\*b");
        assert!(!wildcard(r"a\*b").1);
        assert_eq!(unescape(r"a\*b"), "a*b");
    }

    #[test]
    fn unsupported_features_are_named() {
        let base = "title: T\nid: x\nlogsource: {product: linux, service: auditd}\ndetection:\n";
        let e = rules(&format!(
            "{base}  sel:\n    exe|base64: x\n  condition: sel\n"
        ))
        .unwrap_err();
        assert!(
            e[0].contains("t.yml: rule `T`") && e[0].contains("`base64`"),
            "{e:?}"
        );
        let e = rules(&format!("{base}  sel: [foo, bar]\n  condition: sel\n")).unwrap_err();
        assert!(e[0].contains("keyword"), "{e:?}");
        let e = rules(&format!(
            "{base}  sel: {{exe: x}}\n  condition: sel | count() > 5\n"
        ))
        .unwrap_err();
        assert!(e[0].contains("correlation rule"), "{e:?}");
        let e = rules(&format!("{base}  sel: {{exe: x}}\n  condition: 2 of sel\n")).unwrap_err();
        assert!(e[0].contains("`2 of`"), "{e:?}");
        let e = rules(&format!("{base}  sel: {{exe: x}}\n  condition: other\n")).unwrap_err();
        assert!(e[0].contains("`other`"), "{e:?}");
        let e = rules("title: T\nid: x\nlogsource: {product: windows}\ndetection:\n  sel: {TargetUserName: x}\n  condition: sel\n").unwrap_err();
        assert!(e[0].contains("sigma_field_map"), "{e:?}");
    }

    #[test]
    fn timespans_read_as_sigma_writes_them() {
        assert_eq!(timespan("10m"), Some(600_000));
        assert_eq!(timespan("1h"), Some(3_600_000));
        assert_eq!(timespan("30s"), Some(30_000));
        assert_eq!(timespan("2d"), Some(172_800_000));
        assert_eq!(timespan("10"), None);
        assert_eq!(timespan("0m"), None);
    }
}
