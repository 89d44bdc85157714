//! Secrets never reach the agent's own logs or the dead-letter files, and the parsers mask
//! them in events by default.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::file_source::Agent;
use crate::http_server::{Answer, Server};
use crate::support::{self, SinkSetup};

#[test]
fn a_password_in_the_sink_address_from_the_environment_is_never_written_anywhere() {
    const PASSWORD: &str = "Top$ecret-4711";
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = Server::with_responder(Arc::new(move |_, _, body: &str| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            return Some(Answer::status(503));
        }
        body.contains("bad").then(|| {
            let mut a = Answer::status(400);
            a.body = r#"{"error":"refused"}"#.into();
            a
        })
    }));
    let lines: Vec<String> = (0..20)
        .map(|i| {
            if i % 5 == 0 {
                format!("seq {i} bad")
            } else {
                format!("seq {i}")
            }
        })
        .collect();
    let s = SinkSetup::new(
        "audit.log",
        &lines,
        "raw",
        &format!(
            "type = \"http\"\nuri = 'http://shipper:${{SHIP_PASSWORD}}@127.0.0.1:{}/ingest'\nbatch = {{ timeout = \"100ms\" }}\n",
            server.port
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let mut child = support::spawn_with_env(
        &["run", "--config", s.config.to_str().unwrap()],
        &[("SHIP_PASSWORD", PASSWORD), ("AUDITSHIP_LOG", "debug")],
    );
    let settled = support::eventually(Duration::from_secs(30), || {
        (s.checkpoint() == size).then_some(())
    });
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(30));
    let stderr = support::stderr_text(&mut child);
    assert!(settled.is_some(), "{stderr}");
    assert!(
        stderr.contains("answered 503"),
        "the retry was logged: {stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    let dead = std::fs::read_to_string(s.data.join("dead_letter/events.ndjson")).unwrap();
    assert_eq!(dead.lines().count(), 4, "{dead}");
    assert!(
        dead.contains("<redacted>") && !dead.contains(PASSWORD),
        "{dead}"
    );
    // The credentials were used.
    let auth = server.received()[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    assert!(auth.is_some_and(|v| v.starts_with("Basic ")));
}

#[test]
fn planted_secrets_are_masked_in_every_field_of_the_shipped_events() {
    let mut agent = Agent::with_format("tps_audit", "dogtag", "", "");
    std::fs::write(
        agent.logs().join("tps_audit"),
        "0.main - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=TOKEN_PIN_RESET][SubjectID=asmith][Outcome=Success][ParamNameValPairs=so_pin;;Zq]77+x+userPin;;918273+Info;;seq=000000000] pin reset\n",
    )
    .unwrap();
    agent.start();
    agent.wait_for(1, 20);
    agent.stop();
    let out = std::fs::read_to_string(&agent.out).unwrap();
    for secret in ["Zq]77", "77+x", "918273"] {
        assert!(!out.contains(secret), "{secret} shipped: {out}");
    }
    assert!(out.contains("audit_redacted"), "{out}");
}
