//! `import compose`: a compose file's services, volumes and networks as pocket-dock
//! documents. Pure: the caller reads the files and the environment.
//!
//! Every key is either carried over, carried over with a warning (it behaves differently
//! here), or listed as skipped with its line and why. Nothing is dropped silently. The
//! output depends only on the input (sorted names, no timestamps).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use pocket_dock_spec::model::{
    Build, Condition, Dependency, EnvValue, ImageFrom, ImageSpec, Metadata, Mount, MountType,
    Network, NetworkAttachment, NetworkSpec, Port, Probe, Protocol, Resources, RestartPolicy,
    RunMode, SandboxSpec, Security, VolumeSpec,
};
use pocket_dock_spec::yaml::{self, Key, Limits, Loc, Node, Value};
use pocket_dock_spec::{Diagnostic, dns_label_problem};

use super::{HEADER_PREFIX, Imported, Note, OutFile};

/// The default compose file names, in the order compose looks for them.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The largest `env_file` or `.env` read.
pub const MAX_ENV_FILE_BYTES: u64 = 1 << 20;

/// What the import needs besides the text.
pub struct Input<'a> {
    /// The compose file as messages name it (relative to the workspace root).
    pub file: PathBuf,
    /// The compose file's folder relative to the workspace root (empty for the root
    /// itself; absolute or starting with `..` when outside it).
    pub base: PathBuf,
    /// Variables for `${VAR}`: the process environment over the `.env` file, as compose.
    pub env: &'a BTreeMap<String, String>,
    /// Reads an `env_file`, given its path relative to the compose file's folder.
    pub read: &'a dyn Fn(&str) -> Result<String, String>,
}

/// Reads an `.env`-style file: `KEY=VALUE` lines, `#` comments, optional `export `,
/// values optionally quoted.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            value[1..value.len() - 1].to_string()
        } else {
            // An unquoted value ends at ` #`.
            value
                .split(" #")
                .next()
                .unwrap_or("")
                .trim_end()
                .to_string()
        };
        vars.insert(key.trim().to_string(), value);
    }
    vars
}

/// Imports `text`; invalid compose (a syntax error, an undefined volume) is diagnostics.
pub fn import(text: &str, input: &Input<'_>) -> Result<Imported, Vec<Diagnostic>> {
    let mut cx = Cx {
        file: input.file.clone(),
        base: input.base.clone(),
        env: input.env,
        read: input.read,
        skipped: Vec::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let docs = yaml::parse(text, Limits::default())
        .map_err(|e| vec![cx.diagnostic(e.loc, "", e.code, e.message)])?;
    let root = match docs.as_slice() {
        [doc] => &doc.root,
        [] => {
            return Err(vec![cx.diagnostic(
                Loc { line: 1, column: 1 },
                "",
                "empty",
                "the compose file is empty".into(),
            )]);
        }
        [_, second, ..] => {
            return Err(vec![cx.diagnostic(
                second.root.loc,
                "",
                "multiple-documents",
                "a compose file holds one document".into(),
            )]);
        }
    };
    let files = cx.project(root);
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    cx.skipped.sort();
    cx.warnings.sort();
    Ok(Imported {
        files,
        skipped: cx.skipped,
        warnings: cx.warnings,
    })
}

struct Cx<'a> {
    file: PathBuf,
    base: PathBuf,
    env: &'a BTreeMap<String, String>,
    read: &'a dyn Fn(&str) -> Result<String, String>,
    skipped: Vec<Note>,
    warnings: Vec<Note>,
    errors: Vec<Diagnostic>,
}

/// A service as the first pass sees it.
struct ServiceInfo {
    name: String,
    /// Depended on with `service_completed_successfully`: a one-shot.
    once: bool,
}

/// Top-level named objects: compose name to pocket-dock name.
#[derive(Default)]
struct Names {
    services: BTreeMap<String, ServiceInfo>,
    volumes: BTreeMap<String, String>,
    networks: BTreeMap<String, String>,
}

fn entries(node: &Node) -> &[(Key, Node)] {
    match &node.value {
        Value::Map(entries) => entries,
        _ => &[],
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Cx<'_> {
    fn diagnostic(&self, loc: Loc, path: &str, code: &'static str, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: loc.line,
            column: loc.column,
            path: path.to_string(),
            code,
            message,
            hint: None,
        }
    }

    fn error(&mut self, loc: Loc, path: &str, message: impl Into<String>) {
        let d = self.diagnostic(loc, path, "invalid-compose", message.into());
        self.errors.push(d);
    }

    fn skip(&mut self, loc: Loc, path: &str, reason: impl Into<String>) {
        self.skipped.push(Note {
            line: loc.line,
            path: path.to_string(),
            reason: reason.into(),
        });
    }

    fn warn(&mut self, loc: Loc, path: &str, reason: impl Into<String>) {
        self.warnings.push(Note {
            line: loc.line,
            path: path.to_string(),
            reason: reason.into(),
        });
    }

    fn expect_map(&mut self, node: &Node, path: &str) -> bool {
        if matches!(node.value, Value::Map(_)) {
            true
        } else {
            self.error(
                node.loc,
                path,
                format!("must be a mapping, not {}", node.describe()),
            );
            false
        }
    }

    /// A scalar as text, interpolated. Lists and mappings are an error.
    fn text(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => self.interpolate(s, node.loc, path),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(_) => Some(node.plain.clone().unwrap_or_default()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => Some(String::new()),
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!("must be a single value, not {}", node.describe()),
                );
                None
            }
        }
    }

    /// A list of scalars, or one string split as a shell would (compose's `command`).
    fn words(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.text(item, &format!("{path}[{i}]")))
                .collect(),
            _ => {
                let text = self.text(node, path)?;
                match shell_split(&text) {
                    Some(words) => Some(words),
                    None => {
                        self.error(node.loc, path, "has an unterminated quote");
                        None
                    }
                }
            }
        }
    }

    /// A list of strings (or one string as a one-item list).
    fn list(&mut self, node: &Node, path: &str) -> Vec<(Loc, String)> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.text(item, &format!("{path}[{i}]"))
                        .map(|t| (item.loc, t))
                })
                .collect(),
            _ => self
                .text(node, path)
                .map(|t| vec![(node.loc, t)])
                .unwrap_or_default(),
        }
    }

    /// `KEY: VALUE` mapping or `[KEY=VALUE]` list; `None` values are keys without `=`.
    fn key_values(&mut self, node: &Node, path: &str) -> Vec<(Loc, String, Option<String>)> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| {
                    let value = match v.value {
                        Value::Null => None,
                        _ => self.text(v, &join(path, &k.name)),
                    };
                    (k.loc, k.name.clone(), value)
                })
                .collect(),
            Value::Seq(_) => self
                .list(node, path)
                .into_iter()
                .map(|(loc, item)| match item.split_once('=') {
                    Some((k, v)) => (loc, k.to_string(), Some(v.to_string())),
                    None => (loc, item, None),
                })
                .collect(),
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!("must be a mapping or a list, not {}", node.describe()),
                );
                Vec::new()
            }
        }
    }

    /// Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
    /// `${VAR:?error}`, `${VAR?error}`, `${VAR:+other}`, `${VAR+other}`.
    fn interpolate(&mut self, text: &str, loc: Loc, path: &str) -> Option<String> {
        if !text.contains('$') {
            return Some(text.to_string());
        }
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                out.push('$');
                rest = after;
            } else if let Some(after) = rest.strip_prefix('{') {
                let Some(end) = closing_brace(after) else {
                    self.error(loc, path, format!("`{text}`: `${{` without its `}}`"));
                    return None;
                };
                let expr = &after[..end];
                rest = &after[end + 1..];
                let value = self.expand(expr, loc, path)?;
                out.push_str(&value);
            } else {
                let starts_name = rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if !starts_name || len == 0 {
                    out.push('$');
                } else {
                    let value = self.lookup(&rest[..len], loc, path);
                    out.push_str(&value.unwrap_or_default());
                    rest = &rest[len..];
                }
            }
        }
        out.push_str(rest);
        Some(out)
    }

    fn lookup(&mut self, name: &str, loc: Loc, path: &str) -> Option<String> {
        let value = self.env.get(name).cloned();
        if value.is_none() {
            self.warn(
                loc,
                path,
                format!("`{name}` is not set (environment or .env): it became an empty string"),
            );
        }
        value
    }

    fn expand(&mut self, expr: &str, loc: Loc, path: &str) -> Option<String> {
        let name_len = expr
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(expr.len());
        let (name, op) = expr.split_at(name_len);
        if name.is_empty() {
            self.error(loc, path, format!("`${{{expr}}}` names no variable"));
            return None;
        }
        let value = self.env.get(name).cloned();
        let (colon, op) = match op.strip_prefix(':') {
            Some(op) => (true, op),
            None => (false, op),
        };
        // With a colon, an empty value counts as unset.
        let set = value.as_ref().is_some_and(|v| !colon || !v.is_empty());
        let mut chars = op.chars();
        let kind = chars.next();
        let word = chars.as_str();
        match kind {
            None if !colon => Some(self.lookup(name, loc, path).unwrap_or_default()),
            Some('-') => {
                if set {
                    value
                } else {
                    self.interpolate(word, loc, path)
                }
            }
            Some('+') => {
                if set {
                    self.interpolate(word, loc, path)
                } else {
                    Some(String::new())
                }
            }
            Some('?') => {
                if set {
                    value
                } else {
                    self.error(
                        loc,
                        path,
                        format!(
                            "`{name}` is required: {}",
                            if word.is_empty() { "not set" } else { word }
                        ),
                    );
                    None
                }
            }
            _ => {
                self.error(
                    loc,
                    path,
                    format!("`${{{expr}}}` is not a substitution compose knows"),
                );
                None
            }
        }
    }

    /// A compose path (relative to the compose file's folder, or absolute, or `~/…`) as a
    /// pocket-dock path (relative to the workspace root), and whether it leaves the root.
    fn host_path(&self, source: &str) -> (String, bool) {
        let path = if let Some(rest) = source.strip_prefix("~/") {
            PathBuf::from(self.env.get("HOME").map_or("/", String::as_str)).join(rest)
        } else if source == "~" {
            PathBuf::from(self.env.get("HOME").map_or("/", String::as_str))
        } else {
            self.base.join(source)
        };
        let path = normalize(&path);
        let outside = path.is_absolute() || path.starts_with("..");
        let text = path.to_string_lossy().to_string();
        (if text.is_empty() { ".".into() } else { text }, outside)
    }

    // -------------------------------------------------------------------------------
    // The project

    fn project(&mut self, root: &Node) -> Vec<OutFile> {
        if !self.expect_map(root, "") {
            return Vec::new();
        }
        let mut names = Names::default();
        // First pass: the names of everything, so that references can be mapped.
        for (key, node) in entries(root) {
            match key.name.as_str() {
                "volumes" | "networks" if self.expect_map(node, &key.name) => {
                    let kind = if key.name == "volumes" {
                        "volume"
                    } else {
                        "network"
                    };
                    let mut map = BTreeMap::new();
                    for (k, _) in entries(node) {
                        if let Some(name) = self.object_name(k, &key.name, kind, &map) {
                            map.insert(k.name.clone(), name);
                        }
                    }
                    if key.name == "volumes" {
                        names.volumes = map;
                    } else {
                        names.networks = map;
                    }
                }
                "services" if self.expect_map(node, "services") => {
                    let mut taken = BTreeMap::new();
                    for (k, _) in entries(node) {
                        if let Some(name) = self.object_name(k, "services", "sandbox", &taken) {
                            taken.insert(k.name.clone(), name);
                        }
                    }
                    names.services = taken
                        .into_iter()
                        .map(|(k, name)| (k, ServiceInfo { name, once: false }))
                        .collect();
                    // A service others wait on to complete is a one-shot.
                    for (_, service) in entries(node) {
                        let Some(deps) = service.get("depends_on") else {
                            continue;
                        };
                        for (dep, spec) in entries(deps) {
                            let completed = spec.get("condition").and_then(Node::as_str)
                                == Some("service_completed_successfully");
                            if completed && let Some(info) = names.services.get_mut(&dep.name) {
                                info.once = true;
                            }
                        }
                    }
                }
                _ => {}
            }
        }

        let mut files = Vec::new();
        let mut networks = Vec::new();
        let mut volumes = Vec::new();
        let mut top_keys = BTreeSet::new();
        for (key, node) in entries(root) {
            top_keys.insert(key.name.as_str());
            let path = key.name.as_str();
            match path {
                "services" => {
                    for (k, service) in entries(node) {
                        if let Some(file) = self.service(k, service, &names) {
                            files.push(file);
                        }
                    }
                }
                "volumes" => {
                    for (k, volume) in entries(node) {
                        if let Some(doc) = self.volume(k, volume, &names) {
                            volumes.push(doc);
                        }
                    }
                }
                "networks" => {
                    for (k, network) in entries(node) {
                        if let Some(doc) = self.network(k, network, &names) {
                            networks.push(doc);
                        }
                    }
                }
                "version" => self.skip(
                    key.loc,
                    path,
                    "obsolete: compose itself ignores it",
                ),
                "name" => self.skip(
                    key.loc,
                    path,
                    "the project is the workspace; pocket-dock names it after its folder (or its Workspace document)",
                ),
                "secrets" => self.skip(
                    key.loc,
                    path,
                    "compose secrets are not carried over: declare each as a sandbox `secrets` entry (file or env) by hand",
                ),
                "configs" => self.skip(
                    key.loc,
                    path,
                    "compose configs are not carried over: mount the file with a read-only bind mount",
                ),
                "include" => self.skip(
                    key.loc,
                    path,
                    "other compose files are not read: import each on its own",
                ),
                name if name.starts_with("x-") => self.skip(
                    key.loc,
                    path,
                    "an extension field: compose ignores it too (its anchors were expanded where used)",
                ),
                _ => self.skip(key.loc, path, "not a compose top-level key"),
            }
        }
        if !top_keys.contains("services") {
            self.error(root.loc, "", "has no `services`");
        }
        for (name, mut docs) in [("volumes.yaml", volumes), ("networks.yaml", networks)] {
            docs.sort_by(|a, b| {
                a["metadata"]["name"]
                    .as_str()
                    .cmp(&b["metadata"]["name"].as_str())
            });
            if !docs.is_empty() {
                files.push(self.out_file(name, "", &docs));
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        files
    }

    /// The pocket-dock name of a compose object: the same when it is a DNS label, else
    /// made one (with a warning); two objects that end up the same are an error.
    fn object_name(
        &mut self,
        key: &Key,
        section: &str,
        kind: &str,
        taken: &BTreeMap<String, String>,
    ) -> Option<String> {
        let path = join(section, &key.name);
        let name = if dns_label_problem(&key.name).is_none() {
            key.name.clone()
        } else {
            let fixed = sanitize(&key.name);
            if dns_label_problem(&fixed).is_some() {
                self.error(
                    key.loc,
                    &path,
                    format!(
                        "`{}` cannot be made a {kind} name (a DNS-1123 label)",
                        key.name
                    ),
                );
                return None;
            }
            let mut reason = format!(
                "renamed to `{fixed}`: {kind} names are DNS-1123 labels (lower-case letters, digits and `-`)"
            );
            if section == "services" {
                reason.push_str(&format!(
                    "; other containers reach it as `{fixed}`, not `{}`",
                    key.name
                ));
            }
            self.warn(key.loc, &path, reason);
            fixed
        };
        if let Some((other, _)) = taken.iter().find(|(_, n)| **n == name) {
            self.error(
                key.loc,
                &path,
                format!(
                    "`{}` and `{other}` would both be the {kind} `{name}`",
                    key.name
                ),
            );
            return None;
        }
        Some(name)
    }

    fn out_file(&self, name: &str, what: &str, docs: &[serde_json::Value]) -> OutFile {
        let mut text = format!(
            "{HEADER_PREFIX} from {}{what}; `import compose` replaces this file while this line is first.\n",
            self.file.display()
        );
        for (i, doc) in docs.iter().enumerate() {
            if i > 0 {
                text.push_str("---\n");
            }
            text.push_str(&pocket_dock_spec::to_yaml(doc));
        }
        OutFile {
            name: name.to_string(),
            text,
        }
    }

    fn volume(&mut self, key: &Key, node: &Node, names: &Names) -> Option<serde_json::Value> {
        let name = names.volumes.get(&key.name)?.clone();
        let path = join("volumes", &key.name);
        if !matches!(node.value, Value::Null) && !self.expect_map(node, &path) {
            return None;
        }
        for (k, _) in entries(node) {
            let p = join(&path, &k.name);
            let reason = match k.name.as_str() {
                "external" => {
                    "pocket-dock makes and owns every volume it uses: this one is made by the workspace, not looked up"
                }
                "name" => "pocket-dock names the volume itself (per workspace)",
                "driver" | "driver_opts" => "volumes use Podman's local driver",
                "labels" => "volume labels are pocket-dock's own (ownership)",
                _ => "not a volume key pocket-dock knows",
            };
            self.skip(k.loc, &p, reason);
        }
        Some(document("Volume", &name, BTreeMap::new(), &VolumeSpec {}))
    }

    fn network(&mut self, key: &Key, node: &Node, names: &Names) -> Option<serde_json::Value> {
        let name = names.networks.get(&key.name)?.clone();
        let path = join("networks", &key.name);
        if !matches!(node.value, Value::Null) && !self.expect_map(node, &path) {
            return None;
        }
        let mut spec = NetworkSpec::default();
        for (k, v) in entries(node) {
            let p = join(&path, &k.name);
            match k.name.as_str() {
                "internal" => match v.value {
                    Value::Bool(b) => spec.internal = b,
                    _ => self.error(v.loc, &p, "must be true or false"),
                },
                "driver" => {
                    if self.text(v, &p).as_deref() != Some("bridge") {
                        self.skip(k.loc, &p, "networks are Podman bridge networks");
                    }
                }
                "ipam" => {
                    for (ik, iv) in entries(v) {
                        let ip = join(&p, &ik.name);
                        if ik.name != "config" {
                            self.skip(ik.loc, &ip, "only `ipam.config[].subnet` is carried over");
                            continue;
                        }
                        let Value::Seq(configs) = &iv.value else {
                            self.error(iv.loc, &ip, "must be a list");
                            continue;
                        };
                        for (i, config) in configs.iter().enumerate() {
                            for (ck, cv) in entries(config) {
                                let cp = format!("{ip}[{i}].{}", ck.name);
                                if ck.name == "subnet" && spec.subnet.is_none() {
                                    spec.subnet = self.text(cv, &cp);
                                } else if ck.name == "subnet" {
                                    self.skip(ck.loc, &cp, "a network has one subnet here");
                                } else {
                                    self.skip(ck.loc, &cp, "only the subnet is carried over; Podman picks the gateway and range");
                                }
                            }
                        }
                    }
                }
                "external" => self.skip(
                    k.loc,
                    &p,
                    "pocket-dock makes and owns every network it uses: this one is made by the workspace, not looked up",
                ),
                "name" => self.skip(k.loc, &p, "pocket-dock names the network itself (per workspace)"),
                "labels" => self.skip(k.loc, &p, "network labels are pocket-dock's own (ownership)"),
                _ => self.skip(k.loc, &p, "no pocket-dock equivalent"),
            }
        }
        Some(document("Network", &name, BTreeMap::new(), &spec))
    }

    // -------------------------------------------------------------------------------
    // Services

    fn service(&mut self, key: &Key, node: &Node, names: &Names) -> Option<OutFile> {
        let info = names.services.get(&key.name)?;
        let name = info.name.clone();
        let path = join("services", &key.name);
        if !self.expect_map(node, &path) {
            return None;
        }
        let mut s = SandboxSpec::default();
        let mut labels = BTreeMap::new();
        let mut image_doc = None;
        let mut env_from_files: BTreeMap<String, String> = BTreeMap::new();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let mut resources = Resources::default();
        let mut deploy_resources = Resources::default();
        let mut security = Security::default();
        let mut image_name: Option<(Loc, String)> = None;
        if info.once {
            s.run = RunMode::Once;
        }
        for (k, v) in &merge_keys(node) {
            let p = join(&path, &k.name);
            match k.name.as_str() {
                "image" => image_name = self.text(v, &p).map(|t| (k.loc, t)),
                "build" => {
                    if let Some(build) = self.build(v, &p) {
                        image_doc = Some(document("Image", &name, BTreeMap::new(), &ImageSpec {
                            build: Some(build),
                            ..ImageSpec::default()
                        }));
                        s.image_from = Some(ImageFrom {
                            image: Some(name.clone()),
                            snapshot: None,
                        });
                    }
                }
                "command" => s.args = self.words(v, &p).filter(|w| !w.is_empty()),
                "entrypoint" => s.command = self.words(v, &p).filter(|w| !w.is_empty()),
                "environment" => {
                    for (loc, var, value) in self.key_values(v, &p) {
                        match value.or_else(|| self.env.get(&var).cloned()) {
                            Some(value) => {
                                env.insert(var, value);
                            }
                            None => self.skip(
                                loc,
                                &join(&p, &var),
                                "takes its value from the environment, where it is not set (compose leaves it out too)",
                            ),
                        }
                    }
                }
                "env_file" => self.env_files(v, &p, &mut env_from_files),
                "ports" => self.ports(v, &p, &mut s.ports),
                "volumes" => self.mounts(v, &p, names, &mut s.mounts),
                "tmpfs" => {
                    for (loc, item) in self.list(v, &p) {
                        let (target, options) = item.split_once(':').unwrap_or((&item, ""));
                        let mut mount = tmpfs(target);
                        for option in options.split(',').filter(|o| !o.is_empty()) {
                            match option.strip_prefix("size=") {
                                Some(size) => mount.size_limit = memory(size),
                                None => self.skip(loc, &p, format!("tmpfs option `{option}`: only `size` is carried over")),
                            }
                        }
                        s.mounts.push(mount);
                    }
                }
                "networks" => self.service_networks(v, &p, names, &mut s.networks),
                "network_mode" => match self.text(v, &p).as_deref() {
                    Some("none") => s.network = Some(Network::None),
                    Some("bridge") => {}
                    _ => self.skip(k.loc, &p, "a sandbox joins its workspace's networks (or none); it never shares the host's or another container's network"),
                },
                "depends_on" => self.depends_on(v, &p, names, &mut s.depends_on),
                "healthcheck" => s.readiness = self.healthcheck(v, &p),
                "restart" => {
                    let policy = self.text(v, &p).unwrap_or_default();
                    let (policy, retries) = policy.split_once(':').map_or((policy.as_str(), None), |(a, b)| (a, Some(b)));
                    let mapped = match policy {
                        "no" => Some(RestartPolicy::Never),
                        "always" => Some(RestartPolicy::Always),
                        "on-failure" => Some(RestartPolicy::OnFailure),
                        "unless-stopped" => {
                            self.warn(k.loc, &p, "`unless-stopped` became `Always`: pocket-dock keeps a stopped sandbox stopped through `state: Stopped`");
                            Some(RestartPolicy::Always)
                        }
                        other => {
                            self.error(v.loc, &p, format!("`{other}` is not a restart policy"));
                            None
                        }
                    };
                    if retries.is_some() {
                        self.skip(k.loc, &p, "the retry count: `OnFailure` restarts without a limit");
                    }
                    if s.run == RunMode::Once && mapped.is_some_and(|m| m != RestartPolicy::Never) {
                        self.skip(k.loc, &p, "a one-shot sandbox (another service waits for it to complete) is never restarted");
                    } else {
                        s.restart_policy = mapped.filter(|m| *m != RestartPolicy::Never);
                    }
                }
                "user" => s.user = self.text(v, &p),
                "working_dir" => match self.text(v, &p) {
                    Some(dir) if dir.starts_with('/') => s.workdir = Some(dir),
                    Some(dir) => self.skip(k.loc, &p, format!("`{dir}` is not absolute")),
                    None => {}
                },
                "cap_drop" => {
                    for (_, cap) in self.list(v, &p) {
                        let cap = cap.to_ascii_uppercase();
                        security.drop_capabilities.push(cap.strip_prefix("CAP_").unwrap_or(&cap).to_string());
                    }
                }
                "read_only" => match v.value {
                    Value::Bool(b) => security.read_only_root_filesystem = b.then_some(true),
                    _ => self.error(v.loc, &p, "must be true or false"),
                },
                "security_opt" => {
                    for (loc, opt) in self.list(v, &p) {
                        match opt.as_str() {
                            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                                security.no_new_privileges = Some(true);
                            }
                            _ => self.skip(loc, &p, format!("`{opt}`: only `no-new-privileges` is carried over (see `security`)")),
                        }
                    }
                }
                "mem_limit" => resources.memory = self.memory_of(v, &p),
                "cpus" => resources.cpus = self.number(v, &p),
                "pids_limit" => resources.pids = self.pids(v, &p),
                "deploy" => self.deploy(v, &p, &mut deploy_resources),
                "profiles" => {
                    for (_, profile) in self.list(v, &p) {
                        labels.insert(format!("compose.profile/{profile}"), "true".to_string());
                    }
                    self.warn(k.loc, &p, "became `compose.profile/NAME: \"true\"` labels: pocket-dock applies every sandbox; apply a profile's alone with `--selector compose.profile/NAME=true`");
                }
                "labels" => {
                    for (_, label, value) in self.key_values(v, &p) {
                        labels.insert(label, value.unwrap_or_default());
                    }
                }
                other => {
                    let reason = service_skip_reason(other);
                    self.skip(k.loc, &p, reason);
                }
            }
        }
        // Resources: `deploy.resources.limits` wins, as in compose.
        let resources = Resources {
            cpus: deploy_resources.cpus.or(resources.cpus),
            memory: deploy_resources.memory.or(resources.memory),
            pids: deploy_resources.pids.or(resources.pids),
        };
        if resources != Resources::default() {
            s.resources = Some(resources);
        }
        if security != Security::default() {
            s.security = Some(security);
        }
        // `environment` wins over `env_file`.
        env_from_files.extend(env);
        s.env = env_from_files
            .into_iter()
            .map(|(k, v)| (k, EnvValue::Value(v)))
            .collect();
        match (s.image_from.is_some(), image_name) {
            (true, Some((loc, image))) => self.skip(
                loc,
                &join(&path, "image"),
                format!("the image built from `build` is the Image object `{name}`; the tag `{image}` is not carried over"),
            ),
            (false, Some((_, image))) => s.image = Some(image),
            (false, None) => {
                self.error(key.loc, &path, "has neither `image` nor `build`");
                return None;
            }
            (true, None) => {}
        }
        if s.command.is_none() && s.args.is_none() {
            self.warn(
                key.loc,
                &path,
                "has neither `command` nor `entrypoint`: compose runs the image's own command, but a sandbox without `command` or `args` idles; write the image's command under `args`",
            );
        }
        let mut docs: Vec<serde_json::Value> = image_doc.into_iter().collect();
        docs.push(document("Sandbox", &name, labels, &s));
        Some(self.out_file(
            &format!("{name}.yaml"),
            &format!(" (services.{})", key.name),
            &docs,
        ))
    }

    fn build(&mut self, node: &Node, path: &str) -> Option<Build> {
        let mut build = Build {
            context: ".".into(),
            containerfile: None,
            args: BTreeMap::new(),
            target: None,
            from: None,
            timeout: None,
        };
        let mut context = String::from(".");
        let mut dockerfile = None;
        if let Value::Map(entries) = &node.value {
            for (k, v) in entries {
                let p = join(path, &k.name);
                match k.name.as_str() {
                    "context" => context = self.text(v, &p)?,
                    "dockerfile" => dockerfile = self.text(v, &p),
                    "args" => {
                        for (loc, arg, value) in self.key_values(v, &p) {
                            match value.or_else(|| self.env.get(&arg).cloned()) {
                                Some(value) => {
                                    build.args.insert(arg, value);
                                }
                                None => self.skip(loc, &join(&p, &arg), "takes its value from the environment, where it is not set"),
                            }
                        }
                    }
                    "target" => build.target = self.text(v, &p),
                    _ => self.skip(k.loc, &p, "only `context`, `dockerfile`, `args` and `target` of a build are carried over"),
                }
            }
        } else {
            context = self.text(node, path)?;
        }
        if context.contains("://") || context.starts_with("git@") {
            self.error(node.loc, path, format!("the remote build context `{context}` is not supported: pocket-dock builds from folders of the workspace"));
            return None;
        }
        let (context_path, outside) = self.host_path(&context);
        if outside {
            self.error(node.loc, path, format!("the build context `{context}` is outside the workspace root: pocket-dock builds only from the workspace"));
            return None;
        }
        if let Some(file) = dockerfile {
            let joined = normalize(&Path::new(&context_path).join(&file));
            build.containerfile = Some(joined.to_string_lossy().to_string());
        }
        build.context = context_path;
        Some(build)
    }

    fn env_files(&mut self, node: &Node, path: &str, env: &mut BTreeMap<String, String>) {
        let items: Vec<(Loc, String, bool)> = match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let p = format!("{path}[{i}]");
                    match &item.value {
                        Value::Map(_) => {
                            let file = item.get("path").and_then(|n| self.text(n, &p))?;
                            let required = !matches!(
                                item.get("required").map(|n| &n.value),
                                Some(Value::Bool(false))
                            );
                            for (k, _) in entries(item) {
                                if !matches!(k.name.as_str(), "path" | "required") {
                                    self.skip(
                                        k.loc,
                                        &join(&p, &k.name),
                                        "only `path` and `required` are carried over",
                                    );
                                }
                            }
                            Some((item.loc, file, required))
                        }
                        _ => self.text(item, &p).map(|t| (item.loc, t, true)),
                    }
                })
                .collect(),
            _ => self
                .text(node, path)
                .map(|t| vec![(node.loc, t, true)])
                .unwrap_or_default(),
        };
        for (loc, file, required) in items {
            match (self.read)(&file) {
                Ok(text) => env.extend(parse_env_file(&text)),
                Err(_) if !required => {
                    self.warn(
                        loc,
                        path,
                        format!("`{file}` cannot be read; it is optional (`required: false`)"),
                    );
                }
                Err(e) => self.error(loc, path, format!("cannot read the env_file `{file}`: {e}")),
            }
        }
        self.warn(
            node.loc,
            path,
            "its variables were copied into `env`: edit them there (the file is not read again)",
        );
    }

    fn ports(&mut self, node: &Node, path: &str, ports: &mut Vec<Port>) {
        let Value::Seq(items) = &node.value else {
            self.error(node.loc, path, "must be a list");
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let port = if let Value::Map(entries) = &item.value {
                let mut port = Port {
                    container: 0,
                    host: None,
                    host_ip: None,
                    protocol: Protocol::Tcp,
                };
                for (k, v) in entries {
                    let kp = join(&p, &k.name);
                    match k.name.as_str() {
                        "target" => port.container = self.port_number(v, &kp).unwrap_or(0),
                        "published" => port.host = self.port_number(v, &kp),
                        "host_ip" => port.host_ip = self.text(v, &kp),
                        "protocol" => port.protocol = self.protocol(v, &kp),
                        _ => self.skip(
                            k.loc,
                            &kp,
                            "only `target`, `published`, `host_ip` and `protocol` are carried over",
                        ),
                    }
                }
                if port.container == 0 {
                    self.error(item.loc, &p, "has no `target` port");
                    continue;
                }
                port
            } else {
                let Some(text) = self.text(item, &p) else {
                    continue;
                };
                match short_port(&text) {
                    Ok(port) => port,
                    Err(reason) => {
                        self.skip(item.loc, &p, reason);
                        continue;
                    }
                }
            };
            if port.host.is_none() {
                self.warn(item.loc, &p, format!("published on host port {} (the same as in the container); compose picks a free one", port.container));
            }
            if port.host_ip.is_none() {
                self.warn(item.loc, &p, "published on 127.0.0.1 only (pocket-dock's default), not on every address as compose does; set `hostIp: 0.0.0.0` to reach it from other machines");
            }
            let mut port = port;
            if port.host.is_none() {
                port.host = Some(port.container);
            }
            ports.push(port);
        }
    }

    fn port_number(&mut self, node: &Node, path: &str) -> Option<u16> {
        let text = self.text(node, path)?;
        match text.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.error(
                    node.loc,
                    path,
                    format!("`{text}` is not a port (1 to 65535; ranges are not carried over)"),
                );
                None
            }
        }
    }

    fn protocol(&mut self, node: &Node, path: &str) -> Protocol {
        match self.text(node, path).as_deref() {
            Some("udp") => Protocol::Udp,
            Some("tcp") | None => Protocol::Tcp,
            Some(other) => {
                self.error(node.loc, path, format!("`{other}` is not tcp or udp"));
                Protocol::Tcp
            }
        }
    }

    fn mounts(&mut self, node: &Node, path: &str, names: &Names, mounts: &mut Vec<Mount>) {
        let Value::Seq(items) = &node.value else {
            self.error(node.loc, path, "must be a list");
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let (kind, source, target, read_only, size) = if let Value::Map(entries) = &item.value {
                let mut kind = None;
                let (mut source, mut target, mut read_only, mut size) = (None, None, false, None);
                for (k, v) in entries {
                    let kp = join(&p, &k.name);
                    match k.name.as_str() {
                        "type" => kind = self.text(v, &kp),
                        "source" => source = self.text(v, &kp),
                        "target" => target = self.text(v, &kp),
                        "read_only" => read_only = matches!(v.value, Value::Bool(true)),
                        "tmpfs" => {
                            for (tk, tv) in entries_of(v) {
                                let tp = join(&kp, &tk.name);
                                if tk.name == "size" {
                                    size = self.memory_of(tv, &tp);
                                } else {
                                    self.skip(tk.loc, &tp, "only the tmpfs `size` is carried over");
                                }
                            }
                        }
                        _ => self.skip(k.loc, &kp, "only `type`, `source`, `target`, `read_only` and `tmpfs.size` are carried over"),
                    }
                }
                (kind.unwrap_or_default(), source, target, read_only, size)
            } else {
                let Some(text) = self.text(item, &p) else {
                    continue;
                };
                let parts: Vec<&str> = text.split(':').collect();
                let (source, target, options) = match parts.as_slice() {
                    [target] => (None, target.to_string(), ""),
                    [source, target] => (Some(source.to_string()), target.to_string(), ""),
                    [source, target, options] => {
                        (Some(source.to_string()), target.to_string(), *options)
                    }
                    _ => {
                        self.error(
                            item.loc,
                            &p,
                            format!("`{text}` is not SOURCE:TARGET[:MODE]"),
                        );
                        continue;
                    }
                };
                let mut read_only = false;
                for option in options.split(',').filter(|o| !o.is_empty()) {
                    match option {
                        "ro" => read_only = true,
                        "rw" => {}
                        "z" | "Z" => self.skip(
                            item.loc,
                            &p,
                            format!("`{option}`: SELinux relabelling is not carried over"),
                        ),
                        _ => self.skip(
                            item.loc,
                            &p,
                            format!("mount option `{option}` is not carried over"),
                        ),
                    }
                }
                let kind = match &source {
                    None => "volume",
                    Some(s) if s.starts_with(['.', '/', '~']) => "bind",
                    Some(_) => "volume",
                };
                (kind.to_string(), source, Some(target), read_only, None)
            };
            let Some(target) = target else {
                self.error(item.loc, &p, "has no `target`");
                continue;
            };
            let mount = match (kind.as_str(), source) {
                ("bind", Some(source)) => {
                    let (host, outside) = self.host_path(&source);
                    if outside {
                        self.warn(item.loc, &p, format!("`{source}` is outside the workspace root: carried over with `allowOutsideWorkspace: true`; check that the sandbox should see it"));
                    }
                    Mount {
                        kind: MountType::Bind,
                        source: Some(host),
                        target,
                        read_only,
                        allow_outside_workspace: outside,
                        size_limit: None,
                    }
                }
                ("volume", Some(source)) => match names.volumes.get(&source) {
                    Some(volume) => Mount {
                        kind: MountType::Volume,
                        source: Some(volume.clone()),
                        target,
                        read_only,
                        allow_outside_workspace: false,
                        size_limit: None,
                    },
                    None => {
                        self.error(item.loc, &p, format!("the volume `{source}` is not declared under the top-level `volumes`"));
                        continue;
                    }
                },
                ("volume", None) => {
                    self.skip(item.loc, &p, "an anonymous volume: declare a named volume (top-level `volumes`) to keep its data");
                    continue;
                }
                ("tmpfs", _) => {
                    let mut mount = tmpfs(&target);
                    mount.size_limit = size;
                    mount
                }
                (other, _) => {
                    self.skip(
                        item.loc,
                        &p,
                        format!(
                            "a `{other}` mount is not carried over (bind, volume and tmpfs are)"
                        ),
                    );
                    continue;
                }
            };
            mounts.push(mount);
        }
    }

    fn service_networks(
        &mut self,
        node: &Node,
        path: &str,
        names: &Names,
        out: &mut Vec<NetworkAttachment>,
    ) {
        let Some(attachments) = self.names_and_settings(node, path) else {
            return;
        };
        for (loc, network, settings) in attachments {
            let p = join(path, &network);
            let name = match names.networks.get(&network) {
                Some(name) => name.clone(),
                None if network == "default" => "default".to_string(),
                None => {
                    self.error(
                        loc,
                        &p,
                        format!(
                            "the network `{network}` is not declared under the top-level `networks`"
                        ),
                    );
                    continue;
                }
            };
            let mut attachment = NetworkAttachment::named(name);
            for (k, v) in settings.map(entries).unwrap_or_default() {
                let kp = join(&p, &k.name);
                if k.name == "aliases" {
                    for (aloc, alias) in self.list(v, &kp) {
                        match dns_label_problem(&alias) {
                            None => attachment.aliases.push(alias),
                            Some(problem) => self.skip(aloc, &kp, format!("`{alias}`: {problem}")),
                        }
                    }
                } else {
                    self.skip(
                        k.loc,
                        &kp,
                        "only `aliases` are carried over: Podman assigns addresses",
                    );
                }
            }
            out.push(attachment);
        }
    }

    /// A key that compose takes as a list of names or as a mapping of name to settings
    /// (`networks`, `depends_on`): each name, where it is, and its settings if any.
    fn names_and_settings<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
    ) -> Option<Vec<(Loc, String, Option<&'n Node>)>> {
        match &node.value {
            Value::Seq(_) => Some(
                self.list(node, path)
                    .into_iter()
                    .map(|(loc, n)| (loc, n, None))
                    .collect(),
            ),
            Value::Map(entries) => Some(
                entries
                    .iter()
                    .map(|(k, v)| (k.loc, k.name.clone(), Some(v)))
                    .collect(),
            ),
            _ => {
                self.error(node.loc, path, "must be a list or a mapping");
                None
            }
        }
    }

    fn depends_on(&mut self, node: &Node, path: &str, names: &Names, out: &mut Vec<Dependency>) {
        let Some(deps) = self.names_and_settings(node, path) else {
            return;
        };
        for (loc, service, settings) in deps {
            let p = join(path, &service);
            let Some(info) = names.services.get(&service) else {
                self.error(
                    loc,
                    &p,
                    format!("`{service}` is not a service of this file"),
                );
                continue;
            };
            let mut condition = Condition::Started;
            for (k, v) in settings.map(entries).unwrap_or_default() {
                let kp = join(&p, &k.name);
                match k.name.as_str() {
                    "condition" => match self.text(v, &kp).as_deref() {
                        Some("service_started") => condition = Condition::Started,
                        Some("service_healthy") => condition = Condition::Ready,
                        Some("service_completed_successfully") => condition = Condition::Completed,
                        other => self.error(
                            v.loc,
                            &kp,
                            format!("`{}` is not a depends_on condition", other.unwrap_or("")),
                        ),
                    },
                    "restart" => self.skip(
                        k.loc,
                        &kp,
                        "pocket-dock does not restart a dependant when its dependency is updated",
                    ),
                    "required" => self.skip(k.loc, &kp, "every dependency is required"),
                    _ => self.skip(k.loc, &kp, "not a depends_on key"),
                }
            }
            if condition == Condition::Ready && info.once {
                self.skip(loc, &p, "waits for a service that another service waits on to complete: a one-shot is never Ready, so this waits for `Started`");
                condition = Condition::Started;
            }
            out.push(Dependency {
                name: info.name.clone(),
                condition,
            });
        }
    }

    fn healthcheck(&mut self, node: &Node, path: &str) -> Option<Probe> {
        if !self.expect_map(node, path) {
            return None;
        }
        if matches!(
            node.get("disable").map(|n| &n.value),
            Some(Value::Bool(true))
        ) {
            return None;
        }
        let mut probe = Probe {
            exec: Vec::new(),
            interval: None,
            timeout: None,
            failure_threshold: None,
        };
        for (k, v) in entries(node) {
            let p = join(path, &k.name);
            match k.name.as_str() {
                "test" => {
                    let words = match &v.value {
                        Value::Seq(_) => self.words(v, &p).unwrap_or_default(),
                        _ => {
                            let text = self.text(v, &p).unwrap_or_default();
                            vec!["CMD-SHELL".to_string(), text]
                        }
                    };
                    match words.split_first() {
                        Some((first, rest)) if first == "CMD" && !rest.is_empty() => probe.exec = rest.to_vec(),
                        Some((first, rest)) if first == "CMD-SHELL" && !rest.is_empty() => {
                            probe.exec = vec!["/bin/sh".into(), "-c".into(), rest.join(" ")];
                        }
                        Some((first, _)) if first == "NONE" => return None,
                        _ => {
                            self.error(v.loc, &p, "must start with CMD, CMD-SHELL or NONE and have a command");
                            return None;
                        }
                    }
                }
                "interval" | "timeout" => {
                    let text = self.text(v, &p)?;
                    match pocket_dock_spec::parse_duration(&text) {
                        Ok(_) if k.name == "interval" => probe.interval = Some(text),
                        Ok(_) => probe.timeout = Some(text),
                        Err(e) => self.skip(k.loc, &p, format!("{e}")),
                    }
                }
                "retries" => match v.value {
                    Value::Int(n) if n >= 1 => probe.failure_threshold = u32::try_from(n).ok(),
                    _ => self.skip(k.loc, &p, "must be a count of at least 1"),
                },
                "disable" => {}
                "start_period" | "start_interval" => self.skip(k.loc, &p, "the probe runs from the start; failures before it first passes only delay readiness"),
                _ => self.skip(k.loc, &p, "not a healthcheck key"),
            }
        }
        if probe.exec.is_empty() {
            self.skip(node.loc, path, "has no `test`: no readiness probe");
            return None;
        }
        Some(probe)
    }

    fn deploy(&mut self, node: &Node, path: &str, out: &mut Resources) {
        for (k, v) in entries(node) {
            let p = join(path, &k.name);
            if k.name != "resources" {
                self.skip(k.loc, &p, "only `deploy.resources.limits` is carried over: a sandbox is one container on this machine");
                continue;
            }
            for (rk, rv) in entries(v) {
                let rp = join(&p, &rk.name);
                if rk.name != "limits" {
                    self.skip(
                        rk.loc,
                        &rp,
                        "reservations are not carried over: only limits are",
                    );
                    continue;
                }
                for (lk, lv) in entries(rv) {
                    let lp = join(&rp, &lk.name);
                    match lk.name.as_str() {
                        "cpus" => out.cpus = self.number(lv, &lp),
                        "memory" => out.memory = self.memory_of(lv, &lp),
                        "pids" => out.pids = self.pids(lv, &lp),
                        _ => self.skip(lk.loc, &lp, "not carried over (cpus, memory and pids are)"),
                    }
                }
            }
        }
    }

    fn memory_of(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.text(node, path)?;
        let m = memory(&text);
        if m.is_none() {
            self.error(
                node.loc,
                path,
                format!("`{text}` is not a size (e.g. 512m, 1g, 1048576)"),
            );
        }
        m
    }

    fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        let text = self.text(node, path)?;
        match text.parse::<f64>() {
            Ok(n) if n > 0.0 && n.is_finite() => Some(n),
            _ => {
                self.error(node.loc, path, format!("`{text}` is not a positive number"));
                None
            }
        }
    }

    fn pids(&mut self, node: &Node, path: &str) -> Option<u32> {
        match node.value {
            Value::Int(n) if n >= 1 => u32::try_from(n).ok(),
            Value::Int(_) => {
                self.skip(node.loc, path, "no limit (0 or -1) is the default");
                None
            }
            _ => {
                self.error(node.loc, path, "must be a whole number");
                None
            }
        }
    }
}

/// A mapping's entries with YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`) expanded:
/// keys of the mapping itself win, then the merged mappings in order.
fn merge_keys(node: &Node) -> Vec<(Key, Node)> {
    let mut out: Vec<(Key, Node)> = entries(node)
        .iter()
        .filter(|(k, _)| k.name != "<<")
        .cloned()
        .collect();
    for (_, v) in entries(node).iter().filter(|(k, _)| k.name == "<<") {
        let sources: Vec<&Node> = match &v.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![v],
        };
        for source in sources {
            for (mk, mv) in entries(source) {
                if !out.iter().any(|(o, _)| o.name == mk.name) {
                    out.push((mk.clone(), mv.clone()));
                }
            }
        }
    }
    out
}

fn entries_of(node: &Node) -> &[(Key, Node)] {
    entries(node)
}

fn tmpfs(target: &str) -> Mount {
    Mount {
        kind: MountType::Tmpfs,
        source: None,
        target: target.to_string(),
        read_only: false,
        allow_outside_workspace: false,
        size_limit: None,
    }
}

/// Why a service key is not carried over.
fn service_skip_reason(key: &str) -> &'static str {
    match key {
        "privileged" => "pocket-dock never runs privileged sandboxes",
        "cap_add" => "pocket-dock only drops capabilities, never adds them",
        "devices" | "device_cgroup_rules" | "gpus" => "host devices are not passed into sandboxes",
        "pid" | "ipc" | "uts" | "userns_mode" | "cgroup" | "cgroup_parent" => {
            "a sandbox never shares a namespace with the host or another container"
        }
        "secrets" | "configs" => {
            "compose secrets and configs are not carried over: declare a sandbox `secrets` entry (file or env) or a bind mount by hand"
        }
        "extends" => {
            "not resolved: copy the keys of the base service into this one, then import again"
        }
        "logging" => "the log driver is the engine's; set `logs` (maxSize, maxFiles) by hand",
        "dns" | "dns_search" | "dns_opt" | "extra_hosts" | "domainname" => {
            "name resolution is the workspace network's"
        }
        "hostname" | "container_name" | "mac_address" => {
            "pocket-dock names and addresses containers itself"
        }
        "expose" => "sandboxes on a network reach every port of each other; nothing to declare",
        "ulimits" | "sysctls" | "shm_size" | "oom_kill_disable" | "oom_score_adj"
        | "cpu_shares" | "cpu_quota" | "cpu_period" | "cpuset" | "mem_reservation"
        | "memswap_limit" | "mem_swappiness" | "blkio_config" | "storage_opt" => {
            "only cpus, memory and pids limits are carried over"
        }
        "stop_signal" | "stop_grace_period" => "pocket-dock stops containers the engine's way",
        "stdin_open" | "tty" => "sandboxes run detached; use `pocket-dock shell` for a terminal",
        "init" => "not carried over: the image's entrypoint is process 1",
        "platform" => "images are for this machine's platform",
        "pull_policy" => {
            "pulls follow pocket-dock's own policy (an Image object's `from.pullPolicy`)"
        }
        "links" | "external_links" => {
            "obsolete: services reach each other by name on their networks"
        }
        "scale" => "a sandbox is one container",
        "annotations" | "isolation" | "runtime" | "volumes_from" | "network"
        | "credential_spec" | "attach" | "develop" | "post_start" | "pre_stop"
        | "use_api_socket" | "models" | "provider" => "no pocket-dock equivalent",
        _ if key.starts_with("x-") => "an extension field: compose ignores it too",
        _ => "not a service key pocket-dock knows",
    }
}

/// A pocket-dock document as JSON, for writing.
fn document<T: serde::Serialize>(
    kind: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    spec: &T,
) -> serde_json::Value {
    let metadata = Metadata {
        name: name.to_string(),
        labels,
        annotations: BTreeMap::new(),
    };
    serde_json::json!({
        "apiVersion": pocket_dock_spec::model::WRITTEN_API_VERSION,
        "kind": kind,
        "metadata": serde_json::to_value(&metadata).unwrap_or_default(),
        "spec": serde_json::to_value(spec).unwrap_or_default(),
    })
}

/// `name` made a DNS-1123 label: lower case, anything else `-`, trimmed.
fn sanitize(name: &str) -> String {
    let mut fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    fixed.truncate(63);
    fixed.trim_matches('-').to_string()
}

/// `path` without `.` and with `..` folded where it can be.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                match last {
                    Some(Component::Normal(_)) => {
                        out.pop();
                    }
                    Some(Component::RootDir) => {}
                    _ => out.push(".."),
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The `}` that closes a `${` (nested `${…}` in a default allowed).
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Splits `text` as a POSIX shell splits words (quotes and backslashes; no expansion).
/// `None` for an unterminated quote.
pub fn shell_split(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => word.push(c),
                            '\n' => {}
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next()
                    && c != '\n'
                {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// A compose size (`512m`, `1g`, `1.5g`, `1048576`, `100b`; units are powers of 1024) as a
/// pocket-dock quantity.
fn memory(text: &str) -> Option<String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits);
    let unit = unit.trim().trim_end_matches('b');
    let shift = match unit {
        "" => 0,
        "k" | "ki" => 10,
        "m" | "mi" => 20,
        "g" | "gi" => 30,
        "t" | "ti" => 40,
        _ => return None,
    };
    let bytes: u64 = if number.contains('.') {
        let value: f64 = number.parse().ok()?;
        let bytes = value * (1u64 << shift) as f64;
        if !bytes.is_finite() || !(1.0..=1e18).contains(&bytes) {
            return None;
        }
        bytes as u64
    } else {
        number.parse::<u64>().ok()?.checked_mul(1u64 << shift)?
    };
    if bytes == 0 {
        return None;
    }
    for (unit, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        if bytes.is_multiple_of(1u64 << shift) {
            return Some(format!("{}{unit}", bytes >> shift));
        }
    }
    Some(bytes.to_string())
}

/// A short-syntax port: `[[IP:]HOST:]CONTAINER[/PROTOCOL]`.
fn short_port(text: &str) -> Result<Port, String> {
    let (rest, protocol) = match text.rsplit_once('/') {
        Some((rest, "tcp")) => (rest, Protocol::Tcp),
        Some((rest, "udp")) => (rest, Protocol::Udp),
        Some((_, other)) => {
            return Err(format!(
                "the protocol `{other}` is not carried over (tcp and udp are)"
            ));
        }
        None => (text, Protocol::Tcp),
    };
    // An IPv6 address is bracketed.
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(after) => match after.split_once("]:") {
            Some((ip, rest)) => (Some(ip.to_string()), rest),
            None => return Err(format!("`{text}` is not a port")),
        },
        None => (None, rest),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [i, h, c]) => (Some(i.to_string()), Some(*h), *c),
        (Some(ip), [h, c]) => (Some(ip), Some(*h), *c),
        _ => return Err(format!("`{text}` is not [[IP:]HOST:]CONTAINER[/PROTOCOL]")),
    };
    if container.contains('-') || host.is_some_and(|h| h.contains('-')) {
        return Err("port ranges are not carried over: list each port".into());
    }
    let number = |s: &str| s.parse::<u16>().ok().filter(|n| *n > 0);
    let container = number(container).ok_or_else(|| format!("`{text}` is not a port"))?;
    let host = match host {
        None | Some("") => None,
        Some(h) => Some(number(h).ok_or_else(|| format!("`{text}` is not a port"))?),
    };
    Ok(Port {
        container,
        host,
        host_ip: ip.filter(|i| !i.is_empty()),
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            shell_split(r#"sh -c 'echo "hi there"' a\ b "x\"y""#),
            Some(vec![
                "sh".into(),
                "-c".into(),
                r#"echo "hi there""#.into(),
                "a b".into(),
                "x\"y".into()
            ])
        );
        assert_eq!(shell_split("'open"), None);
        assert_eq!(shell_split("  "), Some(vec![]));
    }

    #[test]
    fn sizes_become_quantities() {
        assert_eq!(memory("512m").as_deref(), Some("512Mi"));
        assert_eq!(memory("1g").as_deref(), Some("1Gi"));
        assert_eq!(memory("1.5g").as_deref(), Some("1536Mi"));
        assert_eq!(memory("1000").as_deref(), Some("1000"));
        assert_eq!(memory("64MB").as_deref(), Some("64Mi"));
        assert_eq!(memory("lots"), None);
        assert_eq!(memory("0"), None);
        assert_eq!(memory("99999999999999999999t"), None);
    }

    #[test]
    fn short_ports() {
        let p = short_port("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (p.container, p.host, p.host_ip.as_deref(), p.protocol),
            (80, Some(8080), Some("127.0.0.1"), Protocol::Udp)
        );
        let p = short_port("[::1]:8080:80").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("::1"));
        assert!(short_port("8000-8010:8000-8010").is_err());
        assert!(short_port("99999").is_err());
    }

    #[test]
    fn paths_are_normalized() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(normalize(Path::new("/../x")), PathBuf::from("/x"));
    }

    #[test]
    fn interpolates_like_compose() {
        let env: BTreeMap<String, String> = [
            ("A".to_string(), "1".to_string()),
            ("E".to_string(), String::new()),
        ]
        .into();
        let read = |_: &str| Err(String::new());
        let mut cx = Cx {
            file: "c.yaml".into(),
            base: PathBuf::new(),
            env: &env,
            read: &read,
            skipped: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
        };
        let loc = Loc::default();
        let mut i = |t: &str| cx.interpolate(t, loc, "p");
        assert_eq!(i("$A-${A}-$$A").as_deref(), Some("1-1-$A"));
        assert_eq!(i("${E:-d}/${E-d}/${B:-x${A}}").as_deref(), Some("d//x1"));
        assert_eq!(i("${A:+yes}${B:+no}").as_deref(), Some("yes"));
        assert_eq!(i("${B:?needed}"), None);
        assert_eq!(i("${A"), None);
        assert_eq!(i("cost $5").as_deref(), Some("cost $5"));
        assert_eq!(cx.errors.len(), 2);
    }
}
