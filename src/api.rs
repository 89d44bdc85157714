//! The HTTP API (`[api] address`): `GET /health` for liveness and readiness probes and
//! `GET /metrics` in the Prometheus text format. The counters it shows are the ones the data
//! path keeps anyway (per batch or per read, never per event), read when scraped.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Frame;
use hyper::{Request, Response, StatusCode};
use tokio_util::sync::CancellationToken;

use crate::budget::Budget;
use crate::sink::SinkStats;
use crate::source::{FileLag, ReadStats};

/// Where the pipeline is in its life: the probe says 200 only while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Checkpoints loading, components starting.
    Starting = 0,
    /// Reading and delivering.
    Running = 1,
    /// Stopped reading; delivering what is in flight.
    Draining = 2,
}

/// A source as the metrics see it.
#[derive(Clone)]
pub struct SourceView {
    /// Its name.
    pub name: String,
    /// Bytes and records read.
    pub stats: Arc<ReadStats>,
    /// Size and acknowledged offset of each open file.
    pub lag: Arc<Mutex<Vec<FileLag>>>,
    /// Its checkpoints (when they were last saved).
    pub book: Arc<crate::checkpoint::CheckpointBook>,
}

/// A transform as the metrics see it.
#[derive(Clone)]
pub struct TransformView {
    /// Its name.
    pub name: String,
    /// Its type (`filter`, `dedupe`, ...).
    pub kind: &'static str,
    /// Events it dropped.
    pub discarded: Arc<std::sync::atomic::AtomicU64>,
    /// A `detect` transform's alerts and evicted keys.
    pub detect: Option<Arc<crate::transform::detect::Counters>>,
}

/// A sink as the metrics see it.
#[derive(Clone)]
pub struct SinkView {
    /// Its name.
    pub name: String,
    /// Its type (`file`, `http`, ...).
    pub kind: &'static str,
    /// Delivered, dead-lettered, failed attempts.
    pub stats: Arc<SinkStats>,
}

/// What the API reports: the phase and the running components' counters.
#[derive(Default)]
pub struct Telemetry {
    /// The taps `GET /tap` watches.
    pub taps: Arc<crate::tap::Taps>,
    phase: AtomicU8,
    sources: Mutex<Vec<SourceView>>,
    transforms: Mutex<Vec<TransformView>>,
    sinks: Mutex<Vec<SinkView>>,
    budget: Mutex<Option<Budget>>,
}

impl Telemetry {
    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            1 => Phase::Running,
            2 => Phase::Draining,
            _ => Phase::Starting,
        }
    }

    /// Shows the running pipeline's components.
    pub fn attach(
        &self,
        sources: Vec<SourceView>,
        transforms: Vec<TransformView>,
        sinks: Vec<SinkView>,
        budget: Budget,
    ) {
        *lock(&self.sources) = sources;
        *lock(&self.transforms) = transforms;
        *lock(&self.sinks) = sinks;
        *lock(&self.budget) = Some(budget);
    }

    /// The Prometheus text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut metric = Metrics(String::with_capacity(4096));
        metric.family(
            "auditship_build_info",
            "gauge",
            "The running build: 1, labelled with its version.",
        );
        let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
        metric.sample("auditship_build_info", &version, 1);
        let sources = lock(&self.sources);
        let sinks = lock(&self.sinks);
        sources_metrics(&mut metric, &sources);
        metric.family(
            "auditship_component_discarded_events_total",
            "counter",
            "Events a transform dropped (filtered, deduplicated, throttled).",
        );
        for t in lock(&self.transforms).iter() {
            let labels = format!(
                "component_id=\"{}\",component_kind=\"transform\",component_type=\"{}\"",
                escape(&t.name),
                t.kind
            );
            metric.sample(
                "auditship_component_discarded_events_total",
                &labels,
                t.discarded.load(Ordering::Relaxed),
            );
        }
        detect_metrics(&mut metric, &lock(&self.transforms));
        sinks_metrics(&mut metric, &sinks);
        metric.family(
            "auditship_tap_dropped_events_total",
            "counter",
            "Copies of events not handed to a slow `auditship tap` (the events themselves flow on).",
        );
        metric.sample(
            "auditship_tap_dropped_events_total",
            "",
            self.taps.dropped.load(Ordering::Relaxed),
        );
        if let Some(budget) = lock(&self.budget).as_ref() {
            budget_metrics(&mut metric, budget);
        }
        process_metrics(&mut metric);
        metric.0
    }
}

fn sources_metrics(metric: &mut Metrics, sources: &[SourceView]) {
    let families: [Family<ReadStats>; 2] = [
        (
            "auditship_component_received_bytes_total",
            "Bytes a source read from its files.",
            |s| &s.bytes,
        ),
        (
            "auditship_component_received_events_total",
            "Records a source handed on.",
            |s| &s.records,
        ),
    ];
    let labels: Vec<(String, &ReadStats)> = sources
        .iter()
        .map(|s| (source_labels(&s.name), &*s.stats))
        .collect();
    metric.counters(&families, &labels);
    metric.family(
        "auditship_source_file_lag_bytes",
        "gauge",
        "Bytes of a tailed file not yet acknowledged by every sink (size minus checkpoint).",
    );
    let mut open = 0;
    for s in sources {
        for f in lock(&s.lag).iter() {
            open += 1;
            let labels = format!("{},file=\"{}\"", source_labels(&s.name), escape(&f.path));
            metric.sample(
                "auditship_source_file_lag_bytes",
                &labels,
                f.size.saturating_sub(f.acked),
            );
        }
    }
    metric.family(
        "auditship_checkpoint_age_seconds",
        "gauge",
        "Seconds since a source last wrote its checkpoints.",
    );
    let now = crate::time::now_ms();
    for s in sources {
        if let Some(saved) = s.book.saved_ms() {
            let age = u64::try_from((now - saved).max(0)).unwrap_or(0) / 1000;
            metric.sample(
                "auditship_checkpoint_age_seconds",
                &source_labels(&s.name),
                age,
            );
        }
    }
    metric.family(
        "auditship_parse_failures_total",
        "counter",
        "Records no parser could read (shipped raw, tagged audit_parse_failure).",
    );
    metric.sample(
        "auditship_parse_failures_total",
        "",
        crate::parse::parse_failures(),
    );
    metric.family(
        "auditship_source_files_open",
        "gauge",
        "Files the sources hold open.",
    );
    metric.sample("auditship_source_files_open", "", open);
}

/// Alerts raised and keys evicted by each `detect` transform.
fn detect_metrics(metric: &mut Metrics, transforms: &[TransformView]) {
    let detectors: Vec<(&TransformView, &crate::transform::detect::Counters)> = transforms
        .iter()
        .filter_map(|t| t.detect.as_deref().map(|c| (t, c)))
        .collect();
    if detectors.is_empty() {
        return;
    }
    for (name, help, read) in [
        (
            "auditship_detect_alerts_total",
            "Alert events a detect transform raised.",
            (|c: &crate::transform::detect::Counters| c.alerts.load(Ordering::Relaxed))
                as fn(&crate::transform::detect::Counters) -> u64,
        ),
        (
            "auditship_detect_evicted_keys_total",
            "Keys a detect transform dropped (least recently used) to stay under max_keys per rule.",
            |c| c.evicted.load(Ordering::Relaxed),
        ),
    ] {
        metric.family(name, "counter", help);
        for (t, c) in &detectors {
            let labels = format!(
                "component_id=\"{}\",component_kind=\"transform\",component_type=\"detect\"",
                escape(&t.name)
            );
            metric.sample(name, &labels, read(c));
        }
    }
}

fn sinks_metrics(metric: &mut Metrics, sinks: &[SinkView]) {
    let families: [Family<SinkStats>; 4] = [
        (
            "auditship_component_sent_events_total",
            "Events a sink delivered (acknowledged by its destination).",
            |s| &s.delivered,
        ),
        (
            "auditship_component_sent_bytes_total",
            "Bytes a sink put on the wire in deliveries that succeeded (encoded and compressed, as sent).",
            |s| &s.sent_bytes,
        ),
        (
            "auditship_dead_letter_events_total",
            "Events a sink's destination refused, written to the dead-letter file.",
            |s| &s.dead_lettered,
        ),
        (
            "auditship_sink_retries_total",
            "Delivery attempts that failed and were retried.",
            |s| &s.failures,
        ),
    ];
    let labels: Vec<(String, &SinkStats)> =
        sinks.iter().map(|s| (sink_labels(s), &*s.stats)).collect();
    metric.counters(&families, &labels);
    metric.family(
        "auditship_component_errors_total",
        "counter",
        "Failed delivery attempts by kind: transient, rejected (body refused, split and resent), operator (credentials, address), fatal.",
    );
    for s in sinks {
        for (kind, count) in crate::sink::ERROR_TYPES.iter().zip(&s.stats.errors) {
            let labels = format!("{},error_type=\"{kind}\"", sink_labels(s));
            metric.sample(
                "auditship_component_errors_total",
                &labels,
                count.load(Ordering::Relaxed),
            );
        }
    }
}

fn budget_metrics(metric: &mut Metrics, budget: &Budget) {
    metric.family(
        "auditship_buffer_bytes",
        "gauge",
        "Bytes of events in flight (the memory budget in use).",
    );
    let total = budget.total();
    metric.sample(
        "auditship_buffer_bytes",
        "",
        (total.saturating_sub(budget.available())) as u64,
    );
    metric.family(
        "auditship_buffer_max_bytes",
        "gauge",
        "The memory budget for events in flight.",
    );
    metric.sample("auditship_buffer_max_bytes", "", total as u64);
}

/// A counter family read from a component's stats: name, help, the field.
type Family<S> = (
    &'static str,
    &'static str,
    fn(&S) -> &std::sync::atomic::AtomicU64,
);

/// Writes samples and families into the exposition text.
struct Metrics(String);

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// Counter families read from each component's stats: (name, help, field) × (labels, stats).
    fn counters<S>(&mut self, families: &[Family<S>], components: &[(String, &S)]) {
        for (name, help, read) in families {
            self.family(name, "counter", help);
            for (labels, stats) in components {
                self.sample(name, labels, read(stats).load(Ordering::Relaxed));
            }
        }
    }

    fn sample(&mut self, name: &str, labels: &str, value: u64) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
        }
    }
}

fn source_labels(name: &str) -> String {
    format!(
        "component_id=\"{}\",component_kind=\"source\",component_type=\"file\"",
        escape(name)
    )
}

fn sink_labels(s: &SinkView) -> String {
    format!(
        "component_id=\"{}\",component_kind=\"sink\",component_type=\"{}\"",
        escape(&s.name),
        s.kind
    )
}

/// A label value with `\`, `"` and newlines escaped as the text format asks.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Resident memory, CPU time and open descriptors of this process, from `/proc/self`.
fn process_metrics(metric: &mut Metrics) {
    if let Some(kib) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
    {
        metric.family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the agent.",
        );
        metric.sample("process_resident_memory_bytes", "", kib * 1024);
    }
    // Fields 14 and 15 of /proc/self/stat (after the parenthesised name): user and system
    // time in clock ticks, 100 per second on Linux.
    if let Some(ticks) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
    {
        metric.family(
            "process_cpu_seconds_total",
            "counter",
            "CPU time the agent used, user and system.",
        );
        let _ = writeln!(
            metric.0,
            "process_cpu_seconds_total {}.{:02}",
            ticks / 100,
            ticks % 100
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metric.family(
            "process_open_fds",
            "gauge",
            "File descriptors the agent holds open.",
        );
        metric.sample("process_open_fds", "", fds.count() as u64);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Serves the API on `address` until `stop` is cancelled.
///
/// # Errors
/// When the address cannot be bound (in use, not local): the agent refuses to start.
pub async fn serve(
    address: SocketAddr,
    telemetry: Arc<Telemetry>,
    stop: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "API listening: /health, /metrics");
    Ok(tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "API cannot accept a connection");
                        continue;
                    }
                },
            };
            let telemetry = telemetry.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let telemetry = telemetry.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&request, &telemetry)) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    }))
}

/// A tap's stream of ECS JSON lines, ending when the agent stops.
pub struct TapBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for TapBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// `GET /tap?component=NAME&component=...&sample=N`: streams the events leaving those
/// components (every output without a name), every `N`th one.
fn tap(query: &str, telemetry: &Telemetry) -> Response<Either<Full<Bytes>, TapBody>> {
    let mut components = Vec::new();
    let mut sample = 1;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("component", name)) => components.push(name.to_owned()),
            Some(("sample", n)) if n.parse::<u64>().is_ok_and(|n| n > 0) => {
                sample = n.parse().unwrap_or(1);
            }
            _ => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    format!("bad query `{pair}`: component=NAME (repeatable), sample=N (N ≥ 1)\n"),
                )
            }
        }
    }
    match telemetry.taps.watch(&components, sample) {
        Ok(rx) => Response::builder()
            .header("content-type", "application/x-ndjson")
            .body(Either::Right(TapBody(rx)))
            .unwrap_or_else(|_| Response::new(Either::Left(Full::default()))),
        Err(e) => plain(StatusCode::NOT_FOUND, format!("{e}\n")),
    }
}

fn plain(status: StatusCode, body: String) -> Response<Either<Full<Bytes>, TapBody>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Either::Left(Full::new(Bytes::from(body))))
        .unwrap_or_else(|_| Response::new(Either::Left(Full::default())))
}

fn answer<B>(
    request: &Request<B>,
    telemetry: &Telemetry,
) -> Response<Either<Full<Bytes>, TapBody>> {
    let reply = |status: StatusCode, kind: &str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", kind)
            .body(Either::Left(Full::new(Bytes::from(body))))
            .unwrap_or_else(|_| Response::new(Either::Left(Full::default())))
    };
    if request.method() != hyper::Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match request.uri().path() {
        "/health" => {
            let (status, word) = match telemetry.phase() {
                Phase::Running => (StatusCode::OK, "ok"),
                Phase::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
                Phase::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
            };
            reply(
                status,
                "application/json",
                format!("{{\"status\":\"{word}\"}}\n"),
            )
        }
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            telemetry.render(),
        ),
        "/tap" => tap(request.uri().query().unwrap_or(""), telemetry),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: /health, /metrics, /tap\n".into(),
        ),
    }
}
