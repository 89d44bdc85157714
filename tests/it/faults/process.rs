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
fn sighup_with_an_unchanged_file_changes_nothing_and_loses_nothing() {
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
    let err = support::stderr_text(child);
    assert!(
        err.contains("configuration reloaded") && err.contains("added=[] removed=[] changed=[]"),
        "{err}"
    );
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

#[test]
fn trace_logs_written_into_a_watched_directory_do_not_feed_themselves() {
    // stderr goes to a file in the directory the source watches (not matched by its glob):
    // each line written there is a file-system event. Libraries logging every event at TRACE
    // made the agent log about its own log without end (56 MB/s).
    let agent = Agent::new("*.log", "");
    let err_path = agent.logs().join("agent.stderr");
    let err = std::fs::File::create(&err_path).unwrap();
    let child = std::process::Command::new(support::binary())
        .args(["run", "--config", agent.config.to_str().unwrap()])
        .env("AUDITSHIP_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let running = support::Running(child);
    append(&agent.logs().join("a.log"), 0..100);
    std::thread::sleep(Duration::from_secs(3));
    let size = std::fs::metadata(&err_path).unwrap().len();
    drop(running);
    assert!(size < 256 * 1024, "stderr grew to {size} bytes in 3 s");
    assert!(size > 0, "the agent's own trace logs are written");
}

#[test]
fn a_glob_that_matches_nothing_is_warned_about_once_and_read_when_files_appear() {
    let mut agent = Agent::new("*.log", "");
    agent.start();
    support::signal(agent.child.as_ref().unwrap(), "0");
    // Several rescans (glob_interval = 1s) without a match.
    std::thread::sleep(Duration::from_millis(2500));
    let before = support::stderr_text(agent.child.as_mut().unwrap());
    assert_eq!(before.matches("matches no file").count(), 1, "{before}");
    append(&agent.logs().join("late.log"), 0..10);
    agent.wait_for(10, 20);
    agent.stop();
}

#[test]
fn an_unreadable_file_is_warned_about_once_with_the_reason_and_its_neighbours_are_read() {
    // Permission bits do not stop root: the agent runs as `nobody` (setpriv, util-linux).
    let mut agent = Agent::new("*.log", "");
    let root = agent.dir.path().to_path_buf();
    append(&agent.logs().join("ok.log"), 0..20);
    let locked = agent.logs().join("locked.log");
    append(&locked, 100..120);
    let chmod = |path: &std::path::Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(&locked, 0o000);
    for dir in [root.clone(), agent.logs()] {
        chmod(&dir, 0o777);
    }
    for file in [agent.logs().join("ok.log"), agent.config.clone()] {
        chmod(&file, 0o644);
    }
    let as_nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    if !std::process::Command::new("setpriv")
        .args(&as_nobody[1..])
        .arg("true")
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: cannot run a process as nobody here (needs root and setpriv)");
        return;
    }
    agent.child = Some(support::spawn_as(
        &as_nobody,
        &["run", "--config", agent.config.to_str().unwrap()],
        &[],
    ));
    agent.wait_for(20, 20);
    std::thread::sleep(Duration::from_millis(2500));
    let err = support::stderr_text(agent.child.as_mut().unwrap());
    let warned = err
        .lines()
        .filter(|l| l.contains("cannot open a file") && l.contains("locked.log"))
        .count();
    assert_eq!(warned, 1, "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    // Readable again: its lines are read.
    chmod(&locked, 0o644);
    agent.wait_for(40, 20);
    agent.stop();
    exactly_once(&agent.delivered(), 0..20);
    exactly_once(&agent.delivered(), 100..120);
}

#[test]
fn parse_refuses_an_unknown_time_zone() {
    let out = std::process::Command::new(support::binary())
        .args([
            "parse",
            "--format",
            "keycloak",
            "--timezone",
            "Europe/Atlantis",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Europe/Atlantis") && err.contains("unknown time zone"),
        "{err}"
    );
}

#[test]
fn many_more_files_than_descriptors_are_all_read_and_the_sink_keeps_its_own() {
    // 1,500 files under a hard limit of 128 descriptors (prlimit, so the agent cannot raise
    // it): once nothing was delivered, silently, because the file sink could not open its
    // output. With max_open_files = 100 every line arrives, and lines appended later to
    // files that were closed meanwhile arrive too.
    let mut agent = Agent::new("*.log", "");
    let config = std::fs::read_to_string(&agent.config).unwrap();
    std::fs::write(
        &agent.config,
        config.replace(
            "close_after = \"1s\"\n",
            "close_after = \"1s\"\nmax_open_files = 100\n",
        ),
    )
    .unwrap();
    for f in 0..1500 {
        append(
            &agent.logs().join(format!("f{f:04}.log")),
            f * 20..f * 20 + 20,
        );
    }
    agent.child = Some(support::spawn_as(
        &["prlimit", "--nofile=128:128"],
        &["run", "--config", agent.config.to_str().unwrap()],
        &[],
    ));
    agent.wait_for(30_000, 90);
    for f in (0..1500).step_by(7) {
        append(
            &agent.logs().join(format!("f{f:04}.log")),
            30_000 + f..30_000 + f + 1,
        );
    }
    let d = agent.wait_for(30_000 + 215, 60);
    let err = support::stderr_text(agent.child.as_mut().unwrap());
    agent.stop();
    assert!(!err.contains("Too many open files"), "{err}");
    exactly_once(&d, 0..30_000);
    for f in (0..1500).step_by(7) {
        assert_eq!(d.get(&(30_000 + f)), Some(&1), "late line of file {f}");
    }
}

#[test]
fn files_holding_events_are_never_world_readable_even_under_umask_000() {
    use crate::http_server::{Answer, Server};
    use std::os::unix::fs::PermissionsExt as _;
    // The destination refuses every event on its own: each goes to the dead-letter file.
    let server = Server::start(vec![]);
    server.state.lock().unwrap().fallback = Some(Answer::status(400));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(&log, "seq 1\nseq 2\n").unwrap();
    let out = dir.path().join("out/events.ndjson");
    let data = dir.path().join("data");
    let config = dir.path().join("p.toml");
    let text = support::file_to_files(&data, &log, "raw", &[&out]) + &format!(
        "\n[sinks.refused]\ntype = \"http\"\ninputs = [\"in\"]\nuri = 'http://127.0.0.1:{}/'\nbatch = {{ timeout = \"50ms\" }}\n",
        server.port
    );
    std::fs::write(&config, text).unwrap();
    let mut child = support::spawn_as(
        &["sh", "-c", "umask 000; exec \"$0\" \"$@\""],
        &["run", "--config", config.to_str().unwrap()],
        &[],
    );
    let dead = data.join("dead_letter/events.ndjson");
    let checkpoint = data.join("checkpoints/in.json");
    let written = support::eventually(Duration::from_secs(20), || {
        (support::lines(&out).len() == 2 && support::lines(&dead).len() == 2 && checkpoint.exists())
            .then_some(())
    });
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(20));
    assert!(written.is_some(), "{}", support::stderr_text(&mut child));
    for (path, most) in [(&out, 0o640), (&dead, 0o600), (&checkpoint, 0o600)] {
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & !most,
            0,
            "{} is {mode:o}, at most {most:o}",
            path.display()
        );
    }
}
