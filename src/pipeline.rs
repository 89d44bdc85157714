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
use crate::transform::Transform;

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

/// A running pipeline's handles.
struct Running {
    sources: Vec<(String, SourceHandle)>,
    transforms: Vec<JoinHandle<()>>,
    sinks: Vec<(String, JoinHandle<Result<(), SinkError>>)>,
    /// Each sink's counters, for the API.
    sink_views: Vec<api::SinkView>,
    /// Each transform's counter of dropped events, for the API.
    transform_views: Vec<api::TransformView>,
    budget: Budget,
}

/// Everything has settled (or was abandoned): writes the final checkpoints.
fn save_checkpoints(running: &Running) {
    for (name, source) in &running.sources {
        if let Err(e) = source.book.save() {
            tracing::error!(source = %name, error = %e, "cannot write final checkpoints");
        }
    }
}

/// Hands the running components' counters to the API and marks the pipeline running.
fn show(telemetry: &api::Telemetry, running: &mut Running) {
    telemetry.attach(
        running
            .sources
            .iter()
            .map(|(name, h)| api::SourceView {
                name: name.clone(),
                stats: h.stats.clone(),
                lag: h.lag.clone(),
                book: h.book.clone(),
            })
            .collect(),
        std::mem::take(&mut running.transform_views),
        std::mem::take(&mut running.sink_views),
        running.budget.clone(),
    );
    telemetry.set_phase(api::Phase::Running);
}

/// Runs `plan` until `shutdown` is cancelled (or a sink fails), then drains: readers stop,
/// queued chunks flow to the sinks, sinks settle, checkpoints are saved. In-flight batches get
/// `plan.shutdown_timeout`; after that they are abandoned unacknowledged (re-sent on restart).
pub async fn run(plan: Plan, shutdown: CancellationToken) -> Result<(), PipelineError> {
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
    let mut running = start(&plan, &shutdown, &abort)?;
    let mut failure: Option<PipelineError> = None;
    show(&telemetry, &mut running);
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

    // Run until asked to stop, or until a sink gives up.
    let sink_failed = async {
        loop {
            for (name, handle) in &running.sinks {
                if handle.is_finished() {
                    return name.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        () = shutdown.cancelled() => {}
        name = sink_failed => {
            tracing::error!(sink = %name, "a sink stopped; shutting down");
            shutdown.cancel();
        }
    }
    tracing::info!("draining: readers stopped, delivering what is in flight");
    telemetry.set_phase(api::Phase::Draining);
    notifier.notify("STOPPING=1\nSTATUS=draining in-flight events");

    // Readers stop reading and close their channels; everything downstream drains in turn.
    for (_, source) in &mut running.sources {
        if let Some(reader) = source.reader.take() {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
    }
    let deadline = tokio::time::Instant::now() + plan.shutdown_timeout;
    for (_, source) in &mut running.sources {
        if tokio::time::timeout_at(deadline, &mut source.parser)
            .await
            .is_err()
        {
            source.parser.abort();
        }
    }
    for t in &mut running.transforms {
        if tokio::time::timeout_at(deadline, &mut *t).await.is_err() {
            t.abort();
        }
    }
    for (name, handle) in &mut running.sinks {
        let result = if let Ok(r) = tokio::time::timeout_at(deadline, &mut *handle).await {
            r
        } else {
            tracing::warn!(sink = %name, "shutdown timeout reached; abandoning in-flight batches (they are re-sent after restart)");
            abort.cancel();
            if let Ok(r) = tokio::time::timeout(Duration::from_secs(5), &mut *handle).await {
                r
            } else {
                handle.abort();
                continue;
            }
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                failure.get_or_insert(PipelineError::Sink {
                    name: name.clone(),
                    source,
                });
            }
            Err(e) => tracing::error!(sink = %name, error = %e, "sink task panicked"),
        }
    }
    save_checkpoints(&running);
    tracing::info!("stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn start(
    plan: &Plan,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) -> Result<Running, PipelineError> {
    let budget = Budget::new(plan.max_bytes);
    let dead_letter = Arc::new(DeadLetter::new(
        &plan.data_dir,
        plan.dead_letter_max_bytes,
        plan.dead_letter_max_files,
    ));
    let mut inputs: HashMap<&str, (mpsc::Sender<EventChunk>, mpsc::Receiver<EventChunk>)> =
        HashMap::new();
    for c in &plan.components {
        if !matches!(c.kind, Kind::Source(_)) {
            let capacity = if matches!(c.kind, Kind::Sink(_)) {
                SINK_CHUNKS
            } else {
                CHANNEL_CHUNKS
            };
            inputs.insert(&c.name, mpsc::channel(capacity));
        }
    }
    // The senders of the components that read output `name` (a component's name, or a named
    // output such as `split.failures`).
    let outputs = |name: &str| -> Fanout {
        Fanout::new(
            plan.components
                .iter()
                .filter(|c| c.inputs.iter().any(|i| i == name))
                .filter_map(|c| inputs.get(c.name.as_str()).map(|(tx, _)| tx.clone()))
                .collect(),
        )
    };
    let mut running = Running {
        sources: Vec::new(),
        transforms: Vec::new(),
        sinks: Vec::new(),
        sink_views: Vec::new(),
        transform_views: Vec::new(),
        budget: budget.clone(),
    };
    let mut receivers: HashMap<&str, mpsc::Receiver<EventChunk>> = HashMap::new();
    let mut fanouts: HashMap<&str, Vec<Fanout>> = HashMap::new();
    for c in &plan.components {
        let outs = c.kind.outputs(&c.name).iter().map(|o| outputs(o)).collect();
        fanouts.insert(&c.name, outs);
    }
    for (name, (_, rx)) in inputs.drain() {
        receivers.insert(name, rx);
    }
    let chains = chains(plan);
    // Sinks and transforms first, so that sources never send into nothing.
    for c in plan.components.iter().rev() {
        match &c.kind {
            Kind::Sink(config) => {
                let rx = receivers
                    .remove(c.name.as_str())
                    .expect("every sink has an input");
                let ctx = SinkContext {
                    name: Arc::from(c.name.as_str()),
                    abort: abort.clone(),
                    stats: Arc::new(SinkStats::default()),
                    dead_letter: dead_letter.clone(),
                    max_attempts: None,
                };
                spawn_sink(&c.name, config, rx, ctx, &mut running)?;
            }
            Kind::Transform(_) => {
                // A transform fused into the task of the one before it has no task of its own.
                let Some(chain) = chains.get(c.name.as_str()) else {
                    continue;
                };
                let rx = receivers
                    .remove(c.name.as_str())
                    .expect("every transform has an input");
                let tail = chain.last().map_or(c.name.as_str(), |t| t.name.as_str());
                let outs = fanouts.remove(tail).unwrap_or_default();
                let views = &mut running.transform_views;
                let task = spawn_chain(chain, rx, outs, budget.clone(), views);
                running.transforms.push(task);
            }
            Kind::Source(_) => {}
        }
    }
    let ctx = SourceContext {
        data_dir: plan.data_dir.clone(),
        budget,
        shutdown: shutdown.clone(),
    };
    for c in &plan.components {
        if let Kind::Source(config) = &c.kind {
            let out = fanouts
                .remove(c.name.as_str())
                .and_then(|outs| outs.into_iter().next())
                .unwrap_or_default();
            let handle = crate::source::spawn(&c.name, config, &ctx, out).map_err(|source| {
                PipelineError::Source {
                    name: c.name.clone(),
                    source,
                }
            })?;
            running.sources.push((c.name.clone(), handle));
        }
    }
    Ok(running)
}

/// Starts a sink and keeps its handle and its counters (for the API).
fn spawn_sink(
    name: &str,
    config: &crate::sink::SinkConfig,
    rx: mpsc::Receiver<EventChunk>,
    ctx: SinkContext,
    running: &mut Running,
) -> Result<(), PipelineError> {
    running.sink_views.push(api::SinkView {
        name: name.to_owned(),
        kind: config.type_name(),
        stats: ctx.stats.clone(),
    });
    let handle = config
        .spawn(rx, ctx)
        .map_err(|reason| PipelineError::Sink {
            name: name.to_owned(),
            source: SinkError::fatal(reason),
        })?;
    running.sinks.push((name.to_owned(), handle));
    Ok(())
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
                });
                let step: Box<dyn Transform> = Box::new(crate::transform::counted::Counted::new(
                    config.build(),
                    discarded,
                ));
                Some(step)
            }
            _ => None,
        })
        .collect();
    tokio::spawn(run_transform(
        Box::new(crate::transform::Chain::new(steps)),
        rx,
        outs,
        budget,
    ))
}

/// How many chunks a chain whose transforms can fork works on at once: the cores, at most 4.
fn chain_width() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs a chain of transforms on its input. A chain whose every transform can fork
/// ([`Transform::fork`]) works on up to [`chain_width`] chunks at once on the runtime's
/// threads, and sends the results strictly in arrival order (a FIFO of tasks, as the
/// parsers do); one with `dedupe` or `throttle` works on one chunk at a time.
async fn run_transform(
    mut transform: Box<dyn Transform>,
    mut input: mpsc::Receiver<EventChunk>,
    outs: Vec<Fanout>,
    budget: Budget,
) {
    type Done = (Box<dyn Transform>, Vec<EventChunk>, usize);
    let width = chain_width();
    let mut idle: Vec<Box<dyn Transform>> = if width > 1 {
        (0..width).map_while(|_| transform.fork()).collect()
    } else {
        Vec::new()
    };
    if idle.len() < 2 {
        while let Some(chunk) = input.recv().await {
            let before = chunk.approx_bytes();
            let chunks = transform.split(chunk);
            if !emit(chunks, before, &outs, &budget).await {
                return;
            }
        }
        return;
    }
    let mut running: std::collections::VecDeque<JoinHandle<Done>> =
        std::collections::VecDeque::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            done = async { running.front_mut().expect("guarded by !is_empty").await }, if !running.is_empty() => {
                running.pop_front();
                match done {
                    Ok((fork, chunks, before)) => {
                        idle.push(fork);
                        if !emit(chunks, before, &outs, &budget).await {
                            return;
                        }
                    }
                    Err(e) => {
                        // The chunk's acknowledgements went with the task: its lines stay
                        // unacknowledged (re-read after a restart). A fresh fork replaces it.
                        tracing::error!(error = %e, "a transform task failed; its events stay unacknowledged");
                        idle.extend(transform.fork());
                    }
                }
            }
            next = input.recv(), if open && !idle.is_empty() => match next {
                Some(chunk) => {
                    let mut fork = idle.pop().expect("guarded by !is_empty");
                    running.push_back(tokio::spawn(async move {
                        let before = chunk.approx_bytes();
                        let chunks = fork.split(chunk);
                        (fork, chunks, before)
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
            first
                .acks
                .absorb(crate::ack::Acks::one(crate::ack::ChunkAck::new(
                    0,
                    None,
                    Some(reservation),
                )));
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
