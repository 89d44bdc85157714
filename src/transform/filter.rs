//! `filter`: keeps the events for which a condition holds; removed events count as delivered.

use serde::Deserialize;

use super::condition::Condition;
use super::Transform;
use crate::chunk::EventChunk;

/// `[transforms.<name>] type = "filter"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The condition an event must satisfy to pass, e.g. `.event.outcome == "failure"`.
    pub condition: String,
}

/// The running filter.
#[derive(Clone, Debug)]
pub struct Filter {
    condition: Condition,
}

impl Filter {
    /// A filter for an already-checked condition.
    #[must_use]
    pub fn new(condition: Condition) -> Self {
        Self { condition }
    }
}

impl Transform for Filter {
    fn fork(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(self.clone()))
    }

    fn apply(&mut self, chunk: &mut EventChunk) {
        chunk.events.retain(|e| self.condition.matches(e));
    }
}
