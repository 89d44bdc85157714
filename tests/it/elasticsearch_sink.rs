//! The `elasticsearch` sink against a loopback server that answers the bulk API as Elastic
//! documents it: per-item `status`/`error`, `errors: true`, 429 items, 409 on `create` of an
//! existing id. Plus an opt-in test against a real cluster (`AUDITSHIP_ES_URL`).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http_server::{Answer, Server};
use crate::support::{self, SinkSetup};

/// An in-memory Elasticsearch: indices of documents by id.
#[derive(Default)]
pub(crate) struct FakeEs {
    docs: Mutex<HashMap<String, HashMap<String, String>>>,
    /// Messages whose first indexing attempt is refused with an item-level 429.
    busy_once: Mutex<HashSet<String>>,
    bulk_sizes: Mutex<Vec<usize>>,
    pub(crate) conflicts: Mutex<usize>,
    /// Bulk answers are sent in frames of this many bytes (0: whole).
    answer_piece: Mutex<usize>,
}

impl FakeEs {
    pub(crate) fn answer(&self, method: &str, path: &str, body: &str) -> Answer {
        if method == "GET" && path == "/" {
            let mut a = Answer::status(200);
            a.body =
                r#"{"name":"fake","version":{"number":"8.15.0"},"tagline":"You Know, for Search"}"#
                    .into();
            return a;
        }
        if !(method == "POST" && path.starts_with("/_bulk")) {
            return Answer::status(404);
        }
        let lines: Vec<&str> = body.lines().collect();
        let mut items = Vec::new();
        let mut errors = false;
        for pair in lines.chunks(2) {
            let action: serde_json::Value = serde_json::from_str(pair[0]).unwrap();
            let (op, meta) = action.as_object().unwrap().iter().next().unwrap();
            let index = meta["_index"].as_str().unwrap().to_owned();
            let id = meta["_id"].as_str().unwrap_or("auto").to_owned();
            let doc: serde_json::Value = serde_json::from_str(pair[1]).unwrap();
            let message = doc["message"].as_str().unwrap_or("").to_owned();
            let (status, error) = if message.contains("bad") {
                (
                    400,
                    Some(
                        r#"{"type":"mapper_parsing_exception","reason":"failed to parse field [message]"}"#,
                    ),
                )
            } else if self.busy_once.lock().unwrap().remove(&message) {
                (
                    429,
                    Some(
                        r#"{"type":"es_rejected_execution_exception","reason":"rejected execution"}"#,
                    ),
                )
            } else {
                let mut docs = self.docs.lock().unwrap();
                let index_docs = docs.entry(index.clone()).or_default();
                if op == "create" && index_docs.contains_key(&id) {
                    *self.conflicts.lock().unwrap() += 1;
                    (
                        409,
                        Some(
                            r#"{"type":"version_conflict_engine_exception","reason":"document already exists"}"#,
                        ),
                    )
                } else {
                    index_docs.insert(id.clone(), pair[1].to_owned());
                    (201, None)
                }
            };
            errors |= status >= 300;
            let mut item =
                format!(r#"{{"{op}":{{"_index":"{index}","_id":"{id}","status":{status}"#);
            if let Some(e) = error {
                let _ = write!(item, r#","error":{e}"#);
            }
            item.push_str("}}");
            items.push(item);
        }
        self.bulk_sizes.lock().unwrap().push(items.len());
        let mut a = Answer::status(200);
        a.body = format!(
            r#"{{"took":3,"errors":{errors},"items":[{}]}}"#,
            items.join(",")
        );
        a.piece = *self.answer_piece.lock().unwrap();
        a
    }

    pub(crate) fn count(&self) -> usize {
        self.docs.lock().unwrap().values().map(HashMap::len).sum()
    }

    /// Every stored document, by id.
    pub(crate) fn documents(&self) -> HashMap<String, String> {
        self.docs
            .lock()
            .unwrap()
            .values()
            .flat_map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }

    fn indices(&self) -> Vec<String> {
        let mut v: Vec<String> = self.docs.lock().unwrap().keys().cloned().collect();
        v.sort();
        v
    }
}

pub(crate) fn start(es: &Arc<FakeEs>) -> Server {
    let es = es.clone();
    Server::with_responder(Arc::new(move |m, p, b| Some(es.answer(m, p, b))))
}

fn setup(lines: &[String], format: &str, sink: &str) -> SinkSetup {
    SinkSetup::new(
        "tps_audit",
        lines,
        format,
        &format!("type = \"elasticsearch\"\nbatch = {{ timeout = \"100ms\" }}\n{sink}"),
    )
}

#[test]
fn bulk_items_refused_with_429_are_resent_alone() {
    let es = Arc::new(FakeEs::default());
    es.busy_once.lock().unwrap().insert("seq 3".into());
    let server = start(&es);
    let s = setup(
        &support::seq_lines(20),
        "raw",
        &format!("endpoints = ['http://127.0.0.1:{}']", server.port),
    );
    let (ok, stderr) = s.run_until(Duration::from_secs(20), || es.count() == 20);
    assert!(ok, "indexed {}", es.count());
    let sizes = es.bulk_sizes.lock().unwrap().clone();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        21,
        "20 documents + 1 resent: {sizes:?}"
    );
    assert!(sizes.contains(&1), "the refused item went alone: {sizes:?}");
    assert!(
        stderr.contains("8.15.0"),
        "health check logs the version: {stderr}"
    );
}

#[test]
fn mapper_parsing_errors_go_to_dead_letter_with_the_document() {
    let es = Arc::new(FakeEs::default());
    let server = start(&es);
    let mut lines = support::seq_lines(6);
    lines[2] = "this is a bad document".into();
    let s = setup(
        &lines,
        "raw",
        &format!("endpoints = ['http://127.0.0.1:{}']", server.port),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let dead = s.data.join("dead_letter/events.ndjson");
    let (ok, _) = s.run_until(Duration::from_secs(20), || {
        es.count() == 5 && support::lines(&dead).len() == 1 && s.checkpoint() == size
    });
    assert!(
        ok,
        "indexed {}, dead {}",
        es.count(),
        support::lines(&dead).len()
    );
    let v: serde_json::Value = serde_json::from_str(&support::lines(&dead)[0]).unwrap();
    assert!(v["reason"]
        .as_str()
        .unwrap()
        .contains("mapper_parsing_exception"));
    assert_eq!(v["event"]["message"], "this is a bad document");
}

#[test]
fn bulk_answers_that_arrive_in_small_pieces_are_read_as_whole_answers() {
    // The sink stops reading a clean answer into memory once it has seen `"errors":false`:
    // an answer cut anywhere (here every 5 bytes, so `"errors":false` itself is cut) must
    // still be read as clean (a misread one would be resent: 409s), and one with errors
    // must still be read whole (the 429 item resent, the refused one dead-lettered).
    let es = Arc::new(FakeEs::default());
    *es.answer_piece.lock().unwrap() = 5;
    es.busy_once.lock().unwrap().insert("seq 3".into());
    let server = start(&es);
    let mut lines = support::seq_lines(40);
    lines[7] = "this is a bad document".into();
    let s = SinkSetup::new(
        "tps_audit",
        &lines,
        "raw",
        &format!(
            "type = \"elasticsearch\"\nbatch = {{ max_events = 8, timeout = \"100ms\" }}\nendpoints = ['http://127.0.0.1:{}']",
            server.port
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let dead = s.data.join("dead_letter/events.ndjson");
    let (ok, _) = s.run_until(Duration::from_secs(30), || {
        es.count() == 39 && support::lines(&dead).len() == 1 && s.checkpoint() == size
    });
    assert!(
        ok,
        "indexed {}, dead {}",
        es.count(),
        support::lines(&dead).len()
    );
    let sizes = es.bulk_sizes.lock().unwrap().clone();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        41,
        "40 documents + the one resent after its 429, nothing else: {sizes:?}"
    );
    assert_eq!(
        *es.conflicts.lock().unwrap(),
        0,
        "no clean answer was misread"
    );
}

#[test]
fn redelivery_after_lost_checkpoints_creates_no_duplicates() {
    let es = Arc::new(FakeEs::default());
    let server = start(&es);
    let s = setup(
        &support::seq_lines(30),
        "raw",
        &format!("endpoints = ['http://127.0.0.1:{}']", server.port),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let (ok, _) = s.run_until(Duration::from_secs(20), || {
        es.count() == 30 && s.checkpoint() == size
    });
    assert!(ok);
    // As after a crash before the checkpoint was saved: everything is sent again.
    std::fs::remove_dir_all(s.data.join("checkpoints")).unwrap();
    let (ok, _) = s.run_until(Duration::from_secs(20), || {
        *es.conflicts.lock().unwrap() == 30 && s.checkpoint() == size
    });
    assert!(ok, "conflicts {}", es.conflicts.lock().unwrap());
    assert_eq!(es.count(), 30, "ids are deterministic: no duplicates");
    assert!(
        !s.data.join("dead_letter/events.ndjson").exists(),
        "409 on our own id is delivered, not refused"
    );
}

#[test]
fn index_names_follow_event_time_and_fields_and_data_streams_use_create() {
    let lines: Vec<String> = std::fs::read_to_string("tests/fixtures/dogtag/tps_audit-events.log")
        .unwrap()
        .lines()
        .take(5)
        .map(str::to_owned)
        .collect();
    let es = Arc::new(FakeEs::default());
    let server = start(&es);
    let s = setup(
        &lines,
        "dogtag",
        &format!(
            "endpoints = ['http://127.0.0.1:{}']\nindex = \"audit-{{{{ event.dataset }}}}-%Y.%m\"",
            server.port
        ),
    );
    let (ok, _) = s.run_until(Duration::from_secs(20), || es.count() == 5);
    assert!(ok);
    assert_eq!(es.indices(), ["audit-dogtag.signed_audit-2025.01"]);

    let es = Arc::new(FakeEs::default());
    let server = start(&es);
    let s = setup(
        &support::seq_lines(3),
        "raw",
        &format!("endpoints = ['http://127.0.0.1:{}']\nmode = \"data_stream\"\ndata_stream = {{ dataset = \"pki\", namespace = \"prod\" }}", server.port),
    );
    let (ok, _) = s.run_until(Duration::from_secs(20), || es.count() == 3);
    assert!(ok);
    assert_eq!(es.indices(), ["logs-pki-prod"]);
    let bulk = server
        .received()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.starts_with("/_bulk"))
        .unwrap();
    assert!(bulk
        .body
        .lines()
        .next()
        .unwrap()
        .starts_with(r#"{"create":"#));
}

#[test]
fn an_unreachable_endpoint_fails_over_to_the_next() {
    let es = Arc::new(FakeEs::default());
    let server = start(&es);
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = setup(
        &support::seq_lines(10),
        "raw",
        &format!(
            "endpoints = ['http://127.0.0.1:{dead_port}', 'http://127.0.0.1:{}']",
            server.port
        ),
    );
    let (ok, _) = s.run_until(Duration::from_secs(30), || es.count() == 10);
    assert!(ok, "indexed {}", es.count());
}

/// Opt-in: `AUDITSHIP_ES_URL=http://localhost:9200 cargo test -- --ignored real_cluster`.
#[test]
#[ignore = "needs a real cluster: set AUDITSHIP_ES_URL and run with --ignored"]
fn real_cluster_accepts_the_bulk_requests() {
    let url = std::env::var("AUDITSHIP_ES_URL").expect("AUDITSHIP_ES_URL is set");
    let index = format!("auditship-it-{}", std::process::id());
    let s = setup(
        &support::seq_lines(25),
        "raw",
        &format!("endpoints = ['{url}']\nindex = \"{index}\""),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let (ok, _) = s.run_until(Duration::from_secs(60), || s.checkpoint() == size);
    assert!(ok, "the cluster did not acknowledge every document");
    let client = std::process::Command::new("curl")
        .args(["-s", &format!("{url}/{index}/_count?refresh=true")])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap_or_default();
    assert_eq!(v["count"], 25, "{v}");
}
