//! The resource types. Their doc comments are the field reference: they become the JSON
//! Schema descriptions and `docs/reference.md`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The workspace's own network, which every sandbox joins unless it lists others.
pub const DEFAULT_NETWORK: &str = "default";

/// The newest API version: what `init`, `snapshot`, `fork`, `explain` and the importers
/// write, and what `pocket-dock migrate` rewrites documents to. Documents of every version
/// in [`API_VERSIONS`] are accepted and read into the same types (docs/versioning.md).
pub const API_VERSION: &str = API_VERSION_V1BETA1;

/// `v1beta1`: the same fields as `v1alpha1`; the version says the fields are settled.
pub const API_VERSION_V1BETA1: &str = "pocket-dock.dev/v1beta1";

/// `v1alpha1`: the first version. Still accepted, not deprecated yet; `pocket-dock
/// migrate` rewrites it to [`API_VERSION`].
pub const API_VERSION_V1ALPHA1: &str = "pocket-dock.dev/v1alpha1";

/// The version pocket-dock writes into the files it makes (`init`, `import`, `snapshot`,
/// `fork`): the oldest one not deprecated, so that a teammate or a CI runner still on the
/// previous release reads them. `pocket-dock migrate` moves files to [`API_VERSION`] when
/// the team chooses to (docs/versioning.md).
pub const WRITTEN_API_VERSION: &str = API_VERSION_V1ALPHA1;

/// Every accepted API version, newest first.
pub const API_VERSIONS: [&str; 2] = [API_VERSION_V1BETA1, API_VERSION_V1ALPHA1];

/// Identity of an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Name of the object, unique per kind in the workspace: a DNS-1123 label (lower-case
    /// letters, digits and `-`, at most 63 characters, starting and ending with a letter or
    /// digit).
    pub name: String,
    /// Free-form key/value labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form key/value annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------
// Sandbox

/// A long-lived container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxSpec {
    /// Name of a `Template` (declared in the workspace, or built in: `code-executor`,
    /// `integration-test`, `workshop`) whose `sandbox` fields this sandbox starts from. Its
    /// own fields are applied on top: mappings (`env`, `resources`, `security`, `lifetime`,
    /// ...) merge key by key, lists (`mounts`, `ports`, `command`, `networks`, ...) and
    /// scalars replace, `null` removes an inherited field, and setting `image` or
    /// `imageFrom` replaces the other. Validation, the spec hash, status, `get` and exports
    /// all see the merged spec: editing the template recreates its sandboxes as editing them
    /// would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Image reference to run, e.g. `localhost/tools:1`. Exactly one of `image` and
    /// `imageFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Run an `Image` or `Snapshot` object of this workspace. Exactly one of `image` and
    /// `imageFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_from: Option<ImageFrom>,
    /// Replaces the image's entrypoint. With neither `command` nor `args`, the sandbox idles
    /// until stopped, so that commands can be run in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Replaces the image's default arguments (CMD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Working directory inside the container (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Environment variables: a value (`FOO: bar`), or `{valueFrom: {secret: NAME}}` to set
    /// the variable from one of `secrets` without the value ever entering the container's
    /// configuration (the main command, hooks, probes and `exec` read it from
    /// `/run/secrets/NAME` through `/bin/sh`, which the image must have).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    /// Secrets, each mounted read-only at `/run/secrets/NAME` (a file of mode 0400 in
    /// memory, owned by the sandbox's user). The value is read on the host when the sandbox
    /// is reconciled, from a file or from pocket-dock's own environment, and is never stored
    /// in labels, status, the state store or printed output; changing it recreates the
    /// sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// User (and optionally group) to run as: `name`, `uid` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Bind mounts, named volumes and tmpfs mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Ports published on the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Network: `default` (the workspace's networks: its own `default` network unless
    /// `networks` lists others), `none` (loopback only), or `{egress: [HOST:PORT, ...]}`
    /// (only those destinations, through pocket-dock's proxy). Default: the workspace
    /// default, else `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// The networks this sandbox joins: names of `Network` objects, or `default` for the
    /// workspace's own network (which needs no declaration). Each entry is a name, or
    /// `{name, aliases}` for extra names on that network. Default: `[default]`. On every
    /// network it joins, the sandbox is reachable by its own name and its `aliases`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachment>,
    /// Extra names the sandbox is reachable by on every network it joins (DNS-1123 labels),
    /// e.g. `db` for a sandbox named `postgres-16`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `always` (default): a long-lived sandbox, kept running. `once`: a one-shot task
    /// (a migration, a seed job) that runs its command to completion and is never
    /// restarted; it runs again only when its spec changes. Its phase ends `Succeeded` or
    /// `Failed`, with the exit code and the tail of its output in status.
    #[serde(default, skip_serializing_if = "is_default")]
    pub run: RunMode,
    /// Commands run in the sandbox at points of its life (each an exec, with a timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    /// Whether the sandbox should be running, stopped or paused (processes frozen, memory
    /// kept). Changing it never recreates the container.
    #[serde(default, skip_serializing_if = "is_default")]
    pub state: DesiredState,
    /// What Podman does when the main process exits. Default: the workspace default, else
    /// `Never` (pocket-dock itself repairs drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Readiness probe: the sandbox is Ready once this command exits 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Probe>,
    /// Hardening options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    /// Sandboxes to act on before this one: a name (`web`: created and started first), or
    /// `{name, condition}` where the condition is `Started` (the same), `Ready` (its
    /// readiness probe passes) or `Completed` (a `run: once` sandbox exited 0). This sandbox
    /// is not started until every condition holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// Time limits for a sandbox that may be forgotten or run away: stopped after
    /// `idleTimeout` without `exec` or session activity, removed at `maxLifetime`. Changing
    /// them does not recreate the container; once a limit has acted, the sandbox stays
    /// stopped (or removed) until its declaration changes or `apply --resume` is run. Not for
    /// one-shot sandboxes (`run: once`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<Lifetime>,
    /// How much of the sandbox's output the engine keeps on disk: `{maxSize: 10Mi,
    /// maxFiles: 3}` by default (the workspace's `defaults.logs`, field by field, else
    /// these). `logs` shows what is kept; the oldest output goes first. Docker keeps
    /// `maxFiles` files of `maxSize` each; Podman keeps one file of `maxSize` × `maxFiles`
    /// and empties it when full. Changing it recreates the container; a container made
    /// before pocket-dock had this field keeps its unbounded log until it is made again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Logs>,
}

/// Built-in `logs.maxSize` (10 MiB).
pub const DEFAULT_LOG_MAX_SIZE: u64 = 10 << 20;
/// Built-in `logs.maxFiles`.
pub const DEFAULT_LOG_MAX_FILES: u32 = 3;

/// A sandbox's log limit (see `logs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Logs {
    /// Size of one log file: bytes, or a number with `Ki`, `Mi`, `Gi` or `Ti`, e.g. `10Mi`.
    /// At least `16Ki`, at most `1Ti`. Default `10Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<String>,
    /// How many files of `maxSize` are kept, the current one included: 1 to 100. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_files: Option<u32>,
}

/// A sandbox's time limits (see `lifetime`). At least one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifetime {
    /// Stop the sandbox (its container is kept) after this long without activity, e.g.
    /// `30m`. Activity is an `exec`, `shell` or session command starting or ending; a
    /// command still running or a session still open counts as activity all along. The
    /// clock starts when the container starts. Probes and hooks are not activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    /// Remove the sandbox's container (never its volumes) this long after it was created
    /// for this declaration, e.g. `8h`, however busy it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<String>,
}

/// A secret of a sandbox: exactly one of `file` and `env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    /// The file name under `/run/secrets/`: letters, digits, `.`, `_` and `-`, at most 253
    /// characters, unique in the sandbox.
    pub name: String,
    /// Host file holding the value: relative to the workspace root (never through a
    /// symlink, and staying inside the root) or absolute. At most 1 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Name of an environment variable of the pocket-dock process (the CLI or the
    /// controller) holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// An environment variable's value: a string, or a reference to one of the sandbox's
/// `secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvValue {
    /// The value itself (stored as a digest on the container, never as written).
    Value(String),
    /// `{valueFrom: {secret: NAME}}`: the value of the secret `NAME`.
    From(EnvFrom),
}

impl EnvValue {
    /// The plain value, `None` for a secret reference.
    pub fn value(&self) -> Option<&str> {
        match self {
            EnvValue::Value(v) => Some(v),
            EnvValue::From(_) => None,
        }
    }

    /// The secret it refers to, if any.
    pub fn secret(&self) -> Option<&str> {
        match self {
            EnvValue::Value(_) => None,
            EnvValue::From(f) => Some(&f.value_from.secret),
        }
    }
}

impl From<&str> for EnvValue {
    fn from(value: &str) -> Self {
        EnvValue::Value(value.to_string())
    }
}

impl From<String> for EnvValue {
    fn from(value: String) -> Self {
        EnvValue::Value(value)
    }
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFrom {
    /// The secret whose value the variable takes.
    pub value_from: SecretRef,
}

/// A reference to one of the sandbox's `secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Name of an entry of the sandbox's `secrets`.
    pub secret: String,
}

/// A dependency on another sandbox of the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "DependencyForm", into = "DependencyForm")]
pub struct Dependency {
    /// Name of the `Sandbox`.
    pub name: String,
    /// What must hold before the dependant starts.
    pub condition: Condition,
}

impl Dependency {
    /// A plain `dependsOn: [name]` entry.
    pub fn started(name: impl Into<String>) -> Self {
        Dependency {
            name: name.into(),
            condition: Condition::Started,
        }
    }
}

/// How a dependency is written: `web`, or `{name: web, condition: Ready}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DependencyForm {
    /// The sandbox's name: it is created and started first.
    Name(String),
    /// A sandbox and the condition to wait for.
    Conditional(ConditionalDependency),
}

/// A dependency with a condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionalDependency {
    /// Name of the `Sandbox`.
    pub name: String,
    /// `Started`, `Ready` or `Completed`. Default `Started`.
    #[serde(default)]
    pub condition: Condition,
}

impl From<DependencyForm> for Dependency {
    fn from(form: DependencyForm) -> Self {
        match form {
            DependencyForm::Name(name) => Dependency::started(name),
            DependencyForm::Conditional(c) => Dependency {
                name: c.name,
                condition: c.condition,
            },
        }
    }
}

impl From<Dependency> for DependencyForm {
    /// The short form when it says everything: hashes of existing declarations stay as
    /// they were.
    fn from(d: Dependency) -> Self {
        match d.condition {
            Condition::Started => DependencyForm::Name(d.name),
            condition => DependencyForm::Conditional(ConditionalDependency {
                name: d.name,
                condition,
            }),
        }
    }
}

/// What a dependant waits for.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum Condition {
    /// The dependency's container was created and started (for a one-shot: it ran).
    #[default]
    Started,
    /// The dependency runs and its readiness probe passes (without a probe: it runs and
    /// its hooks succeeded).
    Ready,
    /// The dependency is a `run: once` sandbox that exited 0. A non-zero exit blocks the
    /// dependant, with the reason.
    Completed,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "Started",
            Condition::Ready => "Ready",
            Condition::Completed => "Completed",
        }
    }
}

/// A network a sandbox joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "NetworkAttachmentForm", into = "NetworkAttachmentForm")]
pub struct NetworkAttachment {
    /// Name of a `Network` object, or `default`.
    pub name: String,
    /// Extra names on this network only.
    pub aliases: Vec<String>,
}

impl NetworkAttachment {
    pub fn named(name: impl Into<String>) -> Self {
        NetworkAttachment {
            name: name.into(),
            aliases: Vec::new(),
        }
    }
}

/// How a network attachment is written: `backend`, or `{name: backend, aliases: [db]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NetworkAttachmentForm {
    /// The network's name.
    Name(String),
    /// The network and extra names on it.
    WithAliases(AttachmentWithAliases),
}

/// A network attachment with aliases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachmentWithAliases {
    /// Name of a `Network` object, or `default`.
    pub name: String,
    /// Extra names (DNS-1123 labels) on this network only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl From<NetworkAttachmentForm> for NetworkAttachment {
    fn from(form: NetworkAttachmentForm) -> Self {
        match form {
            NetworkAttachmentForm::Name(name) => NetworkAttachment::named(name),
            NetworkAttachmentForm::WithAliases(a) => NetworkAttachment {
                name: a.name,
                aliases: a.aliases,
            },
        }
    }
}

impl From<NetworkAttachment> for NetworkAttachmentForm {
    fn from(a: NetworkAttachment) -> Self {
        if a.aliases.is_empty() {
            NetworkAttachmentForm::Name(a.name)
        } else {
            NetworkAttachmentForm::WithAliases(AttachmentWithAliases {
                name: a.name,
                aliases: a.aliases,
            })
        }
    }
}

/// Whether a sandbox is long-lived or a one-shot task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// Kept running (or stopped, per `state`).
    #[default]
    Always,
    /// Runs its command to completion once per spec.
    Once,
}

/// Lifecycle hooks: each entry is a command (argv, no shell) run in the sandbox as an
/// exec. A hook that fails (non-zero exit, or its timeout) marks the sandbox not ready
/// (`Ready=False`, reason `HookFailed`, with the exit code and the tail of its output);
/// the container is kept so that it can be inspected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hooks {
    /// Run once per container, after its first start (before `postStart`): one argv, or a
    /// list of them run in order.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "commands"
    )]
    #[schemars(with = "CommandsForm")]
    pub post_create: Vec<Vec<String>>,
    /// Run after every start of the container: one argv, or a list of them run in order.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "commands"
    )]
    #[schemars(with = "CommandsForm")]
    pub post_start: Vec<Vec<String>>,
    /// Time each command may take, e.g. `2m`. Default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// One command or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CommandsForm {
    /// Several commands (argv lists), run in order.
    Many(Vec<Vec<String>>),
    /// One command (an argv list).
    One(Vec<String>),
}

fn commands<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Vec<String>>, D::Error> {
    Ok(match CommandsForm::deserialize(d)? {
        CommandsForm::Many(many) => many,
        CommandsForm::One(one) if one.is_empty() => Vec::new(),
        CommandsForm::One(one) => vec![one],
    })
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// An image made by this workspace. Exactly one of `image` and `snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageFrom {
    /// Name of an `Image` object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Name of a `Snapshot` object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// A mount into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mount {
    /// `bind` (a host folder or file), `volume` (a `Volume` object) or `tmpfs`.
    #[serde(rename = "type")]
    pub kind: MountType,
    /// For `bind`: a path relative to the workspace root (or absolute). For `volume`: the
    /// name of a `Volume` object. Not used by `tmpfs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Absolute path inside the container.
    pub target: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "is_default")]
    pub read_only: bool,
    /// Allow a `bind` source outside the workspace root (by `..`, an absolute path or a
    /// symlink). Off by default so that a checked-in file cannot expose the rest of the host.
    /// Not allowed under the `locked` profile.
    #[serde(default, skip_serializing_if = "is_default")]
    pub allow_outside_workspace: bool,
    /// For `tmpfs`: the most it may hold, e.g. `64Mi` (it counts against `memory` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Volume,
    Tmpfs,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Port {
    /// Port inside the container.
    #[schemars(range(min = 1, max = 65535))]
    pub container: u16,
    /// Port on the host. Default: the same as `container`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub host: Option<u16>,
    /// Host address to listen on. Default: `127.0.0.1` (not reachable from other machines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

/// Resource limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// CPU limit in cores, e.g. `1.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory limit: bytes, or a number with `Ki`, `Mi`, `Gi` or `Ti`, e.g. `512Mi`.
    /// At least `6Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Maximum number of processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub pids: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The workspace's networks (see `networks`).
    #[default]
    Default,
    /// No network, loopback only.
    None,
    /// Only these destinations (`HOST:PORT`, `IP:PORT`, `[IPv6]:PORT` or
    /// `*.DOMAIN:PORT`), through pocket-dock's HTTP proxy (`HTTP_PROXY`/`HTTPS_PROXY`):
    /// HTTPS by the `CONNECT` host, HTTP by the URL's host. The sandbox joins only a
    /// network of its own with no route out and no DNS; every request is logged.
    Egress(Vec<String>),
}

impl Network {
    /// The allow-list, when this is `{egress: [...]}`.
    pub fn egress(&self) -> Option<&[String]> {
        match self {
            Network::Egress(list) => Some(list),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Keep the sandbox running.
    #[default]
    Running,
    /// Keep the sandbox created but stopped.
    Stopped,
    /// Keep the sandbox created and started, with its processes frozen (the cgroup
    /// freezer, `podman pause`): no CPU time, memory kept. Made and started first (its
    /// hooks run), then paused; `pocket-dock resume` or `state: running` thaws it.
    Paused,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RestartPolicy {
    /// Never restart (pocket-dock's controller still repairs drift).
    #[default]
    Never,
    /// Restart when the main process exits non-zero.
    OnFailure,
    /// Always restart.
    Always,
}

/// A readiness probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// Command run in the sandbox (argv, no shell); exit code 0 means ready.
    pub exec: Vec<String>,
    /// Time between attempts, e.g. `2s`. Default `2s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Time one attempt may take, e.g. `1s`. Default `1s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Consecutive failures after which the sandbox is reported not ready. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<u32>,
}

/// Hardening options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Security {
    /// `default`, or `locked` for untrusted code: a non-root user in a user namespace,
    /// read-only root filesystem with a size-limited `/tmp`, all capabilities dropped, no new
    /// privileges, the `strict` system-call filter, default pids/memory/CPU limits, and no
    /// network unless an egress list allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    /// Capabilities to drop, e.g. `NET_RAW`, or `ALL`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_capabilities: Vec<String>,
    /// Forbid gaining privileges (setuid binaries, file capabilities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_new_privileges: Option<bool>,
    /// The system-call filter: `default` (the engine's), `strict` (pocket-dock's own,
    /// stricter than Podman's: no `ptrace`, `bpf`, `keyctl`, `mount`, `unshare`, `setns`,
    /// namespaces or `io_uring`), `unconfined` (none), or the path of a seccomp JSON profile
    /// (relative to the workspace root). Default: `strict` under `locked`, else `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Podman's defaults.
    #[default]
    Default,
    /// For untrusted code: a non-root user in a user namespace, read-only root with a small
    /// `/tmp`, no capabilities, no new privileges, the `strict` system-call filter, default
    /// pids, memory and CPU limits, and no network unless an egress list allows it.
    Locked,
}

impl Profile {
    /// How strict: a sandbox may ask for a profile at least as strict as the policy's.
    pub fn strictness(self) -> u8 {
        match self {
            Profile::Default => 0,
            Profile::Locked => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Locked => "locked",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Template

/// A reusable sandbox shape: Sandboxes name it with `spec.template`, and their own fields
/// override its fields. The built-in templates (`code-executor`, `integration-test`,
/// `workshop`) can be extended but not redeclared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateSpec {
    /// Name of one other template (declared or built in) whose fields this one starts from,
    /// by the same rule a sandbox applies its own fields over its template's. At most 8
    /// templates in a chain, and no cycles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Any fields of a Sandbox spec, all optional (no `template`: use `extends`). The
    /// sandbox's own fields are applied on top: mappings merge key by key, lists and scalars
    /// replace, `null` removes an inherited field, and `image` and `imageFrom` replace each
    /// other.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schemars(with = "SandboxSpec")]
    pub sandbox: serde_json::Map<String, serde_json::Value>,
}

// ---------------------------------------------------------------------------------------
// Image

/// An image: exactly one of `build`, `from` and `embedded`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSpec {
    /// Build from a Containerfile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Use a remote image, ideally pinned by digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Pull>,
    /// An image pocket-dock builds itself, offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbeddedImage>,
    /// Registry credentials for pulling `from` and for `image push`: a containers
    /// `auth.json` / Docker `config.json`. Default: the Workspace's `pullSecret`. Never
    /// part of any hash; the credentials are read when needed and never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<PullSecret>,
}

/// Where registry credentials come from: exactly one of `file` and `env`. The text is a
/// containers `auth.json` / Docker `config.json`: `{"auths": {"HOST[:PORT]": {"auth":
/// "BASE64(user:password)"}}}` (or `username` and `password`), picked by the registry
/// host of the reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullSecret {
    /// Host file holding the auth file: relative to the workspace root (never through a
    /// symlink, and staying inside the root) or absolute. At most 1 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Name of an environment variable of the pocket-dock process holding the auth file's
    /// JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// A Containerfile build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Build {
    /// Build context folder, relative to the workspace root. Default `.`.
    #[serde(default = "default_context")]
    pub context: String,
    /// Containerfile path, relative to the workspace root. Default: `Containerfile`, else
    /// `Dockerfile`, in the context folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containerfile: Option<String>,
    /// Build arguments (`ARG`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// Target stage of a multi-stage build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Build on another `Image` object: it replaces the base named by the Containerfile's
    /// first `FROM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ImageRef>,
    /// Time the build may take, e.g. `30m`. Default: `apply --build-timeout`, else `10m`.
    /// Not part of the image's identity: changing it rebuilds nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

fn default_context() -> String {
    ".".to_string()
}

/// A reference to an `Image` object of this workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageRef {
    /// Name of an `Image` object.
    pub image: String,
}

/// A remote image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pull {
    /// Image reference, ideally pinned by digest (`registry/name@sha256:...`).
    pub reference: String,
    /// When to pull: `IfNotPresent` (default), `Always` or `Never`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub pull_policy: PullPolicy,
    /// Time a pull may take, e.g. `20m`. Default: `apply --pull-timeout`, else `10m`.
    /// Changing it pulls nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull only when the image is not present.
    #[default]
    IfNotPresent,
    /// Pull on every apply.
    Always,
    /// Never pull; the image must be present.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddedImage {
    /// A small offline base toolchain image.
    Base,
}

// ---------------------------------------------------------------------------------------
// Pool

/// Smallest and largest `size` of a pool.
pub const POOL_SIZE_MIN: u32 = 1;
pub const POOL_SIZE_MAX: u32 = 64;

/// A warm pool: `size` sandboxes of a template kept created, started and past their
/// readiness probe, so that `pocket-dock claim POOL` hands one over at once as a named
/// sandbox. Each member is a fresh container; a claimed one leaves the pool and the pool
/// is refilled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoolSpec {
    /// Name of the `Template` (declared or built in) whose sandbox spec the members are
    /// made from. It must name an image, publish no ports, and have no `secrets`, egress
    /// allow-list, `dependsOn`, `run: once` or a `state` other than `running`.
    pub template: String,
    /// How many idle, started, ready members to keep: 1 to 64.
    #[schemars(range(min = 1, max = 64))]
    pub size: u32,
    /// An idle member older than this (a duration such as `30m`) is replaced by a fresh
    /// one, so that what is handed out is never older. Default: kept until claimed or
    /// until its template or pool changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_idle: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Snapshot, Volume, Workspace

/// A sandbox's filesystem committed to a reusable image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapshotSpec {
    /// Name of the `Sandbox` to commit.
    pub sandbox: String,
    /// What this snapshot is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Bump to take a new snapshot; older generations are kept until pruned. Default 1.
    #[serde(default = "default_generation")]
    #[schemars(range(min = 1))]
    pub generation: u64,
}

fn default_generation() -> u64 {
    1
}

/// A network owned by the workspace. Sandboxes that list it in `networks` join it and
/// reach each other on it by name. The network named `default` is the one every sandbox
/// joins unless it says otherwise; declaring it only changes its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// No route out: sandboxes on it reach each other, nothing else (no internet, no
    /// host ports of other networks).
    #[serde(default, skip_serializing_if = "is_default")]
    pub internal: bool,
    /// The subnet in CIDR form, e.g. `10.89.20.0/24`. Default: one Podman picks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Extra names on this network, by sandbox: `{web: [www, api]}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, Vec<String>>,
}

/// A named volume owned by the workspace. Its data is never deleted unless asked for
/// explicitly (`apply --prune-volumes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeSpec {}

/// Workspace-wide settings (at most one `Workspace` document).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// Defaults for every sandbox that does not set the field itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<SandboxDefaults>,
    /// How many rows the state store keeps of each of its logs. Not part of any sandbox's
    /// spec: changing it recreates nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// The security floor for every sandbox of the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// Registry credentials for every pulled or pushed image that names no `pullSecret`
    /// of its own. Changing it recreates nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<PullSecret>,
}

/// The workspace's security policy, as Pod Security admission is a namespace's: the
/// profile sandboxes get when they do not name one, and with `enforce`, the least any
/// sandbox may ask for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// The profile of sandboxes that do not name one (it wins over
    /// `defaults.securityProfile`). Default `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Refuse, at validation, any sandbox that asks for less than `profile`: a weaker
    /// profile, a writable root, privileges, another system-call filter, the root user, a
    /// host path outside the workspace, a network without an egress list, or limits above
    /// the policy's. Sandboxes can only tighten it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub enforce: bool,
    /// Limits of `locked` sandboxes: the default of each, and the most `resources` may ask
    /// for. Default: `cpus: 1`, `memory: 512Mi`, `pids: 256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resources>,
}

/// Rows kept per log when the Workspace document does not say.
pub const DEFAULT_RETENTION: u64 = 10_000;

/// How many rows the state store (`.pocket-dock/state.db`) keeps of each log: the newest,
/// older ones are deleted as new ones arrive. Each between 100 and 10000000, default 10000.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retention {
    /// Commands run with `exec`, as `pocket-dock history` lists them, session commands and
    /// requests through the egress proxy: 100 to 10000000, default 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 10_000_000))]
    pub history: Option<u64>,
    /// Controller events, as `pocket-dock events` shows them: 100 to 10000000, default
    /// 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 10_000_000))]
    pub events: Option<u64>,
    /// Actions carried out by `apply` and the controller, with their outcome: 100
    /// to 10000000, default 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 10_000_000))]
    pub journal: Option<u64>,
}

/// Sandbox defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxDefaults {
    /// Default `network`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Default `restartPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Default `security.profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_profile: Option<Profile>,
    /// Default `logs`, field by field: a sandbox's own `logs.maxSize` or `logs.maxFiles`
    /// wins over the one here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Logs>,
}

/// The spec of any object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "a handful per workspace; boxing would only add indirection"
)]
pub enum Spec {
    Sandbox(SandboxSpec),
    Image(ImageSpec),
    Snapshot(SnapshotSpec),
    Volume(VolumeSpec),
    Network(NetworkSpec),
    Workspace(WorkspaceSpec),
    Template(TemplateSpec),
    Pool(PoolSpec),
}

impl Spec {
    /// Decodes the JSON form of a `kind`'s spec (as [`Spec`] serializes it) back into a typed
    /// spec. `None` for kinds that are never declared (`Run`).
    pub fn from_json(
        kind: crate::Kind,
        value: serde_json::Value,
    ) -> Option<Result<Spec, serde_json::Error>> {
        use crate::Kind;
        Some(match kind {
            Kind::Sandbox => serde_json::from_value(value).map(Spec::Sandbox),
            Kind::Image => serde_json::from_value(value).map(Spec::Image),
            Kind::Snapshot => serde_json::from_value(value).map(Spec::Snapshot),
            Kind::Volume => serde_json::from_value(value).map(Spec::Volume),
            Kind::Network => serde_json::from_value(value).map(Spec::Network),
            Kind::Workspace => serde_json::from_value(value).map(Spec::Workspace),
            Kind::Template => serde_json::from_value(value).map(Spec::Template),
            Kind::Pool => serde_json::from_value(value).map(Spec::Pool),
            Kind::Run => return None,
        })
    }
}
