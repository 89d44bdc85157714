//! One pipeline file as text plus its spanned TOML tree; turns byte spans into line and column.
//!
//! `${VAR}` (and `${VAR:-default}`) in string values read the environment, so secrets stay out
//! of pipeline files; `$$` is a literal `$`. The interpolated values are remembered so that no
//! error message ever echoes them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::ConfigError;

/// A parsed pipeline file.
pub struct Document {
    /// The file's path, as given.
    pub path: PathBuf,
    /// Pipeline files are read once per process; leaking their text lets the spanned tree
    /// borrow from it for the life of the process without copying every key and value.
    text: &'static str,
    line_starts: Vec<usize>,
    secrets: Vec<String>,
}

/// A table of the file together with the span of the key that names it.
pub struct Section {
    /// The table's dotted name in the file (`sinks.out`).
    pub name: String,
    /// Span of the naming key (used for errors about the table as a whole).
    pub name_span: Range<usize>,
    /// The table itself.
    pub table: Spanned<DeTable<'static>>,
}

impl Section {
    /// The span of `key`'s value, or of the section's name when the key is absent.
    #[must_use]
    pub fn span_of(&self, key: &str) -> Range<usize> {
        self.table
            .get_ref()
            .get(key)
            .map_or(self.name_span.clone(), toml::Spanned::span)
    }
}

impl Document {
    /// Reads and parses `path`; a syntax error is returned as a located [`ConfigError`].
    pub fn load(path: &Path) -> Result<(Self, Spanned<DeTable<'static>>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the pipeline file: {e}"),
        })?;
        Self::parse(path, text)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(
        path: &Path,
        text: String,
    ) -> Result<(Self, Spanned<DeTable<'static>>), ConfigError> {
        let text: &'static str = Box::leak(text.into_boxed_str());
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let doc = Self {
            path: path.to_path_buf(),
            text,
            line_starts,
            secrets: Vec::new(),
        };
        let root = match DeTable::parse(doc.text) {
            Ok(root) => root,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = first_line(e.message());
                return Err(doc.error(span, "", &format!("TOML syntax error: {message}")));
            }
        };
        Ok((doc, root))
    }

    /// `(line, column)`, both 1-based, of byte `offset`.
    #[must_use]
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset.min(self.text.len())]
            .chars()
            .count()
            + 1;
        (line, column)
    }

    /// A located error about `key` at `span`; interpolated secrets are masked in `message`.
    #[must_use]
    pub fn error(&self, span: Range<usize>, key: &str, message: &str) -> ConfigError {
        let (line, column) = self.line_col(span.start);
        let mut message = message.to_owned();
        for secret in &self.secrets {
            if !secret.is_empty() {
                message = message.replace(secret.as_str(), "<redacted>");
            }
        }
        ConfigError {
            file: self.path.clone(),
            line,
            column,
            key: key.to_owned(),
            message,
        }
    }

    /// Replaces `${VAR}` in every string value below `value`, recording errors for unset
    /// variables.
    pub fn interpolate(
        &mut self,
        value: &mut Spanned<DeValue<'static>>,
        key: &str,
        errors: &mut Vec<ConfigError>,
    ) {
        let span = value.span();
        match value.get_mut() {
            DeValue::String(s) => match expand_env(s) {
                Ok(Some((expanded, values))) => {
                    self.secrets.extend(values);
                    *s = expanded.into();
                }
                Ok(None) => {}
                Err(message) => errors.push(self.error(span, key, &message)),
            },
            DeValue::Array(items) => {
                for item in items.iter_mut() {
                    self.interpolate(item, key, errors);
                }
            }
            DeValue::Table(table) => {
                for (k, v) in table.iter_mut() {
                    let child = format!("{key}.{}", k.get_ref());
                    self.interpolate(v, &child, errors);
                }
            }
            _ => {}
        }
    }

    /// Deserialises `section` into `T`, collecting *every* problem: after an unknown or
    /// invalid key is reported, that key is removed and deserialisation is tried again.
    /// Returns the value read without the faulty keys (check `errors`), or `None` when even
    /// that fails.
    pub fn deserialize<T: DeserializeOwned>(
        &self,
        section: &Section,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let mut table = section.table.clone();
        // Each round removes one key, so this ends after at most (number of keys + 1) rounds.
        for _ in 0..=section.table.get_ref().len() {
            let de = toml::de::Deserializer::from(table.clone());
            match T::deserialize(de) {
                // With the faulty keys removed the rest deserialised: hand it back, so that the
                // caller's own checks report their problems too (the recorded errors still
                // refuse the plan).
                Ok(value) => return Some(value),
                Err(e) => {
                    let message = first_line(e.message());
                    let inner = e
                        .span()
                        .map(|s| key_path_at(table.get_ref(), &s))
                        .unwrap_or_default();
                    let culprit = unknown_field(&message)
                        .filter(|_| inner.len() <= 1)
                        .map(str::to_owned)
                        .or_else(|| inner.first().cloned());
                    let present = culprit.as_deref().and_then(|k| {
                        table
                            .get_ref()
                            .get_key_value(k)
                            .map(|(key, v)| (key.span(), v.span()))
                    });
                    match (culprit, present) {
                        (Some(key), Some((key_span, value_span))) => {
                            let span = if message.starts_with("unknown field") {
                                key_span
                            } else {
                                value_span
                            };
                            let path = if inner.len() > 1 {
                                inner.join(".")
                            } else {
                                key.clone()
                            };
                            let span = if inner.len() > 1 {
                                e.span().unwrap_or(span)
                            } else {
                                span
                            };
                            let full = if section.name.is_empty() {
                                path
                            } else {
                                format!("{}.{path}", section.name)
                            };
                            errors.push(self.error(span, &full, &explain(&message)));
                            table.get_mut().remove(key.as_str());
                        }
                        (Some(key), None) => {
                            let full = format!("{}.{key}", section.name);
                            errors.push(self.error(
                                section.name_span.clone(),
                                &full,
                                &explain(&message),
                            ));
                            return None;
                        }
                        (None, _) => {
                            let span = e.span().unwrap_or(section.name_span.clone());
                            errors.push(self.error(span, &section.name, &explain(&message)));
                            return None;
                        }
                    }
                }
            }
        }
        None
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_owned()
}

/// The field named in serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Rewords serde messages for operators.
fn explain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = tail
            .trim_start_matches(", ")
            .replace("expected one of ", "")
            .replace("expected ", "")
            .replace('`', "");
        if let Some(close) = expected
            .split(", ")
            .find(|k| !k.is_empty() && edit_distance(k, field) <= 2)
        {
            return format!(
                "unknown key `{field}` (did you mean `{close}`? known keys: {expected})"
            );
        }
        if expected.contains("there are no fields") {
            return format!(
                "unknown key `{field}` (this component takes no keys besides type and inputs)"
            );
        }
        return format!("unknown key `{field}` (known keys: {expected})");
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return format!("missing required key `{field}`");
    }
    message.to_owned()
}

/// Levenshtein distance, for "did you mean" hints on short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The path of keys (outermost first) whose key or value span contains `span`, descending
/// into nested tables.
fn key_path_at(table: &DeTable<'_>, span: &Range<usize>) -> Vec<String> {
    let inside = |r: &Range<usize>| r.start <= span.start && span.start < r.end.max(r.start + 1);
    for (k, v) in table {
        if inside(&k.span()) || inside(&v.span()) {
            let mut path = vec![k.get_ref().to_string()];
            if let DeValue::Table(inner) = v.get_ref() {
                path.extend(key_path_at(inner, span));
            }
            return path;
        }
    }
    Vec::new()
}

/// Expands `${VAR}`/`${VAR:-default}`/`$$`. Returns `Ok(None)` when nothing was expanded,
/// else the new string and the values that came from the environment.
fn expand_env(input: &str) -> Result<Option<(String, Vec<String>)>, String> {
    if !input.contains('$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(input.len());
    let mut values = Vec::new();
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "unclosed `${` in value".to_owned())?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{expr}}}` is not a valid environment variable name"
                ));
            }
            match (std::env::var(name), default) {
                (Ok(v), _) => {
                    out.push_str(&v);
                    values.push(v);
                }
                (Err(_), Some(d)) => out.push_str(d),
                (Err(_), None) => {
                    return Err(format!("environment variable `{name}` is not set"));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(Some((out, values)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_references_are_expanded_with_defaults_and_escapes() {
        std::env::set_var("AUDITSHIP_TEST_TOKEN", "s3cr3t");
        let (s, values) = expand_env("Bearer ${AUDITSHIP_TEST_TOKEN} $$ ${NOPE_X:-dflt}")
            .unwrap()
            .unwrap();
        assert_eq!(s, "Bearer s3cr3t $ dflt");
        assert_eq!(values, vec!["s3cr3t".to_owned()]);
        assert!(expand_env("${AUDITSHIP_UNSET_VAR_Q}")
            .unwrap_err()
            .contains("AUDITSHIP_UNSET_VAR_Q"));
        assert_eq!(expand_env("plain").unwrap(), None);
    }

    #[test]
    fn offsets_map_to_one_based_lines_and_columns() {
        let (doc, _) = Document::parse(Path::new("x.toml"), "a = 1\nbb = 2\n".into()).unwrap();
        assert_eq!(doc.line_col(0), (1, 1));
        assert_eq!(doc.line_col(6), (2, 1));
        assert_eq!(doc.line_col(9), (2, 4));
    }
}
