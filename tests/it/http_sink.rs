//! The `http` sink against a scripted HTTP/1.1 server on loopback, with the real binary:
//! Retry-After, dead letters, refused connections, gzip, slow answers, giving up.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::time::Duration;

use crate::http_server::{Answer, Server};
use crate::support::{self, SinkSetup};

fn setup(lines: usize, sink: &str) -> SinkSetup {
    SinkSetup::new(
        "audit.log",
        &support::seq_lines(lines),
        "raw",
        &format!("type = \"http\"\n{sink}"),
    )
}

fn run_until(setup: &SinkSetup, limit: Duration, done: impl FnMut() -> bool) -> bool {
    setup.run_until(limit, done).0
}

#[test]
fn status_503_with_retry_after_is_retried_then_delivered() {
    let mut busy = Answer::status(503);
    busy.headers.push(("retry-after", "1".into()));
    let server = Server::start(vec![busy]);
    let s = setup(
        50,
        &format!(
            "uri = '{}'\nbatch = {{ timeout = \"200ms\" }}",
            server.uri()
        ),
    );
    let all = run_until(&s, Duration::from_secs(20), || {
        server.delivered().len() >= 50
    });
    assert!(all, "delivered {:?}", server.delivered().len());
    assert_eq!(
        server.delivered(),
        (0..50).collect::<Vec<_>>(),
        "each event once"
    );
    let r = server.received();
    assert_eq!(r[0].status, 503);
    let waited = r[1].at - r[0].at;
    assert!(
        waited >= Duration::from_millis(900),
        "Retry-After honoured, waited {waited:?}"
    );
}

#[test]
fn status_400_to_every_request_dead_letters_each_event_alone_without_retrying_it() {
    let mut refused = Answer::status(400);
    refused.body = r#"{"error":"mapper_parsing_exception"}"#.into();
    let server = Server::start(Vec::new());
    server.state.lock().unwrap().fallback = Some(refused);
    let s = setup(
        10,
        &format!(
            "uri = '{}'\nbatch = {{ timeout = \"500ms\" }}",
            server.uri()
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let dead = s.data.join("dead_letter/events.ndjson");
    let settled = run_until(&s, Duration::from_secs(20), || {
        support::lines(&dead).len() == 10 && s.checkpoint() == size
    });
    assert!(settled, "dead letters: {}", support::lines(&dead).len());
    // Split in halves down to single events (10 + 5 + ... requests: 2n - 1), none retried.
    assert_eq!(server.received().len(), 19, "each part sent once");
    let first: serde_json::Value = serde_json::from_str(&support::lines(&dead)[0]).unwrap();
    let reason = first["reason"].as_str().unwrap();
    assert!(
        reason.contains("400") && reason.contains("mapper_parsing_exception"),
        "{reason}"
    );
    assert_eq!(first["sink"], "out");
    assert_eq!(first["event"]["message"], "seq 0");
}

#[test]
fn connection_refused_then_up_delivers_everything() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = setup(
        30,
        &format!("uri = 'http://127.0.0.1:{port}/ingest'\nbatch = {{ timeout = \"100ms\" }}"),
    );
    let mut child = support::spawn(&["run", "--config", s.config.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        s.checkpoint(),
        0,
        "nothing is acknowledged while the server is down"
    );
    let server = Server::on_port(port, vec![]);
    let all = support::eventually(Duration::from_secs(40), || {
        (server.delivered().len() >= 30).then_some(())
    });
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
    assert!(all.is_some(), "delivered {}", server.delivered().len());
    assert_eq!(server.delivered(), (0..30).collect::<Vec<_>>());
}

#[test]
fn gzip_bodies_decode_to_the_exact_events() {
    let server = Server::start(vec![]);
    let s = setup(
        200,
        &format!(
            "uri = '{}'\ncompression = \"gzip\"\nheaders = {{ X-Tenant = \"corp\" }}\nauth = {{ strategy = \"bearer\", token = \"t0k3n\" }}",
            server.uri()
        ),
    );
    let all = run_until(&s, Duration::from_secs(20), || {
        server.delivered().len() >= 200
    });
    assert!(all);
    assert_eq!(server.delivered(), (0..200).collect::<Vec<_>>());
    let r = &server.received()[0];
    let header = |k: &str| {
        r.headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-encoding"), Some("gzip"));
    assert_eq!(header("content-type"), Some("application/x-ndjson"));
    assert_eq!(header("x-tenant"), Some("corp"));
    assert_eq!(header("authorization"), Some("Bearer t0k3n"));
    let first: serde_json::Value = serde_json::from_str(r.body.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"]["original"], "seq 0");
    assert_eq!(first["log"]["offset"], 0);
}

#[test]
fn slow_responses_with_concurrency_lose_nothing() {
    let server = Server::start(vec![]);
    {
        let mut st = server.state.lock().unwrap();
        let mut slow = Answer::status(200);
        slow.delay = Duration::from_millis(300);
        st.fallback = Some(slow);
    }
    let s = setup(
        400,
        &format!(
            "uri = '{}'\nconcurrency = 3\nbatch = {{ max_events = 50, timeout = \"50ms\" }}\nencoding = \"ndjson\"",
            server.uri()
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let all = run_until(&s, Duration::from_secs(30), || {
        server.delivered().len() >= 400 && s.checkpoint() == size
    });
    assert!(all, "delivered {}", server.delivered().len());
    assert_eq!(server.delivered(), (0..400).collect::<Vec<_>>());
}

#[test]
fn giving_up_after_max_attempts_dead_letters_the_batch() {
    let server = Server::start(vec![]);
    server.state.lock().unwrap().fallback = Some(Answer::status(503));
    let s = setup(
        5,
        &format!(
            "uri = '{}'\nretry = {{ max_attempts = 2 }}\nbatch = {{ timeout = \"200ms\" }}",
            server.uri()
        ),
    );
    let dead = s.data.join("dead_letter/events.ndjson");
    let settled = run_until(&s, Duration::from_secs(20), || {
        support::lines(&dead).len() == 5
    });
    assert!(settled);
    assert_eq!(server.received().len(), 2, "exactly max_attempts requests");
    let first: serde_json::Value = serde_json::from_str(&support::lines(&dead)[0]).unwrap();
    assert!(first["reason"]
        .as_str()
        .unwrap()
        .contains("gave up after 2 attempts"));
}

#[test]
fn a_slow_sink_does_not_hold_back_a_healthy_sibling_within_the_budget() {
    let server = Server::start(vec![]);
    {
        let mut slow = Answer::status(200);
        slow.delay = Duration::from_millis(1500);
        server.state.lock().unwrap().fallback = Some(slow);
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let body = (0..3000).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "seq {i}");
        s
    });
    std::fs::write(&log, body).unwrap();
    let fast = dir.path().join("fast.ndjson");
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\nshutdown_timeout = \"2s\"\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"raw\"\n[sinks.fast]\ntype = \"file\"\ninputs = [\"in\"]\npath = '{}'\n[sinks.slow]\ntype = \"http\"\ninputs = [\"in\"]\nuri = '{}'\nconcurrency = 1\nbatch = {{ max_events = 10, timeout = \"10ms\" }}\n",
            dir.path().join("data").display(),
            log.display(),
            fast.display(),
            server.uri()
        ),
    )
    .unwrap();
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    // The healthy file sink gets everything while the slow one has taken only a few batches.
    let fast_done = support::eventually(Duration::from_secs(20), || {
        (support::lines(&fast).len() == 3000).then_some(())
    });
    let slow_so_far = server.delivered().len();
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
    assert!(
        fast_done.is_some(),
        "fast sink got {}",
        support::lines(&fast).len()
    );
    assert!(
        slow_so_far < 3000,
        "the slow sink was really slow ({slow_so_far})"
    );
}

#[test]
fn https_with_a_test_ca_is_verified() {
    let certs = tempfile::tempdir().unwrap();
    let good = support::pki(certs.path(), "good");
    let other = support::pki(certs.path(), "other");
    let server = Server::start_tls(vec![], &good.cert, &good.key);
    let uri = format!("https://127.0.0.1:{}/ingest", server.port);
    let s = setup(
        20,
        &format!(
            "uri = '{uri}'\ntls = {{ ca_file = '{}' }}",
            good.ca.display()
        ),
    );
    let all = run_until(&s, Duration::from_secs(20), || {
        server.delivered().len() >= 20
    });
    assert!(all, "delivered {}", server.delivered().len());

    // Verified against a CA that did not sign the server's certificate: nothing is sent.
    let server = Server::start_tls(vec![], &good.cert, &good.key);
    let s = setup(
        5,
        &format!(
            "uri = 'https://127.0.0.1:{}/ingest'\ntls = {{ ca_file = '{}' }}",
            server.port,
            other.ca.display()
        ),
    );
    let mut child = support::spawn(&["run", "--config", s.config.to_str().unwrap()]);
    let failed = support::eventually(Duration::from_secs(15), || {
        support::stderr_text(&mut child)
            .contains("delivery failed; retrying")
            .then_some(())
    });
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
    assert!(failed.is_some(), "{}", support::stderr_text(&mut child));
    assert!(
        server.received().is_empty(),
        "no request passed the handshake"
    );
    assert_eq!(s.checkpoint(), 0, "nothing acknowledged");
}

#[test]
fn the_end_of_a_burst_is_sent_once_the_input_is_quiet_not_a_timeout_later() {
    // `batch.timeout` is 60 s: the 50 lines go once no more come for `batch.quiet` (20 ms).
    let server = Server::start(Vec::new());
    let s = setup(
        50,
        &format!("uri = '{}'\nbatch = {{ timeout = \"60s\" }}", server.uri()),
    );
    let all = run_until(&s, Duration::from_secs(20), || {
        server.delivered().len() >= 50
    });
    assert!(all, "delivered {:?}", server.delivered().len());
    assert_eq!(server.delivered(), (0..50).collect::<Vec<_>>());

    // `quiet = "0s"` turns it off: the batch waits for its timeout (3 s here).
    let server = Server::start(Vec::new());
    let s = setup(
        50,
        &format!(
            "uri = '{}'\nbatch = {{ timeout = \"3s\", quiet = \"0s\" }}",
            server.uri()
        ),
    );
    let started = std::time::Instant::now();
    let all = run_until(&s, Duration::from_secs(20), || {
        server.delivered().len() >= 50
    });
    assert!(all, "delivered {:?}", server.delivered().len());
    let first = server.received()[0].at;
    assert!(
        first.duration_since(started) >= Duration::from_millis(2500),
        "sent after {:?}",
        first.duration_since(started)
    );
}
