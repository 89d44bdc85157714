//! Live verification of a Dogtag signed audit log while it is tailed (`verify_signatures` on a
//! `dogtag` file source).
//!
//! Per file, the records after the last signing record are held until the next one arrives,
//! then released tagged with the verdict of that signature: `audit_signature_verified`,
//! `audit_signature_invalid` (with an alert event, `rule.id: audit_signature_invalid`),
//! or `audit_signature_unsigned` (a crash restart left them unsigned, with a warning event).
//! When reading resumes inside a file (a restart), the segment under way is rebuilt from the
//! file's own bytes before the checkpoint, so the chain continues. Records before a file's
//! first signing record (none in a file Dogtag rotated: it opens with one), whose signature
//! lies outside what this gate hashed, are tagged `audit_signature_unverified`. Records held
//! longer than `unsigned_after` without a signature (the writer stopped, or the file was
//! rotated away) are released tagged `audit_signature_unsigned` with a warning event; at
//! shutdown, held records go out tagged `audit_signature_pending`.

use std::sync::Arc;

use super::cert::SigningKey;
use super::dogtag::{decode_signature, signing_record, Segment, Verdict, MAX_SEGMENT_BYTES};
use crate::event::{Event, Text, Value};
use crate::parse::Sequencer;

/// Verifies one file's signature chain and holds records until their signature arrives.
pub struct SignatureGate {
    key: Arc<SigningKey>,
    unsigned_after_ms: i64,
    segment: Segment,
    held: Vec<Event>,
    /// When the first held record arrived ([`crate::time::monotonic_ms`]).
    held_since: i64,
    /// Whether the bytes before the first record read this run were looked at.
    resumed: bool,
}

impl SignatureGate {
    /// A gate for a file whose chain is checked with `key`.
    #[must_use]
    pub fn new(key: Arc<SigningKey>, unsigned_after_ms: i64) -> Self {
        Self {
            key,
            unsigned_after_ms,
            segment: Segment::default(),
            held: Vec::new(),
            held_since: 0,
            resumed: false,
        }
    }

    /// Reading starts at `offset` of `path` (a checkpoint): the tailed file is the durable
    /// buffer, so the segment under way is rebuilt from its bytes: from the last signing
    /// record before `offset` (looked for in at most [`MAX_SEGMENT_BYTES`]) up to `offset`.
    /// Without one there (a rotation just before), the first signature read speaks for
    /// nothing this run can check.
    fn resume(&mut self, path: &str, offset: u64) {
        use std::io::{Read as _, Seek as _};
        if offset == 0 {
            return;
        }
        let from = offset.saturating_sub(MAX_SEGMENT_BYTES as u64);
        let mut bytes = Vec::new();
        let read = std::fs::File::open(path).and_then(|mut f| {
            f.seek(std::io::SeekFrom::Start(from))?;
            f.take(offset - from).read_to_end(&mut bytes)
        });
        if read.is_err() || bytes.len() as u64 != offset - from {
            return;
        }
        let lines: Vec<&[u8]> = bytes
            .strip_suffix(b"\n")
            .unwrap_or(&bytes)
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect();
        // The first line may be cut when reading started mid-file: never taken as a record.
        let skip = usize::from(from > 0);
        let Some(at) = lines
            .iter()
            .enumerate()
            .skip(skip)
            .rev()
            .find(|(_, l)| signing_record(l).is_some())
            .map(|(i, _)| i)
        else {
            return;
        };
        self.segment.restart_at(lines[at]);
        for line in &lines[at + 1..] {
            self.segment.feed(line);
        }
        if let Some(marker) = lines[skip..]
            .iter()
            .rev()
            .find(|l| memchr::memmem::find(l, b"AUDIT_LOG_SIGNING").is_some())
        {
            self.segment.last_marker_line = marker.to_vec();
        }
    }

    /// Releases the held records tagged `tag`.
    fn release(&mut self, tag: &'static str, out: &mut Vec<Event>) {
        for mut event in self.held.drain(..) {
            event.add_tag(tag);
            out.push(event);
        }
    }

    /// The verdict of the signature in `sig_event` (whose line is `line`, signature text
    /// `text`) on the held records.
    fn signature(&mut self, sig_event: &Event, line: &[u8], text: &[u8], out: &mut Vec<Event>) {
        let decoded = decode_signature(text).unwrap_or_default();
        let records = self.held.len();
        let range = match (self.held.first(), self.held.last()) {
            (Some(a), Some(b)) => format!("bytes {} to {}", a.origin.offset, b.origin.end),
            _ => "no records".to_owned(),
        };
        let verdict = if self.segment.started {
            self.segment.verdict(&self.key, &decoded, records > 0)
        } else {
            // What the first signature read this run covers is not known here.
            self.release("audit_signature_unverified", out);
            self.segment.restart_at(line);
            return;
        };
        match verdict {
            Verdict::Verified => self.release("audit_signature_verified", out),
            Verdict::Gap => {
                out.push(finding(
                    sig_event,
                    "event",
                    "audit_signature_unsigned_gap",
                    "audit-log-unsigned-gap",
                    format!("{records} records ({range}) were never signed: the writer restarted before signing them (a crash, not evidence of tampering)"),
                ));
                self.release("audit_signature_unsigned", out);
            }
            Verdict::Spoof => self.release("audit_signature_unsigned", out),
            Verdict::Invalid => {
                out.push(finding(
                    sig_event,
                    "alert",
                    "audit_signature_invalid",
                    "audit-log-verification-failed",
                    format!("the signature at byte {} does not verify {records} records ({range}) of {}: records were changed, removed or inserted", sig_event.origin.offset, sig_event.origin.path.as_deref().unwrap_or("?")),
                ));
                self.release("audit_signature_invalid", out);
            }
        }
        self.segment.restart_at(line);
    }
}

/// An event the verifier reports (an alert for a failure, an event for a warning).
fn finding(
    at: &Event,
    kind: &'static str,
    rule: &'static str,
    action: &'static str,
    message: String,
) -> Event {
    let mut e = Event::new(String::new(), at.origin.clone(), at.created);
    e.set_str("message", &message);
    e.set_original(message);
    e.set("event.kind", Value::Str(Text::Static(kind)));
    e.set("event.category", Value::Names(&["process"]));
    e.set("event.type", Value::Names(&["info"]));
    e.set("event.action", Value::Str(Text::Static(action)));
    e.set(
        "event.outcome",
        Value::Str(Text::Static(if kind == "alert" {
            "failure"
        } else {
            "unknown"
        })),
    );
    e.set("rule.id", Value::Str(Text::Static(rule)));
    e
}

impl Sequencer for SignatureGate {
    fn push(&mut self, mut event: Event, out: &mut Vec<Event>) {
        let Some(raw) = event.group_key.take() else {
            out.push(event);
            return;
        };
        if !self.resumed {
            self.resumed = true;
            if let Some(path) = event.origin.path.clone() {
                self.resume(&path, event.origin.offset);
            }
        }
        let line = raw.as_bytes();
        let marked = memchr::memmem::find(line, b"AUDIT_LOG_SIGNING").is_some();
        if let Some(text) = signing_record(line) {
            self.signature(&event, line, text, out);
            out.push(event);
        } else {
            if marked {
                event.add_tag("audit_signature_marker_in_data");
            }
            self.segment.feed(line);
            if self.held.is_empty() {
                self.held_since = crate::time::monotonic_ms();
            }
            self.held.push(event);
        }
        if marked {
            self.segment.last_marker_line = line.to_vec();
        }
    }

    fn flush(&mut self, now_ms: i64, force: bool, out: &mut Vec<Event>) {
        if self.held.is_empty() {
            return;
        }
        if force {
            self.release("audit_signature_pending", out);
        } else if now_ms - self.held_since >= self.unsigned_after_ms {
            let first = &self.held[0];
            out.push(finding(
                first,
                "event",
                "audit_signature_unsigned_tail",
                "audit-log-unsigned-tail",
                format!(
                    "{} records from byte {} of {} were not signed within {} s (the writer stopped, or the file was rotated away)",
                    self.held.len(),
                    first.origin.offset,
                    first.origin.path.as_deref().unwrap_or("?"),
                    self.unsigned_after_ms / 1000
                ),
            ));
            self.release("audit_signature_unsigned", out);
        }
    }

    fn oldest_held(&self) -> Option<u64> {
        self.held.first().map(|e| e.origin.offset)
    }
}
