//! `verify_signatures` on a tailed Dogtag log, through the real binary: records held until
//! their signature and tagged with its verdict, an edit planted mid-stream raising an alert, and
//! the chain checked again after a rotation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::signed::{signer, Writer};
use crate::support;

/// The events in the sink with their tags and actions.
fn shipped(out: &std::path::Path) -> Vec<serde_json::Value> {
    support::lines(out)
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn tagged(events: &[serde_json::Value], subject: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| {
            e["user"]["name"] == subject
                || e["dogtag"]["subject_id"] == subject
                || e["event"]["original"]
                    .as_str()
                    .is_some_and(|o| o.contains(&format!("[SubjectID={subject}]")))
        })
        .flat_map(|e| e["tags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .filter(|t| t.starts_with("audit_signature"))
        .collect()
}

/// Appends the writer's lines from `from` on to `log`; returns the new length.
fn flush_to(log: &std::path::Path, w: &Writer, from: usize) -> usize {
    let text = w.lines[from..]
        .iter()
        .fold(String::new(), |s, l| s + l + "\n");
    support::append_text(log, &text);
    w.lines.len()
}

/// A pipeline over `dir/ca_audit` verifying with `cert` (`settings` added to the inline
/// table), delivering to `dir/out.ndjson`; returns the log, the output and the pipeline file.
fn pipeline(dir: &Path, cert: &Path, settings: &str) -> (PathBuf, PathBuf, PathBuf) {
    let log = dir.join("ca_audit");
    let out = dir.join("out.ndjson");
    let config = dir.join("p.toml");
    let text = support::file_to_files(&dir.join("data"), &log, "dogtag", &[&out]).replace(
        "close_after = \"2s\"\n",
        &format!(
            "close_after = \"2s\"\nverify_signatures = {{ cert = '{}'{settings} }}\n",
            cert.display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    (log, out, config)
}

#[test]
fn a_signed_log_is_verified_while_tailed_and_an_edit_raises_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path(), "rsa", "digitalSignature");
    let (log, out, config) = pipeline(dir.path(), &signer.cert, "");
    std::fs::write(&log, "").unwrap();
    let _agent = support::Running(support::spawn(&[
        "run",
        "--config",
        config.to_str().unwrap(),
    ]));
    let mut w = Writer::start(&signer, Vec::new());
    let mut written = flush_to(&log, &w, 0);
    for i in 1..=3 {
        w.event(i);
    }
    w.sign();
    written = flush_to(&log, &w, written);
    let events = support::eventually(Duration::from_secs(20), || {
        let e = shipped(&out);
        (!tagged(&e, "user3").is_empty()).then_some(e)
    })
    .expect("the first segment ships once its signature arrives");
    for i in 1..=3 {
        assert_eq!(
            tagged(&events, &format!("user{i}")),
            ["audit_signature_verified"]
        );
    }
    // A record edited after it was signed, in the next segment.
    w.event(4);
    w.tampered(
        "[AuditEvent=AUTH][SubjectID=user5][Outcome=Failure][AuthMgr=certUserDBAuthMgr] authentication 5",
        "[AuditEvent=AUTH][SubjectID=user5][Outcome=Success][AuthMgr=certUserDBAuthMgr] authentication 5",
    );
    w.sign();
    written = flush_to(&log, &w, written);
    let events = support::eventually(Duration::from_secs(5), || {
        let e = shipped(&out);
        e.iter()
            .any(|e| e["rule"]["id"] == "audit_signature_invalid")
            .then_some(e)
    })
    .expect("the edit raises an alert");
    let alert = events
        .iter()
        .find(|e| e["rule"]["id"] == "audit_signature_invalid")
        .unwrap();
    assert_eq!(alert["event"]["kind"], "alert");
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("does not verify 2 records"),
        "{alert}"
    );
    assert_eq!(tagged(&events, "user4"), ["audit_signature_invalid"]);
    assert_eq!(tagged(&events, "user5"), ["audit_signature_invalid"]);
    // The chain goes on: the next segment verifies again.
    w.event(6);
    w.sign();
    flush_to(&log, &w, written);
    let events = support::eventually(Duration::from_secs(20), || {
        let e = shipped(&out);
        (!tagged(&e, "user6").is_empty()).then_some(e)
    })
    .expect("the next segment ships");
    assert_eq!(tagged(&events, "user6"), ["audit_signature_verified"]);
    // Rotation as Dogtag does it: the old file ends with two signatures, is copied aside
    // and truncated in place; the new one opens with a signature over the old last one.
    let before = w.lines.len();
    let old = w.rotate();
    let tail = old[before..]
        .iter()
        .fold(String::new(), |s, l| s + l + "\n");
    support::append_text(&log, &tail);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::copy(&log, dir.path().join("ca_audit.20250112082000")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    w.event(7);
    w.event(8);
    w.sign();
    flush_to(&log, &w, 0);
    let events = support::eventually(Duration::from_secs(20), || {
        let e = shipped(&out);
        (!tagged(&e, "user8").is_empty()).then_some(e)
    })
    .expect("the rotated file's records ship");
    assert_eq!(tagged(&events, "user7"), ["audit_signature_verified"]);
    assert_eq!(tagged(&events, "user8"), ["audit_signature_verified"]);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"]["kind"] == "alert")
            .count(),
        1,
        "one alert"
    );
}

#[test]
fn records_left_unsigned_ship_tagged_with_a_warning_after_unsigned_after() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path(), "p256", "digitalSignature");
    let (log, out, config) = pipeline(dir.path(), &signer.cert, ", unsigned_after = \"1s\"");
    let mut w = Writer::start(&signer, Vec::new());
    w.event(1);
    w.sign();
    // The writer dies before signing these.
    w.event(2);
    w.event(3);
    std::fs::write(
        &log,
        w.lines.iter().fold(String::new(), |s, l| s + l + "\n"),
    )
    .unwrap();
    let _agent = support::Running(support::spawn(&[
        "run",
        "--config",
        config.to_str().unwrap(),
    ]));
    let events = support::eventually(Duration::from_secs(20), || {
        let e = shipped(&out);
        (!tagged(&e, "user3").is_empty()).then_some(e)
    })
    .expect("unsigned records ship after unsigned_after");
    assert_eq!(tagged(&events, "user1"), ["audit_signature_verified"]);
    assert_eq!(tagged(&events, "user2"), ["audit_signature_unsigned"]);
    assert_eq!(tagged(&events, "user3"), ["audit_signature_unsigned"]);
    assert!(
        events
            .iter()
            .any(|e| e["rule"]["id"] == "audit_signature_unsigned_tail"),
        "a warning event"
    );
}

#[test]
fn verify_signatures_is_refused_on_another_format_and_with_a_bad_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let bad = signer(dir.path(), "rsa", "keyEncipherment");
    let config = dir.path().join("p.toml");
    let text = support::file_to_files(
        &dir.path().join("data"),
        &dir.path().join("x"),
        "keycloak",
        &[&dir.path().join("o")],
    )
    .replace(
        "close_after = \"2s\"\n",
        &format!(
            "close_after = \"2s\"\nverify_signatures = {{ cert = '{}' }}\n",
            bad.cert.display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let mut child = support::spawn(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(10)), 2);
    let err = support::stderr_text(&mut child);
    assert!(
        err.contains("sources.in.verify_signatures: only a `dogtag` source"),
        "{err}"
    );
    assert!(err.contains("keyUsage without digitalSignature"), "{err}");
}

#[test]
fn a_restart_rebuilds_the_segment_under_way_from_the_file_and_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path(), "rsa", "digitalSignature");
    let (log, out, config) = pipeline(dir.path(), &signer.cert, "");
    let mut w = Writer::start(&signer, Vec::new());
    w.event(1);
    w.sign();
    w.event(2);
    let written = flush_to(&log, &w, 0);
    let mut agent = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    support::eventually(Duration::from_secs(20), || {
        (!tagged(&shipped(&out), "user1").is_empty()).then_some(())
    })
    .expect("the first segment ships");
    // Stopped while user2 waits for its signature: it ships as pending.
    support::signal(&agent, "TERM");
    assert_eq!(support::wait_exit(&mut agent, Duration::from_secs(30)), 0);
    assert_eq!(
        tagged(&shipped(&out), "user2"),
        ["audit_signature_pending"],
        "{:#?}\n{}",
        shipped(&out),
        support::stderr_text(&mut agent)
    );
    // The writer goes on; the restarted agent hashes the segment from the file.
    w.event(3);
    w.sign();
    flush_to(&log, &w, written);
    let _agent = support::Running(support::spawn(&[
        "run",
        "--config",
        config.to_str().unwrap(),
    ]));
    let events = support::eventually(Duration::from_secs(20), || {
        let e = shipped(&out);
        (!tagged(&e, "user3").is_empty()).then_some(e)
    })
    .expect("the segment completes after the restart");
    assert_eq!(tagged(&events, "user3"), ["audit_signature_verified"]);
    assert!(!events.iter().any(|e| e["event"]["kind"] == "alert"));
}
