//! Detection rules: their TOML form, and each kind's state (match, threshold, sequence,
//! schedule). Windows are in event time (`@timestamp`), so replayed logs raise the same alerts.

use std::collections::HashMap;

use serde::Deserialize;

use crate::config::units::Span;
use crate::event::{Event, ValueRef};
use crate::transform::condition::Condition;

/// One rule as written (`[[rule]]` in a rules file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// `rule.id`.
    pub id: String,
    /// `rule.name`.
    pub name: String,
    /// `rule.description`.
    #[serde(default)]
    pub description: String,
    /// `event.severity` of its alerts (0-100).
    #[serde(default = "default_severity")]
    pub severity: i64,
    /// `match`, `threshold`, `sequence` or `schedule`.
    pub kind: String,
    /// The events the rule counts (match, threshold, schedule) or ends with (sequence).
    pub condition: String,
    /// For a sequence: the events that must come first.
    pub after: Option<String>,
    /// How many matching events (threshold: at least; sequence: of `after`).
    pub count: Option<u64>,
    /// The field whose value groups events (e.g. `user.name`).
    pub group_by: Option<String>,
    /// The event-time window.
    pub window: Option<Span>,
}

fn default_severity() -> i64 {
    47
}

/// What a rule looks for.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Every matching event.
    Match,
    /// At least `count` matching events with one key within `window` ms.
    Threshold { count: u64, window: i64 },
    /// At least `count` `after` events, then a `condition` event, one key, within `window`
    /// (`ordered`); or, not ordered, an `after` event and a `condition` event in either order.
    Sequence {
        after: Box<Condition>,
        count: u64,
        window: i64,
        ordered: bool,
    },
    /// A matching event outside business hours.
    Schedule,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its settings as written.
    pub config: RuleConfig,
    /// What it counts.
    pub condition: Condition,
    /// Its kind.
    pub kind: Kind,
    /// Where it came from (`auditship` for the built-in pack, else the file).
    pub ruleset: String,
    /// Clauses (alternatives of a field and values it must take one of) that must all hold
    /// for the rule to concern an event ([`Condition::required`]), tested before the
    /// conditions. Empty: every event.
    pub prefilter: Vec<crate::transform::condition::Clause>,
}

/// Whether a rule's prefilter lets an event through: in every clause, some alternative's field
/// (its value in `fields`, looked up once per event) has one of its values. A field that is
/// not text cannot be judged here: it passes.
#[must_use]
pub fn may_concern(
    prefilter: &[Vec<(usize, Vec<String>)>],
    fields: &[Option<ValueRef<'_>>],
) -> bool {
    prefilter.iter().all(|clause| {
        clause
            .iter()
            .any(|(i, values)| match fields.get(*i).copied().flatten() {
                None => false,
                Some(ValueRef::Int(_) | ValueRef::Bool(_) | ValueRef::Time(_)) => true,
                Some(v) => v.strings().any(|s| values.iter().any(|x| x == s)),
            })
    })
}

impl Rule {
    /// Compiles `config`; the problem as `(key, message)` otherwise.
    pub fn compile(config: RuleConfig, ruleset: &str) -> Result<Self, (String, String)> {
        let cond = |key: &str, text: &str| {
            Condition::parse(text).map_err(|e| (key.to_owned(), format!("invalid condition {e}")))
        };
        let condition = cond("condition", &config.condition)?;
        let window = || {
            config
                .window
                .map(|w| w.0.as_millis() as i64)
                .filter(|w| *w > 0)
                .ok_or_else(|| {
                    (
                        "window".to_owned(),
                        format!(
                            "rule `{}` of kind `{}` needs a window",
                            config.id, config.kind
                        ),
                    )
                })
        };
        let grouped = || {
            config.group_by.as_ref().map(|_| ()).ok_or_else(|| {
                (
                    "group_by".to_owned(),
                    format!(
                        "rule `{}` of kind `{}` needs group_by",
                        config.id, config.kind
                    ),
                )
            })
        };
        let kind = match config.kind.as_str() {
            "match" => Kind::Match,
            "schedule" => Kind::Schedule,
            "threshold" => {
                grouped()?;
                Kind::Threshold {
                    count: config.count.unwrap_or(1).max(1),
                    window: window()?,
                }
            }
            "sequence" => {
                grouped()?;
                let after = config.after.as_deref().ok_or_else(|| {
                    (
                        "after".to_owned(),
                        format!("rule `{}`: a sequence needs `after`", config.id),
                    )
                })?;
                Kind::Sequence {
                    after: Box::new(cond("after", after)?),
                    count: config.count.unwrap_or(1).max(1),
                    window: window()?,
                    ordered: true,
                }
            }
            other => {
                return Err((
                    "kind".to_owned(),
                    format!(
                        "rule `{}`: unknown kind `{other}` (match, threshold, sequence, schedule)",
                        config.id
                    ),
                ))
            }
        };
        Ok(Self::new(config, condition, kind, ruleset))
    }

    /// A rule of `kind` counting `condition`; its prefilter is derived from the conditions.
    #[must_use]
    pub fn new(config: RuleConfig, condition: Condition, kind: Kind, ruleset: &str) -> Self {
        let prefilter = match &kind {
            // An event concerns a sequence when it meets either part.
            Kind::Sequence { after, .. } => {
                crate::transform::condition::either(condition.required(), after.required())
            }
            _ => condition.required(),
        };
        Self {
            config,
            condition,
            kind,
            ruleset: ruleset.to_owned(),
            prefilter,
        }
    }
}

/// One event a rule counted: when, and where it was read.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct Seen {
    /// Event time (ms).
    pub at: i64,
    /// Where its record was read (`path:offset`).
    pub evidence: Evidence,
    /// Its `user.name`, `source.ip` (for `related.*`).
    pub user: Option<String>,
    /// Its `source.ip`.
    pub ip: Option<String>,
    /// Which part of an unordered sequence it met (0: `after`, 1: the condition).
    #[serde(default)]
    pub part: u8,
}

/// Where a counted record was read: shared with its event (no copy per event), written as
/// `path:offset` in alerts and in the saved windows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// `log.file.path` (`-` when none).
    pub path: Option<std::sync::Arc<str>>,
    /// `log.offset`.
    pub offset: u64,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.as_deref().unwrap_or("-"), self.offset)
    }
}

impl serde::Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Evidence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (path, offset) = text.rsplit_once(':').unwrap_or((&text, "0"));
        Ok(Self {
            path: (path != "-").then(|| std::sync::Arc::from(path)),
            offset: offset.parse().unwrap_or(0),
        })
    }
}

/// The event's time in ms (`@timestamp`).
#[must_use]
pub fn event_time(event: &Event) -> i64 {
    match event.get("@timestamp") {
        Some(ValueRef::Time(t)) => t,
        _ => event.created,
    }
}

/// The value of `path` as a group key.
#[must_use]
pub fn key_of(event: &Event, path: &str) -> Option<String> {
    key_of_value(event.get(path)?)
}

/// [`key_of`] for a value already looked up.
#[must_use]
pub fn key_of_value(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Int(i) => Some(i.to_string()),
        ValueRef::Bool(b) => Some(b.to_string()),
        ValueRef::Time(t) => Some(t.to_string()),
        v => v
            .strings()
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    }
}

/// The state of one key of a windowed rule.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
pub struct Group {
    /// Counted events, by event time.
    pub seen: Vec<Seen>,
    /// No alert for this key before this event time (once per window).
    pub quiet_until: i64,
    /// When it was last touched (for eviction).
    #[serde(skip)]
    pub touched: u64,
}

/// The keys of one windowed rule, bounded.
#[derive(Debug, Default)]
pub struct Groups {
    /// By key.
    pub keys: HashMap<String, Group>,
    /// Keys dropped to stay under the cap.
    pub evicted: u64,
}

impl Groups {
    /// The group of `key`, evicting the least recently used tenth of the keys first when
    /// there are `cap` already.
    pub fn get(&mut self, key: &str, cap: usize, clock: u64) -> &mut Group {
        if !self.keys.contains_key(key) && self.keys.len() >= cap.max(1) {
            let mut ages: Vec<u64> = self.keys.values().map(|g| g.touched).collect();
            let cut = ages.len() / 10;
            ages.select_nth_unstable(cut);
            let limit = ages[cut];
            let before = self.keys.len();
            self.keys.retain(|_, g| g.touched > limit);
            self.evicted += (before - self.keys.len()) as u64;
        }
        let group = self.keys.entry(key.to_owned()).or_default();
        group.touched = clock;
        group
    }
}

/// Inserts `seen` in event-time order and drops what is older than `window` before the newest.
pub fn remember(group: &mut Group, seen: Seen, window: i64) {
    let at = group.seen.partition_point(|s| s.at <= seen.at);
    group.seen.insert(at, seen);
    let newest = group.seen.last().map_or(0, |s| s.at);
    let keep_from = group.seen.partition_point(|s| s.at < newest - window);
    group.seen.drain(..keep_from);
}

/// The events of the first window (`window` ms, in event time) that holds at least `count`
/// of `seen`, which is sorted.
#[must_use]
pub fn full_window(seen: &[Seen], count: u64, window: i64) -> Option<&[Seen]> {
    let count = count as usize;
    if seen.len() < count {
        return None;
    }
    (0..=seen.len() - count)
        .find(|&i| seen[i + count - 1].at - seen[i].at <= window)
        .map(|i| {
            let end = seen[i..].partition_point(|s| s.at - seen[i].at <= window) + i;
            &seen[i..end]
        })
}

/// Events of a sequence's second part kept per key, the latest in event time: they wait for
/// first-part events read late (another file, a lagging node).
pub const LATE_ENDS: usize = 8;

/// Bounds one key of a sequence (sorted by event time): the latest `count` + [`LATE_ENDS`]
/// first-part events and the latest [`LATE_ENDS`] second-part events stay, so a user failing
/// or succeeding thousands of times in a window costs no more than a few.
pub fn keep_latest(seen: &mut Vec<Seen>, count: u64) {
    let limits = [
        usize::try_from(count)
            .unwrap_or(usize::MAX)
            .saturating_add(LATE_ENDS),
        LATE_ENDS,
    ];
    if seen.len() <= limits[1] {
        return;
    }
    let mut over = [0usize; 2];
    for s in seen.iter() {
        over[usize::from(s.part.min(1))] += 1;
    }
    over = [
        over[0].saturating_sub(limits[0]),
        over[1].saturating_sub(limits[1]),
    ];
    if over == [0, 0] {
        return;
    }
    // The oldest come first: drop each part's excess from the front.
    seen.retain(|s| {
        let part = usize::from(s.part.min(1));
        if over[part] > 0 {
            over[part] -= 1;
            false
        } else {
            true
        }
    });
}

/// The first event of the second part (`part` 1) that has at least `count` events of the first
/// part (`part` 0) before it in event time and within `window`: those events and it, by time.
/// `seen` is sorted by event time. Only the ends that `new` (the event just remembered, at
/// that time and of that part) can complete are tested: itself, or the ends after it.
#[must_use]
pub fn first_sequence(seen: &[Seen], new: (i64, u8), count: u64, window: i64) -> Option<Vec<Seen>> {
    let (at, part) = new;
    let starts_before = |end: i64| {
        seen.iter()
            .filter(move |s| s.part == 0 && s.at <= end && end - s.at <= window)
    };
    let end = seen.iter().filter(|s| s.part == 1).find(|end| {
        let concerned = if part == 1 {
            end.at == at
        } else {
            end.at >= at && end.at - at <= window
        };
        concerned && starts_before(end.at).count() as u64 >= count
    })?;
    let mut all: Vec<Seen> = starts_before(end.at).cloned().collect();
    all.push(end.clone());
    Some(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(at: i64) -> Seen {
        Seen {
            at,
            evidence: Evidence::default(),
            user: None,
            ip: None,
            part: 0,
        }
    }

    #[test]
    fn keys_stay_under_the_cap_and_the_least_recently_used_go_first() {
        let mut groups = Groups::default();
        for i in 0..1000u64 {
            groups.get(&format!("user{i}"), 100, i);
        }
        assert!(groups.keys.len() <= 100, "{}", groups.keys.len());
        assert_eq!(groups.evicted as usize + groups.keys.len(), 1000);
        assert!(groups.keys.contains_key("user999"), "the newest key stays");
        assert!(!groups.keys.contains_key("user0"), "the oldest went first");
    }

    #[test]
    fn a_sequence_is_found_in_event_time_whatever_the_arrival_order() {
        let mut group = Group::default();
        // The success (minute 5) is read first, the three failures (minutes 1-3) later.
        let mut success = seen(5 * 60_000);
        success.part = 1;
        remember(&mut group, success, 600_000);
        for at in [3, 1] {
            remember(&mut group, seen(at * 60_000), 600_000);
        }
        assert!(
            first_sequence(&group.seen, (60_000, 0), 3, 600_000).is_none(),
            "two failures"
        );
        remember(&mut group, seen(2 * 60_000), 600_000);
        let found =
            first_sequence(&group.seen, (120_000, 0), 3, 600_000).expect("three failures, then");
        assert_eq!(found.len(), 4);
        assert_eq!(found[3].part, 1);
        // A failure after the success does not count towards it.
        let mut late = Group::default();
        let mut success = seen(0);
        success.part = 1;
        remember(&mut late, success, 600_000);
        for at in [1, 2, 3] {
            remember(&mut late, seen(at * 60_000), 600_000);
        }
        assert!(first_sequence(&late.seen, (180_000, 0), 3, 600_000).is_none());
    }

    #[test]
    fn a_sequence_key_keeps_only_its_latest_events_of_each_part() {
        let mut group = Group::default();
        for at in 0..1000 {
            let mut s = seen(at);
            s.part = u8::from(at % 2 == 0);
            remember(&mut group, s, 600_000);
            keep_latest(&mut group.seen, 3);
        }
        let ends = group.seen.iter().filter(|s| s.part == 1).count();
        let starts = group.seen.len() - ends;
        assert_eq!((starts, ends), (3 + LATE_ENDS, LATE_ENDS));
        assert_eq!(
            group.seen.last().map(|s| s.at),
            Some(999),
            "the newest stay"
        );
    }

    #[test]
    fn a_full_window_is_found_in_event_time_whatever_the_arrival_order() {
        let mut group = Group::default();
        for at in [5, 1, 3, 0, 4, 2] {
            remember(&mut group, seen(at * 60_000), 600_000);
        }
        let win = full_window(&group.seen, 6, 600_000).expect("six within ten minutes");
        assert_eq!(win.len(), 6);
        assert_eq!((win[0].at, win[5].at), (0, 300_000));
        let mut spread = Group::default();
        for at in [0, 3, 6, 9, 12, 15] {
            remember(&mut spread, seen(at * 60_000), 600_000);
        }
        assert!(full_window(&spread.seen, 6, 600_000).is_none());
    }
}
