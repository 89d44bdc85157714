//! `auditship test`: unit tests inside pipeline files, as `vector test` runs them. A test
//! inserts raw records at sources (parsed by each source's format) and checks what reaches
//! named outputs (a source, a transform, or a transform's named output such as
//! `split.failures`): a count, and conditions every extracted event must satisfy. Nothing is
//! read from files, no checkpoint is written, no sink is started.
//!
//! ```toml
//! [[tests]]
//! name = "failed TPS logins are routed to the failures sink"
//! [[tests.inputs]]
//! insert_at = "tps"
//! value = "0.http-bio-8443-exec-3 - [15/Feb/2016:16:03:39 PST] [14] [6] [AuditEvent=...] ..."
//! [[tests.outputs]]
//! extract_from = "split.failures"
//! conditions = ['.event.outcome == "failure"']
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::chunk::EventChunk;
use crate::config::{Kind, Plan};
use crate::event::Event;
use crate::parse;
use crate::source::SourceConfig;
use crate::transform::condition::Condition;

/// `[[tests]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    /// What the test shows.
    pub name: String,
    /// Records inserted at sources.
    pub inputs: Vec<TestInput>,
    /// What must come out where.
    pub outputs: Vec<TestOutput>,
}

/// `[[tests.inputs]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    /// The source the record enters at.
    pub insert_at: String,
    /// The raw record (several lines for multi-line and multi-record events).
    pub value: String,
}

/// `[[tests.outputs]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestOutput {
    /// A component's name or a named output (`split.failures`).
    pub extract_from: String,
    /// How many events must arrive there (`0`: none may).
    pub count: Option<usize>,
    /// Conditions every event arriving there must satisfy (at least one event must arrive).
    #[serde(default)]
    pub conditions: Vec<String>,
}

/// How one test ended.
#[derive(Debug)]
pub struct Outcome {
    /// The test's name.
    pub name: String,
    /// Why it failed, one line per problem (empty: passed).
    pub failures: Vec<String>,
}

/// Problems with the tests' references, as `(test index, message)`: an `insert_at` that is
/// no source, an `extract_from` that is no output, a condition that does not compile.
#[must_use]
pub fn check(plan: &Plan, tests: &[TestConfig]) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let outputs: Vec<String> = plan
        .components
        .iter()
        .flat_map(|c| c.kind.outputs(&c.name))
        .collect();
    for (t, test) in tests.iter().enumerate() {
        for input in &test.inputs {
            let is_source = plan
                .components
                .iter()
                .any(|c| c.name == input.insert_at && matches!(c.kind, Kind::Source(_)));
            if !is_source {
                problems.push((
                    t,
                    format!(
                        "insert_at `{}` is not a source of the pipeline",
                        input.insert_at
                    ),
                ));
            }
        }
        for output in &test.outputs {
            if !outputs.contains(&output.extract_from) {
                problems.push((
                    t,
                    format!(
                        "extract_from `{}` is not an output (known: {})",
                        output.extract_from,
                        outputs.join(", ")
                    ),
                ));
            }
            if output.count.is_none() && output.conditions.is_empty() {
                problems.push((
                    t,
                    format!(
                        "output `{}` checks nothing: give count or conditions",
                        output.extract_from
                    ),
                ));
            }
            for c in &output.conditions {
                if let Err(e) = Condition::parse(c) {
                    problems.push((t, format!("condition `{c}`: {e}")));
                }
            }
        }
    }
    problems
}

/// Runs every test of `plan` (checked by [`check`]).
#[must_use]
pub fn run(plan: &Plan, tests: &[TestConfig]) -> Vec<Outcome> {
    tests.iter().map(|t| run_one(plan, t)).collect()
}

fn run_one(plan: &Plan, test: &TestConfig) -> Outcome {
    let created = crate::time::now_ms();
    let mut at: HashMap<String, Vec<Event>> = HashMap::new();
    // The records of one source are read as one file, in order: an auditd event written as
    // several inputs (SYSCALL, PATH, EOE) is grouped as the agent groups it. A `kafka`
    // source's inputs are its messages, one per line.
    let mut texts: Vec<(&str, Arc<dyn parse::Parser>, String)> = Vec::new();
    for input in &test.inputs {
        let Some(Kind::Source(source)) = plan
            .components
            .iter()
            .find(|c| c.name == input.insert_at)
            .map(|c| &c.kind)
        else {
            continue;
        };
        let i = texts
            .iter()
            .position(|(name, ..)| *name == input.insert_at)
            .unwrap_or_else(|| {
                let parser = match source {
                    SourceConfig::File(config) => {
                        parse::for_format(config.format, &config.parse_options())
                    }
                    SourceConfig::Kafka(config) => config.parser(),
                };
                texts.push((&input.insert_at, parser, String::new()));
                texts.len() - 1
            });
        let buffer = &mut texts[i].2;
        buffer.push_str(&input.value);
        if !buffer.ends_with('\n') {
            buffer.push('\n');
        }
    }
    for (name, parser, text) in texts {
        let events = crate::inspect::parse_events(text.as_bytes(), "<test>", &*parser, created);
        at.entry(name.to_owned()).or_default().extend(events);
    }
    // Components come in data-path order: every transform after its inputs.
    for c in &plan.components {
        let Kind::Transform(config) = &c.kind else {
            continue;
        };
        let events: Vec<Event> = c
            .inputs
            .iter()
            .flat_map(|i| at.get(i).cloned().unwrap_or_default())
            .collect();
        let mut transform = config.build();
        let chunks = transform.split(EventChunk::new(events, crate::ack::Acks::none()));
        for (name, chunk) in config.outputs(&c.name).into_iter().zip(chunks) {
            at.entry(name).or_default().extend(chunk.events);
        }
    }
    let mut failures = Vec::new();
    for output in &test.outputs {
        let events = at.get(&output.extract_from).map_or(&[][..], Vec::as_slice);
        if let Some(count) = output.count {
            if events.len() != count {
                failures.push(format!(
                    "{}: {} events arrived, {count} expected",
                    output.extract_from,
                    events.len()
                ));
            }
        }
        if !output.conditions.is_empty() && events.is_empty() {
            failures.push(format!(
                "{}: no event arrived to check the conditions against",
                output.extract_from
            ));
        }
        for text in &output.conditions {
            let Ok(condition) = Condition::parse(text) else {
                continue;
            };
            if let Some(e) = events.iter().find(|e| !condition.matches(e)) {
                failures.push(format!(
                    "{}: condition `{text}` does not hold for {}",
                    output.extract_from,
                    e.to_json()
                ));
            }
        }
    }
    Outcome {
        name: test.name.clone(),
        failures,
    }
}
