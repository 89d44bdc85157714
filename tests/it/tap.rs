//! `auditship tap` and `auditship top` against a running agent, through the real binaries.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use crate::api::{free_port, get, sample};
use crate::support;

/// A Dogtag TPS line whose PIN the parser masks by default.
fn pin_reset(seq: usize) -> String {
    format!("0.main - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=TOKEN_PIN_RESET][SubjectID=user{seq}][Outcome=Success][ParamNameValPairs=Scope;;tps+pin;;917364+uid;;user{seq}] pin reset\n")
}

/// An agent over `audit.log` (format `format`) with the API on, a filter `pick` and a file
/// sink; returns the directory, the log, the output file, the API port and the agent.
fn agent(
    format: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    u16,
    support::Running,
) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, "").unwrap();
    let out = dir.path().join("out.ndjson");
    let port = free_port();
    let config = dir.path().join("p.toml");
    let text = support::file_to_files(&dir.path().join("data"), &log, format, &[&out])
        .replacen(
            "[sources.in]",
            &format!("[api]\naddress = \"127.0.0.1:{port}\"\n\n[sources.in]"),
            1,
        )
        .replace(
            "[sinks.out0]\ntype = \"file\"\ninputs = [\"in\"]",
            "[transforms.pick]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = 'exists(.message)'\n\n[sinks.out0]\ntype = \"file\"\ninputs = [\"pick\"]",
        );
    std::fs::write(&config, text).unwrap();
    let child = support::Running(support::spawn(&[
        "run",
        "--config",
        config.to_str().unwrap(),
    ]));
    support::eventually(Duration::from_secs(20), || {
        get(port, "/health").filter(|(status, _)| *status == 200)
    })
    .expect("the agent runs");
    (dir, log, out, port, child)
}

#[test]
fn tap_streams_the_events_leaving_a_component_redacted_until_its_limit() {
    let (_dir, log, _out, port, _agent) = agent("dogtag");
    let api = format!("127.0.0.1:{port}");
    let mut tap = support::spawn(&["tap", "--api", &api, "pick", "--limit", "5"]);
    let lines = support::stdout_lines(&mut tap);
    // The tap may start watching after the first lines: write until it has seen five.
    let mut seq = 0;
    let code = support::eventually(Duration::from_secs(30), || {
        support::append_text(&log, &pin_reset(seq));
        seq += 1;
        std::thread::sleep(Duration::from_millis(20));
        tap.try_wait().unwrap()
    });
    assert_eq!(
        code.map(|c| c.code()),
        Some(Some(0)),
        "tap exits 0 at its limit"
    );
    let got: Vec<String> = lines.try_iter().collect();
    assert_eq!(got.len(), 5, "{got:?}");
    for line in &got {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["event"]["action"], "TOKEN_PIN_RESET", "{line}");
        assert!(!line.contains("917364"), "the PIN stays masked: {line}");
    }
    let refused = support::spawn(&["tap", "--api", &api, "nope"]);
    let mut refused = refused;
    assert_eq!(support::wait_exit(&mut refused, Duration::from_secs(10)), 2);
    assert!(support::stderr_text(&mut refused)
        .contains("no component output `nope` (outputs: in, pick)"));
}

#[test]
fn a_tap_that_never_reads_loses_copies_and_delivery_goes_on() {
    let (_dir, log, out, port, _agent) = agent("raw");
    // A watcher that asks and never reads: the socket buffers fill, then its copies drop.
    let mut stuck = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stuck, "GET /tap HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pad = "x".repeat(200);
    let lines = (0..100_000).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "seq={i:09} {pad}");
        s
    });
    support::append_text(&log, &lines);
    support::eventually(Duration::from_secs(120), || {
        (support::lines(&out).len() == 100_000).then_some(())
    })
    .expect("every line is delivered while the tap never reads");
    let (_, metrics) = get(port, "/metrics").unwrap();
    let dropped = sample(&metrics, "auditship_tap_dropped_events_total", "").unwrap_or(0.0);
    assert!(
        dropped > 0.0,
        "the stuck tap's copies were dropped: {metrics}"
    );
    drop(stuck);
}

#[test]
fn top_once_shows_every_component_with_its_totals() {
    let (_dir, log, out, port, _agent) = agent("raw");
    let lines = (0..300).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "seq={i:09}");
        s
    });
    support::append_text(&log, &lines);
    support::eventually(Duration::from_secs(20), || {
        (support::lines(&out).len() == 300).then_some(())
    })
    .expect("delivered");
    let mut top = support::spawn(&[
        "top",
        "--api",
        &format!("127.0.0.1:{port}"),
        "--once",
        "--interval",
        "0.2",
    ]);
    let view = support::stdout_lines(&mut top);
    assert_eq!(support::wait_exit(&mut top, Duration::from_secs(10)), 0);
    let view: Vec<String> = view.iter().collect();
    let row = |name: &str| -> Vec<String> {
        view.iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}: {view:#?}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        row("in")[..5],
        ["in", "source", "file", "0", "300"],
        "{view:#?}"
    );
    assert_eq!(
        row("pick")[..3],
        ["pick", "transform", "filter"],
        "{view:#?}"
    );
    assert_eq!(
        row("out0")[..5],
        ["out0", "sink", "file", "0", "300"],
        "{view:#?}"
    );
    assert!(view[0].starts_with("auditship "), "{view:#?}");
}
