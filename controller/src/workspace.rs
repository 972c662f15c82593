//! The workspace: the folder that holds `.pocket-dock/`, its identity, and the names of
//! what pocket-dock keeps in it. What a workspace can do (load, plan, apply, ...) is in
//! [`crate::sdk`]; this module imports nothing that could import it back.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pocket_dock::Error> {
//! use pocket_dock::{ApplyOptions, Engine, Workspace};
//! let engine = Engine::from_env()?;
//! let workspace = Workspace::open("examples/workspaces/basic")?;
//! let report = workspace.apply(&engine, ApplyOptions::default()).await?;
//! println!("converged: {}", report.converged());
//! # Ok(()) }
//! ```

use std::io;
use std::path::{Path, PathBuf};

use crate::engine::{Ownership, WorkspaceId};

/// The folder, under the workspace root, that holds declarations and generated state.
pub const DIR_NAME: &str = ".pocket-dock";

/// What pocket-dock itself writes in that folder: never declarations, never part of a
/// build context, never a reason to reconcile.
pub mod own_files {
    /// The state store (with its `-wal`, `-shm` and `.corrupt-…` companions).
    pub const STATE_STORE: &str = "state.db";
    /// Status files, one per object, and `workspace.yaml`.
    pub const STATUS_DIR: &str = "status";
    /// The controller's lock (one controller per workspace).
    pub const CONTROLLER_LOCK: &str = "controller.lock";
    /// The writers' lock (one writer at a time: apply, delete, snapshot, a controller pass).
    pub const WRITER_LOCK: &str = "writer.lock";
    /// The key of secret and environment value digests (mode 0600).
    pub const SECRET_KEY: &str = "secret-key";
    /// Marks a temp file of an atomic write (`<name>.tmp-<pid>`).
    pub const TEMP_MARKER: &str = ".tmp-";
    /// The egress proxy's configuration, record and log (`egress/`).
    pub const EGRESS_DIR: &str = "egress";
    /// The built-in seccomp profile, for Podman's API, which takes a path (`seccomp/`).
    pub const SECCOMP_DIR: &str = "seccomp";
    /// Warm pools' locks: `claim.lock` (one claim at a time per workspace) and
    /// `<pool>.refill.lock` (one refill at a time per pool) (`pools/`).
    pub const POOLS_DIR: &str = "pools";
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("workspace root {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error(
        "no {DIR_NAME} folder in {} or its parents; create one with `pocket-dock init`",
        root.display()
    )]
    NotDeclared { root: PathBuf },
    #[error("cannot resolve workspace root {path}")]
    Resolve {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl WorkspaceError {
    /// The folder the caller named cannot be the workspace.
    pub fn category(&self) -> crate::Category {
        crate::Category::InvalidInput
    }
}

/// A workspace root and its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Canonical absolute path of the root.
    pub root: PathBuf,
    pub id: WorkspaceId,
    /// Whether `.pocket-dock/` exists under the root. Commands that only need an identity
    /// (`run`) work without one; the root is then the current folder.
    pub declared: bool,
}

impl Workspace {
    /// `-C DIR` names the root outright; otherwise the nearest ancestor of `cwd` holding
    /// `.pocket-dock/`, or `cwd` itself when there is none.
    pub fn locate(explicit: Option<&Path>, cwd: &Path) -> Result<Self, WorkspaceError> {
        let start = match explicit {
            Some(dir) => cwd.join(dir),
            None => cwd.to_path_buf(),
        };
        let canonical = start
            .canonicalize()
            .map_err(|source| WorkspaceError::Resolve {
                path: start.clone(),
                source,
            })?;
        if !canonical.is_dir() {
            return Err(WorkspaceError::NotADirectory { path: canonical });
        }
        let root = if explicit.is_some() {
            canonical
        } else {
            canonical
                .ancestors()
                .find(|dir| dir.join(DIR_NAME).is_dir())
                .map_or(canonical.clone(), Path::to_path_buf)
        };
        Ok(Workspace {
            id: WorkspaceId::from_root_path(&root),
            declared: root.join(DIR_NAME).is_dir(),
            root,
        })
    }

    /// The workspace rooted at `dir` (relative to the current folder), which must hold a
    /// `.pocket-dock/` folder.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, WorkspaceError> {
        let cwd = std::env::current_dir().map_err(|source| WorkspaceError::Resolve {
            path: PathBuf::from("."),
            source,
        })?;
        Workspace::locate(Some(dir.as_ref()), &cwd)?.require_declared()
    }

    /// The nearest ancestor of `start` (itself included) holding `.pocket-dock/`.
    pub fn discover(start: impl AsRef<Path>) -> Result<Self, WorkspaceError> {
        Workspace::locate(None, start.as_ref())?.require_declared()
    }

    /// This workspace, if it has a `.pocket-dock/` folder (declarative work needs one).
    pub fn require_declared(self) -> Result<Self, WorkspaceError> {
        if self.declared {
            Ok(self)
        } else {
            Err(WorkspaceError::NotDeclared { root: self.root })
        }
    }

    /// The `.pocket-dock/` folder.
    pub fn dir(&self) -> PathBuf {
        self.root.join(DIR_NAME)
    }

    /// The workspace's ownership labels, its root path among them.
    pub fn ownership(&self) -> Ownership {
        Ownership::for_root(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp folder (removed on drop) and its canonical path.
    fn tempdir() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        (dir, path)
    }

    #[test]
    fn finds_the_nearest_ancestor_with_a_pocket_dock_folder() {
        let (_guard, root) = tempdir();
        std::fs::create_dir_all(root.join(DIR_NAME)).unwrap();
        let deep = root.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        let ws = Workspace::locate(None, &deep).unwrap();
        assert_eq!(ws.root, root);
        assert!(ws.declared);
        assert_eq!(ws.id, WorkspaceId::from_root_path(&root));
    }

    #[test]
    fn without_a_declaration_the_current_folder_is_the_root() {
        let (_guard, root) = tempdir();
        let ws = Workspace::locate(None, &root).unwrap();
        assert_eq!(ws.root, root);
        assert!(!ws.declared);
    }

    #[test]
    fn explicit_root_is_taken_as_is_and_must_exist() {
        let (_guard, root) = tempdir();
        let ws = Workspace::locate(Some(Path::new(".")), &root).unwrap();
        assert_eq!(ws.root, root);
        assert!(matches!(
            Workspace::locate(Some(Path::new("missing")), &root),
            Err(WorkspaceError::Resolve { .. })
        ));
        std::fs::write(root.join("file"), "").unwrap();
        assert!(matches!(
            Workspace::locate(Some(Path::new("file")), &root),
            Err(WorkspaceError::NotADirectory { .. })
        ));
    }
}
