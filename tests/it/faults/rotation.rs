//! Rotations that once lost lines: copytruncate with a held multi-line record, files whose
//! first KiB equals another's, truncation while the agent is down.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::file_source::{exactly_once, truncate, Agent};

/// A Dogtag signed-audit line carrying a sequence marker.
fn dogtag_line(seq: usize) -> String {
    format!(
        "0.http-bio-8080-exec-1 - [12/Jan/2025:08:20:00 CET] [14] [6] [AuditEvent=AUTH][SubjectID=u{seq}][Outcome=Success][Info=seq={seq:09}] authentication\n"
    )
}

fn append_dogtag(path: &Path, seqs: std::ops::Range<usize>) {
    let text: String = seqs.map(dogtag_line).collect();
    crate::support::append_text(path, &text);
}

#[test]
fn copytruncate_ships_the_last_record_of_the_copy_that_was_held_for_continuation_lines() {
    // Dogtag records may continue on the next line, so the last one is held until the next
    // record starts or `multiline_timeout` passes. A truncation noticed in that time must
    // not discard it.
    let mut agent = Agent::with_format("tps_audit*", "dogtag", "", "multiline_timeout = \"30s\"\n");
    let log = agent.logs().join("tps_audit");
    append_dogtag(&log, 0..50);
    agent.start();
    agent.wait_for(49, 20);
    std::fs::copy(&log, agent.logs().join("tps_audit.2")).unwrap();
    truncate(&log);
    std::thread::sleep(Duration::from_millis(800));
    append_dogtag(&log, 50..60);
    let d = agent.wait_for(59, 20);
    agent.stop();
    exactly_once(&agent.delivered(), 0..60);
    assert!(d.len() >= 59);
}

#[test]
fn a_held_record_is_shipped_at_shutdown_and_not_sent_again_after_restart() {
    let mut agent = Agent::with_format("tps_audit", "dogtag", "", "multiline_timeout = \"30s\"\n");
    let log = agent.logs().join("tps_audit");
    append_dogtag(&log, 0..20);
    agent.start();
    agent.wait_for(19, 20);
    agent.stop();
    exactly_once(&agent.delivered(), 0..20);
    append_dogtag(&log, 20..30);
    agent.start();
    agent.wait_for(29, 20);
    agent.stop();
    exactly_once(&agent.delivered(), 0..30);
}

#[test]
fn continuation_lines_beyond_max_line_bytes_are_shipped_in_capped_tagged_pieces() {
    // 2 MB of continuation lines after one Dogtag record once became one event as large as
    // all of them (150 MB made the agent OOM at every start). Pieces are capped, tagged, and
    // together carry every line.
    let mut agent = Agent::with_format(
        "tps_audit",
        "dogtag",
        "",
        "max_line_bytes = \"64KiB\"\nmultiline_timeout = \"200ms\"\n",
    );
    let log = agent.logs().join("tps_audit");
    let mut text = dogtag_line(0);
    for i in 0..20_000 {
        let _ = writeln!(text, "    cont={i:06} {}", "c".repeat(80));
    }
    text.push_str(&dogtag_line(1));
    std::fs::write(&log, text).unwrap();
    agent.start();
    agent.wait_for(2, 30);
    let seen = crate::support::eventually(Duration::from_secs(30), || {
        let mut conts = std::collections::BTreeMap::new();
        let mut pieces = 0;
        for l in crate::support::lines(&agent.out) {
            let v: serde_json::Value = serde_json::from_str(&l).ok()?;
            let original = v["event"]["original"].as_str().unwrap_or("");
            assert!(
                original.len() <= 64 * 1024,
                "an event of {} bytes",
                original.len()
            );
            if original.contains("cont=") {
                pieces += 1;
                let tags = v["tags"].to_string();
                assert!(tags.contains("audit_truncated"), "{tags}");
            }
            for part in original.split("cont=").skip(1) {
                *conts.entry(part[..6].to_owned()).or_insert(0) += 1;
            }
        }
        (conts.len() == 20_000).then_some((conts, pieces))
    });
    agent.stop();
    let (conts, pieces) = seen.expect("every continuation line shipped");
    assert!(
        conts.values().all(|&n| n == 1),
        "each continuation line once"
    );
    assert!(pieces >= 30, "2 MB in pieces of at most 64 KiB: {pieces}");
}

/// A header of more than 1 KiB that every generation of a log starts with (a CSV-like
/// preamble, a banner), so that the first KiB of two generations is the same.
fn header() -> String {
    let mut text = String::new();
    for i in 0..12 {
        let _ = writeln!(
            text,
            "# audit log v2 column layout line {i:02} {}",
            "h".repeat(60)
        );
    }
    text
}

fn write_generation(path: &Path, seqs: std::ops::Range<usize>) {
    let body: String = seqs.map(crate::file_source::line).collect();
    std::fs::write(path, format!("{}{body}", header())).unwrap();
}

#[test]
fn a_new_file_with_the_same_first_kib_as_the_renamed_one_is_read_from_its_start() {
    let mut agent = Agent::new("audit.log*", "");
    let log = agent.logs().join("audit.log");
    write_generation(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    std::fs::rename(&log, agent.logs().join("audit.log.1")).unwrap();
    write_generation(&log, 100..250);
    let d = agent.wait_for(250, 20);
    agent.stop();
    exactly_once(&d, 0..250);
}

#[test]
fn a_file_rewritten_with_the_same_head_while_the_agent_is_down_is_read_from_its_start() {
    let mut agent = Agent::new("audit.log", "");
    let log = agent.logs().join("audit.log");
    write_generation(&log, 0..3000);
    agent.start();
    agent.wait_for(3000, 20);
    agent.stop();
    // Truncated and written again in place (same inode), longer than before.
    truncate(&log);
    let body: String = (3000..6100).map(crate::file_source::line).collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(format!("{}{body}", header()).as_bytes())
        .unwrap();
    agent.start();
    let d = agent.wait_for(6100, 20);
    agent.stop();
    exactly_once(&d, 0..6100);
}

#[test]
fn a_copy_with_the_same_head_but_other_bytes_before_the_offset_is_not_taken_for_the_original() {
    // Checkpoint of a file that is then deleted; a different file with the same first KiB
    // appears while the agent is down (same head, other content): read from its start.
    let mut agent = Agent::new("audit.log*", "");
    let log = agent.logs().join("audit.log");
    write_generation(&log, 0..200);
    agent.start();
    agent.wait_for(200, 20);
    agent.stop();
    std::fs::remove_file(&log).unwrap();
    write_generation(&agent.logs().join("audit.log.2"), 200..500);
    agent.start();
    let d = agent.wait_for(500, 20);
    agent.stop();
    exactly_once(&d, 0..500);
}

#[test]
fn a_file_matched_through_a_symlink_and_its_target_is_read_once_without_flapping() {
    let mut agent = Agent::new("*.log", "");
    let target = agent.logs().join("audit-2025.log");
    crate::file_source::append(&target, 0..50);
    std::os::unix::fs::symlink(&target, agent.logs().join("current.log")).unwrap();
    agent.start();
    agent.wait_for(50, 20);
    // Several rescans (glob_interval = 1s).
    std::thread::sleep(Duration::from_millis(3500));
    crate::file_source::append(&target, 50..60);
    agent.wait_for(60, 20);
    let err = crate::support::stderr_text(agent.child.as_mut().unwrap());
    agent.stop();
    exactly_once(&agent.delivered(), 0..60);
    assert_eq!(err.matches("file renamed").count(), 0, "{err}");
}
