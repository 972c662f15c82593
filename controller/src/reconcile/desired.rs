//! Desired state: what the declarations ask for, in the engine's terms.
//!
//! [`Desired::from_declarations`] is pure: no file is read, no path resolved, nothing
//! hashed but data in memory. What needs files (build contexts, the embedded base's
//! busybox) is read beforehand by [`ImageInputs`] (in `observe`) and passed in. The one
//! function here that touches the file system is [`BindSource::recheck`], which `execute`
//! runs right before a create or start.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use std::path::{Path, PathBuf};

use pocket_dock_spec::model::{
    Build, DEFAULT_NETWORK, Dependency, DesiredState, MountType, Network, NetworkAttachment,
    NetworkSpec, Protocol, PullPolicy, RestartPolicy, RunMode, SandboxSpec, Spec,
};
use pocket_dock_spec::{Declarations, Kind, Object, parse_duration};

use super::observe::inputs::ImageInputs;
use crate::engine::labels::ObjectLabels;
use crate::engine::{
    ContainerConfig, Endpoint, MountConfig, NetworkMode, Ownership, PortConfig, RestartMode,
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
    pub running: bool,
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
    /// The reference it is known by in Podman: the pull reference, the content-addressed
    /// build tag, or the embedded base's tag. Empty when `problem` is set.
    pub tag: String,
    /// The `Image` object a build starts from (`build.from`).
    pub parent: Option<String>,
    /// Why it cannot be made (unreadable context, no busybox for the base, ...).
    pub problem: Option<String>,
}

/// A `Snapshot` object: one generation of a sandbox's filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredSnapshot {
    pub name: String,
    pub sandbox: String,
    pub generation: u64,
    pub description: Option<String>,
    pub tag: String,
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
                    desired.images.insert(
                        name.clone(),
                        DesiredImage {
                            name,
                            origin,
                            tag,
                            parent,
                            problem: None,
                        },
                    );
                }
                Spec::Snapshot(snapshot) => {
                    desired.snapshots.insert(
                        name.clone(),
                        DesiredSnapshot {
                            tag: images::snapshot_tag(ownership, &name, snapshot.generation),
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
                            sandbox(&name, &effective, object, declarations, ownership),
                        );
                    }
                }
                Spec::Network(network) => {
                    desired.networks.insert(
                        name.clone(),
                        desired_network(ownership, &name, network, true),
                    );
                }
                Spec::Workspace(_) => {}
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
            .any(|s| s.networks.iter().any(|n| n.name == DEFAULT_NETWORK));
        if joins_default && !self.networks.contains_key(DEFAULT_NETWORK) {
            self.networks.insert(
                DEFAULT_NETWORK.to_string(),
                desired_network(ownership, DEFAULT_NETWORK, &NetworkSpec::default(), false),
            );
        }
        for s in self.sandboxes.values_mut() {
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
    }
}

/// An image whose inputs the caller did not read (not one of the declarations it read).
const NOT_READ: &str = "its inputs were not read";

/// Gives every build and the embedded base its tag. A build's tag hashes its context and
/// its parent's tag, so parents are resolved first; editing one step renames it and every
/// step after it, and nothing before it.
fn resolve_image_tags(
    images: &mut BTreeMap<String, DesiredImage>,
    ownership: &Ownership,
    inputs: &ImageInputs,
) {
    for image in images.values_mut() {
        if image.origin == ImageOrigin::Embedded {
            match &inputs.base {
                Some(Ok(base)) => image.tag = base.tag(),
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
            Some(Some(p)) if p.tag.is_empty() => Err("its build.from chain is a cycle".into()),
            Some(Some(p)) => Ok(Some(p.tag.clone())),
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
) -> DesiredSandbox {
    let made_from = pocket_dock_spec::container_spec(s);
    let spec_hash = pocket_dock_spec::container_spec_hash(s);
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
    config.env = s.env.clone();
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
            },
        });
    }
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
    }
    let spec = serde_json::to_value(&made_from).unwrap_or_default();
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
        running: s.state == DesiredState::Running,
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
        egress,
    }
}

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
