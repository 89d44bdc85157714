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
}

/// Transforms run one after the other in one task; only the last may have several outputs.
pub struct Chain {
    steps: Vec<Box<dyn Transform>>,
}

impl Chain {
    /// A chain of `steps` (at least one).
    #[must_use]
    pub fn new(steps: Vec<Box<dyn Transform>>) -> Self {
        Self { steps }
    }
}

impl Transform for Chain {
    fn apply(&mut self, chunk: &mut EventChunk) {
        for step in &mut self.steps {
            step.apply(chunk);
        }
    }

    fn split(&mut self, chunk: EventChunk) -> Vec<EventChunk> {
        let Some((last, first)) = self.steps.split_last_mut() else {
            return vec![chunk];
        };
        let mut chunk = chunk;
        for step in first {
            // Single-output steps: their one chunk goes on.
            chunk = match step.split(chunk).into_iter().next() {
                Some(c) => c,
                None => return Vec::new(),
            };
        }
        last.split(chunk)
    }

    fn fork(&self) -> Option<Box<dyn Transform>> {
        let steps = self
            .steps
            .iter()
            .map(|s| s.fork())
            .collect::<Option<Vec<_>>>()?;
        Some(Box::new(Chain { steps }))
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
