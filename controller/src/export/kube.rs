//! `export kube`: Kubernetes manifests from a workspace's declarations (pure).
//!
//! | pocket-dock | Kubernetes |
//! |---|---|
//! | `Sandbox` (`run: always`) | `v1/Pod` (and a `v1/Service` named after it when it has ports) |
//! | `Sandbox` (`run: once`) | `batch/v1/Job` (`backoffLimit: 0`) |
//! | `Volume` | `v1/PersistentVolumeClaim` (`ReadWriteOnce`, [`DEFAULT_STORAGE`]) |
//! | bind mount | `hostPath` volume (a YAML comment says what a cluster needs instead) |
//! | tmpfs mount | `emptyDir` with `medium: Memory` |
//! | published port | `hostPort`/`hostIP` on the container port |
//! | `readiness` | `readinessProbe.exec` |
//!
//! Each document is built from the *effective* spec (workspace defaults applied, the
//! `locked` profile expanded), so what is exported is what `apply` would run. Everything
//! else is an [`ExportWarning`] naming the object and the field.

use std::collections::BTreeMap;
use std::time::Duration;

use pocket_dock_spec::hash::effective_sandbox;
use pocket_dock_spec::model::{
    DEFAULT_NETWORK, EnvValue, ImageSpec, MountType, Network, Profile, Protocol, RestartPolicy,
    RunMode, SandboxSpec, Spec,
};
use pocket_dock_spec::quantity::parse_memory;
use pocket_dock_spec::{Declarations, Kind, Object, parse_duration};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{ExportWarning, ImageNames};
use crate::Key;

/// What a `PersistentVolumeClaim` asks for: a pocket-dock `Volume` has no size.
pub const DEFAULT_STORAGE: &str = "1Gi";
/// The comment put above every `hostPath` volume.
pub const HOST_PATH_COMMENT: &str = "# hostPath: a path on the machine that exported this; a cluster needs a PersistentVolume or ConfigMap here";
/// What an idle sandbox (no `command`, no `args`) runs in a Pod.
pub const IDLE_COMMAND: [&str; 2] = ["sleep", "infinity"];
/// Label keys on every exported object (no engine or workspace id: they mean nothing on a
/// cluster).
pub const LABEL_KIND: &str = "pocket-dock.dev/kind";
pub const LABEL_NAME: &str = "pocket-dock.dev/name";

/// The manifests and what could not be carried over.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KubeExport {
    pub documents: Vec<KubeDocument>,
    pub warnings: Vec<ExportWarning>,
}

/// One Kubernetes object, with the declaration it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KubeDocument {
    /// `Sandbox/web`.
    pub from: String,
    /// `.pocket-dock/web.yaml:7`.
    pub source: String,
    /// The object: `apiVersion`, `kind`, `metadata`, `spec`.
    pub manifest: Value,
}

impl KubeDocument {
    pub fn kind(&self) -> &str {
        self.manifest["kind"].as_str().unwrap_or_default()
    }
}

impl KubeExport {
    /// The documents as one multi-document YAML stream, each headed by a comment naming
    /// the declaration it came from, a comment above every `hostPath`.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from(
            "# Kubernetes manifests written by `pocket-dock export kube`.\n\
             # `podman kube play FILE` runs them here; `podman kube down FILE` removes them.\n",
        );
        if !self.warnings.is_empty() {
            out.push_str(&format!(
                "# {} field{} could not be carried over (printed as warnings):\n",
                self.warnings.len(),
                if self.warnings.len() == 1 { "" } else { "s" }
            ));
            for w in &self.warnings {
                out.push_str(&format!("#   {} {}\n", w.object, w.field));
            }
        }
        for doc in &self.documents {
            // A file name can hold a line break; a comment cannot.
            let source = doc.source.replace(|c: char| c.is_control(), "?");
            out.push_str(&format!("---\n# {} ({source})\n", doc.from));
            for line in pocket_dock_spec::to_yaml(&doc.manifest).lines() {
                let body = line.trim_start();
                if body.starts_with("hostPath:") || body.starts_with("- hostPath:") {
                    let indent = &line[..line.len() - body.len()];
                    out.push_str(&format!("{indent}{HOST_PATH_COMMENT}\n"));
                }
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// Maps the declarations to Kubernetes objects: claims first (Pods mount them), then
/// Pods and Jobs, then Services, each group in declaration order.
pub fn export(declarations: &Declarations, images: &ImageNames) -> KubeExport {
    let mut claims = Vec::new();
    let mut workloads = Vec::new();
    let mut services = Vec::new();
    let mut warnings = Vec::new();
    for object in &declarations.objects {
        let from = format!("{}/{}", object.kind.as_str(), object.metadata.name);
        let source = format!("{}:{}", object.source.file.display(), object.source.line);
        let doc = |manifest| KubeDocument {
            from: from.clone(),
            source: source.clone(),
            manifest,
        };
        match &object.spec {
            Spec::Volume(_) => claims.push(doc(claim(object))),
            Spec::Sandbox(s) => {
                let effective = effective_sandbox(s, &declarations.settings);
                let mapped = Sandbox::new(object, &effective, images, &mut warnings);
                workloads.push(doc(mapped.workload()));
                if let Some(service) = mapped.service() {
                    services.push(doc(service));
                }
            }
            Spec::Image(image) => warnings.push(image_warning(object, image, images)),
            Spec::Snapshot(_) => warnings.push(ExportWarning::new(
                object,
                "spec",
                "a snapshot is an image of this machine: Kubernetes has no object for it; \
                 sandboxes run it by its portable name, which a cluster must pull from a \
                 registry (`pocket-dock image push`)",
            )),
            Spec::Network(_) => warnings.push(ExportWarning::new(
                object,
                "spec",
                "Kubernetes has one flat Pod network: separate networks need NetworkPolicies, \
                 which are not written; sandboxes reach each other through Services",
            )),
            Spec::Pool(_) => warnings.push(ExportWarning::new(
                object,
                "spec",
                "a warm pool is pocket-dock's own: Kubernetes has no object for it (its \
                 template's sandboxes can be exported as Sandboxes)",
            )),
            Spec::Workspace(_) | Spec::Template(_) => {}
        }
    }
    let mut documents = claims;
    documents.extend(workloads);
    documents.extend(services);
    KubeExport {
        documents,
        warnings,
    }
}

fn labels(object: &Object) -> Value {
    let mut labels: Map<String, Value> = object
        .metadata
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    labels.insert(LABEL_KIND.into(), json!(object.kind.as_str()));
    labels.insert(LABEL_NAME.into(), json!(object.metadata.name));
    Value::Object(labels)
}

/// The annotation that names the template a sandbox's fields were merged from (the
/// fields themselves are in the Pod already).
pub const ANNOTATION_TEMPLATE: &str = "pocket-dock.dev/template";

fn metadata(object: &Object) -> Value {
    let mut meta = json!({"name": object.metadata.name, "labels": labels(object)});
    let mut annotations = object.metadata.annotations.clone();
    if let Spec::Sandbox(SandboxSpec {
        template: Some(template),
        ..
    }) = &object.spec
    {
        annotations.insert(ANNOTATION_TEMPLATE.into(), template.clone());
    }
    if !annotations.is_empty() {
        meta["annotations"] = json!(annotations);
    }
    meta
}

fn claim(object: &Object) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(object),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": DEFAULT_STORAGE}},
        },
    })
}

fn image_warning(object: &Object, image: &ImageSpec, images: &ImageNames) -> ExportWarning {
    let key = Key::new(Kind::Image, object.metadata.name.clone());
    let name = images
        .get(&key)
        .map_or_else(|| "its portable name".to_string(), |i| i.reference.clone());
    let mut message = match (&image.build, &image.from, &image.embedded) {
        (Some(_), _, _) => format!(
            "Kubernetes builds no images: sandboxes run `{name}`, which a cluster must pull \
             from a registry (`pocket-dock image push`)"
        ),
        (_, Some(_), _) => {
            format!("Kubernetes has no image object: sandboxes run `{name}` directly")
        }
        _ => format!(
            "the embedded base is made on this machine: sandboxes run `{name}`, which a \
             cluster must pull from a registry (`pocket-dock image push`)"
        ),
    };
    if image.pull_secret.is_some() {
        message.push_str("; its pullSecret is not exported (a Pod needs imagePullSecrets)");
    }
    ExportWarning::new(object, "spec", message)
}

/// A sandbox's Pod spec and the parts that go around it.
struct Sandbox<'a> {
    object: &'a Object,
    once: bool,
    pod: Map<String, Value>,
    service_ports: Vec<Value>,
}

impl<'a> Sandbox<'a> {
    fn new(
        object: &'a Object,
        s: &SandboxSpec,
        images: &ImageNames,
        warnings: &mut Vec<ExportWarning>,
    ) -> Sandbox<'a> {
        let name = object.metadata.name.as_str();
        let mut warn = |field: &str, message: String| {
            warnings.push(ExportWarning::new(object, field, message));
        };
        let once = s.run == RunMode::Once;
        let mut container = Map::new();
        container.insert("name".into(), json!(name));
        container.insert("image".into(), json!(image(s, images, &mut warn)));

        // command, args: an idle sandbox runs catatonit under Podman; a Pod needs a command.
        match (&s.command, &s.args) {
            (None, None) => {
                container.insert("command".into(), json!(IDLE_COMMAND));
                warn(
                    "spec.command",
                    format!(
                        "unset: the sandbox idles; the Pod runs `{}` instead, which the image must have",
                        IDLE_COMMAND.join(" ")
                    ),
                );
            }
            (command, args) => {
                if let Some(command) = command {
                    container.insert("command".into(), json!(command));
                }
                if let Some(args) = args {
                    container.insert("args".into(), json!(args));
                }
            }
        }
        if let Some(workdir) = &s.workdir {
            container.insert("workingDir".into(), json!(workdir));
        }

        // env, secrets: values never leave the machine; a Secret named after the sandbox
        // is referred to, and must be made on the cluster.
        let secret_name = format!("{name}-secrets");
        let mut env = Vec::new();
        let mut secret_vars = Vec::new();
        for (var, value) in &s.env {
            match value {
                EnvValue::Value(v) => env.push(json!({"name": var, "value": v})),
                EnvValue::From(from) => {
                    secret_vars.push(var.clone());
                    env.push(json!({"name": var, "valueFrom": {"secretKeyRef": {
                        "name": secret_name, "key": from.value_from.secret}}}));
                }
            }
        }
        if !secret_vars.is_empty() {
            warn(
                "spec.env",
                format!(
                    "{} read{} Secret `{secret_name}`, which is not exported (no value is \
                     written): create it on the cluster",
                    secret_vars.join(", "),
                    if secret_vars.len() == 1 { "s" } else { "" }
                ),
            );
        }
        if !env.is_empty() {
            container.insert("env".into(), Value::Array(env));
        }

        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        if !s.secrets.is_empty() {
            let keys: Vec<&str> = s.secrets.iter().map(|x| x.name.as_str()).collect();
            volumes.push(json!({"name": "secrets", "secret": {
                "secretName": secret_name,
                "defaultMode": 0o400,
                "items": keys.iter().map(|k| json!({"key": k, "path": k})).collect::<Vec<_>>(),
            }}));
            mounts.push(json!({"name": "secrets", "mountPath": "/run/secrets", "readOnly": true}));
            warn(
                "spec.secrets",
                format!(
                    "values are not exported: create Secret `{secret_name}` with the key{} {} \
                     on the cluster (`kubectl create secret generic {secret_name} --from-file=...`)",
                    if keys.len() == 1 { "" } else { "s" },
                    keys.join(", ")
                ),
            );
        }

        // mounts
        for (index, mount) in s.mounts.iter().enumerate() {
            let target = &mount.target;
            match mount.kind {
                MountType::Bind => {
                    let volume = format!("bind-{index}");
                    let path = object.resolved.mounts.get(&index).map_or_else(
                        || mount.source.clone().unwrap_or_default(),
                        |p| p.display().to_string(),
                    );
                    volumes.push(json!({"name": volume, "hostPath": {"path": path}}));
                    mounts.push(mount_entry(&volume, target, mount.read_only));
                }
                MountType::Volume => {
                    let volume = format!("volume-{index}");
                    let claim = mount.source.clone().unwrap_or_default();
                    volumes.push(
                        json!({"name": volume, "persistentVolumeClaim": {"claimName": claim}}),
                    );
                    mounts.push(mount_entry(&volume, target, mount.read_only));
                }
                MountType::Tmpfs => {
                    let volume = format!("tmpfs-{index}");
                    let mut empty = json!({"medium": "Memory"});
                    if let Some(limit) = &mount.size_limit {
                        empty["sizeLimit"] = json!(quantity(limit));
                    }
                    volumes.push(json!({"name": volume, "emptyDir": empty}));
                    mounts.push(mount_entry(&volume, target, mount.read_only));
                }
            }
        }
        if !mounts.is_empty() {
            container.insert("volumeMounts".into(), Value::Array(mounts));
        }

        // ports: published on the host by hostPort (podman kube play honours it); a
        // Service named after the sandbox makes it reachable by name on a cluster.
        let mut ports = Vec::new();
        let mut service_ports = Vec::new();
        for port in &s.ports {
            let protocol = match port.protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
            };
            let mut entry = json!({"containerPort": port.container, "protocol": protocol});
            if let Some(host) = port.host {
                entry["hostPort"] = json!(host);
            }
            if let Some(ip) = &port.host_ip {
                entry["hostIP"] = json!(ip);
            }
            ports.push(entry);
            service_ports.push(json!({
                "name": format!("{}-{}", protocol.to_lowercase(), port.container),
                "port": port.container,
                "targetPort": port.container,
                "protocol": protocol,
            }));
        }
        if !ports.is_empty() {
            container.insert("ports".into(), Value::Array(ports));
        }

        // resources
        if let Some(resources) = &s.resources {
            let mut limits = Map::new();
            if let Some(cpus) = resources.cpus {
                limits.insert("cpu".into(), json!(format!("{}m", (cpus * 1000.0).round())));
            }
            if let Some(memory) = &resources.memory {
                limits.insert("memory".into(), json!(quantity(memory)));
            }
            if !limits.is_empty() {
                container.insert("resources".into(), json!({"limits": limits}));
            }
            if let Some(pids) = resources.pids {
                warn(
                    "spec.resources.pids",
                    format!(
                        "a Pod has no process limit ({pids}): the kubelet's podPidsLimit is \
                         per node"
                    ),
                );
            }
        }

        // readiness
        if let Some(probe) = &s.readiness {
            let mut readiness = json!({"exec": {"command": probe.exec}});
            readiness["periodSeconds"] = json!(seconds(probe.interval.as_deref(), 2));
            readiness["timeoutSeconds"] = json!(seconds(probe.timeout.as_deref(), 1));
            readiness["failureThreshold"] = json!(probe.failure_threshold.unwrap_or(3));
            container.insert("readinessProbe".into(), readiness);
        }

        // user, security
        let mut context = Map::new();
        if let Some(user) = &s.user {
            match numeric_user(user) {
                Some((uid, gid)) => {
                    context.insert("runAsUser".into(), json!(uid));
                    if let Some(gid) = gid {
                        context.insert("runAsGroup".into(), json!(gid));
                    }
                }
                None => warn(
                    "spec.user",
                    format!("`{user}` is a name: a Pod runs as a numeric runAsUser only"),
                ),
            }
        }
        if let Some(security) = &s.security {
            // Only what differs from a container's defaults is written.
            if security.read_only_root_filesystem == Some(true) {
                context.insert("readOnlyRootFilesystem".into(), json!(true));
            }
            if security.no_new_privileges == Some(true) {
                context.insert("allowPrivilegeEscalation".into(), json!(false));
            }
            if !security.drop_capabilities.is_empty() {
                context.insert(
                    "capabilities".into(),
                    json!({"drop": security.drop_capabilities}),
                );
            }
            let profile = match security.seccomp.as_deref() {
                None => None,
                Some("unconfined") => Some("Unconfined"),
                Some("default") => Some("RuntimeDefault"),
                Some(other) => {
                    warn(
                        "spec.security.seccomp",
                        format!(
                            "`{other}` is pocket-dock's own filter or a file on this machine: \
                             exported as RuntimeDefault (a Localhost profile needs the file on \
                             every node)"
                        ),
                    );
                    Some("RuntimeDefault")
                }
            };
            if let Some(profile) = profile {
                context.insert("seccompProfile".into(), json!({"type": profile}));
            }
            if security.profile == Some(Profile::Locked) {
                warn(
                    "spec.security.profile",
                    "locked: its settings are exported, but not its user namespace (set \
                     `hostUsers: false` where the cluster supports user namespaces)"
                        .to_string(),
                );
            }
        }
        if !context.is_empty() {
            container.insert("securityContext".into(), Value::Object(context));
        }

        // The Pod.
        let mut pod = Map::new();
        pod.insert("containers".into(), json!([container]));
        if !volumes.is_empty() {
            pod.insert("volumes".into(), Value::Array(volumes));
        }
        let policy = s.restart_policy.unwrap_or_default();
        let restart = if once {
            if policy == RestartPolicy::Always {
                warn(
                    "spec.restartPolicy",
                    "Always: a Job's Pod restarts Never or OnFailure; exported as Never"
                        .to_string(),
                );
            }
            if policy == RestartPolicy::OnFailure {
                "OnFailure"
            } else {
                "Never"
            }
        } else {
            match policy {
                RestartPolicy::Never => "Never",
                RestartPolicy::OnFailure => "OnFailure",
                RestartPolicy::Always => "Always",
            }
        };
        pod.insert("restartPolicy".into(), json!(restart));

        // network, networks, aliases
        match &s.network {
            Some(Network::None) => warn(
                "spec.network",
                "none: a Pod always has the cluster network (a NetworkPolicy denying all \
                 traffic would be needed; none is written)"
                    .to_string(),
            ),
            Some(Network::Egress(list)) => warn(
                "spec.network",
                format!(
                    "egress allow-list ({}): not exported (an egress NetworkPolicy or proxy \
                     would be needed)",
                    list.join(", ")
                ),
            ),
            _ => {}
        }
        let other_networks: Vec<&str> = s
            .networks
            .iter()
            .filter(|n| n.name != DEFAULT_NETWORK || !n.aliases.is_empty())
            .map(|n| n.name.as_str())
            .collect();
        if !other_networks.is_empty() {
            warn(
                "spec.networks",
                format!(
                    "{}: Kubernetes has one flat Pod network (and names per Service, not per \
                     network); not exported",
                    other_networks.join(", ")
                ),
            );
        }
        if !s.aliases.is_empty() {
            warn(
                "spec.aliases",
                format!(
                    "{}: not exported (a Service per alias would be needed)",
                    s.aliases.join(", ")
                ),
            );
        }

        // What the engine or pocket-dock's controller does that a Pod cannot say.
        if let Some(hooks) = &s.hooks
            && (!hooks.post_create.is_empty()
                || !hooks.post_start.is_empty()
                || hooks.timeout.is_some())
        {
            warn(
                "spec.hooks",
                "not exported: a container's lifecycle.postStart has no timeout, runs one \
                 command on every start, and its failure kills the container"
                    .to_string(),
            );
        }
        if s.state == pocket_dock_spec::model::DesiredState::Stopped {
            warn(
                "spec.state",
                "Stopped: a Pod has no stopped state; it runs once applied".to_string(),
            );
        }
        if s.state == pocket_dock_spec::model::DesiredState::Paused {
            warn(
                "spec.state",
                "Paused: a Pod has no paused state; it runs once applied".to_string(),
            );
        }
        if !s.depends_on.is_empty() {
            let names: Vec<String> = s
                .depends_on
                .iter()
                .map(|d| format!("{} ({})", d.name, d.condition.as_str()))
                .collect();
            warn(
                "spec.dependsOn",
                format!(
                    "{}: Pods start in no order (an initContainer that waits would be needed)",
                    names.join(", ")
                ),
            );
        }
        if let Some(lifetime) = &s.lifetime {
            if let Some(max) = &lifetime.max_lifetime {
                pod.insert(
                    "activeDeadlineSeconds".into(),
                    json!(seconds(Some(max), 0).max(1)),
                );
            }
            if let Some(idle) = &lifetime.idle_timeout {
                warn(
                    "spec.lifetime.idleTimeout",
                    format!(
                        "{idle}: Kubernetes does not know exec or session activity; not exported"
                    ),
                );
            }
        }
        if let Some(logs) = &s.logs {
            warn(
                "spec.logs",
                format!(
                    "{}: a Pod's log rotation is the kubelet's (containerLogMaxSize), per node",
                    serde_json::to_string(logs).unwrap_or_default()
                ),
            );
        }
        Sandbox {
            object,
            once,
            pod,
            service_ports: if once { Vec::new() } else { service_ports },
        }
    }

    /// The Pod, or for a one-shot the Job around it.
    fn workload(&self) -> Value {
        let pod = Value::Object(self.pod.clone());
        if self.once {
            json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": metadata(self.object),
                "spec": {
                    "backoffLimit": 0,
                    "template": {"metadata": {"labels": labels(self.object)}, "spec": pod},
                },
            })
        } else {
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": metadata(self.object),
                "spec": pod,
            })
        }
    }

    /// A Service named after the sandbox, so that other Pods reach it by name on a cluster
    /// as sandboxes do on the workspace's network.
    fn service(&self) -> Option<Value> {
        if self.service_ports.is_empty() {
            return None;
        }
        let selector = json!({
            LABEL_KIND: self.object.kind.as_str(),
            LABEL_NAME: self.object.metadata.name,
        });
        Some(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(self.object),
            "spec": {"selector": selector, "ports": self.service_ports},
        }))
    }
}

/// The image reference a sandbox runs, and a warning when another machine cannot pull it.
fn image(s: &SandboxSpec, images: &ImageNames, warn: &mut impl FnMut(&str, String)) -> String {
    if let Some(reference) = &s.image {
        return reference.clone();
    }
    let Some(from) = &s.image_from else {
        return String::new();
    };
    let key = match (&from.image, &from.snapshot) {
        (Some(image), _) => Key::new(Kind::Image, image.clone()),
        (None, Some(snapshot)) => Key::new(Kind::Snapshot, snapshot.clone()),
        (None, None) => return String::new(),
    };
    match images.get(&key) {
        Some(image) => {
            if let Some(why) = &image.local_only {
                warn(
                    "spec.imageFrom",
                    format!(
                        "{key} is `{}`, {why}: a cluster must pull it from a registry",
                        image.reference
                    ),
                );
            }
            image.reference.clone()
        }
        None => {
            let placeholder = format!("localhost/pocket-dock/images/{}:latest", key.name);
            warn(
                "spec.imageFrom",
                format!(
                    "{key} has no image name yet (it cannot be made here); `{placeholder}` written"
                ),
            );
            placeholder
        }
    }
}

fn mount_entry(volume: &str, target: &str, read_only: bool) -> Value {
    let mut entry = json!({"name": volume, "mountPath": target});
    if read_only {
        entry["readOnly"] = json!(true);
    }
    entry
}

/// A pocket-dock size (bytes, or `Ki`/`Mi`/`Gi`/`Ti`) as a Kubernetes quantity.
fn quantity(text: &str) -> String {
    let Ok(bytes) = parse_memory(text).or_else(|_| text.trim().parse::<u64>()) else {
        return text.to_string();
    };
    for (unit, size) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// A duration in whole seconds, rounded up (a probe's period is at least 1s).
fn seconds(text: Option<&str>, default: u64) -> u64 {
    text.and_then(|t| parse_duration(t).ok())
        .map_or(default, |d: Duration| {
            d.as_secs() + u64::from(d.subsec_nanos() > 0)
        })
        .max(u64::from(default > 0))
}

/// `uid` or `uid:gid`.
fn numeric_user(user: &str) -> Option<(u64, Option<u64>)> {
    match user.split_once(':') {
        Some((uid, gid)) => Some((uid.parse().ok()?, Some(gid.parse().ok()?))),
        None => Some((user.parse().ok()?, None)),
    }
}

/// The names of the images a workspace's sandboxes run, for [`export`], from the
/// reconciler's view of its `Image` and `Snapshot` objects.
pub(crate) fn image_names(desired: &crate::reconcile::Desired) -> ImageNames {
    use crate::reconcile::desired::ImageOrigin;
    let mut names = BTreeMap::new();
    for image in desired.images.values() {
        if image.problem.is_some() {
            continue;
        }
        let local_only = match image.origin {
            ImageOrigin::Pull { .. } => None,
            ImageOrigin::Build(_) => Some("built on this machine".to_string()),
            ImageOrigin::Embedded => Some("the embedded base, made on this machine".to_string()),
        };
        names.insert(
            Key::new(Kind::Image, image.name.clone()),
            super::ExportImage {
                reference: image.shared.clone(),
                local_only,
            },
        );
    }
    for snapshot in desired.snapshots.values() {
        names.insert(
            Key::new(Kind::Snapshot, snapshot.name.clone()),
            super::ExportImage {
                reference: snapshot.shared.clone(),
                local_only: Some("a snapshot of a container on this machine".to_string()),
            },
        );
    }
    names
}

#[cfg(test)]
#[path = "kube_tests.rs"]
mod tests;
