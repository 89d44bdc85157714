//! Reload on SIGHUP through the real binary: sinks added and removed, a transform changed, a
//! source changed, and a broken file refused, with every line counted.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::file_source::{append, exactly_once, Agent};
use crate::support;

/// Sequence numbers in a file sink's output, with how often each arrived.
fn seqs(path: &Path) -> BTreeMap<usize, usize> {
    let mut seen = BTreeMap::new();
    for l in support::lines(path) {
        if serde_json::from_str::<serde_json::Value>(&l).is_err() {
            continue;
        }
        if let Some(n) = l
            .find("seq=")
            .and_then(|i| l.get(i + 4..i + 13))
            .and_then(|n| n.parse().ok())
        {
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

/// Rewrites the agent's pipeline file with `edit`, sends SIGHUP and waits for the reload's
/// log line (the `n`th reload of this agent); returns the agent's stderr.
fn reload(agent: &mut Agent, n: usize, edit: impl FnOnce(String) -> String) -> String {
    let text = std::fs::read_to_string(&agent.config).unwrap();
    std::fs::write(&agent.config, edit(text)).unwrap();
    let child = agent.child.as_mut().unwrap();
    support::signal(child, "HUP");
    support::eventually(Duration::from_secs(20), || {
        let err = support::stderr_text(child);
        (err.matches("configuration reloaded").count() + err.matches("reload refused").count() >= n)
            .then_some(err)
    })
    .unwrap_or_else(|| panic!("no reload logged:\n{}", support::stderr_text(child)))
}

fn sink(name: &str, path: &Path) -> String {
    format!(
        "\n[sinks.{name}]\ntype = \"file\"\ninputs = [\"in\"]\npath = '{}'\n",
        path.display()
    )
}

#[test]
fn an_added_sink_gets_new_lines_only_and_the_old_sink_misses_nothing() {
    let mut agent = Agent::new("a.log", "");
    let log = agent.logs().join("a.log");
    let second = agent.dir.path().join("second.ndjson");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    let err = reload(&mut agent, 1, |t| t + &sink("second", &second));
    assert!(err.contains("added=[\"second\"]"), "{err}");
    append(&log, 100..200);
    agent.wait_for(200, 20);
    support::eventually(Duration::from_secs(20), || {
        (seqs(&second).len() >= 100).then_some(())
    })
    .expect("the added sink receives the new lines");
    agent.stop();
    exactly_once(&agent.delivered(), 0..200);
    let added = seqs(&second);
    exactly_once(&added, 100..200);
    assert_eq!(added.len(), 100, "no line read again for the added sink");
}

#[test]
fn a_removed_sink_stops_receiving_and_the_other_misses_nothing() {
    let mut agent = Agent::new("a.log", "");
    let second = agent.dir.path().join("second.ndjson");
    let text = std::fs::read_to_string(&agent.config).unwrap() + &sink("second", &second);
    std::fs::write(&agent.config, &text).unwrap();
    let log = agent.logs().join("a.log");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    support::eventually(Duration::from_secs(20), || {
        (seqs(&second).len() >= 100).then_some(())
    })
    .expect("both sinks deliver");
    let err = reload(&mut agent, 1, |t| {
        t.split("\n[sinks.second]").next().unwrap().to_owned()
    });
    assert!(err.contains("removed=[\"second\"]"), "{err}");
    append(&log, 100..200);
    agent.wait_for(200, 20);
    agent.stop();
    exactly_once(&agent.delivered(), 0..200);
    let removed = seqs(&second);
    exactly_once(&removed, 0..100);
    assert_eq!(
        removed.len(),
        100,
        "the removed sink got nothing after the reload"
    );
}

#[test]
fn a_changed_transform_applies_to_new_lines_and_nothing_is_read_twice() {
    let mut agent = Agent::new("a.log", "");
    let text = std::fs::read_to_string(&agent.config).unwrap().replace(
        "[sinks.out]\ntype = \"file\"\ninputs = [\"in\"]",
        "[transforms.pick]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = 'exists(.message)'\n\n[sinks.out]\ntype = \"file\"\ninputs = [\"pick\"]",
    );
    std::fs::write(&agent.config, &text).unwrap();
    let log = agent.logs().join("a.log");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    let err = reload(&mut agent, 1, |t| {
        t.replace("'exists(.message)'", "'.message matches \"[02468] \"'")
    });
    assert!(err.contains("changed=[\"pick\"]"), "{err}");
    append(&log, 100..200);
    agent.wait_for(150, 20);
    // A line after the last one the filter keeps: once it is through, so is everything.
    append(&log, 200..201);
    append(&log, 202..203);
    agent.wait_for(151, 20);
    agent.stop();
    let d = agent.delivered();
    exactly_once(&d, 0..100);
    for seq in 100..200 {
        if seq % 2 == 0 {
            assert_eq!(d.get(&seq), Some(&1), "even line {seq} kept exactly once");
        } else {
            assert_eq!(
                d.get(&seq),
                None,
                "odd line {seq} filtered after the reload"
            );
        }
    }
}

#[test]
fn a_changed_source_resumes_from_its_checkpoint_without_sending_twice() {
    let mut agent = Agent::new("a.log", "");
    let log = agent.logs().join("a.log");
    append(&log, 0..300);
    agent.start();
    agent.wait_for(300, 20);
    let err = reload(&mut agent, 1, |t| {
        t.replace("glob_interval = \"1s\"", "glob_interval = \"2s\"")
    });
    assert!(err.contains("changed=[\"in\"]"), "{err}");
    append(&log, 300..400);
    agent.wait_for(400, 20);
    agent.stop();
    let d = agent.delivered();
    exactly_once(&d, 0..400);
    assert_eq!(d.len(), 400);
}

#[test]
fn a_broken_file_is_refused_with_every_error_and_the_old_pipeline_keeps_shipping() {
    let mut agent = Agent::new("a.log", "");
    let log = agent.logs().join("a.log");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    let err = reload(&mut agent, 1, |t| {
        t.replace("type = \"file\"\ninputs", "type = \"nope\"\ninputs")
            .replace("glob_interval = \"1s\"", "glob_interval = \"soon\"")
    });
    assert!(err.contains("reload refused"), "{err}");
    assert!(err.contains("unknown component type `nope`"), "{err}");
    assert!(err.contains("glob_interval"), "{err}");
    assert!(
        err.contains("pipeline.toml:"),
        "errors name the file and line: {err}"
    );
    append(&log, 100..200);
    agent.wait_for(200, 20);
    // A fixed file is applied by the next SIGHUP.
    let second = agent.dir.path().join("second.ndjson");
    let err = reload(&mut agent, 2, |t| {
        t.replace("type = \"nope\"", "type = \"file\"")
            .replace("glob_interval = \"soon\"", "glob_interval = \"1s\"")
            + &sink("second", &second)
    });
    assert!(err.contains("added=[\"second\"]"), "{err}");
    append(&log, 200..300);
    agent.wait_for(300, 20);
    agent.stop();
    let d = agent.delivered();
    exactly_once(&d, 0..300);
    assert_eq!(d.len(), 300);
}

#[test]
fn a_setting_that_needs_a_restart_is_refused_by_reload() {
    let mut agent = Agent::new("a.log", "");
    let log = agent.logs().join("a.log");
    append(&log, 0..50);
    agent.start();
    agent.wait_for(50, 20);
    let other = agent.dir.path().join("elsewhere");
    let err = reload(&mut agent, 1, |t| {
        let data = t.lines().next().unwrap().to_owned();
        t.replacen(&data, &format!("data_dir = '{}'", other.display()), 1)
    });
    assert!(
        err.contains("`data_dir` changed; it takes effect only after a restart"),
        "{err}"
    );
    append(&log, 50..100);
    agent.wait_for(100, 20);
    agent.stop();
    exactly_once(&agent.delivered(), 0..100);
    assert!(!other.exists(), "the old data_dir stays in use");
}
