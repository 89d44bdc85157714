//! The `detect` transform through the real binary: a restart in the middle of a window keeps
//! the count (windows saved in `data_dir` at shutdown).

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
