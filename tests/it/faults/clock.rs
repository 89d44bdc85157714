//! The wall clock stepped under the agent (NTP, an operator): timeouts must not stretch.
//! libfaketime (Debian's `faketime`, installed by `.ci/install-test-deps`) steps the agent's
//! wall clock while its monotonic clock runs on.

use std::path::Path;
use std::time::Duration;

use crate::file_source::Agent;
use crate::support;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

#[test]
fn an_incomplete_auditd_event_is_released_on_time_after_the_clock_steps_back_an_hour() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "libfaketime is missing: run `bash .ci/install-test-deps` (Debian package faketime)"
    );
    let mut agent = Agent::with_format("audit.log", "auditd", "", "");
    let log = agent.logs().join("audit.log");
    let stamp = agent.dir.path().join("faketime");
    std::fs::write(&stamp, "+0\n").unwrap();
    agent.start_with_env(&[
        ("LD_PRELOAD", LIBFAKETIME),
        ("FAKETIME_TIMESTAMP_FILE", stamp.to_str().unwrap()),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    support::signal(agent.child.as_ref().unwrap(), "0");
    // A kernel event without its EOE record: complete only after a quiet period.
    std::fs::write(
        &log,
        "type=SYSCALL msg=audit(1750004000.000:7001): arch=c000003e syscall=59 success=yes exit=0 items=1 pid=3001 auid=1004 uid=1004 comm=\"curl\" exe=\"/usr/bin/curl\" key=\"seq=000000001\"\n\
         type=PATH msg=audit(1750004000.000:7001): item=0 name=\"/usr/bin/curl\" inode=1 nametype=NORMAL\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    std::fs::write(&stamp, "-1h\n").unwrap();
    let delivered = support::eventually(Duration::from_secs(15), || {
        (!agent.delivered().is_empty()).then_some(())
    });
    let err = support::stderr_text(agent.child.as_mut().unwrap());
    assert!(
        delivered.is_some(),
        "the held event was not released within 15 s of a one-hour clock step\n{err}"
    );
    agent.stop();
}
