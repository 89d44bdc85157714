//! Hash-chained shipping through the real binary: the `chain` transform continues across
//! restarts and SIGKILL (lines read again keep their seq and hash), and `verify-chain` finds
//! deletions, insertions, edits and reordering in an export, in any order.

use std::time::Duration;

use crate::file_source::{append, Agent};
use crate::support;

/// An agent whose file sink receives events through a `chain` transform named `seal`.
fn chained_agent() -> Agent {
    let agent = Agent::new("a.log", "");
    let text = std::fs::read_to_string(&agent.config).unwrap().replace(
        "[sinks.out]\ntype = \"file\"\ninputs = [\"in\"]",
        "[transforms.seal]\ntype = \"chain\"\ninputs = [\"in\"]\n\n[sinks.out]\ntype = \"file\"\ninputs = [\"seal\"]",
    );
    std::fs::write(&agent.config, text).unwrap();
    agent
}

/// `auditship verify-chain --json` over `files`: exit code and report.
fn verify_chain(files: &[&std::path::Path]) -> (i32, serde_json::Value) {
    let mut args = vec!["verify-chain", "--json"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let mut child = support::spawn(&args);
    let out = support::stdout_lines(&mut child);
    let code = support::wait_exit(&mut child, Duration::from_secs(30));
    let text: String = out.iter().collect();
    (
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn kinds(report: &serde_json::Value) -> Vec<(String, u64)> {
    report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_restart_continues_the_chain_and_the_export_verifies() {
    let mut agent = chained_agent();
    let log = agent.logs().join("a.log");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    agent.stop();
    append(&log, 100..200);
    agent.start();
    agent.wait_for(200, 20);
    agent.stop();
    let (code, report) = verify_chain(&[&agent.out]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verified"], 200, "{report}");
    assert_eq!(report["streams"], 1);
    let last = support::lines(&agent.out).pop().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(
        doc["auditship"]["chain"]["seq"], 200,
        "seq continued after the restart"
    );
}

#[test]
fn lines_read_again_after_sigkill_keep_their_seq_and_hash() {
    let mut agent = chained_agent();
    let log = agent.logs().join("a.log");
    append(&log, 0..3000);
    agent.start();
    agent.wait_for(3000, 30);
    // Killed right after delivery: the last second's checkpoint is not yet written.
    agent.kill();
    let saved = agent.checkpoint_lines();
    append(&log, 3000..3100);
    agent.start();
    agent.wait_for(3100, 30);
    agent.stop();
    let delivered = support::lines(&agent.out).len();
    let (code, report) = verify_chain(&[&agent.out]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verified"], 3100, "{report}");
    // Every line sent twice is an identical copy (same seq, same hash), never a conflict.
    assert_eq!(
        report["resent"].as_u64().unwrap() as usize,
        delivered - 3100,
        "{report}"
    );
    if saved < 3000 {
        assert!(
            delivered > 3100,
            "lines after the checkpoint ({saved}) were sent again"
        );
    }
}

#[test]
fn verify_chain_finds_deletion_insertion_edit_and_reordering_in_any_order() {
    let mut agent = chained_agent();
    let log = agent.logs().join("a.log");
    append(&log, 0..50);
    agent.start();
    agent.wait_for(50, 20);
    agent.stop();
    let lines = support::lines(&agent.out);
    let dir = agent.dir.path();
    let export = |name: &str, lines: &[String]| {
        let path = dir.join(name);
        std::fs::write(&path, lines.iter().fold(String::new(), |s, l| s + l + "\n")).unwrap();
        path
    };
    // Shuffled (an Elasticsearch export has no order): still whole.
    let mut shuffled = lines.clone();
    shuffled.reverse();
    shuffled.swap(3, 40);
    let (code, report) = verify_chain(&[&export("shuffled.ndjson", &shuffled)]);
    assert_eq!(
        (code, report["verified"].as_u64()),
        (0, Some(50)),
        "{report}"
    );
    // Deleted: seq 10 (line 10).
    let mut deleted = lines.clone();
    deleted.remove(9);
    let (code, report) = verify_chain(&[&export("deleted.ndjson", &deleted)]);
    assert_eq!(
        (code, kinds(&report)),
        (2, vec![("deleted".into(), 10)]),
        "{report}"
    );
    // Edited: seq 20's message.
    let mut edited = lines.clone();
    edited[19] = edited[19].replace("seq=000000019", "seq=000000919");
    let (code, report) = verify_chain(&[&export("edited.ndjson", &edited)]);
    assert_eq!(
        (code, kinds(&report)),
        (2, vec![("edited".into(), 20)]),
        "{report}"
    );
    // Inserted: a forged event claiming seq 5, and one without a chain at all.
    let mut inserted = lines.clone();
    inserted.push(lines[4].replace("seq=000000004", "seq=000000666"));
    inserted.push(r#"{"message":"forged"}"#.to_owned());
    let (code, report) = verify_chain(&[&export("inserted.ndjson", &inserted)]);
    assert_eq!(code, 2, "{report}");
    assert_eq!(
        kinds(&report),
        [("unchained".into(), 0), ("inserted".into(), 5)],
        "{report}"
    );
    // Reordered: events 30 and 31 exchange their places in the chain.
    let mut reordered = lines.clone();
    let seq_of = |l: &str| -> String {
        let doc: serde_json::Value = serde_json::from_str(l).unwrap();
        format!("\"seq\":{}", doc["auditship"]["chain"]["seq"])
    };
    let (a, b) = (seq_of(&lines[29]), seq_of(&lines[30]));
    reordered[29] = lines[29].replace(&a, &b);
    reordered[30] = lines[30].replace(&b, &a);
    let (code, report) = verify_chain(&[&export("reordered.ndjson", &reordered)]);
    assert_eq!(
        (code, kinds(&report)),
        (2, vec![("reordered".into(), 30), ("reordered".into(), 31)]),
        "{report}"
    );
}
