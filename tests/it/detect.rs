//! The `detect` transform through the real binary: a restart in the middle of a window keeps
//! the count (windows saved in `data_dir` at shutdown).

use std::fmt::Write as _;
use std::time::Duration;

use crate::support;

fn failure(minute: u32) -> String {
    format!("2025-01-13 09:{minute:02}:00,000 INFO  [org.keycloak.events] (executor-thread-1) type=\"LOGIN_ERROR\", realmId=\"acme\", clientId=\"portal\", userId=\"null\", ipAddress=\"203.0.113.9\", error=\"invalid_user_credentials\", username=\"alice\"\n")
}

fn alerts(out: &std::path::Path) -> Vec<serde_json::Value> {
    support::lines(out)
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"]["kind"] == "alert")
        .collect()
}

#[test]
fn a_restart_in_the_middle_of_a_window_keeps_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keycloak.log");
    let out = dir.path().join("out.ndjson");
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{0}/data'\n[sources.kc]\ntype = \"file\"\ninclude = ['{1}']\nformat = \"keycloak\"\ntimezone = \"UTC\"\n[transforms.alerts]\ntype = \"detect\"\ninputs = [\"kc\"]\n[sinks.out]\ntype = \"file\"\ninputs = [\"alerts\"]\npath = '{2}'\n",
            dir.path().display(),
            log.display(),
            out.display()
        ),
    )
    .unwrap();
    let run = |lines: usize| {
        let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
        let done = support::eventually(Duration::from_secs(20), || {
            (support::lines(&out).len() >= lines).then_some(())
        });
        support::signal(&child, "TERM");
        let code = support::wait_exit(&mut child, Duration::from_secs(30));
        let err = support::stderr_text(&mut child);
        assert!(done.is_some(), "{err}");
        assert_eq!(code, 0, "{err}");
        err
    };
    support::append_text(&log, &(0..3).map(failure).collect::<String>());
    let err = run(3);
    assert!(err.contains("detect: windows saved"), "{err}");
    assert!(alerts(&out).is_empty());
    // Three more failures within the same 10 minutes, read by a new process.
    support::append_text(&log, &(3..6).map(failure).collect::<String>());
    let err = run(7);
    assert!(err.contains("detect: windows restored"), "{err}");
    let found = alerts(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["rule"]["id"], "brute_force_login");
    assert_eq!(found[0]["auditship"]["alert"]["count"], 6);
    assert_eq!(found[0]["event"]["start"], "2025-01-13T09:00:00.000Z");
}

/// A pipeline reading every `*.log` of `dir/logs` through `detect` (with `extra` settings) into
/// `dir/out.ndjson`.
fn detect_pipeline(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    detect_pipeline_for(dir, "keycloak", extra)
}

/// As [`detect_pipeline`], for files of `format`.
fn detect_pipeline_for(dir: &std::path::Path, format: &str, extra: &str) -> std::path::PathBuf {
    let config = dir.join("p.toml");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(
        &config,
        format!(
            "data_dir = '{0}/data'\n[sources.kc]\ntype = \"file\"\ninclude = ['{0}/logs/*.log']\nformat = \"{format}\"\ntimezone = \"UTC\"\n[transforms.alerts]\ntype = \"detect\"\ninputs = [\"kc\"]\n{extra}\n[sinks.out]\ntype = \"file\"\ninputs = [\"alerts\"]\npath = '{0}/out.ndjson'\n",
            dir.display(),
        ),
    )
    .unwrap();
    config
}

/// Runs the agent until `lines` lines reached the output, then stops it.
fn run_until_lines(config: &std::path::Path, out: &std::path::Path, lines: usize) {
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let done = support::eventually(Duration::from_secs(20), || {
        (support::lines(out).len() >= lines).then_some(())
    });
    support::signal(&child, "TERM");
    let code = support::wait_exit(&mut child, Duration::from_secs(30));
    let err = support::stderr_text(&mut child);
    assert!(done.is_some(), "{err}");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn failures_split_across_two_files_out_of_order_are_counted_in_event_time() {
    // Six failures within six minutes, the odd minutes in one file and the even in another:
    // the agent reads one file, then the other, so they arrive out of order.
    let dir = tempfile::tempdir().unwrap();
    let config = detect_pipeline(dir.path(), "");
    let logs = dir.path().join("logs");
    support::append_text(&logs.join("a.log"), &[5, 3, 1].map(failure).concat());
    support::append_text(&logs.join("b.log"), &[4, 2, 0].map(failure).concat());
    let out = dir.path().join("out.ndjson");
    run_until_lines(&config, &out, 7);
    let found = alerts(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["rule"]["id"], "brute_force_login");
    assert_eq!(found[0]["event"]["start"], "2025-01-13T09:00:00.000Z");
    assert_eq!(found[0]["event"]["end"], "2025-01-13T09:05:00.000Z");
    let evidence = found[0]["auditship"]["alert"]["evidence"]
        .as_array()
        .unwrap();
    assert_eq!(evidence.len(), 6, "{evidence:?}");
    assert!(
        evidence
            .iter()
            .any(|e| e.as_str().unwrap().contains("a.log"))
            && evidence
                .iter()
                .any(|e| e.as_str().unwrap().contains("b.log")),
        "{evidence:?}"
    );
}

#[test]
fn six_failures_eleven_minutes_apart_across_two_files_raise_nothing() {
    // The same six failures, but the first is eleven minutes before the last: no ten-minute
    // window holds six, whatever order the files are read in.
    let dir = tempfile::tempdir().unwrap();
    let config = detect_pipeline(dir.path(), "");
    let logs = dir.path().join("logs");
    support::append_text(&logs.join("a.log"), &[11, 3, 1].map(failure).concat());
    support::append_text(&logs.join("b.log"), &[4, 2, 0].map(failure).concat());
    let out = dir.path().join("out.ndjson");
    run_until_lines(&config, &out, 6);
    // Let the agent go on a moment: an alert would come with the last event's chunk.
    let found = alerts(&out);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(support::lines(&out).len(), 6);
}

#[test]
fn a_sigma_correlation_fires_through_the_agent_and_its_base_rule_stays_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("failures.yml");
    std::fs::write(
        &rules,
        "title: Login failed\nname: failed\nid: base-1\nlogsource: {product: keycloak}\ndetection:\n  selection:\n    event.action: login_error\n  condition: selection\n---\ntitle: Three failures\nid: corr-1\ncorrelation:\n  type: event_count\n  rules: [failed]\n  group-by: [user.name]\n  timespan: 5m\n  condition: {gte: 3}\nlevel: critical\n",
    )
    .unwrap();
    let config = detect_pipeline(dir.path(), &format!("rules = ['{}']", rules.display()));
    support::append_text(
        &dir.path().join("logs/a.log"),
        &(0..3).map(failure).collect::<String>(),
    );
    let out = dir.path().join("out.ndjson");
    run_until_lines(&config, &out, 4);
    let found = alerts(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["rule"]["id"], "corr-1");
    assert_eq!(found[0]["rule"]["ruleset"], rules.display().to_string());
    assert_eq!(found[0]["event"]["severity"], 99);
    assert_eq!(found[0]["user"]["name"], "alice");
}

#[test]
fn an_unsupported_sigma_feature_is_refused_naming_the_file_the_rule_and_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("encoded.yml");
    std::fs::write(
        &rules,
        "title: Encoded command\nid: enc-1\nlogsource: {product: linux, service: auditd}\ndetection:\n  selection:\n    proctitle|base64offset|contains: curl\n  condition: selection\n",
    )
    .unwrap();
    let config = detect_pipeline(dir.path(), &format!("rules = ['{}']", rules.display()));
    let output = std::process::Command::new(support::binary())
        .args(["validate", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("encoded.yml: rule `Encoded command`"), "{err}");
    assert!(err.contains("`base64offset` is not supported"), "{err}");
    assert!(err.contains("proctitle|base64offset|contains"), "{err}");
}

#[test]
fn keys_evicted_under_the_cap_and_alerts_are_counted_in_the_metrics() {
    // 30 users with one failure each under a cap of 10 keys per rule: keys are evicted; then one
    // user fails six times: one alert.
    let dir = tempfile::tempdir().unwrap();
    let port = crate::api::free_port();
    let config = detect_pipeline(dir.path(), "max_keys = 10");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = format!("{text}[api]\naddress = \"127.0.0.1:{port}\"\n");
    std::fs::write(&config, text).unwrap();
    let mut lines: String = (0..30)
        .map(|i| failure(0).replace("username=\"alice\"", &format!("username=\"user{i}\"")))
        .collect();
    lines.extend((0..6).map(failure));
    support::append_text(&dir.path().join("logs/a.log"), &lines);
    let out = dir.path().join("out.ndjson");
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let metrics = support::eventually(Duration::from_secs(20), || {
        let (_, m) = crate::api::get(port, "/metrics")?;
        (support::lines(&out).len() >= 37
            && crate::api::sample(&m, "auditship_detect_alerts_total", "alerts") == Some(1.0))
        .then_some(m)
    });
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(30));
    let err = support::stderr_text(&mut child);
    let metrics = metrics.unwrap_or_else(|| panic!("no alert counted: {err}"));
    let evicted = crate::api::sample(
        &metrics,
        "auditship_detect_evicted_keys_total",
        "component_id=\"alerts\"",
    );
    // Each windowed rule keyed by user (brute_force_login, login_after_failures'
    // failures) holds at most 10 of the 31 users.
    assert!(evicted.is_some_and(|e| e >= 20.0), "{metrics}");
}

#[test]
fn a_success_read_before_its_failures_is_still_a_login_after_failures() {
    // Two nodes' logs: the success (09:05) in one file, the three failures before it
    // (09:01-09:03) in the other. Event time, not the order of reading, decides.
    let dir = tempfile::tempdir().unwrap();
    let config = detect_pipeline(dir.path(), "");
    let logs = dir.path().join("logs");
    let success = failure(5)
        .replace("type=\"LOGIN_ERROR\"", "type=\"LOGIN\"")
        .replace(", error=\"invalid_user_credentials\"", "");
    support::append_text(&logs.join("a.log"), &success);
    support::append_text(&logs.join("b.log"), &[3, 1, 2].map(failure).concat());
    let out = dir.path().join("out.ndjson");
    run_until_lines(&config, &out, 5);
    let found = alerts(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["rule"]["id"], "login_after_failures");
    assert_eq!(found[0]["event"]["start"], "2025-01-13T09:01:00.000Z");
    assert_eq!(found[0]["event"]["end"], "2025-01-13T09:05:00.000Z");
}

#[test]
fn eleven_deletions_in_an_hour_across_two_files_out_of_order_are_a_bulk_account_change() {
    let deletion = |minute: i64| {
        format!("{{\"id\":{minute},\"username\":\"root-admin\",\"action\":\"user_deleted\",\"resource\":\"u{minute}\",\"details\":\"Deleted user u{minute}\",\"ip_address\":\"192.0.2.5\",\"user_agent\":\"curl/8.5.0\",\"timestamp\":{}}}\n", 1_750_000_000 + minute * 300)
    };
    // Deletions every 5 minutes: 0..=50 is eleven within 50 minutes; the later ones first.
    let dir = tempfile::tempdir().unwrap();
    let config = detect_pipeline_for(dir.path(), "totp", "");
    let logs = dir.path().join("logs");
    support::append_text(
        &logs.join("a.log"),
        &[10, 8, 6, 4, 2, 0].map(deletion).concat(),
    );
    support::append_text(&logs.join("b.log"), &[9, 7, 5, 3, 1].map(deletion).concat());
    let out = dir.path().join("out.ndjson");
    run_until_lines(&config, &out, 12);
    let found = alerts(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["rule"]["id"], "bulk_account_change");
    assert_eq!(found[0]["auditship"]["alert"]["count"], 11);
    // Ten of them, the same way, are not.
    let dir = tempfile::tempdir().unwrap();
    let config = detect_pipeline_for(dir.path(), "totp", "");
    let logs = dir.path().join("logs");
    support::append_text(&logs.join("a.log"), &[9, 7, 5, 3, 1].map(deletion).concat());
    support::append_text(&logs.join("b.log"), &[8, 6, 4, 2, 0].map(deletion).concat());
    let out = dir.path().join("out.ndjson");
    run_until_lines(&config, &out, 10);
    assert!(alerts(&out).is_empty());
}

#[test]
fn a_flood_of_one_part_of_an_unordered_sigma_sequence_keeps_a_bounded_window() {
    // 10,000 unlocks of one user within a minute and no password change: what the agent saves
    // of that user's window at shutdown is a few events, not the flood.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("both.yml");
    std::fs::write(
        &rules,
        "title: A\nname: a\nid: a\nlogsource: {product: keycloak}\ndetection:\n  s: {event.action: UNLOCK}\n  condition: s\n---\ntitle: B\nname: b\nid: b\nlogsource: {product: keycloak}\ndetection:\n  s: {event.action: UPDATE_PASSWORD}\n  condition: s\n---\ntitle: Both\nid: both\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [user.name]\n  timespan: 10m\n",
    )
    .unwrap();
    let config = detect_pipeline(dir.path(), &format!("rules = ['{}']", rules.display()));
    let mut lines = String::new();
    for i in 0..10_000 {
        let _ = writeln!(
            lines,
            "2025-01-13 09:00:{:02},{:03} INFO  [org.keycloak.events] (executor-thread-1) type=\"UNLOCK\", realmId=\"acme\", clientId=\"admin-cli\", userId=\"u-1\", ipAddress=\"203.0.113.9\", username=\"bob\"",
            (i / 1000) % 60,
            i % 1000
        );
    }
    support::append_text(&dir.path().join("logs/a.log"), &lines);
    let out = dir.path().join("out.ndjson");
    run_until_lines(&config, &out, 10_000);
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/detect/alerts.json")).unwrap(),
    )
    .unwrap();
    let kept = saved["rules"]["both"]["bob"]["seen"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        (1..=9).contains(&kept),
        "{kept} events of bob's window kept"
    );
    assert!(alerts(&out).is_empty());
}
