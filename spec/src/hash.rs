//! The canonical hashes and the effective (defaulted) spec they are computed over.
//!
//! Two hashes, for two questions: [`container_spec_hash`] says whether a sandbox's
//! container must be made again (everything but `state`, which start and stop reconcile on
//! the same container, and `lifetime`, enforced from outside); it is the
//! `pocket-dock.dev/spec-hash` label on every sandbox container. [`document_hash`] says
//! whether a declaration changed at all (`state` and `lifetime` included). Both are [`hash_spec`] of an effective spec.
//!
//! The hash is a sha256 over the compact JSON of `{kind, spec}` where `spec` is the
//! effective spec: workspace defaults applied, the `locked` profile expanded, quantities and
//! durations normalised, relative paths normalised. Field order is fixed by the types and maps
//! are sorted, so key order, comments, formatting and the file an object lives in do not
//! change it; any semantic change does.

use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use crate::duration::parse_duration;
use crate::kind::Kind;
use crate::load::Object;
use crate::model::{
    DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE, DesiredState, Logs, MountType, Network, Port,
    Profile, Protocol, RestartPolicy, RunMode, SandboxSpec, Security, Spec, WorkspaceSpec,
};

/// How long a hook may take when `hooks.timeout` does not say, in milliseconds.
pub const DEFAULT_HOOK_TIMEOUT_MS: u128 = 60_000;
/// `security.seccomp` for pocket-dock's own filter.
pub const SECCOMP_STRICT: &str = "strict";
use crate::locked;
use crate::quantity::{parse_log_size, parse_memory};

/// The spec with every default filled in, as the reconciler will apply it.
pub fn effective(object: &Object, settings: &WorkspaceSpec) -> Spec {
    match &object.spec {
        Spec::Sandbox(s) => Spec::Sandbox(effective_sandbox(s, settings)),
        other => other.clone(),
    }
}

/// A sandbox's effective spec.
pub fn effective_sandbox(s: &SandboxSpec, settings: &WorkspaceSpec) -> SandboxSpec {
    let defaults = settings.defaults.clone().unwrap_or_default();
    let mut e = s.clone();
    let security = e.security.get_or_insert_with(Security::default);
    let profile = security
        .profile
        .unwrap_or_else(|| locked::default_profile(settings));
    security.profile = Some(profile);
    if profile == Profile::Locked {
        security.read_only_root_filesystem = Some(true);
        security.no_new_privileges = Some(true);
        if !security.drop_capabilities.iter().any(|c| c == "ALL") {
            security.drop_capabilities = vec!["ALL".to_string()];
        }
        security
            .seccomp
            .get_or_insert_with(|| SECCOMP_STRICT.to_string());
        e.user.get_or_insert_with(|| locked::USER.to_string());
        locked::fill_limits(e.resources.get_or_insert_with(Default::default), settings);
        if !e.mounts.iter().any(|m| m.target == "/tmp") {
            e.mounts.push(locked::tmp_mount());
        }
    }
    security.read_only_root_filesystem.get_or_insert(false);
    security.no_new_privileges.get_or_insert(false);
    for cap in &mut security.drop_capabilities {
        if let Some(bare) = cap.strip_prefix("CAP_") {
            *cap = bare.to_string();
        }
    }
    security.drop_capabilities.sort();
    security.drop_capabilities.dedup();

    // `locked` has no network unless an egress list allows some destinations.
    let network = e.network.take().or(defaults.network).unwrap_or_default();
    e.network = Some(match network {
        Network::Egress(list) => Network::Egress(normalize_egress(list)),
        _ if profile == Profile::Locked => Network::None,
        other => other,
    });
    e.restart_policy = Some(
        e.restart_policy
            .or(defaults.restart_policy)
            .unwrap_or(RestartPolicy::Never),
    );
    for port in &mut e.ports {
        *port = Port {
            container: port.container,
            host: Some(port.host.unwrap_or(port.container)),
            host_ip: Some(
                port.host_ip
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".to_string()),
            ),
            protocol: port.protocol,
        };
    }
    e.ports.sort_by_key(|p| {
        (
            p.host,
            p.host_ip.clone(),
            p.protocol == Protocol::Udp,
            p.container,
        )
    });
    for mount in &mut e.mounts {
        if mount.kind == MountType::Bind
            && let Some(source) = &mount.source
        {
            mount.source = Some(normalize_relative(source));
        }
    }
    // Secrets by name (names are unique): their order says nothing. A sandbox without
    // secrets serializes as before, so its hash is unchanged.
    e.secrets.sort_by(|a, b| a.name.cmp(&b.name));
    for secret in &mut e.secrets {
        if let Some(file) = &secret.file {
            secret.file = Some(normalize_relative(file));
        }
    }
    if let Some(resources) = &mut e.resources
        && let Some(memory) = &resources.memory
        && let Ok(bytes) = parse_memory(memory)
    {
        resources.memory = Some(bytes.to_string());
    }
    for mount in &mut e.mounts {
        if let Some(size) = &mount.size_limit
            && let Ok(bytes) = parse_memory(size)
        {
            mount.size_limit = Some(bytes.to_string());
        }
    }
    if let Some(probe) = &mut e.readiness {
        let ms = |text: &Option<String>, default_ms: u128| {
            let millis = text
                .as_deref()
                .and_then(|t| parse_duration(t).ok())
                .map_or(default_ms, |d| d.as_millis());
            Some(format!("{millis}ms"))
        };
        probe.interval = ms(&probe.interval, 2000);
        probe.timeout = ms(&probe.timeout, 1000);
        probe.failure_threshold.get_or_insert(3);
    }
    e.depends_on.sort_by(|a, b| a.name.cmp(&b.name));
    e.depends_on.dedup_by(|a, b| a.name == b.name);
    if e.run == RunMode::Once {
        e.restart_policy = Some(RestartPolicy::Never);
    }
    // The networks it joins: none without a network. An empty list means the workspace's
    // `default` network, which is not spelled out: the hash of a sandbox declared before
    // networks existed stays what it was (a container still on Podman's own network is
    // moved by the planner's network check instead). Names on them are sorted sets.
    if matches!(e.network, Some(Network::None | Network::Egress(_))) {
        e.networks.clear();
        e.aliases.clear();
    }
    e.networks.sort_by(|a, b| a.name.cmp(&b.name));
    e.networks.dedup_by(|a, b| a.name == b.name);
    for attachment in &mut e.networks {
        attachment.aliases.sort();
        attachment.aliases.dedup();
    }
    e.aliases.sort();
    e.aliases.dedup();
    if let Some(lifetime) = &mut e.lifetime {
        let ms = |text: &mut Option<String>| {
            if let Some(d) = text.as_deref().and_then(|t| parse_duration(t).ok()) {
                *text = Some(format!("{}ms", d.as_millis()));
            }
        };
        ms(&mut lifetime.idle_timeout);
        ms(&mut lifetime.max_lifetime);
    }
    e.logs = effective_logs(e.logs.take(), defaults.logs);
    if let Some(hooks) = &mut e.hooks {
        let millis = hooks
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .map_or(DEFAULT_HOOK_TIMEOUT_MS, |d| d.as_millis());
        hooks.timeout = Some(format!("{millis}ms"));
        if hooks.post_create.is_empty() && hooks.post_start.is_empty() {
            e.hooks = None;
        }
    }
    e
}

/// A sandbox's log limit, as the engine is given it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Bytes per file.
    pub max_size: u64,
    /// Files kept, the current one included.
    pub max_files: u32,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_size: DEFAULT_LOG_MAX_SIZE,
            max_files: DEFAULT_LOG_MAX_FILES,
        }
    }
}

/// The log limit of an effective spec ([`effective_sandbox`]): the built-in default when it
/// has none.
pub fn log_limits(effective: &SandboxSpec) -> LogLimits {
    let mut limits = LogLimits::default();
    if let Some(logs) = &effective.logs {
        if let Some(bytes) = logs
            .max_size
            .as_deref()
            .and_then(|t| parse_log_size(t).ok())
        {
            limits.max_size = bytes;
        }
        if let Some(files) = logs.max_files {
            limits.max_files = files;
        }
    }
    limits
}

/// `logs` field by field (the sandbox's, else the workspace default's, else built in), the
/// size in bytes. `None` when that is the built-in default: a sandbox that leaves `logs` out
/// (or spells the default) hashes as it did before the field existed, so that an upgrade
/// recreates no container; any other value is in the hash, and changing it recreates.
fn effective_logs(own: Option<Logs>, default: Option<Logs>) -> Option<Logs> {
    let own = own.unwrap_or_default();
    let default = default.unwrap_or_default();
    let logs = Logs {
        max_size: own.max_size.or(default.max_size),
        max_files: own.max_files.or(default.max_files),
    };
    let limits = log_limits(&SandboxSpec {
        logs: Some(logs.clone()),
        ..SandboxSpec::default()
    });
    if limits == LogLimits::default() {
        return None;
    }
    Some(Logs {
        // A size that does not parse (never, after validation) is kept as written.
        max_size: Some(match logs.max_size {
            None => DEFAULT_LOG_MAX_SIZE.to_string(),
            Some(text) => parse_log_size(&text).map_or(text, |b| b.to_string()),
        }),
        max_files: Some(limits.max_files),
    })
}

/// An egress list as a sorted set of canonical entries (lower-case names, IPv6 shortened);
/// an entry that does not parse (never, after validation) is kept as written.
fn normalize_egress(list: Vec<String>) -> Vec<String> {
    let mut list: Vec<String> = list
        .into_iter()
        .map(|text| {
            crate::egress::EgressRule::parse(&text)
                .map(|r| r.to_string())
                .unwrap_or(text)
        })
        .collect();
    list.sort();
    list.dedup();
    list
}

/// `./src/../lib/` becomes `lib`; absolute paths stay absolute.
fn normalize_relative(path: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let absolute = Path::new(path).is_absolute();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                if parts.last().is_some_and(|p| p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".to_string());
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The canonical hash of an object's whole effective spec (`state` included): `sha256:`
/// and 64 hex digits. Says whether the declaration changed; not what a container is made
/// from (that is [`container_spec_hash`]).
pub fn document_hash(object: &Object, settings: &WorkspaceSpec) -> String {
    hash_spec(object.kind, &effective(object, settings))
}

/// The old name of [`document_hash`], which is not the hash on containers.
#[deprecated(note = "use document_hash; the container label is container_spec_hash")]
pub fn spec_hash(object: &Object, settings: &WorkspaceSpec) -> String {
    document_hash(object, settings)
}

/// The part of a sandbox's effective spec that its container is made from: everything but
/// `state`, which start and stop reconcile on the same container, and `lifetime`, which the
/// reconciler enforces from outside (changing a time limit does not recreate a container).
pub fn container_spec(effective: &SandboxSpec) -> SandboxSpec {
    SandboxSpec {
        state: DesiredState::default(),
        lifetime: None,
        // The merged fields are what count, not which template gave them.
        template: None,
        ..effective.clone()
    }
}

/// The container spec hash of a sandbox's effective spec ([`effective_sandbox`]): the
/// `pocket-dock.dev/spec-hash` label. A container whose label differs is made again, so
/// this value must not change for an unchanged spec across versions (a test pins it).
pub fn container_spec_hash(effective: &SandboxSpec) -> String {
    hash_spec(Kind::Sandbox, &Spec::Sandbox(container_spec(effective)))
}

pub fn hash_spec(kind: Kind, spec: &Spec) -> String {
    let canonical = serde_json::json!({ "kind": kind.as_str(), "spec": spec });
    // serde_json's maps are sorted (no preserve_order), struct fields come in type order.
    let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::normalize_relative;

    #[test]
    fn relative_paths_normalise() {
        assert_eq!(normalize_relative("./src"), "src");
        assert_eq!(normalize_relative("src/"), "src");
        assert_eq!(normalize_relative("a/../b"), "b");
        assert_eq!(normalize_relative("."), ".");
        assert_eq!(normalize_relative("../x"), "../x");
        assert_eq!(normalize_relative("/abs/./p"), "/abs/p");
    }
}
