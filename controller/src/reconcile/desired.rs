//! Desired state: what the declarations ask for, in the engine's terms.
//!
//! [`Desired::from_declarations`] is pure: no file is read, no path resolved, nothing
//! hashed but data in memory. What needs files (build contexts, the embedded base's
//! busybox) is read beforehand by [`ImageInputs`] (in `observe`) and passed in. The one
//! functions here that touch the file system are [`BindSource::recheck`], which `execute`
//! runs right before a create or start, and `mask_protected`, which sees which of
//! `.pocket-dock/` and `.git/` exist (a `stat` each) to mask them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use std::path::{Path, PathBuf};

use pocket_dock_spec::model::{
    Build, DEFAULT_NETWORK, Dependency, DesiredState, EnvValue, MountType, Network,
    NetworkAttachment, NetworkSpec, Profile, Protocol, PullPolicy, RestartPolicy, RunMode,
    SandboxSpec, Spec,
};
use pocket_dock_spec::{Declarations, Kind, Object, parse_duration};

use super::observe::inputs::ImageInputs;
use super::seccomp;
use crate::engine::labels::ObjectLabels;
use crate::engine::{
    ContainerConfig, Endpoint, LogLimit, MountConfig, NetworkMode, Ownership, PortConfig,
    RestartMode,
};
use crate::images::{self, BuildRecipe};
pub use crate::key::Key;

/// Where a sandbox's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A plain reference, pulled if missing.
    Reference(String),
    /// An `Image` or `Snapshot` object of the workspace.
    Object(Key),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub exec: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSandbox {
    pub name: String,
    pub container_name: String,
    pub image: ImageSource,
    /// Everything but the image, which is resolved when the plan runs.
    pub config: ContainerConfig,
    pub spec_hash: String,
    /// The effective spec, kept on the container to explain later recreates.
    pub spec: serde_json::Value,
    /// Declared `running` or `paused`: created and started.
    pub running: bool,
    /// Declared `state: paused`: started, then its processes frozen. (An imperative
    /// `pocket-dock pause` is an override in the state store: `Observed::pauses`.)
    pub paused: bool,
    /// `run: once`: runs to completion, is never restarted.
    pub once: bool,
    pub depends_on: Vec<Dependency>,
    pub volumes: Vec<String>,
    /// The `Network` objects it joins (`default` included when it does), each with the
    /// sandbox's extra names there (its `aliases` and the attachment's own).
    pub networks: Vec<NetworkAttachment>,
    pub hooks: Option<Hooks>,
    /// The host folders and files it bind-mounts, as validated.
    pub bind_sources: Vec<BindSource>,
    pub probe: Option<Probe>,
    /// `network: {egress: [...]}`: the canonical allow-list its proxy listener enforces. It
    /// joins only its own egress network (`egress.<name>`); the proxy's address goes into
    /// its environment when it is created.
    pub egress: Option<Vec<String>>,
    /// The hash of its whole declaration (`document_hash`): a lifetime expiry holds only
    /// while it is unchanged.
    pub document_hash: String,
    /// `spec.lifetime`, parsed.
    pub limits: super::lifetime::Limits,
    /// Its secrets as read, written to files right before its container is created.
    pub secrets: Option<DesiredSecrets>,
    /// Why it cannot be made (a secret that cannot be read): it waits, untouched.
    pub problem: Option<String>,
}

/// A sandbox's secrets: the host folder of its container's files and the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredSecrets {
    pub label: crate::secrets::SecretsLabel,
    pub values: BTreeMap<String, crate::secrets::SecretValue>,
}

/// A bind mount's host path, as validation resolved it, and the folder it must stay in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSource {
    pub path: PathBuf,
    /// Where it is mounted in the container.
    pub target: String,
    /// The workspace root, unless the mount allows paths outside it.
    pub within: Option<PathBuf>,
}

impl BindSource {
    /// Checks that the path is still what was validated: it exists, no component of it has
    /// become a symlink since (its canonical form is itself), and it is still inside the
    /// workspace. Run right before every create and start. Why not, when it fails.
    pub fn recheck(&self) -> Result<(), String> {
        let canonical = self.path.canonicalize().map_err(|e| {
            format!(
                "bind mount source {} is no longer there ({e})",
                self.path.display()
            )
        })?;
        if canonical != self.path {
            return Err(format!(
                "bind mount source {} now leads to {} (a symlink appeared after validation); refusing to mount it",
                self.path.display(),
                canonical.display()
            ));
        }
        if let Some(root) = &self.within
            && !canonical.starts_with(root)
        {
            return Err(format!(
                "bind mount source {} is outside the workspace root",
                self.path.display()
            ));
        }
        Ok(())
    }
}

/// Read-only masks over `.pocket-dock/` and `.git/` wherever a writable bind mount would
/// expose them (the workspace root mounted at `/work`, say): the sandbox can read its
/// declarations but never change them. Validation refuses a writable mount of either
/// folder itself. Each mask is a bind source like the others, so the label that records
/// them recreates a container made before masks existed, and each start rechecks them.
fn mask_protected(
    config: &mut ContainerConfig,
    bind_sources: &mut Vec<BindSource>,
    root: &Path,
    s: &SandboxSpec,
) {
    let protected: Vec<PathBuf> = pocket_dock_spec::PROTECTED_FOLDERS
        .iter()
        .map(|name| root.join(name))
        .filter(|path| {
            path.symlink_metadata()
                .is_ok_and(|m| !m.file_type().is_symlink())
        })
        .collect();
    let writable: Vec<(PathBuf, String)> = bind_sources
        .iter()
        .zip(s.mounts.iter().filter(|m| m.kind == MountType::Bind))
        .filter(|(_, m)| !m.read_only)
        .map(|(b, _)| (b.path.clone(), b.target.clone()))
        .collect();
    for (source, target) in writable {
        for folder in &protected {
            let Ok(inside) = folder.strip_prefix(&source) else {
                continue;
            };
            if inside.as_os_str().is_empty() {
                continue; // the folder itself, writable: validation refused it
            }
            let masked_at = format!("{}/{}", target.trim_end_matches('/'), inside.display());
            if config.mounts.iter().any(|m| mount_target(m) == masked_at) {
                continue;
            }
            bind_sources.push(BindSource {
                path: folder.clone(),
                target: masked_at.clone(),
                within: Some(root.to_path_buf()),
            });
            config.mounts.push(MountConfig::Bind {
                source: folder.clone(),
                target: masked_at,
                read_only: true,
            });
        }
    }
}

impl Desired {
    /// Holds back every sandbox that would bind-mount `socket` (the engine's, canonical) or
    /// a folder holding it: whoever can connect to it controls the host, and a read-only
    /// mount does not stop a connect. The sandbox is not made; its status says why.
    pub fn hold_back_mounts_of(&mut self, socket: &Path) {
        for s in self.sandboxes.values_mut() {
            if let Some(b) = s.bind_sources.iter().find(|b| socket.starts_with(&b.path)) {
                s.problem = Some(format!(
                    "Sandbox/{} mounts {} at {}, which reaches the engine's socket {}: whoever \
                     can connect to it controls the host; mount a narrower folder",
                    s.name,
                    b.path.display(),
                    b.target,
                    socket.display()
                ));
            }
        }
    }
}

/// `sha256:` over a spec hash and something it depends on that the spec only names.
fn mixed_hash(spec_hash: &str, also: &str) -> String {
    use sha2::Digest;
    let mut mixed = sha2::Sha256::new();
    for part in [spec_hash, also] {
        mixed.update(part.as_bytes());
        mixed.update([0]);
    }
    format!("sha256:{:x}", mixed.finalize())
}

fn mount_target(mount: &MountConfig) -> &str {
    match mount {
        MountConfig::Bind { target, .. }
        | MountConfig::Volume { target, .. }
        | MountConfig::Tmpfs { target, .. } => target,
    }
}

/// How long a hook may run when the spec does not say.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// Commands run in a sandbox after its container is created and after each start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooks {
    pub post_create: Vec<Vec<String>>,
    pub post_start: Vec<Vec<String>>,
    pub timeout: Duration,
}

/// A network of the workspace: a declared `Network` object, or the implicit `default`
/// that sandboxes join unless they say otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredNetwork {
    pub name: String,
    /// The engine's name for it.
    pub network_name: String,
    pub internal: bool,
    pub subnet: Option<String>,
    /// Hash of the settings the engine holds (`internal`, `subnet`): a change replaces it.
    pub spec_hash: String,
    /// Whether a `Network` document declares it (else it is the implicit `default`).
    pub declared: bool,
    /// Extra names by sandbox (`spec.aliases`).
    pub aliases: BTreeMap<String, Vec<String>>,
    /// A sandbox's egress network: internal, without DNS, with a gateway for the proxy.
    pub egress: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredVolume {
    pub name: String,
    pub volume_name: String,
}

/// How an `Image` object is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOrigin {
    /// A remote reference, pulled per policy.
    Pull { policy: PullPolicy },
    /// A Containerfile build; the tag is its content hash.
    Build(BuildRecipe),
    /// The embedded base image, built in Rust and loaded.
    Embedded,
}

/// An `Image` object, resolved to the local name sandboxes run it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredImage {
    pub name: String,
    pub origin: ImageOrigin,
    /// The reference sandboxes run it by: the pull reference, the workspace's name for a
    /// build (`localhost/pocket-dock/<workspace id>/<name>:<content hash>`), or the embedded
    /// base's tag. Empty when `problem` is set.
    pub tag: String,
    /// The name it has whichever checkout made it (`images::names`): a build's portable
    /// name, which its `build.from` children start from and bundles carry; the pull
    /// reference or the base's tag otherwise. Empty when `problem` is set.
    pub shared: String,
    /// The `Image` object a build starts from (`build.from`).
    pub parent: Option<String>,
    /// Why it cannot be made (unreadable context, no busybox for the base, ...).
    pub problem: Option<String>,
    /// Where the credentials for pulling it come from: its own `pullSecret`, else the
    /// Workspace's, with the object that names it (`Image/x`, `Workspace/w`). Read only
    /// when a pull happens; never part of any hash.
    pub pull_secret: Option<(String, pocket_dock_spec::model::PullSecret)>,
}

/// A `Snapshot` object: one generation of a sandbox's filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredSnapshot {
    pub name: String,
    pub sandbox: String,
    pub generation: u64,
    pub description: Option<String>,
    /// The workspace's name for this generation (what sandboxes run it by).
    pub tag: String,
    /// Its portable name, as bundles carry it (`images::portable_snapshot_tag`).
    pub shared: String,
}

/// Everything a workspace wants.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    pub sandboxes: BTreeMap<String, DesiredSandbox>,
    pub volumes: BTreeMap<String, DesiredVolume>,
    pub networks: BTreeMap<String, DesiredNetwork>,
    pub images: BTreeMap<String, DesiredImage>,
    pub snapshots: BTreeMap<String, DesiredSnapshot>,
    /// Every image name this workspace makes starts with it (`localhost/pocket-dock/<id>/`).
    pub image_repository_prefix: String,
    /// Whether this is everything the workspace wants (every file read and valid). Only
    /// then can an object that is not here be pruned.
    pub complete: bool,
    /// The Workspace's `pullSecret`, for pulls of sandboxes' plain `image` references.
    pub pull_secret: Option<(String, pocket_dock_spec::model::PullSecret)>,
    /// The time an `Image`'s build or pull may take, where it declares one (`build.timeout`,
    /// `from.timeout`). Kept apart from the image's identity: changing it remakes nothing.
    pub image_timeouts: BTreeMap<String, std::time::Duration>,
    /// Warm pools by name.
    pub pools: BTreeMap<String, DesiredPool>,
}

/// A `Pool`: how many members, and the sandbox each member is made as.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredPool {
    pub name: String,
    pub template: String,
    pub size: u32,
    /// An idle member older than this is replaced.
    pub max_idle: Option<Duration>,
    /// The member as a sandbox: made through the same path as a declared sandbox's
    /// container (`sandbox`), with the kind `Pool` and the pool's name on its labels. Its
    /// `container_name` is empty: each member gets its own (`pool::member_names`). Its
    /// `spec_hash` is the pool's generation. `None` when the template cannot make members
    /// (`problem` says why; validation refuses such a pool, so only a stale picture has it).
    pub member: Option<DesiredSandbox>,
    pub problem: Option<String>,
}

impl DesiredPool {
    /// The generation members must be of to be handed out: the member's spec hash.
    pub fn generation(&self) -> Option<&str> {
        self.member.as_ref().map(|m| m.spec_hash.as_str())
    }
}

/// A minimal sandbox (a plain reference, idle) for tests of pools and plans.
#[cfg(test)]
pub(crate) fn test_sandbox(name: &str, spec_hash: &str) -> DesiredSandbox {
    DesiredSandbox {
        name: name.into(),
        container_name: String::new(),
        image: ImageSource::Reference("img:1".into()),
        config: ContainerConfig::idle(Kind::Pool, name, "", ""),
        spec_hash: spec_hash.into(),
        spec: serde_json::json!({}),
        running: true,
        paused: false,
        once: false,
        depends_on: Vec::new(),
        volumes: Vec::new(),
        networks: Vec::new(),
        hooks: None,
        bind_sources: Vec::new(),
        probe: None,
        document_hash: String::new(),
        limits: Default::default(),
        secrets: None,
        problem: None,
        egress: None,
    }
}

/// A Pool's members as a sandbox, from its template's effective spec (see `DesiredPool`).
fn desired_pool(
    name: &str,
    pool: &pocket_dock_spec::model::PoolSpec,
    object: &Object,
    declarations: &Declarations,
    ownership: &Ownership,
    inputs: &ImageInputs,
) -> DesiredPool {
    let template =
        pocket_dock_spec::pool::template_sandbox_spec(&declarations.objects, &pool.template);
    let (member, problem) = match template {
        Err(e) => (None, Some(e.to_string())),
        Ok(t) => match pocket_dock_spec::pool::template_problem(&t) {
            Some((_, why)) => (
                None,
                Some(format!(
                    "Template `{}` cannot make pool members: {why}",
                    pool.template
                )),
            ),
            None => {
                let effective =
                    pocket_dock_spec::hash::effective_sandbox(&t, &declarations.settings);
                let mut m = sandbox(name, &effective, object, declarations, ownership, inputs);
                m.container_name = String::new();
                m.config.name = String::new();
                m.config.kind = Kind::Pool;
                m.config.labels.insert(
                    crate::engine::labels::KIND.to_string(),
                    Kind::Pool.to_string(),
                );
                (Some(m), None)
            }
        },
    };
    DesiredPool {
        name: name.to_string(),
        template: pool.template.clone(),
        size: pool.size,
        max_idle: pool
            .max_idle
            .as_deref()
            .and_then(|t| parse_duration(t).ok()),
        member,
        problem,
    }
}

/// The pull secret of `Image/name`: its own, else the Workspace's.
fn pull_secret_of(
    declarations: &Declarations,
    name: &str,
    image: &pocket_dock_spec::model::ImageSpec,
) -> Option<(String, pocket_dock_spec::model::PullSecret)> {
    if let Some(secret) = &image.pull_secret {
        return Some((format!("Image/{name}"), secret.clone()));
    }
    workspace_pull_secret(declarations)
}

/// The Workspace's pull secret, with the name messages give its owner.
fn workspace_pull_secret(
    declarations: &Declarations,
) -> Option<(String, pocket_dock_spec::model::PullSecret)> {
    let owner = declarations
        .workspace_name
        .as_ref()
        .map_or_else(|| "Workspace".to_string(), |n| format!("Workspace/{n}"));
    declarations
        .settings
        .pull_secret
        .clone()
        .map(|secret| (owner, secret))
}

/// The podman name of a Volume object's volume.
pub fn volume_name(ownership: &Ownership, name: &str) -> String {
    ownership.container_name(Kind::Volume, name)
}

/// The engine's name of a `Network` object's network.
pub fn network_name(ownership: &Ownership, name: &str) -> String {
    ownership.container_name(Kind::Network, name)
}

fn desired_network(
    ownership: &Ownership,
    name: &str,
    spec: &NetworkSpec,
    declared: bool,
) -> DesiredNetwork {
    let held = NetworkSpec {
        internal: spec.internal,
        subnet: spec.subnet.clone(),
        aliases: BTreeMap::new(),
    };
    DesiredNetwork {
        name: name.to_string(),
        network_name: network_name(ownership, name),
        internal: spec.internal,
        subnet: spec.subnet.clone(),
        spec_hash: pocket_dock_spec::hash::hash_spec(Kind::Network, &Spec::Network(held)),
        declared,
        aliases: spec.aliases.clone(),
        egress: false,
    }
}

/// A sandbox's egress network. Its settings never change (the subnet is chosen when it is
/// made), so its hash is fixed.
fn egress_network(ownership: &Ownership, sandbox: &str) -> DesiredNetwork {
    let name = crate::egress::network_name(sandbox);
    let held = NetworkSpec {
        internal: true,
        subnet: None,
        aliases: BTreeMap::new(),
    };
    DesiredNetwork {
        network_name: network_name(ownership, &name),
        name,
        internal: true,
        subnet: None,
        spec_hash: format!(
            "egress-{}",
            pocket_dock_spec::hash::hash_spec(Kind::Network, &Spec::Network(held))
        ),
        declared: false,
        aliases: BTreeMap::new(),
        egress: true,
    }
}

impl Desired {
    /// What `declarations` want, with images named from `inputs` (read by
    /// `ImageInputs::read` from the same declarations). Pure.
    pub fn from_declarations(
        declarations: &Declarations,
        ownership: &Ownership,
        inputs: &ImageInputs,
    ) -> Desired {
        let mut desired = Desired {
            image_repository_prefix: images::repository(ownership, ""),
            complete: declarations.complete,
            pull_secret: workspace_pull_secret(declarations),
            ..Desired::default()
        };
        for object in &declarations.objects {
            let name = object.metadata.name.clone();
            match &object.spec {
                Spec::Volume(_) => {
                    desired.volumes.insert(
                        name.clone(),
                        DesiredVolume {
                            volume_name: volume_name(ownership, &name),
                            name,
                        },
                    );
                }
                Spec::Image(image) => {
                    let timeout = match (&image.from, &image.build) {
                        (Some(pull), _) => pull.timeout.as_deref(),
                        (None, Some(build)) => build.timeout.as_deref(),
                        (None, None) => None,
                    };
                    if let Some(timeout) =
                        timeout.and_then(|t| pocket_dock_spec::parse_duration(t).ok())
                    {
                        desired.image_timeouts.insert(name.clone(), timeout);
                    }
                    let (origin, parent) = match (&image.from, &image.build) {
                        (Some(pull), _) => (
                            ImageOrigin::Pull {
                                policy: pull.pull_policy,
                            },
                            None,
                        ),
                        (None, Some(build)) => (
                            ImageOrigin::Build(
                                inputs
                                    .builds
                                    .get(&name)
                                    .map(|b| b.recipe.clone())
                                    .unwrap_or_else(|| unread_recipe(build, &declarations.root)),
                            ),
                            build.from.as_ref().map(|f| f.image.clone()),
                        ),
                        (None, None) => (ImageOrigin::Embedded, None),
                    };
                    let tag = image
                        .from
                        .as_ref()
                        .map(|p| p.reference.clone())
                        .unwrap_or_default();
                    let pull_secret = pull_secret_of(declarations, &name, image);
                    desired.images.insert(
                        name.clone(),
                        DesiredImage {
                            name,
                            origin,
                            shared: tag.clone(),
                            tag,
                            parent,
                            problem: None,
                            pull_secret,
                        },
                    );
                }
                Spec::Snapshot(snapshot) => {
                    desired.snapshots.insert(
                        name.clone(),
                        DesiredSnapshot {
                            tag: images::snapshot_tag(ownership, &name, snapshot.generation),
                            shared: images::portable_snapshot_tag(&name, snapshot.generation),
                            name,
                            sandbox: snapshot.sandbox.clone(),
                            generation: snapshot.generation,
                            description: snapshot.description.clone(),
                        },
                    );
                }
                Spec::Sandbox(_) => {
                    if let Spec::Sandbox(effective) =
                        pocket_dock_spec::effective(object, &declarations.settings)
                    {
                        desired.sandboxes.insert(
                            name.clone(),
                            sandbox(&name, &effective, object, declarations, ownership, inputs),
                        );
                    }
                }
                Spec::Network(network) => {
                    desired.networks.insert(
                        name.clone(),
                        desired_network(ownership, &name, network, true),
                    );
                }
                Spec::Workspace(_) | Spec::Template(_) => {}
                Spec::Pool(pool) => {
                    desired.pools.insert(
                        name.clone(),
                        desired_pool(&name, pool, object, declarations, ownership, inputs),
                    );
                }
            }
        }
        resolve_image_tags(&mut desired.images, ownership, inputs);
        for s in desired.sandboxes.values() {
            if s.egress.is_some() {
                let n = egress_network(ownership, &s.name);
                desired.networks.insert(n.name.clone(), n);
            }
        }
        desired.join_networks(ownership);
        desired
    }

    /// Puts every sandbox on its networks: the implicit `default` is made when someone
    /// joins it; each sandbox's names there (its own, its aliases, the network's aliases
    /// for it) go into its container config, and the settings of declared networks into
    /// its spec hash, so that changing a network's settings makes its members again.
    fn join_networks(&mut self, ownership: &Ownership) {
        use sha2::{Digest, Sha256};
        let joins_default = self
            .sandboxes
            .values()
            .chain(self.pools.values().filter_map(|p| p.member.as_ref()))
            .any(|s| s.networks.iter().any(|n| n.name == DEFAULT_NETWORK));
        if joins_default && !self.networks.contains_key(DEFAULT_NETWORK) {
            self.networks.insert(
                DEFAULT_NETWORK.to_string(),
                desired_network(ownership, DEFAULT_NETWORK, &NetworkSpec::default(), false),
            );
        }
        let members = self.pools.values_mut().filter_map(|p| p.member.as_mut());
        for s in self.sandboxes.values_mut().chain(members) {
            if s.networks.is_empty() {
                continue;
            }
            let mut endpoints = Vec::new();
            let mut mixed = Sha256::new();
            let mut any_declared = false;
            for attachment in &s.networks {
                let Some(n) = self.networks.get(&attachment.name) else {
                    continue;
                };
                let mut aliases: BTreeSet<String> = BTreeSet::from([s.name.clone()]);
                aliases.extend(attachment.aliases.iter().cloned());
                aliases.extend(n.aliases.get(&s.name).into_iter().flatten().cloned());
                if n.declared {
                    any_declared = true;
                    for part in [n.name.as_str(), n.spec_hash.as_str()]
                        .into_iter()
                        .chain(aliases.iter().map(String::as_str))
                    {
                        mixed.update(part.as_bytes());
                        mixed.update([0]);
                    }
                }
                endpoints.push(Endpoint {
                    network: n.network_name.clone(),
                    aliases: aliases.into_iter().collect(),
                });
            }
            if !endpoints.is_empty() {
                s.config.network = NetworkMode::Joined(endpoints);
            }
            if any_declared {
                mixed.update(s.spec_hash.as_bytes());
                let hex: String = mixed
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                s.spec_hash = format!("sha256:{hex}");
                s.config.labels.insert(
                    crate::engine::labels::SPEC_HASH.to_string(),
                    s.spec_hash.clone(),
                );
            }
        }
    }

    /// The objects `key` needs before it can be made: a sandbox its `dependsOn`, volumes and
    /// image; an image the one it builds on; a snapshot its source sandbox.
    pub fn dependencies(&self, key: &Key) -> Vec<Key> {
        match key.kind {
            Kind::Sandbox => self.sandboxes.get(&key.name).map_or_else(Vec::new, |s| {
                let mut deps: Vec<Key> = s
                    .depends_on
                    .iter()
                    .map(|d| Key::new(Kind::Sandbox, d.name.clone()))
                    .chain(s.volumes.iter().map(|v| Key::new(Kind::Volume, v.clone())))
                    .chain(
                        s.networks
                            .iter()
                            .map(|n| Key::new(Kind::Network, n.name.clone())),
                    )
                    .collect();
                if let ImageSource::Object(image) = &s.image {
                    deps.push(image.clone());
                }
                deps
            }),
            Kind::Image => self
                .images
                .get(&key.name)
                .and_then(|i| i.parent.clone())
                .map(|p| vec![Key::new(Kind::Image, p)])
                .unwrap_or_default(),
            Kind::Snapshot => self
                .snapshots
                .get(&key.name)
                .map(|s| vec![Key::new(Kind::Sandbox, s.sandbox.clone())])
                .unwrap_or_default(),
            // A pool's members need what a sandbox of its template would (never `dependsOn`:
            // validation refuses it in pooled templates).
            Kind::Pool => self
                .pools
                .get(&key.name)
                .and_then(|p| p.member.as_ref())
                .map_or_else(Vec::new, |s| {
                    let mut deps: Vec<Key> = s
                        .volumes
                        .iter()
                        .map(|v| Key::new(Kind::Volume, v.clone()))
                        .chain(
                            s.networks
                                .iter()
                                .map(|n| Key::new(Kind::Network, n.name.clone())),
                        )
                        .collect();
                    if let ImageSource::Object(image) = &s.image {
                        deps.push(image.clone());
                    }
                    deps
                }),
            _ => Vec::new(),
        }
    }

    /// Every declared object's key.
    pub fn keys(&self) -> Vec<Key> {
        let mut keys = Vec::new();
        keys.extend(
            self.sandboxes
                .keys()
                .map(|n| Key::new(Kind::Sandbox, n.clone())),
        );
        keys.extend(
            self.volumes
                .keys()
                .map(|n| Key::new(Kind::Volume, n.clone())),
        );
        keys.extend(
            self.networks
                .keys()
                .map(|n| Key::new(Kind::Network, n.clone())),
        );
        keys.extend(self.images.keys().map(|n| Key::new(Kind::Image, n.clone())));
        keys.extend(
            self.snapshots
                .keys()
                .map(|n| Key::new(Kind::Snapshot, n.clone())),
        );
        keys.extend(self.pools.keys().map(|n| Key::new(Kind::Pool, n.clone())));
        keys
    }

    /// `keys` and everything they need, directly or not (through [`Self::dependencies`]),
    /// as far as it is declared: what a selected apply must make for them to run.
    pub fn with_dependencies(&self, keys: &BTreeSet<Key>) -> BTreeSet<Key> {
        let declared: BTreeSet<Key> = self.keys().into_iter().collect();
        let mut all = keys.clone();
        let mut pending: Vec<Key> = keys.iter().cloned().collect();
        while let Some(key) = pending.pop() {
            for dependency in self.dependencies(&key) {
                if declared.contains(&dependency) && all.insert(dependency.clone()) {
                    pending.push(dependency);
                }
            }
        }
        all
    }

    /// `keys` and everything that depends on them, directly or not: what changing them can
    /// change (a rebuilt image renames the images built on it and recreates their sandboxes).
    pub fn with_dependants(&self, keys: &BTreeSet<Key>) -> BTreeSet<Key> {
        let mut dependants: BTreeMap<Key, Vec<Key>> = BTreeMap::new();
        for key in self.keys() {
            for dependency in self.dependencies(&key) {
                dependants.entry(dependency).or_default().push(key.clone());
            }
        }
        let mut all = keys.clone();
        let mut pending: Vec<Key> = keys.iter().cloned().collect();
        while let Some(key) = pending.pop() {
            for dependant in dependants.get(&key).into_iter().flatten() {
                if all.insert(dependant.clone()) {
                    pending.push(dependant.clone());
                }
            }
        }
        all
    }

    /// The local reference of an `Image` or `Snapshot` object, if it can be known.
    pub fn object_tag(&self, key: &Key) -> Option<&str> {
        match key.kind {
            Kind::Image => self
                .images
                .get(&key.name)
                .filter(|i| i.problem.is_none())
                .map(|i| i.tag.as_str()),
            Kind::Snapshot => self.snapshots.get(&key.name).map(|s| s.tag.as_str()),
            _ => None,
        }
    }
}

/// The recipe of a build whose inputs were not read (paths joined, not resolved); it gets
/// a problem, never a tag.
fn unread_recipe(build: &Build, root: &Path) -> BuildRecipe {
    BuildRecipe {
        context: root.join(&build.context),
        containerfile: build.containerfile.as_deref().map(|c| root.join(c)),
        args: build.args.clone(),
        target: build.target.clone(),
        base: None,
        workspace_root: root.to_path_buf(),
        secret_files: Default::default(),
    }
}

/// An image whose inputs the caller did not read (not one of the declarations it read).
const NOT_READ: &str = "its inputs were not read";

/// Gives every build and the embedded base its names. A build's content hash covers its
/// context and its parent's portable name (never a path or a workspace id), so parents are
/// resolved first; editing one step renames it and every step after it, and nothing before
/// it.
fn resolve_image_tags(
    images: &mut BTreeMap<String, DesiredImage>,
    ownership: &Ownership,
    inputs: &ImageInputs,
) {
    for image in images.values_mut() {
        if image.origin == ImageOrigin::Embedded {
            match &inputs.base {
                Some(Ok(base)) => {
                    image.tag = base.tag();
                    image.shared = image.tag.clone();
                }
                Some(Err(problem)) => image.problem = Some(problem.clone()),
                None => image.problem = Some(NOT_READ.into()),
            }
        }
    }
    // Builds, parents first; a parent that is still unresolved when its child comes is in a
    // `build.from` cycle (which validation reports).
    let order: Vec<String> = super::order::in_dependency_order(
        images.values(),
        |i| i.name.as_str(),
        |i| i.parent.as_deref().into_iter().collect(),
    )
    .into_iter()
    .filter(|i| matches!(i.origin, ImageOrigin::Build(_)))
    .map(|i| i.name.clone())
    .collect();
    for name in &order {
        let parent = images[name].parent.clone();
        let base = match parent.as_deref().map(|p| images.get(p)) {
            None => Ok(None),
            Some(None) => Err(format!(
                "builds on Image/{}, which is not declared",
                parent.unwrap_or_default()
            )),
            Some(Some(p)) if p.problem.is_some() => {
                Err(format!("builds on Image/{}, which cannot be made", p.name))
            }
            Some(Some(p)) if p.shared.is_empty() => Err("its build.from chain is a cycle".into()),
            Some(Some(p)) => Ok(Some(p.shared.clone())),
        };
        let Some(image) = images.get_mut(name) else {
            continue;
        };
        let ImageOrigin::Build(recipe) = &mut image.origin else {
            continue;
        };
        match base {
            Ok(base) => {
                recipe.base = base;
                let hashed = match inputs.builds.get(name).map(|b| &b.context) {
                    Some(Ok(read)) => read.content_hash(recipe),
                    Some(Err(problem)) => Err(problem.clone()),
                    None => Err(NOT_READ.into()),
                };
                match hashed {
                    Ok(content_hash) => {
                        image.tag = images::build_tag(ownership, name, &content_hash);
                        image.shared = images::portable_build_tag(name, &content_hash);
                    }
                    Err(problem) => image.problem = Some(problem),
                }
            }
            Err(problem) => image.problem = Some(problem),
        }
    }
}

fn sandbox(
    name: &str,
    s: &SandboxSpec,
    object: &Object,
    declarations: &Declarations,
    ownership: &Ownership,
    inputs: &ImageInputs,
) -> DesiredSandbox {
    let made_from = pocket_dock_spec::container_spec(s);
    let mut spec_hash = pocket_dock_spec::container_spec_hash(s);
    let key = match &inputs.key {
        Some(Ok(key)) => Some(key),
        _ => None,
    };
    // Secrets: the hash covers each value's keyed digest (never the value), so that a
    // rotated value makes the container again; no secrets, the hash is what it was.
    let mut problem = None;
    let mut secret_digests = BTreeMap::new();
    let mut secret_values = BTreeMap::new();
    if !s.secrets.is_empty() {
        match inputs.secrets.get(name) {
            Some(Ok(read)) => {
                secret_digests = read.digests.clone();
                secret_values = read.values.clone();
                spec_hash = mix_secret_digests(&spec_hash, &secret_digests);
            }
            Some(Err(why)) => problem = Some(why.clone()),
            None => problem = Some(format!("the secrets of Sandbox/{name} were not read")),
        }
    }
    let container_name = ownership.container_name(Kind::Sandbox, name);
    let image = match (&s.image, &s.image_from) {
        (Some(reference), _) => ImageSource::Reference(reference.clone()),
        (None, Some(from)) => match (&from.image, &from.snapshot) {
            (Some(image), _) => ImageSource::Object(Key::new(Kind::Image, image.clone())),
            (None, Some(snapshot)) => {
                ImageSource::Object(Key::new(Kind::Snapshot, snapshot.clone()))
            }
            (None, None) => ImageSource::Reference(String::new()),
        },
        (None, None) => ImageSource::Reference(String::new()),
    };
    let mut config = ContainerConfig::new(Kind::Sandbox, name, &container_name, "");
    if s.command.is_none() && s.args.is_none() {
        config.make_idle();
    } else {
        config.entrypoint = s.command.clone();
        config.cmd = s.args.clone();
    }
    let mut secret_env = BTreeMap::new();
    for (var, value) in &s.env {
        match value {
            EnvValue::Value(v) => {
                config.env.insert(var.clone(), v.clone());
            }
            EnvValue::From(from) => {
                secret_env.insert(var.clone(), from.value_from.secret.clone());
            }
        }
    }
    // `valueFrom` variables are set by a shell in front of the command, from the files;
    // an idle sandbox has no command (its execs get them the same way).
    if !secret_env.is_empty()
        && let Some(command) = config.entrypoint.take()
    {
        config.entrypoint = if s.command.is_some() {
            Some(crate::secrets::wrap_command(&secret_env, command))
        } else {
            Some(command)
        };
    }
    config.workdir = s.workdir.clone();
    config.user = s.user.clone();
    // The networks are filled in by `Desired::join_networks`, which knows them all.
    config.network = match s.network {
        Some(Network::None) => NetworkMode::None,
        _ => NetworkMode::Default,
    };
    let default = [NetworkAttachment::named(DEFAULT_NETWORK)];
    let egress = s
        .network
        .as_ref()
        .and_then(Network::egress)
        .map(<[String]>::to_vec);
    let own = [NetworkAttachment::named(crate::egress::network_name(name))];
    let listed = match s.network {
        Some(Network::None) => &[][..],
        Some(Network::Egress(_)) => &own[..],
        _ if s.networks.is_empty() => &default[..],
        _ => &s.networks[..],
    };
    let networks: Vec<NetworkAttachment> = listed
        .iter()
        .map(|a| {
            let mut aliases: Vec<String> = s.aliases.iter().chain(&a.aliases).cloned().collect();
            aliases.sort();
            aliases.dedup();
            NetworkAttachment {
                name: a.name.clone(),
                aliases,
            }
        })
        .collect();
    config.restart = match s.restart_policy {
        Some(RestartPolicy::Always) => RestartMode::Always,
        Some(RestartPolicy::OnFailure) => RestartMode::OnFailure,
        _ => RestartMode::No,
    };
    let mut volumes = Vec::new();
    let mut bind_sources = Vec::new();
    for (i, m) in s.mounts.iter().enumerate() {
        let source = m.source.clone().unwrap_or_default();
        config.mounts.push(match m.kind {
            MountType::Bind => {
                // What validation resolved, not what is written: a symlink swapped in later
                // cannot redirect it (and each start checks that it still holds).
                let path = object
                    .resolved
                    .mounts
                    .get(&i)
                    .cloned()
                    .unwrap_or_else(|| declarations.root.join(&source));
                bind_sources.push(BindSource {
                    path: path.clone(),
                    target: m.target.clone(),
                    within: (!m.allow_outside_workspace).then(|| declarations.root.clone()),
                });
                MountConfig::Bind {
                    source: path,
                    target: m.target.clone(),
                    read_only: m.read_only,
                }
            }
            MountType::Volume => {
                volumes.push(source.clone());
                MountConfig::Volume {
                    name: volume_name(ownership, &source),
                    target: m.target.clone(),
                    read_only: m.read_only,
                }
            }
            MountType::Tmpfs => MountConfig::Tmpfs {
                target: m.target.clone(),
                size_bytes: m
                    .size_limit
                    .as_deref()
                    .and_then(|size| pocket_dock_spec::quantity::parse_memory(size).ok()),
            },
        });
    }
    mask_protected(&mut config, &mut bind_sources, &declarations.root, s);
    for p in &s.ports {
        config.ports.push(PortConfig {
            container: p.container,
            host: p.host.unwrap_or(p.container),
            host_ip: p.host_ip.clone().unwrap_or_else(|| "127.0.0.1".into()),
            protocol: match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            },
        });
    }
    let limits = pocket_dock_spec::hash::log_limits(s);
    config.logs = Some(LogLimit {
        max_size: limits.max_size,
        max_files: limits.max_files,
    });
    if let Some(r) = &s.resources {
        // The effective spec holds bytes already; the validator's own parser keeps that
        // true should the normalisation change: what was validated is what is used.
        config.memory_bytes = r
            .memory
            .as_deref()
            .and_then(|m| pocket_dock_spec::quantity::parse_memory(m).ok());
        config.nano_cpus = r.cpus.map(|c| (c * 1e9).round() as u64);
        config.pids_limit = r.pids;
    }
    if let Some(sec) = &s.security {
        config.read_only_rootfs = sec.read_only_root_filesystem.unwrap_or(false);
        config.no_new_privileges = sec.no_new_privileges.unwrap_or(false);
        config.cap_drop = sec.drop_capabilities.clone();
        config.seccomp = seccomp::config_for(
            sec.seccomp.as_deref(),
            object.resolved.seccomp_profile.as_deref(),
            &declarations.root.join(crate::workspace::DIR_NAME),
        );
        if seccomp::is_strict(sec.seccomp.as_deref()) {
            // The profile is built in: a pocket-dock with a changed one makes the
            // containers that use it again.
            spec_hash = mixed_hash(&spec_hash, &seccomp::strict_digest());
        }
        // Locked sandboxes get a user namespace of their own where the engine can map one.
        config.userns_auto = sec.profile == Some(Profile::Locked);
    }
    let mut secrets = None;
    if !s.secrets.is_empty() && problem.is_none() {
        match crate::secrets::runtime_base() {
            Ok(base) => {
                let dir = crate::secrets::container_dir(
                    &base,
                    ownership.workspace.as_str(),
                    name,
                    &spec_hash,
                );
                for secret in &s.secrets {
                    config.mounts.push(MountConfig::Bind {
                        source: dir.join(&secret.name),
                        target: format!("{}/{}", crate::secrets::MOUNT_DIR, secret.name),
                        read_only: true,
                    });
                }
                let label = crate::secrets::SecretsLabel {
                    dir,
                    names: s.secrets.iter().map(|x| x.name.clone()).collect(),
                    env: secret_env.clone(),
                };
                config
                    .labels
                    .insert(crate::secrets::LABEL.to_string(), label.to_label());
                secrets = Some(DesiredSecrets {
                    label,
                    values: secret_values,
                });
            }
            Err(e) => problem = Some(e.to_string()),
        }
    }
    let spec = label_spec(&made_from, key, &secret_digests);
    let labels = ObjectLabels {
        spec_hash: Some(spec_hash.clone()),
        spec: Some(spec.to_string()),
        bind_sources: (!bind_sources.is_empty())
            .then(|| bind_sources.iter().map(|b| b.path.clone()).collect()),
        ..ObjectLabels::new(ownership, Kind::Sandbox, name)
    };
    config.labels.extend(labels.to_labels());
    let probe = s.readiness.as_ref().map(|p| Probe {
        exec: p.exec.clone(),
        interval: p
            .interval
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(Duration::from_secs(2)),
        timeout: p
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(Duration::from_secs(1)),
        failure_threshold: p.failure_threshold.unwrap_or(3),
    });
    DesiredSandbox {
        name: name.to_string(),
        container_name,
        image,
        config,
        spec_hash,
        spec,
        running: s.state != DesiredState::Stopped,
        paused: s.state == DesiredState::Paused,
        once: s.run == RunMode::Once,
        depends_on: s.depends_on.clone(),
        volumes,
        networks,
        hooks: s.hooks.as_ref().map(|h| Hooks {
            post_create: h.post_create.clone(),
            post_start: h.post_start.clone(),
            timeout: h
                .timeout
                .as_deref()
                .and_then(|t| parse_duration(t).ok())
                .unwrap_or(DEFAULT_HOOK_TIMEOUT),
        }),
        bind_sources,
        probe,
        document_hash: pocket_dock_spec::hash::document_hash(object, &declarations.settings),
        limits: super::lifetime::Limits {
            idle_timeout: s
                .lifetime
                .as_ref()
                .and_then(|l| l.idle_timeout.as_deref())
                .and_then(|t| parse_duration(t).ok()),
            max_lifetime: s
                .lifetime
                .as_ref()
                .and_then(|l| l.max_lifetime.as_deref())
                .and_then(|t| parse_duration(t).ok()),
        },
        secrets,
        problem,
        egress,
    }
}

/// A container spec hash with a sandbox's secret digests mixed in.
fn mix_secret_digests(spec_hash: &str, digests: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut mixed = Sha256::new();
    mixed.update(spec_hash.as_bytes());
    for (name, digest) in digests {
        mixed.update([0]);
        mixed.update(name.as_bytes());
        mixed.update([0]);
        mixed.update(digest.as_bytes());
    }
    format!("sha256:{}", crate::engine::labels::hex(&mixed.finalize()))
}

/// The effective spec as the `pocket-dock.dev/spec` label keeps it, to explain recreates:
/// each plain `env` value replaced by its keyed digest (or a placeholder without the key),
/// and each secret given its value's digest. No value is ever in it.
pub fn label_spec(
    made_from: &SandboxSpec,
    key: Option<&crate::secrets::WorkspaceKey>,
    secret_digests: &BTreeMap<String, String>,
) -> serde_json::Value {
    let mut spec = serde_json::to_value(made_from).unwrap_or_default();
    if let Some(env) = spec.get_mut("env").and_then(|e| e.as_object_mut()) {
        for value in env.values_mut() {
            if let Some(text) = value.as_str() {
                *value = serde_json::Value::String(match key {
                    Some(key) => key.digest("env", text.as_bytes()),
                    None => HIDDEN.to_string(),
                });
            }
        }
    }
    if let Some(list) = spec.get_mut("secrets").and_then(|e| e.as_array_mut()) {
        for secret in list {
            let digest = secret
                .get("name")
                .and_then(|n| n.as_str())
                .and_then(|n| secret_digests.get(n))
                .cloned();
            if let (Some(object), Some(digest)) = (secret.as_object_mut(), digest) {
                object.insert("digest".into(), serde_json::Value::String(digest));
            }
        }
    }
    spec
}

/// What a label holds in place of a value that cannot be digested.
pub const HIDDEN: &str = "(hidden)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::WorkspaceId;

    const IMAGES: &str = "apiVersion: pocket-dock.dev/v1alpha1
kind: Image
metadata:
  name: app
spec:
  build:
    context: app
---
apiVersion: pocket-dock.dev/v1alpha1
kind: Image
metadata:
  name: next
spec:
  build:
    context: app
    args:
      LEVEL: two
";

    fn declarations() -> (tempfile::TempDir, Declarations) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".pocket-dock")).unwrap();
        std::fs::write(tmp.path().join(".pocket-dock/images.yaml"), IMAGES).unwrap();
        std::fs::create_dir(tmp.path().join("app")).unwrap();
        std::fs::write(tmp.path().join("app/Containerfile"), "FROM scratch\n").unwrap();
        let loaded = pocket_dock_spec::load(tmp.path());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        (tmp, loaded.declarations)
    }

    #[test]
    fn desired_reads_nothing_but_its_inputs() {
        let (tmp, declarations) = declarations();
        let own = Ownership::new(WorkspaceId::new("0123456789ab"));
        let inputs = ImageInputs::read(&declarations);
        let before = Desired::from_declarations(&declarations, &own, &inputs);
        assert!(before.images.values().all(|i| i.problem.is_none()));
        assert_ne!(before.images["app"].tag, before.images["next"].tag);
        // The files are gone; what was read is what counts.
        std::fs::remove_dir_all(tmp.path().join("app")).unwrap();
        let after = Desired::from_declarations(&declarations, &own, &inputs);
        assert_eq!(before, after);
        // Read again, the context's absence is the problem, as it always was.
        let reread =
            Desired::from_declarations(&declarations, &own, &ImageInputs::read(&declarations));
        assert!(
            reread.images["app"]
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("app"))
        );
    }

    #[test]
    fn a_pull_secret_changes_no_tag_or_hash_and_defaults_to_the_workspaces() {
        let desired = |workspace: &str, image_secret: &str| {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(tmp.path().join(".pocket-dock")).unwrap();
            let text = format!(
                "apiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata:\n  name: remote\nspec:\n  from:\n    reference: quay.io/a/b:1\n{image_secret}\
                 ---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata:\n  name: other\nspec:\n  from:\n    reference: quay.io/a/c:1\n\
                 ---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: s\nspec:\n  imageFrom:\n    image: remote\n\
                 ---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: w\nspec:\n{workspace}"
            );
            std::fs::write(tmp.path().join(".pocket-dock/all.yaml"), text).unwrap();
            let loaded = pocket_dock_spec::load(tmp.path());
            assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
            let own = Ownership::new(WorkspaceId::new("0123456789ab"));
            let inputs = ImageInputs::read(&loaded.declarations);
            Desired::from_declarations(&loaded.declarations, &own, &inputs)
        };
        let plain = desired("  policy: {}\n", "");
        let with = desired(
            "  pullSecret:\n    env: WS_AUTH\n",
            "  pullSecret:\n    file: auth.json\n",
        );
        assert_eq!(plain.sandboxes, with.sandboxes);
        for name in ["remote", "other"] {
            assert_eq!(plain.images[name].tag, with.images[name].tag);
            assert_eq!(plain.images[name].pull_secret, None);
        }
        let own = with.images["remote"].pull_secret.as_ref().unwrap();
        assert_eq!(own.0, "Image/remote");
        assert_eq!(own.1.file.as_deref(), Some("auth.json"));
        let inherited = with.images["other"].pull_secret.as_ref().unwrap();
        assert_eq!(inherited.0, "Workspace/w");
        assert_eq!(inherited.1.env.as_deref(), Some("WS_AUTH"));
    }

    #[test]
    fn resource_limits_are_the_validated_values_units_included() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".pocket-dock")).unwrap();
        std::fs::write(
            tmp.path().join(".pocket-dock/box.yaml"),
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: box\nspec:\n  image: busybox\n  resources:\n    memory: 512Mi\n    cpus: 1.5\n  readiness:\n    exec: [\"true\"]\n    interval: 5s\n    timeout: 3s\n",
        )
        .unwrap();
        let loaded = pocket_dock_spec::load(tmp.path());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        let own = Ownership::new(WorkspaceId::new("0123456789ab"));
        let inputs = ImageInputs::read(&loaded.declarations);
        let desired = Desired::from_declarations(&loaded.declarations, &own, &inputs);
        let sandbox = &desired.sandboxes["box"];
        assert_eq!(sandbox.config.memory_bytes, Some(512 * 1024 * 1024));
        assert_eq!(sandbox.config.nano_cpus, Some(1_500_000_000));
        let probe = sandbox.probe.as_ref().unwrap();
        assert_eq!(probe.interval, Duration::from_secs(5));
        assert_eq!(probe.timeout, Duration::from_secs(3));
    }

    fn desired_sandbox(tmp: &Path, yaml: &str, name: &str) -> DesiredSandbox {
        std::fs::create_dir_all(tmp.join(".pocket-dock")).unwrap();
        std::fs::write(tmp.join(".pocket-dock/box.yaml"), yaml).unwrap();
        let loaded = pocket_dock_spec::load(tmp);
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        let own = Ownership::new(WorkspaceId::new("0123456789ab"));
        let inputs = ImageInputs::read(&loaded.declarations);
        let desired = Desired::from_declarations(&loaded.declarations, &own, &inputs);
        desired.sandboxes[name].clone()
    }

    #[test]
    fn every_sandbox_container_gets_a_log_limit_the_workspace_default_then_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let sandbox = |logs: &str| {
            format!(
                "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: box\nspec:\n  image: busybox\n{logs}"
            )
        };
        let limit = |max_size, max_files| {
            Some(LogLimit {
                max_size,
                max_files,
            })
        };
        let plain = desired_sandbox(tmp.path(), &sandbox(""), "box");
        assert_eq!(plain.config.logs, limit(10 << 20, 3), "built in");
        let own = desired_sandbox(
            tmp.path(),
            &sandbox("  logs: {maxSize: 64Ki, maxFiles: 2}\n"),
            "box",
        );
        assert_eq!(own.config.logs, limit(64 << 10, 2));
        let workspace = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Workspace\nmetadata: {name: w}\nspec:\n  defaults: {logs: {maxSize: 1Mi, maxFiles: 5}}\n---\n";
        let defaulted = desired_sandbox(tmp.path(), &format!("{workspace}{}", sandbox("")), "box");
        assert_eq!(defaulted.config.logs, limit(1 << 20, 5), "the workspace's");
        let mixed = desired_sandbox(
            tmp.path(),
            &format!("{workspace}{}", sandbox("  logs: {maxFiles: 1}\n")),
            "box",
        );
        assert_eq!(mixed.config.logs, limit(1 << 20, 1), "its own count wins");
    }

    const LOCKED: &str = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: box\nspec:\n  image: busybox\n  security: {profile: locked}\n  mounts:\n    - {type: bind, source: ., target: /work}\n";

    #[test]
    fn a_locked_sandbox_gets_every_layer_in_its_container_config() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        let s = desired_sandbox(&root, LOCKED, "box");
        let c = &s.config;
        assert_eq!(c.user.as_deref(), Some("65534:65534"));
        assert!(c.userns_auto && c.read_only_rootfs && c.no_new_privileges);
        assert_eq!(c.cap_drop, ["ALL"]);
        assert_eq!(c.network, NetworkMode::None);
        assert_eq!(
            (c.memory_bytes, c.nano_cpus, c.pids_limit),
            (Some(512 << 20), Some(1_000_000_000), Some(256))
        );
        let Some(crate::engine::SeccompConfig::Profile { path, json }) = &c.seccomp else {
            panic!("strict seccomp: {:?}", c.seccomp);
        };
        assert!(path.starts_with(root.join(".pocket-dock/seccomp")));
        assert_eq!(json, super::seccomp::STRICT_JSON);
        assert!(c.mounts.contains(&MountConfig::Tmpfs {
            target: "/tmp".into(),
            size_bytes: Some(64 << 20)
        }));
        // The workspace root is writable, its declarations and repository are not.
        for folder in [".pocket-dock", ".git"] {
            let mask = MountConfig::Bind {
                source: root.join(folder),
                target: format!("/work/{folder}"),
                read_only: true,
            };
            assert!(c.mounts.contains(&mask), "{folder}: {:?}", c.mounts);
            assert!(s.bind_sources.iter().any(|b| b.path == root.join(folder)));
        }
        // The built-in profile is part of the hash: a changed profile recreates.
        assert_ne!(
            s.spec_hash,
            pocket_dock_spec::container_spec_hash(
                &serde_json::from_value::<SandboxSpec>(s.spec.clone()).unwrap()
            )
        );
    }

    #[test]
    fn a_sandbox_that_would_mount_the_engine_socket_is_held_back() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("run")).unwrap();
        let yaml = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: box\nspec:\n  image: busybox\n  mounts:\n    - {type: bind, source: run, target: /r, readOnly: true}\n";
        std::fs::create_dir_all(root.join(".pocket-dock")).unwrap();
        std::fs::write(root.join(".pocket-dock/box.yaml"), yaml).unwrap();
        let loaded = pocket_dock_spec::load(&root);
        let own = Ownership::new(WorkspaceId::new("0123456789ab"));
        let inputs = ImageInputs::read(&loaded.declarations);
        let mut desired = Desired::from_declarations(&loaded.declarations, &own, &inputs);
        desired.hold_back_mounts_of(&root.join("elsewhere/api.sock"));
        assert_eq!(desired.sandboxes["box"].problem, None);
        desired.hold_back_mounts_of(&root.join("run/api.sock"));
        let problem = desired.sandboxes["box"].problem.clone().unwrap();
        assert!(problem.contains("engine's socket"), "{problem}");
    }

    #[test]
    fn read_only_mounts_and_missing_folders_get_no_mask() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let yaml = LOCKED.replace("target: /work}", "target: /work, readOnly: true}");
        let s = desired_sandbox(&root, &yaml, "box");
        assert_eq!(s.bind_sources.len(), 1, "{:?}", s.bind_sources);
        // Writable, without a .git: only .pocket-dock is masked.
        let s = desired_sandbox(&root, LOCKED, "box");
        let masked: Vec<&str> = s.bind_sources.iter().map(|b| b.target.as_str()).collect();
        assert_eq!(masked, ["/work", "/work/.pocket-dock"]);
    }

    #[test]
    fn images_whose_inputs_were_not_read_have_a_problem_not_a_tag() {
        let (_tmp, declarations) = declarations();
        let own = Ownership::new(WorkspaceId::new("0123456789ab"));
        let desired = Desired::from_declarations(&declarations, &own, &ImageInputs::default());
        for image in desired.images.values() {
            assert_eq!(image.problem.as_deref(), Some(NOT_READ));
            assert!(image.tag.is_empty());
        }
    }

    #[test]
    fn secrets_are_digests_in_the_hash_and_labels_and_values_only_in_memory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".pocket-dock")).unwrap();
        std::fs::create_dir(tmp.path().join("s")).unwrap();
        std::fs::write(tmp.path().join("s/token"), "tok-VALUE-1").unwrap();
        std::fs::write(
            tmp.path().join(".pocket-dock/box.yaml"),
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: box\nspec:\n  image: busybox\n  command: [serve]\n  env:\n    PLAIN: plain-VALUE\n    TOKEN: {valueFrom: {secret: token}}\n  secrets:\n    - {name: token, file: s/token}\n",
        )
        .unwrap();
        let loaded = pocket_dock_spec::load(tmp.path());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        let own = Ownership::new(WorkspaceId::new("0123456789ab"));
        let desire = || {
            let inputs = ImageInputs::read(&loaded.declarations);
            Desired::from_declarations(&loaded.declarations, &own, &inputs)
        };
        let desired = desire();
        let sandbox = &desired.sandboxes["box"];
        assert_eq!(sandbox.problem, None);
        // The value is nowhere but in the values written to the files.
        let shown = format!("{desired:?}");
        assert!(!shown.contains("tok-VALUE-1"), "{shown}");
        assert!(!sandbox.spec.to_string().contains("plain-VALUE"));
        for (key, value) in &sandbox.config.labels {
            assert!(
                !value.contains("plain-VALUE") && !value.contains("tok-VALUE"),
                "{key}"
            );
        }
        assert_eq!(
            sandbox.config.env.get("PLAIN").map(String::as_str),
            Some("plain-VALUE")
        );
        assert!(!sandbox.config.env.contains_key("TOKEN"));
        let secrets = sandbox.secrets.as_ref().unwrap();
        assert_eq!(secrets.values["token"].bytes(), b"tok-VALUE-1");
        let entrypoint = sandbox.config.entrypoint.clone().unwrap();
        assert_eq!(entrypoint[0], "/bin/sh");
        assert!(entrypoint[2].contains("TOKEN=$(cat '/run/secrets/token')"));
        assert_eq!(entrypoint.last().map(String::as_str), Some("serve"));
        assert!(sandbox.config.mounts.contains(&MountConfig::Bind {
            source: secrets.label.dir.join("token"),
            target: "/run/secrets/token".into(),
            read_only: true,
        }));

        // The same value, the same hash; a rotated one, another (and another folder).
        assert_eq!(desire().sandboxes["box"].spec_hash, sandbox.spec_hash);
        std::fs::write(tmp.path().join("s/token"), "tok-VALUE-2").unwrap();
        let rotated = desire();
        assert_ne!(rotated.sandboxes["box"].spec_hash, sandbox.spec_hash);
        assert_ne!(
            rotated.sandboxes["box"].secrets.as_ref().unwrap().label.dir,
            secrets.label.dir
        );

        // Unreadable: a problem naming the secret, and nothing to write.
        std::fs::remove_file(tmp.path().join("s/token")).unwrap();
        let missing = desire();
        let problem = missing.sandboxes["box"].problem.clone().unwrap();
        assert!(
            problem.contains("secret `token` of Sandbox/box"),
            "{problem}"
        );
        assert!(missing.sandboxes["box"].secrets.is_none());
    }

    #[test]
    fn a_bind_source_must_stay_what_was_validated() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.join("data")).unwrap();
        let source = BindSource {
            path: root.join("data"),
            target: "/data".into(),
            within: Some(root.clone()),
        };
        source.recheck().unwrap();

        // Swapped for a symlink to a folder outside the workspace after validation.
        std::fs::remove_dir(root.join("data")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("data")).unwrap();
        let reason = source.recheck().unwrap_err();
        assert!(reason.contains("a symlink appeared"), "{reason}");

        std::fs::remove_file(root.join("data")).unwrap();
        let reason = source.recheck().unwrap_err();
        assert!(reason.contains("no longer there"), "{reason}");

        // Outside is allowed only when the mount says so.
        let elsewhere = BindSource {
            path: outside.path().canonicalize().unwrap(),
            target: "/data".into(),
            within: Some(root.clone()),
        };
        assert!(elsewhere.recheck().is_err());
        let allowed = BindSource {
            within: None,
            ..elsewhere
        };
        allowed.recheck().unwrap();
    }
}
