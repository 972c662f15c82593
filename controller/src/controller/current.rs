//! What the controller acts on between file changes: the declarations as last loaded, the
//! last valid version of every file (remembered in the state store, so that a restarted
//! controller keeps a broken file's objects too), and a hold on pruning while the files may
//! be in passing states.
//!
//! Files change in steps that are each valid and still wrong: `git checkout` unlinks every
//! file it replaces before it writes the new ones, an editor may truncate a file before
//! writing it. So an object that vanishes from the declarations is pruned only once it has
//! stayed gone for [`PRUNE_GRACE`], and never while a git operation holds the repository's
//! index lock.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pocket_dock_spec::{Declarations, Kind, Object};

use super::ControllerOptions;
use crate::declared::{Declared, LastValid};
use crate::key::Key;
use crate::reconcile::status;
use crate::store::StateStore;
use crate::workspace::{DIR_NAME, Workspace};

/// How long an object must stay gone from the declarations before it is pruned, by default
/// (`ControllerOptions::prune_grace`).
pub const PRUNE_GRACE: Duration = Duration::from_secs(2);

pub(super) struct Current {
    root: PathBuf,
    dir: PathBuf,
    pub(super) declared: Option<Declared>,
    last_valid: LastValid,
    /// Keys that left the declarations and wait out the grace before they are pruned.
    vanished: BTreeSet<Key>,
    hold_until: Option<Instant>,
    /// `index.lock` of the git repository holding the workspace, if there is one.
    git_lock: Option<PathBuf>,
    prune_grace: Duration,
    git_poll: Duration,
    stale_git_lock: Duration,
}

impl Current {
    pub(super) fn new(workspace: &Workspace, options: &ControllerOptions) -> Current {
        let dir = workspace.root.join(DIR_NAME);
        // Started without the remembered versions, the controller still runs: only a file
        // broken right now declares nothing. Its passes fail while the store is unusable.
        let last_valid = match StateStore::open(&dir).and_then(|(store, _)| store.last_valid()) {
            Ok(last_valid) => last_valid,
            Err(e) => {
                tracing::warn!(target: "pocket_dock::controller", error = %e, "cannot read the last valid declarations; a file that is broken now declares nothing until it is fixed");
                LastValid::default()
            }
        };
        Current {
            root: workspace.root.clone(),
            dir,
            declared: None,
            last_valid,
            vanished: BTreeSet::new(),
            hold_until: None,
            git_lock: git_index_lock(&workspace.root),
            prune_grace: options.prune_grace,
            git_poll: options.git_poll,
            stale_git_lock: options.stale_git_lock,
        }
    }

    pub(super) fn declarations(&self) -> Option<&Declarations> {
        self.declared.as_ref().map(|d| &d.declarations)
    }

    /// The declarations a pass at `now` acts on: while pruning is held, marked incomplete.
    pub(super) fn for_pass(&mut self, now: Instant) -> Option<(Cow<'_, Declarations>, &Declared)> {
        let held = self.holding(now);
        let declared = self.declared.as_ref()?;
        let declarations = if held && declared.declarations.complete {
            Cow::Owned(Declarations {
                complete: false,
                ..declared.declarations.clone()
            })
        } else {
            Cow::Borrowed(&declared.declarations)
        };
        Some((declarations, declared))
    }

    /// Whether pruning is held at `now`; a git operation in progress extends the hold.
    fn holding(&mut self, now: Instant) -> bool {
        if self
            .git_lock
            .as_deref()
            .is_some_and(|lock| git_is_working(lock, self.stale_git_lock))
        {
            let until = now + self.git_poll;
            self.hold_until = Some(self.hold_until.map_or(until, |t| t.max(until)));
            return true;
        }
        self.hold_until.is_some_and(|t| now < t)
    }

    /// When the hold is due to be looked at again.
    pub(super) fn hold_until(&self) -> Option<Instant> {
        self.hold_until
    }

    /// Ends a hold that is over: the keys that stayed gone, to be reconciled (pruned) now.
    pub(super) fn release(&mut self, now: Instant) -> Vec<Key> {
        let Some(until) = self.hold_until else {
            return Vec::new();
        };
        if now < until || self.holding(now) {
            return Vec::new();
        }
        self.hold_until = None;
        std::mem::take(&mut self.vanished).into_iter().collect()
    }

    /// Reloads everything; returns the keys whose declaration appeared, changed or
    /// vanished, or whose file became valid or invalid.
    pub(super) fn reload(&mut self, now: Instant) -> BTreeSet<Key> {
        let next = Declared::load(&self.root, &self.last_valid);
        let problems_before = self.declared.as_ref().map(|d| d.problems.clone());
        if problems_before.as_ref() != Some(&next.problems) {
            for problem in &next.problems {
                tracing::warn!(target: "pocket_dock::controller", problem = %problem, "invalid declaration; the last valid version of its file stays in effect and nothing is pruned");
            }
            let written = status::write_workspace(
                &self.dir,
                status::WorkspaceStatus::new(
                    next.declarations.workspace_name.clone(),
                    next.problems.clone(),
                ),
            );
            for skipped in written.skipped {
                tracing::warn!(target: "pocket_dock::controller", problem = %skipped, "status file left alone");
            }
            for failed in written.failed {
                tracing::error!(target: "pocket_dock::controller", error = %failed, "status file not written");
            }
        }
        if next.last_valid != self.last_valid {
            // Not saving is a warning, not a stop: they stay in memory for this run.
            let saved = StateStore::open(&self.dir)
                .and_then(|(store, _)| store.save_last_valid(&next.last_valid));
            if let Err(e) = saved {
                tracing::warn!(target: "pocket_dock::controller", error = %e, "cannot remember the last valid declarations; after a restart, a broken file would declare nothing");
            }
            self.last_valid = next.last_valid.clone();
        }
        let changed = match &self.declared {
            Some(before) => {
                let gone = vanished_keys(before, &next);
                if !gone.is_empty() {
                    tracing::info!(target: "pocket_dock::controller", objects = gone.len(), grace_ms = self.prune_grace.as_millis() as u64, "declarations gone; pruned once they stay gone");
                    self.vanished.extend(gone);
                    self.hold_until = Some(now + self.prune_grace);
                }
                changed_keys(before, &next)
            }
            None => next.declarations.objects.iter().map(key_of).collect(),
        };
        // Back before the grace ran out: nothing to prune for them.
        for object in &next.declarations.objects {
            self.vanished.remove(&key_of(object));
        }
        self.declared = Some(next);
        changed
    }
}

/// Whether git holds `lock` now: it exists and is younger than `stale` (one left by a crashed
/// git would otherwise hold pruning for good).
fn git_is_working(lock: &Path, stale: Duration) -> bool {
    let Ok(meta) = std::fs::metadata(lock) else {
        return false;
    };
    let age = meta
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .unwrap_or_default();
    if age > stale {
        tracing::warn!(target: "pocket_dock::controller", lock = %lock.display(), age_s = age.as_secs(), "ignoring a stale git index.lock (git crashed?); remove it");
        return false;
    }
    true
}

/// The `index.lock` of the git repository that holds `root` (git holds it while checkout,
/// merge or rebase rewrite the work tree).
fn git_index_lock(root: &Path) -> Option<PathBuf> {
    for dir in root.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some(dot_git.join("index.lock"));
        }
        if dot_git.is_file() {
            // A worktree or submodule: `gitdir: <path>`.
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let git_dir = text.strip_prefix("gitdir:")?.trim();
            return Some(dir.join(git_dir).join("index.lock"));
        }
    }
    None
}

fn key_of(object: &Object) -> Key {
    Key::new(object.kind, object.metadata.name.clone())
}

fn keys(d: &Declared) -> BTreeSet<Key> {
    d.declarations.objects.iter().map(key_of).collect()
}

fn vanished_keys(before: &Declared, after: &Declared) -> BTreeSet<Key> {
    let now = keys(after);
    keys(before)
        .into_iter()
        .filter(|k| !now.contains(k))
        .collect()
}

/// Keys whose object or whose validity differs between two loads; every sandbox when the
/// workspace-wide defaults changed.
fn changed_keys(before: &Declared, after: &Declared) -> BTreeSet<Key> {
    let index = |d: &'_ Declared| -> BTreeMap<Key, Object> {
        d.declarations
            .objects
            .iter()
            .map(|o| (key_of(o), o.clone()))
            .collect()
    };
    let (old, new) = (index(before), index(after));
    let mut changed: BTreeSet<Key> = old
        .keys()
        .chain(new.keys())
        .filter(|k| {
            let same = match (old.get(*k), new.get(*k)) {
                (Some(a), Some(b)) => {
                    a.spec == b.spec && a.metadata == b.metadata && a.resolved == b.resolved
                }
                _ => false,
            };
            !same || before.retained.get(*k) != after.retained.get(*k)
        })
        .cloned()
        .collect();
    if before.declarations.settings != after.declarations.settings {
        changed.extend(
            new.keys()
                .filter(|k| matches!(k.kind, Kind::Sandbox | Kind::Pool))
                .cloned(),
        );
    }
    // A pool's members are made from its template (and the templates it extends): any
    // template edit may make a new generation of every pool.
    if changed.iter().any(|k| k.kind == Kind::Template) {
        changed.extend(new.keys().filter(|k| k.kind == Kind::Pool).cloned());
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "apiVersion: pocket-dock.dev/v1alpha1\n";

    fn sandbox(name: &str, image: &str) -> String {
        format!(
            "---\n{HEADER}kind: Sandbox\nmetadata: {{name: {name}}}\nspec: {{image: '{image}'}}\n"
        )
    }

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(DIR_NAME)).unwrap();
        let ws = Workspace::locate(Some(dir.path()), dir.path()).unwrap();
        (dir, ws)
    }

    fn write(ws: &Workspace, file: &str, text: &str) {
        std::fs::write(ws.root.join(DIR_NAME).join(file), text).unwrap();
    }

    fn image_of(current: &Current, name: &str) -> Option<String> {
        current
            .declarations()?
            .objects
            .iter()
            .find(|o| o.metadata.name == name)
            .map(|o| format!("{:?}", o.spec))
    }

    fn web() -> Key {
        Key::new(Kind::Sandbox, "web")
    }

    #[test]
    fn a_broken_file_keeps_its_last_valid_version_across_a_restart() {
        let (_dir, ws) = workspace();
        let options = ControllerOptions::default();
        let now = Instant::now();
        write(&ws, "web.yaml", &sandbox("web", "alpine:3.20"));
        let mut current = Current::new(&ws, &options);
        assert_eq!(current.reload(now), [web()].into());
        let valid = image_of(&current, "web").unwrap();
        assert!(valid.contains("alpine:3.20"), "{valid}");

        write(
            &ws,
            "web.yaml",
            "---\nkind: Sandbox\nmetadata: {name: web\n",
        );
        // Its validity changed: queued, but acted on in its last valid version, not pruned.
        assert_eq!(current.reload(now), [web()].into());
        assert_eq!(image_of(&current, "web"), Some(valid.clone()));
        let (declarations, declared) = current.for_pass(now).unwrap();
        assert!(!declarations.complete);
        assert!(declared.retained.contains_key(&web()));

        // A restarted controller reads the remembered version from the store.
        let mut restarted = Current::new(&ws, &options);
        restarted.reload(now);
        assert_eq!(image_of(&restarted, "web"), Some(valid));

        write(&ws, "web.yaml", &sandbox("web", "alpine:3.21"));
        assert_eq!(current.reload(now), [web()].into());
        assert!(image_of(&current, "web").unwrap().contains("alpine:3.21"));
        assert!(current.for_pass(now).unwrap().0.complete);
    }

    #[test]
    fn an_object_gone_is_pruned_only_once_it_stayed_gone_for_the_grace() {
        let (_dir, ws) = workspace();
        let options = ControllerOptions::default();
        let start = Instant::now();
        write(&ws, "web.yaml", &sandbox("web", "alpine:3.20"));
        write(&ws, "db.yaml", &sandbox("db", "alpine:3.20"));
        let mut current = Current::new(&ws, &options);
        current.reload(start);
        assert!(current.release(start).is_empty());

        std::fs::remove_file(ws.root.join(DIR_NAME).join("web.yaml")).unwrap();
        let t = start + Duration::from_secs(1);
        assert_eq!(current.reload(t), [web()].into());
        assert!(!current.for_pass(t).unwrap().0.complete, "pruning held");
        assert_eq!(current.hold_until(), Some(t + options.prune_grace));
        let end = t + options.prune_grace;
        assert!(current.release(end - Duration::from_millis(1)).is_empty());
        assert_eq!(current.release(end), vec![web()]);
        assert!(current.for_pass(end).unwrap().0.complete, "pruned now");

        // Back before the grace ran out: nothing to prune.
        std::fs::remove_file(ws.root.join(DIR_NAME).join("db.yaml")).unwrap();
        let t = end + Duration::from_secs(1);
        current.reload(t);
        write(&ws, "db.yaml", &sandbox("db", "alpine:3.20"));
        current.reload(t + Duration::from_millis(500));
        assert!(current.release(t + options.prune_grace).is_empty());
    }

    #[test]
    fn a_template_edit_queues_every_pool() {
        let (_dir, ws) = workspace();
        let options = ControllerOptions::default();
        let now = Instant::now();
        let template = |image: &str| {
            format!(
                "---\n{HEADER}kind: Template\nmetadata: {{name: t}}\nspec: {{sandbox: {{image: '{image}'}}}}\n"
            )
        };
        let pool = format!(
            "---\n{HEADER}kind: Pool\nmetadata: {{name: p}}\nspec: {{template: t, size: 1}}\n"
        );
        write(&ws, "t.yaml", &template("alpine:3.20"));
        write(&ws, "p.yaml", &pool);
        let mut current = Current::new(&ws, &options);
        current.reload(now);
        write(&ws, "t.yaml", &template("alpine:3.21"));
        assert_eq!(
            current.reload(now),
            [Key::new(Kind::Template, "t"), Key::new(Kind::Pool, "p")].into()
        );
    }
}
