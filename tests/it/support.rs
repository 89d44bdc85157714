//! Helpers: the real binary, temporary directories, bounded waits.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Path of the built `auditship` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_auditship"))
}

static STDERR_FILES: Mutex<Vec<(u32, PathBuf)>> = Mutex::new(Vec::new());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Starts `auditship` with `args`; stdout is piped, stderr goes to a file (a pipe nobody
/// reads would fill up and stall the agent's logging).
pub fn spawn(args: &[&str]) -> Child {
    spawn_with_env(args, &[])
}

/// Starts `auditship` with `args` and extra environment variables `env`.
pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Child {
    spawn_as(&[], args, env)
}

/// Starts `auditship` through the command `wrapper` (e.g. `setpriv --reuid=...`; none when
/// empty) with `args` and extra environment variables `env`.
pub fn spawn_as(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> Child {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("auditship-it-{}-{n}.stderr", std::process::id()));
    let file = std::fs::File::create(&path).expect("stderr file");
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(binary());
            c
        }
        None => Command::new(binary()),
    };
    let child = command
        .args(args)
        .env("AUDITSHIP_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("start auditship");
    STDERR_FILES.lock().unwrap().push((child.id(), path));
    child
}

/// A running agent that is killed if the test fails before stopping it.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends a signal with the `kill` command (tests forbid unsafe code, so no `libc::kill`).
/// A graceful signal waits (bounded) until the agent says it runs, so that it does not arrive
/// before the signal handlers exist.
pub fn signal(child: &Child, name: &str) {
    if name != "KILL" {
        let ready = eventually(Duration::from_secs(20), || {
            let files = STDERR_FILES.lock().unwrap();
            let path = files.iter().find(|(pid, _)| *pid == child.id())?.1.clone();
            drop(files);
            std::fs::read_to_string(path)
                .ok()?
                .contains("pipeline running")
                .then_some(())
        });
        assert!(ready.is_some(), "the agent never reported that it runs");
    }
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// Waits (bounded) for `child` to exit; kills it and panics on timeout.
pub fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("auditship did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `check` every 25 ms until it returns `Some`, for at most `limit`.
pub fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = check() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    None
}

/// Lines of a file (empty when it does not exist yet).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Appends `text` to `path` (created if missing), as a writing program does.
pub fn append_text(path: &Path, text: &str) {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// Reads stdout lines of `child` on a thread; returns a receiver of lines.
pub fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// What `child` wrote to stderr so far.
pub fn stderr_text(child: &mut Child) -> String {
    let files = STDERR_FILES.lock().unwrap();
    files
        .iter()
        .find(|(pid, _)| *pid == child.id())
        .map(|(_, path)| std::fs::read_to_string(path).unwrap_or_default())
        .unwrap_or_default()
}

/// A pipeline: one file source over `include` (format), one or more file sinks.
pub fn file_to_files(data_dir: &Path, include: &Path, format: &str, sinks: &[&Path]) -> String {
    let mut text = format!(
        "data_dir = '{}'\nshutdown_timeout = \"10s\"\n\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"{format}\"\nglob_interval = \"1s\"\nclose_after = \"2s\"\n",
        data_dir.display(),
        include.display()
    );
    for (i, sink) in sinks.iter().enumerate() {
        let _ = write!(
            text,
            "\n[sinks.out{i}]\ntype = \"file\"\ninputs = [\"in\"]\npath = '{}'\n",
            sink.display()
        );
    }
    text
}

/// A test CA and a server certificate for 127.0.0.1, made with openssl.
pub struct Pki {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// The server key.
    pub key: PathBuf,
}

/// Makes a CA and a server certificate for 127.0.0.1 under `dir`, named `name-*`.
pub fn pki(dir: &std::path::Path, name: &str) -> Pki {
    let path = |f: &str| dir.join(format!("{name}-{f}"));
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (ca_key, ca, key, csr, cert, ext) = (
        path("ca.key"),
        path("ca.pem"),
        path("server.key"),
        path("server.csr"),
        path("server.pem"),
        path("ext.cnf"),
    );
    let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=auditship test CA",
        "-keyout",
        &s(&ca_key),
        "-out",
        &s(&ca),
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &s(&key),
        "-out",
        &s(&csr),
    ]);
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca),
        "-CAkey",
        &s(&ca_key),
        "-CAcreateserial",
        "-extfile",
        &s(&ext),
        "-out",
        &s(&cert),
    ]);
    Pki { ca, cert, key }
}

/// `seq 0`, `seq 1`, … : lines whose number survives any parsing.
pub fn seq_lines(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("seq {i}")).collect()
}

/// An agent with one file source over written `lines` and one sink `out` (its TOML body,
/// `type` included), in a temporary directory.
pub struct SinkSetup {
    _dir: tempfile::TempDir,
    /// The agent's `data_dir`.
    pub data: PathBuf,
    /// The tailed file.
    pub log: PathBuf,
    /// The pipeline file.
    pub config: PathBuf,
}

impl SinkSetup {
    /// Writes `lines` to `file_name` (format `format`) and a pipeline delivering to `sink`.
    pub fn new(file_name: &str, lines: &[String], format: &str, sink: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(file_name);
        let body = lines.iter().fold(String::new(), |mut s, l| {
            let _ = writeln!(s, "{l}");
            s
        });
        std::fs::write(&log, body).unwrap();
        let data = dir.path().join("data");
        let config = dir.path().join("p.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = '{}'\nshutdown_timeout = \"5s\"\n[sources.in]\ntype = \"file\"\ninclude = ['{}']\nformat = \"{format}\"\n[sinks.out]\ninputs = [\"in\"]\n{sink}\n",
                data.display(),
                log.display()
            ),
        )
        .unwrap();
        Self {
            _dir: dir,
            data,
            log,
            config,
        }
    }

    /// Runs the agent until `done` holds (at most `limit`), stops it with SIGTERM (it must
    /// exit 0) and returns whether `done` held, and the agent's stderr.
    pub fn run_until(&self, limit: Duration, mut done: impl FnMut() -> bool) -> (bool, String) {
        let mut child = spawn(&["run", "--config", self.config.to_str().unwrap()]);
        let ok = eventually(limit, || done().then_some(())).is_some();
        signal(&child, "TERM");
        let code = wait_exit(&mut child, Duration::from_secs(30));
        let stderr = stderr_text(&mut child);
        assert_eq!(code, 0, "{stderr}");
        (ok, stderr)
    }

    /// The acknowledged offset of the tailed file.
    pub fn checkpoint(&self) -> u64 {
        let text =
            std::fs::read_to_string(self.data.join("checkpoints/in.json")).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        v["files"][0]["offset"].as_u64().unwrap_or(0)
    }
}

/// Runs `auditship validate` on `config`, expects it to refuse (exit 2) and returns what it
/// said.
pub fn refused(config: &Path) -> String {
    let out = Command::new(binary())
        .args(["validate", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}
