//! `detect`: forwards every event unchanged and adds alert events (`event.kind: alert`) when a
//! rule fires: the built-in pack and rule files, of four kinds (match, threshold, sequence,
//! schedule), windows in event time, state bounded per rule.

pub mod rules;
pub mod sigma;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{Datelike as _, TimeZone as _, Timelike as _};
use serde::Deserialize;

use crate::chunk::EventChunk;
use crate::event::{Event, Items, Text, Value};
use crate::transform::condition::Indexed;
use crate::transform::Transform;
use rules::{full_window, remember, Groups, Kind, Rule, RuleConfig, Seen};

/// `[transforms.<name>] type = "detect"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// `builtin` and/or globs of rule files (`rules/*.toml`); default `["builtin"]`.
    #[serde(default = "default_rules")]
    pub rules: Vec<String>,
    /// Rules written in the pipeline file (`[[transforms.x.rule]]`).
    #[serde(default)]
    pub rule: Vec<RuleConfig>,
    /// IANA zone of the business hours (default UTC).
    pub timezone: Option<String>,
    /// `{ days = "Mon-Fri", from = "08:00", to = "18:00" }` (the default).
    pub business_hours: Option<BusinessHoursConfig>,
    /// Sigma field names and the ECS paths they read (`{ TargetUserName = "user.target.name" }`),
    /// consulted before the built-in map for `product: linux, service: auditd`.
    #[serde(default)]
    pub sigma_field_map: std::collections::BTreeMap<String, String>,
    /// Keys remembered per windowed rule (default 100,000); the least recently used tenth is
    /// dropped (and counted) when full.
    pub max_keys: Option<usize>,
}

fn default_rules() -> Vec<String> {
    vec!["builtin".to_owned()]
}

/// Business hours as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursConfig {
    /// `Mon-Fri`, or a list such as `Mon,Tue,Thu`.
    pub days: String,
    /// `HH:MM`.
    pub from: String,
    /// `HH:MM`.
    pub to: String,
}

/// Weekdays as business-hour ranges name them, Monday first.
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Business hours, checked.
#[derive(Debug, Clone)]
struct BusinessHours {
    zone: chrono_tz::Tz,
    /// Bit `n` set: weekday `n` (Monday = 0) is a business day.
    days: u8,
    from_min: u32,
    to_min: u32,
}

impl BusinessHours {
    fn parse(
        zone: Option<&str>,
        config: Option<&BusinessHoursConfig>,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let zone = match zone {
            Some(z) => crate::parse::zone(z).unwrap_or_else(|e| {
                problems.push(("timezone".to_owned(), e));
                chrono_tz::UTC
            }),
            None => chrono_tz::UTC,
        };
        let default = BusinessHoursConfig {
            days: "Mon-Fri".into(),
            from: "08:00".into(),
            to: "18:00".into(),
        };
        let config = config.unwrap_or(&default);
        let day = |s: &str| {
            DAY_NAMES
                .iter()
                .position(|n| s.trim().eq_ignore_ascii_case(n))
        };
        let mut days = 0u8;
        for part in config.days.split(',') {
            let range = match part.split_once('-') {
                Some((a, b)) => day(a).zip(day(b)),
                None => day(part).map(|d| (d, d)),
            };
            match range {
                Some((a, b)) if a <= b => (a..=b).for_each(|d| days |= 1 << d),
                _ => problems.push((
                    "business_hours.days".to_owned(),
                    format!("`{}` is not a day or a range such as Mon-Fri", part.trim()),
                )),
            }
        }
        let minutes = |key: &str, s: &str, problems: &mut Vec<(String, String)>| {
            let parsed = s.split_once(':').and_then(|(h, m)| {
                let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
                (h <= 24 && m < 60).then_some(h * 60 + m)
            });
            parsed.unwrap_or_else(|| {
                problems.push((
                    format!("business_hours.{key}"),
                    format!("`{s}` is not a time such as 08:00"),
                ));
                0
            })
        };
        let from_min = minutes("from", &config.from, &mut problems);
        let to_min = minutes("to", &config.to, &mut problems);
        if problems.is_empty() {
            Ok(Self {
                zone,
                days,
                from_min,
                to_min,
            })
        } else {
            Err(problems)
        }
    }

    /// Whether the instant `ms` falls outside business hours, in the configured zone.
    fn outside(&self, ms: i64) -> bool {
        let Some(local) = self.zone.timestamp_millis_opt(ms).single() else {
            return false;
        };
        let day = local.weekday().num_days_from_monday();
        let minute = local.hour() * 60 + local.minute();
        self.days & (1 << day) == 0 || minute < self.from_min || minute >= self.to_min
    }
}

/// The compiled transform's settings.
#[derive(Debug, Clone)]
pub struct Detect {
    rules: Arc<Vec<Rule>>,
    hours: BusinessHours,
    max_keys: usize,
    /// The fields the rules' prefilters read, each looked up once per event.
    prefilter_paths: Arc<crate::event::KeySet>,
    /// Per rule: clauses of alternatives of (index into `prefilter_paths`, values).
    prefilters: Arc<Vec<Prefilter>>,
    /// Where `user.name` and `source.ip` (what a rule keeps of an event) are in
    /// `prefilter_paths`, and each rule's `group_by`.
    kept_at: [usize; 2],
    group_at: Arc<Vec<Option<usize>>>,
    /// Each rule's condition, and a sequence's `after`, over `prefilter_paths` (which hold
    /// every field the conditions read): an event's fields are looked up once for all rules.
    conditions: Arc<Vec<(Indexed, Option<Indexed>)>>,
    /// What every detector built from these settings counts, for the metrics.
    counters: Arc<Counters>,
}

/// What a `detect` transform counts, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Alerts raised.
    pub alerts: AtomicU64,
    /// Keys dropped to keep each rule under `max_keys`.
    pub evicted: AtomicU64,
}

/// Clauses that must all hold, each of alternatives of (index of a field in
/// `Detect::prefilter_paths`, values it must take one of).
type Prefilter = Vec<Vec<(usize, Vec<String>)>>;

/// The built-in rule pack.
const BUILTIN: &str = include_str!("builtin.toml");

/// A rules file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rule: Vec<RuleConfig>,
}

impl DetectConfig {
    /// Every rule of the pack, the files and the pipeline, compiled; problems go to `problems`.
    fn load(&self, problems: &mut Vec<(String, String)>) -> Vec<Rule> {
        let mut rules = Vec::new();
        let mut sigma_rules = Vec::new();
        let mut add = |configs: Vec<RuleConfig>,
                       ruleset: &str,
                       key: &str,
                       problems: &mut Vec<(String, String)>| {
            for c in configs {
                match Rule::compile(c, ruleset) {
                    Ok(r) => rules.push(r),
                    Err((k, m)) => problems.push((key.to_owned(), format!("{ruleset}: {k}: {m}"))),
                }
            }
        };
        for (i, entry) in self.rules.iter().enumerate() {
            let key = format!("rules[{i}]");
            if entry == "builtin" {
                match toml::from_str::<RulesFile>(BUILTIN) {
                    Ok(f) => add(f.rule, "auditship", &key, problems),
                    Err(e) => problems.push((key, format!("the built-in pack: {e}"))),
                }
                continue;
            }
            let paths: Vec<std::path::PathBuf> = match glob::glob(entry) {
                Ok(p) => p.filter_map(Result::ok).collect(),
                Err(e) => {
                    problems.push((key, format!("`{entry}`: {e}")));
                    continue;
                }
            };
            if paths.is_empty() {
                problems.push((key.clone(), format!("`{entry}` matches no rule file")));
            }
            for path in paths {
                let shown = path.display().to_string();
                if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                    let compiled = std::fs::read_to_string(&path)
                        .map_err(|e| vec![format!("{shown}: {e}")])
                        .and_then(|t| sigma::compile(&t, &shown, &self.sigma_field_map));
                    match compiled {
                        Ok(r) => sigma_rules.extend(r),
                        Err(p) => problems.extend(p.into_iter().map(|m| (key.clone(), m))),
                    }
                    continue;
                }
                match std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| toml::from_str::<RulesFile>(&t).map_err(|e| e.to_string()))
                {
                    Ok(f) => add(f.rule, &shown, &key, problems),
                    Err(e) => problems.push((key.clone(), format!("{shown}: {e}"))),
                }
            }
        }
        add(self.rule.clone(), "pipeline", "rule", problems);
        rules.extend(sigma_rules);
        rules
    }

    /// Loads and compiles every rule; the problems as `(key, message)` otherwise.
    pub fn compile(&self) -> Result<Detect, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let rules = self.load(&mut problems);
        let mut seen = std::collections::HashSet::new();
        for r in &rules {
            if !seen.insert(r.config.id.clone()) {
                problems.push((
                    "rules".to_owned(),
                    format!("rule id `{}` is defined twice", r.config.id),
                ));
            }
        }
        let hours = BusinessHours::parse(self.timezone.as_deref(), self.business_hours.as_ref());
        let hours = match hours {
            Ok(h) => Some(h),
            Err(p) => {
                problems.extend(p);
                None
            }
        };
        match hours {
            Some(hours) if problems.is_empty() => {
                let mut paths: Vec<String> = Vec::new();
                let mut index = |path: &String| {
                    paths.iter().position(|p| p == path).unwrap_or_else(|| {
                        paths.push(path.clone());
                        paths.len() - 1
                    })
                };
                let prefilters = rules
                    .iter()
                    .map(|r| {
                        r.prefilter
                            .iter()
                            .map(|clause| {
                                clause
                                    .iter()
                                    .map(|(path, values)| (index(path), values.clone()))
                                    .collect()
                            })
                            .collect()
                    })
                    .collect();
                let kept_at = [
                    index(&"user.name".to_owned()),
                    index(&"source.ip".to_owned()),
                ];
                let group_at = rules
                    .iter()
                    .map(|r| r.config.group_by.as_ref().map(&mut index))
                    .collect();
                let mut place = |path: &str| index(&path.to_owned());
                let conditions = rules
                    .iter()
                    .map(|r| {
                        let after = match &r.kind {
                            Kind::Sequence { after, .. } => Some(after.indexed(&mut place)),
                            _ => None,
                        };
                        (r.condition.indexed(&mut place), after)
                    })
                    .collect();
                Ok(Detect {
                    rules: Arc::new(rules),
                    hours,
                    max_keys: self.max_keys.unwrap_or(100_000),
                    prefilter_paths: Arc::new(crate::event::KeySet::new(&paths)),
                    prefilters: Arc::new(prefilters),
                    kept_at,
                    group_at: Arc::new(group_at),
                    conditions: Arc::new(conditions),
                    counters: Arc::default(),
                })
            }
            _ => Err(problems),
        }
    }
}

impl Detect {
    /// The counters of the detectors built from these settings.
    #[must_use]
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// A running detector with empty state.
    #[must_use]
    pub fn fresh(&self) -> Detector {
        Detector {
            settings: self.clone(),
            groups: (0..self.rules.len()).map(|_| Groups::default()).collect(),
            clock: 0,
            evicted: 0,
            state_path: None,
            paths: std::collections::HashMap::new(),
        }
    }

    /// A running detector that starts from the windows saved at `path` (then removed, so a
    /// crash never brings back older state) and saves its own there when it stops.
    #[must_use]
    pub fn saved_in(&self, path: std::path::PathBuf) -> Detector {
        let mut detector = self.fresh();
        if let Ok(text) = std::fs::read_to_string(&path) {
            match serde_json::from_str::<SavedState>(&text) {
                Ok(saved) => {
                    for (i, rule) in self.rules.iter().enumerate() {
                        if let Some(keys) = saved.rules.get(&rule.config.id) {
                            for (key, group) in keys {
                                let g = detector.groups[i].keys.entry(key.clone()).or_default();
                                g.seen.clone_from(&group.seen);
                                g.quiet_until = group.quiet_until;
                            }
                        }
                    }
                    tracing::info!(path = %path.display(), "detect: windows restored");
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "detect: saved windows unreadable; starting empty");
                }
            }
            let _ = std::fs::remove_file(&path);
        }
        detector.state_path = Some(path);
        detector
    }
}

/// The windows of every rule, by rule id and key, as saved at shutdown.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
struct SavedState {
    rules: std::collections::BTreeMap<String, std::collections::BTreeMap<String, rules::Group>>,
}

/// The running transform.
pub struct Detector {
    settings: Detect,
    groups: Vec<Groups>,
    clock: u64,
    /// Keys evicted so far, as last added to the counters.
    evicted: u64,
    /// Where its windows are saved when it stops.
    state_path: Option<std::path::PathBuf>,
    /// The detector's own copies of the file paths of recent events, by the address of the
    /// events' copy (kept, so that the address is not reused).
    paths: std::collections::HashMap<usize, (Arc<str>, Arc<str>)>,
}

impl Drop for Detector {
    fn drop(&mut self) {
        let Some(path) = &self.state_path else {
            return;
        };
        let mut saved = SavedState::default();
        for (i, rule) in self.settings.rules.iter().enumerate() {
            let keys: std::collections::BTreeMap<String, rules::Group> = self.groups[i]
                .keys
                .drain()
                .filter(|(_, g)| !g.seen.is_empty())
                .collect();
            if !keys.is_empty() {
                saved.rules.insert(rule.config.id.clone(), keys);
            }
        }
        if saved.rules.is_empty() {
            return;
        }
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            let body = serde_json::to_vec(&saved).map_err(std::io::Error::other)?;
            {
                use std::io::Write as _;
                let mut file = crate::checkpoint::private_file(&tmp)?;
                file.write_all(&body)?;
                file.sync_all()?;
            }
            std::fs::rename(&tmp, path)
        };
        match write() {
            Ok(()) => tracing::info!(path = %path.display(), "detect: windows saved"),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "detect: cannot save windows; a restart starts them empty");
            }
        }
    }
}

impl Detector {
    /// The alert `rule` raises for `key` over `seen` (sorted by event time), from `trigger`.
    fn alert(rule: &Rule, key: Option<&str>, seen: &[Seen], trigger: &Event) -> Event {
        let start = seen.first().map_or(0, |s| s.at);
        let end = seen.last().map_or(0, |s| s.at);
        let message = match key {
            Some(k) => format!(
                "{}: {} = {k} ({} events)",
                rule.config.name,
                rule.config.group_by.as_deref().unwrap_or(""),
                seen.len()
            ),
            None => rule.config.name.clone(),
        };
        let mut a = Event::new(String::new(), trigger.origin.clone(), trigger.created);
        a.timestamp = Some(end);
        a.set("event.kind", Value::Str(Text::Static("alert")));
        a.set("event.category", Value::Names(&["intrusion_detection"]));
        a.set("event.type", Value::Names(&["info"]));
        a.set("event.severity", Value::Int(rule.config.severity));
        a.set("event.start", Value::Time(start));
        a.set("event.end", Value::Time(end));
        a.set_str("rule.id", &rule.config.id);
        a.set_str("rule.name", &rule.config.name);
        if !rule.config.description.is_empty() {
            a.set_str("rule.description", &rule.config.description);
        }
        a.set_str("rule.ruleset", &rule.ruleset);
        a.set_str("message", &message);
        if let (Some(k), Some(path)) = (key, rule.config.group_by.as_deref()) {
            let text = a.own(k);
            a.set_dynamic_root(path, Value::Str(text));
        }
        let list = |a: &mut Event, items: Vec<&str>| -> Items {
            let mut out = Items::new();
            let mut kept: Vec<&str> = Vec::new();
            for i in items {
                if !kept.contains(&i) {
                    kept.push(i);
                    out.push(a.own(i));
                }
            }
            out
        };
        let users = list(
            &mut a,
            seen.iter().filter_map(|s| s.user.as_deref()).collect(),
        );
        if !users.is_empty() {
            a.set("related.user", Value::List(users));
        }
        let ips = list(
            &mut a,
            seen.iter().filter_map(|s| s.ip.as_deref()).collect(),
        );
        if !ips.is_empty() {
            a.set("related.ip", Value::List(ips));
        }
        let shown: Vec<String> = seen.iter().map(|s| s.evidence.to_string()).collect();
        let evidence = list(&mut a, shown.iter().map(String::as_str).collect());
        a.set("auditship.alert.evidence", Value::List(evidence));
        a.set("auditship.alert.count", Value::Int(seen.len() as i64));
        a.set_original(message);
        a
    }

    /// The alert `hit`'s rule raises on `event` (the hit's event), if any, with the rule's
    /// state for the hit's key.
    fn check(&mut self, hit: Hit, event: &Event) -> Option<Event> {
        let rules = self.settings.rules.clone();
        let rule = &rules[hit.rule as usize];
        let cap = self.settings.max_keys;
        self.clock += 1;
        let Hit { key, seen, .. } = hit;
        let key = match (&rule.kind, key) {
            (Kind::Match | Kind::Schedule, _) => {
                return Some(Self::alert(rule, None, &[seen], event));
            }
            (_, Some(key)) => key,
            (_, None) => return None,
        };
        let group = self.groups[hit.rule as usize].get(&key, cap, self.clock);
        match &rule.kind {
            Kind::Match | Kind::Schedule => None,
            Kind::Threshold { count, window } => {
                if seen.at <= group.quiet_until {
                    return None;
                }
                remember(group, seen, *window);
                let fired = full_window(&group.seen, *count, *window)?.to_vec();
                group.quiet_until = fired[0].at + window;
                group.seen.clear();
                Some(Self::alert(rule, Some(&key), &fired, event))
            }
            Kind::Sequence {
                count,
                window,
                ordered,
                ..
            } => {
                // Both parts are remembered, so that event time decides the order whatever
                // order the events are read in (two files, a late node).
                let now = seen;
                let part = now.part;
                if !*ordered {
                    // Either part first: the other part within the window ends it.
                    let other = group
                        .seen
                        .iter()
                        .position(|s| s.part != part && (s.at - now.at).abs() <= *window);
                    if let Some(j) = other {
                        let first = group.seen.remove(j);
                        group.seen.clear();
                        let mut all = vec![first, now];
                        all.sort_by_key(|s| s.at);
                        return Some(Self::alert(rule, Some(&key), &all, event));
                    }
                    remember(group, now, *window);
                    rules::keep_latest(&mut group.seen, 1);
                    return None;
                }
                let new = (now.at, part);
                remember(group, now, *window);
                rules::keep_latest(&mut group.seen, *count);
                let fired = rules::first_sequence(&group.seen, new, *count, *window)?;
                group.seen.clear();
                Some(Self::alert(rule, Some(&key), &fired, event))
            }
        }
    }

    /// The detector's own copy of a file path: the events' copy is shared by every stage, and
    /// counting references to it from here would contend with them on every event.
    fn own_path(&mut self, path: Option<&Arc<str>>) -> Option<Arc<str>> {
        let path = path?;
        let key = Arc::as_ptr(path).cast::<u8>() as usize;
        if let Some((theirs, ours)) = self.paths.get(&key) {
            if Arc::ptr_eq(theirs, path) {
                return Some(ours.clone());
            }
        }
        if self.paths.len() >= 64 {
            self.paths.clear();
        }
        let ours: Arc<str> = Arc::from(&**path);
        self.paths.insert(key, (path.clone(), ours.clone()));
        Some(ours)
    }

    /// Updates the rules' state with `hits` (in event order), and adds their alerts to `chunk`.
    fn commit(&mut self, chunk: &mut EventChunk, hits: Vec<Hit>) {
        let mut alerts = Vec::new();
        for mut hit in hits {
            let Some(event) = chunk.events.get(hit.event as usize) else {
                continue;
            };
            hit.seen.evidence.path = self.own_path(event.origin.path.as_ref());
            if let Some(alert) = self.check(hit, event) {
                alerts.push(alert);
            }
        }
        let evicted: u64 = self.groups.iter().map(|g| g.evicted).sum();
        if evicted > self.evicted {
            self.settings
                .counters
                .evicted
                .fetch_add(evicted - self.evicted, Ordering::Relaxed);
            self.evicted = evicted;
        }
        if !alerts.is_empty() {
            self.settings
                .counters
                .alerts
                .fetch_add(alerts.len() as u64, Ordering::Relaxed);
            chunk.events.extend(alerts);
        }
    }
}

/// One rule's concern with one event, found without the rules' state: a match or schedule
/// rule that fires, or an event a threshold or sequence rule counts (with its key).
#[derive(Debug)]
pub struct Hit {
    /// The event's index in its chunk.
    event: u32,
    /// The rule's index.
    rule: u32,
    /// The key the event has for the rule (`group_by`), for windowed rules.
    key: Option<String>,
    /// What the rule keeps of the event (for a sequence, with its part).
    seen: Seen,
}

impl Detect {
    /// Every rule's concern with every event of `chunk`, in event order then rule order: the
    /// part of detection that reads no state, so it may run on several chunks at once.
    #[must_use]
    pub fn hits(&self, chunk: &EventChunk) -> Vec<Hit> {
        let mut hits = Vec::new();
        let paths = &self.prefilter_paths;
        for (e, event) in chunk.events.iter().enumerate() {
            // Each field the prefilters read, looked up once for all rules.
            let mut values: smallvec::SmallVec<[Option<crate::event::ValueRef<'_>>; 16]> =
                smallvec::smallvec![None; paths.len()];
            event.get_many(paths, &mut values);
            for (i, rule) in self.rules.iter().enumerate() {
                if !rules::may_concern(&self.prefilters[i], &values) {
                    continue;
                }
                let (condition, after) = &self.conditions[i];
                let part = match &rule.kind {
                    Kind::Match | Kind::Threshold { .. } => condition.matches(&values).then_some(0),
                    Kind::Schedule => (condition.matches(&values)
                        && self.hours.outside(rules::event_time(event)))
                    .then_some(0),
                    Kind::Sequence { .. } => {
                        if after.as_ref().is_some_and(|a| a.matches(&values)) {
                            Some(0)
                        } else {
                            condition.matches(&values).then_some(1)
                        }
                    }
                };
                let Some(part) = part else {
                    continue;
                };
                let key = match (&rule.kind, self.group_at[i]) {
                    (Kind::Match | Kind::Schedule, _) => None,
                    (_, Some(at)) => match values[at].and_then(rules::key_of_value) {
                        Some(k) => Some(k),
                        None => continue,
                    },
                    (_, None) => continue,
                };
                let text =
                    |at: usize| values[at].and_then(|v| v.strings().next().map(str::to_owned));
                let seen = Seen {
                    at: rules::event_time(event),
                    // The path is added in order ([`Detector::commit`]).
                    evidence: rules::Evidence {
                        path: None,
                        offset: event.origin.offset,
                    },
                    user: text(self.kept_at[0]),
                    ip: text(self.kept_at[1]),
                    part,
                };
                hits.push(Hit {
                    event: u32::try_from(e).unwrap_or(u32::MAX),
                    rule: u32::try_from(i).unwrap_or(u32::MAX),
                    key,
                    seen,
                });
            }
        }
        hits
    }
}

impl crate::transform::Prepare for Detect {
    fn prepare(&self, chunk: &EventChunk) -> crate::transform::Prepared {
        Box::new(self.hits(chunk))
    }
}

impl Transform for Detector {
    fn apply(&mut self, chunk: &mut EventChunk) {
        let hits = self.settings.hits(chunk);
        self.commit(chunk, hits);
    }

    fn preparer(&self) -> Option<Arc<dyn crate::transform::Prepare>> {
        Some(Arc::new(self.settings.clone()))
    }

    fn split_prepared(
        &mut self,
        mut chunk: EventChunk,
        prepared: crate::transform::Prepared,
    ) -> Vec<EventChunk> {
        match prepared.downcast::<Vec<Hit>>() {
            Ok(hits) => self.commit(&mut chunk, *hits),
            Err(_) => self.apply(&mut chunk),
        }
        vec![chunk]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Origin, Text};

    /// A detector of the Sigma file `yaml` alone.
    fn detector(yaml: &str) -> (Detector, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yml");
        std::fs::write(&path, yaml).unwrap();
        let config = DetectConfig {
            rules: vec![path.display().to_string()],
            rule: Vec::new(),
            timezone: None,
            business_hours: None,
            sigma_field_map: std::collections::BTreeMap::new(),
            max_keys: None,
        };
        (config.compile().unwrap().fresh(), dir)
    }

    fn event(action: &'static str, user: &str, at: i64) -> Event {
        let mut e = Event::new(String::new(), Origin::default(), at);
        e.timestamp = Some(at);
        e.set("event.action", Value::Str(Text::Static(action)));
        e.set_str("user.name", user);
        e
    }

    #[test]
    fn an_unordered_sequence_keeps_a_few_events_per_key_whatever_the_flood() {
        let (mut d, _dir) = detector(
            "title: A\nname: a\nid: a\nlogsource: {product: x}\ndetection:\n  s: {event.action: UNLOCK}\n  condition: s\n---\ntitle: B\nname: b\nid: b\nlogsource: {product: x}\ndetection:\n  s: {event.action: UPDATE_PASSWORD}\n  condition: s\n---\ntitle: Both\nid: both\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [user.name]\n  timespan: 10m\n",
        );
        // Ten thousand unlocks of one user within a minute: no alert, a bounded window.
        let flood: Vec<Event> = (0..10_000).map(|i| event("UNLOCK", "bob", i)).collect();
        let mut chunk = EventChunk::new(flood, crate::ack::Acks::none());
        d.apply(&mut chunk);
        assert_eq!(chunk.events.len(), 10_000, "no alert yet");
        let kept = d.groups[0].keys.get("bob").map_or(0, |g| g.seen.len());
        assert!(kept <= 1 + rules::LATE_ENDS, "{kept} events kept");
        // The other part fires once.
        let mut chunk = EventChunk::new(
            vec![event("UPDATE_PASSWORD", "bob", 20_000)],
            crate::ack::Acks::none(),
        );
        d.apply(&mut chunk);
        assert_eq!(chunk.events.len(), 2);
        assert!(matches!(
            chunk.events[1].get("rule.id"),
            Some(crate::event::ValueRef::Str("both"))
        ));
    }
}
