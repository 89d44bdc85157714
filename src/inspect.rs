//! `auditship parse`: reads whole files (or stdin) offline and prints one ECS JSON object per
//! event, each with `log.file.path` and `log.offset`, in file order.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use crate::event::{Event, Origin};
use crate::parse::Parser;
use crate::source::lines::{LineSplitter, Record, RecordJoiner};

/// Frames `bytes` into records the way the file source does (a last line without LF is
/// included, flagged partial).
#[must_use]
pub fn records(bytes: &[u8], parser: &dyn Parser, max_line_bytes: usize) -> Vec<Record> {
    let mut splitter = LineSplitter::new(0, max_line_bytes);
    let mut lines = Vec::new();
    splitter.feed(bytes, &mut lines);
    if let Some(last) = splitter.take_partial() {
        lines.push(last);
    }
    if !parser.joins_lines() {
        return lines;
    }
    let mut joiner = RecordJoiner::default();
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        joiner.push_parsed(line, parser, &mut out);
    }
    joiner.flush(&mut out);
    out
}

/// Parses `bytes` read from `path` and writes ECS JSON lines to `out`.
pub fn parse_to(
    bytes: &[u8],
    path: &str,
    parser: &dyn Parser,
    out: &mut impl Write,
) -> std::io::Result<usize> {
    parse_to_at(bytes, path, parser, out, crate::time::now_ms())
}

/// [`parse_to`] with a fixed read time (`event.created`), for reproducible output.
pub fn parse_to_at(
    bytes: &[u8],
    path: &str,
    parser: &dyn Parser,
    out: &mut impl Write,
    created: i64,
) -> std::io::Result<usize> {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut emitted = 0;
    each_event(bytes, "parse", path, parser, created, |ready| {
        emitted += write_events(ready, &mut buf);
        if buf.len() > 60 * 1024 {
            out.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    out.write_all(&buf)?;
    out.flush()?;
    Ok(emitted)
}

/// Frames and parses `bytes` (read from `path`) into events, in file order, with held
/// records (multi-record auditd events) released at the end.
#[must_use]
pub fn parse_events(bytes: &[u8], path: &str, parser: &dyn Parser, created: i64) -> Vec<Event> {
    let mut all = Vec::new();
    let _ = each_event(bytes, "test", path, parser, created, |ready| {
        all.append(ready);
        Ok(())
    });
    all
}

/// Frames and parses `bytes`, handing the events that are complete to `take` as they come
/// (it drains them), and at the end those held for grouping.
fn each_event(
    bytes: &[u8],
    source: &str,
    path: &str,
    parser: &dyn Parser,
    created: i64,
    mut take: impl FnMut(&mut Vec<Event>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let source: Arc<str> = Arc::from(source);
    let path: Arc<str> = Arc::from(path);
    let mut sequencer = parser.sequencer();
    let mut ready = Vec::new();
    // Events come out in file order: one that completes before an earlier-starting one still
    // held (an auditd event waiting for its last record) waits for it.
    let mut waiting: Vec<Event> = Vec::new();
    let mut release = |ready: &mut Vec<Event>, held: Option<u64>| {
        waiting.append(ready);
        waiting.sort_by_key(|e| e.origin.offset);
        let n = held.map_or(waiting.len(), |h| {
            waiting.partition_point(|e| e.origin.offset < h)
        });
        ready.extend(waiting.drain(..n));
    };
    for record in records(bytes, parser, 1024 * 1024) {
        if crate::source::parallel::is_blank(&record.text) {
            continue;
        }
        let origin = Origin {
            source: source.clone(),
            path: Some(path.clone()),
            file_id: 0,
            offset: record.offset,
            end: record.end,
        };
        let event = crate::source::parallel::parse_record(parser, record, origin, created);
        match sequencer.as_mut() {
            Some(s) => {
                s.push(event, &mut ready);
                release(&mut ready, s.oldest_held());
            }
            None => ready.push(event),
        }
        take(&mut ready)?;
    }
    if let Some(s) = sequencer.as_mut() {
        s.flush(created, true, &mut ready);
        release(&mut ready, None);
    }
    take(&mut ready)
}

/// Writes (and drains) `events` as ECS JSON lines; returns how many.
fn write_events(events: &mut Vec<Event>, buf: &mut Vec<u8>) -> usize {
    let n = events.len();
    for event in events.drain(..) {
        event.write_json(buf);
        buf.push(b'\n');
    }
    n
}

/// Reads `path` (or stdin for `-`) whole.
pub fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(path)
    }
}

/// Frames, parses and serialises arbitrary `bytes` as `format` with default options; returns
/// the bytes of ECS JSON written. The entry point of the fuzz targets (`fuzz/`).
#[must_use]
pub fn exercise(format: crate::parse::Format, bytes: &[u8]) -> usize {
    let options = crate::parse::ParseOptions {
        timezone: Some("Europe/Berlin".to_owned()),
        zones: Vec::new(),
    };
    let parser = crate::parse::for_format(format, &options);
    let mut out = Vec::new();
    match parse_to_at(bytes, "fuzz", &*parser, &mut out, 0) {
        Ok(_) => out.len(),
        Err(_) => 0,
    }
}

/// For the `keycloak_json` fuzz target: what the Keycloak parser's one-pass reader of plain
/// JSON lines reads, `serde_json` must read the same (`src/parse/keycloak_json.rs`).
///
/// # Panics
/// When the two differ.
pub fn check_keycloak_json_reader(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        crate::parse::keycloak_json::check_against_serde(text);
    }
}

/// For the `json_reader` fuzz target: the parsers' one-pass JSON reader must judge `bytes` as
/// `serde_json` does (a key twice counting as malformed) and read the same values.
///
/// # Panics
/// When the two differ.
pub fn check_json_reader(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        crate::parse::tape::check_against_serde(text);
    }
}
