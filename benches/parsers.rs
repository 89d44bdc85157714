//! Parser throughput, one core, including ECS serialisation: lines of each format are parsed
//! and written as ECS JSON into a reused buffer, emptied after every 1,000 events as a sink's
//! batch body is (1,000 events is the network sinks' default batch). The baseline, measured in
//! the same run, is the `raw` parser (copy the line into an event and serialise it): the floor
//! every format pays.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use auditship::event::Origin;
use auditship::parse::{self, Format, ParseOptions};

// The agent's allocator, so that the figures are the agent's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const LINES: usize = 10_000;

/// Events per batch body: the network sinks' default `batch.max_events`.
const BATCH: usize = 1_000;

fn sample(name: &str) -> Vec<String> {
    let line = match name {
        "dogtag" | "baseline_raw" => "0.http-bio-8080-exec-6 - [12/Jan/2025:08:20:30 CET] [14] [6] [AuditEvent=TOKEN_PIN_RESET][IP=10.30.1.9][SubjectID=asmith][CUID=40906145C7622419AA01][Outcome=Failure][tokenType=userKey][AppletVersion=1.4.58768072][Info=pin reset not allowed] token op pin reset failure",
        "keycloak_text" => r#"2025-06-03 09:14:22,481 DEBUG [org.keycloak.events] (executor-thread-12) type="LOGIN", realmId="7b0c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4", realmName="corp", clientId="hr-portal", userId="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", sessionId="f0e1d2c3-b4a5-4968-8776-655443322110", ipAddress="198.51.100.14", auth_method="openid-connect", auth_type="code", redirect_uri="https://hr.corp.test/callback", code_id="f0e1d2c3-b4a5-4968-8776-655443322110", username="k.tanaka""#,
        "totp_json" | "json_generic" => r#"{"id":8812,"username":"m.kaya","action":"login_failed","resource":"auth","details":"Failed login attempt for user: m.kaya","ip_address":"203.0.113.77, 10.8.0.4","user_agent":"Mozilla/5.0","timestamp":1750000123}"#,
        "sap_json" => r#"{"message_uuid":"9f1e2d3c-4b5a-4697-8877-a1b2c3d4e5f6","time":"2025-01-20T06:41:09.512Z","tenant":"c0ffee00-1111-4222-8333-444455556666","org_id":"0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e","space_id":"5f5f5f5f-6a6a-4b7b-8c8c-9d9d9d9d9d9d","app_or_service_id":"oauth-svc-01","als_service_id":"als-7","user":"ci-runner","category":"audit.security-events","format_version":"","message":{"uuid":"11112222-3333-4444-8555-666677778888","user":"ci-runner","time":"2025-01-20T06:41:09.512Z","ip":"10.1.1.9","data":"{\"action\":\"create\",\"key\":\"Creating access token: X7pQa\",\"tenantId\":\"c0ffee00-1111-4222-8333-444455556666\"}","id":"aaaabbbb-cccc-4ddd-8eee-ffff00001111","category":"audit.security-events","tenant":"c0ffee00-1111-4222-8333-444455556666"}}"#,
        "keycloak_json" => r#"{"id":"5c6d7e8f-0000-4111-8222-933344455566","time":1748942062007,"type":"LOGIN_ERROR","realmId":"7b0c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4","clientId":"hr-portal","userId":null,"sessionId":null,"ipAddress":"203.0.113.90","error":"user_not_found","details":{"auth_method":"openid-connect","username":"admin"}}"#,
        _ => r#"type=USER_AUTH msg=audit(1750001000.101:8800): pid=3120 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=PAM:authentication grantors=? acct="oracle" exe="/usr/sbin/sshd" hostname=198.51.100.61 addr=198.51.100.61 terminal=ssh res=failed'"#,
    };
    // Every auditd record its own serial, as in a real log (records of one serial are one
    // event).
    (0..LINES)
        .map(|i| line.replace(":8800)", &format!(":{})", 8800 + i)))
        .collect()
}

fn bench(c: &mut Criterion) {
    let options = ParseOptions {
        timezone: Some("Europe/Berlin".into()),
        zones: vec![],
    };
    let origin = Origin {
        source: Arc::from("bench"),
        path: Some(Arc::from("/var/log/audit.log")),
        ..Origin::default()
    };
    let mut group = c.benchmark_group("parse_and_serialise");
    group.throughput(Throughput::Elements(LINES as u64));
    group.sample_size(20);
    for (name, format) in [
        ("baseline_raw", Format::Raw),
        ("dogtag", Format::Dogtag),
        ("keycloak_text", Format::Keycloak),
        ("keycloak_json", Format::Keycloak),
        ("totp_json", Format::Totp),
        ("sap_json", Format::Sap),
        ("json_generic", Format::Json),
        ("auditd", Format::Auditd),
    ] {
        let parser = parse::for_format(format, &options);
        let lines = sample(name);
        let mut buf = Vec::with_capacity(1 << 20);
        group.bench_function(name, |b| {
            b.iter_batched(
                || lines.clone(),
                |lines| {
                    buf.clear();
                    let mut seq = parser.sequencer();
                    let mut out = Vec::new();
                    let (mut written, mut bytes) = (0, 0);
                    for line in lines {
                        let event = parser.parse(line, origin.clone(), 0);
                        match seq.as_mut() {
                            Some(s) => s.push(event, &mut out),
                            None => out.push(event),
                        }
                        for e in out.drain(..) {
                            e.write_json(&mut buf);
                            buf.push(b'\n');
                            written += 1;
                            if written % BATCH == 0 {
                                bytes += black_box(buf.len());
                                buf.clear();
                            }
                        }
                    }
                    // What the sequencer still holds is written too.
                    if let Some(s) = seq.as_mut() {
                        s.flush(0, true, &mut out);
                    }
                    for e in out.drain(..) {
                        e.write_json(&mut buf);
                        written += 1;
                    }
                    assert_eq!(written, LINES, "one event per line");
                    black_box(bytes + buf.len())
                },
                criterion::BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

/// A pathological line shape: name, format, and a line of `n` repetitions.
type Shape = (&'static str, Format, fn(usize) -> String);

/// Pathological lines of growing length (values full of the characters each format splits
/// on): throughput in bytes per second stays flat when a parser is linear in the line length;
/// a quadratic one loses 4× per 4× longer line.
fn pathological(c: &mut Criterion) {
    let options = ParseOptions::default();
    let mut group = c.benchmark_group("pathological_lines");
    group.sample_size(10);
    let shapes: [Shape; 4] = [
        ("dogtag_brackets", Format::Dogtag, |n| {
            format!(
                "0.t - [12/Jan/2025:08:20:00 CET] [14] [6] [AuditEvent=AUTH][Info={}] text",
                "] x".repeat(n)
            )
        }),
        ("keycloak_pairs", Format::Keycloak, |n| {
            format!(
                "2025-01-12 08:20:00,123 INFO  [org.keycloak.events] (t) type=LOGIN, {}",
                "a=b, ".repeat(n)
            )
        }),
        ("auditd_pairs", Format::Auditd, |n| {
            format!(
                "type=SYSCALL msg=audit(1750004000.000:7001): {}",
                "a= ".repeat(n)
            )
        }),
        ("json_escapes", Format::Json, |n| {
            format!(r#"{{"message":"{}"}}"#, "\\\"{".repeat(n))
        }),
    ];
    for (name, format, make) in shapes {
        let parser = parse::for_format(format, &options);
        for n in [4_000, 16_000, 64_000] {
            let line = make(n);
            group.throughput(Throughput::Bytes(line.len() as u64));
            let mut buf = Vec::with_capacity(1 << 20);
            group.bench_function(format!("{name}/{}", line.len()), |b| {
                b.iter(|| {
                    buf.clear();
                    let e = parser.parse(line.clone(), Origin::default(), 0);
                    e.write_json(&mut buf);
                    black_box(buf.len())
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, pathological);
criterion_main!(benches);
