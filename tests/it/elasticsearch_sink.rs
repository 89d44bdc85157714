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
        if let Some(filter) = query_value(path, "filter_path") {
            let answer: serde_json::Value = serde_json::from_str(&a.body).unwrap();
            let patterns: Vec<Vec<&str>> =
                filter.split(',').map(|p| p.split('.').collect()).collect();
            a.body = filtered(answer, &patterns).map_or_else(|| "{}".into(), |v| v.to_string());
        }
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

/// The value of `key` in the query string of `target` (`/_bulk?a=b&c=d`).
fn query_value<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// Elasticsearch's response filtering (`filter_path`, a query parameter of every REST API), for
/// inclusive filters: a field is kept when a filter's dotted path leads to it, `*` standing for
/// any part of a name; arrays hold their filtered elements; what keeps nothing is left out.
/// (Exclusions, `-path`, and `**` are not used by the agent and not done here.)
fn filtered(value: serde_json::Value, patterns: &[Vec<&str>]) -> Option<serde_json::Value> {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut kept = serde_json::Map::new();
            for (key, child) in map {
                let matching: Vec<&Vec<&str>> =
                    patterns.iter().filter(|p| glob(p[0], &key)).collect();
                if matching.iter().any(|p| p.len() == 1) {
                    kept.insert(key, child);
                    continue;
                }
                let rest: Vec<Vec<&str>> = matching.iter().map(|p| p[1..].to_vec()).collect();
                if let Some(child) = (!rest.is_empty()).then(|| filtered(child, &rest)).flatten() {
                    kept.insert(key, child);
                }
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .into_iter()
                .filter_map(|item| filtered(item, patterns))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

/// Whether `name` matches `pattern`, where `*` is any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => name.strip_prefix(head).is_some_and(|rest| {
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }),
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

/// Runs the agent until `indexed` documents are in `es`, one is in the dead-letter file and the
/// whole file is acknowledged.
fn settle_all_but_one_refused(s: &SinkSetup, es: &FakeEs, indexed: usize) {
    let size = std::fs::metadata(&s.log).unwrap().len();
    let dead = s.data.join("dead_letter/events.ndjson");
    let (ok, _) = s.run_until(Duration::from_secs(30), || {
        es.count() == indexed && support::lines(&dead).len() == 1 && s.checkpoint() == size
    });
    assert!(
        ok,
        "indexed {}, dead {}",
        es.count(),
        support::lines(&dead).len()
    );
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
    settle_all_but_one_refused(&s, &es, 39);
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
fn bulk_requests_ask_only_for_the_answer_fields_the_sink_reads() {
    // Response filtering: an answer then lists each document's status (and error), not its
    // index, id, version and shards. The filtered answers must still settle every kind of
    // item: the 429 resent, the refused one dead-lettered, the rest delivered.
    let es = Arc::new(FakeEs::default());
    es.busy_once.lock().unwrap().insert("seq 2".into());
    let server = start(&es);
    let mut lines = support::seq_lines(20);
    lines[5] = "this is a bad document".into();
    let s = setup(
        &lines,
        "raw",
        &format!(
            "endpoints = ['http://127.0.0.1:{}']\npipeline = \"audit\"",
            server.port
        ),
    );
    settle_all_but_one_refused(&s, &es, 19);
    let bulks: Vec<_> = server
        .received()
        .into_iter()
        .filter(|r| r.path == "/_bulk")
        .collect();
    assert!(
        bulks.len() >= 2,
        "the batch and the resent 429: {}",
        bulks.len()
    );
    for bulk in &bulks {
        assert_eq!(
            bulk.query,
            "filter_path=errors,items.*.error,items.*.status&pipeline=audit"
        );
    }
}

#[test]
fn the_fake_cluster_filters_answers_as_elasticsearch_documents() {
    let answer = serde_json::json!({
        "took": 3,
        "errors": true,
        "items": [
            {"create": {"_index": "i", "_id": "a", "_version": 1, "status": 201}},
            {"create": {"_index": "i", "_id": "b", "status": 400, "error": {"type": "x"}}},
        ],
    });
    let patterns: Vec<Vec<&str>> = "errors,items.*.error,items.*.status"
        .split(',')
        .map(|p| p.split('.').collect())
        .collect();
    assert_eq!(
        filtered(answer.clone(), &patterns).unwrap(),
        serde_json::json!({
            "errors": true,
            "items": [
                {"create": {"status": 201}},
                {"create": {"status": 400, "error": {"type": "x"}}},
            ],
        })
    );
    let only_errors = vec![vec!["items", "*", "error"]];
    assert_eq!(
        filtered(answer, &only_errors).unwrap(),
        serde_json::json!({"items": [{"create": {"error": {"type": "x"}}}]})
    );
    assert!(glob("*_id", "_id") && glob("i*s", "items") && !glob("i*x", "items"));
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
