//! The API through the real binary: the health probe and the Prometheus metrics.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::time::Duration;

use crate::support;

/// `GET path` on `port` over loopback: (status, body).
pub(crate) fn get(port: u16, path: &str) -> Option<(u16, String)> {
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
pub(crate) fn sample(metrics: &str, name: &str, with: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(with)
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Every metric the API names.
const METRICS: [&str; 17] = [
    "auditship_build_info",
    "auditship_component_received_bytes_total",
    "auditship_component_received_events_total",
    "auditship_component_sent_events_total",
    "auditship_component_sent_bytes_total",
    "auditship_dead_letter_events_total",
    "auditship_sink_retries_total",
    "auditship_component_errors_total",
    "auditship_source_file_lag_bytes",
    "auditship_source_files_open",
    "auditship_checkpoint_age_seconds",
    "auditship_parse_failures_total",
    "auditship_buffer_bytes",
    "auditship_buffer_max_bytes",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
];

pub(crate) fn free_port() -> u16 {
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
    // 500 JSON lines, of which every 100th is not JSON: 5 parse failures.
    let lines: String = (0..500).fold(String::new(), |mut s, i| {
        if i % 100 == 99 {
            let _ = writeln!(s, "not json {i}");
        } else {
            let _ = writeln!(s, "{{\"n\":{i}}}");
        }
        s
    });
    std::fs::write(&input, &lines).unwrap();
    let out = dir.path().join("out.ndjson");
    let port = free_port();
    let config = dir.path().join("p.toml");
    let text = support::file_to_files(&dir.path().join("data"), &input, "json", &[&out]).replacen(
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
    for name in METRICS {
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
    // A file sink's bytes sent are the bytes in its file.
    assert_eq!(
        sample(
            &metrics,
            "auditship_component_sent_bytes_total",
            "component_id=\"out0\""
        ),
        Some(f64::from(
            u32::try_from(std::fs::metadata(&out).unwrap().len()).unwrap()
        )),
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
    assert_eq!(
        sample(&metrics, "auditship_parse_failures_total", ""),
        Some(5.0),
        "{metrics}"
    );
    let age = sample(
        &metrics,
        "auditship_checkpoint_age_seconds",
        "component_id=\"in\"",
    );
    assert!(age.is_some_and(|a| a < 10.0), "{metrics}");
    assert_eq!(get(port, "/nothing").map(|(s, _)| s), Some(404));
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
    assert!(
        get(port, "/health").is_none(),
        "the API stops with the agent"
    );
}

#[test]
fn a_dead_sink_shows_growing_retries_and_lag_while_health_stays_ok() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit.log");
    std::fs::write(&input, "one\ntwo\nthree\n").unwrap();
    let port = free_port();
    // Nothing listens on the sink's port: every attempt fails and is retried.
    let dead = free_port();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\nshutdown_timeout = \"1s\"\n[api]\naddress = \"127.0.0.1:{port}\"\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"raw\"\n[sinks.down]\ntype = \"http\"\ninputs = [\"in\"]\nuri = 'http://127.0.0.1:{dead}/'\nbatch = {{ timeout = \"10ms\" }}\n",
            dir.path().join("data").display(),
            input.display()
        ),
    )
    .unwrap();
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let first = support::eventually(Duration::from_secs(20), || {
        let (_, m) = get(port, "/metrics")?;
        sample(&m, "auditship_sink_retries_total", "component_id=\"down\"").filter(|&n| n >= 1.0)
    })
    .expect("retries counted");
    let more = support::eventually(Duration::from_secs(20), || {
        let (_, m) = get(port, "/metrics")?;
        sample(&m, "auditship_sink_retries_total", "component_id=\"down\"").filter(|&n| n > first)
    });
    assert!(more.is_some(), "retries keep growing");
    // Nothing was acknowledged: the whole file is lag (published with each checkpoint save).
    let metrics = support::eventually(Duration::from_secs(20), || {
        let (_, m) = get(port, "/metrics")?;
        sample(&m, "auditship_source_file_lag_bytes", "audit.log").map(|_| m)
    })
    .expect("the file's lag is published");
    assert_eq!(
        sample(&metrics, "auditship_source_file_lag_bytes", "audit.log"),
        Some(14.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "auditship_source_files_open", ""),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "auditship_component_sent_events_total",
            "component_id=\"down\""
        ),
        Some(0.0),
        "{metrics}"
    );
    // Connection refused is a transient error; nothing was refused for its content.
    let transient = sample(
        &metrics,
        "auditship_component_errors_total",
        "error_type=\"transient\"",
    );
    assert!(transient.is_some_and(|n| n >= 1.0), "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            "auditship_component_errors_total",
            "error_type=\"rejected\""
        ),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(get(port, "/health").map(|(s, _)| s), Some(200));
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(30));
}

#[test]
fn a_filter_counts_the_events_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit.log");
    let lines: String = (0..100).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "{{\"n\":{i},\"keep\":{}}}", i % 4 == 0);
        s
    });
    std::fs::write(&input, lines).unwrap();
    let out = dir.path().join("out.ndjson");
    let port = free_port();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\n[api]\naddress = \"127.0.0.1:{port}\"\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"json\"\n[transforms.keep]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = '.keep == true'\n[sinks.out]\ntype = \"file\"\ninputs = [\"keep\"]\npath = '{}'\n",
            dir.path().join("data").display(),
            input.display(),
            out.display()
        ),
    )
    .unwrap();
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let metrics = support::eventually(Duration::from_secs(20), || {
        let (_, m) = get(port, "/metrics")?;
        (sample(
            &m,
            "auditship_component_sent_events_total",
            "component_id=\"out\"",
        ) == Some(25.0))
        .then_some(m)
    })
    .expect("the kept quarter delivered");
    assert_eq!(
        sample(
            &metrics,
            "auditship_component_discarded_events_total",
            "component_id=\"keep\",component_kind=\"transform\",component_type=\"filter\""
        ),
        Some(75.0),
        "{metrics}"
    );
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
}
