//! Desired state: what the declarations ask for, in the engine's terms. Pure.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use pocket_dock_spec::model::{
    DesiredState, MountType, Network, Protocol, RestartPolicy, SandboxSpec, Spec,
};
use pocket_dock_spec::{Declarations, Kind, parse_duration};

use crate::engine::labels::{SPEC, SPEC_HASH};
use crate::engine::{
    ContainerConfig, MountConfig, NetworkMode, Ownership, PortConfig, RestartMode,
};

/// An object's identity: kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Key {
    pub kind: Kind,
    pub name: String,
}

impl Key {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        Key {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

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
    pub depends_on: Vec<String>,
    pub volumes: Vec<String>,
    pub probe: Option<Probe>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredVolume {
    pub name: String,
    pub volume_name: String,
}

/// How an `Image` object is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredImage {
    Pull {
        reference: String,
    },
    /// Not handled by this version (builds, the embedded image): reported, dependants wait.
    Unsupported {
        reason: String,
    },
}

/// Everything a workspace wants.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    pub sandboxes: BTreeMap<String, DesiredSandbox>,
    pub volumes: BTreeMap<String, DesiredVolume>,
    pub images: BTreeMap<String, DesiredImage>,
    /// Snapshots (not handled by this version): reported, dependants wait.
    pub snapshots: BTreeMap<String, String>,
}

/// The podman name of a Volume object's volume.
pub fn volume_name(ownership: &Ownership, name: &str) -> String {
    ownership.container_name(Kind::Volume, name)
}

impl Desired {
    pub fn from_declarations(declarations: &Declarations, ownership: &Ownership) -> Desired {
        let mut desired = Desired::default();
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
                    let entry = match (&image.from, &image.build, &image.embedded) {
                        (Some(pull), _, _) => DesiredImage::Pull {
                            reference: pull.reference.clone(),
                        },
                        (_, Some(_), _) => DesiredImage::Unsupported {
                            reason: "building images arrives with the images issue; this version cannot build".into(),
                        },
                        _ => DesiredImage::Unsupported {
                            reason: "the embedded base image arrives with the images issue".into(),
                        },
                    };
                    desired.images.insert(name, entry);
                }
                Spec::Snapshot(_) => {
                    desired.snapshots.insert(
                        name,
                        "snapshots arrive with the images issue; this version cannot take them"
                            .into(),
                    );
                }
                Spec::Sandbox(_) => {
                    if let Spec::Sandbox(effective) =
                        pocket_dock_spec::effective(object, &declarations.settings)
                    {
                        desired.sandboxes.insert(
                            name.clone(),
                            sandbox(&name, &effective, declarations, ownership),
                        );
                    }
                }
                Spec::Workspace(_) => {}
            }
        }
        desired
    }
}

/// The part of a sandbox's effective spec that a container is made from: everything but
/// `state`, which start and stop reconcile on the same container.
fn container_spec(s: &SandboxSpec) -> SandboxSpec {
    SandboxSpec {
        state: DesiredState::default(),
        ..s.clone()
    }
}

fn sandbox(
    name: &str,
    s: &SandboxSpec,
    declarations: &Declarations,
    ownership: &Ownership,
) -> DesiredSandbox {
    let made_from = container_spec(s);
    let spec_hash =
        pocket_dock_spec::hash::hash_spec(Kind::Sandbox, &Spec::Sandbox(made_from.clone()));
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
    config.network = match s.network {
        Some(Network::None) => NetworkMode::None,
        _ => NetworkMode::Default,
    };
    config.restart = match s.restart_policy {
        Some(RestartPolicy::Always) => RestartMode::Always,
        Some(RestartPolicy::OnFailure) => RestartMode::OnFailure,
        _ => RestartMode::No,
    };
    let mut volumes = Vec::new();
    for m in &s.mounts {
        let source = m.source.clone().unwrap_or_default();
        config.mounts.push(match m.kind {
            MountType::Bind => MountConfig::Bind {
                source: declarations.root.join(&source),
                target: m.target.clone(),
                read_only: m.read_only,
            },
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
        config.memory_bytes = r.memory.as_deref().and_then(|m| m.parse().ok());
        config.nano_cpus = r.cpus.map(|c| (c * 1e9).round() as u64);
        config.pids_limit = r.pids;
    }
    if let Some(sec) = &s.security {
        config.read_only_rootfs = sec.read_only_root_filesystem.unwrap_or(false);
        config.no_new_privileges = sec.no_new_privileges.unwrap_or(false);
        config.cap_drop = sec.drop_capabilities.clone();
    }
    let spec = serde_json::to_value(&made_from).unwrap_or_default();
    config
        .labels
        .insert(SPEC_HASH.to_string(), spec_hash.clone());
    config.labels.insert(SPEC.to_string(), spec.to_string());
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
        depends_on: s.depends_on.clone(),
        volumes,
        probe,
    }
}
