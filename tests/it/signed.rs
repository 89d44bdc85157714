//! `auditship verify` on signed audit logs made here: a writer that signs as Dogtag's `LogFile`
//! does (segments chained through the signing records, a signature on start-up, flush and
//! close), with keys and signatures from openssl (not from the verifier's own crypto). Each
//! scenario runs both modes through the real binary.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support;

/// A key and its certificate, made with openssl.
pub struct Signer {
    pub key: PathBuf,
    pub cert: PathBuf,
}

/// `rsa`, `p256`, `p384`; `usage` is the certificate's keyUsage.
pub fn signer(dir: &Path, kind: &str, usage: &str) -> Signer {
    let key = dir.join(format!("{kind}-{usage}.key"));
    let cert = dir.join(format!("{kind}-{usage}.pem"));
    let algo: &[&str] = match kind {
        "rsa" => &["-newkey", "rsa:2048"],
        "p256" => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        _ => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
    };
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=auditSigningCert cert-pki-tomcat CA",
        ])
        .args(algo)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-addext", &format!("keyUsage=critical,{usage}")])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    Signer { key, cert }
}

impl Signer {
    /// The signature of `data`: RSA PKCS#1 v1.5 or ECDSA (DER), over SHA-256.
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    }
}

/// Dogtag's writer: lines written to the current file, the bytes the next signature covers.
pub struct Writer<'s> {
    signer: &'s Signer,
    pub lines: Vec<String>,
    segment: Vec<u8>,
    n: usize,
}

fn base64(bytes: &[u8]) -> String {
    let out = Command::new("sh")
        .args(["-c", "base64 -w0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

impl<'s> Writer<'s> {
    /// A writer starting on `existing` lines (a file it appends to): it seeds its signature
    /// with the last line containing the marker, signs, then logs `AUDIT_LOG_STARTUP`.
    pub fn start(signer: &'s Signer, existing: Vec<String>) -> Self {
        let segment = existing
            .iter()
            .rev()
            .find(|l| l.contains("AUDIT_LOG_SIGNING"))
            .map(|l| format!("{l}\n").into_bytes())
            .unwrap_or_default();
        let mut w = Self {
            signer,
            lines: existing,
            segment,
            n: 0,
        };
        w.sign();
        w.record("[AuditEvent=AUDIT_LOG_STARTUP][SubjectID=$System$][Outcome=Success] audit function startup");
        w
    }

    /// Writes a record (`message` after the prefix).
    pub fn record(&mut self, message: &str) {
        self.n += 1;
        let line = format!(
            "0.main - [12/Jan/2025:08:20:{:02} CET] [14] [6] {message}",
            self.n % 60
        );
        self.segment.extend_from_slice(line.as_bytes());
        self.segment.push(b'\n');
        self.lines.push(line);
    }

    /// Writes a record whose text in the file differs from what was signed: an edit made
    /// after the writer signed it.
    pub fn tampered(&mut self, signed: &str, written: &str) {
        self.record(signed);
        let last = self.lines.last_mut().unwrap();
        *last = last.replace(signed, written);
    }

    /// A user event numbered `i`.
    pub fn event(&mut self, i: usize) {
        self.record(&format!("[AuditEvent=AUTH][SubjectID=user{i}][Outcome=Success][AuthMgr=certUserDBAuthMgr] authentication {i}"));
    }

    /// Pushes a signature: signs the segment, writes the signing record, which starts the next.
    pub fn sign(&mut self) {
        let sig = base64(&self.signer.sign(&self.segment));
        self.segment.clear();
        self.record(&format!("[AuditEvent=AUDIT_LOG_SIGNING][SubjectID=$System$][Outcome=Success] signature of audit buffer just flushed: sig: {sig}"));
    }

    /// Clean shutdown: `AUDIT_LOG_SHUTDOWN`, then the closing signature.
    pub fn shutdown(mut self) -> Vec<String> {
        self.record("[AuditEvent=AUDIT_LOG_SHUTDOWN][SubjectID=$System$][Outcome=Success] audit function shutdown");
        self.sign();
        self.lines
    }

    /// Size rotation: flush and close sign twice; the old file's lines are returned, the new
    /// file opens with a signature over the old file's last signing record.
    pub fn rotate(&mut self) -> Vec<String> {
        self.sign();
        self.sign();
        let old = std::mem::take(&mut self.lines);
        self.sign();
        old
    }
}

/// Writes `lines` to `dir/name` (LF, or CRLF).
pub fn write(dir: &Path, name: &str, lines: &[String], crlf: bool) -> PathBuf {
    let path = dir.join(name);
    let end = if crlf { "\r\n" } else { "\n" };
    let text = lines.iter().fold(String::new(), |s, l| s + l + end);
    std::fs::write(&path, text).unwrap();
    path
}

/// What one mode said: exit code and the JSON report.
pub struct Verdict {
    pub code: i32,
    pub report: serde_json::Value,
    pub stderr: String,
}

impl Verdict {
    pub fn kinds(&self, list: &str) -> Vec<(String, u64, String)> {
        self.report[list]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        let file = f["file"].as_str().unwrap_or("");
                        let name = Path::new(file)
                            .file_name()
                            .unwrap()
                            .to_string_lossy()
                            .into_owned();
                        (
                            f["kind"].as_str().unwrap().to_owned(),
                            f["line"].as_u64().unwrap(),
                            name,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn counts(&self) -> (u64, u64, bool) {
        (
            self.report["valid"].as_u64().unwrap(),
            self.report["invalid"].as_u64().unwrap(),
            self.report["unsigned_tail"].as_bool().unwrap(),
        )
    }
}

/// Runs `auditship verify` in both modes over `files` with `cert`.
pub fn verify(cert: &Path, files: &[&Path]) -> (Verdict, Verdict) {
    let run = |compat: bool| {
        let mut args = vec!["verify", "--json", "--cert", cert.to_str().unwrap()];
        if compat {
            args.extend(["--compat", "auditverify"]);
        }
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let mut child = support::spawn(&args);
        let out = support::stdout_lines(&mut child);
        let code = support::wait_exit(&mut child, Duration::from_secs(30));
        let stderr = support::stderr_text(&mut child);
        let text: String = out.iter().collect();
        let report = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Verdict {
            code,
            report,
            stderr,
        }
    };
    (run(false), run(true))
}

/// A clean log across a size rotation and a clean restart: 3 files.
fn clean_series(dir: &Path, signer: &Signer, crlf: bool) -> Vec<PathBuf> {
    let mut w = Writer::start(signer, Vec::new());
    for i in 0..5 {
        w.event(i);
    }
    w.sign();
    for i in 5..8 {
        w.event(i);
    }
    let first = w.rotate();
    for i in 8..12 {
        w.event(i);
    }
    let second = w.shutdown();
    let mut w = Writer::start(signer, second);
    for i in 12..15 {
        w.event(i);
    }
    let active = w.shutdown();
    vec![
        write(dir, "ca_audit.20250112082000", &first, crlf),
        write(dir, "ca_audit", &active, crlf),
    ]
}

/// A finding as `Verdict::kinds` lists it, in `ca_audit`.
fn found(kind: &str, line: u64) -> (String, u64, String) {
    found_in(kind, line, "ca_audit")
}

fn found_in(kind: &str, line: u64, file: &str) -> (String, u64, String) {
    (kind.to_owned(), line, file.to_owned())
}

/// One file `ca_audit` of what `write` wrote with a fresh `kind` signer.
fn single(
    kind: &str,
    body: impl FnOnce(&Signer) -> Vec<String>,
) -> (tempfile::TempDir, Signer, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path(), kind, "digitalSignature");
    let lines = body(&signer);
    let file = write(dir.path(), "ca_audit", &lines, false);
    (dir, signer, file)
}

fn refs(paths: &[PathBuf]) -> Vec<&Path> {
    paths.iter().map(PathBuf::as_path).collect()
}

#[test]
fn a_clean_chain_across_rotation_and_restart_verifies_in_both_modes_for_rsa_and_ec() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["rsa", "p256", "p384"] {
        let signer = signer(dir.path(), kind, "digitalSignature");
        let sub = dir.path().join(kind);
        std::fs::create_dir_all(&sub).unwrap();
        let files = clean_series(&sub, &signer, false);
        let (strict, compat) = verify(&signer.cert, &refs(&files));
        assert_eq!(strict.code, 0, "{kind}: {}", strict.report);
        assert_eq!(compat.code, 0, "{kind}: {}", compat.report);
        // Signatures: start, flush, 2 on rotation, 1 opening the new file, shutdown, start,
        // shutdown = 8; AuditVerify skips the first; strict verifies it (over nothing).
        assert_eq!(strict.counts(), (8, 0, false), "{kind}");
        assert_eq!(compat.counts(), (7, 0, false), "{kind}");
        assert!(
            strict.kinds("failures").is_empty(),
            "{kind}: {}",
            strict.report
        );
    }
}

#[test]
fn an_edited_or_deleted_line_fails_the_signature_after_it_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path(), "rsa", "digitalSignature");
    let files = clean_series(dir.path(), &signer, false);
    let original = std::fs::read_to_string(&files[1]).unwrap();
    // Line 5 of the active file is user9's event; the next signature is the shutdown's.
    let edited = original.replacen("SubjectID=user9]", "SubjectID=user9 ]", 1);
    std::fs::write(&files[1], &edited).unwrap();
    let (strict, compat) = verify(&signer.cert, &refs(&files));
    let last_sig = original
        .lines()
        .position(|l| l.contains("audit function shutdown"))
        .unwrap() as u64
        + 2;
    for v in [&strict, &compat] {
        assert_eq!(v.code, 2, "{}", v.report);
        assert_eq!(v.counts().1, 1);
        assert_eq!(v.kinds("failures"), [found("invalid-signature", last_sig)]);
    }
    let deleted: String = original
        .lines()
        .filter(|l| !l.contains("SubjectID=user10]"))
        .fold(String::new(), |s, l| s + l + "\n");
    std::fs::write(&files[1], &deleted).unwrap();
    let (strict, compat) = verify(&signer.cert, &refs(&files));
    for v in [&strict, &compat] {
        assert_eq!(v.code, 2, "{}", v.report);
        assert_eq!(v.kinds("failures")[0].0, "invalid-signature");
        assert_eq!(v.kinds("failures")[0].1, last_sig - 1);
    }
}

#[test]
fn an_altered_signature_and_files_in_the_wrong_order_fail_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path(), "p256", "digitalSignature");
    let files = clean_series(dir.path(), &signer, false);
    let (strict, compat) = verify(&signer.cert, &[&files[1], &files[0]]);
    assert_eq!((strict.code, compat.code), (2, 2));
    assert!(strict.counts().1 >= 1 && compat.counts().1 >= 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("buffer just flushed"))
        .unwrap();
    let at = at
        + 1
        + lines[at + 1..]
            .iter()
            .position(|l| l.contains("buffer just flushed"))
            .unwrap();
    // Flip one base64 character of the second signature.
    let l = &mut lines[at];
    let pos = l.len() - 10;
    let c = if &l[pos..=pos] == "A" { "B" } else { "A" };
    l.replace_range(pos..=pos, c);
    write(dir.path(), "ca_audit.20250112082000", &lines, false);
    let (strict, compat) = verify(&signer.cert, &refs(&files));
    for v in [&strict, &compat] {
        assert_eq!(v.code, 2, "{}", v.report);
        assert_eq!(v.kinds("failures")[0].1, at as u64 + 1, "{}", v.report);
    }
}

#[test]
fn an_unsigned_tail_fails_both_modes() {
    let (_dir, signer, file) = single("rsa", |signer| {
        let mut w = Writer::start(signer, Vec::new());
        w.event(1);
        w.sign();
        w.event(2);
        w.event(3);
        w.lines
    });
    let (strict, compat) = verify(&signer.cert, &[&file]);
    for v in [&strict, &compat] {
        assert_eq!(v.code, 2, "{}", v.report);
        assert!(v.counts().2, "unsigned tail");
    }
    assert_eq!(strict.kinds("failures"), [found("unsigned-tail", 5)]);
    assert_eq!(compat.kinds("failures"), [found("unsigned-tail", 4)]);
}

#[test]
fn a_crash_restart_is_an_explained_gap_in_strict_mode_and_a_failure_for_auditverify() {
    let (_dir, signer, file) = single("rsa", |signer| {
        let mut w = Writer::start(signer, Vec::new());
        w.event(1);
        w.sign();
        // Two records written, then the JVM dies before the next flush.
        w.event(2);
        w.event(3);
        let mut w = Writer::start(signer, w.lines);
        w.event(4);
        w.shutdown()
    });
    let (strict, compat) = verify(&signer.cert, &[&file]);
    assert_eq!(strict.code, 0, "{}", strict.report);
    assert_eq!(strict.kinds("warnings")[1], found("unsigned-gap", 5));
    assert_eq!(compat.code, 2, "{}", compat.report);
    assert_eq!(compat.kinds("failures"), [found("invalid-signature", 7)]);
}

#[test]
fn the_marker_inside_a_record_is_a_warning_in_strict_mode_and_two_failures_for_auditverify() {
    let (_dir, signer, file) = single("p256", |signer| {
        let mut w = Writer::start(signer, Vec::new());
        w.event(1);
        w.record("[AuditEvent=AUTH][SubjectID=AUDIT_LOG_SIGNING][Outcome=Failure][AuthMgr=passwdUserDBAuthMgr] authentication failed");
        w.event(2);
        w.shutdown()
    });
    let (strict, compat) = verify(&signer.cert, &[&file]);
    assert_eq!(strict.code, 0, "{}", strict.report);
    assert!(strict
        .kinds("warnings")
        .contains(&found("marker-in-data", 4)));
    assert_eq!(compat.code, 2);
    assert_eq!(
        compat.kinds("failures"),
        [
            found("malformed-signature", 4),
            found("invalid-signature", 7)
        ]
    );
}

#[test]
fn crlf_files_and_signing_enabled_mid_file_verify_with_the_prefix_reported() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path(), "rsa", "digitalSignature");
    let files = clean_series(dir.path(), &signer, true);
    let (strict, compat) = verify(&signer.cert, &refs(&files));
    assert_eq!(
        (strict.code, compat.code),
        (0, 0),
        "{} {}",
        strict.report,
        compat.report
    );
    // Records written before signing was switched on.
    let before: Vec<String> = (0..3)
        .map(|i| format!("0.main - [12/Jan/2025:08:19:0{i} CET] [14] [6] [AuditEvent=AUTH][SubjectID=early{i}][Outcome=Success] authentication"))
        .collect();
    let mut w = Writer::start(&signer, before);
    w.event(1);
    let file = write(dir.path(), "kra_audit", &w.shutdown(), false);
    let (strict, compat) = verify(&signer.cert, &[&file]);
    assert_eq!((strict.code, compat.code), (0, 0));
    assert!(
        strict
            .kinds("warnings")
            .contains(&found_in("unsigned-prefix", 1, "kra_audit")),
        "{}",
        strict.report
    );
    assert!(
        compat.kinds("warnings").is_empty(),
        "AuditVerify never mentions the prefix"
    );
}

#[test]
fn a_certificate_without_digital_signature_is_refused_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let good = signer(dir.path(), "rsa", "digitalSignature");
    let bad = signer(dir.path(), "rsa", "keyEncipherment");
    let files = clean_series(dir.path(), &good, false);
    let (strict, compat) = verify(&bad.cert, &refs(&files));
    for v in [&strict, &compat] {
        assert_eq!(v.code, 1);
        assert!(
            v.stderr.contains("keyUsage without digitalSignature"),
            "{}",
            v.stderr
        );
    }
}

#[test]
fn a_shortened_rsa_signature_fails_strict_mode_and_aborts_auditverify_with_exit_1() {
    let (_dir, signer, file) = single("rsa", |signer| {
        let mut w = Writer::start(signer, Vec::new());
        w.event(1);
        let mut lines = w.shutdown();
        // 8 base64 characters fewer: still base64, 6 bytes short of the modulus.
        let last = lines.last_mut().unwrap();
        last.truncate(last.len() - 8);
        lines
    });
    let (strict, compat) = verify(&signer.cert, &[&file]);
    assert_eq!(strict.code, 2, "{}", strict.report);
    assert_eq!(strict.kinds("failures")[0].0, "invalid-signature");
    assert_eq!(
        compat.code, 1,
        "AuditVerify's RSA provider throws on a wrong length"
    );
    assert!(
        compat.stderr.contains("Verification process FAILED"),
        "{}",
        compat.stderr
    );
}
