//! SIGKILL loops: the agent killed again and again while files are written and rotated; the
//! exact number of lost lines (must be 0) and of duplicates, by sequence markers.

use std::time::Duration;

use crate::file_source::{append, Agent};
use crate::support;

#[test]
fn six_sigkills_during_writes_and_rename_rotations_lose_no_line() {
    const TOTAL: usize = 60_000;
    let mut agent = Agent::new("audit.log*", "");
    let logs = agent.logs();
    agent.start();
    let writer = {
        let logs = logs.clone();
        std::thread::spawn(move || {
            let log = logs.join("audit.log");
            let mut seq = 0;
            let mut generation = 0;
            while seq < TOTAL {
                let next = (seq + 500).min(TOTAL);
                append(&log, seq..next);
                seq = next;
                if seq % 10_000 == 0 && seq < TOTAL {
                    generation += 1;
                    std::fs::rename(&log, logs.join(format!("audit.log.{generation}"))).unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    for round in 0..6 {
        let before = agent.delivered().len();
        // Each kill comes once more lines were delivered (bounded wait).
        support::eventually(Duration::from_secs(30), || {
            (agent.delivered().len() > before + 2_000 || agent.delivered().len() >= TOTAL)
                .then_some(())
        })
        .unwrap_or_else(|| panic!("round {round}: no progress"));
        // At least one checkpoint saved since the restart (they are saved every second).
        std::thread::sleep(Duration::from_millis(1500));
        agent.kill();
        agent.start();
    }
    writer.join().unwrap();
    let d = agent.wait_for(TOTAL, 60);
    agent.stop();
    let lost: Vec<usize> = (0..TOTAL).filter(|s| !d.contains_key(s)).collect();
    let duplicates: usize = d.values().map(|n| n - 1).sum();
    eprintln!(
        "6 SIGKILLs over {TOTAL} lines: lost {}, duplicates {duplicates}",
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "lost lines, first: {:?}",
        &lost[..lost.len().min(10)]
    );
    // Duplicates come only from the unacknowledged window of each kill (checkpoints are
    // saved every second): bounded well below the total.
    assert!(duplicates < TOTAL / 2, "{duplicates} duplicates");
}
