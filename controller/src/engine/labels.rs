//! Ownership labels and container names.
//!
//! Every container pocket-dock creates carries:
//! - `pocket-dock.dev/managed-by=pocket-dock`
//! - `pocket-dock.dev/workspace=<workspace id>`
//! - `pocket-dock.dev/kind=<Kind>`
//! - `pocket-dock.dev/name=<object name>`
//! - `pocket-dock.dev/workspace-path=<canonical workspace root>` (when the ownership was made
//!   from a root: [`Ownership::for_root`]; objects made before it existed lack it)
//!
//! and the reconciler adds `pocket-dock.dev/spec-hash`. A container is *owned* by a workspace
//! when the first two match; nothing else is ever modified or removed. The same labels go on
//! volumes and on the images pocket-dock builds and commits.

use std::collections::HashMap;
use std::fmt;

use pocket_dock_spec::Kind;
use sha2::{Digest, Sha256};

pub const MANAGED_BY: &str = "pocket-dock.dev/managed-by";
pub const MANAGED_BY_VALUE: &str = "pocket-dock";
pub const WORKSPACE: &str = "pocket-dock.dev/workspace";
pub const KIND: &str = "pocket-dock.dev/kind";
pub const NAME: &str = "pocket-dock.dev/name";
pub const SPEC_HASH: &str = "pocket-dock.dev/spec-hash";
/// The workspace's canonical root path. The workspace id hashes it and cannot be reversed;
/// `gc --all-workspaces` reads this to find objects whose workspace folder is gone.
pub const WORKSPACE_PATH: &str = "pocket-dock.dev/workspace-path";
/// The effective spec a container was made from (compact JSON), to explain recreates.
pub const SPEC: &str = "pocket-dock.dev/spec";
/// The host paths a container bind-mounts, as resolved when it was created (a JSON list in
/// mount order): a path that resolves elsewhere now makes it be created again.
pub const BIND_SOURCES: &str = "pocket-dock.dev/bind-sources";

/// A workspace's identity: 12 hex digits of a sha256 over its canonical root path, so two
/// checkouts of one repository never share (and never fight over) containers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn from_root_path(canonical_root: &std::path::Path) -> Self {
        let digest = Sha256::digest(canonical_root.as_os_str().as_encoded_bytes());
        WorkspaceId(hex(&digest[..6]))
    }

    /// Uses `id` as given; for tests and for ids read back from labels.
    pub fn new(id: impl Into<String>) -> Self {
        WorkspaceId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The labels that make a container belong to one object of one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub workspace: WorkspaceId,
    /// The canonical root the id was computed from, recorded on every object created; `None`
    /// for an ownership made from an id alone.
    root: Option<std::path::PathBuf>,
}

impl Ownership {
    /// An ownership known by its id only (tests, ids read back from labels). Objects created
    /// through it carry no workspace path, so `gc --all-workspaces` never collects them; use
    /// [`Ownership::for_root`] (or `Workspace::ownership`) for a real workspace.
    pub fn new(workspace: WorkspaceId) -> Self {
        Ownership {
            workspace,
            root: None,
        }
    }

    /// The ownership of the workspace rooted at `canonical_root`: its id, and its path for
    /// the [`WORKSPACE_PATH`] label.
    pub fn for_root(canonical_root: &std::path::Path) -> Self {
        Ownership {
            workspace: WorkspaceId::from_root_path(canonical_root),
            root: Some(canonical_root.to_path_buf()),
        }
    }

    /// The canonical root this ownership was made from, if it was.
    pub fn root(&self) -> Option<&std::path::Path> {
        self.root.as_deref()
    }

    /// The labels for a new container of `kind` named `name`.
    pub fn labels_for(&self, kind: Kind, name: &str) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
            (WORKSPACE.to_string(), self.workspace.to_string()),
            (KIND.to_string(), kind.to_string()),
            (NAME.to_string(), name.to_string()),
        ]);
        // A root that is not UTF-8 cannot be a label value; written lossily it would name
        // another folder (one that does not exist), so it is left out instead: such objects
        // are never taken for a vanished workspace's.
        if let Some(path) = self.root.as_deref().and_then(std::path::Path::to_str) {
            labels.insert(WORKSPACE_PATH.to_string(), path.to_string());
        }
        labels
    }

    /// Label filters (`key=value`) selecting everything this workspace owns.
    pub fn filters(&self) -> Vec<String> {
        vec![
            format!("{MANAGED_BY}={MANAGED_BY_VALUE}"),
            format!("{WORKSPACE}={}", self.workspace),
        ]
    }

    /// Whether a container with these labels belongs to this workspace.
    pub fn owns(&self, labels: &HashMap<String, String>) -> bool {
        labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
            && labels.get(WORKSPACE).map(String::as_str) == Some(self.workspace.as_str())
    }

    /// The container name for an object: `pd-<name>-<8 hex>`, where the hex digits hash the
    /// workspace id, kind and name. Predictable (same inputs, same name) and collision-safe
    /// across workspaces and kinds, while still readable in `podman ps`.
    pub fn container_name(&self, kind: Kind, name: &str) -> String {
        let mut hasher = Sha256::new();
        for part in [self.workspace.as_str(), kind.as_str(), name] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        format!("pd-{name}-{}", hex(&hasher.finalize()[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn workspace_id_depends_on_the_path_only() {
        let a = WorkspaceId::from_root_path(Path::new("/home/a/repo"));
        let b = WorkspaceId::from_root_path(Path::new("/home/b/repo"));
        assert_eq!(a, WorkspaceId::from_root_path(Path::new("/home/a/repo")));
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 12);
    }

    #[test]
    fn ownership_requires_both_labels() {
        let own = Ownership::new(WorkspaceId::new("abc"));
        let labels = own.labels_for(Kind::Sandbox, "web");
        assert!(own.owns(&labels));
        assert_eq!(labels[KIND], "Sandbox");
        assert_eq!(labels[NAME], "web");

        let other = Ownership::new(WorkspaceId::new("def"));
        assert!(!other.owns(&labels));
        let mut no_manager = labels.clone();
        no_manager.remove(MANAGED_BY);
        assert!(!own.owns(&no_manager));
        assert!(!own.owns(&HashMap::new()));
    }

    #[test]
    fn an_ownership_made_from_a_root_records_it() {
        let root = Path::new("/home/a/repo");
        let own = Ownership::for_root(root);
        assert_eq!(own.workspace, WorkspaceId::from_root_path(root));
        assert_eq!(own.root(), Some(root));
        let labels = own.labels_for(Kind::Run, "x");
        assert_eq!(labels[WORKSPACE_PATH], "/home/a/repo");
        assert!(own.owns(&labels));
        // From an id alone: no path, and the same ownership test.
        let by_id = Ownership::new(own.workspace.clone());
        assert!(
            !by_id
                .labels_for(Kind::Run, "x")
                .contains_key(WORKSPACE_PATH)
        );
        assert!(by_id.owns(&labels));
    }

    #[test]
    fn a_root_that_is_not_utf8_is_not_recorded() {
        use std::os::unix::ffi::OsStrExt;
        let root = Path::new(std::ffi::OsStr::from_bytes(b"/home/\xff/repo"));
        let labels = Ownership::for_root(root).labels_for(Kind::Sandbox, "x");
        assert!(!labels.contains_key(WORKSPACE_PATH));
    }

    #[test]
    fn container_names_are_stable_and_distinct() {
        let a = Ownership::new(WorkspaceId::new("aaa"));
        let b = Ownership::new(WorkspaceId::new("bbb"));
        let name = a.container_name(Kind::Sandbox, "web");
        assert_eq!(name, a.container_name(Kind::Sandbox, "web"));
        assert!(name.starts_with("pd-web-"));
        assert_ne!(name, b.container_name(Kind::Sandbox, "web"));
        assert_ne!(name, a.container_name(Kind::Run, "web"));
    }
}
