//! `route`: sends each event to every named route whose condition holds, and events that match
//! none to `<name>._unmatched`. Outputs are used as inputs: `inputs = ["split.failures"]`.
//! Every output must be read by some component (checked with the graph): an unread route's
//! events would count as delivered.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::condition::Condition;
use super::Transform;
use crate::chunk::EventChunk;
use crate::event::Event;

/// `[transforms.<name>] type = "route"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Route name = condition: `route.failures = '.event.outcome == "failure"'`.
    pub route: BTreeMap<String, String>,
}

/// The output of events that match no route.
pub const UNMATCHED: &str = "_unmatched";

impl RouteConfig {
    /// Compiles the conditions; every problem as `(key, message)`.
    pub fn compile(&self) -> Result<Route, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut routes = Vec::new();
        if self.route.is_empty() {
            problems.push(("route".to_owned(), "name at least one route".to_owned()));
        }
        for (name, condition) in &self.route {
            if name == UNMATCHED
                || name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                problems.push((
                    format!("route.{name}"),
                    format!("`{name}` is not a route name (letters, digits, `_`, `-`; `{UNMATCHED}` is taken)"),
                ));
                continue;
            }
            match Condition::parse(condition) {
                Ok(c) => routes.push((name.clone(), c)),
                Err(e) => {
                    problems.push((format!("route.{name}"), format!("invalid condition {e}")));
                }
            }
        }
        if problems.is_empty() {
            Ok(Route { routes })
        } else {
            Err(problems)
        }
    }
}

/// The running router.
#[derive(Clone, Debug)]
pub struct Route {
    routes: Vec<(String, Condition)>,
}

impl Route {
    /// Its outputs: one per route, then `_unmatched`.
    #[must_use]
    pub fn outputs(&self, name: &str) -> Vec<String> {
        self.routes
            .iter()
            .map(|(r, _)| format!("{name}.{r}"))
            .chain(std::iter::once(format!("{name}.{UNMATCHED}")))
            .collect()
    }
}

impl Transform for Route {
    fn fork(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(self.clone()))
    }

    fn apply(&mut self, _chunk: &mut EventChunk) {}

    fn split(&mut self, chunk: EventChunk) -> Vec<EventChunk> {
        let n = self.routes.len();
        let mut outs: Vec<Vec<Event>> = (0..=n).map(|_| Vec::new()).collect();
        let mut hits = Vec::with_capacity(n);
        for event in chunk.events {
            hits.clear();
            hits.extend(
                self.routes
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, c))| c.matches(&event))
                    .map(|(i, _)| i),
            );
            match hits.split_last() {
                None => outs[n].push(event),
                Some((&last, rest)) => {
                    for &i in rest {
                        outs[i].push(event.clone());
                    }
                    outs[last].push(event);
                }
            }
        }
        // Every output gets its own acknowledgement handles; the chunk's own go to the last.
        let mut acks: Vec<_> = (0..n).map(|_| chunk.acks.fork()).collect();
        acks.push(chunk.acks);
        outs.into_iter()
            .zip(acks)
            .map(|(events, acks)| EventChunk::new(events, acks))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Origin, Owned};

    #[test]
    fn events_go_to_every_matching_route_and_the_rest_to_unmatched() {
        let config: RouteConfig = toml::from_str(
            "route.failures = '.event.outcome == \"failure\"'\nroute.admins = '.user.name == \"root\"'\n",
        )
        .unwrap();
        let mut r = config.compile().unwrap();
        assert_eq!(
            r.outputs("split"),
            ["split.admins", "split.failures", "split._unmatched"]
        );
        let mut chunk = EventChunk::new(Vec::new(), crate::ack::Acks::none());
        for (outcome, user) in [
            ("failure", "root"),
            ("success", "root"),
            ("failure", "bob"),
            ("success", "bob"),
        ] {
            let mut e = Event::new(format!("{outcome} {user}"), Origin::default(), 0);
            e.insert("event.outcome", Owned::Str(outcome.into()))
                .unwrap();
            e.insert("user.name", Owned::Str(user.into())).unwrap();
            chunk.events.push(e);
        }
        let outs = r.split(chunk);
        let originals =
            |i: usize| -> Vec<&str> { outs[i].events.iter().map(Event::original).collect() };
        assert_eq!(originals(0), ["failure root", "success root"]);
        assert_eq!(originals(1), ["failure root", "failure bob"]);
        assert_eq!(originals(2), ["success bob"]);
    }

    #[test]
    fn bad_routes_are_all_reported() {
        let config: RouteConfig =
            toml::from_str("route._unmatched = 'exists(.a)'\nroute.x = '.a =='\n").unwrap();
        let err = config.compile().unwrap_err();
        let keys: Vec<&str> = err.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["route._unmatched", "route.x"]);
    }
}
