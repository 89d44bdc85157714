//! Transform cost, one core: Dogtag TPS lines parsed, transformed and written as ECS JSON, per
//! event. The baseline, measured in the same run, is `filter` alone; the rows are
//! `redact` + `enrich` + `route` (the goal: ≤ 15 % over the baseline) and a
//! five-statement `remap` (VRL), and `detect` with the built-in rule pack.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use auditship::chunk::EventChunk;
use auditship::config::Kind;
use auditship::event::Origin;
use auditship::parse::{self, Format, ParseOptions};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const LINES: usize = 1_000;

fn lines() -> Vec<String> {
    (0..LINES)
        .map(|i| format!("0.http-bio-8080-exec-{} - [12/Jan/2025:08:20:{:02} CET] [14] [6] [AuditEvent=TOKEN_PIN_RESET][IP=10.30.1.{}][SubjectID=user{}][CUID=40906145C7622419AA01][Outcome={}][tokenType=userKey][AppletVersion=1.4.58768072][Info=pin reset for user{}@corp.test] token op pin reset", i % 16, i % 60, i % 250, i % 40, if i % 3 == 0 { "Failure" } else { "Success" }, i % 40))
        .collect()
}

/// The plan of one scenario: a Dogtag source, `transforms`, and a console sink reading
/// `outputs` (the scenario's last outputs).
fn plan(transforms: &str, outputs: &str, dir: &std::path::Path) -> auditship::config::Plan {
    let mut csv = "username,department\n".to_owned();
    for i in 0..40 {
        let _ = writeln!(csv, "user{i},dept{}", i % 5);
    }
    std::fs::write(dir.join("users.csv"), csv).unwrap();
    let text = format!(
        "[sources.in]\ntype = \"file\"\ninclude = ['/tmp/none']\nformat = \"dogtag\"\n{}\n[sinks.out]\ntype = \"console\"\ninputs = [{outputs}]\n",
        transforms.replace("DIR", &dir.display().to_string())
    );
    auditship::config::load_str(std::path::Path::new("bench.toml"), &text).unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("auditship-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenarios = [
        (
            "baseline_filter",
            "\"last\"",
            "[transforms.last]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = 'exists(.event.action)'\n",
        ),
        (
            "redact_enrich_route",
            "\"last.a\", \"last._unmatched\"",
            "[transforms.r]\ntype = \"redact\"\ninputs = [\"in\"]\nfields = [\"user.name\"]\npatterns = [\"email\"]\nmode = \"hmac\"\nkey = \"k\"\n\
             [transforms.e]\ntype = \"enrich\"\ninputs = [\"r\"]\nset = { \"labels.site\" = \"fra1\" }\n\
             [[transforms.e.lookup]]\nfile = 'DIR/users.csv'\nmatch = { username = \"user.name\" }\nadd = { department = \"labels.department\" }\n\
             [transforms.last]\ntype = \"route\"\ninputs = [\"e\"]\nroute.a = '.event.outcome == \"failure\"'\n",
        ),
        (
            "remap_5_statements",
            "\"last\"",
            "[transforms.last]\ntype = \"remap\"\ninputs = [\"in\"]\nsource = '''\n.user.name = downcase(string!(.user.name))\n.labels.site = \"fra1\"\ndel(.dogtag.params_raw)\nif .event.outcome == \"failure\" { .labels.alert = true }\n.labels.token = upcase(string(.dogtag.token.type) ?? \"none\")\n'''\n",
        ),
        (
            "detect_builtin",
            "\"last\"",
            "[transforms.last]\ntype = \"detect\"\ninputs = [\"in\"]\n",
        ),
    ];
    let options = ParseOptions::default();
    let parser = parse::for_format(Format::Dogtag, &options);
    let origin = Origin {
        source: Arc::from("bench"),
        path: Some(Arc::from("/var/log/pki/tps/tps_audit")),
        ..Origin::default()
    };
    let input = lines();
    let mut group = c.benchmark_group("transforms");
    group.throughput(Throughput::Elements(LINES as u64));
    group.sample_size(20);
    for (name, outputs, transforms) in scenarios {
        let plan = plan(transforms, outputs, &dir);
        let mut steps: Vec<Box<dyn auditship::transform::Transform>> = plan
            .components
            .iter()
            .filter_map(|c| match &c.kind {
                Kind::Transform(t) => Some(t.build()),
                _ => None,
            })
            .collect();
        let mut buf = Vec::with_capacity(4 << 20);
        group.bench_function(name, |b| {
            b.iter_batched(
                || input.clone(),
                |lines| {
                    buf.clear();
                    let events = lines
                        .into_iter()
                        .map(|l| parser.parse(l, origin.clone(), 0))
                        .collect();
                    let mut chunks = vec![EventChunk::new(events, auditship::ack::Acks::none())];
                    for step in &mut steps {
                        chunks = chunks.into_iter().flat_map(|c| step.split(c)).collect();
                    }
                    for chunk in chunks {
                        for e in &chunk.events {
                            e.write_json(&mut buf);
                            buf.push(b'\n');
                        }
                    }
                    black_box(buf.len())
                },
                criterion::BatchSize::LargeInput,
            );
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
