//! Every label pocket-dock writes or reads, typed ([`ObjectLabels`]), ownership and container
//! names. The keys and values are a public contract: objects made by earlier versions are
//! read by these same functions.
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

/// A pool member's id (random hex), from which its container names are made
/// (`pool::MemberNames`). Only on containers of kind `Pool`.
pub const POOL_MEMBER: &str = "pocket-dock.dev/pool-member";

/// Labels a snapshot image carries (besides the ownership labels).
pub const SNAPSHOT_SOURCE: &str = "pocket-dock.dev/snapshot-source";
pub const SNAPSHOT_SOURCE_SPEC_HASH: &str = "pocket-dock.dev/snapshot-source-spec-hash";
pub const SNAPSHOT_SOURCE_IMAGE: &str = "pocket-dock.dev/snapshot-source-image";
pub const SNAPSHOT_TAKEN_AT: &str = "pocket-dock.dev/snapshot-taken-at";
pub const SNAPSHOT_GENERATION: &str = "pocket-dock.dev/snapshot-generation";
pub const SNAPSHOT_DESCRIPTION: &str = "pocket-dock.dev/snapshot-description";
/// The content hash a built image was tagged by.
pub const CONTENT_HASH: &str = "pocket-dock.dev/content-hash";

/// Labels of the embedded base image (written into its OCI config; it has no owner).
pub const EMBEDDED: &str = "pocket-dock.dev/embedded";
pub const EMBEDDED_VERSION: &str = "pocket-dock.dev/embedded-version";
pub const EMBEDDED_BUSYBOX: &str = "pocket-dock.dev/busybox";
pub const EMBEDDED_BUSYBOX_SHA256: &str = "pocket-dock.dev/busybox-sha256";

/// A `run` container's lease (see `lease.rs`).
/// The creating process's pid (as its own pid namespace numbers it).
pub const LEASE_PID: &str = "pocket-dock.dev/lease-pid";
/// Its start time: clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub const LEASE_START: &str = "pocket-dock.dev/lease-start";
/// The kernel's boot id (`/proc/sys/kernel/random/boot_id`) when it was made.
pub const LEASE_BOOT: &str = "pocket-dock.dev/lease-boot";
/// The creating process's pid namespace (`/proc/self/ns/pid`, e.g. `pid:[4026531836]`).
pub const LEASE_PID_NS: &str = "pocket-dock.dev/lease-pid-ns";

/// Everything pocket-dock records on one of its objects (container, volume, image). Only
/// [`ObjectLabels::to_labels`] writes these labels and only [`ObjectLabels::parse`] reads
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLabels {
    pub workspace: WorkspaceId,
    pub kind: Kind,
    pub name: String,
    /// The workspace's canonical root ([`WORKSPACE_PATH`]); absent on objects made before
    /// it was recorded or from a root that is not UTF-8.
    pub workspace_path: Option<String>,
    /// A sandbox container's [`SPEC_HASH`].
    pub spec_hash: Option<String>,
    /// A sandbox container's effective spec, compact JSON ([`SPEC`]).
    pub spec: Option<String>,
    /// A sandbox container's bind sources ([`BIND_SOURCES`]); `None` when absent or not a
    /// JSON list of paths.
    pub bind_sources: Option<Vec<std::path::PathBuf>>,
    /// A built image's [`CONTENT_HASH`].
    pub content_hash: Option<String>,
    /// A snapshot image's record.
    pub snapshot: Option<SnapshotLabels>,
}

/// What a snapshot image records about where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotLabels {
    pub source: String,
    pub source_spec_hash: String,
    pub source_image: String,
    pub taken_at: String,
    pub generation: String,
    pub description: Option<String>,
}

impl SnapshotLabels {
    /// Reads them from an image's labels; `None` without [`SNAPSHOT_SOURCE`].
    pub fn parse(labels: &HashMap<String, String>) -> Option<SnapshotLabels> {
        let get = |k: &str| labels.get(k).cloned();
        Some(SnapshotLabels {
            source: get(SNAPSHOT_SOURCE)?,
            source_spec_hash: get(SNAPSHOT_SOURCE_SPEC_HASH).unwrap_or_default(),
            source_image: get(SNAPSHOT_SOURCE_IMAGE).unwrap_or_default(),
            taken_at: get(SNAPSHOT_TAKEN_AT).unwrap_or_default(),
            generation: get(SNAPSHOT_GENERATION).unwrap_or_default(),
            description: get(SNAPSHOT_DESCRIPTION),
        })
    }

    fn write(&self, labels: &mut HashMap<String, String>) {
        labels.insert(SNAPSHOT_SOURCE.into(), self.source.clone());
        labels.insert(
            SNAPSHOT_SOURCE_SPEC_HASH.into(),
            self.source_spec_hash.clone(),
        );
        labels.insert(SNAPSHOT_SOURCE_IMAGE.into(), self.source_image.clone());
        labels.insert(SNAPSHOT_TAKEN_AT.into(), self.taken_at.clone());
        labels.insert(SNAPSHOT_GENERATION.into(), self.generation.clone());
        if let Some(d) = &self.description {
            labels.insert(SNAPSHOT_DESCRIPTION.into(), d.clone());
        }
    }
}

/// The embedded base image's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedLabels {
    pub version: Option<String>,
    pub busybox: Option<String>,
    pub busybox_sha256: Option<String>,
}

impl EmbeddedLabels {
    /// `None` unless the image is the embedded base ([`EMBEDDED`]).
    pub fn parse(labels: &HashMap<String, String>) -> Option<EmbeddedLabels> {
        labels.get(EMBEDDED)?;
        Some(EmbeddedLabels {
            version: labels.get(EMBEDDED_VERSION).cloned(),
            busybox: labels.get(EMBEDDED_BUSYBOX).cloned(),
            busybox_sha256: labels.get(EMBEDDED_BUSYBOX_SHA256).cloned(),
        })
    }
}

impl ObjectLabels {
    /// The labels of a new object of `kind` named `name`, owned by `ownership`.
    pub fn new(ownership: &Ownership, kind: Kind, name: &str) -> ObjectLabels {
        ObjectLabels {
            workspace: ownership.workspace.clone(),
            kind,
            name: name.to_string(),
            // A root that is not UTF-8 cannot be a label value; written lossily it would
            // name another folder (one that does not exist), so it is left out instead:
            // such objects are never taken for a vanished workspace's.
            workspace_path: ownership
                .root()
                .and_then(std::path::Path::to_str)
                .map(str::to_string),
            spec_hash: None,
            spec: None,
            bind_sources: None,
            content_hash: None,
            snapshot: None,
        }
    }

    /// Reads an object's labels: `None` unless it is pocket-dock's (managed-by), with a
    /// workspace, a known kind and a name. Never panics, whatever the map holds.
    pub fn parse(labels: &HashMap<String, String>) -> Option<ObjectLabels> {
        if labels.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
            return None;
        }
        Some(ObjectLabels {
            workspace: WorkspaceId::new(labels.get(WORKSPACE)?.clone()),
            kind: labels.get(KIND)?.parse().ok()?,
            name: labels.get(NAME)?.clone(),
            workspace_path: labels.get(WORKSPACE_PATH).cloned(),
            spec_hash: labels.get(SPEC_HASH).cloned(),
            spec: labels.get(SPEC).cloned(),
            bind_sources: labels
                .get(BIND_SOURCES)
                .and_then(|l| serde_json::from_str(l).ok()),
            content_hash: labels.get(CONTENT_HASH).cloned(),
            snapshot: SnapshotLabels::parse(labels),
        })
    }

    /// The label map, keys and values exactly as every version has written them.
    pub fn to_labels(&self) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
            (WORKSPACE.to_string(), self.workspace.to_string()),
            (KIND.to_string(), self.kind.to_string()),
            (NAME.to_string(), self.name.clone()),
        ]);
        let optional = [
            (WORKSPACE_PATH, &self.workspace_path),
            (SPEC_HASH, &self.spec_hash),
            (SPEC, &self.spec),
            (CONTENT_HASH, &self.content_hash),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                labels.insert(key.to_string(), value.clone());
            }
        }
        if let Some(paths) = &self.bind_sources {
            labels.insert(
                BIND_SOURCES.to_string(),
                serde_json::to_string(paths).unwrap_or_default(),
            );
        }
        if let Some(snapshot) = &self.snapshot {
            snapshot.write(&mut labels);
        }
        labels
    }

    /// Whether these are `ownership`'s.
    pub fn owned_by(&self, ownership: &Ownership) -> bool {
        self.workspace == ownership.workspace
    }
}

/// What an image pocket-dock made (a build or a snapshot) says about itself in its config:
/// `managed-by`, its object's kind and name, and its content hash or snapshot record. Not
/// the workspace: which workspaces use an image is said by their names on it
/// (`images::claim`), so that its id does not depend on the checkout. Images made by earlier
/// versions also carry the workspace labels, which are ignored here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLabels {
    pub kind: Kind,
    pub name: String,
    pub content_hash: Option<String>,
    pub snapshot: Option<SnapshotLabels>,
}

impl ImageLabels {
    pub fn new(kind: Kind, name: &str) -> ImageLabels {
        ImageLabels {
            kind,
            name: name.to_string(),
            content_hash: None,
            snapshot: None,
        }
    }

    /// `None` unless pocket-dock made it (managed-by) for a known kind and a name.
    pub fn parse(labels: &HashMap<String, String>) -> Option<ImageLabels> {
        if labels.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
            return None;
        }
        Some(ImageLabels {
            kind: labels.get(KIND)?.parse().ok()?,
            name: labels.get(NAME)?.clone(),
            content_hash: labels.get(CONTENT_HASH).cloned(),
            snapshot: SnapshotLabels::parse(labels),
        })
    }

    pub fn to_labels(&self) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
            (KIND.to_string(), self.kind.to_string()),
            (NAME.to_string(), self.name.clone()),
        ]);
        if let Some(hash) = &self.content_hash {
            labels.insert(CONTENT_HASH.to_string(), hash.clone());
        }
        if let Some(snapshot) = &self.snapshot {
            snapshot.write(&mut labels);
        }
        labels
    }
}

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
        ObjectLabels::new(self, kind, name).to_labels()
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

    fn full(kind: Kind) -> ObjectLabels {
        ObjectLabels {
            spec_hash: Some("sha256:ab".into()),
            spec: Some("{\"image\":\"x\"}".into()),
            bind_sources: Some(vec!["/w/data".into(), "/w/src".into()]),
            content_hash: Some("cafe".into()),
            snapshot: Some(SnapshotLabels {
                source: "web".into(),
                source_spec_hash: "sha256:cd".into(),
                source_image: "sha256:ef".into(),
                taken_at: "2026-12-01T00:00:00Z".into(),
                generation: "3".into(),
                description: Some("before the upgrade".into()),
            }),
            ..ObjectLabels::new(&Ownership::for_root(Path::new("/w")), kind, "obj")
        }
    }

    #[test]
    fn object_labels_round_trip_for_every_kind() {
        for kind in Kind::ALL {
            let bare = ObjectLabels::new(&Ownership::new(WorkspaceId::new("abc")), kind, "x");
            assert_eq!(ObjectLabels::parse(&bare.to_labels()), Some(bare.clone()));
            assert_eq!(bare.to_labels().len(), 4, "ownership, kind and name only");
            let full = full(kind);
            assert_eq!(ObjectLabels::parse(&full.to_labels()), Some(full));
        }
    }

    #[test]
    fn object_labels_keep_the_keys_and_values_of_the_contract() {
        let labels = full(Kind::Sandbox).to_labels();
        let expect = [
            ("pocket-dock.dev/managed-by", "pocket-dock"),
            ("pocket-dock.dev/kind", "Sandbox"),
            ("pocket-dock.dev/name", "obj"),
            ("pocket-dock.dev/workspace-path", "/w"),
            ("pocket-dock.dev/spec-hash", "sha256:ab"),
            ("pocket-dock.dev/spec", "{\"image\":\"x\"}"),
            ("pocket-dock.dev/bind-sources", "[\"/w/data\",\"/w/src\"]"),
            ("pocket-dock.dev/content-hash", "cafe"),
            ("pocket-dock.dev/snapshot-source", "web"),
            ("pocket-dock.dev/snapshot-source-spec-hash", "sha256:cd"),
            ("pocket-dock.dev/snapshot-source-image", "sha256:ef"),
            ("pocket-dock.dev/snapshot-taken-at", "2026-12-01T00:00:00Z"),
            ("pocket-dock.dev/snapshot-generation", "3"),
            ("pocket-dock.dev/snapshot-description", "before the upgrade"),
        ];
        for (key, value) in expect {
            assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
        }
        assert_eq!(
            labels[WORKSPACE],
            WorkspaceId::from_root_path(Path::new("/w")).as_str()
        );
        assert_eq!(labels.len(), expect.len() + 1);
    }

    #[test]
    fn foreign_and_partial_label_maps_parse_to_none() {
        let good = ObjectLabels::new(&Ownership::new(WorkspaceId::new("abc")), Kind::Volume, "v")
            .to_labels();
        assert!(ObjectLabels::parse(&HashMap::new()).is_none());
        for key in [MANAGED_BY, WORKSPACE, KIND, NAME] {
            let mut partial = good.clone();
            partial.remove(key);
            assert!(ObjectLabels::parse(&partial).is_none(), "without {key}");
        }
        for (key, value) in [(MANAGED_BY, "someone-else"), (KIND, "Pod"), (KIND, "")] {
            let mut wrong = good.clone();
            wrong.insert(key.to_string(), value.to_string());
            assert!(ObjectLabels::parse(&wrong).is_none(), "{key}={value}");
        }
        // Optional labels that do not parse are absent, not an error.
        let mut odd = good.clone();
        odd.insert(BIND_SOURCES.into(), "not json".into());
        odd.insert(SNAPSHOT_GENERATION.into(), "x".into());
        let parsed = ObjectLabels::parse(&odd).unwrap();
        assert_eq!(parsed.bind_sources, None);
        assert_eq!(parsed.snapshot, None, "no snapshot without its source");
        assert!(EmbeddedLabels::parse(&good).is_none());
        let base = HashMap::from([(EMBEDDED.to_string(), "base".to_string())]);
        assert_eq!(EmbeddedLabels::parse(&base).map(|b| b.version), Some(None));
    }

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
