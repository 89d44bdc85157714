//! Parses one format's sample line many times (for profilers: valgrind --tool=callgrind).
//! Usage: `cargo run --release --example profile_parse -- dogtag 200000`

use std::io::Write;

// The agent's allocator, so that the figures are the agent's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let format = args.next().unwrap_or_else(|| "dogtag".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let (fmt, line) = match format.as_str() {
        "keycloak" => (auditship::parse::Format::Keycloak, r#"2025-06-03 09:14:22,481 DEBUG [org.keycloak.events] (executor-thread-12) type="LOGIN", realmId="7b0c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4", realmName="corp", clientId="hr-portal", userId="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", sessionId="f0e1d2c3-b4a5-4968-8776-655443322110", ipAddress="198.51.100.14", auth_method="openid-connect", auth_type="code", redirect_uri="https://hr.corp.test/callback", code_id="f0e1d2c3-b4a5-4968-8776-655443322110", username="k.tanaka""#),
        "keycloak_json" => (auditship::parse::Format::Keycloak, r#"{"id":"5c6d7e8f-0000-4111-8222-933344455566","time":1748942062007,"type":"LOGIN_ERROR","realmId":"7b0c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4","clientId":"hr-portal","userId":null,"sessionId":null,"ipAddress":"203.0.113.90","error":"user_not_found","details":{"auth_method":"openid-connect","username":"admin"}}"#),
        "sap" => (auditship::parse::Format::Sap, r#"{"message_uuid":"9f1e2d3c-4b5a-4697-8877-a1b2c3d4e5f6","time":"2025-01-20T06:41:09.512Z","tenant":"c0ffee00-1111-4222-8333-444455556666","org_id":"0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e","space_id":"5f5f5f5f-6a6a-4b7b-8c8c-9d9d9d9d9d9d","app_or_service_id":"oauth-svc-01","als_service_id":"als-7","user":"ci-runner","category":"audit.security-events","format_version":"","message":{"uuid":"11112222-3333-4444-8555-666677778888","user":"ci-runner","time":"2025-01-20T06:41:09.512Z","ip":"10.1.1.9","data":"{\"action\":\"create\",\"key\":\"Creating access token: X7pQa\",\"tenantId\":\"c0ffee00-1111-4222-8333-444455556666\"}","id":"aaaabbbb-cccc-4ddd-8eee-ffff00001111","category":"audit.security-events","tenant":"c0ffee00-1111-4222-8333-444455556666"}}"#),
        "totp" => (auditship::parse::Format::Totp, r#"{"id":8812,"username":"m.kaya","action":"login_failed","resource":"auth","details":"Failed login attempt for user: m.kaya","ip_address":"203.0.113.77, 10.8.0.4","user_agent":"Mozilla/5.0","timestamp":1750000123}"#),
        _ => (auditship::parse::Format::Dogtag, "0.http-bio-8080-exec-6 - [12/Jan/2025:08:20:30 CET] [14] [6] [AuditEvent=TOKEN_PIN_RESET][IP=10.30.1.9][SubjectID=asmith][CUID=40906145C7622419AA01][Outcome=Failure][tokenType=userKey][AppletVersion=1.4.58768072][Info=pin reset not allowed] token op pin reset failure"),
    };
    let options = auditship::parse::ParseOptions {
        timezone: Some("Europe/Berlin".into()),
        zones: vec![],
    };
    let parser = auditship::parse::for_format(fmt, &options);
    let origin = auditship::event::Origin {
        path: Some("/var/log/x".into()),
        ..Default::default()
    };
    let mut buf = Vec::with_capacity(1 << 20);
    let start = std::time::Instant::now();
    for _ in 0..count {
        let e = parser.parse(line.to_owned(), origin.clone(), 0);
        buf.clear();
        e.write_json(&mut buf);
    }
    let secs = start.elapsed().as_secs_f64();
    let per_sec = |secs: f64| u32::try_from(count).map_or(f64::MAX, f64::from) / secs;
    if std::env::var_os("PROFILE_SPLIT").is_some_and(|v| v == "0") {
        let _ = writeln!(std::io::stderr(), "{format}: {:.0} lines/s", per_sec(secs));
        return;
    }
    // The two halves apart: parsing into events, then writing them (`PROFILE_SPLIT=0` skips
    // this, for profilers: holding the events makes allocation look dearer than it is).
    let start = std::time::Instant::now();
    let events: Vec<_> = (0..count.min(100_000))
        .map(|_| parser.parse(line.to_owned(), origin.clone(), 0))
        .collect();
    let parse_secs = start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    for e in &events {
        buf.clear();
        e.write_json(&mut buf);
    }
    let write_secs = start.elapsed().as_secs_f64();
    let share = parse_secs / (parse_secs + write_secs) * 100.0;
    let _ = writeln!(
        std::io::stderr(),
        "{format}: {:.0} lines/s (parse {share:.0} % of the time, ECS writing the rest)",
        per_sec(secs)
    );
}
