//! Document ids: every event gets its own deterministic `_id`, so Elasticsearch never answers
//! 409 to an event that was not delivered before (a 409 counts as delivered).

use std::sync::Arc;
use std::time::Duration;

use crate::elasticsearch_sink::FakeEs;
use crate::http_server::Server;
use crate::support::{self, SinkSetup};

#[test]
fn every_event_of_grouped_auditd_records_gets_its_own_id() {
    let mut lines = Vec::new();
    for name in [
        "kernel_compound.log",
        "user_space_and_daemon.log",
        "synthetic_examples.log",
        "nasty.log",
    ] {
        let text = std::fs::read_to_string(format!("tests/fixtures/auditd/{name}")).unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    // What the parser makes of them, read by `auditship parse` (the same parser).
    let s = SinkSetup::new("audit.log", &lines, "auditd", "type = \"console\"\n");
    let out = std::process::Command::new(support::binary())
        .args(["parse", "--format", "auditd"])
        .arg(&s.log)
        .output()
        .unwrap();
    let expected = String::from_utf8(out.stdout).unwrap().lines().count();
    assert!(expected > 20, "{expected}");
    let es = Arc::new(FakeEs::default());
    let inner = es.clone();
    let server = Server::with_responder(Arc::new(move |m, p, b| Some(inner.answer(m, p, b))));
    let s = SinkSetup::new(
        "audit.log",
        &lines,
        "auditd",
        &format!(
            "type = \"elasticsearch\"\nendpoints = ['http://127.0.0.1:{}']\nbatch = {{ timeout = \"100ms\" }}\n",
            server.port
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let (settled, stderr) = s.run_until(Duration::from_secs(30), || s.checkpoint() == size);
    assert!(settled, "{stderr}");
    assert_eq!(
        *es.conflicts.lock().unwrap(),
        0,
        "no two events share an id"
    );
    assert_eq!(es.count(), expected, "every event indexed");
}
