//! Spawns every component of a [`Plan`] and wires them with bounded channels: the data path.
//!
//! source reader thread → parse stage (all cores, order kept) → transforms → sinks. Each
//! arrow is a bounded channel; the memory budget bounds everything in between.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::budget::Budget;
use crate::chunk::EventChunk;
use crate::config::{Kind, Plan};
use crate::dead_letter::DeadLetter;
use crate::fanout::{Fanout, CHANNEL_CHUNKS, SINK_CHUNKS};
use crate::sink::{SinkContext, SinkError, SinkStats};
use crate::source::{SourceContext, SourceHandle};
use crate::transform::{Ahead, Chain, Prepared, Transform};

/// Why the pipeline stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The data directory cannot be created.
    #[error("cannot create data_dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another agent holds the data directory.
    #[error("data_dir {path} is in use by another auditship (lock file {path}/lock, held by pid {holder}); two agents on one data_dir would ship everything twice")]
    DataDirLocked {
        /// The directory.
        path: std::path::PathBuf,
        /// What the lock file says of its holder.
        holder: String,
    },
    /// The data directory cannot be written (checkpoints could never be saved).
    #[error("data_dir {path} is not writable: {source}")]
    DataDirReadOnly {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The API cannot listen on its address.
    #[error("api address {address} cannot be used: {source}")]
    Api {
        /// The `[api] address`.
        address: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A source could not start.
    #[error("source `{name}` cannot start: {source}")]
    Source {
        /// The source.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A sink stopped with a permanent error.
    #[error("sink `{name}` failed: {source}")]
    Sink {
        /// The sink.
        name: String,
        /// What happened.
        source: SinkError,
    },
}

/// A running source.
struct SourceRun {
    name: String,
    settings: toml::Table,
    handle: SourceHandle,
}

/// A running sink.
struct SinkRun {
    name: String,
    settings: toml::Table,
    handle: JoinHandle<Result<(), SinkError>>,
    /// A sender of its input, kept so that a reload can wire new transforms to it; dropped at
    /// drain so the sink sees its input close.
    input: Option<mpsc::Sender<EventChunk>>,
    /// Stops its retries (at the shutdown timeout, or when a reload retires it).
    abort: CancellationToken,
    view: api::SinkView,
}

/// A running pipeline's handles.
struct Running {
    sources: Vec<SourceRun>,
    transforms: Vec<JoinHandle<()>>,
    sinks: Vec<SinkRun>,
    /// Each transform's counter of dropped events, for the API.
    transform_views: Vec<api::TransformView>,
    budget: Budget,
    dead_letter: Arc<DeadLetter>,
    /// Every output's tap, kept across reloads.
    taps: Arc<crate::tap::Taps>,
}

/// Everything has settled (or was abandoned): writes the final checkpoints.
fn save_checkpoints(running: &Running) {
    for source in &running.sources {
        if let Err(e) = source.handle.book.save() {
            tracing::error!(source = %source.name, error = %e, "cannot write final checkpoints");
        }
    }
}

/// Hands the running components' counters to the API and marks the pipeline running.
fn show(telemetry: &api::Telemetry, running: &Running) {
    telemetry.attach(
        running
            .sources
            .iter()
            .map(|s| api::SourceView {
                name: s.name.clone(),
                stats: s.handle.stats.clone(),
                lag: s.handle.lag.clone(),
                book: s.handle.book.clone(),
            })
            .collect(),
        running.transform_views.clone(),
        running.sinks.iter().map(|s| s.view.clone()).collect(),
        running.budget.clone(),
    );
    telemetry.set_phase(api::Phase::Running);
}

/// Where a running pipeline re-reads its configuration from on SIGHUP.
pub struct Reload {
    /// The pipeline files given with `--config`.
    pub paths: Vec<std::path::PathBuf>,
    /// Notified on each SIGHUP.
    pub signal: Arc<tokio::sync::Notify>,
}

/// Runs `plan` until `shutdown` is cancelled (or a sink fails), then drains: readers stop,
/// queued chunks flow to the sinks, sinks settle, checkpoints are saved. In-flight batches get
/// `plan.shutdown_timeout`; after that they are abandoned unacknowledged (re-sent on restart).
/// With `reload`, each SIGHUP re-reads the configuration and applies what changed
/// ([`reload`]).
pub async fn run(
    mut plan: Plan,
    shutdown: CancellationToken,
    reload: Option<Reload>,
) -> Result<(), PipelineError> {
    std::fs::create_dir_all(&plan.data_dir).map_err(|source| PipelineError::DataDir {
        path: plan.data_dir.clone(),
        source,
    })?;
    let _lock = lock_data_dir(&plan.data_dir)?;
    let telemetry = Arc::new(api::Telemetry::default());
    let api_stop = CancellationToken::new();
    // The API answers from the start: 503 until the pipeline runs.
    if let Some(address) = plan.api {
        api::serve(address, telemetry.clone(), api_stop.clone())
            .await
            .map_err(|source| PipelineError::Api { address, source })?;
    }
    let _stop_api = api_stop.drop_guard();
    let abort = CancellationToken::new();
    let mut running = start(&plan, &shutdown, &abort, telemetry.taps.clone())?;
    show(&telemetry, &running);
    tracing::info!(
        components = plan.components.len(),
        "pipeline running; SIGTERM or SIGINT drains and stops it"
    );
    let notifier = crate::systemd::Notifier::from_env();
    notifier.notify(&format!(
        "READY=1\nSTATUS=running {} components",
        plan.components.len()
    ));
    notifier.spawn_watchdog();

    // Run until asked to stop, or until a sink gives up; reload on SIGHUP.
    loop {
        let sink_failed = async {
            loop {
                for sink in &running.sinks {
                    if sink.handle.is_finished() {
                        return sink.name.clone();
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let hup = async {
            match &reload {
                Some(r) => {
                    r.signal.notified().await;
                    r.paths.as_slice()
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            name = sink_failed => {
                tracing::error!(sink = %name, "a sink stopped; shutting down");
                shutdown.cancel();
                break;
            }
            paths = hup => {
                notifier.notify("RELOADING=1\nSTATUS=reloading the configuration");
                if let Some(next) = reload_plan(paths, &mut running, &plan, &shutdown, &abort).await {
                    plan = next;
                    show(&telemetry, &running);
                }
                notifier.notify(&format!(
                    "READY=1\nSTATUS=running {} components",
                    plan.components.len()
                ));
            }
        }
    }
    tracing::info!("draining: readers stopped, delivering what is in flight");
    telemetry.set_phase(api::Phase::Draining);
    notifier.notify("STOPPING=1\nSTATUS=draining in-flight events");

    let failure = drain(&mut running, plan.shutdown_timeout).await;
    save_checkpoints(&running);
    tracing::info!("stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Re-reads the configuration and applies it; the new plan, or `None` (with every reason
/// logged) when the running pipeline stays as it was.
async fn reload_plan(
    paths: &[std::path::PathBuf],
    running: &mut Running,
    plan: &Plan,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) -> Option<Plan> {
    match crate::config::load(paths) {
        Err(errors) => {
            for e in &errors.0 {
                tracing::error!("reload: {e}");
            }
            tracing::error!(
                errors = errors.0.len(),
                "reload refused: the configuration is invalid; the running pipeline is unchanged"
            );
            None
        }
        Ok(next) => match apply(running, plan, &next, shutdown, abort).await {
            Ok(()) => Some(next),
            Err(e) => {
                tracing::error!(error = %e, "reload refused; the running pipeline is unchanged");
                None
            }
        },
    }
}

/// Readers stop reading and close their channels; everything downstream drains in turn,
/// within `timeout`. The first sink failure, if any.
async fn drain(running: &mut Running, timeout: Duration) -> Option<PipelineError> {
    let deadline = tokio::time::Instant::now() + timeout;
    for source in &mut running.sources {
        stop_source(&mut source.handle, deadline).await;
    }
    for t in &mut running.transforms {
        if tokio::time::timeout_at(deadline, &mut *t).await.is_err() {
            t.abort();
        }
    }
    for sink in &mut running.sinks {
        sink.input = None;
    }
    let mut failure = None;
    for sink in &mut running.sinks {
        if let Err(source) = settle_sink(sink, deadline).await {
            failure.get_or_insert(PipelineError::Sink {
                name: sink.name.clone(),
                source,
            });
        }
    }
    failure
}

/// Stops a source's reader, lets its parse stage hand on what it holds (until `deadline`),
/// and lets go of its output so that downstream sees its input close.
async fn stop_source(handle: &mut SourceHandle, deadline: tokio::time::Instant) {
    handle.stop.cancel();
    if let Some(reader) = handle.reader.take() {
        let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    }
    if tokio::time::timeout_at(deadline, &mut handle.parser)
        .await
        .is_err()
    {
        handle.parser.abort();
    }
    handle.rewire = None;
}

/// Waits until `deadline` for a sink whose input has closed to deliver what it holds; then
/// stops its retries (its batches stay unacknowledged and are re-sent after a restart) and
/// waits a little more for it to settle them as failed.
async fn settle_sink(sink: &mut SinkRun, deadline: tokio::time::Instant) -> Result<(), SinkError> {
    let result = if let Ok(r) = tokio::time::timeout_at(deadline, &mut sink.handle).await {
        r
    } else {
        tracing::warn!(sink = %sink.name, "shutdown timeout reached; abandoning in-flight batches (they are re-sent after restart)");
        sink.abort.cancel();
        if let Ok(r) = tokio::time::timeout(Duration::from_secs(5), &mut sink.handle).await {
            r
        } else {
            sink.handle.abort();
            return Ok(());
        }
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(sink = %sink.name, error = %e, "sink task panicked");
            Ok(())
        }
    }
}

/// Why a valid configuration cannot be applied to the running pipeline.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A setting that only a restart can change.
    #[error("`{0}` changed; it takes effect only after a restart")]
    NeedsRestart(&'static str),
    /// A new sink cannot start.
    #[error("sink `{name}` cannot start: {reason}")]
    Sink {
        /// The sink.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Applies a new, valid configuration to the running pipeline: unchanged sources keep reading
/// (their output is rewired, nothing is re-read), unchanged sinks keep their queue, every
/// transform is rebuilt (`dedupe` and `throttle` start with empty state), added components
/// start, removed and changed ones drain and stop. A changed source starts again only after
/// its old events have settled (or `shutdown_timeout` passed), so it resumes from its
/// checkpoint without sending anything twice.
async fn apply(
    running: &mut Running,
    old: &Plan,
    new: &Plan,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) -> Result<(), ReloadError> {
    if new.data_dir != old.data_dir {
        return Err(ReloadError::NeedsRestart("data_dir"));
    }
    if new.api != old.api {
        return Err(ReloadError::NeedsRestart("api.address"));
    }
    if new.max_bytes != old.max_bytes {
        return Err(ReloadError::NeedsRestart("buffer.max_bytes"));
    }
    if (new.dead_letter_max_bytes, new.dead_letter_max_files)
        != (old.dead_letter_max_bytes, old.dead_letter_max_files)
    {
        return Err(ReloadError::NeedsRestart("dead_letter"));
    }
    let same = |c: &crate::config::Component, name: &str, settings: &toml::Table| {
        c.name == name && c.settings == *settings
    };
    let unchanged =
        |name: &str, settings: &toml::Table| new.components.iter().any(|c| same(c, name, settings));
    let report = Changes::between(old, new);
    let mut kept_sinks: HashMap<String, SinkRun> = HashMap::new();
    let mut retiring_sinks = Vec::new();
    for sink in std::mem::take(&mut running.sinks) {
        if unchanged(&sink.name, &sink.settings) {
            kept_sinks.insert(sink.name.clone(), sink);
        } else {
            retiring_sinks.push(sink);
        }
    }
    let wired = match wire(new, &mut kept_sinks, running, abort) {
        Ok(w) => w,
        Err(e) => {
            // Put the old sinks back: nothing was rewired.
            running.sinks.extend(kept_sinks.into_values());
            running.sinks.extend(retiring_sinks);
            return Err(e);
        }
    };
    let Wired {
        sinks,
        transforms,
        transform_views,
        mut source_outputs,
    } = wired;
    // The old transforms drain on their own once their inputs close.
    drop(std::mem::replace(&mut running.transforms, transforms));
    running.transform_views = transform_views;
    running.sinks = sinks;
    // Sources: unchanged ones are rewired; the others stop.
    let deadline = tokio::time::Instant::now() + new.shutdown_timeout;
    let mut stopped = Vec::new();
    for mut source in std::mem::take(&mut running.sources) {
        if unchanged(&source.name, &source.settings) {
            let out = source_outputs
                .remove(source.name.as_str())
                .unwrap_or_default();
            if let Some(rewire) = &source.handle.rewire {
                let _ = rewire.send(out);
            }
            running.sources.push(source);
        } else {
            stop_source(&mut source.handle, deadline).await;
            stopped.push(source);
        }
    }
    // Retired sinks deliver what they hold, then stop.
    for sink in &mut retiring_sinks {
        sink.input = None;
    }
    for mut sink in retiring_sinks {
        if let Err(e) = settle_sink(&mut sink, deadline).await {
            tracing::error!(sink = %sink.name, error = %e, "a retired sink failed while draining");
        }
    }
    save_stopped(&stopped, deadline).await;
    drop(stopped);
    let ctx = SourceContext {
        data_dir: new.data_dir.clone(),
        budget: running.budget.clone(),
        shutdown: shutdown.clone(),
    };
    let started = start_sources(new, &ctx, &mut source_outputs, &running.sources);
    for result in started {
        match result {
            Ok(source) => running.sources.push(source),
            Err(PipelineError::Source { name, source }) => {
                tracing::error!(source = %name, error = %source, "reload: source cannot start");
            }
            Err(e) => tracing::error!(error = %e, "reload: source cannot start"),
        }
    }
    tracing::info!(
        added = ?report.added,
        removed = ?report.removed,
        changed = ?report.changed,
        "configuration reloaded"
    );
    Ok(())
}

/// A stopped source's events have settled (or the time is up): saves where it got to, before
/// a changed version of it reads the same checkpoints.
async fn save_stopped(stopped: &[SourceRun], deadline: tokio::time::Instant) {
    for source in stopped {
        while !source.handle.book.is_settled() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !source.handle.book.is_settled() {
            tracing::warn!(source = %source.name, "reload: events of the old source not settled in time; they are sent again");
        }
        if let Err(e) = source.handle.book.save() {
            tracing::error!(source = %source.name, error = %e, "cannot write checkpoints");
        }
    }
}

/// Starts every source of `plan` that is not among `running`, on its output.
fn start_sources(
    plan: &Plan,
    ctx: &SourceContext,
    outputs: &mut HashMap<String, Fanout>,
    running: &[SourceRun],
) -> Vec<Result<SourceRun, PipelineError>> {
    let mut started = Vec::new();
    for c in &plan.components {
        let Kind::Source(config) = &c.kind else {
            continue;
        };
        if running.iter().any(|s| s.name == c.name) {
            continue;
        }
        let out = outputs.remove(c.name.as_str()).unwrap_or_default();
        started.push(
            crate::source::spawn(&c.name, config, ctx, out)
                .map(|handle| SourceRun {
                    name: c.name.clone(),
                    settings: c.settings.clone(),
                    handle,
                })
                .map_err(|source| PipelineError::Source {
                    name: c.name.clone(),
                    source,
                }),
        );
    }
    started
}

/// What a reload changed, for its log line.
#[derive(Default)]
struct Changes {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
}

impl Changes {
    /// Components by name: a transform whose inputs changed has changed too.
    fn between(old: &Plan, new: &Plan) -> Self {
        let mut changes = Self::default();
        for c in &new.components {
            match old.components.iter().find(|o| o.name == c.name) {
                None => changes.added.push(c.name.clone()),
                Some(o) => {
                    let rewired = matches!(c.kind, Kind::Transform(_)) && o.inputs != c.inputs;
                    if o.settings != c.settings || rewired {
                        changes.changed.push(c.name.clone());
                    }
                }
            }
        }
        for o in &old.components {
            if !new.components.iter().any(|c| c.name == o.name) {
                changes.removed.push(o.name.clone());
            }
        }
        changes
    }
}

/// The downstream part of a pipeline, wired and running.
struct Wired {
    sinks: Vec<SinkRun>,
    transforms: Vec<JoinHandle<()>>,
    transform_views: Vec<api::TransformView>,
    /// Each source's output, by source name.
    source_outputs: HashMap<String, Fanout>,
}

/// Starts `plan`'s transforms and sinks, with bounded channels between them; a sink in
/// `kept` (by name) is already running and keeps its queue. New sinks start first: when one
/// cannot start, nothing else has started and `kept` is left as it was.
fn wire(
    plan: &Plan,
    kept: &mut HashMap<String, SinkRun>,
    running: &Running,
    abort: &CancellationToken,
) -> Result<Wired, ReloadError> {
    let mut senders: HashMap<&str, mpsc::Sender<EventChunk>> = HashMap::new();
    let mut receivers: HashMap<&str, mpsc::Receiver<EventChunk>> = HashMap::new();
    for c in &plan.components {
        let capacity = match c.kind {
            Kind::Source(_) => continue,
            Kind::Sink(_) => {
                if let Some(input) = kept.get(&c.name).and_then(|k| k.input.clone()) {
                    senders.insert(&c.name, input);
                    continue;
                }
                SINK_CHUNKS
            }
            Kind::Transform(_) => CHANNEL_CHUNKS,
        };
        let (tx, rx) = mpsc::channel(capacity);
        senders.insert(&c.name, tx);
        receivers.insert(&c.name, rx);
    }
    // The senders of the components that read output `name` (a component's name, or a named
    // output such as `split.failures`).
    let outputs = |name: &str| -> Fanout {
        Fanout::new(
            plan.components
                .iter()
                .filter(|c| c.inputs.iter().any(|i| i == name))
                .filter_map(|c| senders.get(c.name.as_str()).cloned())
                .collect(),
        )
        .tapped(running.taps.point(name))
    };
    let mut fanouts: HashMap<&str, Vec<Fanout>> = HashMap::new();
    for c in &plan.components {
        let outs = c.kind.outputs(&c.name).iter().map(|o| outputs(o)).collect();
        fanouts.insert(&c.name, outs);
    }
    // New sinks first, so that sources never send into nothing.
    let mut sinks = spawn_sinks(plan, kept, &mut receivers, &senders, running, abort)?;
    for c in &plan.components {
        if let Some(sink) = kept.remove(&c.name) {
            sinks.push(sink);
        }
    }
    let chains = chains(plan);
    let mut transforms = Vec::new();
    let mut transform_views = Vec::new();
    for c in &plan.components {
        if !matches!(c.kind, Kind::Transform(_)) {
            continue;
        }
        // A transform fused into the task of the one before it has no task of its own.
        let Some(chain) = chains.get(c.name.as_str()) else {
            continue;
        };
        let rx = receivers
            .remove(c.name.as_str())
            .expect("every transform has an input");
        let tail = chain.last().map_or(c.name.as_str(), |t| t.name.as_str());
        let outs = fanouts.remove(tail).unwrap_or_default();
        let task = spawn_chain(
            chain,
            rx,
            outs,
            running.budget.clone(),
            &mut transform_views,
            &plan.data_dir,
        );
        transforms.push(task);
    }
    let source_outputs = plan
        .components
        .iter()
        .filter(|c| matches!(c.kind, Kind::Source(_)))
        .map(|c| {
            let out = fanouts
                .remove(c.name.as_str())
                .and_then(|outs| outs.into_iter().next())
                .unwrap_or_default();
            (c.name.clone(), out)
        })
        .collect();
    running.taps.set_outputs(
        plan.components
            .iter()
            .flat_map(|c| c.kind.outputs(&c.name))
            .collect(),
    );
    Ok(Wired {
        sinks,
        transforms,
        transform_views,
        source_outputs,
    })
}

/// Starts the sinks of `plan` that are not in `kept`, on their receivers.
fn spawn_sinks(
    plan: &Plan,
    kept: &HashMap<String, SinkRun>,
    receivers: &mut HashMap<&str, mpsc::Receiver<EventChunk>>,
    senders: &HashMap<&str, mpsc::Sender<EventChunk>>,
    running: &Running,
    abort: &CancellationToken,
) -> Result<Vec<SinkRun>, ReloadError> {
    let mut sinks = Vec::new();
    for c in &plan.components {
        let Kind::Sink(config) = &c.kind else {
            continue;
        };
        if kept.contains_key(&c.name) {
            continue;
        }
        let rx = receivers
            .remove(c.name.as_str())
            .expect("every sink has an input");
        let sink_abort = abort.child_token();
        let ctx = SinkContext {
            name: Arc::from(c.name.as_str()),
            abort: sink_abort.clone(),
            stats: Arc::new(SinkStats::default()),
            dead_letter: running.dead_letter.clone(),
            max_attempts: None,
            budget: Some(running.budget.clone()),
        };
        let view = api::SinkView {
            name: c.name.clone(),
            kind: config.type_name(),
            stats: ctx.stats.clone(),
        };
        // On an error the sinks started so far see their input close and stop.
        let handle = config.spawn(rx, ctx).map_err(|reason| ReloadError::Sink {
            name: c.name.clone(),
            reason,
        })?;
        sinks.push(SinkRun {
            name: c.name.clone(),
            settings: c.settings.clone(),
            handle,
            input: senders.get(c.name.as_str()).cloned(),
            abort: sink_abort,
            view,
        });
    }
    Ok(sinks)
}

fn start(
    plan: &Plan,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
    taps: Arc<crate::tap::Taps>,
) -> Result<Running, PipelineError> {
    let mut running = Running {
        sources: Vec::new(),
        transforms: Vec::new(),
        sinks: Vec::new(),
        transform_views: Vec::new(),
        budget: Budget::new(plan.max_bytes),
        dead_letter: Arc::new(DeadLetter::new(
            &plan.data_dir,
            plan.dead_letter_max_bytes,
            plan.dead_letter_max_files,
        )),
        taps,
    };
    let wired = wire(plan, &mut HashMap::new(), &running, abort).map_err(|e| match e {
        ReloadError::Sink { name, reason } => PipelineError::Sink {
            name,
            source: SinkError::fatal(reason),
        },
        ReloadError::NeedsRestart(_) => unreachable!("a first start changes nothing"),
    })?;
    running.sinks = wired.sinks;
    running.transforms = wired.transforms;
    running.transform_views = wired.transform_views;
    let mut outputs = wired.source_outputs;
    let ctx = SourceContext {
        data_dir: plan.data_dir.clone(),
        budget: running.budget.clone(),
        shutdown: shutdown.clone(),
    };
    for source in start_sources(plan, &ctx, &mut outputs, &[]) {
        running.sources.push(source?);
    }
    Ok(running)
}

/// Chains of transforms run in one task, keyed by their first: a transform whose only input
/// is a transform with a single output that nothing else reads joins that transform's chain
/// (no channel hop per transform). Every transform is in exactly one chain.
fn chains(plan: &Plan) -> HashMap<&str, Vec<&crate::config::Component>> {
    let transforms: Vec<&crate::config::Component> = plan
        .components
        .iter()
        .filter(|c| matches!(c.kind, Kind::Transform(_)))
        .collect();
    let readers = |output: &str| {
        plan.components
            .iter()
            .filter(|c| c.inputs.iter().any(|i| i == output))
            .count()
    };
    let mut head_of: HashMap<&str, &str> = HashMap::new();
    let mut chains: HashMap<&str, Vec<&crate::config::Component>> = HashMap::new();
    // Data-path order: a transform's input comes before it.
    for t in transforms {
        let joins = match t.inputs.as_slice() {
            [only] => plan.components.iter().find(|p| {
                p.name == *only
                    && matches!(p.kind, Kind::Transform(_))
                    && p.kind.outputs(&p.name) == [p.name.clone()]
                    && readers(&p.name) == 1
            }),
            _ => None,
        };
        let head = joins
            .and_then(|p| head_of.get(p.name.as_str()).copied())
            .unwrap_or(t.name.as_str());
        head_of.insert(&t.name, head);
        chains.entry(head).or_default().push(t);
    }
    chains
}

/// Starts the task of one chain of transforms.
fn spawn_chain(
    chain: &[&crate::config::Component],
    rx: mpsc::Receiver<EventChunk>,
    outs: Vec<Fanout>,
    budget: Budget,
    views: &mut Vec<api::TransformView>,
    data_dir: &std::path::Path,
) -> JoinHandle<()> {
    let steps: Vec<Box<dyn Transform>> = chain
        .iter()
        .filter_map(|t| match &t.kind {
            Kind::Transform(config) => {
                let discarded = Arc::new(std::sync::atomic::AtomicU64::new(0));
                views.push(api::TransformView {
                    name: t.name.clone(),
                    kind: config.type_name(),
                    discarded: discarded.clone(),
                    detect: match config {
                        crate::transform::TransformConfig::Detect(d) => Some(d.counters()),
                        _ => None,
                    },
                });
                let step: Box<dyn Transform> = Box::new(crate::transform::counted::Counted::new(
                    config.build_in(&t.name, data_dir),
                    discarded,
                ));
                Some(step)
            }
            _ => None,
        })
        .collect();
    tokio::spawn(run_transform(
        crate::transform::Chain::new(steps),
        rx,
        outs,
        budget,
    ))
}

/// How many chunks a chain whose transforms can fork works on at once: the cores, at most 4.
fn chain_width() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs a chain of transforms on its input, sending the results strictly in arrival order.
/// A chain whose every transform can fork ([`Transform::fork`]) works on up to
/// [`chain_width`] chunks at once on the runtime's threads (a FIFO of tasks, as the parsers
/// do). One with a transform that keeps state (`dedupe`, `throttle`, `detect`) runs the steps
/// before it and its preparer that way ([`Chain::ahead`]), and the rest one chunk at a time,
/// in order.
async fn run_transform(
    mut chain: Chain,
    mut input: mpsc::Receiver<EventChunk>,
    outs: Vec<Fanout>,
    budget: Budget,
) {
    /// A copy of what runs on several chunks at once: the whole chain, or its part ahead.
    enum Worker {
        Whole(Box<dyn Transform>),
        Ahead(Ahead),
    }
    /// What a worker made of one chunk.
    enum Out {
        Done(Vec<EventChunk>),
        Ahead(Option<(EventChunk, Option<Prepared>)>),
    }
    let width = chain_width();
    let fresh = |chain: &Chain| {
        chain
            .fork()
            .map(Worker::Whole)
            .or_else(|| chain.ahead().map(Worker::Ahead))
    };
    let mut idle: Vec<Worker> = if width > 1 {
        (0..width).map_while(|_| fresh(&chain)).collect()
    } else {
        Vec::new()
    };
    if idle.len() < 2 {
        while let Some(chunk) = input.recv().await {
            let before = chunk.approx_bytes();
            let chunks = chain.split(chunk);
            if !emit(chunks, before, &outs, &budget).await {
                return;
            }
        }
        return;
    }
    let mut running: std::collections::VecDeque<JoinHandle<(Worker, Out, usize)>> =
        std::collections::VecDeque::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            done = async { running.front_mut().expect("guarded by !is_empty").await }, if !running.is_empty() => {
                running.pop_front();
                match done {
                    Ok((worker, out, before)) => {
                        idle.push(worker);
                        let chunks = match out {
                            Out::Done(chunks) => chunks,
                            // The ordered part, here, in arrival order.
                            Out::Ahead(Some((chunk, prepared))) => chain.split_behind(chunk, prepared),
                            Out::Ahead(None) => Vec::new(),
                        };
                        if !emit(chunks, before, &outs, &budget).await {
                            return;
                        }
                    }
                    Err(e) => {
                        // The chunk's acknowledgements went with the task: its lines stay
                        // unacknowledged (re-read after a restart). A fresh copy replaces it.
                        tracing::error!(error = %e, "a transform task failed; its events stay unacknowledged");
                        idle.extend(fresh(&chain));
                    }
                }
            }
            next = input.recv(), if open && !idle.is_empty() => match next {
                Some(chunk) => {
                    let worker = idle.pop().expect("guarded by !is_empty");
                    running.push_back(tokio::spawn(async move {
                        let before = chunk.approx_bytes();
                        match worker {
                            Worker::Whole(mut w) => {
                                let out = Out::Done(w.split(chunk));
                                (Worker::Whole(w), out, before)
                            }
                            Worker::Ahead(mut a) => {
                                let out = Out::Ahead(a.run(chunk));
                                (Worker::Ahead(a), out, before)
                            }
                        }
                    }));
                }
                None => open = false,
            },
            else => break,
        }
    }
}

/// Sends a transformed chunk's outputs on; charges the memory budget for the bytes the
/// transforms added (enrichment, copies for several routes), released with the chunk, as far
/// as the budget has them free. Returns false when downstream has stopped.
async fn emit(
    mut chunks: Vec<EventChunk>,
    before: usize,
    outs: &[Fanout],
    budget: &Budget,
) -> bool {
    let after: usize = chunks.iter().map(EventChunk::approx_bytes).sum();
    // Never waits (a transform waiting on budget held by chunks queued before it would
    // wait for ever): it takes what is free, and the readers then find less.
    if let Some(reservation) = (after > before)
        .then(|| budget.reserve_now(after - before))
        .flatten()
    {
        if let Some(first) = chunks.iter_mut().find(|c| !c.events.is_empty()) {
            first.acks.hold(reservation);
        }
    }
    for (chunk, out) in chunks.into_iter().zip(outs) {
        if chunk.events.is_empty() {
            chunk.settle_filtered();
            continue;
        }
        if out.send(chunk).await.is_err() {
            return false;
        }
    }
    true
}

/// Takes an exclusive lock on `data_dir/lock` for the life of the returned file, after checking
/// that the directory can be written: a second agent on the same directory is refused (it
/// would read the same checkpoints and ship everything twice), and a read-only directory is
/// refused at start rather than discovered at the first checkpoint.
pub fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, PipelineError> {
    use std::io::{Read as _, Seek as _, Write as _};
    let path = dir.join("lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| PipelineError::DataDirReadOnly {
            path: dir.to_path_buf(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(PipelineError::DataDirLocked {
                path: dir.to_path_buf(),
                holder: holder.trim().to_owned(),
            });
        }
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(PipelineError::DataDirReadOnly {
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    let write = |file: &mut std::fs::File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()
    };
    write(&mut file).map_err(|source| PipelineError::DataDirReadOnly {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_output_transforms_read_by_one_transform_share_its_task() {
        let plan = crate::config::load_str(
            std::path::Path::new("t.toml"),
            r#"
[sources.in]
type = "file"
include = ["/tmp/none"]
[transforms.a]
type = "filter"
inputs = ["in"]
condition = "exists(.x)"
[transforms.b]
type = "dedupe"
inputs = ["a"]
[transforms.c]
type = "route"
inputs = ["b"]
route.x = "exists(.x)"
[transforms.d]
type = "filter"
inputs = ["c.x"]
condition = "exists(.y)"
[transforms.e]
type = "filter"
inputs = ["in"]
condition = "exists(.z)"
[transforms.f]
type = "filter"
inputs = ["e"]
condition = "exists(.z)"
[sinks.one]
type = "console"
inputs = ["d", "c._unmatched", "f", "e"]
"#,
        )
        .unwrap();
        let chains = chains(&plan);
        let names =
            |head: &str| -> Vec<&str> { chains[head].iter().map(|c| c.name.as_str()).collect() };
        assert_eq!(names("a"), ["a", "b", "c"], "the route ends the chain");
        assert_eq!(names("d"), ["d"], "after a named output: a task of its own");
        assert_eq!(names("e"), ["e"], "e is read by a sink too");
        assert_eq!(names("f"), ["f"]);
        assert_eq!(chains.len(), 4);
    }
}
