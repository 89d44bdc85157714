//! Verifying the signature chain of Dogtag's signed audit log (see `SIGNED-AUDIT.md`).
//!
//! Each `AUDIT_LOG_SIGNING` record signs the segment before it: the previous signing record's
//! line and every line after it, each followed by one `0x0A`. [`Strict`] verifies that chain
//! as the note recommends (raw bytes, LF splitting, signing records found by their structure,
//! crash restarts and spoofed markers told apart from tampering); [`AuditVerify`] reproduces
//! Dogtag's own tool, misreadings included, so that an operator can compare.

use base64::Engine as _;

use super::cert::SigningKey;

/// A segment larger than this is not kept (Dogtag signs every 512 characters or 5 seconds): it
/// fails, and verification starts again at the next signing record.
pub const MAX_SEGMENT_BYTES: usize = 16 * 1024 * 1024;

/// The marker AuditVerify and the writer look for.
const MARKER: &[u8] = b"AUDIT_LOG_SIGNING";

/// A place in the files verified.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// The file, as given.
    pub file: String,
    /// 1-based line in that file.
    pub line: u64,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One finding: a failure, or a warning that explains without failing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The file, as given.
    pub file: String,
    /// 1-based line in that file.
    pub line: u64,
    /// `invalid-signature`, `malformed-signature`, `unsigned-tail`, `segment-too-large`
    /// (failures); `first-signature`, `unsigned-prefix`, `unsigned-gap`, `reseeded-on-spoof`,
    /// `marker-in-data` (warnings).
    pub kind: &'static str,
    /// What it means, for people.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What a verification found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Signatures that verified.
    pub valid: u64,
    /// Signatures that did not.
    pub invalid: u64,
    /// Records after the last signature (closed files: never signed).
    pub unsigned_tail: bool,
    /// Evidence of tampering, or of lines nothing vouches for.
    pub failures: Vec<Finding>,
    /// Explained findings that are not failures.
    pub warnings: Vec<Finding>,
}

impl Report {
    /// AuditVerify's exit status: 0 all good, 2 a bad signature or an unsigned tail.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        if self.invalid > 0 || self.unsigned_tail || !self.failures.is_empty() {
            2
        } else {
            0
        }
    }

    fn fail(&mut self, at: &Location, kind: &'static str, detail: String) {
        self.failures.push(Finding {
            file: at.file.clone(),
            line: at.line,
            kind,
            detail,
        });
    }

    fn warn(&mut self, at: &Location, kind: &'static str, detail: String) {
        self.warnings.push(Finding {
            file: at.file.clone(),
            line: at.line,
            kind,
            detail,
        });
    }
}

/// AuditVerify met an error it does not recover from ("Verification process FAILED").
#[derive(Debug, thiserror::Error)]
#[error("verification process failed at {at}: {reason}")]
pub struct Aborted {
    /// Where.
    pub at: Location,
    /// Why.
    pub reason: String,
}

/// A verifier fed one line at a time (without its terminator), file by file, oldest first.
pub trait ChainCheck {
    /// Feeds one line of `at.file`.
    fn line(&mut self, at: &Location, line: &[u8], report: &mut Report) -> Result<(), Aborted>;
    /// After the last line of the last file.
    fn finish(&mut self, report: &mut Report);
    /// Splits a file's bytes into lines as this mode reads them.
    fn split<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]>;
}

/// Whether `line` is a signing record by its structure: the record prefix
/// (`pid.thread - [date] [14] [6] `) then `[AuditEvent=AUDIT_LOG_SIGNING]` (or the name
/// before 10.7.0); the signature's text when it is.
#[must_use]
pub fn signing_record(line: &[u8]) -> Option<&[u8]> {
    static PREFIX: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(
            r"^\d+\..+? - \[[^\]]+\] \[\d+\] \[\d+\] \[AuditEvent=(?:AUDIT_LOG_SIGNING|LOGGING_SIGNED_AUDIT_SIGNING)\]",
        )
        .expect("a valid pattern")
    });
    let found = PREFIX.find(line)?;
    let message = &line[found.end()..];
    let at = memchr::memmem::find(message, b"sig: ")?;
    Some(&message[at + 5..])
}

/// A signature's text decoded strictly: the standard alphabet, padding optional.
pub fn decode_signature(text: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(text)
}

/// What a signature after the first says of the segment before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It signs the segment.
    Verified,
    /// It signs only the last signing record: the records since were never signed (a writer
    /// that crashed and restarted).
    Gap,
    /// It signs a record that merely contains the marker text (the writer re-seeded on it).
    Spoof,
    /// It signs none of these.
    Invalid,
}

/// The chain as a writer builds it: the bytes the next signature should cover, and the seeds a
/// restarted writer signs instead (`SIGNED-AUDIT.md` 5.3). Shared by `auditship verify` and
/// the live gate.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// A signing record was read.
    pub started: bool,
    /// The last signing record's line.
    pub prev_sig_line: Vec<u8>,
    /// `prev_sig_line` 0x0A and every line since, each with 0x0A.
    pub bytes: Vec<u8>,
    /// The segment outgrew [`MAX_SEGMENT_BYTES`] (its bytes are no longer all kept).
    pub oversize: bool,
    /// The last line containing the marker text (the writer's restart seed).
    pub last_marker_line: Vec<u8>,
}

impl Segment {
    /// Adds a record's line once a signing record was read; true when this line made the
    /// segment too large.
    pub fn feed(&mut self, line: &[u8]) -> bool {
        if !self.started {
            return false;
        }
        if self.bytes.len() + line.len() < MAX_SEGMENT_BYTES {
            self.bytes.extend_from_slice(line);
            self.bytes.push(b'\n');
            false
        } else {
            !std::mem::replace(&mut self.oversize, true)
        }
    }

    /// The verdict of `sig` on the segment; `records`: whether records were read since the
    /// last signing record (only then can a restart have left some unsigned).
    #[must_use]
    pub fn verdict(&self, key: &SigningKey, sig: &[u8], records: bool) -> Verdict {
        let seeded = |line: &[u8]| {
            let mut seed = Vec::with_capacity(line.len() + 1);
            seed.extend_from_slice(line);
            seed.push(b'\n');
            key.verifies(&seed, sig)
        };
        if !self.oversize && key.verifies(&self.bytes, sig) {
            Verdict::Verified
        } else if records && seeded(&self.prev_sig_line) {
            Verdict::Gap
        } else if !self.last_marker_line.is_empty()
            && self.last_marker_line != self.prev_sig_line
            && seeded(&self.last_marker_line)
        {
            Verdict::Spoof
        } else {
            Verdict::Invalid
        }
    }

    /// A signing record `line` was read: it starts the next segment.
    pub fn restart_at(&mut self, line: &[u8]) {
        self.started = true;
        self.prev_sig_line = line.to_vec();
        self.bytes.clear();
        self.bytes.extend_from_slice(line);
        self.bytes.push(b'\n');
        self.oversize = false;
    }
}

/// The strict verifier (`SIGNED-AUDIT.md` section 5).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Strict {
    /// The chain so far.
    segment: Segment,
    prev_sig_at: Option<Location>,
    /// The first record after the last signing record, and how many there are.
    first_after: Option<Location>,
    after: u64,
    /// Lines before the first signature.
    prefix_first: Option<Location>,
    prefix_lines: u64,
}

impl Strict {
    /// A verifier at the start of a series.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn signature(
        &mut self,
        key: &SigningKey,
        at: &Location,
        line: &[u8],
        text: &[u8],
        report: &mut Report,
    ) {
        let decoded = decode_signature(text);
        let range = |first: &Option<Location>| {
            first.as_ref().map_or_else(
                || "no records".to_owned(),
                |f| format!("records {f} to {at}"),
            )
        };
        match decoded {
            Err(e) => {
                report.invalid += 1;
                report.fail(
                    at,
                    "malformed-signature",
                    format!(
                        "the signature is not base64 ({e}); {} unverified",
                        range(&self.first_after)
                    ),
                );
            }
            Ok(sig) if !self.segment.started => self.first(key, at, &sig, report),
            Ok(sig) => self.check(key, at, &sig, &range(&self.first_after), report),
        }
        self.segment.restart_at(line);
        self.prev_sig_at = Some(at.clone());
        self.first_after = None;
        self.after = 0;
    }

    /// The series' first signature: over nothing (signing started here), or over data before
    /// these files.
    fn first(&self, key: &SigningKey, at: &Location, sig: &[u8], report: &mut Report) {
        if key.verifies(b"", sig) {
            report.valid += 1;
            report.warn(
                at,
                "first-signature",
                "the series' first signature covers nothing: signing started here".into(),
            );
        } else {
            report.warn(
                at,
                "first-signature",
                "the series' first signature covers data before these files (not checkable)".into(),
            );
        }
        if let Some(first) = &self.prefix_first {
            report.warn(
                first,
                "unsigned-prefix",
                format!(
                    "{} lines before the first signature ({at}) are signed by nothing",
                    self.prefix_lines
                ),
            );
        }
    }

    /// A signature after the first: over the segment, or over a restart seed.
    fn check(&self, key: &SigningKey, at: &Location, sig: &[u8], range: &str, report: &mut Report) {
        match self.segment.verdict(key, sig, self.after > 0) {
            Verdict::Verified => report.valid += 1,
            Verdict::Gap => {
                report.valid += 1;
                report.warn(
                    self.first_after.as_ref().unwrap_or(at),
                    "unsigned-gap",
                    format!(
                        "{} records up to {at} were never signed: the writer stopped before signing them and restarted (a crash, not evidence of tampering; nothing signed was changed)",
                        self.after
                    ),
                );
            }
            Verdict::Spoof => {
                report.valid += 1;
                report.warn(
                    at,
                    "reseeded-on-spoof",
                    "the writer restarted from a record that only contains the marker text, not from the last signature".into(),
                );
            }
            Verdict::Invalid => {
                report.invalid += 1;
                let what = if self.segment.oversize {
                    format!("the segment exceeded {MAX_SEGMENT_BYTES} bytes")
                } else {
                    "lines were changed, removed or inserted, or the files are out of order".into()
                };
                report.fail(
                    at,
                    "invalid-signature",
                    format!(
                        "the signature does not verify the segment from {} ({}): {what}",
                        self.prev_sig_at
                            .as_ref()
                            .map_or_else(String::new, ToString::to_string),
                        range
                    ),
                );
            }
        }
    }
}

/// The strict verifier with its key.
pub struct StrictCheck<'k> {
    /// The key.
    pub key: &'k SigningKey,
    /// The chain state (kept in a checkpoint when tailing).
    pub state: Strict,
}

impl ChainCheck for StrictCheck<'_> {
    fn line(&mut self, at: &Location, line: &[u8], report: &mut Report) -> Result<(), Aborted> {
        let marked = memchr::memmem::find(line, MARKER).is_some();
        if let Some(text) = signing_record(line) {
            self.state.signature(self.key, at, line, text, report);
        } else {
            if marked || memchr::memmem::find(line, b"LOGGING_SIGNED_AUDIT_SIGNING").is_some() {
                report.warn(at, "marker-in-data", "a record contains the signing marker's text but is not a signing record (AuditVerify would misread it)".into());
            }
            let s = &mut self.state;
            if s.segment.started {
                if s.first_after.is_none() {
                    s.first_after = Some(at.clone());
                }
                s.after += 1;
                if s.segment.feed(line) {
                    report.fail(
                        at,
                        "segment-too-large",
                        format!("more than {MAX_SEGMENT_BYTES} bytes without a signature"),
                    );
                }
            } else {
                if s.prefix_first.is_none() {
                    s.prefix_first = Some(at.clone());
                }
                s.prefix_lines += 1;
            }
        }
        if marked {
            self.state.segment.last_marker_line = line.to_vec();
        }
        Ok(())
    }

    fn finish(&mut self, report: &mut Report) {
        let s = &self.state;
        if s.after > 0 {
            report.unsigned_tail = true;
            let first = s.first_after.clone().unwrap_or_default();
            report.fail(
                &first,
                "unsigned-tail",
                format!(
                    "{} records after the last signature are signed by nothing",
                    s.after
                ),
            );
        } else if !s.segment.started && s.prefix_lines > 0 {
            report.unsigned_tail = true;
            let first = s.prefix_first.clone().unwrap_or_default();
            report.fail(
                &first,
                "unsigned-tail",
                format!(
                    "no signature at all: {} records are signed by nothing",
                    s.prefix_lines
                ),
            );
        }
    }

    fn split<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        if bytes.ends_with(b"\n") || bytes.is_empty() {
            lines.pop();
        }
        // A CR before the LF is the writer's newline on Windows: never signed.
        lines
            .into_iter()
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect()
    }
}

/// Dogtag's `AuditVerify`, reproduced: its counts, messages and exit codes, including what it
/// gets wrong (substring detection, the first signature ignored, crash restarts reported as
/// failures, a lone CR splitting a line).
pub struct AuditVerify<'k> {
    key: &'k SigningKey,
    started: bool,
    segment: Vec<u8>,
    /// The last signing line, and how many lines were fed since (the line itself included).
    last_sig: Option<Location>,
    fed: u64,
}

impl<'k> AuditVerify<'k> {
    /// A verifier at the start of a series.
    #[must_use]
    pub fn new(key: &'k SigningKey) -> Self {
        Self {
            key,
            started: false,
            segment: Vec::new(),
            last_sig: None,
            fed: 0,
        }
    }
}

/// AuditVerify's base64 decoding: the URL-safe alphabet when `-` or `_` appear, otherwise the
/// MIME decoder (which skips characters outside the alphabet); undecodable text is empty.
fn mime_decode(text: &str) -> Vec<u8> {
    let lenient = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    if text.contains(['-', '_']) {
        return base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient)
            .decode(text.trim())
            .unwrap_or_default();
    }
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    let kept = kept.split('=').next().unwrap_or("");
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, lenient)
        .decode(kept)
        .unwrap_or_default()
}

impl ChainCheck for AuditVerify<'_> {
    fn line(&mut self, at: &Location, line: &[u8], report: &mut Report) -> Result<(), Aborted> {
        // Java reads with the default charset (UTF-8 here): invalid bytes become U+FFFD.
        let text = String::from_utf8_lossy(line);
        if text.contains("AUDIT_LOG_SIGNING") {
            if self.last_sig.is_none() && !self.started {
                // The first signature "signs data we don't have": ignored.
            } else if let Some(i) = text.find("sig: ") {
                let sig = mime_decode(&text[i + 5..]);
                if let Some(len) = self.key.rsa_signature_len() {
                    if sig.len() != len {
                        return Err(Aborted {
                            at: at.clone(),
                            reason: format!(
                                "a {}-byte signature for a {len}-byte RSA key",
                                sig.len()
                            ),
                        });
                    }
                }
                if self.key.verifies(&self.segment, &sig) {
                    report.valid += 1;
                } else {
                    report.invalid += 1;
                    let from = self.last_sig.clone().unwrap_or_default();
                    report.fail(
                        at,
                        "invalid-signature",
                        format!("VERIFICATION FAILED: signature of {from} to {at}"),
                    );
                }
            } else {
                report.invalid += 1;
                report.fail(at, "malformed-signature", "INVALID SIGNATURE".into());
            }
            self.started = true;
            self.segment.clear();
            self.last_sig = Some(at.clone());
            self.fed = 0;
        }
        if self.started {
            self.segment.extend_from_slice(text.as_bytes());
            self.segment.push(b'\n');
            self.fed += 1;
        }
        Ok(())
    }

    fn finish(&mut self, report: &mut Report) {
        if self.fed > 1 {
            report.unsigned_tail = true;
            let at = self.last_sig.clone().unwrap_or_default();
            report.fail(
                &at,
                "unsigned-tail",
                format!("ERROR: log entries after {at} are UNSIGNED"),
            );
        }
    }

    fn split<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        // Java's readLine: LF, CRLF or a lone CR.
        let mut lines = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    lines.push(&bytes[start..i]);
                    start = i + 1;
                }
                b'\r' => {
                    lines.push(&bytes[start..i]);
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        if start < bytes.len() {
            lines.push(&bytes[start..]);
        }
        lines
    }
}

/// Verifies `files` (name shown, bytes), oldest first, as one chain.
pub fn verify(check: &mut dyn ChainCheck, files: &[(String, Vec<u8>)]) -> Result<Report, Aborted> {
    let mut report = Report::default();
    for (name, bytes) in files {
        for (i, line) in check.split(bytes).into_iter().enumerate() {
            let at = Location {
                file: name.clone(),
                line: i as u64 + 1,
            };
            check.line(&at, line, &mut report)?;
        }
    }
    check.finish(&mut report);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_records_are_found_by_structure_not_by_substring() {
        let real = b"0.Thread-1 - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=AUDIT_LOG_SIGNING][SubjectID=$System$][Outcome=Success] signature of audit buffer just flushed: sig: QUJD";
        assert_eq!(signing_record(real), Some(&b"QUJD"[..]));
        let flush = b"1234./var/log/pki/pki-tomcat/ca/signedAudit/ca_audit.flush-1 - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=LOGGING_SIGNED_AUDIT_SIGNING][SubjectID=$System$][Outcome=Success] signature of audit buffer just flushed: sig: QUJD";
        assert!(signing_record(flush).is_some());
        let spoof = b"0.http-bio-8443-exec-3 - [12/Jan/2025:08:20:35 CET] [14] [6] [AuditEvent=AUTH][SubjectID=AUDIT_LOG_SIGNING sig: QUJD][Outcome=Failure] authentication failed";
        assert_eq!(signing_record(spoof), None);
    }

    #[test]
    fn strict_splits_on_lf_and_drops_one_cr_while_auditverify_splits_on_a_lone_cr() {
        let key = test_key();
        let strict = StrictCheck {
            key: &key,
            state: Strict::new(),
        };
        assert_eq!(strict.split(b"a\r\nb\rc\n"), [&b"a"[..], b"b\rc"]);
        let compat = AuditVerify::new(&key);
        assert_eq!(compat.split(b"a\r\nb\rc\n"), [&b"a"[..], b"b", b"c"]);
    }

    /// A key for the splitting tests (never used to verify).
    fn test_key() -> SigningKey {
        // A self-signed P-256 certificate with keyUsage digitalSignature.
        const PEM: &str = include_str!("testdata/ec-p256.pem");
        SigningKey::from_bytes(PEM.as_bytes(), "test", super::super::cert::Digest::Sha256).unwrap()
    }
}
