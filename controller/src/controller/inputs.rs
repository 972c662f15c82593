//! The controller's inputs, as typed messages: changes under `.pocket-dock/` (inotify), edits
//! in the declared images' build contexts, and Podman's event stream. Inputs never reconcile
//! anything; the loop hands them to the scheduler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pocket_dock_spec::{Declarations, Kind};
use tokio::sync::mpsc;

use super::ControllerOptions;
use crate::engine::Engine;
use crate::engine::labels::{KIND, NAME, WORKSPACE};
use crate::key::Key;

/// Event actions that change a container's or volume's state (exec events do not).
/// Podman says `remove` where Docker says `destroy`.
const LIFECYCLE_EVENTS: [&str; 14] = [
    "create", "start", "stop", "die", "died", "kill", "remove", "destroy", "pause", "unpause",
    "restart", "oom", "cleanup",
    // A pool member claimed (renamed to its sandbox's name): its pool refills.
    "rename",
];

/// Event actions that end a container's run, looked at again after `exit_recheck`.
const EXIT_EVENTS: [&str; 4] = ["die", "died", "kill", "oom"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Something under `.pocket-dock/` changed (not pocket-dock's own files).
    FilesChanged,
    /// An object changed: a Podman lifecycle event, an edit in an image's build context.
    Changed(Key),
    /// A container of this object exited (Docker may report it before its listing does).
    Exited(Key),
    /// Reconnected to Podman: events may have been missed.
    Resync,
}

/// The running watchers; dropping this stops them.
pub struct Inputs {
    /// File changes have a channel of their own, of one: a pending signal covers every later
    /// change, and a burst of Podman events can never crowd one out.
    files: mpsc::Receiver<()>,
    objects: mpsc::Receiver<Input>,
    tx: mpsc::Sender<Input>,
    _files_watcher: notify::RecommendedWatcher,
    contexts: ContextWatch,
    events: tokio::task::JoinHandle<()>,
}

impl Inputs {
    /// Watches `dir` (the workspace's `.pocket-dock/`) and follows Podman's events for
    /// `workspace_id`.
    pub fn start(
        engine: &Engine,
        dir: &Path,
        workspace_id: String,
        options: &ControllerOptions,
    ) -> notify::Result<Inputs> {
        let (tx, objects) = mpsc::channel::<Input>(256);
        let (files_tx, files) = mpsc::channel::<()>(1);
        let watcher = watch_files(dir, files_tx)?;
        let events = tokio::spawn(watch_podman(
            engine.clone(),
            workspace_id,
            tx.clone(),
            *options,
        ));
        Ok(Inputs {
            files,
            objects,
            tx,
            _files_watcher: watcher,
            contexts: ContextWatch::default(),
            events,
        })
    }

    /// The next input. Cancel-safe: nothing is lost when another branch of a `select!` wins.
    pub async fn recv(&mut self) -> Input {
        tokio::select! {
            Some(()) = self.files.recv() => Input::FilesChanged,
            // Never closed (this holds a sender); were it, a resync is the safe reading.
            input = self.objects.recv() => input.unwrap_or(Input::Resync),
        }
    }

    /// Watches the build contexts the declarations name now.
    pub fn watch_contexts(&mut self, declarations: Option<&Declarations>, root: &Path) {
        self.contexts
            .update(build_contexts(declarations, root), root, &self.tx);
    }
}

impl Drop for Inputs {
    fn drop(&mut self) {
        self.events.abort();
    }
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

/// Each declared `Image`'s build context folder, with the images built from it.
fn build_contexts(
    declarations: Option<&Declarations>,
    root: &Path,
) -> BTreeMap<PathBuf, Vec<String>> {
    let mut dirs: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for object in declarations.iter().flat_map(|d| &d.objects) {
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
    dirs
}

/// Watches the build contexts of the declared `Image` objects: an edit there requeues the
/// image (and, through `apply`, everything built on it and every sandbox on those).
#[derive(Default)]
struct ContextWatch {
    dirs: BTreeMap<PathBuf, Vec<String>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl ContextWatch {
    fn update(
        &mut self,
        dirs: BTreeMap<PathBuf, Vec<String>>,
        root: &Path,
        tx: &mpsc::Sender<Input>,
    ) {
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
    tx: mpsc::Sender<Input>,
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
                    let _ = tx.try_send(Input::Changed(Key::new(Kind::Image, name.clone())));
                }
            }
        }
    })?;
    for dir in dirs.keys().filter(|d| d.is_dir()) {
        watcher.watch(dir, notify::RecursiveMode::Recursive)?;
    }
    Ok(watcher)
}

/// The input a Podman event is, if any: lifecycle events of declared objects only.
fn event_input(event: &crate::engine::Event) -> Option<Input> {
    // Exec sessions (readiness probes among them) emit events too; only lifecycle changes
    // matter.
    if !LIFECYCLE_EVENTS.contains(&event.action.as_str()) {
        return None;
    }
    // `run`'s containers are nobody's declaration: nothing to reconcile.
    let kind = event
        .attributes
        .get(KIND)
        .and_then(|k| k.parse::<Kind>().ok())
        .filter(|k| *k != Kind::Run)?;
    let key = Key::new(kind, event.attributes.get(NAME)?.clone());
    Some(if EXIT_EVENTS.contains(&event.action.as_str()) {
        Input::Exited(key)
    } else {
        Input::Changed(key)
    })
}

/// Follows Podman's events for this workspace; reconnects with backoff and asks for a full
/// resync after every reconnect (events may have been missed).
async fn watch_podman(
    engine: Engine,
    workspace_id: String,
    tx: mpsc::Sender<Input>,
    options: ControllerOptions,
) {
    let labels = vec![format!("{WORKSPACE}={workspace_id}")];
    let mut backoff = options.reconnect.backoff(0x5DEE_CE66);
    // The controller resyncs fully when it starts; after a reconnect, events may have
    // been missed, so it must resync again.
    let mut first_connection = true;
    loop {
        match engine.events(&labels).await {
            Ok(mut stream) => {
                if !first_connection && tx.send(Input::Resync).await.is_err() {
                    return;
                }
                first_connection = false;
                backoff.reset();
                tracing::debug!(target: "pocket_dock::controller", "following Podman events");
                while let Ok(Some(event)) = stream.next().await {
                    if let Some(input) = event_input(&event)
                        && tx.send(input).await.is_err()
                    {
                        return;
                    }
                }
                tracing::warn!(target: "pocket_dock::controller", "lost the Podman event stream; reconnecting");
            }
            Err(e) => {
                tracing::debug!(target: "pocket_dock::controller", error = %e, "cannot follow Podman events yet")
            }
        }
        let delay = match options.reconnect.on_error(&mut backoff) {
            super::Requeue::After(delay) => delay,
            super::Requeue::AwaitChange => options.reconnect.max,
        };
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Event;

    fn event(action: &str, kind: &str) -> Event {
        Event {
            kind: "container".into(),
            action: action.into(),
            id: "c0ffee".into(),
            attributes: [
                (KIND.to_string(), kind.to_string()),
                (NAME.to_string(), "web".to_string()),
            ]
            .into(),
        }
    }

    #[test]
    fn lifecycle_events_name_their_object_and_exits_are_told_apart() {
        let web = Key::new(Kind::Sandbox, "web");
        assert_eq!(
            event_input(&event("start", "Sandbox")),
            Some(Input::Changed(web.clone()))
        );
        assert_eq!(
            event_input(&event("die", "Sandbox")),
            Some(Input::Exited(web))
        );
        assert_eq!(event_input(&event("exec_create", "Sandbox")), None);
        assert_eq!(
            event_input(&event("rename", "Pool")),
            Some(Input::Changed(Key::new(Kind::Pool, "web")))
        );
        assert_eq!(event_input(&event("die", "Run")), None);
        assert_eq!(event_input(&event("die", "nonsense")), None);
    }
}
