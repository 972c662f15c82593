//! `pocket-dock controller`: keeps a workspace converged while people work.
//!
//! Inputs (file changes, Podman events, a periodic resync, timed requeues) only put object
//! keys on a [`WorkQueue`]; one pass at a time reconciles the due keys with the same
//! [`reconcile::apply`] that `pocket-dock apply` uses. Nothing polls: the loop sleeps until
//! an input arrives or the next timer is due.

mod current;
pub mod lock;
pub mod queue;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pocket_dock_spec::Kind;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::engine::labels::{KIND, NAME, WORKSPACE};
use crate::error::Error;
use crate::reconcile::{self, ApplyOptions, Key, Observer, Readiness};
use crate::store::{Event, Outcome as EventOutcome, Source};
use crate::workspace::{DIR_NAME, Workspace};
use crate::writer_lock::WriterLock;

use current::Current;
pub use current::PRUNE_GRACE;
pub use lock::{ControllerLock, LockError};
pub use queue::{Backoff, WorkQueue};
use schedule::Schedule;

/// Event actions that change a container's or volume's state (exec events do not).
/// Podman says `remove` where Docker says `destroy`.
const LIFECYCLE_EVENTS: [&str; 13] = [
    "create", "start", "stop", "die", "died", "kill", "remove", "destroy", "pause", "unpause",
    "restart", "oom", "cleanup",
];

/// Event actions that end a container's run, looked at again after [`EXIT_SETTLE`].
const EXIT_EVENTS: [&str; 4] = ["die", "died", "kill", "oom"];
const EXIT_SETTLE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerOptions {
    /// A full resync this often, whatever else happens.
    pub resync: Duration,
    /// A burst of file writes is one change once the files were quiet this long...
    pub debounce: Duration,
    /// ...or once this long has passed since the burst began (a steady stream of saves must
    /// not starve reconciles).
    pub debounce_max: Duration,
    /// Podman events that arrive together are handled together after this long...
    pub settle: Duration,
    /// ...or once this long has passed since the first of them (a storm of events must not
    /// starve reconciles).
    pub settle_max: Duration,
    /// Objects waiting for something (a dependency, readiness) are looked at again after this.
    pub recheck: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            resync: Duration::from_secs(300),
            debounce: Duration::from_millis(100),
            debounce_max: Duration::from_secs(1),
            settle: Duration::from_millis(20),
            settle_max: Duration::from_millis(500),
            recheck: Duration::from_secs(2),
        }
    }
}

/// What the controller did, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ControllerSummary {
    pub passes: u64,
    pub actions: u64,
    pub failures: u64,
}

#[derive(Debug)]
enum Trigger {
    Object(Key),
    Resync,
}

/// Logs each action (the CLI's apply printer is not used by the controller).
struct LogObserver;

impl Observer for LogObserver {
    fn started(&self, _action: &reconcile::Action) {}

    fn finished(&self, outcome: &reconcile::ActionOutcome) {
        let a = &outcome.action;
        match &outcome.result {
            Ok(()) => {
                tracing::info!(target: "pocket_dock::controller", object = %a.key, action = a.op.verb(), reason = %a.reason, elapsed_ms = outcome.elapsed.as_millis() as u64, "done")
            }
            Err(e) => {
                tracing::warn!(target: "pocket_dock::controller", object = %a.key, action = a.op.verb(), error = %e, "failed")
            }
        }
    }
}

/// Runs until `shutdown` resolves. Sandboxes keep running afterwards: the controller owns
/// convergence, not the containers' lifetime.
pub async fn run(
    engine: &Engine,
    workspace: &Workspace,
    options: ControllerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<ControllerSummary, Error> {
    let dir = workspace.root.join(DIR_NAME);
    let _lock = ControllerLock::acquire(&dir).map_err(Error::Lock)?;
    let (tx, mut rx) = mpsc::channel::<Trigger>(256);
    // File changes have a channel of their own, of one: a pending signal covers every later
    // change, and a burst of Podman events can never crowd one out.
    let (files_tx, mut files_rx) = mpsc::channel::<()>(1);
    let _watcher = watch_files(&dir, files_tx)
        .map_err(|e| Error::file("watch", &dir, std::io::Error::other(e)))?;
    let events = tokio::spawn(watch_podman(
        engine.clone(),
        workspace.id.to_string(),
        tx.clone(),
    ));

    let mut declared = Current::new(workspace);
    let mut contexts = ContextWatch::default();
    let mut queue = WorkQueue::new(Duration::from_millis(200), Duration::from_secs(30));
    let mut summary = ControllerSummary::default();
    let mut schedule = Schedule::new(Instant::now(), options);
    tracing::info!(target: "pocket_dock::controller", workspace = %workspace.root.display(), id = %workspace.id, "controller started");

    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        for key in declared.release(now) {
            queue.add(key);
        }
        let queued = queue.has_ready() || queue.next_due().is_some_and(|t| t <= now);
        if let Some(due) = schedule.due(now, queued) {
            if due.reload {
                for key in declared.reload(now) {
                    queue.add(key);
                }
                contexts.update(&declared, &workspace.root, &tx);
            }
            // A full pass reconciles everything; what was queued is part of it. A full pass
            // that failed comes back as its own key.
            let taken = queue.take_due(now);
            let full = due.full || taken.contains(&Key::new(Kind::Workspace, FULL_PASS));
            let only = (!full).then_some(taken);
            if only.as_ref().is_some_and(BTreeSet::is_empty) {
                continue;
            }
            let pass = pass(
                engine,
                workspace,
                &mut declared,
                only.clone(),
                &mut queue,
                &mut summary,
                options,
            );
            tokio::pin!(pass);
            tokio::select! {
                () = &mut pass => {}
                () = &mut shutdown => {
                    // Let the pass finish what it is doing, briefly; then leave.
                    let _ = tokio::time::timeout(Duration::from_secs(3), &mut pass).await;
                    break;
                }
            }
            continue;
        }

        let mut wake = schedule.wake_at(now, queue.next_due(), queue.has_ready());
        if let Some(t) = declared.hold_until() {
            wake = wake.min(t);
        }
        tokio::select! {
            () = &mut shutdown => break,
            Some(()) = files_rx.recv() => schedule.file_changed(Instant::now()),
            trigger = rx.recv() => match trigger {
                Some(Trigger::Object(key)) => {
                    queue.add(key);
                    schedule.event(Instant::now());
                }
                // A resync reads the files again too: a change the watcher missed (its
                // folder replaced, say) is picked up at the latest then.
                Some(Trigger::Resync) | None => schedule.resync(),
            },
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    events.abort();
    tracing::info!(target: "pocket_dock::controller", passes = summary.passes, actions = summary.actions, "controller stopped");
    Ok(summary)
}

/// One reconcile of `only` (all keys when `None`); requeues what failed or waits.
async fn pass(
    engine: &Engine,
    workspace: &Workspace,
    declared: &mut Current,
    only: Option<BTreeSet<Key>>,
    queue: &mut WorkQueue,
    summary: &mut ControllerSummary,
    options: ControllerOptions,
) {
    let started = Instant::now();
    // One writer at a time. A pass that had to wait reads the files again: what the other
    // writer was told to do may be what the files say now.
    let mut waited = false;
    let lock = WriterLock::acquire(
        &workspace.root.join(DIR_NAME),
        "controller",
        None,
        |holder| {
            waited = true;
            tracing::info!(target: "pocket_dock::controller", holder = %holder, "waiting for another writer");
        },
    )
    .await;
    let _lock = match lock {
        Ok(lock) => lock,
        Err(e) => {
            let delay = queue.failed(&Key::new(Kind::Workspace, "*"), Instant::now());
            tracing::warn!(target: "pocket_dock::controller", error = %e, retry_in_ms = delay.as_millis() as u64, "cannot take the workspace's writer lock");
            requeue_pass(queue, only, delay);
            return;
        }
    };
    if waited {
        for key in declared.reload(Instant::now()) {
            queue.add(key);
        }
    }
    let Some((declarations, current)) = declared.for_pass(started) else {
        return;
    };
    let declarations = declarations.as_ref();
    let apply_options = ApplyOptions {
        writer: "controller",
        lock_held: true,
        readiness: Readiness::Once,
        only: only.clone(),
        invalid: current.retained.clone(),
        ..ApplyOptions::default()
    };
    summary.passes += 1;
    let keys = only.as_ref().map_or_else(
        || "all".to_string(),
        |k| {
            k.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
    );
    match reconcile::apply(
        engine,
        workspace,
        declarations,
        apply_options,
        Arc::new(LogObserver),
    )
    .await
    {
        Ok(report) => {
            let now = Instant::now();
            queue.succeeded(&Key::new(Kind::Workspace, FULL_PASS));
            summary.actions += report.outcomes.len() as u64;
            let mut failed = BTreeSet::new();
            for o in report.failures() {
                failed.insert(o.action.key.clone());
            }
            summary.failures += failed.len() as u64;
            for key in &failed {
                let delay = queue.failed(key, now);
                tracing::info!(target: "pocket_dock::controller", object = %key, retry_in_ms = delay.as_millis() as u64, "will retry");
            }
            for o in report.outcomes.iter().filter(|o| o.result.is_ok()) {
                if !failed.contains(&o.action.key) {
                    queue.succeeded(&o.action.key);
                }
            }
            for b in &report.plan.blocked {
                queue.add_at(b.key.clone(), now + options.recheck);
            }
            for (key, _) in &report.not_ready {
                queue.add_at(key.clone(), now + options.recheck);
            }
            for crash in &report.plan.crash_loops {
                let retry = Duration::from_millis(crash.retry_in_ms);
                tracing::info!(target: "pocket_dock::controller", object = %crash.key, "{}", crash.reason());
                queue.add_at(crash.key.clone(), now + retry);
            }
            for error in &report.status_errors {
                tracing::error!(target: "pocket_dock::controller", error = %error, "status file not written");
            }
            for kept in &report.plan.kept {
                tracing::info!(target: "pocket_dock::controller", object = %kept.key, "{}", kept.reason);
            }
            record_events(workspace, &report);
            tracing::info!(
                target: "pocket_dock::controller",
                keys = %keys,
                actions = report.outcomes.len(),
                failed = failed.len(),
                waiting = report.plan.blocked.len() + report.not_ready.len() + report.plan.crash_loops.len(),
                outcome = if report.converged() { "converged" } else { "pending" },
                duration_ms = started.elapsed().as_millis() as u64,
                "reconcile"
            );
        }
        Err(e) => {
            // The engine is unreachable or broke, or the store cannot be used: try again
            // after a backoff, everything when this was a full pass.
            let delay = queue.failed(&Key::new(Kind::Workspace, "*"), Instant::now());
            tracing::warn!(target: "pocket_dock::controller", error = %e, retry_in_ms = delay.as_millis() as u64, "reconcile failed");
            requeue_pass(queue, only, delay);
        }
    }
}

/// Comes back to a pass that could not run: its keys, or (a full pass) everything, after
/// `delay`.
fn requeue_pass(queue: &mut WorkQueue, only: Option<BTreeSet<Key>>, delay: Duration) {
    let at = Instant::now() + delay;
    match only {
        Some(keys) => {
            for key in keys {
                queue.add_at(key, at);
            }
        }
        None => queue.add_at(Key::new(Kind::Workspace, FULL_PASS), at),
    }
}

/// The queue key that stands for "everything" (a full pass that has to be tried again).
const FULL_PASS: &str = "*";

/// Records the sandboxes a pass left not ready; the actions themselves are recorded by
/// `reconcile::apply` as they finish (source `controller`).
fn record_events(workspace: &Workspace, report: &reconcile::ApplyReport) {
    let events: Vec<Event> = report
        .not_ready
        .iter()
        .map(|(key, reason)| {
            Event::new(Source::Controller, "not-ready")
                .object(key.kind.as_str(), key.name.clone())
                .reason(reason.clone())
                .outcome(EventOutcome::Waiting)
        })
        .collect();
    // The controller keeps running without its event log: a store that stays unusable fails
    // the next pass, which is retried with backoff.
    crate::store::record_in(&workspace.root.join(DIR_NAME), &events);
}

/// Watches `.pocket-dock/` for changes to declarations (not to generated content).
fn watch_files(dir: &Path, tx: mpsc::Sender<()>) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let root = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut watcher = unfollowing_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        let relevant = event.paths.iter().any(|p| {
            let hidden = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            !hidden && !is_own_file(&root, p)
        });
        if relevant {
            // A full channel already holds a signal; dropping this one loses nothing.
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(dir, notify::RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// A watcher that never follows a symlink: a link to `/` or `~` under a watched folder would
/// otherwise add a watch for every folder behind it (and exhaust the inotify watches).
fn unfollowing_watcher(
    handler: impl notify::EventHandler,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    notify::RecommendedWatcher::new(
        handler,
        notify::Config::default().with_follow_symlinks(false),
    )
}

fn is_own_file(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root)
        .is_ok_and(crate::images::context::is_pocket_dock_own_file)
}

/// Watches the build contexts of the declared `Image` objects: an edit there requeues the
/// image (and, through `apply`, everything built on it and every sandbox on those).
#[derive(Default)]
struct ContextWatch {
    dirs: BTreeMap<PathBuf, Vec<String>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl ContextWatch {
    fn update(&mut self, declared: &Current, root: &Path, tx: &mpsc::Sender<Trigger>) {
        let mut dirs: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        for object in declared.declarations().iter().flat_map(|d| &d.objects) {
            if let pocket_dock_spec::model::Spec::Image(image) = &object.spec
                && let Some(build) = &image.build
            {
                let context = object
                    .resolved
                    .build_context
                    .clone()
                    .unwrap_or_else(|| root.join(&build.context));
                dirs.entry(context)
                    .or_default()
                    .push(object.metadata.name.clone());
            }
        }
        if dirs == self.dirs {
            return;
        }
        self.dirs = dirs;
        self._watcher = watch_contexts(root, &self.dirs, tx.clone())
            .inspect_err(|e| {
                tracing::warn!(target: "pocket_dock::controller", error = %e, "cannot watch build contexts; their edits are picked up by the periodic resync")
            })
            .ok();
    }
}

/// pocket-dock's own writes (the state store, status files, temp files) are never part of
/// a context: they must not requeue an image, or every apply would wake the controller.
fn watch_contexts(
    root: &Path,
    dirs: &BTreeMap<PathBuf, Vec<String>>,
    tx: mpsc::Sender<Trigger>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let lookup = dirs.clone();
    let root = root.to_path_buf();
    let mut watcher = unfollowing_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        let edited: Vec<&PathBuf> = event
            .paths
            .iter()
            .filter(|p| !is_own_file(&root, p))
            .collect();
        for (dir, images) in &lookup {
            if edited.iter().any(|p| p.starts_with(dir)) {
                for name in images {
                    let _ = tx.try_send(Trigger::Object(Key::new(Kind::Image, name.clone())));
                }
            }
        }
    })?;
    for dir in dirs.keys().filter(|d| d.is_dir()) {
        watcher.watch(dir, notify::RecursiveMode::Recursive)?;
    }
    Ok(watcher)
}

/// Follows Podman's events for this workspace; reconnects with backoff and asks for a full
/// resync after every reconnect (events may have been missed).
async fn watch_podman(engine: Engine, workspace_id: String, tx: mpsc::Sender<Trigger>) {
    let labels = vec![format!("{WORKSPACE}={workspace_id}")];
    // Capped at 2 s (2.4 s with jitter): a Podman that comes back is followed, and
    // everything resynced, within about 3 s of its return.
    let mut backoff = Backoff::new(
        Duration::from_millis(100),
        Duration::from_secs(2),
        0x5DEE_CE66,
    );
    // The controller resyncs fully when it starts; after a reconnect, events may have
    // been missed, so it must resync again.
    let mut first_connection = true;
    loop {
        match engine.events(&labels).await {
            Ok(mut stream) => {
                if !first_connection && tx.send(Trigger::Resync).await.is_err() {
                    return;
                }
                first_connection = false;
                backoff.reset();
                tracing::debug!(target: "pocket_dock::controller", "following Podman events");
                while let Ok(Some(event)) = stream.next().await {
                    // Exec sessions (readiness probes among them) emit events too; only
                    // lifecycle changes matter.
                    if !LIFECYCLE_EVENTS.contains(&event.action.as_str()) {
                        continue;
                    }
                    // `run`'s containers are nobody's declaration: nothing to reconcile.
                    let kind = event
                        .attributes
                        .get(KIND)
                        .and_then(|k| k.parse::<Kind>().ok())
                        .filter(|k| *k != Kind::Run);
                    let Some((kind, name)) = kind.zip(event.attributes.get(NAME)) else {
                        continue;
                    };
                    let key = Key::new(kind, name.clone());
                    if EXIT_EVENTS.contains(&event.action.as_str()) {
                        // Docker can send `die` before its container list shows the exit,
                        // so a pass right away may still see the container running: look
                        // once more when the engine has settled.
                        let (tx, key) = (tx.clone(), key.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(EXIT_SETTLE).await;
                            let _ = tx.send(Trigger::Object(key)).await;
                        });
                    }
                    if tx.send(Trigger::Object(key)).await.is_err() {
                        return;
                    }
                }
                tracing::warn!(target: "pocket_dock::controller", "lost the Podman event stream; reconnecting");
            }
            Err(e) => {
                tracing::debug!(target: "pocket_dock::controller", error = %e, "cannot follow Podman events yet")
            }
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(5));
        tokio::time::sleep(delay).await;
    }
}
