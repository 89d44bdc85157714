//! How many heap bytes a parsed event holds beyond its line, as jemalloc counts them.
//! Usage: `cargo run --release --example event_memory -- dogtag FILE [LINES]` (a file of the
//! format's lines, such as `../shared/bench/gen_audit.py --kind tps` writes).

// The agent's allocator, so that the figures are the agent's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::BufRead as _;

/// Bytes allocated now (jemalloc's statistics are refreshed first).
fn allocated() -> usize {
    tikv_jemalloc_ctl::epoch::advance().expect("jemalloc epoch");
    tikv_jemalloc_ctl::stats::allocated::read().expect("jemalloc stats")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(format), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: event_memory FORMAT FILE [LINES]");
        std::process::exit(2);
    };
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let fmt = <auditship::parse::Format as clap::ValueEnum>::from_str(&format, true)
        .unwrap_or_else(|e| {
            eprintln!("unknown format {format}: {e}");
            std::process::exit(2);
        });
    let parser = auditship::parse::for_format(fmt, &auditship::parse::ParseOptions::default());
    let origin = auditship::event::Origin {
        path: Some(path.as_str().into()),
        ..Default::default()
    };
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .take(count)
        .map(|l| l.unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect();
    let n = lines.len().max(1);
    let text: usize = lines.iter().map(String::len).sum();
    let mut events = Vec::with_capacity(lines.len());
    let before = allocated();
    for line in lines {
        events.push(parser.parse(line, origin.clone(), 0));
    }
    let after = allocated();
    let mut document = Vec::new();
    for e in events.iter().take(1000) {
        e.write_json(&mut document);
    }
    println!(
        "{format}: {n} events of {} bytes of text each: {} heap bytes each beyond their lines \
         (the event itself is {} bytes, in a Vec of events); documents {} bytes",
        text / n,
        after.saturating_sub(before) / n,
        std::mem::size_of::<auditship::event::Event>(),
        document.len() / events.len().clamp(1, 1000)
    );
}
