//! The filter condition language: comparisons of ECS fields, combined with `and`, `or`, `not`.
//!
//! ```text
//! expr    = or
//! or      = and *( ("or" / "||") and )
//! and     = unary *( ("and" / "&&") unary )
//! unary   = ("not" / "!") unary / primary
//! primary = "(" expr ")" / "exists(" path ")" / path op literal / path "in" set
//! op      = "==" / "!=" / "contains" / "starts_with" / "matches" / "<" / "<=" / ">" / ">="
//! path    = "." segment *("." segment)       ; .event.outcome, .user.target.name, .@timestamp
//! literal = '"' chars '"' / integer / "true" / "false"
//! set     = "[" literal *("," literal) "]"
//! ```
//! On an array field (`.event.category`, `.tags`), `==`, `starts_with`, `matches` and `in` hold
//! when any element matches, `contains` tests membership, and `!=` holds when no element equals
//! the literal. `<`, `<=`, `>`, `>=` compare numbers (a string field holding an integer
//! counts as one) and times (`.@timestamp > "2025-01-01T00:00:00Z"`). `matches` takes a regex.
//! A missing field makes every comparison false except `!=`.

use crate::event::{Event, ValueRef};

/// A compiled condition. Its fields are named by their paths (`F = String`), or, in an
/// [`Indexed`] condition, by where their values are in a list looked up beforehand.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition<F = String> {
    /// Both hold.
    And(Box<Condition<F>>, Box<Condition<F>>),
    /// Either holds.
    Or(Box<Condition<F>>, Box<Condition<F>>),
    /// Does not hold.
    Not(Box<Condition<F>>),
    /// The field is present.
    Exists(F),
    /// A comparison of a field with a literal.
    Compare(F, Op, Literal),
}

/// A condition whose fields are places in a list of values looked up beforehand
/// ([`Event::get_many`]), for a transform that tests many conditions on each event.
pub type Indexed = Condition<usize>;

impl<F> Condition<F> {
    /// Whether the condition holds when field `f` has the value `value(f)`.
    fn holds<'v>(&self, value: &impl Fn(&F) -> Option<ValueRef<'v>>) -> bool {
        match self {
            Condition::And(a, b) => a.holds(value) && b.holds(value),
            Condition::Or(a, b) => a.holds(value) || b.holds(value),
            Condition::Not(a) => !a.holds(value),
            Condition::Exists(f) => value(f).is_some(),
            Condition::Compare(f, op, lit) => compare(value(f), *op, lit),
        }
    }

    /// The same condition with each field `f` replaced by `place(f)`.
    fn map_fields<G>(&self, place: &mut impl FnMut(&F) -> G) -> Condition<G> {
        let mut sub = |c: &Condition<F>| Box::new(c.map_fields(place));
        match self {
            Condition::And(a, b) => Condition::And(sub(a), sub(b)),
            Condition::Or(a, b) => Condition::Or(sub(a), sub(b)),
            Condition::Not(a) => Condition::Not(sub(a)),
            Condition::Exists(f) => Condition::Exists(place(f)),
            Condition::Compare(f, op, lit) => Condition::Compare(place(f), *op, lit.clone()),
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `contains`
    Contains,
    /// `starts_with`
    StartsWith,
    /// `matches` (a regex)
    Matches,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in [..]`
    In,
}

/// A literal on the right of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A compiled regex (`matches`).
    Regex(Pattern),
    /// A set of literals (`in`).
    Set(Vec<Literal>),
}

/// Alternatives of a field and the string values it must take one of: one of them must hold.
pub type Clause = Vec<(String, Vec<String>)>;

/// The one clause that holds when either side's clauses hold: the first of each, joined
/// (nothing when a side has none).
#[must_use]
pub fn either(a: Vec<Clause>, b: Vec<Clause>) -> Vec<Clause> {
    match (a.into_iter().next(), b.into_iter().next()) {
        (Some(mut x), Some(y)) => {
            x.extend(y);
            vec![x]
        }
        _ => Vec::new(),
    }
}

/// A regex compared by its text (conditions are compared in tests).
#[derive(Clone, Debug)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A syntax error, with the 0-based character position where it was found.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}: {message}")]
pub struct ConditionError {
    /// Character offset into the condition text.
    pub position: usize,
    /// What was expected.
    pub message: String,
}

impl Condition {
    /// Compiles `text`.
    pub fn parse(text: &str) -> Result<Self, ConditionError> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens, pos: 0 };
        let cond = p.or()?;
        if let Some(tok) = p.tokens.get(p.pos) {
            return Err(ConditionError {
                position: tok.at,
                message: format!("unexpected `{}`", tok.kind.show()),
            });
        }
        Ok(cond)
    }

    /// Quick tests that must all pass for the condition to hold. Each is a clause:
    /// alternatives of a field and the string values it must take one of. From `==` and `in`
    /// comparisons with strings: an `and` needs both sides' clauses; an `or` one clause that
    /// joins the first clause of each side (none when a side has none). Empty: no such test.
    #[must_use]
    pub fn required(&self) -> Vec<Clause> {
        match self {
            Condition::Compare(path, Op::Eq, Literal::Str(l)) => {
                vec![vec![(path.clone(), vec![l.clone()])]]
            }
            Condition::Compare(path, Op::In, Literal::Set(items)) => {
                let values: Option<Vec<String>> = items
                    .iter()
                    .map(|i| match i {
                        Literal::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                values.map_or_else(Vec::new, |v| vec![vec![(path.clone(), v)]])
            }
            Condition::And(a, b) => {
                let mut all = a.required();
                all.extend(b.required());
                all
            }
            Condition::Or(a, b) => either(a.required(), b.required()),
            _ => Vec::new(),
        }
    }

    /// Whether `event` satisfies the condition.
    #[must_use]
    pub fn matches(&self, event: &Event) -> bool {
        self.holds(&|path: &String| event.get(path))
    }

    /// The condition with each field replaced by `place(field)`: where its value will be.
    #[must_use]
    pub fn indexed(&self, place: &mut impl FnMut(&str) -> usize) -> Indexed {
        self.map_fields(&mut |path: &String| place(path))
    }
}

impl Indexed {
    /// Whether the condition holds of an event whose fields' values are `values`.
    #[must_use]
    pub fn matches(&self, values: &[Option<ValueRef<'_>>]) -> bool {
        self.holds(&|at: &usize| values.get(*at).copied().flatten())
    }
}

fn compare(value: Option<ValueRef<'_>>, op: Op, lit: &Literal) -> bool {
    let Some(value) = value else {
        return op == Op::Ne;
    };
    match (op, lit) {
        (Op::In, Literal::Set(items)) => {
            return items.iter().any(|item| compare(Some(value), Op::Eq, item));
        }
        (Op::Matches, Literal::Regex(re)) => return value.strings().any(|s| re.0.is_match(s)),
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, _) => return order(value, op, lit),
        _ => {}
    }
    match (value, lit) {
        (ValueRef::Int(i), Literal::Int(l)) => match op {
            Op::Eq => i == *l,
            Op::Ne => i != *l,
            _ => false,
        },
        (ValueRef::Bool(b), Literal::Bool(l)) => match op {
            Op::Eq => b == *l,
            Op::Ne => b != *l,
            _ => false,
        },
        (ValueRef::List(..) | ValueRef::Names(_), Literal::Str(l)) => {
            let mut items = value.strings();
            match op {
                Op::Eq | Op::Contains => items.any(|s| s == l),
                Op::Ne => items.all(|s| s != l),
                Op::StartsWith => items.any(|s| s.starts_with(l.as_str())),
                _ => false,
            }
        }
        (ValueRef::Str(s) | ValueRef::Json(s), Literal::Str(l)) => match op {
            Op::Eq => s == l,
            Op::Ne => s != l,
            Op::Contains => s.contains(l.as_str()),
            Op::StartsWith => s.starts_with(l.as_str()),
            _ => false,
        },
        (ValueRef::Time(ms), Literal::Str(l)) => {
            let s = crate::time::rfc3339(ms);
            match op {
                Op::Eq => s == *l,
                Op::Ne => s != *l,
                Op::Contains => s.contains(l.as_str()),
                Op::StartsWith => s.starts_with(l.as_str()),
                _ => false,
            }
        }
        // Different types never compare equal.
        _ => op == Op::Ne,
    }
}

/// `<`, `<=`, `>`, `>=`: numbers (an integer field, or a string holding an integer) and
/// times (against an RFC 3339 literal); anything else is false.
fn order(value: ValueRef<'_>, op: Op, lit: &Literal) -> bool {
    let pair = match (value, lit) {
        (ValueRef::Int(i), Literal::Int(l)) => Some((i, *l)),
        (ValueRef::Str(s), Literal::Int(l)) => s.trim().parse::<i64>().ok().map(|i| (i, *l)),
        (ValueRef::Time(ms), Literal::Str(l)) => crate::time::parse_rfc3339(l).map(|l| (ms, l)),
        _ => None,
    };
    let Some((a, b)) = pair else {
        return false;
    };
    match op {
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        _ => false,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Path(String),
    Str(String),
    Int(i64),
    Word(String),
    Op(Op),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    And,
    Or,
    Not,
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Path(p) => format!(".{p}"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Int(i) => i.to_string(),
            Tok::Word(w) => w.clone(),
            Tok::Op(Op::Eq) => "==".into(),
            Tok::Op(Op::Ne) => "!=".into(),
            Tok::Op(Op::Contains) => "contains".into(),
            Tok::Op(Op::StartsWith) => "starts_with".into(),
            Tok::Op(Op::Matches) => "matches".into(),
            Tok::Op(Op::Lt) => "<".into(),
            Tok::Op(Op::Le) => "<=".into(),
            Tok::Op(Op::Gt) => ">".into(),
            Tok::Op(Op::Ge) => ">=".into(),
            Tok::Op(Op::In) => "in".into(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::LBracket => "[".into(),
            Tok::RBracket => "]".into(),
            Tok::Comma => ",".into(),
            Tok::And => "and".into(),
            Tok::Or => "or".into(),
            Tok::Not => "not".into(),
        }
    }
}

struct Token {
    kind: Tok,
    at: usize,
}

#[allow(clippy::too_many_lines)] // one flat match over the token kinds reads best
fn tokenize(text: &str) -> Result<Vec<Token>, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, message: &str| ConditionError {
        position: at,
        message: message.to_owned(),
    };
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let kind = match (c, two.as_str()) {
            (_, "==") => {
                i += 2;
                Tok::Op(Op::Eq)
            }
            (_, "!=") => {
                i += 2;
                Tok::Op(Op::Ne)
            }
            (_, "<=") => {
                i += 2;
                Tok::Op(Op::Le)
            }
            (_, ">=") => {
                i += 2;
                Tok::Op(Op::Ge)
            }
            ('<', _) => {
                i += 1;
                Tok::Op(Op::Lt)
            }
            ('>', _) => {
                i += 1;
                Tok::Op(Op::Gt)
            }
            ('[', _) => {
                i += 1;
                Tok::LBracket
            }
            (']', _) => {
                i += 1;
                Tok::RBracket
            }
            (',', _) => {
                i += 1;
                Tok::Comma
            }
            (_, "&&") => {
                i += 2;
                Tok::And
            }
            (_, "||") => {
                i += 2;
                Tok::Or
            }
            ('!', _) => {
                i += 1;
                Tok::Not
            }
            ('(', _) => {
                i += 1;
                Tok::LParen
            }
            (')', _) => {
                i += 1;
                Tok::RParen
            }
            ('.', _) => {
                i += 1;
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '@' | '-'))
                {
                    i += 1;
                }
                let path: String = chars[start..i].iter().collect();
                if path.is_empty() || path.ends_with('.') || path.contains("..") {
                    return Err(err(at, "expected a field path such as .event.outcome"));
                }
                Tok::Path(path)
            }
            ('"', _) => {
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err(at, "unterminated string")),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&e @ ('"' | '\\')) => s.push(e),
                                _ => return Err(err(i, "unknown escape (use \\\" \\\\ \\n \\t)")),
                            }
                            i += 2;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::Str(s)
            }
            (c, _) if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let digits: String = chars[start..i].iter().collect();
                Tok::Int(digits.parse().map_err(|_| err(at, "expected an integer"))?)
            }
            (c, _) if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "contains" => Tok::Op(Op::Contains),
                    "starts_with" => Tok::Op(Op::StartsWith),
                    "matches" => Tok::Op(Op::Matches),
                    "in" => Tok::Op(Op::In),
                    _ => Tok::Word(word),
                }
            }
            _ => return Err(err(at, &format!("unexpected character `{c}`"))),
        };
        out.push(Token { kind, at });
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn at(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(0, |t| t.at)
    }

    fn fail<T>(&self, message: &str) -> Result<T, ConditionError> {
        let found = self.peek().map_or_else(
            || "end of condition".to_owned(),
            |t| format!("`{}`", t.show()),
        );
        Err(ConditionError {
            position: self.at(),
            message: format!("{message}, found {found}"),
        })
    }

    fn literal(&mut self) -> Result<Literal, ConditionError> {
        let literal = match self.peek().cloned() {
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Int(i)) => Literal::Int(i),
            Some(Tok::Word(w)) if w == "true" => Literal::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Literal::Bool(false),
            _ => return self.fail("expected a \"string\", a number, true or false"),
        };
        self.pos += 1;
        Ok(literal)
    }

    /// `[literal, ...]` (at least one).
    fn set(&mut self) -> Result<Literal, ConditionError> {
        if self.peek() != Some(&Tok::LBracket) {
            return self.fail("expected `[` after in");
        }
        self.pos += 1;
        let mut items = vec![self.literal()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            items.push(self.literal()?);
        }
        if self.peek() != Some(&Tok::RBracket) {
            return self.fail("expected `,` or `]`");
        }
        self.pos += 1;
        Ok(Literal::Set(items))
    }

    fn or(&mut self) -> Result<Condition, ConditionError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, ConditionError> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            let right = self.unary()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Condition, ConditionError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, ConditionError> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.fail("expected `)`");
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Word(w)) if w == "exists" => {
                self.pos += 1;
                if self.peek() != Some(&Tok::LParen) {
                    return self.fail("expected `(` after exists");
                }
                self.pos += 1;
                let Some(Tok::Path(path)) = self.peek().cloned() else {
                    return self.fail("expected a field path such as .user.name");
                };
                self.pos += 1;
                if self.peek() != Some(&Tok::RParen) {
                    return self.fail("expected `)`");
                }
                self.pos += 1;
                Ok(Condition::Exists(path))
            }
            Some(Tok::Path(path)) => {
                self.pos += 1;
                let Some(Tok::Op(op)) = self.peek().cloned() else {
                    return self.fail(
                        "expected ==, !=, contains, starts_with, matches, <, <=, >, >= or in",
                    );
                };
                self.pos += 1;
                let literal = match op {
                    Op::In => self.set()?,
                    Op::Matches => {
                        let at = self.at();
                        let Some(Tok::Str(text)) = self.peek().cloned() else {
                            return self.fail("expected a \"regex\" after matches");
                        };
                        self.pos += 1;
                        let re = regex::Regex::new(&text).map_err(|e| ConditionError {
                            position: at,
                            message: format!(
                                "invalid regex: {}",
                                e.to_string()
                                    .split_whitespace()
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            ),
                        })?;
                        Literal::Regex(Pattern(re))
                    }
                    _ => self.literal()?,
                };
                Ok(Condition::Compare(path, op, literal))
            }
            _ => self.fail("expected a field path, exists(...), not or `(`"),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn required_values_come_from_equalities_and_sets_through_and_and_or() {
        let c = Condition::parse(
            r#".event.category == "authentication" and .event.outcome == "failure""#,
        )
        .unwrap();
        assert_eq!(
            c.required(),
            vec![
                vec![("event.category".into(), vec!["authentication".into()])],
                vec![("event.outcome".into(), vec!["failure".into()])],
            ],
            "an and needs both"
        );
        let c =
            Condition::parse(r#".event.action in ["a", "b"] or (.x == "y" and .z matches "q")"#)
                .unwrap();
        assert_eq!(
            c.required(),
            vec![vec![
                ("event.action".into(), vec!["a".into(), "b".into()]),
                ("x".into(), vec!["y".into()])
            ]]
        );
        let c = Condition::parse(r#".event.action == "a" or exists(.b)"#).unwrap();
        assert!(c.required().is_empty(), "one side of an or without a test");
    }

    use super::*;
    use crate::event::{Origin, Text, Value};

    fn login_failure() -> Event {
        let mut e = Event::new("x".into(), Origin::default(), 0);
        e.set("event.outcome", Value::Str(Text::Static("failure")));
        e.set("event.action", Value::Str(Text::Static("LOGIN_ERROR")));
        e.set("user.name", Value::Str(Text::Static("k.tanaka")));
        e.set("source.port", Value::Int(443));
        e.push("event.category", Text::Static("authentication"));
        e
    }

    fn holds(cond: &str) -> bool {
        Condition::parse(cond).unwrap().matches(&login_failure())
    }

    #[test]
    fn comparisons_on_strings_numbers_and_arrays() {
        assert!(holds(r#".event.outcome == "failure""#));
        assert!(!holds(r#".event.outcome != "failure""#));
        assert!(holds(r#".event.action starts_with "LOGIN""#));
        assert!(holds(r#".user.name contains "tanaka""#));
        assert!(holds(r#".event.category == "authentication""#));
        assert!(holds(r#".event.category contains "authentication""#));
        assert!(holds(r#".event.category != "iam""#));
        assert!(holds(".source.port == 443"));
        assert!(!holds(r#".source.port == "443""#));
    }

    #[test]
    fn numbers_times_regexes_and_sets() {
        assert!(holds(".source.port > 400 and .source.port <= 443"));
        assert!(!holds(".source.port < 443"));
        assert!(holds(".source.port >= 443"));
        assert!(!holds(".user.name > 3"), "not a number: false");
        assert!(
            holds(r#".@timestamp < "2030-01-01T00:00:00Z""#),
            "time 0 is 1970"
        );
        assert!(holds(r#".event.action matches "^LOGIN_(ERROR|FAILURE)$""#));
        assert!(!holds(r#".event.action matches "^login""#));
        assert!(
            holds(r#".event.category matches "auth""#),
            "any element of an array"
        );
        assert!(holds(r#".user.name in ["root", "k.tanaka"]"#));
        assert!(holds(".source.port in [80, 443]"));
        assert!(!holds(r#".user.name in ["root"]"#));
        assert!(holds(r#".event.category in ["iam", "authentication"]"#));
        let e = Condition::parse(r#".a matches "([""#).unwrap_err();
        assert!(e.message.starts_with("invalid regex"), "{e}");
        let e = Condition::parse(r#".a in ["x" "y"]"#).unwrap_err();
        assert!(e.message.contains("expected `,` or `]`"), "{e}");
    }

    #[test]
    fn boolean_operators_and_precedence() {
        assert!(holds(
            r#".event.outcome == "success" or .event.outcome == "failure" and exists(.user.name)"#
        ));
        assert!(!holds(
            r#"(.event.outcome == "success" or .event.outcome == "failure") and not exists(.user.name)"#
        ));
        assert!(holds(
            r#"!(.user.name == "root") && .event.outcome == "failure""#
        ));
    }

    #[test]
    fn missing_fields_only_satisfy_not_equal() {
        assert!(!holds(r#".user.target.name == "x""#));
        assert!(holds(r#".user.target.name != "x""#));
        assert!(!holds("exists(.user.target.name)"));
        assert!(holds("exists(.event.original)"));
    }

    #[test]
    fn syntax_errors_say_where_and_what() {
        let e = Condition::parse(r#".event.outcome = "failure""#).unwrap_err();
        assert_eq!(e.position, 15);
        let e = Condition::parse(r#".event.outcome == "failure" and"#).unwrap_err();
        assert!(e.message.contains("end of condition"), "{e}");
        let e = Condition::parse(r#".a == "unterminated"#).unwrap_err();
        assert!(e.message.contains("unterminated"));
        let e = Condition::parse(r#"event.outcome == "x""#).unwrap_err();
        assert_eq!(e.position, 0);
    }
}
