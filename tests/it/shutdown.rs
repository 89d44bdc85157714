//! The real binary: the embedded default pipeline, graceful SIGTERM, and refusing bad configs.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::support;

#[test]
fn embedded_default_pipeline_prints_ecs_json_and_exits_0_on_sigterm() {
    let mut child = support::spawn(&["run"]);
    let rx = support::stdout_lines(&mut child);
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while events.len() < 15 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            events.push(line);
        }
    }
    support::signal(&child, "TERM");
    let code = support::wait_exit(&mut child, Duration::from_secs(20));
    let stderr = support::stderr_text(&mut child);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("embedded default pipeline"), "{stderr}");
    assert!(events.len() >= 15, "only {} events: {stderr}", events.len());
    for line in &events {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(v["@timestamp"].is_string(), "{line}");
        assert!(v["event"]["original"].is_string(), "{line}");
        assert!(
            v["log"]["file"]["path"]
                .as_str()
                .unwrap()
                .contains("samples"),
            "{line}"
        );
    }
}

/// `audit.log` holding `body`, read as `raw` into one file sink: (config, output, `data_dir`).
fn raw_pipeline(dir: &std::path::Path, body: &str) -> (PathBuf, PathBuf, PathBuf) {
    let input = dir.join("audit.log");
    std::fs::write(&input, body).unwrap();
    let out = dir.join("out.ndjson");
    let data = dir.join("data");
    let config = dir.join("p.toml");
    std::fs::write(
        &config,
        support::file_to_files(&data, &input, "raw", &[&out]),
    )
    .unwrap();
    (config, out, data)
}

#[test]
fn sigterm_drains_in_flight_events_saves_checkpoints_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..20_000).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "line {i} of the audit log with some text");
        s
    });
    let (config, out, data) = raw_pipeline(dir.path(), &body);
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    // Stop as soon as delivery has begun, while events are still in flight.
    support::eventually(Duration::from_secs(20), || {
        (!support::lines(&out).is_empty()).then_some(())
    })
    .expect("delivery starts");
    support::signal(&child, "TERM");
    let code = support::wait_exit(&mut child, Duration::from_secs(30));
    let stderr = support::stderr_text(&mut child);
    assert_eq!(code, 0, "{stderr}");
    let delivered = support::lines(&out).len() as u64;
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("checkpoints/in.json")).unwrap())
            .unwrap();
    let offset = saved["files"][0]["offset"].as_u64().unwrap();
    // The checkpoint covers exactly the delivered lines: every line has the same length pattern,
    // so compare against the byte length of the first `delivered` lines.
    let expected: u64 = body
        .lines()
        .take(delivered as usize)
        .map(|l| l.len() as u64 + 1)
        .sum();
    assert_eq!(
        offset, expected,
        "checkpoint = bytes of the {delivered} delivered lines"
    );
    // Restart: the rest arrives, nothing twice.
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let all = support::eventually(Duration::from_secs(30), || {
        (support::lines(&out).len() >= 20_000).then_some(())
    });
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
    assert!(
        all.is_some(),
        "after restart {} of 20000 lines",
        support::lines(&out).len()
    );
    assert_eq!(
        support::lines(&out).len(),
        20_000,
        "a graceful stop leaves no duplicates"
    );
}

#[test]
fn bad_config_exits_2_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!("data_dir = '{}'\n[sources.s]\ntype = \"file\"\ninclude = [\"/x\"]\n[sinks.o]\ntype = \"console\"\ninputs = [\"s\", \"ghost\"]\n", data.display()),
    )
    .unwrap();
    let out = std::process::Command::new(support::binary())
        .args(["run", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:7:16: sinks.o.inputs: input `ghost` does not exist"),
        "{err}"
    );
    assert!(
        !data.exists(),
        "nothing may start before the configuration is valid"
    );
}

#[test]
fn systemd_hears_ready_watchdog_pings_reloading_and_stopping_on_its_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _, _) = raw_pipeline(dir.path(), "one\ntwo\n");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = support::spawn_with_env(
        &["run", "--config", config.to_str().unwrap()],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            // 200 ms: a ping every 100 ms.
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut messages: Vec<String> = Vec::new();
    let mut buf = [0u8; 256];
    let receive = |messages: &mut Vec<String>, buf: &mut [u8]| {
        let n = socket.recv(buf).expect("a notification within 20 s");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    };
    // READY first, then at least three watchdog pings (bounded: 50 datagrams).
    for _ in 0..50 {
        receive(&mut messages, &mut buf);
        if messages.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3 {
            break;
        }
    }
    assert!(
        messages[0].starts_with("READY=1\n"),
        "first message: {messages:?}"
    );
    assert!(
        messages.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3,
        "{messages:?}"
    );
    // A reload says RELOADING, then READY again once applied.
    support::signal(&child, "HUP");
    let from = messages.len();
    for _ in 0..50 {
        receive(&mut messages, &mut buf);
        if messages[from..].iter().any(|m| m.starts_with("READY=1")) {
            break;
        }
    }
    let reload: Vec<&String> = messages[from..]
        .iter()
        .filter(|m| *m != "WATCHDOG=1")
        .collect();
    assert!(
        reload.len() == 2
            && reload[0].starts_with("RELOADING=1\n")
            && reload[1].starts_with("READY=1\n"),
        "{messages:?}"
    );
    support::signal(&child, "TERM");
    let mut stopping = false;
    for _ in 0..50 {
        receive(&mut messages, &mut buf);
        if messages.last().unwrap().starts_with("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    let code = support::wait_exit(&mut child, Duration::from_secs(30));
    assert!(stopping, "{messages:?}");
    assert_eq!(code, 0, "{}", support::stderr_text(&mut child));
}

#[test]
fn log_format_json_writes_every_agent_log_line_as_a_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let (config, out, _) = raw_pipeline(dir.path(), "one\n");
    let mut child = support::spawn(&[
        "--log-format",
        "json",
        "run",
        "--config",
        config.to_str().unwrap(),
    ]);
    support::eventually(Duration::from_secs(20), || {
        (!support::lines(&out).is_empty()).then_some(())
    })
    .expect("delivery starts");
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
    let stderr = support::stderr_text(&mut child);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(v["level"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    assert!(stderr.contains("pipeline running"), "{stderr}");
}
