//! The API through the real binary: the health probe and the Prometheus metrics.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::time::Duration;

use crate::support;

/// `GET path` on `port` over loopback: (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// The value of the sample `name{labels...}` whose labels contain `with`.
fn sample(metrics: &str, name: &str, with: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(with)
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn health_is_ok_while_running_and_metrics_count_every_delivered_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit.log");
    let lines: String = (0..500).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "audit line {i}");
        s
    });
    std::fs::write(&input, &lines).unwrap();
    let out = dir.path().join("out.ndjson");
    let port = free_port();
    let config = dir.path().join("p.toml");
    let text = support::file_to_files(&dir.path().join("data"), &input, "raw", &[&out]).replacen(
        "[sources.in]",
        &format!("[api]\naddress = \"127.0.0.1:{port}\"\n\n[sources.in]"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let health = support::eventually(Duration::from_secs(20), || {
        get(port, "/health").filter(|(status, _)| *status == 200)
    });
    let (_, body) = health.expect("the probe says 200 once the pipeline runs");
    assert_eq!(body.trim(), r#"{"status":"ok"}"#);
    support::eventually(Duration::from_secs(20), || {
        (support::lines(&out).len() == 500).then_some(())
    })
    .expect("all lines delivered");
    // Every named metric is there; counts equal what was delivered; the lag falls to 0.
    let metrics = support::eventually(Duration::from_secs(20), || {
        let (_, m) = get(port, "/metrics")?;
        (sample(&m, "auditship_source_file_lag_bytes", "audit.log") == Some(0.0)).then_some(m)
    })
    .expect("the file's lag falls to 0 once delivered");
    for name in [
        "auditship_build_info",
        "auditship_component_received_bytes_total",
        "auditship_component_received_events_total",
        "auditship_component_sent_events_total",
        "auditship_dead_letter_events_total",
        "auditship_sink_retries_total",
        "auditship_source_file_lag_bytes",
        "auditship_source_files_open",
        "auditship_buffer_bytes",
        "auditship_buffer_max_bytes",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{metrics}"
        );
    }
    assert_eq!(
        sample(
            &metrics,
            "auditship_component_sent_events_total",
            "component_id=\"out0\""
        ),
        Some(500.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "auditship_component_received_events_total",
            "component_id=\"in\""
        ),
        Some(500.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "auditship_component_received_bytes_total",
            "component_id=\"in\""
        ),
        Some(f64::from(u32::try_from(lines.len()).unwrap())),
        "{metrics}"
    );
    assert_eq!(get(port, "/nothing").map(|(s, _)| s), Some(404));
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
    assert!(
        get(port, "/health").is_none(),
        "the API stops with the agent"
    );
}
