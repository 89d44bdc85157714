//! The file source on real files with the real binary: rotation, truncation, new files,
//! deletion, restarts, SIGKILL, and fairness across many files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use crate::support;

/// Bytes of every test line, newline included, so offsets convert to line counts.
pub(crate) const LINE: usize = 100;

pub(crate) fn line(seq: usize) -> String {
    let head = format!("seq={seq:09} ");
    format!("{head}{}\n", "p".repeat(LINE - head.len() - 1))
}

pub(crate) fn append(path: &Path, seqs: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = seqs.map(line).collect();
    f.write_all(text.as_bytes()).unwrap();
}

/// Truncates `path` in place (same inode), as copytruncate and Dogtag do.
pub(crate) fn truncate(path: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

/// A tailing agent over `include`, delivering to `out`.
pub(crate) struct Agent {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) child: Option<Child>,
}

impl Agent {
    pub(crate) fn new(include_name: &str, extra: &str) -> Self {
        Self::with_format(include_name, "raw", extra, "")
    }

    /// An agent over `include_name` in format `format`; `extra` goes before the source,
    /// `source_extra` into it.
    pub(crate) fn with_format(
        include_name: &str,
        format: &str,
        extra: &str,
        source_extra: &str,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let out = dir.path().join("out.ndjson");
        let config = dir.path().join("pipeline.toml");
        let text = format!(
            "data_dir = '{}'\nshutdown_timeout = \"10s\"\n{extra}\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"{format}\"\nglob_interval = \"1s\"\nclose_after = \"1s\"\n{source_extra}\n[sinks.out]\ntype = \"file\"\ninputs = [\"in\"]\npath = '{}'\n",
            dir.path().join("data").display(),
            logs.join(include_name).display(),
            out.display()
        );
        std::fs::write(&config, text).unwrap();
        Self {
            dir,
            config,
            out,
            child: None,
        }
    }

    pub(crate) fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    pub(crate) fn start(&mut self) {
        self.start_with_env(&[]);
    }

    pub(crate) fn start_with_env(&mut self, env: &[(&str, &str)]) {
        self.child = Some(support::spawn_with_env(
            &["run", "--config", self.config.to_str().unwrap()],
            env,
        ));
    }

    pub(crate) fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        support::signal(&child, "TERM");
        let code = support::wait_exit(&mut child, Duration::from_secs(30));
        assert_eq!(code, 0, "{}", support::stderr_text(&mut child));
    }

    pub(crate) fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        support::signal(&child, "KILL");
        support::wait_exit(&mut child, Duration::from_secs(10));
    }

    /// Delivered sequence numbers with how often each arrived (torn last lines ignored).
    pub(crate) fn delivered(&self) -> BTreeMap<usize, usize> {
        let mut seen = BTreeMap::new();
        for l in support::lines(&self.out) {
            if serde_json::from_str::<serde_json::Value>(&l).is_err() {
                continue;
            }
            let at = l.find("seq=").map(|i| i + 4);
            if let Some(n) = at.and_then(|i| l.get(i..i + 9)) {
                *seen.entry(n.parse().unwrap()).or_insert(0) += 1;
            }
        }
        seen
    }

    pub(crate) fn wait_for(&self, count: usize, secs: u64) -> BTreeMap<usize, usize> {
        support::eventually(Duration::from_secs(secs), || {
            let d = self.delivered();
            (d.len() >= count).then_some(d)
        })
        .unwrap_or_else(|| {
            let d = self.delivered();
            let keys: Vec<usize> = d.keys().copied().collect();
            let gaps: Vec<usize> = keys
                .windows(2)
                .filter(|w| w[1] != w[0] + 1)
                .map(|w| w[0] + 1)
                .take(5)
                .collect();
            panic!(
                "only {} of {count} distinct lines delivered (first: {:?}, last: {:?}, gaps start at {gaps:?})\n{}",
                d.len(),
                keys.first(),
                keys.last(),
                std::fs::read_to_string(self.dir.path().join("data/checkpoints/in.json")).unwrap_or_default()
            )
        })
    }

    pub(crate) fn checkpoint_lines(&self) -> u64 {
        let path = self.dir.path().join("data/checkpoints/in.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default())
                .unwrap_or_default();
        v["files"].as_array().map_or(0, |files| {
            files
                .iter()
                .map(|f| f["offset"].as_u64().unwrap_or(0) / LINE as u64)
                .sum()
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The ranges of sequence numbers delivered more than once, as (first, last) pairs.
fn repeated_ranges(d: &BTreeMap<usize, usize>) -> Vec<(usize, usize)> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (&seq, _) in d.iter().filter(|(_, &n)| n > 1) {
        match ranges.last_mut() {
            Some(last) if last.1 + 1 == seq => last.1 = seq,
            _ => ranges.push((seq, seq)),
        }
    }
    ranges
}

pub(crate) fn exactly_once(d: &BTreeMap<usize, usize>, range: std::ops::Range<usize>) {
    for seq in range {
        assert_eq!(d.get(&seq), Some(&1), "line {seq} must arrive exactly once");
    }
}

#[test]
fn partial_line_is_held_until_newline() {
    let mut agent = Agent::new("a.log", "");
    let log = agent.logs().join("a.log");
    append(&log, 0..3);
    let half = line(3);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&half.as_bytes()[..40])
        .unwrap();
    agent.start();
    agent.wait_for(3, 20);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        agent.delivered().len(),
        3,
        "a half-written line is not shipped"
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&half.as_bytes()[40..])
        .unwrap();
    let d = agent.wait_for(4, 20);
    agent.stop();
    exactly_once(&d, 0..4);
}

#[test]
fn file_created_after_start_is_read() {
    let mut agent = Agent::new("*.log", "");
    agent.start();
    std::thread::sleep(Duration::from_millis(500));
    append(&agent.logs().join("late.log"), 0..50);
    let d = agent.wait_for(50, 20);
    agent.stop();
    exactly_once(&d, 0..50);
}

#[test]
fn rotated_file_is_drained_before_switching() {
    let mut agent = Agent::new("audit.log", "");
    let log = agent.logs().join("audit.log");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    // The writer keeps its descriptor across the rename and writes 50 more lines to it.
    let mut old = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::fs::rename(&log, agent.logs().join("audit.log.1")).unwrap();
    let late: String = (100..150).map(line).collect();
    old.write_all(late.as_bytes()).unwrap();
    drop(old);
    append(&log, 150..250);
    let d = agent.wait_for(250, 20);
    agent.stop();
    exactly_once(&d, 0..250);
}

#[test]
fn copytruncate_is_read_from_start() {
    let mut agent = Agent::new("audit.log", "");
    let log = agent.logs().join("audit.log");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    std::fs::copy(&log, agent.logs().join("audit.log.1")).unwrap();
    truncate(&log);
    std::thread::sleep(Duration::from_millis(600));
    append(&log, 100..130);
    let d = agent.wait_for(130, 20);
    agent.stop();
    exactly_once(&d, 0..130);
}

#[test]
fn dogtag_copy_and_truncate_in_place_resumes_in_the_copy() {
    // Dogtag copies tps_audit to tps_audit.<stamp> and truncates the original; both match the
    // glob. Lines written while the agent was stopped are in the copy only.
    let mut agent = Agent::new("tps_audit*", "");
    let log = agent.logs().join("tps_audit");
    append(&log, 0..40);
    agent.start();
    agent.wait_for(40, 20);
    agent.stop();
    append(&log, 40..60);
    std::fs::copy(&log, agent.logs().join("tps_audit.20250112081502")).unwrap();
    truncate(&log);
    append(&log, 60..75);
    agent.start();
    let d = agent.wait_for(75, 20);
    std::thread::sleep(Duration::from_secs(1));
    agent.stop();
    exactly_once(&agent.delivered(), 0..75);
    assert_eq!(d.len(), 75);
}

#[test]
fn a_copy_made_before_its_original_is_truncated_is_not_read_twice() {
    // copytruncate caught between its two steps: the copy exists, the original is not
    // truncated yet and still holds every line of the copy. Here the copy is made while the
    // agent is stopped (it sees both at its first scan); the truncation comes after it
    // started. Each line must arrive once: from the original or from the copy, not both;
    // also when the copy's name sorts before the original's (logrotate's dateext with
    // `extension .log`).
    for (include, copy) in [
        ("audit.log*", "audit.log.1"),
        ("audit*.log", "audit-20251112.log"),
    ] {
        let mut agent = Agent::new(include, "");
        let log = agent.logs().join("audit.log");
        append(&log, 0..3000);
        agent.start();
        agent.wait_for(3000, 20);
        agent.stop();
        append(&log, 3000..6000);
        std::fs::copy(&log, agent.logs().join(copy)).unwrap();
        agent.start();
        agent.wait_for(6000, 20);
        std::thread::sleep(Duration::from_millis(1500));
        truncate(&log);
        append(&log, 6000..6100);
        agent.wait_for(6100, 20);
        std::thread::sleep(Duration::from_millis(1500));
        agent.stop();
        let d = agent.delivered();
        let repeated = repeated_ranges(&d);
        assert!(
            repeated.is_empty(),
            "copy {copy}: lines read twice: {repeated:?}"
        );
        exactly_once(&d, 0..6100);
    }
}

#[test]
fn a_copy_made_while_its_original_is_still_being_read_is_not_read_twice() {
    // The same rotation while the agent runs and is behind: the copy appears while the
    // original still has most of its lines unread, and the truncation comes a second later.
    let total = 300_000;
    let mut agent = Agent::new("audit.log*", "[buffer]\nmax_bytes = \"1MiB\"\n");
    let log = agent.logs().join("audit.log");
    append(&log, 0..total);
    agent.start();
    support::eventually(Duration::from_secs(60), || {
        (agent.delivered().len() > 10_000).then_some(())
    })
    .expect("reading under way");
    std::fs::copy(&log, agent.logs().join("audit.log.1")).unwrap();
    let behind = agent.delivered().len();
    assert!(
        behind < total / 2,
        "the agent must still be reading when the copy appears ({behind} delivered)"
    );
    std::thread::sleep(Duration::from_secs(1));
    truncate(&log);
    append(&log, total..total + 100);
    agent.wait_for(total + 100, 120);
    std::thread::sleep(Duration::from_millis(1500));
    agent.stop();
    let d = agent.delivered();
    let repeated = repeated_ranges(&d);
    assert!(repeated.is_empty(), "lines read twice: {repeated:?}");
    exactly_once(&d, 0..total + 100);
}

#[test]
fn deleted_file_is_drained_before_release() {
    let mut agent = Agent::new("*.log", "");
    let log = agent.logs().join("gone.log");
    append(&log, 0..10);
    agent.start();
    agent.wait_for(10, 20);
    // Lines appended just before deletion are still read through the open descriptor.
    append(&log, 10..3000);
    std::fs::remove_file(&log).unwrap();
    let d = agent.wait_for(3000, 30);
    agent.stop();
    exactly_once(&d, 0..3000);
}

#[test]
fn restart_resumes_after_last_acknowledged_line() {
    let mut agent = Agent::new("audit.log", "");
    let log = agent.logs().join("audit.log");
    append(&log, 0..500);
    agent.start();
    agent.wait_for(500, 20);
    agent.stop();
    assert_eq!(agent.checkpoint_lines(), 500, "checkpoint at the last line");
    append(&log, 500..700);
    agent.start();
    let d = agent.wait_for(700, 20);
    agent.stop();
    exactly_once(&d, 0..700);
}

#[test]
fn corrupt_checkpoint_is_reported_moved_aside_and_read_from_the_beginning() {
    let mut agent = Agent::new("audit.log", "");
    let log = agent.logs().join("audit.log");
    append(&log, 0..20);
    let cp = agent.dir.path().join("data/checkpoints");
    std::fs::create_dir_all(&cp).unwrap();
    std::fs::write(cp.join("in.json"), b"{\"version\":1,\"files\":[{\"broken").unwrap();
    agent.start();
    agent.wait_for(20, 20);
    let mut child = agent.child.take().unwrap();
    support::signal(&child, "TERM");
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(20)), 0);
    let stderr = support::stderr_text(&mut child);
    assert!(stderr.contains("checkpoint file is unreadable"), "{stderr}");
    let aside: Vec<_> = std::fs::read_dir(&cp)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
        .collect();
    assert_eq!(aside.len(), 1, "the corrupt file is kept for inspection");
}

#[test]
fn unacknowledged_lines_are_resent_after_sigkill() {
    const TOTAL: usize = 200_000;
    let mut agent = Agent::new("audit.log*", "[buffer]\nmax_bytes = \"4MiB\"\n");
    let logs = agent.logs();
    let log = logs.join("audit.log");
    agent.start();
    let writer = {
        let logs = logs.clone();
        std::thread::spawn(move || {
            let log = logs.join("audit.log");
            let mut seq = 0;
            while seq < TOTAL {
                let next = (seq + 2000).min(TOTAL);
                append(&log, seq..next);
                seq = next;
                match seq {
                    50_000 => std::fs::rename(&log, logs.join("audit.log.1")).unwrap(),
                    100_000 => std::fs::rename(&log, logs.join("audit.log.2")).unwrap(),
                    150_000 => {
                        std::fs::copy(&log, logs.join("audit.log.3")).unwrap();
                        truncate(&log);
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    // Kill mid-stream, once a good part has been delivered.
    support::eventually(Duration::from_secs(60), || {
        (support::lines(&agent.out).len() > 70_000).then_some(())
    })
    .expect("delivery under way");
    agent.kill();
    let delivered_at_kill: usize = agent.delivered().values().sum();
    assert!(delivered_at_kill < TOTAL, "the kill must come mid-stream");
    let persisted = agent.checkpoint_lines() as usize;
    let checkpoint_at_kill =
        std::fs::read_to_string(agent.dir.path().join("data/checkpoints/in.json"))
            .unwrap_or_default();
    std::thread::sleep(Duration::from_millis(300));
    agent.start();
    writer.join().unwrap();
    assert!(log.exists());
    let d = agent.wait_for(TOTAL, 120);
    std::thread::sleep(Duration::from_millis(1500));
    agent.stop();
    let d = {
        let now = agent.delivered();
        assert!(now.len() >= d.len());
        now
    };
    for seq in 0..TOTAL {
        assert!(d.contains_key(&seq), "line {seq} was lost");
    }
    let duplicates: usize = d.values().map(|n| n - 1).sum();
    // Only lines delivered before the kill but not yet in the saved checkpoint may repeat.
    assert!(
        duplicates <= delivered_at_kill.saturating_sub(persisted.min(delivered_at_kill)),
        "{duplicates} duplicates, but only {} lines were unacknowledged at the kill (delivered {delivered_at_kill}, checkpointed {persisted}); repeated: {:?}; checkpoint at the kill: {checkpoint_at_kill}; files now: {:?}",
        delivered_at_kill - persisted.min(delivered_at_kill),
        repeated_ranges(&d),
        std::fs::read_dir(&logs)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| (e.file_name(), e.metadata().map_or(0, |m| m.len())))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "sigkill: delivered {delivered_at_kill} before the kill, {persisted} checkpointed, {duplicates} duplicates after restart: {:?}",
        repeated_ranges(&d)
    );
}

#[test]
fn a_thousand_files_share_reading_with_one_hot_file() {
    let mut agent = Agent::new("*.log", "");
    let logs = agent.logs();
    // One hot file of 60,000 lines and 999 small ones of 3 lines each.
    append(&logs.join("0000-hot.log"), 1_000_000..1_060_000);
    for i in 1..1000 {
        append(&logs.join(format!("{i:04}.log")), i * 10..i * 10 + 3);
    }
    agent.start();
    agent.wait_for(60_000 + 999 * 3, 120);
    agent.stop();
    // In delivery order, the last small-file line must come before the hot file is done.
    let order: Vec<usize> = support::lines(&agent.out)
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v["message"]
                .as_str()
                .and_then(|m| m.get(4..13))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    let last_small = order.iter().rposition(|&s| s < 1_000_000).unwrap();
    let last_hot = order.iter().rposition(|&s| s >= 1_000_000).unwrap();
    let hot_before: usize = order[..last_small]
        .iter()
        .filter(|&&s| s >= 1_000_000)
        .count();
    assert!(
        last_small < last_hot && hot_before < 40_000,
        "small files waited for the hot one: {hot_before} hot lines came first"
    );
}

#[test]
fn lines_in_flight_when_a_copytruncate_copy_appears_survive_a_sigkill() {
    use crate::http_server::{Answer, Server};
    // The first destination never answers in time: everything read stays in flight.
    let stuck = Server::start(vec![]);
    stuck.state.lock().unwrap().fallback = Some(Answer {
        delay: Duration::from_secs(60),
        ..Answer::status(200)
    });
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("audit.log");
    let all = support::seq_lines(1010);
    let seqs = |range: std::ops::Range<usize>| all[range].join("\n") + "\n";
    std::fs::write(&log, seqs(0..1000)).unwrap();
    let config = dir.path().join("p.toml");
    let write_config = |uri: &str| {
        std::fs::write(
            &config,
            format!(
                "data_dir = '{}'\nshutdown_timeout = \"2s\"\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"raw\"\nglob_interval = \"200ms\"\n[sinks.out]\ninputs = [\"in\"]\ntype = \"http\"\nuri = \"{uri}\"\nbatch = {{ timeout = \"100ms\" }}\nrequest_timeout = \"120s\"\n",
                dir.path().join("data").display(),
                logs.join("audit.log*").display()
            ),
        )
        .unwrap();
    };
    write_config(&stuck.uri());
    let mut agent = support::Running(support::spawn(&[
        "run",
        "--config",
        config.to_str().unwrap(),
    ]));
    support::eventually(Duration::from_secs(20), || {
        (!stuck.received().is_empty()).then_some(())
    })
    .expect("the lines are read and in flight");
    // copytruncate: copy the content away, empty the file in place, write on.
    std::fs::copy(&log, logs.join("audit.log.1")).unwrap();
    truncate(&log);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(seqs(1000..1010).as_bytes())
        .unwrap();
    support::eventually(Duration::from_secs(20), || {
        support::stderr_text(&mut agent.0)
            .contains("file is a copy of one")
            .then_some(())
    })
    .expect("the copy is recognised");
    // Let a checkpoint be saved with the copy in it, then crash.
    std::thread::sleep(Duration::from_millis(1500));
    support::signal(&agent.0, "KILL");
    support::wait_exit(&mut agent.0, Duration::from_secs(10));

    let healthy = Server::start(vec![]);
    write_config(&healthy.uri());
    let mut agent = support::Running(support::spawn(&[
        "run",
        "--config",
        config.to_str().unwrap(),
    ]));
    let all = support::eventually(Duration::from_secs(30), || {
        let got: std::collections::BTreeSet<usize> = healthy.delivered().into_iter().collect();
        (got.len() == 1010).then_some(got)
    });
    support::signal(&agent.0, "TERM");
    support::wait_exit(&mut agent.0, Duration::from_secs(30));
    let got: std::collections::BTreeSet<usize> = healthy.delivered().into_iter().collect();
    let missing: Vec<usize> = (0..1010).filter(|s| !got.contains(s)).take(10).collect();
    assert!(
        all.is_some(),
        "lines read before the crash were lost (first missing: {missing:?})\n{}",
        support::stderr_text(&mut agent.0)
    );
}

/// A Keycloak event in the JSON layout, carrying a sequence marker in its username.
fn keycloak_json_line(seq: usize) -> String {
    format!(
        "{{\"timestamp\":\"2025-06-03T11:14:22.481+02:00\",\"loggerName\":\"org.keycloak.events\",\"level\":\"INFO\",\"message\":\"type=\\\"LOGIN\\\", realmId=\\\"r1\\\", realmName=\\\"corp\\\", clientId=\\\"app\\\", userId=\\\"u1\\\", ipAddress=\\\"198.51.100.14\\\", username=\\\"seq={seq:09}\\\"\",\"threadName\":\"executor-thread-1\"}}\n"
    )
}

/// Five records, then a sixth, each delivered within 20 s though `multiline_timeout` is
/// 60 s; returns the agent's output lines.
fn shipped_without_waiting(
    name: &str,
    format: &str,
    record: impl Fn(usize) -> String,
) -> Vec<String> {
    let mut agent = Agent::with_format(name, format, "", "multiline_timeout = \"60s\"\n");
    let log = agent.logs().join(name);
    let text: String = (0..5).map(&record).collect();
    crate::support::append_text(&log, &text);
    agent.start();
    let d = agent.wait_for(5, 20);
    crate::support::append_text(&log, &record(5));
    let d2 = agent.wait_for(6, 20);
    agent.stop();
    exactly_once(&d, 0..5);
    exactly_once(&d2, 0..6);
    crate::support::lines(&agent.out)
}

#[test]
fn the_last_keycloak_json_line_is_shipped_without_waiting_for_continuation_lines() {
    // A JSON layout escapes newlines inside its values, so nothing continues a line that is a
    // whole JSON object: it is not held for continuation lines the way a text-layout record
    // is.
    let out = shipped_without_waiting("kc.log", "keycloak", keycloak_json_line);
    let parsed = out
        .iter()
        .filter(|l| l.contains("\"action\":\"LOGIN\""))
        .count();
    assert_eq!(parsed, 6, "every line read as a Keycloak event");
}

/// A Dogtag signed-audit record carrying a sequence marker, its `Info` given.
fn dogtag_record(seq: usize, info: &str) -> String {
    format!(
        "0.http-bio-8080-exec-1 - [12/Jan/2025:08:20:00 CET] [14] [6] [AuditEvent=AUTH][SubjectID=u{seq}][Info=seq={seq:09} {info}][Outcome=Success] authentication success\n"
    )
}

#[test]
fn the_last_dogtag_record_is_shipped_once_the_reader_has_caught_up() {
    // It ends in its text, so once the file has nothing more to read it is not held in case
    // a continuation line follows.
    let out = shipped_without_waiting("ca_audit", "dogtag", |i| dogtag_record(i, "x"));
    assert_eq!(out.len(), 6);
}

#[test]
fn a_dogtag_value_broken_by_a_newline_still_waits_for_its_continuation() {
    // The first physical line ends inside a value: the record is held (up to
    // `multiline_timeout`) even though the reader has caught up, and the continuation written
    // a second later joins it.
    let mut agent = Agent::with_format("ca_audit", "dogtag", "", "multiline_timeout = \"60s\"\n");
    let log = agent.logs().join("ca_audit");
    let record = dogtag_record(0, "first part\nsecond part");
    let (first, second) = record.split_at(record.find('\n').unwrap() + 1);
    crate::support::append_text(&log, first);
    agent.start();
    std::thread::sleep(Duration::from_millis(1500));
    crate::support::append_text(&log, &format!("{second}{}", dogtag_record(1, "z")));
    agent.wait_for(2, 20);
    agent.stop();
    let events: Vec<serde_json::Value> = crate::support::lines(&agent.out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0]["event"]["original"].as_str().unwrap(),
        record.trim_end()
    );
    assert!(events[0]["tags"].is_null(), "{}", events[0]);
}
