//! Reader throughput from memory (page cache stands in): line framing of 300-byte lines, read
//! in 128 KiB pieces as the file source does. The baseline, measured in the same run, is a
//! bare newline count (`memchr`) over the same bytes: the floor any line reader must pay.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use auditship::source::lines::LineSplitter;

const READ: usize = 128 * 1024;

fn data() -> Vec<u8> {
    let mut line = String::from(
        "0.https-jsse-nio-8443-exec-4 - [12/Jan/2025:08:15:02 CET] [14] [6] [AuditEvent=AUTH][SubjectID=$Unidentified$][Outcome=Failure][AuthMgr=passwdUserDBAuthMgr][AttemptedCred=m.ortiz] authentication failure ",
    );
    while line.len() < 299 {
        line.push('x');
    }
    line.push('\n');
    assert_eq!(line.len(), 300);
    line.repeat(64 * 1024 * 1024 / 300).into_bytes()
}

fn reader(c: &mut Criterion) {
    let bytes = data();
    let mut group = c.benchmark_group("reader");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(10);
    group.bench_function("baseline_memchr_count", |b| {
        b.iter(|| {
            bytes
                .chunks(READ)
                .map(|piece| memchr::memchr_iter(b'\n', piece).count())
                .sum::<usize>()
        });
    });
    group.bench_function("line_splitter_300b", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            let mut splitter = LineSplitter::new(0, 1024 * 1024);
            let mut lines = 0;
            for piece in bytes.chunks(READ) {
                splitter.feed(piece, &mut out);
                lines += out.len();
                out.clear();
            }
            lines
        });
    });
    group.finish();
}

criterion_group!(benches, reader);
criterion_main!(benches);
