//! Transforms through the real binary: `redact` over every audit format, with values planted
//! where each format carries them.

use std::fmt::Write as _;
use std::time::Duration;

use crate::support;

/// One record per format, each carrying the planted user name and e-mail address.
const PLANTED: [(&str, &str); 6] = [
    (
        "dogtag",
        "0.main - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=AUTH][SubjectID=planted-user][Outcome=Success][Info=contact planted.person@example.org] authentication",
    ),
    (
        "keycloak",
        r#"2025-06-03 09:14:22,481 INFO  [org.keycloak.events] (executor-thread-1) type="LOGIN", realmId="r", clientId="c", userId="u1", ipAddress="198.51.100.14", username="planted-user", email="planted.person@example.org""#,
    ),
    (
        "totp",
        r#"{"id":1,"username":"planted-user","action":"login_failed","resource":"auth","details":"Failed login attempt for planted.person@example.org","ip_address":"203.0.113.77","user_agent":"curl","timestamp":1750000123}"#,
    ),
    (
        "auditd",
        r#"type=USER_AUTH msg=audit(1750001000.101:8800): pid=3120 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=PAM:authentication grantors=? acct="planted-user" exe="/usr/sbin/sshd" hostname=planted.person@example.org addr=198.51.100.61 terminal=ssh res=failed'"#,
    ),
    (
        "sap",
        r#"{"message_uuid":"9f1e2d3c-4b5a-4697-8877-a1b2c3d4e5f6","time":"2025-01-20T06:41:09.512Z","tenant":"t1","org_id":"o1","space_id":"s1","app_or_service_id":"oauth-svc-01","als_service_id":"als-7","user":"planted-user","category":"audit.security-events","format_version":"","message":{"uuid":"u-1","user":"planted-user","time":"2025-01-20T06:41:09.512Z","ip":"10.1.1.9","data":"{\"action\":\"create\",\"key\":\"token for planted.person@example.org\",\"tenantId\":\"t1\"}","id":"i-1","category":"audit.security-events","tenant":"t1"}}"#,
    ),
    (
        "json",
        r#"{"user":{"name":"planted-user"},"note":"mail planted.person@example.org","event":{"action":"login"}}"#,
    ),
];

/// What `auditship validate` says of the pipeline `text` (written as `p.toml`), which it must
/// refuse (exit 2).
fn refused(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(support::binary())
        .args(["validate", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn redacted_values_survive_nowhere_in_any_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let mut config = format!(
        "data_dir = '{}'\nshutdown_timeout = \"5s\"\n",
        dir.path().join("data").display()
    );
    let mut inputs = Vec::new();
    for (format, line) in PLANTED {
        let log = dir.path().join(format!("{format}.log"));
        std::fs::write(&log, format!("{line}\n")).unwrap();
        let _ = write!(
            config,
            "[sources.{format}]\ntype = \"file\"\ninclude = ['{}']\nformat = \"{format}\"\n",
            log.display()
        );
        inputs.push(format!("\"{format}\""));
    }
    let _ = write!(
        config,
        "[transforms.privacy]\ntype = \"redact\"\ninputs = [{}]\nfields = [\"user.name\", \"user.target.name\"]\npatterns = [\"email\"]\nmode = \"hmac\"\nkey = \"${{REDACT_KEY}}\"\n[sinks.out]\ntype = \"file\"\ninputs = [\"privacy\"]\npath = '{}'\n",
        inputs.join(", "),
        out.display()
    );
    let path = dir.path().join("p.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = support::spawn_with_env(
        &["run", "--config", path.to_str().unwrap()],
        &[("REDACT_KEY", "s3cret-key")],
    );
    let all = support::eventually(Duration::from_secs(30), || {
        (support::lines(&out).len() >= PLANTED.len()).then_some(())
    });
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(30));
    assert!(all.is_some(), "{}", support::stderr_text(&mut child));
    let text = std::fs::read_to_string(&out).unwrap();
    for planted in ["planted-user", "planted.person", "example.org"] {
        assert!(!text.contains(planted), "{planted} survived:\n{text}");
    }
    for line in support::lines(&out) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(
            v["tags"].to_string().contains("audit_redacted"),
            "{}: {line}",
            v["event"]["module"]
        );
    }
    // Pseudonyms stay correlatable: the user's HMAC is the same in every format that names it.
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret-key"),
        b"planted-user",
    );
    let mut expected = String::new();
    for b in tag.as_ref() {
        let _ = write!(expected, "{b:02x}");
    }
    assert!(text.matches(&expected).count() >= 6, "{text}");
}

#[test]
fn a_redact_transform_with_bad_settings_is_refused_with_every_problem() {
    let err = refused("[sources.in]\ntype = \"file\"\ninclude = ['/tmp/none']\n[transforms.r]\ntype = \"redact\"\ninputs = [\"in\"]\npatterns = [\"emial\", \"([x\"]\nmode = \"hmac\"\n[sinks.out]\ntype = \"console\"\ninputs = [\"r\"]\n");
    assert!(
        err.contains("p.toml:7:") && err.contains("transforms.r.patterns[0]"),
        "{err}"
    );
    assert!(
        err.contains("transforms.r.patterns[1]") && err.contains("transforms.r.key"),
        "{err}"
    );
}

#[test]
fn enrich_adds_constants_and_looked_up_columns_and_follows_table_changes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.json");
    let csv = dir.path().join("users.csv");
    let out = dir.path().join("out.ndjson");
    std::fs::write(&csv, "username,department\nalice,finance\nbob,it\n").unwrap();
    std::fs::write(
        &log,
        "{\"user\":{\"name\":\"alice\"},\"n\":1}\n{\"user\":{\"name\":\"bob\"},\"n\":2}\n{\"user\":{\"name\":\"eve\"},\"n\":3}\n",
    )
    .unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = '{}'\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"json\"\n[transforms.owners]\ntype = \"enrich\"\ninputs = [\"in\"]\nset = {{ \"labels.site\" = \"${{SITE}}\" }}\n[[transforms.owners.lookup]]\nfile = '{}'\nmatch = {{ username = \"user.name\" }}\nadd = {{ department = \"labels.department\" }}\n[sinks.out]\ntype = \"file\"\ninputs = [\"owners\"]\npath = '{}'\n",
            dir.path().join("data").display(),
            log.display(),
            csv.display(),
            out.display()
        ),
    )
    .unwrap();
    let mut child = support::spawn_with_env(
        &["run", "--config", path.to_str().unwrap()],
        &[("SITE", "fra1")],
    );
    let read = |n: usize| {
        support::eventually(Duration::from_secs(20), || {
            let lines = support::lines(&out);
            (lines.len() >= n).then(|| {
                lines
                    .iter()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                    .collect::<Vec<_>>()
            })
        })
    };
    let first = read(3).expect("three events");
    assert_eq!(first[0]["labels"]["department"], "finance");
    assert_eq!(first[1]["labels"]["department"], "it");
    assert!(first[2]["labels"]["department"].is_null());
    assert!(first.iter().all(|v| v["labels"]["site"] == "fra1"));
    // The table changes while the agent runs: later events see the new row.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&csv, "username,department\nalice,legal\n").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, b"{\"user\":{\"name\":\"alice\"},\"n\":4}\n").unwrap();
    let second = read(4).expect("four events");
    assert_eq!(second[3]["labels"]["department"], "legal");
    // A broken table is logged and the previous one kept.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&csv, "user,dept\nalice,x\n").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    std::io::Write::write_all(&mut f, b"{\"user\":{\"name\":\"alice\"},\"n\":5}\n").unwrap();
    let third = read(5).expect("five events");
    assert_eq!(third[4]["labels"]["department"], "legal");
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(30));
    let err = support::stderr_text(&mut child);
    assert!(
        err.contains("cannot read the changed lookup table") && err.contains("no column"),
        "{err}"
    );
}

#[test]
fn dedupe_drops_repeated_lines_counts_them_as_delivered_and_moves_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    let out = dir.path().join("out.ndjson");
    let mut text = String::new();
    for i in 0..100 {
        // Every line twice in a row, as a writer retrying its write would leave them.
        let _ = writeln!(text, "seq {i}\nseq {i}");
    }
    std::fs::write(&log, &text).unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = '{}'\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"raw\"\n[transforms.once]\ntype = \"dedupe\"\ninputs = [\"in\"]\ncache = {{ max_events = 10 }}\n[sinks.out]\ntype = \"file\"\ninputs = [\"once\"]\npath = '{}'\n",
            dir.path().join("data").display(),
            log.display(),
            out.display()
        ),
    )
    .unwrap();
    let mut child = support::spawn(&["run", "--config", path.to_str().unwrap()]);
    let checkpoint = || {
        let t = std::fs::read_to_string(dir.path().join("data/checkpoints/in.json"))
            .unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&t).unwrap_or_default()["files"][0]["offset"]
            .as_u64()
            .unwrap_or(0)
    };
    let size = text.len() as u64;
    let done = support::eventually(Duration::from_secs(20), || {
        (checkpoint() == size).then_some(())
    });
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(30));
    let err = support::stderr_text(&mut child);
    assert!(
        done.is_some(),
        "the checkpoint covers dropped duplicates\n{err}"
    );
    let lines = support::lines(&out);
    assert_eq!(lines.len(), 100, "each line once");
    assert!(err.contains("dropped=100"), "{err}");
}

/// A pipeline over one raw file `lines`, with the TOML of the transforms and sinks given.
fn run_pipeline(lines: &[String], body: &str, outputs: &[&str], expect: usize) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.json");
    let mut text = String::new();
    for l in lines {
        let _ = writeln!(text, "{l}");
    }
    std::fs::write(&log, text).unwrap();
    let mut body = body.to_owned();
    for name in outputs {
        body = body.replace(
            &format!("OUT_{name}"),
            &dir.path()
                .join(format!("{name}.ndjson"))
                .display()
                .to_string(),
        );
    }
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = '{}'\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"json\"\n{body}",
            dir.path().join("data").display(),
            log.display()
        ),
    )
    .unwrap();
    let mut child = support::spawn(&["run", "--config", path.to_str().unwrap()]);
    let count = || -> usize {
        outputs
            .iter()
            .map(|n| support::lines(&dir.path().join(format!("{n}.ndjson"))).len())
            .sum()
    };
    let done = support::eventually(Duration::from_secs(20), || {
        (count() >= expect).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    support::signal(&child, "TERM");
    support::wait_exit(&mut child, Duration::from_secs(30));
    assert!(
        done.is_some(),
        "{} of {expect}\n{}",
        count(),
        support::stderr_text(&mut child)
    );
    outputs
        .iter()
        .map(|n| support::lines(&dir.path().join(format!("{n}.ndjson"))))
        .collect()
}

#[test]
fn route_sends_each_event_to_every_matching_route_and_the_rest_to_unmatched() {
    let lines: Vec<String> = [
        ("failure", "root"),
        ("success", "root"),
        ("failure", "bob"),
        ("success", "bob"),
    ]
    .iter()
    .map(|(o, u)| format!("{{\"event\":{{\"outcome\":\"{o}\"}},\"user\":{{\"name\":\"{u}\"}}}}"))
    .collect();
    let outs = run_pipeline(
        &lines,
        "[transforms.split]\ntype = \"route\"\ninputs = [\"in\"]\nroute.failures = '.event.outcome == \"failure\"'\nroute.admins = '.user.name == \"root\"'\n\
         [sinks.failures]\ntype = \"file\"\ninputs = [\"split.failures\"]\npath = 'OUT_failures'\n\
         [sinks.admins]\ntype = \"file\"\ninputs = [\"split.admins\"]\npath = 'OUT_admins'\n\
         [sinks.rest]\ntype = \"file\"\ninputs = [\"split._unmatched\"]\npath = 'OUT_rest'\n",
        &["failures", "admins", "rest"],
        5,
    );
    let users = |i: usize| -> Vec<String> {
        outs[i]
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!(
                    "{}/{}",
                    v["event"]["outcome"].as_str().unwrap(),
                    v["user"]["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(users(0), ["failure/root", "failure/bob"]);
    assert_eq!(users(1), ["failure/root", "success/root"]);
    assert_eq!(users(2), ["success/bob"]);
}

#[test]
fn a_chain_that_runs_on_several_cores_keeps_file_order_on_every_output() {
    // Enough lines for many chunks, so that chunks are transformed at the same time.
    let n = 40_000;
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let outcome = if i % 3 == 0 { "failure" } else { "success" };
            format!("{{\"seq\":{i},\"event\":{{\"outcome\":\"{outcome}\"}},\"user\":{{\"name\":\"user{}\"}},\"note\":\"{}\"}}", i % 50, "x".repeat(i % 700))
        })
        .collect();
    let outs = run_pipeline(
        &lines,
        "[transforms.r]\ntype = \"redact\"\ninputs = [\"in\"]\nfields = [\"user.name\"]\nmode = \"hmac\"\nkey = \"k\"\n\
         [transforms.e]\ntype = \"enrich\"\ninputs = [\"r\"]\nset = { \"labels.site\" = \"fra1\" }\n\
         [transforms.split]\ntype = \"route\"\ninputs = [\"e\"]\nroute.failures = '.event.outcome == \"failure\"'\n\
         [sinks.failures]\ntype = \"file\"\ninputs = [\"split.failures\"]\npath = 'OUT_failures'\n\
         [sinks.rest]\ntype = \"file\"\ninputs = [\"split._unmatched\"]\npath = 'OUT_rest'\n",
        &["failures", "rest"],
        n,
    );
    let seqs = |i: usize| -> Vec<u64> {
        outs[i]
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["labels"]["site"], "fra1", "{l}");
                v["seq"].as_u64().unwrap()
            })
            .collect()
    };
    let failures: Vec<u64> = (0..n as u64).filter(|i| i % 3 == 0).collect();
    let rest: Vec<u64> = (0..n as u64).filter(|i| i % 3 != 0).collect();
    assert!(seqs(0) == failures, "failures out of order or incomplete");
    assert!(seqs(1) == rest, "the rest out of order or incomplete");
}

#[test]
fn throttle_sends_the_excess_per_key_to_its_dropped_output() {
    let lines: Vec<String> = (0..10)
        .map(|i| {
            format!(
                "{{\"user\":{{\"name\":\"{}\"}},\"n\":{i}}}",
                if i < 7 { "noisy" } else { "quiet" }
            )
        })
        .collect();
    let outs = run_pipeline(
        &lines,
        "[transforms.limit]\ntype = \"throttle\"\ninputs = [\"in\"]\nkey_field = \"user.name\"\nthreshold = 3\nwindow = \"1h\"\n\
         [sinks.kept]\ntype = \"file\"\ninputs = [\"limit\"]\npath = 'OUT_kept'\n\
         [sinks.excess]\ntype = \"file\"\ninputs = [\"limit.dropped\"]\npath = 'OUT_excess'\n",
        &["kept", "excess"],
        10,
    );
    assert_eq!(outs[0].len(), 6, "3 noisy + 3 quiet");
    assert_eq!(outs[1].len(), 4, "the noisy user's excess");
    assert!(outs[1].iter().all(|l| l.contains("noisy")));
}

#[test]
fn an_output_nobody_reads_is_refused_before_anything_starts() {
    let err = refused("[sources.in]\ntype = \"file\"\ninclude = ['/tmp/none']\n[transforms.split]\ntype = \"route\"\ninputs = [\"in\"]\nroute.failures = '.event.outcome == \"failure\"'\n[transforms.limit]\ntype = \"throttle\"\ninputs = [\"in\"]\nthreshold = 5\nwindow = \"1m\"\n[sinks.out]\ntype = \"console\"\ninputs = [\"split.failures\", \"limit\"]\n");
    assert!(
        err.contains("output `split._unmatched` is read by no component"),
        "{err}"
    );
    assert!(
        err.contains("output `limit.dropped` is read by no component"),
        "{err}"
    );
}

#[test]
fn conditions_compare_numbers_match_regexes_and_test_sets() {
    let lines: Vec<String> = [
        (22, "root"),
        (443, "bob"),
        (8443, "svc-backup"),
        (80, "alice"),
    ]
    .iter()
    .map(|(p, u)| format!("{{\"source\":{{\"port\":{p}}},\"user\":{{\"name\":\"{u}\"}}}}"))
    .collect();
    let outs = run_pipeline(
        &lines,
        "[transforms.pick]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = '(.source.port >= 443 and .user.name matches \"^svc-\") or .user.name in [\"root\", \"nobody\"]'\n\
         [sinks.out]\ntype = \"file\"\ninputs = [\"pick\"]\npath = 'OUT_out'\n",
        &["out"],
        2,
    );
    let users: Vec<String> = outs[0]
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["user"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(users, ["root", "svc-backup"]);
}

#[test]
fn every_example_pipeline_carries_tests_and_they_pass() {
    let mut files: Vec<_> = std::fs::read_dir("pipelines")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("[[tests]]"),
            "{} has no [[tests]]",
            file.display()
        );
        let out = std::process::Command::new(support::binary())
            .args(["test", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {stdout}{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(" 0 failed"), "{stdout}");
    }
}

#[test]
fn a_failing_pipeline_test_names_the_condition_and_the_event_and_bad_references_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let pipeline = "[sources.in]\ntype = \"file\"\ninclude = ['/tmp/none']\nformat = \"json\"\n[transforms.split]\ntype = \"route\"\ninputs = [\"in\"]\nroute.admins = '.user.name == \"root\"'\n[sinks.a]\ntype = \"console\"\ninputs = [\"split.admins\", \"split._unmatched\"]\n";
    std::fs::write(
        &path,
        format!("{pipeline}[[tests]]\nname = \"bob is an admin\"\n[[tests.inputs]]\ninsert_at = \"in\"\nvalue = '{{\"user\":{{\"name\":\"bob\"}}}}'\n[[tests.outputs]]\nextract_from = \"split._unmatched\"\nconditions = ['.user.name == \"root\"']\n"),
    )
    .unwrap();
    let run = |path: &std::path::Path| {
        let out = std::process::Command::new(support::binary())
            .args(["test", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, text) = run(&path);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("test bob is an admin ... FAILED"), "{text}");
    assert!(
        text.contains("condition `.user.name == \"root\"` does not hold for {"),
        "{text}"
    );
    assert!(
        text.contains("\"name\":\"bob\""),
        "the event is shown: {text}"
    );
    std::fs::write(
        &path,
        format!("{pipeline}[[tests]]\nname = \"t\"\n[[tests.inputs]]\ninsert_at = \"nowhere\"\nvalue = '{{}}'\n[[tests.outputs]]\nextract_from = \"split.nothing\"\ncount = 0\n"),
    )
    .unwrap();
    let (code, text) = run(&path);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("insert_at `nowhere` is not a source"),
        "{text}"
    );
    assert!(
        text.contains("extract_from `split.nothing` is not an output"),
        "{text}"
    );
}

#[test]
fn remap_runs_a_vector_program_and_a_failing_one_tags_instead_of_dropping() {
    let lines: Vec<String> = vec![
        r#"{"user":{"name":"Alice"},"n":"7"}"#.into(),
        r#"{"user":{"name":"Bob"},"n":"not a number"}"#.into(),
    ];
    let outs = run_pipeline(
        &lines,
        "[transforms.fix]\ntype = \"remap\"\ninputs = [\"in\"]\nsource = '''\n.user.name = downcase(string!(.user.name))\n.labels.n = to_int!(.n)\ndel(.n)\n'''\n\
         [sinks.out]\ntype = \"file\"\ninputs = [\"fix\"]\npath = 'OUT_out'\n",
        &["out"],
        2,
    );
    let events: Vec<serde_json::Value> = outs[0]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["user"]["name"], "alice");
    assert_eq!(events[0]["labels"]["n"], 7);
    assert!(events[0]["n"].is_null());
    assert_eq!(
        events[1]["user"]["name"], "Bob",
        "a failed program leaves the event as it was"
    );
    assert!(events[1]["tags"].to_string().contains("remap_error"));
    assert!(events[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not a number"));
}

#[test]
fn a_vrl_program_that_does_not_compile_is_refused_with_vrls_diagnostic_and_the_line() {
    let err = refused("[sources.in]\ntype = \"file\"\ninclude = ['/tmp/none']\n\n[transforms.fix]\ntype = \"remap\"\ninputs = [\"in\"]\nsource = '.a = downcase(.b'\n[sinks.out]\ntype = \"console\"\ninputs = [\"fix\"]\n");
    assert!(
        err.contains("p.toml:8:") && err.contains("transforms.fix.source"),
        "{err}"
    );
    assert!(
        err.contains("does not compile") && err.contains("error["),
        "{err}"
    );
}

#[test]
fn detect_rules_that_cannot_be_used_are_refused_naming_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("brute.yml"), "title: x\n").unwrap();
    std::fs::write(
        dir.path().join("odd.toml"),
        "[[rule]]\nid = \"odd\"\nname = \"Odd\"\nkind = \"sometimes\"\ncondition = 'exists(.x)'\n",
    )
    .unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = '{0}/data'\n[sources.in]\ntype = \"file\"\ninclude = ['{0}/x.log']\n[transforms.alerts]\ntype = \"detect\"\ninputs = [\"in\"]\nrules = [\"builtin\", '{0}/*.yml', '{0}/*.toml']\nbusiness_hours = {{ days = \"Mon-Funday\", from = \"08:00\", to = \"18:00\" }}\n[sinks.out]\ntype = \"console\"\ninputs = [\"alerts\"]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut child = support::spawn(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(support::wait_exit(&mut child, Duration::from_secs(10)), 2);
    let err = support::stderr_text(&mut child);
    assert!(
        err.contains("brute.yml: rule `x`: needs an `id` (or a `name`)"),
        "{err}"
    );
    assert!(
        err.contains("odd.toml: kind: rule `odd`: unknown kind `sometimes`"),
        "{err}"
    );
    assert!(
        err.contains("business_hours.days: `Mon-Funday` is not a day"),
        "{err}"
    );
    assert!(
        err.contains("p.toml:"),
        "errors name the pipeline file and line: {err}"
    );
}
