//! The agent as a process: two agents on one `data_dir`, SIGHUP, a read-only `data_dir`.

use std::time::Duration;

use crate::file_source::{append, exactly_once, Agent};
use crate::support;

#[test]
fn a_second_agent_on_the_same_data_dir_is_refused_and_the_first_keeps_shipping() {
    let mut agent = Agent::new("a.log", "");
    let log = agent.logs().join("a.log");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    let mut second = support::spawn(&["run", "--config", agent.config.to_str().unwrap()]);
    let code = support::wait_exit(&mut second, Duration::from_secs(20));
    let err = support::stderr_text(&mut second);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in use by another auditship"), "{err}");
    append(&log, 100..200);
    agent.wait_for(200, 20);
    agent.stop();
    exactly_once(&agent.delivered(), 0..200);
}

#[test]
fn sighup_is_ignored_with_a_log_line_and_nothing_is_lost() {
    let mut agent = Agent::new("a.log", "");
    let log = agent.logs().join("a.log");
    append(&log, 0..100);
    agent.start();
    agent.wait_for(100, 20);
    support::signal(agent.child.as_ref().unwrap(), "HUP");
    append(&log, 100..200);
    agent.wait_for(200, 20);
    let child = agent.child.as_mut().unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop the agent"
    );
    assert!(support::stderr_text(child).contains("SIGHUP"));
    agent.stop();
    exactly_once(&agent.delivered(), 0..200);
}

#[test]
fn a_read_only_data_dir_is_refused_at_start() {
    // Root writes through permission bits, so the directory is made read-only by a read-only
    // bind mount; without the rights to mount, the test says so and checks nothing else.
    let agent = Agent::new("a.log", "");
    let data = agent.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["--bind", "-o", "ro"])
        .arg(&data)
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot make a read-only bind mount here (needs root)");
        return;
    }
    // A remount makes the bind read-only on kernels that ignore `ro` on the first bind.
    let _ = std::process::Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&data)
        .status();
    let mut child = support::spawn(&["run", "--config", agent.config.to_str().unwrap()]);
    let code = support::wait_exit(&mut child, Duration::from_secs(20));
    let err = support::stderr_text(&mut child);
    let _ = std::process::Command::new("umount").arg(&data).status();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not writable"), "{err}");
}
