//! Dead-letter files that fill up, and replaying them: generations are never deleted; when
//! all are full the sink waits (the checkpoint holds) until an operator makes room.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::http_server::{Answer, Server};
use crate::support::{self, SinkSetup};

/// Sequence numbers in the dead-letter files under `dir`, with how often each appears.
fn dead_seqs(dirs: &[&Path]) -> BTreeMap<usize, usize> {
    let mut seen = BTreeMap::new();
    for dir in dirs {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            for line in support::lines(&entry.path()) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(seq) = seq_of(&v["event"]) {
                    *seen.entry(seq).or_insert(0) += 1;
                }
            }
        }
    }
    seen
}

/// The N of an event whose message is `seq N` or `seq N bad`.
fn seq_of(event: &serde_json::Value) -> Option<usize> {
    let message = event["message"].as_str()?;
    message
        .strip_prefix("seq ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// Sequence numbers the server accepted (2xx), sorted.
fn accepted(server: &Server) -> Vec<usize> {
    let mut seqs: Vec<usize> = server
        .received()
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .flat_map(|r| {
            r.body
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| seq_of(&v))
                .collect::<Vec<_>>()
        })
        .collect();
    seqs.sort_unstable();
    seqs
}

/// A server refusing, with 400, every event whose message holds "bad" while `refuse` is set.
fn refusing_bad(refuse: Arc<AtomicBool>) -> Server {
    Server::with_responder(Arc::new(move |_, _, body: &str| {
        (refuse.load(Ordering::SeqCst) && body.contains("bad")).then(|| {
            let mut a = Answer::status(400);
            a.body = r#"{"error":"bad event"}"#.into();
            a
        })
    }))
}

fn lines(n: usize, bad: impl Fn(usize) -> bool) -> Vec<String> {
    (0..n)
        .map(|i| {
            if bad(i) {
                format!("seq {i} bad")
            } else {
                format!("seq {i}")
            }
        })
        .collect()
}

#[test]
fn full_dead_letter_files_hold_the_sink_back_until_room_is_made_and_lose_nothing() {
    let refuse = Arc::new(AtomicBool::new(true));
    let server = refusing_bad(refuse.clone());
    let s = SinkSetup::new(
        "audit.log",
        &lines(400, |_| true),
        "raw",
        &format!(
            "type = \"http\"\nuri = '{}'\nbatch = {{ timeout = \"100ms\", max_events = 50 }}\n",
            server.uri()
        ),
    );
    // Two files of 64 KiB hold about 230 of these dead letters.
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!("dead_letter = {{ max_bytes = \"64KiB\", max_files = 2 }}\n{config}"),
    )
    .unwrap();
    let size = std::fs::metadata(&s.log).unwrap().len();
    let dead_dir = s.data.join("dead_letter");
    let archive = s.data.parent().unwrap().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    let mut child = support::spawn(&["run", "--config", s.config.to_str().unwrap()]);
    let full = support::eventually(Duration::from_secs(30), || {
        support::stderr_text(&mut child)
            .contains("are full")
            .then_some(())
    });
    assert!(full.is_some(), "{}", support::stderr_text(&mut child));
    std::thread::sleep(Duration::from_millis(500));
    let held = dead_seqs(&[&dead_dir]);
    assert!(held.len() < 400 && held.len() > 100, "{}", held.len());
    assert!(held.values().all(|&n| n == 1));
    assert!(
        s.checkpoint() < size,
        "the checkpoint holds while the files are full"
    );
    assert_eq!(accepted(&server).len(), 0);
    // The operator moves the files away, as often as needed (bounded).
    let mut round = 0;
    while s.checkpoint() < size {
        round += 1;
        assert!(
            round <= 20,
            "never settled: {}",
            support::stderr_text(&mut child)
        );
        for entry in std::fs::read_dir(&dead_dir).unwrap().flatten() {
            let name = format!("{round}-{}", entry.file_name().to_string_lossy());
            std::fs::rename(entry.path(), archive.join(name)).unwrap();
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(30)), 0);
    let all = dead_seqs(&[&dead_dir, &archive]);
    assert_eq!(all.len(), 400, "every refused event kept");
    assert!(all.values().all(|&n| n == 1), "each once");
}

#[test]
fn dead_letters_are_listed_and_replayed_once_the_destination_accepts_them() {
    let refuse = Arc::new(AtomicBool::new(true));
    let server = refusing_bad(refuse.clone());
    let s = SinkSetup::new(
        "audit.log",
        &lines(100, |i| i % 10 == 3),
        "raw",
        &format!(
            "type = \"http\"\nuri = '{}'\nbatch = {{ timeout = \"100ms\" }}\n",
            server.uri()
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let dead_dir = s.data.join("dead_letter");
    let (settled, stderr) = s.run_until(Duration::from_secs(30), || s.checkpoint() == size);
    assert!(settled, "{stderr}");
    let bad: Vec<usize> = (0..100).filter(|i| i % 10 == 3).collect();
    assert_eq!(
        dead_seqs(&[&dead_dir]).keys().copied().collect::<Vec<_>>(),
        bad
    );
    let good: Vec<usize> = (0..100).filter(|i| i % 10 != 3).collect();
    assert_eq!(accepted(&server), good);

    let cli = |args: &[&str]| {
        let out = std::process::Command::new(support::binary())
            .args(args)
            .args(["--config", s.config.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, listed, err) = cli(&["dead-letters", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        listed.contains("10 events") && listed.contains("out=10"),
        "{listed}"
    );

    // Still refused: nothing leaves the files.
    let (code, out, err) = cli(&["dead-letters", "replay", "--timeout", "10s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("10 refused again"), "{out}");
    assert_eq!(dead_seqs(&[&dead_dir]).len(), 10);

    refuse.store(false, Ordering::SeqCst);
    let (code, out, err) = cli(&["dead-letters", "replay"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("out: 10 events replayed"), "{out}");
    assert_eq!(
        accepted(&server),
        (0..100).collect::<Vec<_>>(),
        "each refused event delivered once"
    );
    assert!(
        dead_seqs(&[&dead_dir]).is_empty(),
        "replayed lines leave their files"
    );
    let (_, listed, _) = cli(&["dead-letters", "list"]);
    assert!(listed.contains("no dead letters"), "{listed}");
}

#[test]
fn replay_is_refused_while_an_agent_runs_on_the_data_dir() {
    let server = Server::start(Vec::new());
    let s = SinkSetup::new(
        "audit.log",
        &support::seq_lines(5),
        "raw",
        &format!("type = \"http\"\nuri = '{}'\n", server.uri()),
    );
    let mut child = support::spawn(&["run", "--config", s.config.to_str().unwrap()]);
    support::signal(&child, "0");
    let out = std::process::Command::new(support::binary())
        .args([
            "dead-letters",
            "replay",
            "--config",
            s.config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stop the agent"), "{err}");
}
