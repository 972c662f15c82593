//! `gc`: what pocket-dock made that nothing wants any more, found and removed.
//!
//! In this workspace: sandbox containers nothing declares, `run` containers whose lease
//! expired (`lease`), image names nothing references (the rule `apply` prunes by,
//! `unreferenced_images`), networks nothing declares or joins (never while a container
//! that is not collected with them is attached), undeclared volumes (only when asked), and
//! temp files of
//! interrupted writes. With `all_workspaces`, also what other workspaces left behind when
//! their folder went away, found by the [`WORKSPACE_PATH`] label. Never an object without
//! pocket-dock's labels, never one of a workspace that still exists, never one whose folder
//! cannot be told (made by an older pocket-dock, or unreadable).
//!
//! [`plan`] is pure: it decides from an [`Inventory`] and a [`Host`] (folders and processes,
//! which tests fake). [`survey`] gathers both and plans; [`execute`] removes, every write
//! going through the engine's ownership checks again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use pocket_dock_spec::{Diagnostic, Kind};
use serde::Serialize;

use crate::declared::{Declared, LastValid};
use crate::engine::labels::{
    ImageLabels, MANAGED_BY, MANAGED_BY_VALUE, ObjectLabels, WORKSPACE, WORKSPACE_PATH,
};
use crate::engine::{
    ContainerSummary, Engine, EngineError, ImageSummary, NetworkSummary, Operation, Ownership,
    RemoveOutcome, VolumeSummary, WorkspaceId,
};
use crate::error::{Error, ExitCode};
use crate::key::Key;
use crate::lease::{self, LeaseState, ProcessView};
use crate::owned_files::{EntryKind, OwnedDir};
use crate::reconcile::Desired;
use crate::reconcile::observe::ImageInputs;
use crate::reconcile::plan::{INCOMPLETE, unreferenced_images};
use crate::workspace::{DIR_NAME, Workspace, own_files::STATUS_DIR};

/// Where `pocket-dock snapshot` writes Snapshot documents, under `.pocket-dock/`.
const SNAPSHOTS_DIR: &str = "snapshots";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcOptions {
    /// Also collect what workspaces whose folder is gone left behind.
    pub all_workspaces: bool,
    /// Also collect volumes (their data is deleted).
    pub volumes: bool,
}

/// What a folder named by a [`WORKSPACE_PATH`] label holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folder {
    /// The workspace is there: its objects are left alone.
    Workspace,
    /// Nothing is there any more.
    Gone,
    /// The folder is there without `.pocket-dock/`: nothing declares anything in it.
    Undeclared,
    /// The path now leads to another workspace (`now`): a moved checkout, a symlink in its
    /// place.
    Moved { now: PathBuf },
    /// It cannot be told (permissions, I/O); its objects are left alone.
    Unknown(String),
}

impl Folder {
    /// Looks at the folder `path` that the workspace `id` was made in.
    pub fn probe(path: &Path, id: &WorkspaceId) -> Folder {
        if !path.is_absolute() {
            return Folder::Unknown(format!("{} is not an absolute path", path.display()));
        }
        let canonical = match path.canonicalize() {
            Ok(canonical) => canonical,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Folder::Gone,
            Err(e) => return Folder::Unknown(format!("cannot look at {}: {e}", path.display())),
        };
        if !canonical.is_dir() {
            return Folder::Gone;
        }
        if WorkspaceId::from_root_path(&canonical) != *id {
            return Folder::Moved { now: canonical };
        }
        match std::fs::metadata(canonical.join(DIR_NAME)) {
            Ok(meta) if meta.is_dir() => Folder::Workspace,
            Ok(_) => Folder::Undeclared,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Folder::Undeclared,
            Err(e) => Folder::Unknown(format!(
                "cannot look at {}: {e}",
                canonical.join(DIR_NAME).display()
            )),
        }
    }

    /// Why an object of this folder's workspace is collected (`None`: it is not).
    fn collect_reason(&self, path: &Path) -> Option<String> {
        match self {
            Folder::Gone => Some(format!("its workspace folder {} is gone", path.display())),
            Folder::Undeclared => Some(format!(
                "its workspace folder {} no longer holds {DIR_NAME}/",
                path.display()
            )),
            Folder::Moved { now } => Some(format!(
                "its workspace folder {} now leads to another workspace ({})",
                path.display(),
                now.display()
            )),
            Folder::Workspace | Folder::Unknown(_) => None,
        }
    }
}

/// What gc needs to know from the host: kept apart so that planning is pure.
pub trait Host {
    /// What the folder `path` of workspace `id` holds now.
    fn folder(&self, path: &Path, id: &WorkspaceId) -> Folder;
    /// The state of the lease in a container's labels (`None`: it has none).
    fn lease(&self, labels: &HashMap<String, String>) -> Option<LeaseState>;
}

/// The real host: its file system and `/proc`.
#[derive(Debug, Clone)]
pub struct SystemHost {
    view: Option<ProcessView>,
}

impl SystemHost {
    pub fn new() -> Self {
        SystemHost {
            view: ProcessView::of_this_process(),
        }
    }
}

impl Default for SystemHost {
    fn default() -> Self {
        SystemHost::new()
    }
}

impl Host for SystemHost {
    fn folder(&self, path: &Path, id: &WorkspaceId) -> Folder {
        Folder::probe(path, id)
    }

    fn lease(&self, labels: &HashMap<String, String>) -> Option<LeaseState> {
        lease::state_of(labels, self.view.as_ref(), lease::live_start_time)
    }
}

/// What pocket-dock made, as Podman lists it (everything with its managed-by label), and
/// this workspace's temp files of writers that are gone.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub containers: Vec<ContainerSummary>,
    pub images: Vec<ImageSummary>,
    pub volumes: Vec<VolumeSummary>,
    pub networks: Vec<NetworkSummary>,
    pub temp_files: Vec<PathBuf>,
}

/// This workspace: who it is and what it declares (`None`: it has no `.pocket-dock/`).
#[derive(Debug, Clone, Copy)]
pub struct Here<'a> {
    pub ownership: &'a Ownership,
    pub desired: Option<&'a Desired>,
}

/// One thing gc looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Object {
    Container {
        name: String,
        id: String,
    },
    /// An image name (the image goes with its last name).
    Image {
        reference: String,
    },
    Volume {
        name: String,
    },
    Network {
        name: String,
    },
    TempFile {
        path: PathBuf,
    },
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Object::Container { name, .. } => write!(f, "container {name}"),
            Object::Image { reference } => write!(f, "image {reference}"),
            Object::Volume { name } => write!(f, "volume {name}"),
            Object::Network { name } => write!(f, "network {name}"),
            Object::TempFile { path } => write!(f, "file {}", path.display()),
        }
    }
}

/// An object gc removes (or would, or kept), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    #[serde(flatten)]
    pub object: Object,
    /// The pocket-dock object it was made for (`Sandbox/web`, `Run/pd-run-…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    /// The id of the workspace it belongs to.
    pub workspace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_path: Option<PathBuf>,
    pub reason: String,
}

/// What gc would do: data, printable before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GcPlan {
    /// What to remove, in order: containers, image names (newest image first), networks,
    /// volumes, files.
    pub collect: Vec<Item>,
    /// What was looked at and left alone, and why.
    pub kept: Vec<Item>,
    /// Objects of other workspaces without a workspace path (made by an older pocket-dock):
    /// their folder cannot be checked, so they are never collected.
    pub without_path: usize,
}

/// Whose an object is, as far as gc is concerned.
enum Owner {
    Here,
    /// Another workspace, and what its folder holds now.
    Other(Folder),
}

/// An object's workspace: id, recorded folder, and whose it is.
struct Whose {
    id: String,
    path: Option<PathBuf>,
    owner: Owner,
}

/// Decides what to collect. Pure: the host is asked about folders and leases only.
pub fn plan(here: Here<'_>, inventory: &Inventory, host: &impl Host, options: GcOptions) -> GcPlan {
    let mut plan = GcPlan::default();
    let here_id = here.ownership.workspace.as_str();
    let here_path = here.ownership.root().map(Path::to_path_buf);
    let mut folders: BTreeMap<(String, PathBuf), Folder> = BTreeMap::new();
    // An object's workspace, or `None` when gc leaves it out: not pocket-dock's, another
    // workspace's without --all-workspaces, one whose folder is still a workspace, or one
    // with no recorded folder (counted).
    // The folder each workspace recorded on its objects: images carry a workspace's id in
    // their names only (`images::names`), so their folder is looked up here.
    let known_paths: BTreeMap<String, PathBuf> = inventory
        .containers
        .iter()
        .map(|c| &c.labels)
        .chain(inventory.volumes.iter().map(|v| &v.labels))
        .chain(inventory.networks.iter().map(|n| &n.labels))
        .chain(inventory.images.iter().map(|i| &i.labels))
        .filter_map(|l| {
            Some((
                l.get(WORKSPACE)?.clone(),
                PathBuf::from(l.get(WORKSPACE_PATH)?),
            ))
        })
        .collect();
    let mut whose_id = |id: &String, path: Option<PathBuf>, without_path: &mut usize| {
        if id == here_id {
            return Some(Whose {
                id: id.clone(),
                path: here_path.clone(),
                owner: Owner::Here,
            });
        }
        if !options.all_workspaces {
            return None;
        }
        let Some(path) = path else {
            *without_path += 1;
            return None;
        };
        let folder = folders
            .entry((id.clone(), path.clone()))
            .or_insert_with(|| host.folder(&path, &WorkspaceId::new(id.clone())))
            .clone();
        (folder != Folder::Workspace).then(|| Whose {
            id: id.clone(),
            path: Some(path),
            owner: Owner::Other(folder),
        })
    };

    // Containers.
    for c in &inventory.containers {
        let Some(Whose { id, path, owner }) =
            labelled(&c.labels).and_then(|(id, path)| whose_id(id, path, &mut plan.without_path))
        else {
            continue;
        };
        let Some(ObjectLabels { kind, name, .. }) = ObjectLabels::parse(&c.labels) else {
            continue;
        };
        let name = &name;
        let otherwise = by_folder(&owner, here, path.as_deref(), options);
        let decision = match kind {
            Kind::Run => match host.lease(&c.labels) {
                Some(LeaseState::Held) => Decision::Leave,
                Some(LeaseState::Expired(reason)) => Decision::Collect(reason),
                Some(LeaseState::Unknown(reason)) => Decision::Keep(reason),
                // `run --keep`: it belongs to its folder while there is one, declared or not.
                None => match &owner {
                    Owner::Other(folder @ (Folder::Gone | Folder::Moved { .. })) => folder
                        .collect_reason(path.as_deref().unwrap_or(Path::new("")))
                        .map_or(Decision::Leave, Decision::Collect),
                    _ => Decision::Leave,
                },
            },
            // The rule of `apply`'s first step: undeclared (only on a complete picture), or
            // a stray beside the declared container.
            Kind::Sandbox => match (&owner, here.desired) {
                (Owner::Here, Some(desired)) => match desired.sandboxes.get(name) {
                    Some(d) if d.container_name == c.name => Decision::Leave,
                    Some(d) => Decision::Collect(format!(
                        "stray container next to the declared one ({})",
                        d.container_name
                    )),
                    None if !desired.complete => Decision::Keep(INCOMPLETE.to_string()),
                    None => Decision::Collect("no longer declared".to_string()),
                },
                _ => otherwise,
            },
            // A claimed sandbox is nobody's declaration and never collected (`release` or
            // `delete` removes it); an idle member goes with its pool's declaration.
            Kind::Pool => {
                let claimed = here
                    .ownership
                    .workspace
                    .as_str()
                    .eq(id.as_str())
                    .then(|| crate::pool::sandbox_of_container_name(here.ownership, &c.name))
                    .flatten()
                    .is_some();
                match (&owner, here.desired) {
                    _ if claimed => Decision::Leave,
                    (Owner::Here, Some(desired)) => match desired.pools.get(name) {
                        Some(_) => Decision::Leave,
                        None if !desired.complete => Decision::Keep(INCOMPLETE.to_string()),
                        None => Decision::Collect("its pool is no longer declared".to_string()),
                    },
                    (Owner::Here, None) => Decision::Leave,
                    // Another workspace's, gone or moved: its claimed sandboxes too, since
                    // nothing can work in them any more.
                    _ => otherwise,
                }
            }
            _ => Decision::Leave,
        };
        decision.record(
            &mut plan,
            Item {
                object: Object::Container {
                    name: c.name.clone(),
                    id: c.id.clone(),
                },
                key: Some(Key::new(kind, name.clone())),
                workspace: id,
                workspace_path: path,
                reason: String::new(),
            },
        );
    }

    // Image names, newest image first (an image goes before the one it was built from).
    // Each workspace name is decided by its workspace; a portable name goes with the last
    // workspace name on the image.
    let unreferenced: BTreeMap<String, String> = here
        .desired
        .map(|desired| {
            let mine: Vec<ImageSummary> = inventory
                .images
                .iter()
                .filter(|i| crate::engine::owns_image(here.ownership, &i.labels, &i.repo_tags))
                .cloned()
                .collect();
            unreferenced_images(desired, &mine)
                .into_iter()
                .map(|u| (u.reference, u.reason))
                .collect()
        })
        .unwrap_or_default();
    // An Image that cannot be made now has no tag to compare with; its names wait.
    let unmakeable: BTreeMap<&str, &str> = here
        .desired
        .map(|d| {
            d.images
                .values()
                .filter_map(|i| Some((i.name.as_str(), i.problem.as_deref()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut images: Vec<&ImageSummary> = inventory.images.iter().collect();
    images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    for image in images {
        let Some(ImageLabels { kind, name, .. }) = ImageLabels::parse(&image.labels) else {
            continue;
        };
        let name = &name;
        if !matches!(kind, Kind::Image | Kind::Snapshot) {
            continue;
        }
        let key = Key::new(kind, name.clone());
        let mut claims = 0;
        let mut collected = 0;
        let mut last: Option<(String, Option<PathBuf>)> = None;
        for tag in &image.repo_tags {
            // Only workspaces' own names; one a user gave it elsewhere keeps the image.
            let crate::images::Claim::Workspace(id) = crate::images::claim(tag) else {
                continue;
            };
            claims += 1;
            let id = id.to_string();
            let Some(Whose { id, path, owner }) =
                whose_id(&id, known_paths.get(&id).cloned(), &mut plan.without_path)
            else {
                continue;
            };
            let otherwise = by_folder(&owner, here, path.as_deref(), options);
            let decision = match (&owner, here.desired) {
                (Owner::Here, Some(desired)) => match unreferenced.get(tag) {
                    None => Decision::Leave,
                    Some(_) if !desired.complete => Decision::Keep(INCOMPLETE.to_string()),
                    Some(_) if kind == Kind::Image && unmakeable.contains_key(name.as_str()) => {
                        Decision::Keep(format!(
                            "Image/{name} cannot be made now ({}), so which of its names are current is not known",
                            unmakeable[name.as_str()]
                        ))
                    }
                    Some(reason) => Decision::Collect(reason.clone()),
                },
                _ => otherwise.clone(),
            };
            if matches!(decision, Decision::Collect(_)) {
                collected += 1;
                last = Some((id.clone(), path.clone()));
            }
            decision.record(
                &mut plan,
                Item {
                    object: Object::Image {
                        reference: tag.clone(),
                    },
                    key: Some(key.clone()),
                    workspace: id.clone(),
                    workspace_path: path.clone(),
                    reason: String::new(),
                },
            );
        }
        // Portable names, once every workspace name on the image goes (and this workspace
        // does not want them).
        let Some((id, path)) = last.filter(|_| claims > 0 && collected == claims) else {
            continue;
        };
        let wanted = |tag: &String| {
            here.desired.is_some_and(|d| {
                d.images.values().any(|i| &i.shared == tag)
                    || d.snapshots.values().any(|s| &s.shared == tag)
            })
        };
        for tag in &image.repo_tags {
            if crate::images::claim(tag) == crate::images::Claim::Portable && !wanted(tag) {
                plan.collect.push(Item {
                    object: Object::Image {
                        reference: tag.clone(),
                    },
                    key: Some(key.clone()),
                    workspace: id.clone(),
                    workspace_path: path.clone(),
                    reason: "no workspace uses it any more".to_string(),
                });
            }
        }
    }

    // Networks: no data, so like containers; attached strangers keep one at execution.
    for network in &inventory.networks {
        let Some(Whose { id, path, owner }) = labelled(&network.labels)
            .and_then(|(id, path)| whose_id(id, path, &mut plan.without_path))
        else {
            continue;
        };
        let Some(ObjectLabels { name, .. }) =
            ObjectLabels::parse(&network.labels).filter(|l| l.kind == Kind::Network)
        else {
            continue;
        };
        let decision = match (&owner, here.desired) {
            (Owner::Here, Some(desired)) if desired.networks.contains_key(&name) => Decision::Leave,
            (Owner::Here, Some(desired)) if !desired.complete => {
                Decision::Keep(INCOMPLETE.to_string())
            }
            (Owner::Here, Some(_)) => Decision::Collect("no longer declared or joined".into()),
            _ => by_folder(&owner, here, path.as_deref(), options),
        };
        decision.record(
            &mut plan,
            Item {
                object: Object::Network {
                    name: network.name.clone(),
                },
                key: Some(Key::new(Kind::Network, name)),
                workspace: id,
                workspace_path: path,
                reason: String::new(),
            },
        );
    }

    // Volumes: their data goes with them, so only when asked.
    for volume in &inventory.volumes {
        let Some(Whose { id, path, owner }) = labelled(&volume.labels)
            .and_then(|(id, path)| whose_id(id, path, &mut plan.without_path))
        else {
            continue;
        };
        let Some(ObjectLabels { name, .. }) =
            ObjectLabels::parse(&volume.labels).filter(|l| l.kind == Kind::Volume)
        else {
            continue;
        };
        let name = &name;
        let decision = match (&owner, here.desired) {
            (Owner::Here, Some(desired)) if desired.volumes.contains_key(name) => Decision::Leave,
            (Owner::Here, Some(desired)) if !desired.complete => {
                Decision::Keep(INCOMPLETE.to_string())
            }
            (Owner::Here, Some(_)) => Decision::Collect("no longer declared".to_string()),
            _ => by_folder(&owner, here, path.as_deref(), options),
        };
        let decision = match decision {
            Decision::Collect(reason) if !options.volumes => Decision::Keep(format!(
                "{reason}; pass --volumes to delete it and its data"
            )),
            other => other,
        };
        decision.record(
            &mut plan,
            Item {
                object: Object::Volume {
                    name: volume.name.clone(),
                },
                key: Some(Key::new(Kind::Volume, name.clone())),
                workspace: id,
                workspace_path: path,
                reason: String::new(),
            },
        );
    }

    // Temp files of interrupted writes.
    for file in &inventory.temp_files {
        let writer = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once(crate::workspace::own_files::TEMP_MARKER))
            .map(|(_, pid)| pid.to_string())
            .unwrap_or_default();
        plan.collect.push(Item {
            object: Object::TempFile { path: file.clone() },
            key: None,
            workspace: here_id.to_string(),
            workspace_path: here_path.clone(),
            reason: format!("left by an interrupted write (process {writer} is gone)"),
        });
    }
    plan
}

/// What to do with one object.
#[derive(Debug, Clone)]
enum Decision {
    Collect(String),
    Keep(String),
    Leave,
}

impl Decision {
    fn record(self, plan: &mut GcPlan, item: Item) {
        match self {
            Decision::Collect(reason) => plan.collect.push(Item { reason, ..item }),
            Decision::Keep(reason) => plan.kept.push(Item { reason, ..item }),
            Decision::Leave => {}
        }
    }
}

/// A pocket-dock object's workspace id and recorded folder, from its labels.
fn labelled(labels: &HashMap<String, String>) -> Option<(&String, Option<PathBuf>)> {
    if labels.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
        return None;
    }
    let id = labels.get(WORKSPACE)?;
    Some((id, labels.get(WORKSPACE_PATH).map(PathBuf::from)))
}

/// The decision for a declared kind's object that its workspace's declarations cannot
/// speak for: another workspace's (by its folder), or this one's when it has no
/// `.pocket-dock/`.
fn by_folder(owner: &Owner, here: Here<'_>, path: Option<&Path>, options: GcOptions) -> Decision {
    let path = path.unwrap_or(Path::new(""));
    match owner {
        Owner::Other(Folder::Unknown(why)) => {
            Decision::Keep(format!("its workspace folder cannot be checked: {why}"))
        }
        Owner::Other(folder) => folder
            .collect_reason(path)
            .map_or(Decision::Leave, Decision::Collect),
        Owner::Here if here.desired.is_none() && options.all_workspaces => Folder::Undeclared
            .collect_reason(path)
            .map_or(Decision::Leave, Decision::Collect),
        Owner::Here if here.desired.is_none() => Decision::Keep(format!(
            "nothing declares it, but this folder has no {DIR_NAME}/ to say so; \
             `pocket-dock gc --all-workspaces` collects it"
        )),
        // This workspace's declarations decide (handled by the caller).
        Owner::Here => Decision::Leave,
    }
}

/// Why gc collects nothing: the declarations cannot prove that anything is unwanted.
#[derive(Debug)]
pub enum Refusal {
    /// Some documents are invalid (every problem, for printing).
    Invalid(Vec<Diagnostic>),
    /// Valid, but not known to be the whole picture (a folder that could not be listed, a
    /// file list cut at its limit).
    Incomplete,
}

/// This workspace's declarations, as gc needs them: `Ok(None)` when it has no
/// `.pocket-dock/`; a [`Refusal`] unless every file is valid and the picture complete.
pub async fn load_desired(workspace: &Workspace) -> Result<Option<Desired>, Refusal> {
    if !workspace.declared {
        return Ok(None);
    }
    // No last valid versions: a broken file refuses the whole collection anyway.
    let declared = Declared::load(&workspace.root, &LastValid::default());
    if !declared.is_valid() {
        return Err(Refusal::Invalid(declared.problems));
    }
    if !declared.declarations.complete {
        return Err(Refusal::Incomplete);
    }
    let inputs = ImageInputs::gather(&declared.declarations).await;
    Ok(Some(Desired::from_declarations(
        &declared.declarations,
        &workspace.ownership(),
        &inputs,
    )))
}

/// Lists what Podman has, finds this workspace's stale temp files, and plans.
pub async fn survey(
    engine: &Engine,
    workspace: &Workspace,
    desired: Option<&Desired>,
    options: GcOptions,
) -> Result<GcPlan, EngineError> {
    let managed = [format!("{MANAGED_BY}={MANAGED_BY_VALUE}")];
    let (containers, images, volumes, networks) = tokio::join!(
        engine.list_containers(&managed),
        engine.list_images(&managed),
        engine.list_volumes(&managed),
        engine.list_networks(&managed),
    );
    let inventory = Inventory {
        containers: containers?,
        images: images?,
        volumes: volumes?,
        networks: networks?,
        temp_files: stale_temp_files(&workspace.root),
    };
    let ownership = workspace.ownership();
    let here = Here {
        ownership: &ownership,
        desired,
    };
    Ok(plan(here, &inventory, &SystemHost::new(), options))
}

/// The folders under `.pocket-dock/` that hold pocket-dock's atomic writes, as paths of
/// folder names from there: `status/`, each `status/<kind>/`, and `snapshots/`.
fn temp_file_folders(top: &OwnedDir) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let Ok(Some(status)) = top.subdir(STATUS_DIR, false) {
        out.push(vec![STATUS_DIR.to_string()]);
        for (name, kind) in status.list().unwrap_or_default() {
            if kind == EntryKind::Folder {
                out.push(vec![STATUS_DIR.to_string(), name]);
            }
        }
    }
    if let Ok(Some(_)) = top.subdir(SNAPSHOTS_DIR, false) {
        out.push(vec![SNAPSHOTS_DIR.to_string()]);
    }
    out
}

/// Opens `.pocket-dock/<components…>` without following a symlink anywhere below the root.
fn open_below(top: &OwnedDir, components: &[String]) -> Option<OwnedDir> {
    let mut components = components.iter();
    let mut dir = top.subdir(components.next()?, false).ok()??;
    for c in components {
        dir = dir.subdir(c, false).ok()??;
    }
    Some(dir)
}

/// Temp files of writers that are gone, under this workspace's own folders.
fn stale_temp_files(root: &Path) -> Vec<PathBuf> {
    let Ok(top) = OwnedDir::open(&root.join(DIR_NAME)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for components in temp_file_folders(&top) {
        let Some(dir) = open_below(&top, &components) else {
            continue;
        };
        for (name, kind) in dir.list().unwrap_or_default() {
            if kind == EntryKind::File && crate::owned_files::is_stale_temp_name(&name) {
                out.push(dir.path().join(name));
            }
        }
    }
    out
}

/// An object that could not be removed.
#[derive(Debug, Serialize)]
pub struct Failed {
    #[serde(flatten)]
    pub item: Item,
    pub error: String,
    /// The exit code this failure calls for.
    #[serde(skip)]
    pub exit: ExitCode,
}

/// What gc did.
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    /// Removed (or found gone already).
    pub removed: Vec<Item>,
    /// Left in place: planned so, or found in use when its turn came.
    pub kept: Vec<Item>,
    pub failed: Vec<Failed>,
    pub without_path: usize,
}

impl GcReport {
    /// Success, or the exit code of the first failure.
    pub fn exit_code(&self) -> ExitCode {
        self.failed.first().map_or(ExitCode::Success, |f| f.exit)
    }
}

async fn remove_volume(
    engine: &Engine,
    ownership: &Ownership,
    volume: &VolumeSummary,
) -> Result<(), EngineError> {
    engine
        .remove_volume(&crate::engine::OwnedVolume::check(ownership, volume)?)
        .await
}

/// Removes a network that its labels say `ownership` owns, unless a container is still
/// attached (one gc did not collect: someone else's, or one that is wanted).
async fn remove_network(
    engine: &Engine,
    ownership: &Ownership,
    name: &str,
) -> Result<Removal, EngineError> {
    let Some(network) = engine.inspect_network(name).await? else {
        return Ok(Removal::Done);
    };
    if !network.containers.is_empty() {
        let users: Vec<&str> = network.containers.iter().map(|(_, n)| n.as_str()).collect();
        return Ok(Removal::InUse(format!(
            "still in use by {}",
            users.join(", ")
        )));
    }
    let owned = crate::engine::OwnedNetwork::check(ownership, &network)?;
    let egress = crate::engine::labels::ObjectLabels::parse(&network.labels)
        .is_some_and(|l| crate::egress::is_egress_network(&l.name));
    match engine.remove_network(&owned).await {
        Ok(()) => {
            // An egress network's host firewall rules go with it.
            if egress {
                crate::egress::unguard_host(&network.name).await;
            }
            Ok(Removal::Done)
        }
        Err(EngineError::Conflict { message, .. }) => {
            Ok(Removal::InUse(format!("still in use: {message}")))
        }
        Err(EngineError::Runtime {
            status: Some(404), ..
        }) => Ok(Removal::Done),
        Err(e) => Err(e),
    }
}

/// Removes what `plan` collects, in its order; every object is tried. Containers and images
/// are checked against their workspace's ownership labels right before removal, volumes
/// against theirs as listed again; temp files go through [`OwnedDir::clean_temp_files`].
pub async fn execute(engine: &Engine, workspace: &Workspace, plan: &GcPlan) -> GcReport {
    let mut report = GcReport {
        kept: plan.kept.clone(),
        without_path: plan.without_path,
        ..GcReport::default()
    };
    let mut volumes: BTreeMap<String, Result<Vec<VolumeSummary>, String>> = BTreeMap::new();
    let mut cleaned: BTreeSet<PathBuf> = BTreeSet::new();
    let mut events = Vec::new();
    for item in &plan.collect {
        let started = std::time::Instant::now();
        let ownership = Ownership::new(WorkspaceId::new(item.workspace.clone()));
        let outcome: Result<Removal, EngineError> = match &item.object {
            Object::Container { id, .. } => {
                match engine
                    .inspect_owned(&ownership, id, Operation::ContainerRemove)
                    .await
                {
                    Ok((_, handle)) => engine.remove_container(&handle).await.map(|r| match r {
                        RemoveOutcome::Removed | RemoveOutcome::AlreadyGone => Removal::Done,
                    }),
                    Err(EngineError::ContainerNotFound { .. }) => Ok(Removal::Done),
                    Err(e) => Err(e),
                }
            }
            Object::Image { reference } => {
                match engine.remove_owned_image(&ownership, reference).await {
                    Ok(()) | Err(EngineError::ImageNotFound { .. }) => Ok(Removal::Done),
                    Err(EngineError::Conflict { message, .. }) => {
                        Ok(Removal::InUse(format!("still in use: {message}")))
                    }
                    Err(e) => Err(e),
                }
            }
            Object::Volume { name } => {
                let listed = match volumes.get(&item.workspace) {
                    Some(listed) => listed.clone(),
                    None => {
                        let listed = engine
                            .list_owned_volumes(&ownership)
                            .await
                            .map_err(|e| e.to_string());
                        volumes.insert(item.workspace.clone(), listed.clone());
                        listed
                    }
                };
                match listed.map(|l| l.into_iter().find(|v| v.name == *name)) {
                    Ok(Some(volume)) => match remove_volume(engine, &ownership, &volume).await {
                        Ok(()) => Ok(Removal::Done),
                        Err(EngineError::Conflict { message, .. }) => {
                            Ok(Removal::InUse(format!("still in use: {message}")))
                        }
                        Err(e) => Err(e),
                    },
                    Ok(None) => Ok(Removal::Done),
                    Err(listing) => Ok(Removal::Failed(listing)),
                }
            }
            Object::Network { name } => remove_network(engine, &ownership, name).await,
            Object::TempFile { path } => Ok(remove_temp_file(&workspace.root, path, &mut cleaned)),
        };
        events.push(gc_event(item, &outcome, started.elapsed()));
        match outcome {
            Ok(Removal::Done) => report.removed.push(item.clone()),
            Ok(Removal::InUse(reason)) => report.kept.push(Item {
                reason,
                ..item.clone()
            }),
            Ok(Removal::Failed(error)) => report.failed.push(Failed {
                item: item.clone(),
                error,
                exit: ExitCode::Failed,
            }),
            Err(e) => report.failed.push(Failed {
                item: item.clone(),
                error: e.to_string(),
                exit: Error::from(e).exit_code(),
            }),
        }
    }
    crate::store::record_in(&workspace.root.join(DIR_NAME), &events);
    report
}

/// The event log's record of one removal (in this workspace's log, whichever workspace the
/// object belonged to).
fn gc_event(
    item: &Item,
    outcome: &Result<Removal, EngineError>,
    elapsed: std::time::Duration,
) -> crate::store::Event {
    use crate::store::{Event, Outcome, Source};
    let (kind, name) = match (&item.key, &item.object) {
        (Some(key), _) => (key.kind.as_str().to_string(), key.name.clone()),
        (None, Object::Container { name, .. }) => ("container".to_string(), name.clone()),
        (None, Object::Image { reference }) => ("image".to_string(), reference.clone()),
        (None, Object::Volume { name }) => ("volume".to_string(), name.clone()),
        (None, Object::Network { name }) => ("network".to_string(), name.clone()),
        (None, Object::TempFile { path }) => ("file".to_string(), path.display().to_string()),
    };
    let event = Event::new(Source::Gc, "remove")
        .object(kind, name)
        .reason(item.reason.clone())
        .duration(elapsed)
        .detail(serde_json::json!({ "object": item.object, "workspace": item.workspace }));
    match outcome {
        Ok(Removal::Done) => event,
        Ok(Removal::InUse(why)) => event.outcome(Outcome::Skipped).reason(why.clone()),
        Ok(Removal::Failed(error)) => event.failed("runtime", error.clone()),
        Err(e) => event.failed(e.category().as_str(), e.to_string()),
    }
}

enum Removal {
    Done,
    InUse(String),
    Failed(String),
}

/// Cleans the temp files of `path`'s folder (once per folder), then says whether `path` is
/// gone.
fn remove_temp_file(root: &Path, path: &Path, cleaned: &mut BTreeSet<PathBuf>) -> Removal {
    let top_path = root.join(DIR_NAME);
    let (Some(folder), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
    else {
        return Removal::Failed(format!("{} is not a temp file path", path.display()));
    };
    let Ok(relative) = folder.strip_prefix(&top_path) else {
        return Removal::Failed(format!(
            "{} is outside {}",
            path.display(),
            top_path.display()
        ));
    };
    let components: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let dir = OwnedDir::open(&top_path)
        .ok()
        .and_then(|top| open_below(&top, &components));
    let Some(dir) = dir else {
        return Removal::Failed(format!("cannot open {}", folder.display()));
    };
    if cleaned.insert(folder.to_path_buf())
        && let Err(e) = dir.clean_temp_files()
    {
        return Removal::Failed(e.to_string());
    }
    match dir.entry(name) {
        Ok(EntryKind::Absent) => Removal::Done,
        Ok(_) => Removal::Failed(format!("{} could not be removed", path.display())),
        Err(e) => Removal::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ContainerState;
    use crate::lease::LEASE_PID;

    /// Folders and leases as a test says: folders by path; a lease by its pid (1 held,
    /// 2 expired, anything else cannot be judged).
    struct FakeHost(BTreeMap<PathBuf, Folder>);

    impl Host for FakeHost {
        fn folder(&self, path: &Path, _: &WorkspaceId) -> Folder {
            self.0.get(path).cloned().unwrap_or(Folder::Workspace)
        }
        fn lease(&self, labels: &HashMap<String, String>) -> Option<LeaseState> {
            Some(match labels.get(LEASE_PID)?.as_str() {
                "1" => LeaseState::Held,
                "2" => LeaseState::Expired("its `run` (pid 2) is gone".into()),
                _ => LeaseState::Unknown("another pid namespace".into()),
            })
        }
    }

    fn host() -> FakeHost {
        FakeHost(BTreeMap::from([
            (PathBuf::from("/gone/b"), Folder::Gone),
            (PathBuf::from("/live/c"), Folder::Workspace),
            (
                PathBuf::from("/moved/d"),
                Folder::Moved {
                    now: "/elsewhere".into(),
                },
            ),
            (
                PathBuf::from("/unknown/e"),
                Folder::Unknown("permission denied".into()),
            ),
            (PathBuf::from("/plain/f"), Folder::Undeclared),
        ]))
    }

    fn labels(
        own: &Ownership,
        kind: Kind,
        name: &str,
        extra: &[(&str, &str)],
    ) -> HashMap<String, String> {
        let mut l = own.labels_for(kind, name);
        l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l
    }

    fn container(name: &str, labels: HashMap<String, String>) -> ContainerSummary {
        ContainerSummary {
            id: format!("id-{name}"),
            name: name.into(),
            image: String::new(),
            image_id: String::new(),
            state: ContainerState::Running,
            labels,
            created: 0,
            exit_code: None,
            oom_killed: false,
            started_at: None,
            finished_at: None,
            ports: Vec::new(),
            networks: None,
        }
    }

    fn image(
        id: &str,
        created: i64,
        tags: &[String],
        labels: HashMap<String, String>,
    ) -> ImageSummary {
        ImageSummary {
            id: id.into(),
            repo_tags: tags.to_vec(),
            labels,
            size: 0,
            created,
        }
    }

    fn volume(name: &str, labels: HashMap<String, String>) -> VolumeSummary {
        VolumeSummary {
            name: name.into(),
            labels,
            mountpoint: String::new(),
        }
    }

    /// A workspace declaring Sandbox/web, Volume/data and Snapshot/snap (generation 1).
    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(DIR_NAME)).unwrap();
        std::fs::write(
            dir.path().join(DIR_NAME).join("a.yaml"),
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: web}\nspec: {image: busybox:1}\n\
             ---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: data}\n\
             ---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Snapshot\nmetadata: {name: snap}\nspec: {sandbox: web, generation: 1}\n",
        )
        .unwrap();
        let ws = Workspace::locate(Some(dir.path()), dir.path()).unwrap();
        (dir, ws)
    }

    fn other(path: &str) -> Ownership {
        Ownership::for_root(Path::new(path))
    }

    fn inventory(here: &Ownership, desired: &Desired) -> Inventory {
        let web = &desired.sandboxes["web"].container_name;
        let (b, c, d, e, f) = (
            other("/gone/b"),
            other("/live/c"),
            other("/moved/d"),
            other("/unknown/e"),
            other("/plain/f"),
        );
        let older = Ownership::new(WorkspaceId::new("older"));
        let mut foreign = HashMap::new();
        foreign.insert("app".to_string(), "mine".to_string());
        let snap = |own: &Ownership, name: &str, generation| {
            crate::images::snapshot_tag(own, name, generation)
        };
        Inventory {
            containers: vec![
                container(web, labels(here, Kind::Sandbox, "web", &[])),
                container("pd-old", labels(here, Kind::Sandbox, "old", &[])),
                container("pd-web-stray", labels(here, Kind::Sandbox, "web", &[])),
                container(
                    "run-held",
                    labels(here, Kind::Run, "run-held", &[(LEASE_PID, "1")]),
                ),
                container(
                    "run-dead",
                    labels(here, Kind::Run, "run-dead", &[(LEASE_PID, "2")]),
                ),
                container(
                    "run-other-ns",
                    labels(here, Kind::Run, "run-other-ns", &[(LEASE_PID, "3")]),
                ),
                container("run-kept", labels(here, Kind::Run, "run-kept", &[])),
                container("b-web", labels(&b, Kind::Sandbox, "web", &[])),
                container("b-kept", labels(&b, Kind::Run, "b-kept", &[])),
                container(
                    "b-held",
                    labels(&b, Kind::Run, "b-held", &[(LEASE_PID, "1")]),
                ),
                container("c-web", labels(&c, Kind::Sandbox, "web", &[])),
                container(
                    "c-dead",
                    labels(&c, Kind::Run, "c-dead", &[(LEASE_PID, "2")]),
                ),
                container("d-web", labels(&d, Kind::Sandbox, "web", &[])),
                container("e-web", labels(&e, Kind::Sandbox, "web", &[])),
                container("f-web", labels(&f, Kind::Sandbox, "web", &[])),
                container("f-kept", labels(&f, Kind::Run, "f-kept", &[])),
                container("older-web", labels(&older, Kind::Sandbox, "web", &[])),
                container("foreign", foreign),
            ],
            images: vec![
                image(
                    "i-snap",
                    1,
                    &[snap(here, "snap", 1)],
                    labels(here, Kind::Snapshot, "snap", &[]),
                ),
                image(
                    "i-gone-snap",
                    3,
                    &[snap(here, "gone", 1), "docker.io/me/kept:1".to_string()],
                    labels(here, Kind::Snapshot, "gone", &[]),
                ),
                image(
                    "i-b",
                    2,
                    &[snap(&b, "s", 1)],
                    labels(&b, Kind::Snapshot, "s", &[]),
                ),
                image(
                    "i-c",
                    2,
                    &[snap(&c, "s", 1)],
                    labels(&c, Kind::Snapshot, "s", &[]),
                ),
            ],
            volumes: vec![
                volume("pd-data", labels(here, Kind::Volume, "data", &[])),
                volume("pd-old", labels(here, Kind::Volume, "old", &[])),
                volume("b-data", labels(&b, Kind::Volume, "data", &[])),
                volume("c-data", labels(&c, Kind::Volume, "data", &[])),
            ],
            networks: vec![
                network("pd-default", labels(here, Kind::Network, "default", &[])),
                network("pd-old-net", labels(here, Kind::Network, "old-net", &[])),
                network("b-net", labels(&b, Kind::Network, "default", &[])),
                network("c-net", labels(&c, Kind::Network, "default", &[])),
            ],
            temp_files: vec![PathBuf::from("/ws/.pocket-dock/status/a.yaml.tmp-99")],
        }
    }

    fn network(name: &str, labels: HashMap<String, String>) -> NetworkSummary {
        NetworkSummary {
            name: name.into(),
            id: format!("id-{name}"),
            labels,
            internal: false,
            subnets: Vec::new(),
            containers: Vec::new(),
        }
    }

    fn names(items: &[Item]) -> Vec<String> {
        items.iter().map(|i| i.object.to_string()).collect()
    }

    fn reason<'a>(items: &'a [Item], object: &str) -> &'a str {
        &items
            .iter()
            .find(|i| i.object.to_string() == object)
            .unwrap_or_else(|| panic!("{object} not in {:?}", names(items)))
            .reason
    }

    #[tokio::test]
    async fn this_workspace_collects_the_undeclared_and_the_expired_only() {
        let (_dir, ws) = workspace();
        let own = ws.ownership();
        let desired = load_desired(&ws).await.unwrap().unwrap();
        let here = Here {
            ownership: &own,
            desired: Some(&desired),
        };
        let inv = inventory(&own, &desired);
        let gone_snap = crate::images::snapshot_tag(&own, "gone", 1);
        let plan = plan(here, &inv, &host(), GcOptions::default());
        assert_eq!(
            names(&plan.collect),
            [
                "container pd-old",
                "container pd-web-stray",
                "container run-dead",
                &format!("image {gone_snap}"),
                "network pd-old-net",
                "file /ws/.pocket-dock/status/a.yaml.tmp-99",
            ]
        );
        assert_eq!(
            reason(&plan.collect, "network pd-old-net"),
            "no longer declared or joined"
        );
        assert_eq!(
            reason(&plan.collect, "container pd-old"),
            "no longer declared"
        );
        assert!(reason(&plan.collect, "container run-dead").contains("pid 2"));
        assert_eq!(
            reason(&plan.collect, &format!("image {gone_snap}")),
            "Snapshot/gone is no longer declared"
        );
        // Kept, and why: a lease that cannot be judged; a volume, since --volumes is not given.
        assert_eq!(
            names(&plan.kept),
            ["container run-other-ns", "volume pd-old"]
        );
        assert!(reason(&plan.kept, "volume pd-old").contains("pass --volumes"));
        // Other workspaces are not even looked at.
        assert_eq!(plan.without_path, 0);
        assert!(
            plan.collect
                .iter()
                .all(|i| i.workspace == own.workspace.as_str())
        );

        let with_volumes = super::plan(
            here,
            &inv,
            &host(),
            GcOptions {
                volumes: true,
                ..GcOptions::default()
            },
        );
        assert!(names(&with_volumes.collect).contains(&"volume pd-old".to_string()));
        assert!(!names(&with_volumes.collect).contains(&"volume pd-data".to_string()));
    }

    #[tokio::test]
    async fn incomplete_declarations_keep_everything_undeclared() {
        let (_dir, ws) = workspace();
        let own = ws.ownership();
        let mut desired = load_desired(&ws).await.unwrap().unwrap();
        desired.complete = false;
        let here = Here {
            ownership: &own,
            desired: Some(&desired),
        };
        let plan = plan(
            here,
            &inventory(&own, &desired),
            &host(),
            GcOptions {
                volumes: true,
                ..GcOptions::default()
            },
        );
        // A stray beside a declared sandbox, a dead run and a temp file are no one's wish.
        assert_eq!(
            names(&plan.collect),
            [
                "container pd-web-stray",
                "container run-dead",
                "file /ws/.pocket-dock/status/a.yaml.tmp-99",
            ]
        );
        assert_eq!(reason(&plan.kept, "container pd-old"), INCOMPLETE);
        assert_eq!(reason(&plan.kept, "volume pd-old"), INCOMPLETE);
    }

    #[tokio::test]
    async fn all_workspaces_collects_only_what_vanished_workspaces_left() {
        let (_dir, ws) = workspace();
        let own = ws.ownership();
        let desired = load_desired(&ws).await.unwrap().unwrap();
        let here = Here {
            ownership: &own,
            desired: Some(&desired),
        };
        let options = GcOptions {
            all_workspaces: true,
            volumes: false,
        };
        let plan = plan(here, &inventory(&own, &desired), &host(), options);
        let collected = names(&plan.collect);
        for expected in [
            "network b-net",
            "container b-web",
            "container b-kept",
            "container d-web",
            "container f-web",
            &format!(
                "image {}",
                crate::images::snapshot_tag(&other("/gone/b"), "s", 1)
            ),
        ] {
            assert!(
                collected.contains(&expected.to_string()),
                "{expected}: {collected:?}"
            );
        }
        // A live run, a live workspace (even its dead run), a kept run of a folder that is
        // still there, an older object, a foreign container: never.
        for never in [
            "container b-held",
            "container c-web",
            "container c-dead",
            "container f-kept",
            "container older-web",
            "container foreign",
            "volume c-data",
            "volume b-data",
            "network c-net",
            "network pd-default",
        ] {
            assert!(
                !collected.contains(&never.to_string()),
                "{never}: {collected:?}"
            );
        }
        assert!(reason(&plan.collect, "container b-web").contains("/gone/b is gone"));
        assert!(reason(&plan.collect, "container d-web").contains("another workspace"));
        assert!(reason(&plan.collect, "container f-web").contains("no longer holds"));
        assert!(reason(&plan.kept, "container e-web").contains("permission denied"));
        assert!(reason(&plan.kept, "volume b-data").contains("pass --volumes"));
        assert_eq!(plan.without_path, 1);
        // Every collected object names its workspace and the folder it was made in.
        let b = plan
            .collect
            .iter()
            .find(|i| i.object.to_string() == "container b-web")
            .unwrap();
        assert_eq!(b.workspace, other("/gone/b").workspace.as_str());
        assert_eq!(b.workspace_path.as_deref(), Some(Path::new("/gone/b")));

        let with_volumes = super::plan(
            here,
            &inventory(&own, &desired),
            &host(),
            GcOptions {
                volumes: true,
                ..options
            },
        );
        let collected = names(&with_volumes.collect);
        assert!(collected.contains(&"volume b-data".to_string()));
        assert!(!collected.contains(&"volume c-data".to_string()));
        // Containers first, then images, volumes, files.
        let order: Vec<&str> = with_volumes
            .collect
            .iter()
            .map(|i| match i.object {
                Object::Container { .. } => "c",
                Object::Image { .. } => "i",
                Object::Network { .. } => "n",
                Object::Volume { .. } => "v",
                Object::TempFile { .. } => "f",
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort_by_key(|k| ["c", "i", "n", "v", "f"].iter().position(|x| x == k));
        assert_eq!(order, sorted);
    }

    #[test]
    fn images_go_newest_first() {
        let own = other("/ws");
        let b = other("/gone/b");
        let tag = |n: &str| crate::images::snapshot_tag(&b, n, 1);
        let inv = Inventory {
            images: vec![
                image(
                    "old",
                    1,
                    &[tag("old")],
                    labels(&b, Kind::Snapshot, "old", &[]),
                ),
                image(
                    "new",
                    5,
                    &[tag("new")],
                    labels(&b, Kind::Snapshot, "new", &[]),
                ),
                image("mid", 3, &[tag("mid")], labels(&b, Kind::Image, "mid", &[])),
            ],
            ..Inventory::default()
        };
        let here = Here {
            ownership: &own,
            desired: None,
        };
        let options = GcOptions {
            all_workspaces: true,
            volumes: false,
        };
        let plan = plan(here, &inv, &host(), options);
        assert_eq!(
            names(&plan.collect),
            [tag("new"), tag("mid"), tag("old")].map(|t| format!("image {t}"))
        );
    }

    #[test]
    fn a_folder_without_declarations_collects_only_with_all_workspaces() {
        let own = other("/plain/here");
        let inv = Inventory {
            containers: vec![
                container("s", labels(&own, Kind::Sandbox, "s", &[])),
                container("r", labels(&own, Kind::Run, "r", &[(LEASE_PID, "2")])),
                container("k", labels(&own, Kind::Run, "k", &[])),
            ],
            ..Inventory::default()
        };
        let here = Here {
            ownership: &own,
            desired: None,
        };
        let plain = plan(here, &inv, &host(), GcOptions::default());
        assert_eq!(names(&plain.collect), ["container r"]);
        assert!(reason(&plain.kept, "container s").contains("--all-workspaces"));
        let all = plan(
            here,
            &inv,
            &host(),
            GcOptions {
                all_workspaces: true,
                volumes: false,
            },
        );
        assert_eq!(names(&all.collect), ["container s", "container r"]);
    }

    #[test]
    fn folders_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let id = |p: &Path| WorkspaceId::from_root_path(p);

        let ws = base.join("ws");
        std::fs::create_dir_all(ws.join(DIR_NAME)).unwrap();
        assert_eq!(Folder::probe(&ws, &id(&ws)), Folder::Workspace);

        let plain = base.join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        assert_eq!(Folder::probe(&plain, &id(&plain)), Folder::Undeclared);

        let gone = base.join("gone");
        assert_eq!(Folder::probe(&gone, &id(&gone)), Folder::Gone);
        let file = base.join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(Folder::probe(&file, &id(&file)), Folder::Gone);

        // A checkout moved away with a symlink left in its place.
        let moved = base.join("moved");
        std::os::unix::fs::symlink(&ws, &moved).unwrap();
        assert_eq!(
            Folder::probe(&moved, &id(&moved)),
            Folder::Moved { now: ws.clone() }
        );
        assert!(matches!(
            Folder::probe(Path::new("relative"), &id(Path::new("relative"))),
            Folder::Unknown(_)
        ));
    }

    #[tokio::test]
    async fn invalid_declarations_refuse_and_no_folder_declares_nothing() {
        let (dir, ws) = workspace();
        std::fs::write(dir.path().join(DIR_NAME).join("b.yaml"), "kind: [\n").unwrap();
        assert!(matches!(load_desired(&ws).await, Err(Refusal::Invalid(p)) if !p.is_empty()));

        let plain = tempfile::tempdir().unwrap();
        let ws = Workspace::locate(Some(plain.path()), plain.path()).unwrap();
        assert!(matches!(load_desired(&ws).await, Ok(None)));
    }

    #[test]
    fn stale_temp_files_are_found_in_status_and_snapshots_only() {
        let (dir, ws) = workspace();
        let top = dir.path().join(DIR_NAME);
        for folder in ["status/sandbox", "snapshots"] {
            std::fs::create_dir_all(top.join(folder)).unwrap();
        }
        // A pid that cannot be running, and ours (a write of this process may be under way).
        let dead = "a.yaml.tmp-4194305";
        let mine = format!("b.yaml.tmp-{}", std::process::id());
        for folder in ["status", "status/sandbox", "snapshots", "."] {
            std::fs::write(top.join(folder).join(dead), "").unwrap();
            std::fs::write(top.join(folder).join(&mine), "").unwrap();
        }
        let found = stale_temp_files(&ws.root);
        let expected: Vec<PathBuf> = ["status", "status/sandbox", "snapshots"]
            .iter()
            .map(|f| ws.root.join(DIR_NAME).join(f).join(dead))
            .collect();
        let mut found_sorted = found.clone();
        found_sorted.sort();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(found_sorted, expected_sorted);

        // Removed through the no-follow folders; a path outside them is refused.
        let mut cleaned = BTreeSet::new();
        for path in &found {
            assert!(matches!(
                remove_temp_file(&ws.root, path, &mut cleaned),
                Removal::Done
            ));
            assert!(!path.exists());
        }
        assert!(top.join("status").join(&mine).exists());
        assert!(matches!(
            remove_temp_file(&ws.root, &top.join(dead), &mut cleaned),
            Removal::Failed(_)
        ));
        assert!(
            top.join(dead).exists(),
            "only status/ and snapshots/ are cleaned"
        );
    }
}
