//! Transforms: small synchronous steps that edit a chunk of events in place.

pub mod chain;
pub mod condition;
pub mod counted;
pub mod dedupe;
pub mod detect;
mod email;
pub mod enrich;
pub mod filter;
pub mod redact;
pub mod remap;
pub mod route;
pub mod throttle;

use std::sync::Arc;

use crate::chunk::EventChunk;
use crate::config::document::{Document, Section};
use crate::config::ConfigError;
use condition::Condition;
pub use filter::{Filter, FilterConfig};

/// Transform types a pipeline file may name.
pub const TYPES: &[&str] = &[
    "filter", "remap", "redact", "enrich", "dedupe", "route", "throttle", "chain", "detect",
];

/// A transform step. Removing events is allowed: the chunk's acknowledgements still cover them.
pub trait Transform: Send {
    /// Edits `chunk` in place.
    fn apply(&mut self, chunk: &mut EventChunk);

    /// Splits `chunk` by output (indices into [`TransformConfig::outputs`]), for transforms
    /// with several outputs; every output gets a chunk (maybe empty), each with its own
    /// acknowledgement handles. By default: [`Transform::apply`], all to output 0.
    fn split(&mut self, mut chunk: EventChunk) -> Vec<EventChunk> {
        self.apply(&mut chunk);
        vec![chunk]
    }

    /// A copy that may run on other chunks at the same time, for transforms whose result for
    /// a chunk does not depend on the chunks before it; `None` (the default) for those whose
    /// does (`dedupe`, `throttle`), which run one chunk at a time.
    fn fork(&self) -> Option<Box<dyn Transform>> {
        None
    }

    /// For a transform that cannot fork: the part of its work that reads none of its state
    /// (fields, conditions), which may run on several chunks at once ahead of it. What it finds
    /// in a chunk is handed back with that chunk, in arrival order, to
    /// [`Transform::split_prepared`]. `None` (the default): no such part.
    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        None
    }

    /// [`Transform::split`], given what this transform's preparer found in `chunk`.
    fn split_prepared(&mut self, chunk: EventChunk, prepared: Prepared) -> Vec<EventChunk> {
        drop(prepared);
        self.split(chunk)
    }
}

/// What a transform's preparer found in one chunk, for the transform itself.
pub type Prepared = Box<dyn std::any::Any + Send>;

/// The stateless part of a transform that keeps state ([`Transform::preparer`]).
pub trait Prepare: Send + Sync {
    /// Reads `chunk` (as it reaches the transform) and returns what the transform needs of it.
    fn prepare(&self, chunk: &EventChunk) -> Prepared;
}

/// Transforms run one after the other in one task; only the last may have several outputs.
pub struct Chain {
    steps: Vec<Box<dyn Transform>>,
    /// The first step that cannot fork, if any.
    ordered_from: Option<usize>,
}

impl Chain {
    /// A chain of `steps` (at least one).
    #[must_use]
    pub fn new(steps: Vec<Box<dyn Transform>>) -> Self {
        let ordered_from = steps.iter().position(|s| s.fork().is_none());
        Self {
            steps,
            ordered_from,
        }
    }

    /// For a chain that cannot fork: its part that may run on several chunks at once (forks
    /// of the steps before the first that cannot fork, and that step's preparer), when it has
    /// one. The rest runs in arrival order ([`Chain::split_behind`]).
    #[must_use]
    pub fn ahead(&self) -> Option<Ahead> {
        let at = self.ordered_from?;
        let prepare = self.steps[at].preparer();
        if at == 0 && prepare.is_none() {
            return None;
        }
        let steps = self.steps[..at]
            .iter()
            .map(|s| s.fork())
            .collect::<Option<Vec<_>>>()?;
        Some(Ahead { steps, prepare })
    }

    /// The ordered part of the chain on a chunk its [`Ahead`] has run.
    pub fn split_behind(
        &mut self,
        chunk: EventChunk,
        prepared: Option<Prepared>,
    ) -> Vec<EventChunk> {
        let at = self.ordered_from.unwrap_or(self.steps.len());
        self.split_from(at, chunk, prepared)
    }

    /// The steps from `at` on `chunk`, the first given `prepared` when there is one.
    fn split_from(
        &mut self,
        at: usize,
        chunk: EventChunk,
        prepared: Option<Prepared>,
    ) -> Vec<EventChunk> {
        let Some((last, first)) = self.steps[at..].split_last_mut() else {
            return vec![chunk];
        };
        let mut chunk = chunk;
        let mut prepared = prepared;
        let mut step_split =
            |step: &mut Box<dyn Transform>, chunk: EventChunk| match prepared.take() {
                Some(p) => step.split_prepared(chunk, p),
                None => step.split(chunk),
            };
        for step in first {
            // Single-output steps: their one chunk goes on.
            chunk = match step_split(step, chunk).into_iter().next() {
                Some(c) => c,
                None => return Vec::new(),
            };
        }
        step_split(last, chunk)
    }
}

/// The part of a [`Chain`] that runs ahead of its ordered part, on several chunks at once.
pub struct Ahead {
    steps: Vec<Box<dyn Transform>>,
    prepare: Option<Arc<dyn Prepare>>,
}

impl Ahead {
    /// Runs the steps ahead on `chunk`, then the preparer of the first ordered step; `None`
    /// when a step kept no chunk.
    pub fn run(&mut self, chunk: EventChunk) -> Option<(EventChunk, Option<Prepared>)> {
        let mut chunk = chunk;
        for step in &mut self.steps {
            // Single-output steps: their one chunk goes on.
            chunk = step.split(chunk).into_iter().next()?;
        }
        let prepared = self.prepare.as_ref().map(|p| p.prepare(&chunk));
        Some((chunk, prepared))
    }
}

impl Transform for Chain {
    fn apply(&mut self, chunk: &mut EventChunk) {
        for step in &mut self.steps {
            step.apply(chunk);
        }
    }

    fn split(&mut self, chunk: EventChunk) -> Vec<EventChunk> {
        self.split_from(0, chunk, None)
    }

    fn fork(&self) -> Option<Box<dyn Transform>> {
        let steps = self
            .steps
            .iter()
            .map(|s| s.fork())
            .collect::<Option<Vec<_>>>()?;
        Some(Box::new(Chain::new(steps)))
    }
}

/// A transform's checked settings.
#[derive(Debug)]
pub enum TransformConfig {
    /// `filter`, with its compiled condition.
    Filter(FilterConfig, Condition),
    /// `redact`, compiled.
    Redact(Box<redact::Redactor>),
    /// `enrich`, with its tables read.
    Enrich(Box<enrich::Enricher>),
    /// `dedupe`.
    Dedupe(Box<dedupe::Dedupe>),
    /// `remap`, with its compiled VRL program.
    Remap(Box<remap::Remap>),
    /// `route`, with its compiled conditions.
    Route(Box<route::Route>),
    /// `throttle`.
    Throttle(Box<throttle::Throttle>),
    /// `chain`, with its name (its state's key in checkpoints).
    Chain(String),
    /// `detect`, with its rules compiled.
    Detect(Box<detect::Detect>),
}

impl TransformConfig {
    /// The transform's `type`.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            TransformConfig::Filter(..) => "filter",
            TransformConfig::Redact(_) => "redact",
            TransformConfig::Enrich(_) => "enrich",
            TransformConfig::Dedupe(_) => "dedupe",
            TransformConfig::Remap(_) => "remap",
            TransformConfig::Route(_) => "route",
            TransformConfig::Throttle(_) => "throttle",
            TransformConfig::Chain(_) => "chain",
            TransformConfig::Detect(_) => "detect",
        }
    }

    /// Reads the settings of a transform of type `kind`; `None` for an unknown type (no
    /// error recorded) or after recording errors.
    pub fn load(
        kind: &str,
        doc: &Document,
        section: &Section,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Self> {
        match kind {
            "filter" => {
                let config: FilterConfig = doc.deserialize(section, errors)?;
                match Condition::parse(&config.condition) {
                    Ok(cond) => Some(Self::Filter(config, cond)),
                    Err(e) => {
                        let span = section.span_of("condition");
                        errors.push(doc.error(
                            span,
                            &format!("{}.condition", section.name),
                            &format!("invalid condition {e}"),
                        ));
                        // A placeholder so the caller does not also report an unknown type.
                        Some(Self::Filter(config, Condition::Exists(String::new())))
                    }
                }
            }
            "redact" => compiled(doc, section, errors, |c: &redact::RedactConfig| {
                c.compile().map(|r| Self::Redact(Box::new(r)))
            }),
            "remap" => compiled(doc, section, errors, |c: &remap::RemapConfig| {
                c.compile()
                    .map(|r| Self::Remap(Box::new(r)))
                    .map_err(|problem| vec![problem])
            }),
            "route" => compiled(doc, section, errors, |c: &route::RouteConfig| {
                c.compile().map(|r| Self::Route(Box::new(r)))
            }),
            "throttle" => compiled(doc, section, errors, |c: &throttle::ThrottleConfig| {
                c.compile(short_name(section))
                    .map(|t| Self::Throttle(Box::new(t)))
            }),
            "dedupe" => compiled(doc, section, errors, |c: &dedupe::DedupeConfig| {
                c.compile(short_name(section))
                    .map(|d| Self::Dedupe(Box::new(d)))
            }),
            "enrich" => compiled(doc, section, errors, |c: &enrich::EnrichConfig| {
                c.compile().map(|e| Self::Enrich(Box::new(e)))
            }),
            "detect" => compiled(doc, section, errors, |c: &detect::DetectConfig| {
                c.compile().map(|d| Self::Detect(Box::new(d)))
            }),
            "chain" => {
                let _: chain::ChainConfig = doc.deserialize(section, errors)?;
                Some(Self::Chain(short_name(section).to_owned()))
            }
            _ => None,
        }
    }

    /// The names of this transform's outputs (`name` for a single one), in the order of
    /// [`Transform::split`]'s chunks.
    #[must_use]
    pub fn outputs(&self, name: &str) -> Vec<String> {
        match self {
            Self::Route(r) => r.outputs(name),
            Self::Throttle(t) => t.outputs(name),
            _ => vec![name.to_owned()],
        }
    }

    /// The running transform of the agent: as [`Self::build`], with the state a restart
    /// keeps (`detect` windows) in `data_dir`.
    #[must_use]
    pub fn build_in(&self, name: &str, data_dir: &std::path::Path) -> Box<dyn Transform> {
        match self {
            Self::Detect(d) => {
                Box::new(d.saved_in(data_dir.join("detect").join(format!("{name}.json"))))
            }
            _ => self.build(),
        }
    }

    /// The running transform.
    #[must_use]
    pub fn build(&self) -> Box<dyn Transform> {
        match self {
            Self::Filter(_, cond) => Box::new(Filter::new(cond.clone())),
            Self::Redact(r) => Box::new((**r).clone()),
            Self::Enrich(e) => Box::new((**e).clone()),
            Self::Dedupe(d) => Box::new(d.fresh()),
            Self::Route(r) => Box::new((**r).clone()),
            Self::Remap(r) => Box::new((**r).clone()),
            Self::Throttle(t) => Box::new(t.fresh()),
            Self::Chain(name) => Box::new(chain::Chainer::new(name)),
            Self::Detect(d) => Box::new(d.fresh()),
        }
    }
}

/// The transform's name without its `transforms.` prefix.
fn short_name(section: &Section) -> &str {
    section.name.rsplit('.').next().unwrap_or(&section.name)
}

/// Reads a transform's settings and compiles them; the problems `compile` finds are recorded
/// as configuration errors (see [`report`]).
fn compiled<C: serde::de::DeserializeOwned, T>(
    doc: &Document,
    section: &Section,
    errors: &mut Vec<ConfigError>,
    compile: impl FnOnce(&C) -> Result<T, Vec<(String, String)>>,
) -> Option<T> {
    let config: C = doc.deserialize(section, errors)?;
    compile(&config)
        .map_err(|problems| report(doc, section, problems, errors))
        .ok()
}

/// Records a transform's problems (`(key, message)`, keys relative to the section) as
/// configuration errors pointing at the key's place in the file.
fn report(
    doc: &Document,
    section: &Section,
    problems: Vec<(String, String)>,
    errors: &mut Vec<ConfigError>,
) {
    for (key, message) in problems {
        let top = key.split(['[', '.']).next().unwrap_or(&key).to_owned();
        errors.push(doc.error(
            section.span_of(&top),
            &format!("{}.{key}", section.name),
            &message,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Origin, Text, Value};

    /// `action` by `user` at minute `minute`.
    fn event(action: &'static str, user: &str, minute: i64) -> Event {
        let at = minute * 60_000;
        let mut e = Event::new(String::new(), Origin::default(), at);
        e.timestamp = Some(at);
        e.set("event.action", Value::Str(Text::Static(action)));
        e.set_str("user.name", user);
        e
    }

    /// A filter dropping `noise`, then a detector of three failures per user in ten minutes.
    fn filter_then_detect() -> Chain {
        let filter = Filter::new(Condition::parse(r#".event.action != "noise""#).unwrap());
        let detect: detect::DetectConfig = toml::from_str(
            "rules = []\n[[rule]]\nid = \"three\"\nname = \"Three failures\"\nkind = \"threshold\"\ncondition = '.event.action == \"failed\"'\ncount = 3\ngroup_by = \"user.name\"\nwindow = \"10m\"\n",
        )
        .unwrap();
        Chain::new(vec![
            Box::new(filter),
            Box::new(detect.compile().unwrap().fresh()),
        ])
    }

    /// The actions and rule ids of a chain's outputs, in order.
    fn shown(outputs: &[Vec<EventChunk>]) -> Vec<String> {
        outputs
            .iter()
            .flatten()
            .flat_map(|c| &c.events)
            .map(|e| match (e.get("rule.id"), e.get("event.action")) {
                (Some(r), _) => format!("alert {}", r.strings().next().unwrap_or("")),
                (None, Some(a)) => a.strings().next().unwrap_or("").to_owned(),
                (None, None) => String::new(),
            })
            .collect()
    }

    #[test]
    fn a_chain_with_a_stateful_step_prepared_ahead_out_of_order_gives_what_it_gives_in_order() {
        let chunks = || {
            (0..4)
                .map(|c| {
                    let events = (0..6)
                        .map(|i| {
                            let action = if i % 3 == 2 { "noise" } else { "failed" };
                            event(action, ["ann", "bob"][i % 2], c * 6 + i as i64)
                        })
                        .collect();
                    EventChunk::new(events, crate::ack::Acks::none())
                })
                .collect::<Vec<_>>()
        };
        let mut in_order = filter_then_detect();
        let expected: Vec<Vec<EventChunk>> =
            chunks().into_iter().map(|c| in_order.split(c)).collect();
        let expected = shown(&expected);
        assert!(
            expected.iter().filter(|s| *s == "alert three").count() >= 2,
            "{expected:?}"
        );
        assert!(!expected.iter().any(|s| s == "noise"), "{expected:?}");

        // Ahead on two copies, the later chunks first; then the ordered part in arrival order.
        let mut staged = filter_then_detect();
        assert!(staged.fork().is_none(), "a detector cannot fork");
        let mut ahead = [
            staged.ahead().expect("a part ahead"),
            staged.ahead().unwrap(),
        ];
        let mut prepared: Vec<_> = chunks()
            .into_iter()
            .enumerate()
            .rev()
            .map(|(i, c)| ahead[i % 2].run(c).expect("a chunk"))
            .collect();
        prepared.reverse();
        let got: Vec<Vec<EventChunk>> = prepared
            .into_iter()
            .map(|(c, p)| {
                assert!(p.is_some(), "the detector's preparer ran");
                staged.split_behind(c, p)
            })
            .collect();
        assert_eq!(shown(&got), expected);
    }

    #[test]
    fn a_chain_that_forks_whole_has_no_part_ahead_and_one_that_starts_with_dedupe_neither() {
        let filter = || Box::new(Filter::new(Condition::parse(".a == 1").unwrap()));
        assert!(Chain::new(vec![filter(), filter()]).ahead().is_none());
        assert!(Chain::new(vec![filter(), filter()]).fork().is_some());
        let dedupe: dedupe::DedupeConfig = toml::from_str("fields = [\"a\"]").unwrap();
        let chain = Chain::new(vec![
            Box::new(dedupe.compile("d").unwrap().fresh()),
            filter(),
        ]);
        assert!(chain.fork().is_none() && chain.ahead().is_none());
    }
}
