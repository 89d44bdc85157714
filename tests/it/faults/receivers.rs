//! Receivers that refuse the request rather than the events: wrong credentials, a wrong
//! path, a proxy's size limit, a malformed body. None of them may send a batch to the
//! dead-letter file or move the checkpoint past undelivered events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::elasticsearch_sink::FakeEs;
use crate::http_server::{Answer, Server};
use crate::support::{self, SinkSetup};

/// A server refusing the first `refusals` requests with `status`, then answering 200.
fn refusing(status: u16, refusals: usize) -> (Server, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let server = Server::with_responder(Arc::new(move |_, _, _| {
        (count.fetch_add(1, Ordering::SeqCst) < refusals).then(|| Answer::status(status))
    }));
    (server, seen)
}

fn http_setup(lines: &[String], uri: &str) -> SinkSetup {
    SinkSetup::new(
        "audit.log",
        lines,
        "raw",
        &format!("type = \"http\"\nuri = '{uri}'\nbatch = {{ timeout = \"100ms\" }}\n"),
    )
}

#[test]
fn status_401_and_404_are_retried_with_an_error_naming_the_sink_and_nothing_is_dead_lettered() {
    for status in [401, 404] {
        let (server, seen) = refusing(status, 4);
        let s = http_setup(&support::seq_lines(200), &server.uri());
        let size = std::fs::metadata(&s.log).unwrap().len();
        let mut held_while_refused = true;
        let (all, stderr) = s.run_until(Duration::from_secs(30), || {
            if seen.load(Ordering::SeqCst) < 4 && s.checkpoint() == size {
                held_while_refused = false;
            }
            server.delivered().len() >= 200 && s.checkpoint() == size
        });
        assert!(
            all,
            "{status}: delivered {}\n{stderr}",
            server.delivered().len()
        );
        assert_eq!(
            server.delivered(),
            (0..200).collect::<Vec<_>>(),
            "{status}: each once"
        );
        assert!(
            held_while_refused,
            "{status}: the checkpoint moved while refused"
        );
        assert!(
            !s.data.join("dead_letter/events.ndjson").exists(),
            "{status}: a refused request is not a verdict on the events"
        );
        assert!(
            stderr.contains("ERROR") && stderr.contains("sink=\"out\"")
                || stderr.contains("sink=out"),
            "{status}: an ERROR names the sink\n{stderr}"
        );
        assert!(stderr.contains(&format!("answered {status}")), "{stderr}");
    }
}

#[test]
fn status_413_splits_the_batch_down_to_the_one_event_over_the_limit() {
    // A proxy that refuses bodies over 2,000 bytes: batches are halved until they fit; the
    // one event larger than the limit on its own is the only one dead-lettered.
    const LIMIT: usize = 2000;
    let server = Server::with_responder(Arc::new(|_, _, body: &str| {
        (body.len() > LIMIT).then(|| Answer::status(413))
    }));
    let mut lines = support::seq_lines(100);
    lines[37] = format!("seq 37 {}", "x".repeat(3000));
    let s = http_setup(&lines, &server.uri());
    let size = std::fs::metadata(&s.log).unwrap().len();
    let dead = s.data.join("dead_letter/events.ndjson");
    let (settled, stderr) = s.run_until(Duration::from_secs(30), || s.checkpoint() == size);
    assert!(settled, "checkpoint {} of {size}\n{stderr}", s.checkpoint());
    let expected: Vec<usize> = (0..100).filter(|&i| i != 37).collect();
    assert_eq!(server.delivered(), expected, "every other event once");
    let dead = support::lines(&dead);
    assert_eq!(dead.len(), 1, "only the oversized event: {dead:?}");
    let v: serde_json::Value = serde_json::from_str(&dead[0]).unwrap();
    assert!(v["event"]["message"]
        .as_str()
        .unwrap()
        .starts_with("seq 37 "));
    assert!(v["reason"].as_str().unwrap().contains("413"), "{v}");
}

#[test]
fn a_body_refused_with_400_is_split_and_only_the_refused_event_is_dead_lettered() {
    // Plain ndjson, gzip ndjson and a gzip JSON array: the halves are made from the records
    // of the body the sink encoded once (the events themselves were let go of).
    for settings in [
        "",
        "compression = \"gzip\"\n",
        "compression = \"gzip\"\nencoding = \"json\"\n",
    ] {
        let server = Server::with_responder(Arc::new(|_, _, body: &str| {
            body.contains("\"seq 3\"").then(|| {
                let mut a = Answer::status(400);
                a.body = r#"{"error":"cannot parse seq 3"}"#.into();
                a
            })
        }));
        let s = SinkSetup::new(
            "audit.log",
            &support::seq_lines(10),
            "raw",
            &format!(
                "type = \"http\"\nuri = '{}'\nbatch = {{ timeout = \"100ms\" }}\n{settings}",
                server.uri()
            ),
        );
        let size = std::fs::metadata(&s.log).unwrap().len();
        let dead = s.data.join("dead_letter/events.ndjson");
        let (settled, stderr) = s.run_until(Duration::from_secs(20), || s.checkpoint() == size);
        assert!(settled, "{settings}{stderr}");
        assert_eq!(
            server.delivered(),
            vec![0, 1, 2, 4, 5, 6, 7, 8, 9],
            "{settings}"
        );
        let dead = support::lines(&dead);
        assert_eq!(dead.len(), 1, "{settings}{dead:?}");
        let v: serde_json::Value = serde_json::from_str(&dead[0]).unwrap();
        assert_eq!(v["event"]["message"], "seq 3", "{settings}");
        assert!(
            v["reason"].as_str().unwrap().contains("cannot parse seq 3"),
            "{v}"
        );
    }
}

#[test]
fn elasticsearch_answering_403_keeps_the_events_until_it_accepts_them() {
    let es = Arc::new(FakeEs::default());
    let seen = Arc::new(AtomicUsize::new(0));
    let (inner, count) = (es.clone(), seen.clone());
    let server = Server::with_responder(Arc::new(move |m, p, b| {
        if p.starts_with("/_bulk") && count.fetch_add(1, Ordering::SeqCst) < 3 {
            let mut a = Answer::status(403);
            a.body = r#"{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized"}}"#.into();
            return Some(a);
        }
        Some(inner.answer(m, p, b))
    }));
    let s = SinkSetup::new(
        "audit.log",
        &support::seq_lines(300),
        "raw",
        &format!(
            "type = \"elasticsearch\"\nendpoints = ['http://127.0.0.1:{}']\nbatch = {{ timeout = \"100ms\" }}\n",
            server.port
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let (all, stderr) = s.run_until(Duration::from_secs(30), || {
        es.count() >= 300 && s.checkpoint() == size
    });
    assert!(all, "indexed {}\n{stderr}", es.count());
    assert_eq!(es.count(), 300);
    assert!(!s.data.join("dead_letter/events.ndjson").exists());
    assert!(stderr.contains("answered 403"), "{stderr}");
}

/// An HTTP receiver on raw TCP: the first connection is reset after the request is read,
/// the second hangs without answering, the third answers 200 one byte at a time (a
/// trickle); later ones answer 200 at once. Records the bodies answered 200.
fn misbehaving_receiver() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let shared = bodies.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().take(200).enumerate() {
            let Ok(conn) = conn else { break };
            let bodies = shared.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut writer = conn;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    match n {
                        0 => return, // reset: dropped without an answer
                        1 => {
                            std::thread::sleep(Duration::from_secs(5)); // hang
                            return;
                        }
                        2 => {
                            for b in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n" {
                                if writer.write_all(&[*b]).is_err() {
                                    return;
                                }
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                        _ => {
                            if writer
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                    bodies
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
            });
        }
    });
    (port, bodies)
}

#[test]
fn receivers_that_reset_hang_and_trickle_lose_nothing() {
    let (port, bodies) = misbehaving_receiver();
    let s = SinkSetup::new(
        "audit.log",
        &support::seq_lines(300),
        "raw",
        &format!(
            "type = \"http\"\nuri = 'http://127.0.0.1:{port}/ingest'\ncompression = \"none\"\nconcurrency = 1\nrequest_timeout = \"1s\"\nbatch = {{ timeout = \"100ms\", max_events = 50 }}\n"
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let (settled, stderr) = s.run_until(Duration::from_secs(60), || s.checkpoint() == size);
    assert!(settled, "{stderr}");
    let mut seen: Vec<usize> = bodies
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| crate::http_server::seqs_of(b))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen,
        (0..300).collect::<Vec<_>>(),
        "every event answered 200 at least once"
    );
    assert!(!s.data.join("dead_letter/events.ndjson").exists());
}

#[test]
fn a_batch_larger_than_the_memory_budget_is_sent_without_waiting_for_its_timeout() {
    // `batch.max_events` far above what a 256 KiB budget holds (about a hundred of these
    // events) and a 30 s timeout: a batch cannot fill while its own events hold the budget,
    // and the readers wait for the budget. Before, every batch waited its full timeout
    // (about 8,500 events/s at the defaults with `max_events = 2000`); now a batch closes
    // once it holds half of the budget.
    let server = Server::start(vec![]);
    let s = SinkSetup::new(
        "audit.log",
        &support::seq_lines(2000),
        "raw",
        &format!(
            "type = \"http\"\nuri = '{}'\nbatch = {{ max_events = 100000, timeout = \"30s\" }}\n",
            server.uri()
        ),
    );
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!("buffer = {{ max_bytes = \"256KiB\" }}\n{config}"),
    )
    .unwrap();
    let size = std::fs::metadata(&s.log).unwrap().len();
    let (done, stderr) = s.run_until(Duration::from_secs(20), || {
        server.delivered().len() == 2000 && s.checkpoint() == size
    });
    assert!(
        done,
        "not all delivered and checkpointed within 20 s ({} delivered by shutdown)\n{stderr}",
        server.delivered().len()
    );
    assert_eq!(
        server.delivered(),
        (0..2000).collect::<Vec<_>>(),
        "each once"
    );
}
