//! gzip of ECS documents as a sink's batch bodies are compressed: 1,000 documents per body,
//! handed to the compressor in 64 KiB pieces. The baseline, measured in the same run, is
//! flate2's zlib-rs at level 1 (the compressor before ISA-L); the candidates are the sinks'
//! `Body` at levels 1 (the default) and 3 (ISA-L) and 6 (zlib-rs). Throughput is in
//! uncompressed bytes; each bench prints its compressed size once. A second group makes whole
//! bodies from parsed events, plain (the baseline) and gzip, and a plain body after a
//! compression, which shows whether the compressor slows the code that runs after it. A third
//! frees a batch's events after its body is made (the baseline) or each as it is written.

use std::hint::black_box;
use std::io::Write as _;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use auditship::encode::body::Body;
use auditship::event::Origin;
use auditship::parse::{self, Format, ParseOptions};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Documents per body: the network sinks' default `batch.max_events`.
const BATCH: usize = 1_000;
/// Bodies compressed per iteration.
const BODIES: usize = 8;

/// `BATCH * BODIES` ECS documents of TPS lines whose values vary as a real log's do.
fn documents() -> Vec<Vec<u8>> {
    events()
        .iter()
        .map(|event| {
            let mut doc = Vec::with_capacity(1200);
            event.write_json(&mut doc);
            doc.push(b'\n');
            doc
        })
        .collect()
}

/// The parsed events of [`documents`].
fn events() -> Vec<auditship::event::Event> {
    let options = ParseOptions {
        timezone: Some("UTC".into()),
        zones: vec![],
    };
    let parser = parse::for_format(Format::Dogtag, &options);
    let origin = Origin {
        source: Arc::from("bench"),
        path: Some(Arc::from(
            "/var/log/pki/pki-tomcat/tps/signedAudit/tps_audit",
        )),
        ..Origin::default()
    };
    let events = [
        ("TOKEN_AUTH_SUCCESS", "success", "[OP=format][tokenType=cleanToken][AppletVersion=1.1.b74d0fb1][AuthMgr=ldap1] token authentication success"),
        ("TOKEN_OP_REQUEST", "Success", "[OP=enroll] token processor op request made"),
        ("AUTHZ_SUCCESS", "SUCCESS", "[aclResource=certServer.tps.tokens][Op=read][Info=null] authorization success"),
        ("TOKEN_STATE_CHANGE", "success", "[oldState=FORMATTED][oldReason=null][newState=ACTIVE][newReason=null][Info=null] token state changed"),
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..BATCH * BODIES)
        .map(|i| {
            let r = next();
            let (kind, outcome, rest) = events[(r % 4) as usize];
            let line = format!(
                "0.http-bio-8443-exec-{} - [15/Feb/2016:16:{:02}:{:02} PST] [14] [6] [AuditEvent={kind}][IP=10.{}.{}.{}][SubjectID=user{}][CUID={:020X}][Outcome={outcome}]{rest}",
                r % 40,
                (i / 60) % 60,
                i % 60,
                (r >> 8) % 256,
                (r >> 16) % 256,
                (r >> 24) % 256,
                (r >> 32) % 5000,
                r >> 12,
            );
            parser.parse(line, origin.clone(), 0)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = documents();
    let bytes: usize = docs.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("gzip_bodies");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    // The baseline: zlib-rs level 1 in 64 KiB pieces, as `Body` wrote before ISA-L.
    let zlib = |docs: &[Vec<u8>]| -> usize {
        docs.chunks(BATCH)
            .map(|body| {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
                let mut piece = Vec::with_capacity(64 * 1024 + 4096);
                for doc in body {
                    piece.extend_from_slice(doc);
                    if piece.len() >= 64 * 1024 {
                        encoder.write_all(&piece).unwrap();
                        piece.clear();
                    }
                }
                encoder.write_all(&piece).unwrap();
                encoder.finish().unwrap().len()
            })
            .sum()
    };
    let with_body = |docs: &[Vec<u8>], level: u32| -> usize {
        docs.chunks(BATCH)
            .map(|batch| {
                let mut body = Body::new(true, Some(level), BATCH * 1100, Vec::new());
                for doc in batch {
                    body.buf().extend_from_slice(doc);
                    body.wrote().unwrap();
                }
                body.finish().unwrap().len()
            })
            .sum()
    };
    // Per mille of the input, in integers.
    let share = |out: usize| format!("{}‰ of the input", out * 1000 / bytes);
    println!("baseline zlib-rs level 1: {}", share(zlib(&docs)));
    for level in [0, 1, 3, 6] {
        println!("Body level {level}: {}", share(with_body(&docs, level)));
    }
    group.bench_function("baseline_zlib_rs_level_1", |b| {
        b.iter(|| black_box(zlib(&docs)));
    });
    group.bench_function("body_level_0_isal", |b| {
        b.iter(|| black_box(with_body(&docs, 0)));
    });
    group.bench_function("body_level_1_isal", |b| {
        b.iter(|| black_box(with_body(&docs, 1)));
    });
    group.bench_function("body_level_3_isal", |b| {
        b.iter(|| black_box(with_body(&docs, 3)));
    });
    group.bench_function("body_level_6_zlib_rs", |b| {
        b.iter(|| black_box(with_body(&docs, 6)));
    });
    group.finish();

    // The whole of a body's making, from parsed events (8,000 of them, about 20 MB: not in
    // the caches, as in the agent): written as ndjson into a plain body (the baseline) and
    // into a gzip body at the default level. The difference is what gzip costs a sink.
    let events = events();
    let mut group = c.benchmark_group("bodies_from_events");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(20);
    let make = |events: &[auditship::event::Event], gzip: bool| -> usize {
        events
            .chunks(BATCH)
            .map(|batch| {
                let mut body = Body::new(gzip, None, BATCH * 1100, Vec::new());
                for event in batch {
                    auditship::encode::ndjson::line(event, body.buf());
                    body.wrote().unwrap();
                }
                body.finish().unwrap().len()
            })
            .sum()
    };
    group.bench_function("baseline_plain", |b| {
        b.iter(|| black_box(make(&events, false)));
    });
    group.bench_function("gzip_level_1", |b| {
        b.iter(|| black_box(make(&events, true)));
    });
    // A plain body after 64 KiB of other data were compressed: as fast as the baseline when
    // nothing the compressor leaves behind slows the code after it (see `Body`'s
    // `clear_vector_upper_state`).
    let fixed: Vec<u8> = documents().concat()[..64 * 1024].to_vec();
    let plain_and_other_gzip = |events: &[auditship::event::Event]| -> usize {
        events
            .chunks(BATCH)
            .map(|batch| {
                let mut plain = Vec::with_capacity(BATCH * 1100);
                for event in batch {
                    auditship::encode::ndjson::line(event, &mut plain);
                }
                let mut body = Body::new(true, None, fixed.len(), Vec::new());
                body.buf().extend_from_slice(&fixed);
                body.wrote().unwrap();
                body.finish().unwrap().len() + plain.len()
            })
            .sum()
    };
    group.bench_function("plain_after_compressing_64k", |b| {
        b.iter(|| black_box(plain_and_other_gzip(&events)));
    });
    group.finish();
}

/// When a batch's events are let go of: all at once after the body is made (the baseline), or
/// each once it is written, while its memory is still in the cache. Each iteration copies the
/// events first, on another thread (in the agent, the worker that parsed a batch is often not
/// the one that encodes it).
fn freeing(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("freeing_events");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(20);
    let free = |events: &[auditship::event::Event], as_written: bool| -> usize {
        events
            .chunks(BATCH)
            .map(|batch| {
                let batch =
                    std::thread::scope(|s| s.spawn(|| batch.to_vec()).join()).unwrap_or_default();
                let mut body = Body::new(true, None, BATCH * 1100, Vec::new());
                if as_written {
                    for event in batch {
                        auditship::encode::ndjson::line(&event, body.buf());
                        body.wrote().unwrap();
                    }
                } else {
                    for event in &batch {
                        auditship::encode::ndjson::line(event, body.buf());
                        body.wrote().unwrap();
                    }
                    drop(batch);
                }
                body.finish().unwrap().len()
            })
            .sum()
    };
    group.bench_function("baseline_after_the_body", |b| {
        b.iter(|| black_box(free(&events, false)));
    });
    group.bench_function("as_written", |b| {
        b.iter(|| black_box(free(&events, true)));
    });
    group.finish();
}

criterion_group!(benches, bench, freeing);
criterion_main!(benches);
