//! The `kafka` sink through the real binary against a real Kafka-protocol broker: tansu, on a
//! free loopback port, in memory, one per test (`.ci/install-test-deps` installs it). What
//! arrives is read back with a librdkafka consumer and compared exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::support;

/// A tansu broker on loopback; stopped with SIGTERM (SIGKILL after 5 s) when dropped.
pub(crate) struct Broker {
    pub(crate) child: Child,
    port: u16,
    /// What its group coordinator logged (members joining, members it expelled).
    log: tempfile::NamedTempFile,
}

fn tansu() -> std::path::PathBuf {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let installed = home.map(|h| h.join(".cargo/bin/tansu"));
    match installed {
        Some(p) if p.is_file() => p,
        _ => "tansu".into(),
    }
}

impl Broker {
    pub(crate) fn start() -> Self {
        let port = crate::api::free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            // tansu logs to standard output.
            .env("RUST_LOG", "tansu_broker::coordinator::group=info")
            .env("NO_COLOR", "1")
            .stdout(log.reopen().unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu is installed (bash .ci/install-test-deps)");
        let broker = Self { child, port, log };
        let ready = support::eventually(Duration::from_secs(20), || {
            broker.tansu(&["topic", "list"]).then_some(())
        });
        assert!(ready.is_some(), "tansu never answered on {url}");
        broker
    }

    /// Runs `tansu ARGS --broker URL`; whether it succeeded.
    fn tansu(&self, args: &[&str]) -> bool {
        Command::new(tansu())
            .args(args)
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub(crate) fn create_topic(&self, name: &str, partitions: u32) {
        assert!(
            self.tansu(&[
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string()
            ]),
            "cannot create topic {name}"
        );
    }

    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The members the group coordinator expelled for missing heartbeats, as it logged them.
    pub(crate) fn expelled(&self) -> Vec<String> {
        std::fs::read_to_string(self.log.path())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("missed heartbeat for rdkafka"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as read back.
pub(crate) struct Got {
    pub(crate) partition: i32,
    pub(crate) key: Option<String>,
    pub(crate) value: serde_json::Value,
    pub(crate) headers: BTreeMap<String, String>,
}

impl Broker {
    /// A consumer of the brokers at `servers` (no group management: partitions are assigned).
    pub(crate) fn reader(servers: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("group.id", "auditship-test-reader")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .set("fetch.wait.max.ms", "10")
            .create()
            .unwrap()
    }
}

/// Reads `topic` (all `partitions`) from the beginning until `want` messages came or
/// `limit` passed.
pub(crate) fn consume(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    want: usize,
    limit: Duration,
) -> Vec<Got> {
    read(
        &Broker::reader(&broker.address()),
        topic,
        partitions,
        want,
        limit,
    )
}

/// As [`consume`], with `consumer`.
fn read(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
    want: usize,
    limit: Duration,
) -> Vec<Got> {
    from_the_start(consumer, topic, partitions);
    read_on(consumer, want, limit)
}

/// Points `consumer` at the first message of each of the topic's partitions.
fn from_the_start(consumer: &BaseConsumer, topic: &str, partitions: i32) {
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
}

/// The next messages `consumer` reads from where it is, until `want` came or `limit` passed.
fn read_on(consumer: &BaseConsumer, want: usize, limit: Duration) -> Vec<Got> {
    let mut out = Vec::new();
    let deadline = Instant::now() + limit;
    while out.len() < want && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let Ok(m) = message else {
            continue;
        };
        let mut headers = BTreeMap::new();
        if let Some(h) = m.headers() {
            for header in h.iter() {
                let value = header
                    .value
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                headers.insert(header.key.to_owned(), value);
            }
        }
        out.push(Got {
            partition: m.partition(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            value: serde_json::from_slice(m.payload().unwrap_or_default()).unwrap(),
            headers,
        });
    }
    out
}

/// A Keycloak login failure of user `n % 97`, the `n`th line.
pub(crate) fn line(n: usize) -> String {
    format!(
        "2025-01-13 09:{:02}:{:02},{:03} INFO  [org.keycloak.events] (executor-thread-1) type=\"LOGIN_ERROR\", realmId=\"acme\", clientId=\"portal\", userId=\"null\", ipAddress=\"203.0.113.9\", error=\"invalid_user_credentials\", username=\"user{}\", seq=\"{n}\"\n",
        (n / 60_000) % 60,
        (n / 1000) % 60,
        n % 1000,
        n % 97
    )
}

pub(crate) fn pipeline(dir: &Path, broker: &Broker, topic: &str) -> std::path::PathBuf {
    let config = dir.join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{0}/data'\nshutdown_timeout = \"10s\"\n[sources.in]\ntype = \"file\"\ninclude = ['{0}/audit.log']\nformat = \"keycloak\"\ntimezone = \"UTC\"\n[sinks.k]\ntype = \"kafka\"\ninputs = [\"in\"]\nbootstrap_servers = \"{1}\"\ntopic = \"{topic}\"\nkey_field = \"user.name\"\ncompression = \"lz4\"\n",
            dir.display(),
            broker.address()
        ),
    )
    .unwrap();
    config
}

/// A broker with the topic `audit` (3 partitions), and a pipeline of a file of `lines` lines
/// into it.
fn fed(lines: usize) -> (Broker, tempfile::TempDir, std::path::PathBuf) {
    let broker = Broker::start();
    broker.create_topic("audit", 3);
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..lines).map(line).collect();
    std::fs::write(dir.path().join("audit.log"), text).unwrap();
    let config = pipeline(dir.path(), &broker, "audit");
    (broker, dir, config)
}

/// Reads the topic from the start (4 minutes at most) until each of the `lines` lines came:
/// one reader that goes on from where it was, so a slow reader is not sent back to the first
/// message every few seconds (reading the whole topic again in a 3-second window each time
/// never got past 22,577 of 60,000 messages on a slower machine, session 27).
fn every_line(broker: &Broker, lines: usize) -> BTreeMap<usize, usize> {
    let deadline = Instant::now() + Duration::from_secs(240);
    let reader = Broker::reader(&broker.address());
    from_the_start(&reader, "audit", 3);
    let mut seen = BTreeMap::new();
    while seen.len() < lines && Instant::now() < deadline {
        for (seq, n) in sequences(&read_on(&reader, usize::MAX, Duration::from_secs(3))) {
            *seen.entry(seq).or_insert(0) += n;
        }
    }
    seen
}

/// The `seq` of each message's original line, and how many times each came.
pub(crate) fn sequences(got: &[Got]) -> BTreeMap<usize, usize> {
    let mut seen = BTreeMap::new();
    for g in got {
        let original = g.value["event"]["original"].as_str().unwrap_or_default();
        let seq: usize = original
            .rsplit_once("seq=\"")
            .and_then(|(_, s)| s.trim_end_matches('"').parse().ok())
            .unwrap_or_else(|| panic!("no seq in {original}"));
        *seen.entry(seq).or_insert(0) += 1;
    }
    seen
}

#[test]
fn every_line_reaches_the_topic_once_with_its_key_always_in_one_partition() {
    const LINES: usize = 100_000;
    let (broker, _dir, config) = fed(LINES);
    let mut agent = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let got = consume(&broker, "audit", 3, LINES, Duration::from_secs(240));
    support::signal(&agent, "TERM");
    let code = support::wait_exit(&mut agent, Duration::from_secs(30));
    let err = support::stderr_text(&mut agent);
    assert_eq!(code, 0, "{err}");
    assert_eq!(got.len(), LINES, "{err}");
    let seen = sequences(&got);
    assert_eq!(seen.len(), LINES, "every line once");
    assert!(seen.values().all(|n| *n == 1), "no duplicates");
    // One key, one partition; the key is the user name; the headers are set.
    let mut partitions: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for g in &got {
        let key = g.key.clone().expect("a key");
        assert_eq!(Some(key.as_str()), g.value["user"]["name"].as_str());
        partitions.entry(key).or_default().insert(g.partition);
        assert_eq!(
            g.headers.get("event.module").map(String::as_str),
            Some("keycloak")
        );
        let id = g.headers.get("auditship.id").expect("the document id");
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    assert_eq!(partitions.len(), 97);
    assert!(partitions.values().all(|p| p.len() == 1), "{partitions:?}");
    let used: BTreeSet<i32> = partitions.values().flatten().copied().collect();
    assert!(
        used.len() > 1,
        "the keys spread over the partitions: {used:?}"
    );
}

#[test]
fn a_sigkill_mid_stream_loses_nothing() {
    const LINES: usize = 30_000;
    let (broker, _dir, config) = fed(LINES);
    let mut agent = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    // Killed once some (not all) messages are in the topic.
    let some = consume(&broker, "audit", 3, 2_000, Duration::from_secs(60));
    assert!(!some.is_empty(), "nothing produced before the kill");
    support::signal(&agent, "KILL");
    support::wait_exit(&mut agent, Duration::from_secs(10));
    let mut agent = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let seen = every_line(&broker, LINES);
    support::signal(&agent, "TERM");
    support::wait_exit(&mut agent, Duration::from_secs(30));
    let err = support::stderr_text(&mut agent);
    assert_eq!(seen.len(), LINES, "every line at least once: {err}");
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert!(
        duplicates < LINES,
        "duplicates come only from the unacknowledged window: {duplicates}"
    );
}

/// The agent's resident memory in KiB (`VmRSS`).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_broker_that_stops_answering_for_ten_seconds_loses_nothing_and_memory_stays_bounded() {
    const LINES: usize = 60_000;
    let (broker, _dir, config) = fed(LINES);
    let mut agent = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let some = consume(&broker, "audit", 3, 2_000, Duration::from_secs(60));
    assert!(!some.is_empty(), "nothing produced before the stop");
    // The broker is frozen (SIGSTOP): connections stay open, nothing answers.
    let pid = broker.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let mut peak = 0;
    let frozen = Instant::now();
    while frozen.elapsed() < Duration::from_secs(10) {
        peak = peak.max(rss_kib(agent.id()));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let seen = every_line(&broker, LINES);
    support::signal(&agent, "TERM");
    let code = support::wait_exit(&mut agent, Duration::from_secs(30));
    let err = support::stderr_text(&mut agent);
    assert_eq!(
        seen.len(),
        LINES,
        "every line after the broker came back: {err}"
    );
    assert_eq!(code, 0, "{err}");
    // The file is the buffer: while the broker is away the agent holds one budget's worth.
    assert!(
        peak < 256 * 1024,
        "peak RSS {peak} KiB while the broker was away"
    );
}

#[test]
fn a_message_too_large_is_dead_lettered_with_the_reason_and_the_rest_delivered() {
    let broker = Broker::start();
    broker.create_topic("audit", 3);
    let dir = tempfile::tempdir().unwrap();
    let mut text: String = (0..20).map(line).collect();
    // One event whose document is far above the 8 KiB message limit set below.
    text.push_str(&line(20).replace(
        "seq=\"20\"",
        &format!("seq=\"20\", note=\"{}\"", "x".repeat(20_000)),
    ));
    text.extend((21..40).map(line));
    std::fs::write(dir.path().join("audit.log"), &text).unwrap();
    let config = pipeline(dir.path(), &broker, "audit");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str("librdkafka_options = { \"message.max.bytes\" = \"8192\" }\n");
    std::fs::write(&config, toml).unwrap();
    let dead = dir.path().join("data/dead_letter/events.ndjson");
    let mut agent = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let got = consume(&broker, "audit", 3, 39, Duration::from_secs(60));
    let dead_lines = support::eventually(Duration::from_secs(20), || {
        let l = support::lines(&dead);
        (!l.is_empty()).then_some(l)
    });
    support::signal(&agent, "TERM");
    let code = support::wait_exit(&mut agent, Duration::from_secs(30));
    let err = support::stderr_text(&mut agent);
    assert_eq!(code, 0, "{err}");
    let seen = sequences(&got);
    assert_eq!(seen.len(), 39, "{err}");
    assert!(!seen.contains_key(&20));
    let dead_lines = dead_lines.unwrap_or_else(|| panic!("nothing dead-lettered: {err}"));
    assert_eq!(dead_lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&dead_lines[0]).unwrap();
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("Kafka refused the message") && reason.contains("too large"),
        "{reason}"
    );
    assert!(v["event"]["event"]["original"]
        .as_str()
        .unwrap()
        .contains("seq=\"20\""));
}

#[test]
fn settings_that_would_weaken_delivery_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{0}/data'\n[sources.in]\ntype = \"file\"\ninclude = ['{0}/a.log']\n[sinks.k]\ntype = \"kafka\"\ninputs = [\"in\"]\nbootstrap_servers = \"127.0.0.1:9\"\ntopic = \"audit\"\nacks = \"some\"\nsasl = {{ mechanism = \"GSSAPI\", username = \"u\", password = \"hunter2-secret\" }}\nlibrdkafka_options = {{ \"enable.idempotence\" = \"false\" }}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let err = support::refused(&config);
    assert!(
        err.contains("sinks.k.acks") && err.contains("`some` is not all, 1 or 0"),
        "{err}"
    );
    assert!(
        err.contains("sinks.k.sasl.mechanism") && err.contains("GSSAPI"),
        "{err}"
    );
    assert!(
        err.contains("sinks.k.librdkafka_options") && err.contains("enable.idempotence"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2-secret"),
        "the password stays out of the errors: {err}"
    );
}

#[test]
fn produce_errors_injected_by_a_mock_cluster_are_retried_without_duplicates() {
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    const LINES: usize = 5_000;
    // librdkafka's own in-process mock cluster, listening on loopback: faults a real broker
    // cannot be asked for.
    let mock = MockCluster::new(3).unwrap();
    mock.create_topic("audit", 3, 3).unwrap();
    let errors = [
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
    ];
    // Sixteen failed produce requests, in turn, before any succeeds.
    let injected: Vec<RDKafkaRespErr> = errors.iter().cycle().take(16).copied().collect();
    mock.request_errors(RDKafkaApiKey::Produce, &injected);
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..LINES).map(line).collect();
    std::fs::write(dir.path().join("audit.log"), text).unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{0}/data'\n[sources.in]\ntype = \"file\"\ninclude = ['{0}/audit.log']\nformat = \"keycloak\"\ntimezone = \"UTC\"\n[sinks.k]\ntype = \"kafka\"\ninputs = [\"in\"]\nbootstrap_servers = \"{1}\"\ntopic = \"audit\"\nkey_field = \"user.name\"\n",
            dir.path().display(),
            mock.bootstrap_servers()
        ),
    )
    .unwrap();
    let mut agent = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let reader = Broker::reader(&mock.bootstrap_servers());
    // One more than written: read until the limit, so that a duplicate would show.
    let got = read(&reader, "audit", 3, LINES + 1, Duration::from_secs(10));
    support::signal(&agent, "TERM");
    let code = support::wait_exit(&mut agent, Duration::from_secs(30));
    let err = support::stderr_text(&mut agent);
    assert_eq!(code, 0, "{err}");
    let seen = sequences(&got);
    assert_eq!(seen.len(), LINES, "{err}");
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "idempotence keeps retries single: {duplicates:?}"
    );
}

#[test]
fn a_topic_template_keeps_its_case_and_replaces_what_kafka_does_not_allow() {
    let broker = Broker::start();
    broker.create_topic("Audit-keycloak_failure", 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("audit.log"),
        (0..10).map(line).collect::<String>(),
    )
    .unwrap();
    let config = pipeline(
        dir.path(),
        &broker,
        "Audit-{{ event.module }} {{ event.outcome }}",
    );
    let mut agent = support::spawn(&["run", "--config", config.to_str().unwrap()]);
    let got = consume(
        &broker,
        "Audit-keycloak_failure",
        1,
        10,
        Duration::from_secs(30),
    );
    support::signal(&agent, "TERM");
    support::wait_exit(&mut agent, Duration::from_secs(30));
    let err = support::stderr_text(&mut agent);
    assert_eq!(sequences(&got).len(), 10, "{err}");
}
