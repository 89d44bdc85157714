//! The `auditship` binary: parses the command line, sets up logging, calls the library and maps
//! the outcome to an exit code (0 ok, 1 runtime failure, 2 usage or configuration error).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use auditship::cli::{Cli, Command, DeadLetterAction, LogFormat};
use auditship::{
    config, embedded, inspect, parse, pipeline, pipeline_tests, replay, shutdown, telemetry, watch,
};
use clap::Parser as _;
use tokio_util::sync::CancellationToken;

/// jemalloc with one arena and dirty pages returned after 200 ms (`.cargo/config.toml`): glibc's
/// malloc spent a fifth of the agent's CPU on events allocated by one thread and freed by
/// another; this one is faster and holds less memory (README, "Memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const RUNTIME_FAILURE: u8 = 1;
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(&cli.log_level, cli.log_format == LogFormat::Json);
    match cli.command {
        Command::Run { config } => run(&config),
        Command::Validate { config } => validate(&config),
        Command::Parse {
            format,
            timezone,
            files,
        } => parse_files(format, timezone, &files),
        Command::DeadLetters { action } => dead_letters(action),
        Command::Test { config } => test(&config),
        Command::Tap {
            api,
            components,
            limit,
            sample,
        } => watch(|| async move {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            watch::tap(&api, &components, limit, sample, &mut out)
                .await
                .map(|_| ())
        }),
        Command::Verify {
            cert,
            compat,
            json,
            digest,
            files,
        } => verify(&cert, compat.is_some(), json, digest, &files),
        Command::VerifyChain { json, files } => verify_chain(json, &files),
        Command::Top {
            api,
            once,
            interval,
        } => watch(|| async move {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let every = std::time::Duration::from_secs_f64(interval.clamp(0.1, 3600.0));
            watch::top(&api, once, every, &mut out).await
        }),
    }
}

/// `auditship verify`: 0 all good, 2 a bad signature or an unsigned tail, 1 an error.
fn verify(
    cert: &Path,
    compat: bool,
    json: bool,
    digest: auditship::integrity::cert::Digest,
    paths: &[PathBuf],
) -> ExitCode {
    use auditship::integrity::dogtag;
    let key = match auditship::integrity::cert::SigningKey::from_file(cert, digest) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("auditship: {e}");
            return ExitCode::from(RUNTIME_FAILURE);
        }
    };
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match std::fs::read(path) {
            Ok(bytes) => files.push((path.display().to_string(), bytes)),
            Err(e) => {
                eprintln!("auditship: cannot read {}: {e}", path.display());
                return ExitCode::from(RUNTIME_FAILURE);
            }
        }
    }
    let mut strict = dogtag::StrictCheck {
        key: &key,
        state: dogtag::Strict::new(),
    };
    let mut auditverify = dogtag::AuditVerify::new(&key);
    let check: &mut dyn dogtag::ChainCheck = if compat {
        &mut auditverify
    } else {
        &mut strict
    };
    let report = match dogtag::verify(check, &files) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("auditship: {e}\nVerification process FAILED.");
            return ExitCode::from(RUNTIME_FAILURE);
        }
    };
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else if compat {
        for f in &report.failures {
            println!("{}", f.detail);
        }
        println!(
            "\nVerification process complete.\nValid signatures: {}\nInvalid signatures: {}",
            report.valid, report.invalid
        );
    } else {
        println!(
            "{} ({}): {} valid, {} invalid signatures{}; {} failures, {} warnings",
            if report.exit_code() == 0 {
                "VERIFIED"
            } else {
                "FAILED"
            },
            key.description,
            report.valid,
            report.invalid,
            if report.unsigned_tail {
                ", unsigned tail"
            } else {
                ""
            },
            report.failures.len(),
            report.warnings.len()
        );
        for f in &report.failures {
            println!("FAIL {}:{} {}: {}", f.file, f.line, f.kind, f.detail);
        }
        for w in &report.warnings {
            println!("warn {}:{} {}: {}", w.file, w.line, w.kind, w.detail);
        }
    }
    ExitCode::from(report.exit_code())
}

/// `auditship verify-chain`: 0 all good, 2 a finding, 1 an unreadable file.
fn verify_chain(json: bool, paths: &[PathBuf]) -> ExitCode {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match std::fs::read(path) {
            Ok(bytes) => files.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            Err(e) => {
                eprintln!("auditship: cannot read {}: {e}", path.display());
                return ExitCode::from(RUNTIME_FAILURE);
            }
        }
    }
    let report = auditship::integrity::chain::verify_chain(&files);
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!(
            "{}: {} streams, {} links verified, {} re-sent copies; {} failures, {} warnings",
            if report.exit_code() == 0 {
                "VERIFIED"
            } else {
                "FAILED"
            },
            report.streams,
            report.verified,
            report.resent,
            report.failures.len(),
            report.warnings.len()
        );
        for (word, list) in [("FAIL", &report.failures), ("warn", &report.warnings)] {
            for f in list {
                println!(
                    "{word} {}:{} {} {} seq {}: {}",
                    f.file, f.line, f.kind, f.stream, f.seq, f.detail
                );
            }
        }
    }
    ExitCode::from(report.exit_code())
}

/// Runs a client of the agent's API (`tap`, `top`): 0, 1 when the agent cannot be reached,
/// 2 when it refuses the request.
fn watch<F: std::future::Future<Output = Result<(), watch::WatchError>>>(
    job: impl FnOnce() -> F,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("auditship: cannot start the runtime: {e}");
            return ExitCode::from(RUNTIME_FAILURE);
        }
    };
    match runtime.block_on(job()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(watch::WatchError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e @ watch::WatchError::Refused(_)) => {
            eprintln!("auditship: {e}");
            ExitCode::from(USAGE)
        }
        Err(e) => {
            eprintln!("auditship: {e}");
            ExitCode::from(RUNTIME_FAILURE)
        }
    }
}

fn dead_letters(action: DeadLetterAction) -> ExitCode {
    let paths = match &action {
        DeadLetterAction::List { config } | DeadLetterAction::Replay { config, .. } => config,
    };
    let plan = match config::load(paths) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(USAGE);
        }
    };
    match action {
        DeadLetterAction::List { .. } => match replay::list(&plan.data_dir) {
            Ok(files) => {
                if files.is_empty() {
                    println!("no dead letters in {}", plan.data_dir.display());
                }
                for f in files {
                    let total: u64 = f.by_sink.values().sum();
                    let sinks: Vec<String> =
                        f.by_sink.iter().map(|(s, n)| format!("{s}={n}")).collect();
                    let (first, last) = f.span.unwrap_or_default();
                    println!(
                        "{}\t{total} events\t{}\t{first} .. {last}{}",
                        f.path.display(),
                        sinks.join(","),
                        if f.unreadable > 0 {
                            format!("\t{} unreadable lines", f.unreadable)
                        } else {
                            String::new()
                        }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("auditship: {e}");
                ExitCode::from(RUNTIME_FAILURE)
            }
        },
        DeadLetterAction::Replay { sink, timeout, .. } => {
            let runtime = match runtime() {
                Ok(r) => r,
                Err(code) => return code,
            };
            match runtime.block_on(replay::replay(&plan, sink.as_deref(), timeout)) {
                Ok(report) => {
                    for (name, n) in &report.settled {
                        println!("{name}: {n} events replayed");
                    }
                    println!(
                        "{} refused again (written to the current dead-letter file), {} not settled in time, {} of other sinks left in place",
                        report.refused_again, report.unsettled, report.left
                    );
                    if report.unsettled > 0 {
                        ExitCode::from(RUNTIME_FAILURE)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("auditship: {e}");
                    ExitCode::from(RUNTIME_FAILURE)
                }
            }
        }
    }
}

fn run(paths: &[PathBuf]) -> ExitCode {
    let (plan, workdir) = if paths.is_empty() {
        let dir = embedded::workdir();
        let text = match embedded::prepare(&dir) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "auditship: cannot prepare the default pipeline in {}: {e}",
                    dir.display()
                );
                return ExitCode::from(RUNTIME_FAILURE);
            }
        };
        eprintln!(
            "auditship: no --config given: running the embedded default pipeline.\n  \
             It tails the bundled sample audit logs in {}/samples (append lines to see them shipped)\n  \
             and prints every event to stdout as ECS JSON. Stop with Ctrl-C or SIGTERM.",
            dir.display()
        );
        match config::load_str(Path::new("<embedded default pipeline>"), &text) {
            Ok(plan) => (plan, Some(dir)),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(USAGE);
            }
        }
    } else {
        match config::load(paths) {
            Ok(plan) => (plan, None),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(USAGE);
            }
        }
    };
    // systemd's default soft limit (1024) is far below its hard limit: raise the soft limit
    // of open files to the hard one, so that tailing many files cannot starve the sinks of
    // descriptors (sources also bound their open files: `max_open_files`).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = runtime.block_on(async {
        let token = CancellationToken::new();
        let reload = (!paths.is_empty()).then(|| pipeline::Reload {
            paths: paths.to_vec(),
            signal: std::sync::Arc::new(tokio::sync::Notify::new()),
        });
        if let Err(e) = shutdown::install(token.clone(), reload.as_ref().map(|r| r.signal.clone()))
        {
            eprintln!("auditship: cannot install signal handlers: {e}");
            return ExitCode::from(RUNTIME_FAILURE);
        }
        match pipeline::run(plan, token, reload).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "pipeline failed");
                ExitCode::from(RUNTIME_FAILURE)
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Some(dir) = workdir {
        let _ = std::fs::remove_dir_all(dir);
    }
    code
}

/// The multi-threaded runtime, or the exit code after saying why it cannot start.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("auditship: cannot start the runtime: {e}");
            ExitCode::from(RUNTIME_FAILURE)
        })
}

fn test(paths: &[PathBuf]) -> ExitCode {
    let plan = match config::load(paths) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(USAGE);
        }
    };
    let problems = pipeline_tests::check(&plan, &plan.tests);
    if !problems.is_empty() {
        for (t, message) in &problems {
            eprintln!("error: test `{}`: {message}", plan.tests[*t].name);
        }
        return ExitCode::from(USAGE);
    }
    if plan.tests.is_empty() {
        println!("no [[tests]] in the pipeline files");
        return ExitCode::SUCCESS;
    }
    let outcomes = pipeline_tests::run(&plan, &plan.tests);
    let failed = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    for o in &outcomes {
        if o.failures.is_empty() {
            println!("test {} ... ok", o.name);
        } else {
            println!("test {} ... FAILED", o.name);
            for f in &o.failures {
                println!("    {f}");
            }
        }
    }
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(RUNTIME_FAILURE)
    }
}

fn validate(paths: &[PathBuf]) -> ExitCode {
    match config::load(paths) {
        Ok(plan) => {
            let problems = pipeline_tests::check(&plan, &plan.tests);
            if !problems.is_empty() {
                for (t, message) in &problems {
                    eprintln!("error: test `{}`: {message}", plan.tests[*t].name);
                }
                return ExitCode::from(USAGE);
            }
            println!(
                "ok: {} component{} ({})",
                plan.components.len(),
                if plan.components.len() == 1 { "" } else { "s" },
                plan.components
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(USAGE)
        }
    }
}

fn parse_files(format: parse::Format, timezone: Option<String>, files: &[PathBuf]) -> ExitCode {
    if !format.is_available() {
        eprintln!(
            "auditship: format `{}` is not available in this build (available: {})",
            format.name(),
            parse::Format::available().join(", ")
        );
        return ExitCode::from(USAGE);
    }
    if let Some(zone) = timezone.as_deref() {
        if let Err(e) = parse::zone(zone) {
            eprintln!("auditship: --timezone {zone}: {e}");
            return ExitCode::from(USAGE);
        }
    }
    let parser = parse::for_format(
        format,
        &parse::ParseOptions {
            timezone,
            zones: Vec::new(),
        },
    );
    let stdin = [PathBuf::from("-")];
    let inputs = if files.is_empty() { &stdin[..] } else { files };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in inputs {
        let bytes = match inspect::read_input(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("auditship: cannot read {}: {e}", path.display());
                return ExitCode::from(USAGE);
            }
        };
        let name = if path.as_os_str() == "-" {
            "<stdin>".to_owned()
        } else {
            path.display().to_string()
        };
        if let Err(e) = inspect::parse_to(&bytes, &name, &*parser, &mut out) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("auditship: writing output: {e}");
            return ExitCode::from(RUNTIME_FAILURE);
        }
    }
    ExitCode::SUCCESS
}
