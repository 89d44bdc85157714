//! The `syslog` sink against a real rsyslog on loopback (its own config and work directory,
//! run in the foreground): UDP, TCP with octet counting, TCP with newline framing. The
//! messages rsyslog wrote are checked for count and content.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{self, pki, Pki, SinkSetup};

pub(crate) struct Rsyslog {
    pub(crate) child: Child,
    _dir: tempfile::TempDir,
    pub(crate) out: PathBuf,
    udp: u16,
    tcp: u16,
    /// Its RELP input (imrelp, Debian's rsyslog-relp).
    pub(crate) relp: u16,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts rsyslogd in the foreground on loopback ports; writes `PRI|APP|MSGID|SD|MSG` lines.
pub(crate) fn rsyslog() -> Rsyslog {
    start_rsyslog(None)
}

/// rsyslogd, optionally with its TCP input behind TLS (rsyslog-gnutls, anonymous clients).
fn start_rsyslog(tls: Option<&Pki>) -> Rsyslog {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = dir.path().join("out.log");
    let (udp, tcp, relp) = (free_udp_port(), free_port(), free_port());
    let conf = dir.path().join("rsyslog.conf");
    let (global_tls, tcp_tls) = match tls {
        Some(p) => (
            format!(
                r#" DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{}" DefaultNetstreamDriverCertFile="{}" DefaultNetstreamDriverKeyFile="{}""#,
                p.ca.display(),
                p.cert.display(),
                p.key.display()
            ),
            r#" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon""#,
        ),
        None => (String::new(), ""),
    };
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}" maxMessageSize="64k"{global_tls})
module(load="imudp")
module(load="imtcp"{tcp_tls})
module(load="imrelp")
template(name="fields" type="string" string="%pri%|%app-name%|%msgid%|%structured-data%|%msg%\n")
ruleset(name="audit") {{
  action(type="omfile" file="{out}" template="fields")
}}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="audit")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="audit")
input(type="imrelp" address="127.0.0.1" port="{relp}" ruleset="audit")
"#,
            work = work.display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("rsyslogd.log")).unwrap();
    let child = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("rsyslogd is installed (.ci/run installs it)");
    let up = support::eventually(Duration::from_secs(15), || {
        std::net::TcpStream::connect(("127.0.0.1", tcp)).ok()?;
        std::net::TcpStream::connect(("127.0.0.1", relp))
            .ok()
            .map(|_| ())
    });
    assert!(
        up.is_some(),
        "rsyslogd did not listen: {}",
        std::fs::read_to_string(dir.path().join("rsyslogd.log")).unwrap_or_default()
    );
    Rsyslog {
        child,
        _dir: dir,
        out,
        udp,
        tcp,
        relp,
    }
}

/// Runs the agent over `lines` (format `format`) into a syslog sink configured by `sink`,
/// until rsyslog wrote `expect` messages; returns them.
fn ship(r: &Rsyslog, lines: &[String], format: &str, sink: &str, expect: usize) -> Vec<String> {
    let setup = SinkSetup::new(
        "tps_audit",
        lines,
        format,
        &format!(
            "type = \"syslog\"\nhostname = \"pki-1\"\nbatch = {{ timeout = \"100ms\" }}\n{sink}"
        ),
    );
    let (got, _) = setup.run_until(Duration::from_secs(20), || {
        support::lines(&r.out).len() >= expect
    });
    assert!(
        got,
        "rsyslog wrote {} of {expect} messages",
        support::lines(&r.out).len()
    );
    support::lines(&r.out)
}

fn fields(line: &str) -> (u32, String, String, String, serde_json::Value) {
    let mut parts = line.splitn(5, '|');
    let pri = parts.next().unwrap().parse().unwrap();
    let app = parts.next().unwrap().to_owned();
    let msgid = parts.next().unwrap().to_owned();
    let sd = parts.next().unwrap().to_owned();
    let msg = serde_json::from_str(parts.next().unwrap().trim()).expect("the message is ECS JSON");
    (pri, app, msgid, sd, msg)
}

#[test]
fn udp_rfc5424_messages_reach_rsyslog_with_header_and_structured_data() {
    let r = rsyslog();
    let lines: Vec<String> = std::fs::read_to_string("tests/fixtures/dogtag/tps_audit-events.log")
        .unwrap()
        .lines()
        .take(10)
        .map(str::to_owned)
        .collect();
    let got = ship(
        &r,
        &lines,
        "dogtag",
        &format!("mode = \"udp\"\naddress = \"127.0.0.1:{}\"", r.udp),
        10,
    );
    assert_eq!(got.len(), 10);
    for line in &got {
        let (pri, app, msgid, sd, msg) = fields(line);
        assert_eq!(app, "auditship");
        assert_eq!(msgid, msg["event"]["action"].as_str().unwrap());
        let expected = if msg["event"]["outcome"] == "failure" {
            84
        } else {
            85
        };
        assert_eq!(
            pri, expected,
            "authpriv with severity from the outcome: {line}"
        );
        assert!(sd.starts_with("[ecs@32473 event.action=\""), "{sd}");
    }
    // CONFIG_TOKEN_MAPPING_RESOLVER failed in the fixture: warning.
    assert!(got.iter().any(|l| l.starts_with("84|")));
}

#[test]
fn tcp_octet_counted_messages_arrive_whole_and_in_order() {
    let r = rsyslog();
    let lines: Vec<String> = (0..500)
        .map(|i| format!("seq {i} with \"quotes\" and ] brackets"))
        .collect();
    let got = ship(
        &r,
        &lines,
        "raw",
        &format!(
            "mode = \"tcp\"\naddress = \"127.0.0.1:{}\"\nstructured_data = [\"message\"]",
            r.tcp
        ),
        500,
    );
    assert_eq!(got.len(), 500);
    for (i, line) in got.iter().enumerate() {
        let (_, _, _, sd, msg) = fields(line);
        assert_eq!(
            msg["message"],
            format!("seq {i} with \"quotes\" and ] brackets")
        );
        assert!(
            sd.contains(r#"\"quotes\" and \] brackets"#),
            "SD escaped: {sd}"
        );
    }
}

#[test]
fn tcp_newline_framing_with_a_template() {
    let r = rsyslog();
    let lines: Vec<String> = (0..50).map(|i| format!("seq {i}")).collect();
    let got = ship(
        &r,
        &lines,
        "raw",
        &format!(
            "mode = \"tcp\"\nframing = \"newline\"\naddress = \"127.0.0.1:{}\"\nformat = \"rfc3164\"\nmessage = \"{{{{ message }}}} @ {{{{ log.offset }}}}\"",
            r.tcp
        ),
        50,
    );
    assert_eq!(got.len(), 50);
    assert!(got[7].ends_with("seq 7 @ 42"), "{}", got[7]);
}

#[test]
fn tls_messages_reach_rsyslog_gnutls_and_an_untrusted_server_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    let server_pki = pki(certs.path(), "server");
    let other = pki(certs.path(), "other");
    let r = start_rsyslog(Some(&server_pki));
    let lines: Vec<String> = (0..40).map(|i| format!("seq {i}")).collect();
    let got = ship(
        &r,
        &lines,
        "raw",
        &format!(
            "mode = \"tls\"\naddress = \"127.0.0.1:{}\"\ntls = {{ ca_file = '{}' }}",
            r.tcp,
            server_pki.ca.display()
        ),
        40,
    );
    assert_eq!(got.len(), 40);
    assert_eq!(fields(&got[39]).4["message"], "seq 39");

    // The same server, verified against another CA: the handshake fails, nothing is sent.
    let before = support::lines(&r.out).len();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(&log, "seq x\n").unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\nshutdown_timeout = \"1s\"\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"raw\"\n[sinks.syslog]\ntype = \"syslog\"\ninputs = [\"in\"]\nmode = \"tls\"\naddress = \"127.0.0.1:{}\"\ntls = {{ ca_file = '{}' }}\n",
            dir.path().join("data").display(),
            log.display(),
            r.tcp,
            other.ca.display()
        ),
    )
    .unwrap();
    let mut child = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let refused = support::eventually(Duration::from_secs(15), || {
        support::stderr_text(&mut child)
            .contains("TLS handshake")
            .then_some(())
    });
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(20));
    assert!(refused.is_some(), "{}", support::stderr_text(&mut child));
    assert_eq!(
        support::lines(&r.out).len(),
        before,
        "nothing reached the untrusted server"
    );
}

#[test]
fn relp_messages_are_acknowledged_by_rsyslog_and_arrive_once_each() {
    let r = rsyslog();
    let lines: Vec<String> = (0..2000).map(|i| format!("seq {i} over relp")).collect();
    let got = ship(
        &r,
        &lines,
        "raw",
        &format!(
            "mode = \"relp\"\naddress = \"127.0.0.1:{}\"\nstructured_data = [\"message\"]",
            r.relp
        ),
        2000,
    );
    let mut seqs: Vec<usize> = got
        .iter()
        .map(|l| {
            let (_, _, _, _, msg) = fields(l);
            msg["message"].as_str().unwrap()[4..]
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..2000).collect::<Vec<_>>(), "each message once");
}

#[test]
fn tls_without_a_ca_file_trusts_the_system_store_wherever_it_is() {
    // The system store as rustls-native-certs finds it, pointed at the test CA through
    // SSL_CERT_FILE (as on a distribution that keeps its bundle elsewhere).
    let certs = tempfile::tempdir().unwrap();
    let server_pki = pki(certs.path(), "server");
    let r = start_rsyslog(Some(&server_pki));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(&log, "seq 1\nseq 2\n").unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{}'\nshutdown_timeout = \"1s\"\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"raw\"\n[sinks.syslog]\ntype = \"syslog\"\ninputs = [\"in\"]\nmode = \"tls\"\naddress = \"127.0.0.1:{}\"\nbatch = {{ timeout = \"100ms\" }}\n",
            dir.path().join("data").display(),
            log.display(),
            r.tcp,
        ),
    )
    .unwrap();
    let mut child = support::spawn_with_env(
        &["run", "--config", config.to_str().unwrap()],
        &[("SSL_CERT_FILE", server_pki.ca.to_str().unwrap())],
    );
    let got = support::eventually(Duration::from_secs(15), || {
        (support::lines(&r.out).len() >= 2).then_some(())
    });
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(20));
    assert!(got.is_some(), "{}", support::stderr_text(&mut child));
}
