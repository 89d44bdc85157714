//! Acknowledgements, fan-out and the memory budget, with real files and the real binary.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use auditship::ack::Settlement;
use auditship::budget::Budget;
use auditship::chunk::EventChunk;
use auditship::config::{load_str, Kind};
use auditship::fanout::Fanout;
use auditship::source::{self, SourceContext};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support;

fn write_lines(path: &std::path::Path, from: usize, count: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut buf = String::new();
    for i in from..from + count {
        let _ = writeln!(
            buf,
            "{{\"seq\":{i},\"message\":\"line {i} padding padding padding\"}}"
        );
    }
    f.write_all(buf.as_bytes()).unwrap();
}

fn checkpoint_offset(data_dir: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(data_dir.join("checkpoints/in.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["files"]
        .as_array()?
        .iter()
        .map(|f| f["offset"].as_u64().unwrap_or(0))
        .max()
}

#[test]
fn fan_out_delivers_every_event_to_every_sink_and_checkpoints_after_both() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit.log");
    write_lines(&input, 0, 1000);
    let (a, b) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        support::file_to_files(&dir.path().join("data"), &input, "json", &[&a, &b]),
    )
    .unwrap();
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let size = std::fs::metadata(&input).unwrap().len();
    let both = support::eventually(Duration::from_secs(20), || {
        (support::lines(&a).len() == 1000 && support::lines(&b).len() == 1000).then_some(())
    });
    let checkpointed = support::eventually(Duration::from_secs(10), || {
        (checkpoint_offset(&dir.path().join("data")) == Some(size)).then_some(())
    });
    support::signal(&child, "TERM");
    let code = support::wait_exit(&mut child, Duration::from_secs(20));
    assert!(
        both.is_some(),
        "both sinks must receive all 1000 events: a={} b={}",
        support::lines(&a).len(),
        support::lines(&b).len()
    );
    assert!(
        checkpointed.is_some(),
        "checkpoint must reach {size}, is {:?}",
        checkpoint_offset(&dir.path().join("data"))
    );
    assert_eq!(code, 0);
    for (i, line) in support::lines(&a).iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"], i, "file order is kept");
        assert!(v["log"]["offset"].is_u64());
    }
}

fn file_source_plan(
    data_dir: &std::path::Path,
    include: &std::path::Path,
) -> auditship::config::Plan {
    let text = format!(
        "data_dir = '{}'\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"raw\"\n[sinks.out]\ntype = \"console\"\ninputs = [\"in\"]\n",
        data_dir.display(),
        include.display()
    );
    load_str(std::path::Path::new("test.toml"), &text).unwrap()
}

fn start_source(
    plan: &auditship::config::Plan,
    budget: Budget,
    shutdown: &CancellationToken,
) -> (source::SourceHandle, mpsc::Receiver<EventChunk>) {
    let (tx, rx) = mpsc::channel(2);
    let Kind::Source(config) = &plan.components[0].kind else {
        panic!("first component is the source")
    };
    let ctx = SourceContext {
        data_dir: plan.data_dir.clone(),
        budget,
        shutdown: shutdown.clone(),
    };
    let handle = source::spawn("in", config, &ctx, Fanout::new(vec![tx])).unwrap();
    (handle, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_stops_when_the_memory_budget_is_spent_and_resumes_when_it_frees() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.log");
    {
        let line = format!("{}\n", "x".repeat(299));
        let mut f = std::fs::File::create(&input).unwrap();
        for _ in 0..100 {
            f.write_all(line.repeat(1000).as_bytes()).unwrap();
        }
    }
    let size = std::fs::metadata(&input).unwrap().len();
    let plan = file_source_plan(&dir.path().join("data"), &input);
    let shutdown = CancellationToken::new();
    let budget = Budget::new(1024 * 1024);
    let (handle, mut rx) = start_source(&plan, budget.clone(), &shutdown);
    // Nothing is consumed: reading must stop long before the file's 30 MB.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stalled = handle.stats.bytes.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = handle.stats.bytes.load(Ordering::Relaxed);
    assert!(stalled > 0, "the reader started");
    assert!(
        stalled < 2 * 1024 * 1024,
        "read {stalled} of {size} bytes with a 1 MiB budget"
    );
    assert_eq!(
        stalled, still,
        "reading stays stopped while the budget is spent"
    );
    assert!(budget.available() < budget.total() / 2);
    // Consume and settle: the budget frees and reading continues to the end.
    let mut events = 0usize;
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        while events < 100_000 {
            let chunk = rx.recv().await.expect("chunks keep coming");
            events += chunk.events.len();
            chunk.acks.settle(Settlement::Delivered);
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "only {events} events arrived after the budget freed"
    );
    assert_eq!(handle.stats.bytes.load(Ordering::Relaxed), size);
    shutdown.cancel();
    drop(rx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsettled_events_never_move_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.log");
    write_lines(&input, 0, 10);
    let plan = file_source_plan(&dir.path().join("data"), &input);
    let shutdown = CancellationToken::new();
    let (handle, mut rx) = start_source(&plan, Budget::new(64 << 20), &shutdown);
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.events.len(), 10);
    let forked = first.fork();
    drop(first); // dropped without settling: "not delivered"
    forked.acks.settle(Settlement::Delivered);
    handle.book.save().unwrap();
    let saved = handle.book.entries();
    assert_eq!(
        saved[0].offset, 0,
        "a dropped copy keeps the checkpoint at 0"
    );
    // New lines, settled by their only consumer: still stuck behind the failed chunk.
    write_lines(&input, 10, 5);
    let second = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    second.acks.settle(Settlement::Delivered);
    handle.book.save().unwrap();
    assert_eq!(
        handle.book.entries()[0].offset,
        0,
        "the checkpoint never skips a failed chunk"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_and_filtered_events_move_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.log");
    write_lines(&input, 0, 10);
    let size = std::fs::metadata(&input).unwrap().len();
    let plan = file_source_plan(&dir.path().join("data"), &input);
    let shutdown = CancellationToken::new();
    let (handle, mut rx) = start_source(&plan, Budget::new(64 << 20), &shutdown);
    let chunk = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let mut copy = chunk.fork();
    chunk.acks.settle(Settlement::DeadLettered);
    copy.events.clear();
    copy.settle_filtered();
    handle.book.save().unwrap();
    assert_eq!(handle.book.entries()[0].offset, size);
    shutdown.cancel();
}
