//! Hash-chained events: the canonical form an event is hashed in, the link from one event to
//! the next, and `auditship verify-chain` over exported events.
//!
//! Each stream (one tailed file of one source) is a chain: event `n` carries
//! `auditship.chain.seq = n` (from 1, gap-free) and
//! `auditship.chain.hash = hex(SHA-256(hash(n-1) ‖ 0x0A ‖ canonical(n)))`, where `hash(0)` is
//! empty. The canonical form is the event's JSON document without `auditship.chain` and
//! `event.created` (and without `@timestamp` when it equals `event.created`: then it is the
//! read time, not the record's), object keys sorted by their UTF-8 bytes, no whitespace,
//! strings and numbers as `serde_json` writes them. A re-read after a restart therefore
//! hashes to the same value.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// The canonical bytes of `doc` (see the module documentation).
#[must_use]
pub fn canonical(doc: &serde_json::Value) -> Vec<u8> {
    let mut doc = doc.clone();
    if let Some(top) = doc.as_object_mut() {
        if let Some(auditship) = top.get_mut("auditship").and_then(|a| a.as_object_mut()) {
            auditship.remove("chain");
            if auditship.is_empty() {
                top.remove("auditship");
            }
        }
        let created = top
            .get_mut("event")
            .and_then(|e| e.as_object_mut())
            .and_then(|e| e.remove("created"));
        if created.is_some() && top.get("@timestamp") == created.as_ref() {
            top.remove("@timestamp");
        }
        if top
            .get("event")
            .and_then(|e| e.as_object())
            .is_some_and(serde_json::Map::is_empty)
        {
            top.remove("event");
        }
    }
    let mut out = Vec::with_capacity(512);
    write_sorted(&doc, &mut out);
    out
}

fn write_sorted(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&str, &serde_json::Value> =
                map.iter().map(|(k, v)| (k.as_str(), v)).collect();
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                write_sorted(v, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_sorted(v, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// The hash of the event whose canonical form is `canonical`, after the event hashed `prev`.
#[must_use]
pub fn link(prev: &str, canonical: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(b"\n");
    ctx.update(canonical);
    let digest = ctx.finish();
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// One exported event of a chain.
#[derive(Debug)]
struct Link {
    at: super::dogtag::Location,
    seq: u64,
    hash: String,
    canonical: Vec<u8>,
}

/// What `verify-chain` found: findings as `verify` reports them.
#[derive(Debug, Default, serde::Serialize)]
pub struct ChainReport {
    /// Streams (chains) seen.
    pub streams: usize,
    /// Events whose link verified.
    pub verified: u64,
    /// Copies of an event already seen (same seq, same content: sent again, at-least-once).
    pub resent: u64,
    /// `deleted`, `edited`, `inserted`, `reordered`, `unchained`.
    pub failures: Vec<ChainFinding>,
    /// `partial-start` (the export begins after seq 1).
    pub warnings: Vec<ChainFinding>,
}

/// One finding of `verify-chain`.
#[derive(Debug, serde::Serialize)]
pub struct ChainFinding {
    /// The file, as given.
    pub file: String,
    /// 1-based line in that file.
    pub line: u64,
    /// What kind.
    pub kind: &'static str,
    /// The chain.
    pub stream: String,
    /// The sequence number concerned.
    pub seq: u64,
    /// What it means.
    pub detail: String,
}

impl ChainReport {
    /// 0 all good, 2 any failure.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        if self.failures.is_empty() {
            0
        } else {
            2
        }
    }

    fn add(
        list: &mut Vec<ChainFinding>,
        at: &super::dogtag::Location,
        kind: &'static str,
        stream: &str,
        seq: u64,
        detail: String,
    ) {
        list.push(ChainFinding {
            file: at.file.clone(),
            line: at.line,
            kind,
            stream: stream.to_owned(),
            seq,
            detail,
        });
    }
}

/// Checks the chains in `files` (name shown, NDJSON text), in any order.
#[must_use]
pub fn verify_chain(files: &[(String, String)]) -> ChainReport {
    let mut report = ChainReport::default();
    let mut streams: HashMap<String, Vec<Link>> = HashMap::new();
    for (name, text) in files {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = super::dogtag::Location {
                file: name.clone(),
                line: i as u64 + 1,
            };
            let doc: Option<serde_json::Value> = serde_json::from_str(line).ok();
            let chain = doc.as_ref().and_then(|d| d.pointer("/auditship/chain"));
            let fields = chain.and_then(|c| {
                Some((
                    c.get("stream")?.as_str()?.to_owned(),
                    c.get("seq")?.as_u64()?,
                    c.get("hash")?.as_str()?.to_owned(),
                ))
            });
            let (Some(doc), Some((stream, seq, hash))) = (doc, fields) else {
                ChainReport::add(&mut report.failures, &at, "unchained", "", 0, "an event without a complete auditship.chain (stream, seq, hash): inserted, or not from a chained pipeline".into());
                continue;
            };
            streams.entry(stream).or_default().push(Link {
                at,
                seq,
                hash,
                canonical: canonical(&doc),
            });
        }
    }
    report.streams = streams.len();
    let mut names: Vec<&String> = streams.keys().collect();
    names.sort();
    for name in names {
        check_stream(name, &streams[name], &mut report);
    }
    report
}

/// One stream: duplicates, gaps, and each link.
fn check_stream(stream: &str, links: &[Link], report: &mut ChainReport) {
    let mut by_seq: BTreeMap<u64, Vec<&Link>> = BTreeMap::new();
    for l in links {
        by_seq.entry(l.seq).or_default().push(l);
    }
    // The copy that stands for each seq: the first whose own hash is consistent with a copy
    // of the seq before it, else the first.
    let mut chosen: BTreeMap<u64, &Link> = BTreeMap::new();
    for (seq, copies) in &by_seq {
        let first = copies[0];
        for other in &copies[1..] {
            if other.canonical == first.canonical && other.hash == first.hash {
                report.resent += 1;
            } else {
                ChainReport::add(
                    &mut report.failures,
                    &other.at,
                    "inserted",
                    stream,
                    *seq,
                    format!(
                        "a second, different event with seq {seq} (the other is at {}:{})",
                        first.at.file, first.at.line
                    ),
                );
            }
        }
        chosen.insert(*seq, first);
    }
    let Some((&first_seq, _)) = chosen.first_key_value() else {
        return;
    };
    if first_seq > 1 {
        let at = &chosen[&first_seq].at;
        ChainReport::add(&mut report.warnings, at, "partial-start", stream, first_seq, format!("the export starts at seq {first_seq}: the link of its first event cannot be checked"));
    }
    // Each event's place as it was chained: after the event labelled one less (in place),
    // after another event (moved), first (seq 1), or unknown (after a gap, or edited).
    let mut after: BTreeMap<u64, Place> = BTreeMap::new();
    let mut prev: Option<u64> = None;
    for (&seq, &ev) in &chosen {
        if let Some(p) = prev {
            if seq > p + 1 {
                let missing = if seq == p + 2 {
                    format!("seq {} is missing", p + 1)
                } else {
                    format!("seqs {} to {} are missing", p + 1, seq - 1)
                };
                ChainReport::add(
                    &mut report.failures,
                    &ev.at,
                    "deleted",
                    stream,
                    p + 1,
                    format!("{missing}: events were removed"),
                );
            }
        }
        prev = Some(seq);
        let place = if seq == 1 && link("", &ev.canonical) == ev.hash {
            Place::First
        } else if chosen
            .get(&(seq.wrapping_sub(1)))
            .is_some_and(|p| link(&p.hash, &ev.canonical) == ev.hash)
        {
            Place::After(seq - 1)
        } else if seq > 1 && !chosen.contains_key(&(seq - 1)) {
            Place::Unknown
        } else if let Some(other) = chosen
            .values()
            .find(|o| o.seq != seq && link(&o.hash, &ev.canonical) == ev.hash)
        {
            Place::After(other.seq)
        } else {
            ChainReport::add(&mut report.failures, &ev.at, "edited", stream, seq, "the event does not hash to its auditship.chain.hash after its predecessor: its content (or its hash) was changed".into());
            Place::Unknown
        };
        after.insert(seq, place);
    }
    // Where each event was when chained; those whose label differs were moved.
    let mut memo: HashMap<u64, Option<u64>> = HashMap::new();
    for (&seq, &ev) in &chosen {
        match original_seq(seq, &after, &mut memo, 0) {
            Some(orig) if orig != seq => ChainReport::add(
                &mut report.failures,
                &ev.at,
                "reordered",
                stream,
                seq,
                format!("this event was chained as seq {orig}"),
            ),
            _ if matches!(after.get(&seq), Some(Place::After(_) | Place::First)) => {
                report.verified += 1;
            }
            _ => {}
        }
    }
}

/// Where an event was chained.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// Seq 1 of its chain.
    First,
    /// Right after the event now labelled so.
    After(u64),
    /// Not known: the event before it is missing, or it was edited.
    Unknown,
}

/// The seq the event now labelled `seq` had when it was chained (`None`: unknown; an event
/// after a gap keeps its label).
fn original_seq(
    seq: u64,
    after: &BTreeMap<u64, Place>,
    memo: &mut HashMap<u64, Option<u64>>,
    depth: usize,
) -> Option<u64> {
    if let Some(known) = memo.get(&seq) {
        return *known;
    }
    // Bounded: a chain of moved events longer than this is reported by its labels.
    if depth > 10_000 {
        return None;
    }
    let orig = match after.get(&seq)? {
        Place::First => Some(1),
        Place::Unknown => Some(seq),
        Place::After(p) if *p + 1 == seq => {
            // In place after its predecessor; the predecessor's own place decides the rest.
            original_seq(*p, after, memo, depth + 1).map(|o| o + 1)
        }
        Place::After(p) => original_seq(*p, after, memo, depth + 1).map(|o| o + 1),
    };
    memo.insert(seq, orig);
    orig
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_sorts_keys_and_leaves_out_the_chain_and_the_read_time() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1,"@timestamp":"T","event":{"created":"T","action":"x"},"auditship":{"chain":{"seq":3}},"a":[{"z":1,"y":2}]}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical(&a)).unwrap(),
            r#"{"a":[{"y":2,"z":1}],"b":1,"event":{"action":"x"}}"#
        );
        let own_time: serde_json::Value =
            serde_json::from_str(r#"{"@timestamp":"R","event":{"created":"T"}}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical(&own_time)).unwrap(),
            r#"{"@timestamp":"R"}"#
        );
    }
}
