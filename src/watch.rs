//! `auditship tap` and `auditship top`: watching a running agent through its API.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::client::{self, ClientError};

/// Why watching stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The API could not be reached or failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The API refused the request (an unknown component, a bad query).
    #[error("{0}")]
    Refused(String),
    /// Writing to stdout failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Streams the events leaving `components` (all when empty), every `sample`th, to `out` until
/// `limit` events were written or the agent stops; returns how many were written.
pub async fn tap(
    api: &str,
    components: &[String],
    limit: Option<u64>,
    sample: u64,
    out: &mut dyn Write,
) -> Result<u64, WatchError> {
    let mut path = format!("/tap?sample={sample}");
    for c in components {
        let _ = write!(path, "&component={c}");
    }
    let mut answer = client::get(api, &path).await?;
    if answer.status != 200 {
        return Err(WatchError::Refused(answer.text().await?.trim().to_owned()));
    }
    let mut written = 0u64;
    while let Some(piece) = answer.chunk().await? {
        // The agent sends whole lines.
        for line in piece.split_inclusive(|b| *b == b'\n') {
            if limit.is_some_and(|l| written >= l) {
                return Ok(written);
            }
            out.write_all(line)?;
            written += 1;
        }
        out.flush()?;
        if limit.is_some_and(|l| written >= l) {
            return Ok(written);
        }
    }
    Ok(written)
}

/// One sample of the Prometheus text: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric's name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Reads the samples of a Prometheus text exposition (comments skipped).
#[must_use]
pub fn samples(text: &str) -> Vec<Sample> {
    let mut all = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => (name, labels(rest.trim_end_matches('}'))),
            None => (head, BTreeMap::new()),
        };
        all.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    all
}

/// `a="x",b="y"` (values escaped with `\`).
fn labels(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        map.insert(key.trim_start_matches(',').to_owned(), value);
        rest = &after[end..];
    }
    map
}

/// One component's row in `top`.
#[derive(Debug, Default, Clone)]
struct Row {
    kind: String,
    kind_type: String,
    events: f64,
    bytes: f64,
    errors: f64,
    discarded: f64,
    lag: f64,
    files: u64,
}

/// Sums the samples into one row per component.
fn rows(samples: &[Sample]) -> BTreeMap<(u8, String), Row> {
    let mut rows: BTreeMap<(u8, String), Row> = BTreeMap::new();
    for s in samples {
        let Some(id) = s.labels.get("component_id") else {
            continue;
        };
        let kind = s.labels.get("component_kind").cloned().unwrap_or_default();
        let order = match kind.as_str() {
            "source" => 0,
            "transform" => 1,
            _ => 2,
        };
        let row = rows.entry((order, id.clone())).or_default();
        row.kind.clone_from(&kind);
        row.kind_type = s.labels.get("component_type").cloned().unwrap_or_default();
        match s.name.as_str() {
            "auditship_component_received_events_total"
            | "auditship_component_sent_events_total" => {
                row.events += s.value;
            }
            "auditship_component_received_bytes_total" | "auditship_component_sent_bytes_total" => {
                row.bytes += s.value;
            }
            "auditship_component_errors_total" => row.errors += s.value,
            "auditship_component_discarded_events_total" => row.discarded += s.value,
            "auditship_source_file_lag_bytes" => {
                row.lag += s.value;
                row.files += 1;
            }
            _ => {}
        }
    }
    rows
}

fn value(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

/// Bytes for people: 1.5 MiB.
fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit < units.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} {}", units[unit])
    } else {
        format!("{v:.1} {}", units[unit])
    }
}

/// The view of two scrapes `seconds` apart.
#[must_use]
pub fn render(api: &str, before: &[Sample], now: &[Sample], seconds: f64) -> String {
    let mut text = String::new();
    let version = now
        .iter()
        .find(|s| s.name == "auditship_build_info")
        .and_then(|s| s.labels.get("version").cloned())
        .unwrap_or_default();
    let buffer = value(now, "auditship_buffer_bytes");
    let max = value(now, "auditship_buffer_max_bytes");
    let _ = writeln!(
        text,
        "auditship {version} at {api}   buffer {} of {} ({:.0}%)   parse failures {}   RSS {}   CPU {:.0}%   fds {}",
        human(buffer),
        human(max),
        if max > 0.0 { buffer * 100.0 / max } else { 0.0 },
        value(now, "auditship_parse_failures_total"),
        human(value(now, "process_resident_memory_bytes")),
        (value(now, "process_cpu_seconds_total") - value(before, "process_cpu_seconds_total"))
            * 100.0
            / seconds.max(0.001),
        value(now, "process_open_fds"),
    );
    let _ = writeln!(
        text,
        "\n{:<24} {:<9} {:<14} {:>10} {:>12} {:>11} {:>8} {:>10} {:>12}",
        "COMPONENT", "KIND", "TYPE", "EVENTS/S", "EVENTS", "BYTES/S", "ERRORS", "DISCARDED", "LAG"
    );
    let old = rows(before);
    for ((_, id), row) in rows(now) {
        let prev = old.iter().find(|((_, i), _)| *i == id).map(|(_, r)| r);
        let rate = |now: f64, then: Option<f64>| {
            ((now - then.unwrap_or(now)) / seconds.max(0.001)).max(0.0)
        };
        let lag = if row.kind == "source" {
            format!("{} ({} files)", human(row.lag), row.files)
        } else {
            "-".to_owned()
        };
        let events = if row.kind == "transform" {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{:.0}", rate(row.events, prev.map(|p| p.events))),
                format!("{:.0}", row.events),
            )
        };
        let _ = writeln!(
            text,
            "{:<24} {:<9} {:<14} {:>10} {:>12} {:>11} {:>8} {:>10} {:>12}",
            id,
            row.kind,
            row.kind_type,
            events.0,
            events.1,
            if row.kind == "transform" {
                "-".to_owned()
            } else {
                human(rate(row.bytes, prev.map(|p| p.bytes)))
            },
            row.errors,
            row.discarded,
            lag
        );
    }
    text
}

async fn scrape(api: &str) -> Result<Vec<Sample>, WatchError> {
    let answer = client::get(api, "/metrics").await?;
    let status = answer.status;
    let text = answer.text().await?;
    if status != 200 {
        return Err(WatchError::Refused(text.trim().to_owned()));
    }
    Ok(samples(&text))
}

/// Shows the agent's components every `interval` until interrupted; with `once`, one view
/// (rates over one interval) without clearing the screen.
pub async fn top(
    api: &str,
    once: bool,
    interval: Duration,
    out: &mut dyn Write,
) -> Result<(), WatchError> {
    let mut before = scrape(api).await?;
    let mut at = Instant::now();
    loop {
        tokio::time::sleep(interval).await;
        let now = scrape(api).await?;
        let seconds = at.elapsed().as_secs_f64();
        at = Instant::now();
        let view = render(api, &before, &now, seconds);
        if once {
            out.write_all(view.as_bytes())?;
            return Ok(out.flush()?);
        }
        // Home, clear, draw.
        write!(out, "\x1b[H\x1b[2J{view}\n(Ctrl-C quits)\n")?;
        out.flush()?;
        before = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_is_read_with_escaped_labels() {
        let s = samples(
            "# HELP x y\nauditship_build_info{version=\"0.1.0\"} 1\nlag{component_id=\"in\",file=\"/a \\\"b\\\"\"} 42\nplain 3.5\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].labels["file"], "/a \"b\"");
        assert_eq!(s[1].labels["component_id"], "in");
        assert!((s[2].value - 3.5).abs() < f64::EPSILON);
    }

    #[test]
    fn the_view_shows_rates_over_the_interval() {
        let before = samples("auditship_component_sent_events_total{component_id=\"out\",component_kind=\"sink\",component_type=\"http\"} 100\n");
        let now = samples("auditship_component_sent_events_total{component_id=\"out\",component_kind=\"sink\",component_type=\"http\"} 300\nauditship_component_errors_total{component_id=\"out\",component_kind=\"sink\",component_type=\"http\",error_type=\"transient\"} 2\n");
        let view = render("x", &before, &now, 2.0);
        let row = view.lines().find(|l| l.starts_with("out ")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells[..6],
            ["out", "sink", "http", "100", "300", "0"],
            "{view}"
        );
        assert_eq!(cells[7], "2", "{view}");
    }
}
