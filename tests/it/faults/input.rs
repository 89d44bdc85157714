//! Hostile input: lines built to make a parser slow must not delay the lines after them.

use std::fmt::Write as _;

use crate::file_source::Agent;

#[test]
fn dogtag_values_full_of_closing_brackets_do_not_hold_up_later_lines() {
    // A value of 4 MB made of `] x` once took O(n²) to split (1 MB: 2.3 s; 4 MB: ~40 s); four
    // of them held later lines back for minutes. Linear splitting reads them in well under a
    // second each, so the marker line after them arrives within the bounded wait.
    let mut agent = Agent::with_format("tps_audit", "dogtag", "", "max_line_bytes = \"8MiB\"\n");
    let log = agent.logs().join("tps_audit");
    let mut text = String::new();
    for i in 0..4 {
        let _ = writeln!(
            text,
            "0.t - [12/Jan/2025:08:20:00 CET] [14] [6] [AuditEvent=AUTH][SubjectID=u][Info=seq={i:09} {}] text",
            "] x".repeat(1_400_000)
        );
    }
    text.push_str("0.t - [12/Jan/2025:08:20:01 CET] [14] [6] [AuditEvent=AUTH][SubjectID=u][Info=seq=000000004] after\n");
    std::fs::write(&log, text).unwrap();
    agent.start();
    let d = agent.wait_for(5, 40);
    agent.stop();
    crate::file_source::exactly_once(&d, 0..5);
}

#[test]
fn a_json_key_that_is_both_a_value_and_an_object_is_written_once_with_both_values() {
    let mut agent = Agent::with_format("app.json", "json", "", "");
    std::fs::write(
        agent.logs().join("app.json"),
        "{\"user\":\"alice\",\"user.name\":\"bob\",\"event\":\"login\",\"note\":\"seq=000000000\"}\n",
    )
    .unwrap();
    agent.start();
    agent.wait_for(1, 20);
    agent.stop();
    let line = crate::support::lines(&agent.out).remove(0);
    assert_eq!(line.matches("\"user\":").count(), 1, "{line}");
    assert_eq!(line.matches("\"event\":").count(), 1, "{line}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["user"]["_value"], "alice", "{line}");
    assert_eq!(v["user"]["name"], "bob", "{line}");
    assert_eq!(v["event"]["_value"], "login", "{line}");
}
