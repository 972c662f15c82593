//! Containers: list, inspect, create (stopped), start, stop, remove.
//!
//! Writes take an [`OwnedContainer`], which only this module can make: from a container it
//! created, or from an inspect or list whose labels say this workspace owns it. So "never
//! modify a container without our ownership labels" is checked by the compiler, not by
//! remembering to call a check.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StopContainerOptions,
};
use pocket_dock_spec::Kind;

use super::labels::Ownership;
use super::{Engine, EngineError, Operation, Target};

/// A container's run state, as Podman reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Stopping,
    Exited,
    Removing,
    Dead,
    Unknown(String),
}

impl ContainerState {
    fn parse(s: &str) -> Self {
        match s {
            "created" | "configured" | "initialized" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "stopping" => ContainerState::Stopping,
            "exited" | "stopped" => ContainerState::Exited,
            "removing" => ContainerState::Removing,
            "dead" => ContainerState::Dead,
            other => ContainerState::Unknown(other.to_string()),
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, ContainerState::Running)
    }

    /// Running, or paused (its processes frozen, not stopped: they go on once thawed).
    pub fn is_up(&self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Paused)
    }
}

/// One row of a container listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerSummary {
    pub id: String,
    /// The primary name, without Docker's leading slash.
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub state: ContainerState,
    pub labels: HashMap<String, String>,
    /// Creation time, seconds since the Unix epoch.
    pub created: i64,
    /// How its main process last ended, when the engine says (Podman's own list does; the
    /// compat list does not): exit code, and start and end in seconds since the epoch.
    pub exit_code: Option<i64>,
    /// Killed for going over its memory limit (read by inspection, for exited ones).
    pub oom_killed: bool,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The ports it publishes on the host, as the engine reports them (only while it runs).
    pub ports: Vec<PublishedPort>,
    /// The networks it is attached to, by name; `None` when the listing does not say.
    pub networks: Option<Vec<String>>,
}

/// A container port published on the host, as the engine reports it (not as declared: the
/// address and port actually bound).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedPort {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `0.0.0.0` when it listens on every address.
    pub host_ip: String,
    pub host_port: u16,
}

impl std::fmt::Display for PublishedPort {
    /// `127.0.0.1:18080->8080/tcp`, as `podman ps` shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = if self.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &self.host_ip
        };
        write!(
            f,
            "{ip}:{}->{}/{}",
            self.host_port, self.container_port, self.protocol
        )
    }
}

/// One entry of a listing's `Ports`: Podman's own list (`host_ip`, `container_port`,
/// `host_port`, `range`, `protocol`) or the compat one (`IP`, `PrivatePort`, `PublicPort`,
/// `Type`). Read leniently: a port the engine does not publish has no host port.
#[derive(serde::Deserialize)]
struct RawPort {
    #[serde(default, alias = "IP")]
    host_ip: Option<String>,
    #[serde(default, alias = "PrivatePort")]
    container_port: Option<u16>,
    #[serde(default, alias = "PublicPort")]
    host_port: Option<u16>,
    #[serde(default)]
    range: Option<u16>,
    #[serde(default, alias = "Type")]
    protocol: Option<String>,
}

/// Every published port of a listing's `Ports`, a Podman range spelled out, sorted.
fn published_ports(raw: Vec<RawPort>) -> Vec<PublishedPort> {
    let mut out: Vec<PublishedPort> = raw
        .into_iter()
        .filter_map(|p| {
            let (Some(container), Some(host)) = (p.container_port, p.host_port) else {
                return None;
            };
            let protocol = p.protocol.unwrap_or_else(|| "tcp".to_string());
            let host_ip = p.host_ip.unwrap_or_default();
            Some((0..p.range.unwrap_or(1).max(1)).filter_map(move |i| {
                Some(PublishedPort {
                    container_port: container.checked_add(i)?,
                    protocol: protocol.clone(),
                    host_ip: host_ip.clone(),
                    host_port: host.checked_add(i)?,
                })
            }))
        })
        .flatten()
        .filter(|p| p.host_port != 0)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What an inspect tells about one container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerDetails {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub state: ContainerState,
    pub exit_code: Option<i64>,
    /// The kernel killed it for going over its memory limit.
    pub oom_killed: bool,
    pub pid: Option<i64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub labels: HashMap<String, String>,
    /// Bind mounts as Podman recorded them: (host path, path in the container).
    pub bind_mounts: Vec<(std::path::PathBuf, String)>,
    /// The networks it is attached to, by name.
    pub networks: Vec<String>,
}

/// A container this workspace owns. Only the engine makes these (see module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedContainer {
    id: String,
    name: String,
    /// Its secrets as its label records them: the files removed with it, the variables its
    /// execs read from them.
    secrets: Option<super::secret_files::SecretsLabel>,
}

impl OwnedContainer {
    /// Its secrets, as recorded on it.
    pub fn secrets(&self) -> Option<&super::secret_files::SecretsLabel> {
        self.secrets.as_ref()
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle that never reaches Podman: for the plan simulator in tests only.
    #[cfg(test)]
    pub(crate) fn for_tests(name: &str) -> Self {
        OwnedContainer {
            id: format!("id-{name}"),
            name: name.to_string(),
            secrets: None,
        }
    }
}

/// The network a container joins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// Podman's default network.
    #[default]
    Default,
    /// No network at all, only loopback.
    None,
    /// These networks (at least one), each with the names the container has on it.
    Joined(Vec<Endpoint>),
}

/// A container's place on a network: the network's engine name and the container's
/// names (DNS aliases) there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub network: String,
    pub aliases: Vec<String>,
}

/// A mount of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountConfig {
    /// A host path (absolute).
    Bind {
        source: std::path::PathBuf,
        target: String,
        read_only: bool,
    },
    /// A named volume.
    Volume {
        name: String,
        target: String,
        read_only: bool,
    },
    /// An in-memory folder, writable by every user, at most `size_bytes` when given.
    Tmpfs {
        target: String,
        size_bytes: Option<u64>,
    },
}

/// The system-call filter of a container, when not the engine's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompConfig {
    /// No filter.
    Unconfined,
    /// A profile: Podman reads it from `path` (its compat API takes a path), Docker takes
    /// the JSON itself. Both are given so that either engine gets the same bytes.
    Profile {
        path: std::path::PathBuf,
        json: String,
    },
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    pub container: u16,
    pub host: u16,
    pub host_ip: String,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
}

/// What Podman does when the main process exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartMode {
    #[default]
    No,
    OnFailure,
    Always,
}

/// What to create. The engine adds the ownership labels; `labels` may add more (never
/// override them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    pub name: String,
    pub kind: Kind,
    pub object_name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub network: NetworkMode,
    /// Run Podman's init (catatonit) as PID 1, so SIGTERM stops the container at once.
    pub init: bool,
    pub mounts: Vec<MountConfig>,
    pub ports: Vec<PortConfig>,
    pub memory_bytes: Option<u64>,
    pub nano_cpus: Option<u64>,
    pub pids_limit: Option<u32>,
    pub restart: RestartMode,
    pub read_only_rootfs: bool,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// `None`: the engine's default filter.
    pub seccomp: Option<SeccompConfig>,
    /// A user namespace of its own (Podman's `--userns=auto`); created without one where
    /// the engine cannot map one (see `create_container`).
    pub userns_auto: bool,
    /// How much output the engine keeps; `None`: the engine's own setting.
    pub logs: Option<LogLimit>,
}

/// A container's log limit: `max_files` files of `max_size` bytes at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimit {
    pub max_size: u64,
    pub max_files: u32,
}

impl LogLimit {
    /// The engine's log driver and its options. Docker's `json-file` keeps `max_files`
    /// files of `max_size` and reads across them. Podman's conmon keeps one `k8s-file`
    /// and empties it when the next line would pass its `max-size` (no rotated files, in
    /// Podman 4 and 5 alike): it is given `max_size` × `max_files`, so the bound on disk is
    /// the same on both engines. The driver is named because the limit needs it: a
    /// `journald` default (Podman's on systemd hosts) or another Docker driver ignores or
    /// refuses these options.
    pub fn log_config(&self, podman: bool) -> bollard::models::HostConfigLogConfig {
        let config: HashMap<String, String> = if podman {
            let total = self
                .max_size
                .saturating_mul(u64::from(self.max_files.max(1)));
            [("max-size".to_string(), total.to_string())].into()
        } else {
            [
                ("max-size".to_string(), self.max_size.to_string()),
                ("max-file".to_string(), self.max_files.max(1).to_string()),
            ]
            .into()
        };
        bollard::models::HostConfigLogConfig {
            typ: Some(if podman { "k8s-file" } else { "json-file" }.to_string()),
            config: Some(config),
        }
    }
}

/// Podman's init, bind-mounted into every container created with `init: true`.
pub const PODMAN_INIT: &str = "/run/podman-init";

impl ContainerConfig {
    /// A container running the image's own entrypoint and command, with Podman's init.
    pub fn new(kind: Kind, object_name: &str, container_name: &str, image: &str) -> Self {
        ContainerConfig {
            name: container_name.to_string(),
            kind,
            object_name: object_name.to_string(),
            image: image.to_string(),
            entrypoint: None,
            cmd: None,
            env: BTreeMap::new(),
            workdir: None,
            user: None,
            labels: BTreeMap::new(),
            network: NetworkMode::Default,
            init: true,
            mounts: Vec::new(),
            ports: Vec::new(),
            memory_bytes: None,
            nano_cpus: None,
            pids_limit: None,
            restart: RestartMode::No,
            read_only_rootfs: false,
            cap_drop: Vec::new(),
            no_new_privileges: false,
            seccomp: None,
            userns_auto: false,
            logs: None,
        }
    }

    /// A container that stays up doing nothing until stopped, for execs to run in. The idle
    /// process is Podman's own init in pause mode, so it needs nothing from the image (not
    /// even `sleep`), and SIGTERM stops it at once.
    pub fn idle(kind: Kind, object_name: &str, container_name: &str, image: &str) -> Self {
        let mut config = ContainerConfig::new(kind, object_name, container_name, image);
        config.make_idle();
        config
    }

    pub fn make_idle(&mut self) {
        self.init = true;
        self.entrypoint = Some(vec![PODMAN_INIT.to_string()]);
        self.cmd = Some(vec!["-P".to_string()]);
    }

    fn security_options(&self, podman: bool) -> Vec<String> {
        let mut options = Vec::new();
        if self.no_new_privileges {
            options.push("no-new-privileges".to_string());
        }
        match &self.seccomp {
            None => {}
            Some(SeccompConfig::Unconfined) => options.push("seccomp=unconfined".to_string()),
            Some(SeccompConfig::Profile { path, .. }) if podman => {
                options.push(format!("seccomp={}", path.display()));
            }
            Some(SeccompConfig::Profile { json, .. }) if !json.is_empty() => {
                options.push(format!("seccomp={json}"));
            }
            Some(SeccompConfig::Profile { path, .. }) => {
                // Docker takes the JSON itself; a user's profile file is read here, at the
                // edge. Unreadable, the engine refuses the empty profile with its own error.
                let json = std::fs::read_to_string(path).unwrap_or_default();
                options.push(format!("seccomp={json}"));
            }
        }
        options
    }

    /// The networks to attach at create (every one, or only the first) and the
    /// container's names on each.
    fn networking_config(&self, all: bool) -> Option<bollard::models::NetworkingConfig> {
        let NetworkMode::Joined(endpoints) = &self.network else {
            return None;
        };
        let at_create = if all { endpoints.len() } else { 1 };
        Some(bollard::models::NetworkingConfig {
            endpoints_config: Some(
                endpoints
                    .iter()
                    .take(at_create)
                    .map(|e| {
                        (
                            e.network.clone(),
                            bollard::models::EndpointSettings {
                                aliases: Some(e.aliases.clone()),
                                ..Default::default()
                            },
                        )
                    })
                    .collect(),
            ),
        })
    }

    fn host_config(&self, podman: bool, userns: bool) -> HostConfig {
        let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &self.ports {
            port_bindings
                .entry(format!("{}/{}", p.container, p.protocol))
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(p.host_ip.clone()),
                    host_port: Some(p.host.to_string()),
                });
        }
        let mounts = self
            .mounts
            .iter()
            .map(|m| match m {
                MountConfig::Bind {
                    source,
                    target,
                    read_only,
                } => Mount {
                    typ: Some(MountType::BIND),
                    source: Some(source.display().to_string()),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
                MountConfig::Volume {
                    name,
                    target,
                    read_only,
                } => Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some(name.clone()),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
                MountConfig::Tmpfs { target, size_bytes } => Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some(target.clone()),
                    // Writable by any user, sticky, as Podman makes it by default; Docker
                    // otherwise leaves it to root alone, useless to a sandbox's own user.
                    tmpfs_options: Some(bollard::models::MountTmpfsOptions {
                        mode: Some(0o1777),
                        size_bytes: size_bytes.and_then(|b| i64::try_from(b).ok()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            })
            .collect::<Vec<_>>();
        HostConfig {
            init: Some(self.init),
            network_mode: match &self.network {
                NetworkMode::Default => None,
                NetworkMode::None => Some("none".to_string()),
                NetworkMode::Joined(endpoints) => endpoints.first().map(|e| e.network.clone()),
            },
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: (!mounts.is_empty()).then_some(mounts),
            memory: self.memory_bytes.and_then(|m| i64::try_from(m).ok()),
            nano_cpus: self.nano_cpus.and_then(|n| i64::try_from(n).ok()),
            pids_limit: self.pids_limit.map(i64::from),
            restart_policy: Some(RestartPolicy {
                name: Some(match self.restart {
                    RestartMode::No => RestartPolicyNameEnum::NO,
                    RestartMode::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
                    RestartMode::Always => RestartPolicyNameEnum::ALWAYS,
                }),
                maximum_retry_count: None,
            }),
            readonly_rootfs: Some(self.read_only_rootfs),
            cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
            security_opt: Some(self.security_options(podman)).filter(|o| !o.is_empty()),
            userns_mode: (userns && self.userns_auto && podman).then(|| "auto".to_string()),
            log_config: self.logs.map(|l| l.log_config(podman)),
            ..Default::default()
        }
    }
}

/// How often a removal that found the container's storage busy is tried again.
const BUSY_RETRIES: u32 = 4;

/// Whether a create failed because Podman has no subordinate ids for `--userns=auto`.
fn is_no_id_mapping(message: &str) -> bool {
    [
        "no subuid ranges",
        "no subgid ranges",
        "not enough available IDs",
        // Podman 5's words.
        "not enough unused IDs",
        "cannot find mappings",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Whether `remove` found something to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    Removed,
    AlreadyGone,
}

/// A row of `/containers/json`, compat or libpod, leniently typed: the two differ only in
/// `Created` (seconds vs RFC 3339) and in a leading `/` on names.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawSummary {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    #[serde(rename = "ImageID", default)]
    image_id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    #[serde(default)]
    created: serde_json::Value,
    // Podman's own list only.
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    exited: Option<bool>,
    #[serde(default)]
    exited_at: Option<i64>,
    #[serde(default)]
    started_at: Option<i64>,
    #[serde(default)]
    ports: Option<Vec<RawPort>>,
    /// Podman's own list: the network names.
    #[serde(default)]
    networks: Option<Vec<String>>,
    /// The compat list: `{Networks: {name: endpoint}}`.
    #[serde(default)]
    network_settings: Option<RawNetworkSettings>,
}

impl RawSummary {
    fn into_summary(self) -> ContainerSummary {
        let created = match &self.created {
            serde_json::Value::Number(n) => n.as_i64().unwrap_or_default(),
            serde_json::Value::String(t) => crate::timefmt::parse_rfc3339(t).unwrap_or_default(),
            _ => 0,
        };
        ContainerSummary {
            id: self.id,
            name: self
                .names
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            image: self.image,
            image_id: self.image_id,
            state: ContainerState::parse(&self.state),
            labels: self.labels.unwrap_or_default(),
            created,
            // A time that was never set comes as year 1 (a large negative number).
            exit_code: self.exit_code.filter(|_| self.exited == Some(true)),
            oom_killed: false,
            started_at: self.started_at.filter(|t| *t > 0),
            finished_at: self.exited_at.filter(|t| *t > 0),
            ports: published_ports(self.ports.unwrap_or_default()),
            networks: self.networks.or_else(|| {
                self.network_settings
                    .and_then(|n| n.networks)
                    .map(|n| n.into_keys().collect())
            }),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawInspect {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    config: RawConfig,
    #[serde(default)]
    mounts: Vec<RawMount>,
    #[serde(default)]
    network_settings: Option<RawNetworkSettings>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawNetworkSettings {
    #[serde(default)]
    networks: Option<HashMap<String, serde_json::Value>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawMount {
    #[serde(default, rename = "Type")]
    kind: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    destination: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    #[serde(default)]
    status: String,
    exit_code: Option<i64>,
    pid: Option<i64>,
    started_at: Option<String>,
    finished_at: Option<String>,
    #[serde(rename = "OOMKilled", default)]
    oom_killed: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    image: String,
    labels: Option<HashMap<String, String>>,
}

impl Engine {
    /// Lists containers (running and stopped) matching every `key=value` label filter.
    ///
    /// Read raw: Podman reports states such as `stopped` that bollard's strict state enum
    /// rejects, which would fail the whole listing.
    pub async fn list_containers(
        &self,
        label_filter: &[String],
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        self.list_filtered(serde_json::json!({ "label": label_filter }))
            .await
    }

    /// Every container attached to the network `name`, running or not, whoever's: a
    /// network's own inspection lists only the running ones on Podman, while a stopped
    /// container keeps it from being removed all the same.
    pub async fn containers_on_network(
        &self,
        name: &str,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        self.list_filtered(serde_json::json!({ "network": [name] }))
            .await
    }

    async fn list_filtered(
        &self,
        filters: serde_json::Value,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let query = format!(
            "?all=true&filters={}",
            super::raw::percent_encode(&filters.to_string())
        );
        let podman = self.identity().await?.is_podman();
        super::list_again(
            || self.list_once(&query, podman),
            |e| match e {
                EngineError::ContainerNotFound { .. } => true,
                EngineError::Runtime { message, .. } => message.contains("no such container"),
                _ => false,
            },
        )
        .await
    }

    async fn list_once(
        &self,
        query: &str,
        podman: bool,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        // Podman's own list endpoint answers about twice as fast as the compat one, and
        // says how containers exited.
        if podman {
            let path = format!("/v4.0.0/libpod/containers/json{query}");
            let raw: Vec<RawSummary> = self
                .raw_get_json_at(Operation::ContainerList, &path)
                .await?;
            return Ok(raw.into_iter().map(RawSummary::into_summary).collect());
        }
        let path = format!("/containers/json{query}");
        let raw: Vec<RawSummary> = self.raw_get_json(Operation::ContainerList, &path).await?;
        let mut listed: Vec<ContainerSummary> =
            raw.into_iter().map(RawSummary::into_summary).collect();
        self.add_exit_facts(&mut listed).await?;
        Ok(listed)
    }

    /// The compat listing has no exit code or start and finish times, which back-off and
    /// status need: for the containers that have exited, they are read by inspection (one
    /// read each, concurrently). A container gone meanwhile keeps what the listing said.
    async fn add_exit_facts(&self, listed: &mut [ContainerSummary]) -> Result<(), EngineError> {
        let exited: Vec<usize> = (0..listed.len())
            .filter(|&i| listed[i].state == ContainerState::Exited)
            .collect();
        let inspected = futures_util::future::join_all(
            exited
                .iter()
                .map(|&i| self.inspect_container(&listed[i].id)),
        )
        .await;
        for (&i, details) in exited.iter().zip(inspected) {
            let details = match details {
                Ok(d) => d,
                Err(EngineError::ContainerNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let time = |t: &Option<String>| {
                t.as_deref()
                    .and_then(crate::timefmt::parse_rfc3339)
                    .filter(|t| *t > 0)
            };
            let c = &mut listed[i];
            c.exit_code = details.exit_code;
            c.oom_killed = details.oom_killed;
            c.started_at = time(&details.started_at);
            c.finished_at = time(&details.finished_at);
        }
        Ok(())
    }

    /// Lists the containers this workspace owns, with a handle usable for writes.
    pub async fn list_owned(
        &self,
        ownership: &Ownership,
    ) -> Result<Vec<(ContainerSummary, OwnedContainer)>, EngineError> {
        self.list_owned_with(ownership, &[]).await
    }

    /// [`Engine::list_owned`], narrowed by more label filters (`key=value`) on the server.
    pub async fn list_owned_with(
        &self,
        ownership: &Ownership,
        more: &[String],
    ) -> Result<Vec<(ContainerSummary, OwnedContainer)>, EngineError> {
        let mut filters = ownership.filters();
        filters.extend(more.iter().cloned());
        let listed = self.list_containers(&filters).await?;
        Ok(listed
            .into_iter()
            // The server filtered already; checking again costs nothing and means a
            // misbehaving filter can never hand out a write handle.
            .filter(|c| ownership.owns(&c.labels))
            .map(|c| {
                let owned = OwnedContainer {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    secrets: super::secret_files::SecretsLabel::parse(&c.labels),
                };
                (c, owned)
            })
            .collect())
    }

    /// Inspects any container by id or name (reading is allowed for every container).
    pub async fn inspect_container(&self, id: &str) -> Result<ContainerDetails, EngineError> {
        let path = format!("/containers/{}/json", super::raw::percent_encode(id));
        let raw: RawInspect = match self.raw_get_json(Operation::ContainerInspect, &path).await {
            Ok(raw) => raw,
            Err(EngineError::Runtime {
                status: Some(404), ..
            }) => {
                return Err(EngineError::ContainerNotFound {
                    op: Operation::ContainerInspect,
                    id: id.to_string(),
                });
            }
            Err(e) => return Err(e),
        };
        Ok(ContainerDetails {
            id: raw.id,
            name: raw.name.trim_start_matches('/').to_string(),
            image: raw.config.image,
            image_id: raw.image,
            state: ContainerState::parse(&raw.state.status),
            exit_code: raw.state.exit_code,
            oom_killed: raw.state.oom_killed,
            pid: raw.state.pid.filter(|p| *p > 0),
            started_at: raw.state.started_at,
            finished_at: raw.state.finished_at,
            labels: raw.config.labels.unwrap_or_default(),
            bind_mounts: raw
                .mounts
                .into_iter()
                .filter(|m| m.kind == "bind")
                .map(|m| (std::path::PathBuf::from(m.source), m.destination))
                .collect(),
            networks: raw
                .network_settings
                .and_then(|n| n.networks)
                .map(|n| n.into_keys().collect())
                .unwrap_or_default(),
        })
    }

    /// Inspects a container and hands out a write handle only if this workspace owns it.
    pub async fn inspect_owned(
        &self,
        ownership: &Ownership,
        id: &str,
        intended: Operation,
    ) -> Result<(ContainerDetails, OwnedContainer), EngineError> {
        let details = self.inspect_container(id).await?;
        if !ownership.owns(&details.labels) {
            return Err(EngineError::NotOwned {
                op: intended,
                id: details.name,
            });
        }
        let owned = OwnedContainer {
            id: details.id.clone(),
            name: details.name.clone(),
            secrets: super::secret_files::SecretsLabel::parse(&details.labels),
        };
        Ok((details, owned))
    }

    /// Creates a container (not started) carrying this workspace's ownership labels.
    pub async fn create_container(
        &self,
        ownership: &Ownership,
        config: &ContainerConfig,
    ) -> Result<OwnedContainer, EngineError> {
        let mut all_labels: HashMap<String, String> = config.labels.clone().into_iter().collect();
        // Ownership labels are applied last so that nothing can override them.
        all_labels.extend(ownership.labels_for(config.kind, &config.object_name));

        let (entrypoint, cmd) = self.idle_for_engine(config).await?;
        let podman = self.identity().await?.is_podman();
        // Rootless Podman's containers are in the user's namespace already (its root is the
        // user, not the host's root); an `auto` namespace inside it cannot reach Podman's
        // own init. Rootful Podman gets one of its own per container. Only a container that
        // asks for one needs the full profile (which says rootless or not).
        let userns = config.userns_auto && podman && !self.profile().await?.rootless;
        let body = ContainerCreateBody {
            image: Some(config.image.clone()),
            entrypoint,
            cmd,
            env: Some(config.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: config.workdir.clone(),
            user: config.user.clone(),
            labels: Some(all_labels),
            exposed_ports: (!config.ports.is_empty()).then(|| {
                config
                    .ports
                    .iter()
                    .map(|p| format!("{}/{}", p.container, p.protocol))
                    .collect()
            }),
            host_config: Some(config.host_config(podman, userns)),
            // Docker before API 1.44 refuses more than one endpoint at create: the others
            // are connected right after (`connect_other_networks`).
            networking_config: config.networking_config(podman),
            ..Default::default()
        };
        let created = match self.create_named(config, body.clone()).await {
            Err(EngineError::Conflict { message, .. }) if is_storage_leftover(&message) => {
                // A create that was killed between Podman's storage and its database leaves
                // a storage-only container holding the name (seen on Podman 5.x). The name
                // is this workspace's own hash-derived one, so the leftover is ours: remove
                // it from storage and create once more. Only while Podman's database has no
                // container of that name: a forced remove would take that one too.
                match self.inspect_container(&config.name).await {
                    Err(EngineError::ContainerNotFound { .. }) => {}
                    Ok(_) => {
                        return Err(EngineError::Conflict {
                            op: Operation::ContainerCreate,
                            id: config.name.clone(),
                            message,
                        });
                    }
                    Err(e) => return Err(e),
                }
                tracing::warn!(
                    container = %config.name,
                    "removing a storage-only leftover of an interrupted create"
                );
                self.remove_leftover_by_name(&config.name).await?;
                self.create_named(config, body).await?
            }
            Err(
                EngineError::Runtime { message, .. } | EngineError::InvalidInput { message, .. },
            ) if config.userns_auto && podman && userns && is_no_id_mapping(&message) => {
                // Rootful Podman maps `--userns=auto` from the `containers` entries of
                // /etc/subuid and /etc/subgid; without them it cannot. The sandbox is made
                // without a user namespace of its own (still a non-root user, no
                // capabilities), and the reason is said once per container.
                tracing::warn!(
                    container = %config.name,
                    "no user namespace: Podman has no subordinate ids to map ({message}); \
                     add `containers:<start>:<count>` to /etc/subuid and /etc/subgid"
                );
                let body = ContainerCreateBody {
                    host_config: Some(config.host_config(podman, false)),
                    ..body
                };
                self.create_named(config, body).await?
            }
            other => other?,
        };
        let container = OwnedContainer {
            id: created.id,
            name: config.name.clone(),
            secrets: config
                .labels
                .get(super::secret_files::LABEL)
                .and_then(|l| super::secret_files::SecretsLabel::parse_value(l)),
        };
        self.connect_other_networks(config, &container).await?;
        Ok(container)
    }

    /// Attaches an owned container to a network, with its names there (it may be running).
    pub async fn connect_network(
        &self,
        container: &OwnedContainer,
        endpoint: &Endpoint,
    ) -> Result<(), EngineError> {
        let request = bollard::models::NetworkConnectRequest {
            container: container.id.clone(),
            endpoint_config: Some(bollard::models::EndpointSettings {
                aliases: Some(endpoint.aliases.clone()),
                ..Default::default()
            }),
        };
        self.call(
            Operation::NetworkConnect,
            Target::Network(&endpoint.network),
            self.docker.connect_network(&endpoint.network, request),
        )
        .await
    }

    /// Docker before API 1.44 attaches a new container to one network only; the others are
    /// connected before it starts. A container that cannot be completed is removed again,
    /// so that none is left half-made under the workspace's name. Podman takes them all at
    /// create.
    async fn connect_other_networks(
        &self,
        config: &ContainerConfig,
        container: &OwnedContainer,
    ) -> Result<(), EngineError> {
        let NetworkMode::Joined(endpoints) = &config.network else {
            return Ok(());
        };
        if endpoints.len() < 2 || self.identity().await?.is_podman() {
            return Ok(());
        }
        let attached = self.inspect_container(&container.id).await?.networks;
        for endpoint in endpoints.iter().filter(|e| !attached.contains(&e.network)) {
            if let Err(e) = self.connect_network(container, endpoint).await {
                let _ = self.remove_container(container).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// The entrypoint and command to send. An idle container is Podman's init in pause mode
    /// (`/run/podman-init -P`, nothing needed from the image); Docker's init (tini) has no
    /// pause mode, so there it idles in a shell loop under that init, which the image must
    /// have (`sh` and `sleep`).
    async fn idle_for_engine(
        &self,
        config: &ContainerConfig,
    ) -> Result<(Option<Vec<String>>, Option<Vec<String>>), EngineError> {
        let idle = config.init
            && config.entrypoint.as_deref() == Some(&[PODMAN_INIT.to_string()][..])
            && config.cmd.as_deref() == Some(&["-P".to_string()][..]);
        if idle && !self.identity().await?.is_podman() {
            let idle_loop = ["sh", "-c", "while :; do sleep 3600; done"];
            return Ok((Some(idle_loop.map(String::from).to_vec()), None));
        }
        Ok((config.entrypoint.clone(), config.cmd.clone()))
    }

    async fn create_named(
        &self,
        config: &ContainerConfig,
        body: ContainerCreateBody,
    ) -> Result<bollard::models::ContainerCreateResponse, EngineError> {
        let options = CreateContainerOptions {
            name: Some(config.name.clone()),
            ..Default::default()
        };
        self.call(
            Operation::ContainerCreate,
            Target::NewContainer {
                name: &config.name,
                image: &config.image,
            },
            self.docker.create_container(Some(options), body),
        )
        .await
    }

    /// Removes a container Podman knows only in its storage (no labels to check; callers
    /// pass only names this workspace derives). Podman's remove falls back to storage.
    async fn remove_leftover_by_name(&self, name: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: false,
            ..Default::default()
        };
        match self
            .call(
                Operation::ContainerRemove,
                Target::Container(name),
                self.docker.remove_container(name, Some(options)),
            )
            .await
        {
            Ok(()) | Err(EngineError::ContainerNotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts a container; starting a running one is a no-op.
    pub async fn start_container(&self, c: &OwnedContainer) -> Result<(), EngineError> {
        self.call(
            Operation::ContainerStart,
            Target::Container(&c.id),
            self.docker.start_container(&c.id, None),
        )
        .await
    }

    /// Freezes a container's processes (the cgroup freezer): they get no CPU time and keep
    /// their memory. Pausing a paused container is a no-op.
    pub async fn pause_container(&self, c: &OwnedContainer) -> Result<(), EngineError> {
        let result = self
            .call(
                Operation::ContainerPause,
                Target::Container(&c.id),
                self.docker.pause_container(&c.id),
            )
            .await;
        self.settle_freeze(c, result, ContainerState::Paused).await
    }

    /// Thaws a paused container. Unpausing a container that is not paused is a no-op.
    pub async fn unpause_container(&self, c: &OwnedContainer) -> Result<(), EngineError> {
        let result = self
            .call(
                Operation::ContainerUnpause,
                Target::Container(&c.id),
                self.docker.unpause_container(&c.id),
            )
            .await;
        self.settle_freeze(c, result, ContainerState::Running).await
    }

    /// A pause or unpause refused for the container's state is fine when the container is
    /// in the state asked for already (Podman and Docker refuse to pause a paused one).
    async fn settle_freeze(
        &self,
        c: &OwnedContainer,
        result: Result<(), EngineError>,
        wanted: ContainerState,
    ) -> Result<(), EngineError> {
        match result {
            Err(e @ EngineError::Conflict { .. }) => match self.inspect_container(&c.id).await {
                Ok(details) if details.state == wanted => Ok(()),
                _ => Err(e),
            },
            other => other,
        }
    }

    /// Stops a container, giving it `grace` to exit after SIGTERM before SIGKILL.
    /// Stopping a stopped container is a no-op.
    pub async fn stop_container(
        &self,
        c: &OwnedContainer,
        grace: Duration,
    ) -> Result<(), EngineError> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        let docker = self.docker_with_extra_time(grace);
        self.call(
            Operation::ContainerStop,
            Target::Container(&c.id),
            docker.stop_container(&c.id, Some(options)),
        )
        .await
    }

    /// Gives an owned container a new name (a pool member handed over as a sandbox). A
    /// name already taken is [`EngineError::Conflict`]. The handle returned carries it.
    pub async fn rename_container(
        &self,
        c: &OwnedContainer,
        new_name: &str,
    ) -> Result<OwnedContainer, EngineError> {
        let options = bollard::query_parameters::RenameContainerOptions {
            name: new_name.to_string(),
        };
        self.call(
            Operation::ContainerRename,
            Target::Container(&c.id),
            self.docker.rename_container(&c.id, options),
        )
        .await
        .map_err(|e| match e {
            // Podman 5 on its SQLite database answers a taken name with the constraint it
            // broke (a 500), where 4.x and Docker say 409.
            EngineError::Runtime {
                op, id, message, ..
            } if rename_name_taken(&message) => EngineError::Conflict {
                op,
                id: id.unwrap_or_else(|| c.id.clone()),
                message,
            },
            e => e,
        })?;
        Ok(OwnedContainer {
            name: new_name.to_string(),
            ..c.clone()
        })
    }

    /// Removes a container, killing it first if it runs. Its named volumes are kept.
    pub async fn remove_container(&self, c: &OwnedContainer) -> Result<RemoveOutcome, EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: false,
            ..Default::default()
        };
        // Podman 4.x sometimes cannot unmount a container's /dev/shm at once ("unlinkat
        // …/userdata/shm: device or resource busy") while another mount namespace still
        // holds a copy; a moment later it can. A few tries, then the error stands.
        let mut attempt = 0;
        let result = loop {
            let result = self
                .call(
                    Operation::ContainerRemove,
                    Target::Container(&c.id),
                    self.docker.remove_container(&c.id, Some(options.clone())),
                )
                .await;
            let busy = matches!(&result, Err(EngineError::Runtime { message, .. })
                if message.contains("device or resource busy"));
            if !busy || attempt == BUSY_RETRIES {
                break result;
            }
            attempt += 1;
            tracing::warn!(container = %c.name, attempt, "removal found its storage busy; trying again");
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        };
        let outcome = match result {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(EngineError::ContainerNotFound { .. }) => Ok(RemoveOutcome::AlreadyGone),
            // Docker: a removal that a killed client started goes on in the daemon, and a
            // second one is refused until it ends. Wait for the first instead.
            Err(EngineError::Conflict { message, .. })
                if message.contains("removal of container") && message.contains("in progress") =>
            {
                self.wait_until_gone(c).await
            }
            Err(e) => Err(e),
        };
        // Gone: so are the secret files pocket-dock wrote for it (only those).
        if outcome.is_ok()
            && let Some(secrets) = &c.secrets
            && let Err(e) = super::secret_files::remove_files(secrets)
        {
            tracing::warn!(container = %c.name, error = %e, "could not remove its secret files");
        }
        outcome
    }

    /// The user a container runs as (`Config.User`, the image's when the spec sets none)
    /// and its user namespace's ID mappings (`container:host:size`; empty without one).
    /// Podman's own inspect has the mappings; Docker's has none.
    pub async fn container_user(
        &self,
        c: &OwnedContainer,
    ) -> Result<(String, Vec<String>, Vec<String>), EngineError> {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "PascalCase")]
        struct Inspect {
            #[serde(default)]
            config: InspectConfig,
            #[serde(default)]
            host_config: InspectHost,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "PascalCase")]
        struct InspectConfig {
            #[serde(default)]
            user: Option<String>,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "PascalCase")]
        struct InspectHost {
            #[serde(rename = "IDMappings", default)]
            id_mappings: Option<IdMappings>,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "PascalCase")]
        struct IdMappings {
            #[serde(default)]
            uid_map: Option<Vec<String>>,
            #[serde(default)]
            gid_map: Option<Vec<String>>,
        }
        let id = super::raw::percent_encode(&c.id);
        let inspected: Inspect = match self
            .raw_get_json_at(
                Operation::ContainerInspect,
                &format!("/v4.0.0/libpod/containers/{id}/json"),
            )
            .await
        {
            Ok(i) => i,
            Err(_) => {
                self.raw_get_json(
                    Operation::ContainerInspect,
                    &format!("/containers/{id}/json"),
                )
                .await?
            }
        };
        let maps = inspected.host_config.id_mappings.unwrap_or_default();
        Ok((
            inspected.config.user.unwrap_or_default(),
            maps.uid_map.unwrap_or_default(),
            maps.gid_map.unwrap_or_default(),
        ))
    }

    /// Waits (bounded by the request timeout) for a container another removal is taking away.
    async fn wait_until_gone(&self, c: &OwnedContainer) -> Result<RemoveOutcome, EngineError> {
        let deadline = tokio::time::Instant::now() + self.timeouts.request;
        loop {
            match self.inspect_container(&c.id).await {
                Err(EngineError::ContainerNotFound { .. }) => {
                    return Ok(RemoveOutcome::AlreadyGone);
                }
                Err(e) => return Err(e),
                Ok(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(EngineError::Timeout {
                        op: Operation::ContainerRemove,
                        id: Some(c.id.clone()),
                        after: self.timeouts.request,
                    });
                }
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    /// Looks for an owned container by its container name; `None` if there is none.
    /// A container of that name that this workspace does not own is a `NotOwned` error.
    pub async fn find_owned_by_name(
        &self,
        ownership: &Ownership,
        container_name: &str,
        intended: Operation,
    ) -> Result<Option<(ContainerDetails, OwnedContainer)>, EngineError> {
        match self
            .inspect_owned(ownership, container_name, intended)
            .await
        {
            Ok(found) => Ok(Some(found)),
            Err(EngineError::ContainerNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Podman's words for a name held by a container that is in its storage but not in its
/// database: "an external entity" on Podman 5 (as buildah's are); on Podman 4 the storage
/// layer's own refusal ("creating container storage: … already in use"). Either way the
/// caller checks that the database has no container of that name before removing anything.
fn is_storage_leftover(message: &str) -> bool {
    message.contains("in use by an external entity")
        || (message.contains("creating container storage") && message.contains("already in use"))
}

/// Whether a failed rename says the new name is taken, in the words of an engine that does
/// not answer 409: Podman 5's SQLite database names the unique constraint on the name.
fn rename_name_taken(message: &str) -> bool {
    message.contains("UNIQUE constraint failed: ContainerConfig.Name")
        || message.contains("is already in use")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_rename_to_a_taken_name_is_known_in_podman_5s_words() {
        assert!(super::rename_name_taken(
            "renaming container 4f20: updating container config table with new configuration \
             for container 4f20: UNIQUE constraint failed: ContainerConfig.Name"
        ));
        assert!(super::rename_name_taken(
            "error renaming container 4f20: the container name \"x\" is already in use by 9a"
        ));
        assert!(!super::rename_name_taken("no such container"));
    }

    use super::*;

    #[test]
    fn published_ports_read_both_listings() {
        let libpod: Vec<RawPort> = serde_json::from_str(
            r#"[{"host_ip":"127.0.0.1","container_port":8080,"host_port":18080,"range":2,"protocol":"tcp"},
                {"host_ip":"","container_port":53,"host_port":5353,"range":1,"protocol":"udp"}]"#,
        )
        .unwrap();
        let shown: Vec<String> = published_ports(libpod)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "0.0.0.0:5353->53/udp",
                "127.0.0.1:18080->8080/tcp",
                "127.0.0.1:18081->8081/tcp"
            ]
        );
        // Compat: an exposed port that is not published has no PublicPort.
        let compat: Vec<RawPort> = serde_json::from_str(
            r#"[{"IP":"127.0.0.1","PrivatePort":80,"PublicPort":8081,"Type":"tcp"},{"PrivatePort":81,"Type":"tcp"}]"#,
        )
        .unwrap();
        let ports = published_ports(compat);
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].to_string(), "127.0.0.1:8081->80/tcp");
    }

    #[test]
    fn storage_leftovers_are_told_from_live_name_conflicts() {
        assert!(is_storage_leftover(
            "creating container storage: the container name \"pd-s1-ad33c2ab\" is already in use by 30e8. You have to remove that container to be able to reuse that name: that name is already in use by an external entity"
        ));
        // Podman 4.3, after a service killed mid-create.
        assert!(is_storage_leftover(
            "container create: creating container storage: the container name \"pd-s7-ef6b7c06\" is already in use by 20f2. You have to remove that container to be able to reuse that name: that name is already in use"
        ));
        assert!(!is_storage_leftover(
            "the container name \"pd-s1\" is already in use by 30e8. You have to remove that container to be able to reuse that name: that name is already in use"
        ));
    }

    #[test]
    fn log_limits_name_the_driver_and_bound_both_engines_alike() {
        let mut config = ContainerConfig::new(Kind::Sandbox, "web", "pd-web", "img");
        assert_eq!(config.host_config(true, true).log_config, None);
        config.logs = Some(LogLimit {
            max_size: 64 << 10,
            max_files: 2,
        });
        let podman = config.host_config(true, true).log_config.unwrap();
        assert_eq!(podman.typ.as_deref(), Some("k8s-file"));
        // One file of size x files: conmon keeps no rotated files.
        assert_eq!(
            podman.config.unwrap(),
            HashMap::from([("max-size".to_string(), "131072".to_string())])
        );
        let docker = config.host_config(false, true).log_config.unwrap();
        assert_eq!(docker.typ.as_deref(), Some("json-file"));
        assert_eq!(
            docker.config.unwrap(),
            HashMap::from([
                ("max-size".to_string(), "65536".to_string()),
                ("max-file".to_string(), "2".to_string())
            ])
        );
    }

    #[test]
    fn podman_state_names_map_to_docker_states() {
        assert_eq!(ContainerState::parse("configured"), ContainerState::Created);
        assert_eq!(ContainerState::parse("stopped"), ContainerState::Exited);
        assert_eq!(ContainerState::parse("running"), ContainerState::Running);
        assert_eq!(
            ContainerState::parse("weird"),
            ContainerState::Unknown("weird".into())
        );
    }
}

/// What a container log read asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsRequest {
    pub follow: bool,
    /// Only lines after this time (seconds since the Unix epoch).
    pub since: Option<i64>,
    /// Only the last N lines.
    pub tail: Option<u64>,
}

impl Engine {
    /// A container's output, each line prefixed with its RFC 3339 timestamp and a space.
    /// With `follow`, the stream ends when the container stops.
    pub fn logs(
        &self,
        container: &OwnedContainer,
        request: &LogsRequest,
    ) -> impl futures_util::Stream<Item = Result<super::OutputChunk, EngineError>> + '_ {
        use futures_util::StreamExt;
        let options = bollard::query_parameters::LogsOptions {
            follow: request.follow,
            stdout: true,
            stderr: true,
            since: request
                .since
                .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)),
            until: 0,
            timestamps: true,
            tail: request
                .tail
                .map_or_else(|| "all".to_string(), |n| n.to_string()),
        };
        let id = container.id().to_string();
        let docker = if request.follow {
            // A followed log can be quiet for as long as it likes.
            self.docker_with_extra_time(Duration::from_secs(60 * 60 * 24 * 365))
        } else {
            self.docker.clone()
        };
        docker.logs(&id, Some(options)).map(move |item| match item {
            Ok(bollard::container::LogOutput::StdErr { message }) => Ok(super::OutputChunk {
                stream: super::StreamKind::Stderr,
                data: message,
            }),
            Ok(
                bollard::container::LogOutput::StdOut { message }
                | bollard::container::LogOutput::Console { message }
                | bollard::container::LogOutput::StdIn { message },
            ) => Ok(super::OutputChunk {
                stream: super::StreamKind::Stdout,
                data: message,
            }),
            Err(e) => Err(self.map_error(Operation::ContainerLogs, Target::Container(&id), e)),
        })
    }
}
