//! Semantic checks, per object and across objects: names, references, cycles, paths that
//! escape the workspace, port conflicts, units. Runs on documents whose structure already
//! passed, so it works with typed values and uses the YAML tree only to locate problems.
//!
//! Every check is linear (or n log n) in what the documents declare, and nothing recurses:
//! a workspace can hold 10,000 objects in one chain.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use crate::diagnostic::{Diagnostic, FieldPath, Issue, MAX_PER_DOCUMENT, Seg, shown};
use crate::duration::parse_duration;
use crate::kind::Kind;
use crate::load::{Entry, KnownElsewhere, ResolvedPaths, Source};
use crate::model::{
    Build, Condition, DEFAULT_NETWORK, Dependency, DesiredState, ImageSpec, MountType, Network,
    NetworkAttachment, NetworkSpec, Profile, Protocol, PullSecret, RestartPolicy, RunMode,
    SandboxSpec, SnapshotSpec, Spec, WorkspaceSpec,
};
use crate::quantity::parse_memory;
use crate::yaml::{Loc, Node, Value};

#[path = "validate_hardening.rs"]
mod hardening;
pub use hardening::PROTECTED_FOLDERS;

/// What validation found besides problems.
pub(crate) struct Validated {
    /// The first `Workspace` document's name and settings, if there is one.
    pub workspace_name: Option<String>,
    pub settings: WorkspaceSpec,
    /// Host paths resolved while checking them, by the declaring document.
    pub resolved: BTreeMap<Source, ResolvedPaths>,
}

/// Runs every check. Objects in `known_elsewhere` count as declared for references.
pub(crate) fn validate(
    root: &Path,
    entries: &[Entry],
    known_elsewhere: &KnownElsewhere,
    out: &mut Vec<Diagnostic>,
) -> Validated {
    let (workspace_name, settings) = entries
        .iter()
        .find(|e| e.object.kind == Kind::Workspace)
        .map(|e| match &e.object.spec {
            Spec::Workspace(spec) => (Some(e.object.metadata.name.clone()), spec.clone()),
            _ => (None, WorkspaceSpec::default()),
        })
        .unwrap_or_default();
    let policy_source = entries
        .iter()
        .find(|e| e.object.kind == Kind::Workspace)
        .filter(|_| settings.policy.is_some())
        .map(|e| {
            let loc = locate(&e.node, &spec().key("policy"));
            format!("{}:{}", e.object.source.file.display(), loc.line)
        });
    let mut ctx = Ctx {
        root,
        entries,
        settings: &settings,
        policy_source,
        first: HashMap::new(),
        known_elsewhere,
        resolved: BTreeMap::new(),
        defaults: entries.iter().find_map(|e| match &e.object.spec {
            Spec::Workspace(w) => w.defaults.clone(),
            _ => None,
        }),
        reported: BTreeMap::new(),
        template_problems: HashSet::new(),
        checking_template: None,
        out,
    };
    ctx.index();
    // Templates first, bases before what extends them, so that a problem is reported once,
    // where the field is written.
    let mut templates: Vec<&Entry> = entries.iter().filter(|e| e.shape.is_some()).collect();
    templates.sort_by_key(|e| e.shape.as_ref().map_or(0, |s| s.depth));
    for entry in templates {
        ctx.check_template(entry);
    }
    for entry in entries {
        ctx.check_name(entry);
        match &entry.object.spec {
            Spec::Sandbox(spec) => ctx.check_sandbox(entry, spec),
            Spec::Image(spec) => ctx.check_image(entry, spec),
            Spec::Snapshot(spec) => ctx.check_snapshot(entry, spec),
            Spec::Network(spec) => ctx.check_network(entry, spec),
            Spec::Workspace(w) => {
                ctx.check_policy(entry, w);
                if let Some(secret) = &w.pull_secret {
                    ctx.check_pull_secret(entry, secret);
                }
                if let Some(network) = w.defaults.as_ref().and_then(|d| d.network.as_ref()) {
                    let path = spec().key("defaults").key("network");
                    ctx.check_egress(entry, path, network);
                }
                if let Some(logs) = w.defaults.as_ref().and_then(|d| d.logs.as_ref()) {
                    ctx.check_logs(entry, spec().key("defaults").key("logs"), logs);
                }
            }
            Spec::Pool(spec) => ctx.check_pool(entry, spec),
            Spec::Volume(_) | Spec::Template(_) => {}
        }
    }
    ctx.check_ports();
    ctx.check_network_names();
    ctx.check_cycles();
    ctx.count_unlisted();
    let resolved = ctx.resolved;
    Validated {
        workspace_name,
        settings,
        resolved,
    }
}

struct Ctx<'a> {
    root: &'a Path,
    entries: &'a [Entry],
    /// The first declaration of each kind/name.
    first: HashMap<(Kind, &'a str), usize>,
    known_elsewhere: &'a KnownElsewhere,
    resolved: BTreeMap<Source, ResolvedPaths>,
    /// The first Workspace document's sandbox defaults.
    defaults: Option<crate::model::SandboxDefaults>,
    /// The first Workspace document's settings, and where its `policy` is, for messages.
    settings: &'a WorkspaceSpec,
    policy_source: Option<String>,
    /// How many problems each document has, to list at most [`MAX_PER_DOCUMENT`].
    reported: BTreeMap<Source, Reported>,
    /// The fields of declared templates that have problems of their own, by template and
    /// path (`spec.…` of the template's sandbox): a sandbox that takes such a field as it is
    /// is not told again (it is not offered while the template's file has problems).
    template_problems: HashSet<(String, String)>,
    /// The template whose fields `check_sandbox` is checking now, if any.
    checking_template: Option<String>,
    out: &'a mut Vec<Diagnostic>,
}

#[derive(Default)]
struct Reported {
    listed: usize,
    /// Problems beyond the limit, counted but not located (that walks the document).
    unlisted: usize,
    /// The furthest location listed, where the closing count goes.
    last: Loc,
}

/// Finds where `path` points in a document: the key for mappings and lists (so the report
/// sits on the line that introduces them), the value for scalars; the nearest existing
/// ancestor when part of the path is absent.
pub(crate) fn locate(root: &Node, path: &FieldPath) -> Loc {
    let mut node = root;
    let mut loc = root.loc;
    for seg in &path.0 {
        let next = match seg {
            Seg::Key(k) => node.get(k).map(|n| (node.key_loc(k).unwrap_or(n.loc), n)),
            Seg::Index(i) => match &node.value {
                Value::Seq(items) => items.get(*i).map(|n| (n.loc, n)),
                _ => None,
            },
        };
        let Some((key_loc, child)) = next else {
            return loc;
        };
        node = child;
        loc = match child.value {
            Value::Map(_) | Value::Seq(_) => key_loc,
            _ => child.loc,
        };
    }
    loc
}

fn spec() -> FieldPath {
    FieldPath::root().key("spec")
}

impl<'a> Ctx<'a> {
    fn report(
        &mut self,
        entry: &Entry,
        path: FieldPath,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.report_hint(entry, path, code, message, None::<String>);
    }

    fn report_hint(
        &mut self,
        entry: &Entry,
        path: FieldPath,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<impl Into<String>>,
    ) {
        let contributor = entry.template.as_ref().and_then(|o| o.contributor(&path));
        if let Some(template) = contributor
            && self
                .template_problems
                .contains(&(template.to_string(), path.to_string()))
        {
            return;
        }
        if let Some(name) = &self.checking_template {
            self.template_problems
                .insert((name.clone(), path.to_string()));
        }
        let source = &entry.object.source;
        let reported = match self.reported.get_mut(source) {
            Some(reported) => reported,
            None => self.reported.entry(source.clone()).or_default(),
        };
        if reported.listed >= MAX_PER_DOCUMENT {
            reported.unlisted += 1;
            return;
        }
        let loc = locate(&entry.node, &path);
        reported.listed += 1;
        reported.last = reported.last.max(loc);
        let mut message: String = message.into();
        if let Some(template) = contributor {
            message.push_str(&format!(" (from template `{template}`)"));
        }
        let mut issue = Issue::new(loc, path, code, message);
        if let Some(hint) = hint {
            issue = issue.hint(hint);
        }
        self.out.push(issue.in_file(&entry.object.source.file));
    }

    /// One line per document whose problems were not all listed.
    fn count_unlisted(&mut self) {
        for (source, reported) in &self.reported {
            if reported.unlisted > 0 {
                let closing = Issue::more_problems(reported.last, reported.unlisted);
                self.out.push(closing.in_file(&source.file));
            }
        }
    }

    fn index(&mut self) {
        let entries = self.entries;
        for (i, entry) in entries.iter().enumerate() {
            let kind = entry.object.kind;
            let name = entry.object.metadata.name.as_str();
            if kind == Kind::Workspace {
                if let Some(&first) = self.first.get(&(kind, "")) {
                    let at = entries[first].object.source.clone();
                    self.report(
                        entry,
                        FieldPath::root().key("kind"),
                        "duplicate-workspace",
                        format!(
                            "a workspace has at most one Workspace document (the first is at {at})"
                        ),
                    );
                } else {
                    self.first.insert((kind, ""), i);
                }
                continue;
            }
            match self.first.get(&(kind, name)) {
                Some(&first) => {
                    let at = entries[first].object.source.clone();
                    self.report(
                        entry,
                        FieldPath::root().key("metadata").key("name"),
                        "duplicate-name",
                        format!("duplicate {kind} `{name}` (first declared at {at})"),
                    );
                }
                None => {
                    self.first.insert((kind, name), i);
                }
            }
        }
    }

    /// Whether `path` was removed (or its parent was missing) when a document with
    /// structural problems was decoded; checks for an absent field then stay quiet.
    fn pruned(&self, entry: &Entry, path: &FieldPath) -> bool {
        entry
            .pruned
            .iter()
            .any(|p| p.0.starts_with(&path.0) || path.0.starts_with(&p.0))
    }

    fn exists(&self, kind: Kind, name: &str) -> bool {
        self.first.contains_key(&(kind, name))
            || self.known_elsewhere.contains(&(kind, name.to_string()))
    }

    fn resolved(&mut self, entry: &Entry) -> &mut ResolvedPaths {
        self.resolved
            .entry(entry.object.source.clone())
            .or_default()
    }

    fn check_reference(&mut self, entry: &Entry, path: FieldPath, kind: Kind, name: &str) {
        if !self.exists(kind, name) {
            let hint = match kind {
                Kind::Volume => format!("declare it with a `kind: Volume` document named `{name}`"),
                _ => format!(
                    "declare {} {kind} named `{name}`, or fix the name",
                    article(kind)
                ),
            };
            self.report_hint(
                entry,
                path,
                "unknown-reference",
                format!("{kind} `{name}` is not declared in this workspace"),
                Some(hint),
            );
        }
    }

    fn check_name(&mut self, entry: &Entry) {
        let name = &entry.object.metadata.name;
        if let Some(problem) = dns_label_problem(name) {
            let hint = suggest_name(name).map(|n| format!("try `{n}`"));
            self.report_hint(
                entry,
                FieldPath::root().key("metadata").key("name"),
                "invalid-name",
                format!("`{name}` is not a valid name: {problem}"),
                hint,
            );
        }
    }

    /// A declared template's merged fields, checked as a sandbox's would be (an image is
    /// not needed: the sandbox may give it), reported at the template's own lines (what it
    /// inherits: at its `extends:` line) under `spec.sandbox`.
    fn check_template(&mut self, entry: &Entry) {
        let Some(shape) = &entry.shape else { return };
        let before = self.out.len();
        self.checking_template = Some(entry.object.metadata.name.clone());
        self.check_sandbox(&shape.entry, &shape.spec);
        self.checking_template = None;
        for d in &mut self.out[before..] {
            if let Some(rest) = d.path.strip_prefix("spec.") {
                d.path = format!("spec.sandbox.{rest}");
            }
        }
    }

    fn check_sandbox(&mut self, entry: &Entry, s: &SandboxSpec) {
        let name = entry.object.metadata.name.as_str();
        let image_pruned = self.pruned(entry, &spec().key("image"))
            || self.pruned(entry, &spec().key("imageFrom"));
        match (&s.image, &s.image_from) {
            (None, None) if image_pruned => {}
            (None, None) => self.report_hint(
                entry,
                spec(),
                "missing-image",
                match &s.template {
                    Some(t) => format!(
                        "a sandbox needs `image` or `imageFrom`, and its template `{t}` names neither"
                    ),
                    None => "a sandbox needs `image` or `imageFrom`".to_string(),
                },
                Some("e.g. `image: localhost/tools:1`"),
            ),
            (Some(_), Some(_)) => self.report(
                entry,
                spec().key("imageFrom"),
                "conflicting-fields",
                "set either `image` or `imageFrom`, not both",
            ),
            (Some(reference), None) => {
                if let Some(problem) = reference_problem(reference) {
                    self.report(entry, spec().key("image"), "invalid-reference", problem);
                }
            }
            (None, Some(from)) => match (&from.image, &from.snapshot) {
                (Some(image), None) => self.check_reference(
                    entry,
                    spec().key("imageFrom").key("image"),
                    Kind::Image,
                    image,
                ),
                (None, Some(snapshot)) => self.check_reference(
                    entry,
                    spec().key("imageFrom").key("snapshot"),
                    Kind::Snapshot,
                    snapshot,
                ),
                _ => self.report(
                    entry,
                    spec().key("imageFrom"),
                    "conflicting-fields",
                    "`imageFrom` needs exactly one of `image` and `snapshot`",
                ),
            },
        }
        for (field, list) in [("command", &s.command), ("args", &s.args)] {
            if list.as_ref().is_some_and(|l| l.is_empty()) {
                self.report(
                    entry,
                    spec().key(field),
                    "empty",
                    format!("`{field}` must not be empty; leave it out for the default"),
                );
            }
        }
        if let Some(dir) = &s.workdir
            && !dir.starts_with('/')
        {
            self.report(
                entry,
                spec().key("workdir"),
                "not-absolute",
                format!("`{dir}` must be an absolute path"),
            );
        }
        for key in s.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                self.report(
                    entry,
                    spec().key("env").key(key),
                    "invalid-env",
                    format!("`{key}` is not a valid variable name"),
                );
            }
        }
        self.check_secrets(entry, s);
        if s.user.as_deref() == Some("") {
            self.report(
                entry,
                spec().key("user"),
                "empty",
                "`user` must not be empty",
            );
        }
        self.check_mounts(entry, s);
        self.check_hardening(entry, s);
        for (i, port) in s.ports.iter().enumerate() {
            if let Some(ip) = &port.host_ip
                && ip.parse::<IpAddr>().is_err()
            {
                self.report(
                    entry,
                    spec().key("ports").index(i).key("hostIp"),
                    "invalid-ip",
                    format!("`{ip}` is not an IP address"),
                );
            }
        }
        if let Some(resources) = &s.resources {
            let path = spec().key("resources");
            if resources.cpus.is_some_and(|c| c <= 0.0 || !c.is_finite()) {
                self.report(
                    entry,
                    path.key("cpus"),
                    "out-of-range",
                    "must be more than 0",
                );
            }
            if let Some(memory) = &resources.memory
                && let Err(problem) = parse_memory(memory)
            {
                self.report_hint(
                    entry,
                    path.key("memory"),
                    "invalid-quantity",
                    problem,
                    Some("e.g. `512Mi` or `2Gi`"),
                );
            }
        }
        if let Some(logs) = &s.logs {
            self.check_logs(entry, spec().key("logs"), logs);
        }
        if let Some(probe) = &s.readiness {
            let path = spec().key("readiness");
            if probe.exec.is_empty() {
                self.report(
                    entry,
                    path.key("exec"),
                    "empty",
                    "the probe needs a command",
                );
            }
            for (field, value) in [("interval", &probe.interval), ("timeout", &probe.timeout)] {
                if let Some(text) = value {
                    match parse_duration(text) {
                        Ok(d) if d.is_zero() => self.report(
                            entry,
                            path.key(field),
                            "out-of-range",
                            "must be more than 0",
                        ),
                        Ok(_) => {}
                        Err(e) => {
                            self.report(entry, path.key(field), "invalid-duration", e.to_string())
                        }
                    }
                }
            }
        }
        if let Some(security) = &s.security {
            let path = spec().key("security");
            for (i, cap) in security.drop_capabilities.iter().enumerate() {
                let bare = cap.strip_prefix("CAP_").unwrap_or(cap);
                if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    self.report_hint(
                        entry,
                        path.key("dropCapabilities").index(i),
                        "invalid-capability",
                        format!("`{cap}` is not a capability name"),
                        Some("capabilities are upper-case, e.g. `NET_RAW`, or `ALL`"),
                    );
                }
            }
        }
        let mut seen = HashSet::new();
        for (i, dep) in s.depends_on.iter().enumerate() {
            let path = spec().key("dependsOn").index(i);
            let dep_name = dep.name.as_str();
            if dep_name == name {
                self.report(
                    entry,
                    path,
                    "self-reference",
                    "a sandbox cannot depend on itself",
                );
            } else if !seen.insert(dep_name) {
                self.report(
                    entry,
                    path,
                    "duplicate",
                    format!("`{dep_name}` is listed twice"),
                );
            } else {
                self.check_reference(entry, path.clone(), Kind::Sandbox, dep_name);
                self.check_condition(entry, path, dep);
            }
        }
        self.check_networks(entry, s);
        self.check_run_and_hooks(entry, s);
        self.check_lifetime(entry, s);
    }

    /// `lifetime`: positive durations, at least one of them, the idle limit within the
    /// lifetime, and not on a one-shot sandbox.
    fn check_lifetime(&mut self, entry: &Entry, s: &SandboxSpec) {
        let Some(lifetime) = &s.lifetime else {
            return;
        };
        let path = spec().key("lifetime");
        if s.run == RunMode::Once {
            self.report_hint(
                entry,
                path.clone(),
                "conflicting-fields",
                "a one-shot sandbox (`run: once`) ends by itself; `lifetime` bounds long-lived sandboxes",
                Some("remove `lifetime`, or make the sandbox long-lived"),
            );
            return;
        }
        let mut parsed = [None, None];
        for (slot, (field, text)) in parsed.iter_mut().zip([
            ("idleTimeout", &lifetime.idle_timeout),
            ("maxLifetime", &lifetime.max_lifetime),
        ]) {
            let Some(text) = text else {
                continue;
            };
            match parse_duration(text) {
                Ok(d) if d < std::time::Duration::from_secs(1) => self.report(
                    entry,
                    path.key(field),
                    "out-of-range",
                    "must be at least 1s",
                ),
                Ok(d) => *slot = Some(d),
                Err(e) => {
                    self.report(entry, path.key(field), "invalid-duration", e.to_string());
                }
            }
        }
        match (lifetime.idle_timeout.is_none() && lifetime.max_lifetime.is_none(), parsed) {
            (true, _) => self.report_hint(
                entry,
                path,
                "empty",
                "`lifetime` sets no limit",
                Some("set `idleTimeout`, `maxLifetime` or both, e.g. `{idleTimeout: 30m, maxLifetime: 8h}`"),
            ),
            (false, [Some(idle), Some(max)]) if idle >= max => self.report_hint(
                entry,
                path.key("idleTimeout"),
                "out-of-range",
                format!(
                    "`idleTimeout` ({}) must be shorter than `maxLifetime` ({}): the sandbox is removed before it could idle that long",
                    lifetime.idle_timeout.as_deref().unwrap_or_default().trim(),
                    lifetime.max_lifetime.as_deref().unwrap_or_default().trim(),
                ),
                Some("shorten `idleTimeout` or drop it"),
            ),
            _ => {}
        }
    }

    /// `Completed` needs a one-shot dependency; a one-shot never becomes `Ready`.
    fn check_condition(&mut self, entry: &Entry, path: FieldPath, dep: &Dependency) {
        let Some(&j) = self.first.get(&(Kind::Sandbox, dep.name.as_str())) else {
            return;
        };
        let Spec::Sandbox(target) = &self.entries[j].object.spec else {
            return;
        };
        let once = target.run == RunMode::Once;
        match dep.condition {
            Condition::Completed if !once => self.report_hint(
                entry,
                path.key("condition"),
                "invalid-condition",
                format!(
                    "`Completed` waits for a one-shot sandbox, and `{}` is not one",
                    dep.name
                ),
                Some("give it `run: once`, or wait for `Ready` or `Started`"),
            ),
            Condition::Ready if once => self.report_hint(
                entry,
                path.key("condition"),
                "invalid-condition",
                format!(
                    "`{}` is a one-shot sandbox (`run: once`); it completes rather than becomes ready",
                    dep.name
                ),
                Some("wait for `Completed`"),
            ),
            Condition::Ready | Condition::Completed
                if matches!(target.state, DesiredState::Stopped | DesiredState::Paused) =>
            {
                let state = if target.state == DesiredState::Paused {
                    "paused"
                } else {
                    "stopped"
                };
                self.report_hint(
                    entry,
                    path.key("condition"),
                    "invalid-condition",
                    format!(
                        "`{}` is declared `state: {state}`, so it never becomes `{}`",
                        dep.name,
                        dep.condition.as_str()
                    ),
                    Some("start it (`state: running`), or depend on it with `Started`"),
                )
            }
            _ => {}
        }
    }

    /// An egress allow-list: every entry `HOST:PORT` (see `crate::egress`), none twice, and
    /// at least one.
    /// `logs` of a sandbox or of the workspace's defaults (`maxFiles`' range is the
    /// schema's).
    fn check_logs(&mut self, entry: &Entry, path: FieldPath, logs: &crate::model::Logs) {
        if let Some(size) = &logs.max_size
            && let Err(problem) = crate::quantity::parse_log_size(size)
        {
            self.report_hint(
                entry,
                path.key("maxSize"),
                "invalid-quantity",
                problem,
                Some("e.g. `10Mi`"),
            );
        }
    }

    fn check_egress(&mut self, entry: &Entry, path: FieldPath, network: &Network) {
        let Some(list) = network.egress() else {
            return;
        };
        let path = path.key("egress");
        if list.is_empty() {
            self.report_hint(
                entry,
                path,
                "empty",
                "an empty egress list allows nothing",
                Some("write `network: none` for no network"),
            );
            return;
        }
        let mut seen = HashSet::new();
        for (i, text) in list.iter().enumerate() {
            match crate::egress::EgressRule::parse(text) {
                Ok(rule) => {
                    if !seen.insert(rule.to_string()) {
                        self.report(
                            entry,
                            path.index(i),
                            "duplicate",
                            format!("`{text}` is listed twice"),
                        );
                    }
                }
                Err(problem) => self.report(
                    entry,
                    path.index(i),
                    "invalid-egress",
                    format!("`{text}`: {problem}"),
                ),
            }
        }
    }

    fn check_networks(&mut self, entry: &Entry, s: &SandboxSpec) {
        // What the sandbox ends up with, workspace defaults included: a default `none`
        // or `locked` would silently leave a listed network unjoined.
        let defaults = self.defaults.clone().unwrap_or_default();
        let profile = s
            .security
            .as_ref()
            .and_then(|sec| sec.profile)
            .unwrap_or_else(|| crate::locked::default_profile(self.settings));
        let locked = profile == Profile::Locked;
        let network = s.network.clone().or(defaults.network);
        if let Some(network) = &s.network {
            self.check_egress(entry, spec().key("network"), network);
        }
        let egress = network.as_ref().and_then(Network::egress).is_some();
        if !s.networks.is_empty() && egress {
            let why = if s.network.is_none() {
                "the workspace's default `network.egress`"
            } else {
                "`network.egress`"
            };
            self.report_hint(
                entry,
                spec().key("networks"),
                "conflicting-fields",
                format!(
                    "{why} puts the sandbox on a network of its own with no route out, so it cannot join `networks`"
                ),
                Some("remove `networks`, or set `network: default` on this sandbox"),
            );
        } else if !s.networks.is_empty() && (network == Some(Network::None) || locked) {
            let from_defaults =
                s.network.is_none() && s.security.as_ref().and_then(|sec| sec.profile).is_none();
            let why = match (locked, from_defaults) {
                (true, true) => "the workspace's default `locked` profile has no network",
                (true, false) => "the `locked` profile has no network",
                (false, true) => "the workspace's default `network: none` has no network",
                (false, false) => "`network: none` has no network",
            };
            self.report_hint(
                entry,
                spec().key("networks"),
                "conflicting-fields",
                format!("{why}, so it cannot join `networks`"),
                Some(if locked {
                    "remove `networks`, or give this sandbox `security.profile: default`"
                } else {
                    "remove `networks`, or set `network: default` on this sandbox"
                }),
            );
        }
        let mut seen = HashSet::new();
        for (i, attachment) in s.networks.iter().enumerate() {
            let path = spec().key("networks").index(i);
            if !seen.insert(attachment.name.as_str()) {
                self.report(
                    entry,
                    path,
                    "duplicate",
                    format!("network `{}` is listed twice", attachment.name),
                );
                continue;
            }
            if attachment.name != DEFAULT_NETWORK {
                self.check_reference(entry, path.clone(), Kind::Network, &attachment.name);
            }
            for (a, alias) in attachment.aliases.iter().enumerate() {
                self.check_alias(entry, path.key("aliases").index(a), alias);
            }
        }
        for (a, alias) in s.aliases.iter().enumerate() {
            self.check_alias(entry, spec().key("aliases").index(a), alias);
        }
    }

    fn check_alias(&mut self, entry: &Entry, path: FieldPath, alias: &str) {
        if let Some(problem) = dns_label_problem(alias) {
            self.report(
                entry,
                path,
                "invalid-alias",
                format!("`{alias}` is not a valid name on a network: {problem}"),
            );
        }
    }

    fn check_run_and_hooks(&mut self, entry: &Entry, s: &SandboxSpec) {
        if s.run == RunMode::Once {
            if s.command.is_none() && s.args.is_none() {
                self.report_hint(
                    entry,
                    spec().key("run"),
                    "missing-command",
                    "a one-shot sandbox (`run: once`) needs `command` or `args`: without them it idles and never completes",
                    Some("e.g. `command: [sh, -c, ./migrate.sh]`"),
                );
            }
            if matches!(
                s.restart_policy,
                Some(RestartPolicy::Always | RestartPolicy::OnFailure)
            ) {
                self.report(
                    entry,
                    spec().key("restartPolicy"),
                    "conflicting-fields",
                    "a one-shot sandbox (`run: once`) is never restarted; leave `restartPolicy` out or set `Never`",
                );
            }
            if s.readiness.is_some() {
                self.report(
                    entry,
                    spec().key("readiness"),
                    "conflicting-fields",
                    "a one-shot sandbox (`run: once`) completes rather than becomes ready; remove `readiness`",
                );
            }
            if s.hooks.is_some() {
                self.report_hint(
                    entry,
                    spec().key("hooks"),
                    "conflicting-fields",
                    "hooks run in a long-lived sandbox; a one-shot sandbox (`run: once`) may be gone before they start",
                    Some("put the steps in its command"),
                );
            }
            if s.state == DesiredState::Paused {
                self.report_hint(
                    entry,
                    spec().key("state"),
                    "conflicting-fields",
                    "a one-shot sandbox (`run: once`) runs to completion; it cannot be held paused",
                    Some("leave `state` out, or declare `state: stopped`"),
                );
            }
        }
        let Some(hooks) = &s.hooks else {
            return;
        };
        let path = spec().key("hooks");
        for (field, commands) in [
            ("postCreate", &hooks.post_create),
            ("postStart", &hooks.post_start),
        ] {
            for (i, argv) in commands.iter().enumerate() {
                if argv.is_empty() || argv[0].is_empty() {
                    self.report(
                        entry,
                        path.key(field).index(i),
                        "empty",
                        "a hook needs a command",
                    );
                }
            }
        }
        if let Some(text) = &hooks.timeout {
            match parse_duration(text) {
                Ok(d) if d.is_zero() => self.report(
                    entry,
                    path.key("timeout"),
                    "out-of-range",
                    "must be more than 0",
                ),
                Ok(_) => {}
                Err(e) => self.report(
                    entry,
                    path.key("timeout"),
                    "invalid-duration",
                    e.to_string(),
                ),
            }
        }
    }

    fn check_network(&mut self, entry: &Entry, n: &NetworkSpec) {
        if let Some(subnet) = &n.subnet
            && let Some(problem) = cidr_problem(subnet)
        {
            self.report_hint(
                entry,
                spec().key("subnet"),
                "invalid-subnet",
                format!("`{subnet}` is not a subnet: {problem}"),
                Some("CIDR form, e.g. `10.89.20.0/24`"),
            );
        }
        for (sandbox, aliases) in &n.aliases {
            let path = spec().key("aliases").key(sandbox);
            self.check_reference(entry, path.clone(), Kind::Sandbox, sandbox);
            for (a, alias) in aliases.iter().enumerate() {
                self.check_alias(entry, path.index(a), alias);
            }
        }
    }

    /// Every name on a network (sandbox names and aliases) belongs to one sandbox.
    fn check_network_names(&mut self) {
        let entries = self.entries;
        // network -> name -> (entry index, path) of its first claim
        let mut claims: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let network_aliases: BTreeMap<&str, &BTreeMap<String, Vec<String>>> = entries
            .iter()
            .filter_map(|e| match &e.object.spec {
                Spec::Network(n) => Some((e.object.metadata.name.as_str(), &n.aliases)),
                _ => None,
            })
            .collect();
        for (i, entry) in entries.iter().enumerate() {
            let Spec::Sandbox(s) = &entry.object.spec else {
                continue;
            };
            let name = entry.object.metadata.name.as_str();
            if self.first.get(&(Kind::Sandbox, name)) != Some(&i)
                || matches!(s.network, Some(Network::None | Network::Egress(_)))
            {
                continue;
            }
            let default = [NetworkAttachment::named(DEFAULT_NETWORK)];
            let joined = if s.networks.is_empty() {
                &default[..]
            } else {
                &s.networks[..]
            };
            for (n, attachment) in joined.iter().enumerate() {
                let from_network = network_aliases
                    .get(attachment.name.as_str())
                    .and_then(|a| a.get(name))
                    .into_iter()
                    .flatten();
                let mut names: BTreeSet<&str> = BTreeSet::new();
                names.insert(name);
                names.extend(s.aliases.iter().map(String::as_str));
                names.extend(attachment.aliases.iter().map(String::as_str));
                names.extend(from_network.map(String::as_str));
                for claimed in names {
                    let owners = claims.entry(attachment.name.clone()).or_default();
                    match owners.get(claimed) {
                        Some(&other) if other != i => {
                            let other_name = entries[other].object.metadata.name.clone();
                            let path = if s.networks.is_empty() {
                                spec().key("aliases")
                            } else {
                                spec().key("networks").index(n)
                            };
                            self.report_hint(
                                entry,
                                path,
                                "duplicate-alias",
                                format!(
                                    "`{claimed}` on network `{}` is already Sandbox `{other_name}`'s name",
                                    attachment.name
                                ),
                                Some("each name on a network belongs to one sandbox; pick another alias"),
                            );
                        }
                        Some(_) => {}
                        None => {
                            owners.insert(claimed.to_string(), i);
                        }
                    }
                }
            }
        }
    }

    /// `secrets`: names usable as file names and unique, one source each, and every
    /// `valueFrom` naming one of them. Nothing is read: a secret's file or variable need only
    /// exist when the sandbox is reconciled (a missing one stops that sandbox, by name).
    fn check_secrets(&mut self, entry: &Entry, s: &SandboxSpec) {
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, secret) in s.secrets.iter().enumerate() {
            let path = spec().key("secrets").index(i);
            if let Some(problem) = secret_name_problem(&secret.name) {
                self.report(
                    entry,
                    path.key("name"),
                    "invalid-name",
                    format!(
                        "`{}` is not a valid secret name: {problem}",
                        shown(&secret.name)
                    ),
                );
            } else if let Some(first) = names.insert(secret.name.as_str(), i) {
                self.report(
                    entry,
                    path.key("name"),
                    "duplicate",
                    format!(
                        "secret `{}` is already declared at secrets[{first}]",
                        secret.name
                    ),
                );
            }
            self.check_file_or_env(
                entry,
                &path,
                (secret.file.as_deref(), secret.env.as_deref()),
                "a secret",
                "e.g. `file: secrets/token` or `env: API_TOKEN`",
            );
        }
        let mut uses_secret = false;
        for (key, value) in &s.env {
            let Some(secret) = value.secret() else {
                continue;
            };
            uses_secret = true;
            if !is_shell_name(key) {
                self.report_hint(
                    entry,
                    spec().key("env").key(key),
                    "invalid-env",
                    format!(
                        "`{}` cannot be set from a secret: not a shell variable name",
                        shown(key)
                    ),
                    Some("use letters, digits and `_`, not starting with a digit"),
                );
            }
            if !s.secrets.iter().any(|d| d.name == secret) {
                let declared: Vec<&str> = s.secrets.iter().map(|d| d.name.as_str()).collect();
                let hint = match crate::diagnostic::closest(secret, declared.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => {
                        format!("declare it under `secrets`: `- {{name: {secret}, file: PATH}}`")
                    }
                };
                self.report_hint(
                    entry,
                    spec().key("env").key(key).key("valueFrom").key("secret"),
                    "unknown-reference",
                    format!(
                        "secret `{}` is not declared in this sandbox's `secrets`",
                        shown(secret)
                    ),
                    Some(hint),
                );
            }
        }
        // The files are given to the sandbox's user by number (the image's `/etc/passwd`
        // is not read on the host).
        if let Some(user) = &s.user
            && !s.secrets.is_empty()
            && !is_numeric_user(user)
        {
            self.report_hint(
                entry,
                spec().key("user"),
                "invalid-user",
                format!(
                    "a sandbox with `secrets` needs a numeric `user`, not `{}`",
                    shown(user)
                ),
                Some("write it as uid or uid:gid, e.g. `1000:1000`"),
            );
        }
        // The variable is set by a shell in front of the command; with only `args`, the
        // command is the image's entrypoint, which is not known when the sandbox is planned.
        if uses_secret && s.command.is_none() && s.args.is_some() {
            self.report_hint(
                entry,
                spec().key("args"),
                "missing-field",
                "an `env` entry from a secret needs `command` when `args` is set",
                Some("spell out the image's entrypoint as `command`"),
            );
        }
    }

    fn check_mounts(&mut self, entry: &Entry, s: &SandboxSpec) {
        let mut targets: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, mount) in s.mounts.iter().enumerate() {
            let path = spec().key("mounts").index(i);
            if !mount.target.starts_with('/') {
                self.report(
                    entry,
                    path.key("target"),
                    "not-absolute",
                    format!("`{}` must be an absolute path", mount.target),
                );
            } else if let Some(first) = targets.insert(mount.target.as_str(), i) {
                self.report(
                    entry,
                    path.key("target"),
                    "duplicate",
                    format!(
                        "`{}` is already the target of mounts[{first}]",
                        mount.target
                    ),
                );
            }
            match (mount.kind, &mount.source) {
                (MountType::Bind | MountType::Volume, None) => {
                    self.report(
                        entry,
                        path.clone(),
                        "missing-field",
                        format!("a `{}` mount needs a `source`", type_name(mount.kind)),
                    );
                }
                (MountType::Tmpfs, Some(_)) => {
                    self.report(
                        entry,
                        path.key("source"),
                        "conflicting-fields",
                        "a `tmpfs` mount has no `source`",
                    );
                }
                (MountType::Volume, Some(volume)) => {
                    self.check_reference(entry, path.key("source"), Kind::Volume, volume);
                }
                (MountType::Bind, Some(source)) => match check_host_path(
                    self.root,
                    source,
                    mount.allow_outside_workspace,
                    PathKind::Any,
                ) {
                    Ok(resolved) => {
                        self.resolved(entry).mounts.insert(i, resolved);
                    }
                    Err((code, message, hint)) => {
                        self.report_hint(entry, path.key("source"), code, message, hint);
                    }
                },
                (MountType::Tmpfs, None) => {}
            }
            if mount.allow_outside_workspace && mount.kind != MountType::Bind {
                self.report(
                    entry,
                    path.key("allowOutsideWorkspace"),
                    "conflicting-fields",
                    "only `bind` mounts have a host path",
                );
            }
        }
    }

    fn check_image(&mut self, entry: &Entry, s: &ImageSpec) {
        let sources = [s.build.is_some(), s.from.is_some(), s.embedded.is_some()];
        let pruned = ["build", "from", "embedded"]
            .iter()
            .any(|f| self.pruned(entry, &spec().key(f)));
        match sources.iter().filter(|x| **x).count() {
            0 if pruned => {}
            0 => self.report_hint(
                entry,
                spec(),
                "missing-source",
                "an image needs one of `build`, `from` and `embedded`",
                Some("e.g. `embedded: base`"),
            ),
            1 => {}
            _ => self.report(
                entry,
                spec(),
                "conflicting-fields",
                "set only one of `build`, `from` and `embedded`",
            ),
        }
        if let Some(build) = &s.build {
            self.check_build(entry, build);
            self.check_timeout(entry, spec().key("build"), build.timeout.as_deref());
        }
        if let Some(pull) = &s.from {
            if let Some(problem) = reference_problem(&pull.reference) {
                self.report(
                    entry,
                    spec().key("from").key("reference"),
                    "invalid-reference",
                    problem,
                );
            }
            self.check_timeout(entry, spec().key("from"), pull.timeout.as_deref());
        }
        if let Some(secret) = &s.pull_secret {
            self.check_pull_secret(entry, secret);
        }
    }

    /// An image's `timeout` (under `build` or `from`): a duration of at least one second.
    fn check_timeout(&mut self, entry: &Entry, path: FieldPath, text: Option<&str>) {
        let Some(text) = text else {
            return;
        };
        match parse_duration(text) {
            Ok(d) if d < std::time::Duration::from_secs(1) => self.report(
                entry,
                path.key("timeout"),
                "out-of-range",
                "must be at least 1s",
            ),
            Ok(_) => {}
            Err(e) => self.report(
                entry,
                path.key("timeout"),
                "invalid-duration",
                e.to_string(),
            ),
        }
    }

    /// `pullSecret`: exactly one of `file` and `env`. Nothing is read here: the file or
    /// variable need only exist when a pull or push needs it.
    fn check_pull_secret(&mut self, entry: &Entry, secret: &PullSecret) {
        let path = spec().key("pullSecret");
        if secret.file.is_none() && secret.env.is_none() && self.pruned(entry, &path) {
            return;
        }
        self.check_file_or_env(
            entry,
            &path,
            (secret.file.as_deref(), secret.env.as_deref()),
            "a pull secret",
            "e.g. `file: .secrets/auth.json` or `env: REGISTRY_AUTH`",
        );
    }

    /// Where a value comes from (a secret's, a pull secret's): exactly one of a non-empty
    /// `file` and a valid variable name `env`.
    fn check_file_or_env(
        &mut self,
        entry: &Entry,
        path: &FieldPath,
        (file, env): (Option<&str>, Option<&str>),
        what: &str,
        example: &str,
    ) {
        match (file, env) {
            (Some(_), Some(_)) => self.report(
                entry,
                path.key("env"),
                "conflicting-fields",
                format!("{what} takes either `file` or `env`, not both"),
            ),
            (None, None) => self.report_hint(
                entry,
                path.clone(),
                "missing-field",
                format!("{what} needs `file` or `env`"),
                Some(example),
            ),
            (Some(file), None) => {
                if file.is_empty() || file.contains('\0') {
                    self.report(
                        entry,
                        path.key("file"),
                        "invalid-path",
                        "`file` must be a non-empty path",
                    );
                }
            }
            (None, Some(var)) => {
                if var.is_empty() || var.contains('=') || var.contains('\0') {
                    self.report(
                        entry,
                        path.key("env"),
                        "invalid-env",
                        format!("`{}` is not a valid variable name", shown(var)),
                    );
                }
            }
        }
    }

    fn check_build(&mut self, entry: &Entry, build: &Build) {
        let path = spec().key("build");
        let context = match check_host_path(self.root, &build.context, false, PathKind::Dir) {
            Ok(dir) => {
                self.resolved(entry).build_context = Some(dir.clone());
                Some(dir)
            }
            Err((code, message, hint)) => {
                self.report_hint(entry, path.key("context"), code, message, hint);
                None
            }
        };
        match &build.containerfile {
            Some(file) => match check_host_path(self.root, file, false, PathKind::File) {
                Ok(resolved) => self.resolved(entry).containerfile = Some(resolved),
                Err((code, message, hint)) => {
                    self.report_hint(entry, path.key("containerfile"), code, message, hint);
                }
            },
            None => {
                if let Some(dir) = context
                    && !dir.join("Containerfile").is_file()
                    && !dir.join("Dockerfile").is_file()
                {
                    self.report_hint(
                        entry,
                        path.key("context"),
                        "missing-path",
                        format!("no Containerfile or Dockerfile in `{}`", build.context),
                        Some("add one, or set `containerfile`"),
                    );
                }
            }
        }
        if let Some(from) = &build.from {
            if from.image == entry.object.metadata.name {
                self.report(
                    entry,
                    path.key("from").key("image"),
                    "self-reference",
                    "an image cannot build on itself",
                );
            } else {
                self.check_reference(
                    entry,
                    path.key("from").key("image"),
                    Kind::Image,
                    &from.image,
                );
            }
        }
    }

    /// A Pool: `maxIdle` a duration of at least one second; `template` a template that can
    /// make members (see `pool::template_problem`). `size` is bounded by the schema.
    fn check_pool(&mut self, entry: &Entry, p: &crate::model::PoolSpec) {
        if let Some(text) = &p.max_idle {
            match parse_duration(text) {
                Ok(d) if d < std::time::Duration::from_secs(1) => self.report(
                    entry,
                    spec().key("maxIdle"),
                    "out-of-range",
                    "must be at least 1s",
                ),
                Ok(_) => {}
                Err(e) => self.report(
                    entry,
                    spec().key("maxIdle"),
                    "invalid-duration",
                    e.to_string(),
                ),
            }
        }
        if self.pruned(entry, &spec().key("template")) {
            return;
        }
        let objects = self.entries.iter().map(|e| &e.object);
        match crate::pool::template_sandbox_spec(objects, &p.template) {
            Err(e) => self.report_hint(
                entry,
                spec().key("template"),
                "unknown-template",
                e.to_string(),
                Some("declare a `kind: Template` document of that name, or name a built-in one (`pocket-dock template list`)"),
            ),
            Ok(sandbox) => {
                if let Some((field, problem)) = crate::pool::template_problem(&sandbox) {
                    self.report_hint(
                        entry,
                        spec().key("template"),
                        "template-not-poolable",
                        format!(
                            "Template `{}` cannot make pool members: {problem}",
                            p.template
                        ),
                        Some(format!(
                            "change the template's `{field}` (a template that extends it can), or pool another template"
                        )),
                    );
                }
            }
        }
    }

    fn check_snapshot(&mut self, entry: &Entry, s: &SnapshotSpec) {
        self.check_reference(entry, spec().key("sandbox"), Kind::Sandbox, &s.sandbox);
    }

    /// Two published ports may not claim the same host port and protocol on overlapping
    /// addresses (an unspecified address overlaps every address).
    fn check_ports(&mut self) {
        let entries = self.entries;
        let mut claims: HashMap<(u16, Protocol), PortClaims> = HashMap::new();
        for (e, entry) in entries.iter().enumerate() {
            let Spec::Sandbox(s) = &entry.object.spec else {
                continue;
            };
            if self
                .first
                .get(&(Kind::Sandbox, entry.object.metadata.name.as_str()))
                != Some(&e)
            {
                continue;
            }
            for (p, port) in s.ports.iter().enumerate() {
                let host = port.host.unwrap_or(port.container);
                let Ok(ip) = port
                    .host_ip
                    .as_deref()
                    .unwrap_or("127.0.0.1")
                    .parse::<IpAddr>()
                else {
                    continue;
                };
                let claim = claims.entry((host, port.protocol)).or_default();
                let Some((other_e, other_p)) = claim.clash(ip) else {
                    claim.add(ip, (e, p));
                    continue;
                };
                let other = &entries[other_e].object;
                let proto = match port.protocol {
                    Protocol::Tcp => "tcp",
                    Protocol::Udp => "udp",
                };
                let owner = if other_e == e {
                    format!("ports[{other_p}] of this sandbox")
                } else {
                    format!("Sandbox `{}` ({})", other.metadata.name, other.source)
                };
                self.report(
                    entry,
                    spec().key("ports").index(p),
                    "port-conflict",
                    format!("host port {host}/{proto} is already published by {owner}"),
                );
            }
        }
    }

    /// Cycles through dependsOn, imageFrom, build.from and a snapshot's sandbox: the first
    /// [`MAX_CYCLES`], then one line counting the rest.
    fn check_cycles(&mut self) {
        let entries = self.entries;
        let edges = self.dependency_edges();
        let (cycles, unlisted) = find_cycles(&edges, MAX_CYCLES);
        let mut last = None;
        for cycle in &cycles {
            let Some(&head) = cycle.first() else { continue };
            let next = cycle.get(1).copied().unwrap_or(head);
            let path = edges[head]
                .iter()
                .find(|(j, _)| *j == next)
                .map(|(_, p)| p.clone())
                .unwrap_or_else(spec);
            self.report(
                &entries[head],
                path.clone(),
                "cycle",
                format!("dependency cycle: {}", describe_cycle(entries, cycle)),
            );
            last = Some((head, path));
        }
        // Where the last cycle was reported, so that it comes right after it.
        if let Some((head, path)) = last
            && unlisted > 0
        {
            let cycles = if unlisted == 1 { "cycle" } else { "cycles" };
            self.report_hint(
                &entries[head],
                path,
                "cycle",
                format!("… and {unlisted} more dependency {cycles}"),
                Some("break the cycles above, then validate again"),
            );
        }
    }

    /// For each object (by index), what it depends on and through which field; each
    /// dependency once.
    fn dependency_edges(&self) -> Vec<Vec<(usize, FieldPath)>> {
        let entries = self.entries;
        let mut edges: Vec<Vec<(usize, FieldPath)>> = vec![Vec::new(); entries.len()];
        for (i, entry) in entries.iter().enumerate() {
            let key = (entry.object.kind, entry.object.metadata.name.as_str());
            if self.first.get(&key) != Some(&i) {
                continue;
            }
            let mut targets: Vec<(Kind, &str, FieldPath)> = Vec::new();
            match &entry.object.spec {
                Spec::Sandbox(s) => {
                    for (d, dep) in s.depends_on.iter().enumerate() {
                        targets.push((Kind::Sandbox, &dep.name, spec().key("dependsOn").index(d)));
                    }
                    if let Some(from) = &s.image_from {
                        if let Some(image) = &from.image {
                            targets.push((
                                Kind::Image,
                                image,
                                spec().key("imageFrom").key("image"),
                            ));
                        }
                        if let Some(snapshot) = &from.snapshot {
                            targets.push((
                                Kind::Snapshot,
                                snapshot,
                                spec().key("imageFrom").key("snapshot"),
                            ));
                        }
                    }
                }
                Spec::Image(s) => {
                    if let Some(from) = s.build.as_ref().and_then(|b| b.from.as_ref()) {
                        targets.push((
                            Kind::Image,
                            &from.image,
                            spec().key("build").key("from").key("image"),
                        ));
                    }
                }
                Spec::Snapshot(s) => {
                    targets.push((Kind::Sandbox, &s.sandbox, spec().key("sandbox")))
                }
                Spec::Volume(_)
                | Spec::Network(_)
                | Spec::Workspace(_)
                | Spec::Template(_)
                | Spec::Pool(_) => {}
            }
            let mut seen = HashSet::new();
            for (kind, name, path) in targets {
                if let Some(&j) = self.first.get(&(kind, name))
                    && j != i
                    && seen.insert(j)
                {
                    edges[i].push((j, path));
                }
            }
        }
        edges
    }
}

/// At most this many dependency cycles are listed.
const MAX_CYCLES: usize = 10;
/// A longer cycle is shown by its first objects and a count.
const MAX_CYCLE_NAMES: usize = 8;

/// Who holds one host port and protocol.
#[derive(Default)]
struct PortClaims {
    /// The earliest claim: an unspecified address clashes with it.
    first: Option<(usize, usize)>,
    /// A claim on an unspecified address, which clashes with every later one.
    any: Option<(usize, usize)>,
    by_ip: HashMap<IpAddr, (usize, usize)>,
}

impl PortClaims {
    /// The earliest claim (sandbox, port) that overlaps `ip`. An unspecified claim can only
    /// be the first, since it clashes with any claim made before it.
    fn clash(&self, ip: IpAddr) -> Option<(usize, usize)> {
        if ip.is_unspecified() {
            self.first
        } else {
            self.any.or_else(|| self.by_ip.get(&ip).copied())
        }
    }

    fn add(&mut self, ip: IpAddr, claim: (usize, usize)) {
        self.first.get_or_insert(claim);
        if ip.is_unspecified() {
            self.any = Some(claim);
        } else {
            self.by_ip.insert(ip, claim);
        }
    }
}

/// Depth-first search with its own stack (a chain of dependencies can be as long as the
/// workspace). Every edge back to an object on the current path closes a distinct cycle:
/// the first `max` are returned, each rotated to start at its earliest declaration; the
/// others are only counted, so the work stays linear in the edges plus what is returned.
fn find_cycles(edges: &[Vec<(usize, FieldPath)>], max: usize) -> (Vec<Vec<usize>>, usize) {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        New,
        /// On the current path, at this position.
        OnPath(usize),
        Done,
    }
    let mut marks = vec![Mark::New; edges.len()];
    let mut cycles: Vec<Vec<usize>> = Vec::new();
    let mut unlisted = 0;
    // The current path: each object with the index of its next edge to follow.
    let mut path: Vec<(usize, usize)> = Vec::new();
    for start in 0..edges.len() {
        if marks[start] != Mark::New {
            continue;
        }
        marks[start] = Mark::OnPath(0);
        path.push((start, 0));
        while let Some(&(node, edge)) = path.last() {
            let Some(next) = edges[node].get(edge).map(|(n, _)| *n) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            match marks[next] {
                Mark::New => {
                    marks[next] = Mark::OnPath(path.len());
                    path.push((next, 0));
                }
                Mark::OnPath(at) if cycles.len() < max => {
                    let mut cycle: Vec<usize> = path[at..].iter().map(|(n, _)| *n).collect();
                    if let Some(earliest) = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, n)| **n)
                        .map(|(i, _)| i)
                    {
                        cycle.rotate_left(earliest);
                    }
                    cycles.push(cycle);
                }
                Mark::OnPath(_) => unlisted += 1,
                Mark::Done => {}
            }
        }
    }
    (cycles, unlisted)
}

/// `Sandbox/a -> Sandbox/b -> Sandbox/a`, or for a long cycle its first objects and a count.
fn describe_cycle(entries: &[Entry], cycle: &[usize]) -> String {
    let name = |i: usize| {
        let object = &entries[i].object;
        format!("{}/{}", object.kind, shown(&object.metadata.name))
    };
    let Some(&head) = cycle.first() else {
        return String::new();
    };
    let mut names: Vec<String> = cycle
        .iter()
        .take(MAX_CYCLE_NAMES)
        .map(|&i| name(i))
        .collect();
    if cycle.len() > MAX_CYCLE_NAMES {
        names.push(format!("… {} more", cycle.len() - MAX_CYCLE_NAMES));
    }
    names.push(name(head));
    names.join(" -> ")
}

fn article(kind: Kind) -> &'static str {
    match kind {
        Kind::Image => "an",
        _ => "a",
    }
}

/// A valid name close to `name`: lower-cased, other characters turned into `-`.
fn suggest_name(name: &str) -> Option<String> {
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
    let fixed = fixed.trim_matches('-').to_string();
    (dns_label_problem(&fixed).is_none() && fixed != name).then_some(fixed)
}

fn type_name(kind: MountType) -> &'static str {
    match kind {
        MountType::Bind => "bind",
        MountType::Volume => "volume",
        MountType::Tmpfs => "tmpfs",
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Any,
    Dir,
    File,
}

type PathProblem = (&'static str, String, Option<String>);

/// Resolves a host path written in a document (relative to the workspace root) and checks
/// that it exists, has the right type and stays inside the root, both as written (`..`)
/// and once symlinks are followed. Returns the resolved path.
fn check_host_path(
    root: &Path,
    written: &str,
    allow_outside: bool,
    want: PathKind,
) -> Result<PathBuf, PathProblem> {
    let outside_hint = (want == PathKind::Any)
        .then(|| "set `allowOutsideWorkspace: true` on this mount to allow it".to_string());
    let joined = root.join(written);
    let normalized = normalize(&joined);
    if !allow_outside && !normalized.starts_with(root) {
        return Err((
            "outside-workspace",
            format!("`{written}` is outside the workspace root"),
            outside_hint,
        ));
    }
    let Ok(canonical) = joined.canonicalize() else {
        return Err(("missing-path", format!("`{written}` does not exist"), None));
    };
    if !allow_outside && !canonical.starts_with(root) {
        return Err((
            "outside-workspace",
            format!(
                "`{written}` leads outside the workspace root through a symlink (to {})",
                canonical.display()
            ),
            outside_hint,
        ));
    }
    match want {
        PathKind::Dir if !canonical.is_dir() => Err((
            "wrong-path-type",
            format!("`{written}` is not a folder"),
            None,
        )),
        PathKind::File if !canonical.is_file() => Err((
            "wrong-path-type",
            format!("`{written}` is not a file"),
            None,
        )),
        _ => Ok(canonical),
    }
}

/// A POSIX shell variable name.
fn is_shell_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `uid` or `uid:gid`, both numbers.
fn is_numeric_user(user: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match user.split_once(':') {
        Some((uid, gid)) => number(uid) && number(gid),
        None => number(user),
    }
}

/// Why a secret name cannot be a file name under `/run/secrets/`, if it cannot.
pub fn secret_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 253 {
        Some("it is longer than 253 characters")
    } else if name == "." || name == ".." {
        Some("`.` and `..` are not file names")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only letters, digits, `.`, `_` and `-` are allowed")
    } else {
        None
    }
}

/// Resolves `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Why `name` is not a DNS-1123 label, if it is not.
/// Why `text` is not an IPv4 or IPv6 subnet in CIDR form (`10.89.20.0/24`), if it is not.
pub fn cidr_problem(text: &str) -> Option<&'static str> {
    let Some((address, prefix)) = text.split_once('/') else {
        return Some("it has no `/prefix`");
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return Some("the address is not an IP address");
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    match prefix.parse::<u8>() {
        Ok(p) if p <= max => None,
        _ => Some("the prefix length is out of range"),
    }
}

pub fn dns_label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.len() > 63 {
        return Some("it is longer than 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("only lower-case letters, digits and `-` are allowed");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("it must start and end with a letter or digit");
    }
    None
}

/// Why `reference` is not a usable image reference, if it is not.
pub fn reference_problem(reference: &str) -> Option<String> {
    if reference.is_empty() {
        return Some("the image reference is empty".into());
    }
    if reference.chars().any(char::is_whitespace) {
        return Some(format!("`{reference}` contains white space"));
    }
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Some(format!(
                "`{digest}` is not a sha256 digest (sha256: and 64 lower-case hex digits)"
            ));
        }
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
            && !tag.starts_with(['.', '-']);
        if !ok {
            return Some(format!("`{tag}` is not a valid tag"));
        }
    }
    // The first component may be a registry host (with a port, dots or capitals).
    let path = match repository.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repository,
    };
    if path.is_empty()
        || !path.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
        })
    {
        return Some(format!(
            "`{repository}` is not a valid repository name (lower-case letters, digits, `.`, `_`, `-` and `/`)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label_problem("web-1"), None);
        assert!(dns_label_problem("Web").is_some());
        assert!(dns_label_problem("-web").is_some());
        assert!(dns_label_problem(&"a".repeat(64)).is_some());
        assert!(dns_label_problem("a_b").is_some());
    }

    #[test]
    fn image_references() {
        for ok in [
            "busybox",
            "localhost/tools:1",
            "localhost:5000/a/b:v1.2",
            "quay.io/org/img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Registry.Example.com/x:Tag_1",
        ] {
            assert_eq!(reference_problem(ok), None, "{ok}");
        }
        for bad in ["", "a b", "Tools:1", "x:", "x@sha256:abc", "x:.bad"] {
            assert!(reference_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn cycles_are_found_once_each_and_counted_past_the_limit() {
        let edges = |list: &[&[usize]]| -> Vec<Vec<(usize, FieldPath)>> {
            list.iter()
                .map(|to| to.iter().map(|&j| (j, FieldPath::root())).collect())
                .collect()
        };
        // 0 -> 1 -> 2 -> 0, and 3 -> 3's neighbour 1 (no cycle through 3).
        let (cycles, more) = find_cycles(&edges(&[&[1], &[2], &[0], &[1]]), 10);
        assert_eq!((cycles, more), (vec![vec![0, 1, 2]], 0));
        // Found from 1: still reported from the earliest declaration.
        let (cycles, _) = find_cycles(&edges(&[&[], &[2], &[0, 1]]), 10);
        assert_eq!(cycles, vec![vec![1, 2]]);
        // Everyone depends on everyone: 3 + 2 + 1 back edges.
        let all = edges(&[&[1, 2, 3], &[0, 2, 3], &[0, 1, 3], &[0, 1, 2]]);
        let (cycles, more) = find_cycles(&all, 2);
        assert_eq!((cycles.len(), more), (2, 4));
    }

    #[test]
    fn port_claims_overlap_on_the_same_or_an_unspecified_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut claims = PortClaims::default();
        claims.add(ip("127.0.0.1"), (0, 0));
        claims.add(ip("127.0.0.2"), (0, 1));
        assert_eq!(claims.clash(ip("127.0.0.2")), Some((0, 1)));
        assert_eq!(claims.clash(ip("::")), Some((0, 0)));
        assert_eq!(claims.clash(ip("10.0.0.1")), None);
        let mut any = PortClaims::default();
        any.add(ip("0.0.0.0"), (1, 0));
        assert_eq!(any.clash(ip("127.0.0.9")), Some((1, 0)));
    }

    #[test]
    fn normalize_resolves_parent_components() {
        assert_eq!(
            normalize(Path::new("/w/a/../b/./c")),
            PathBuf::from("/w/b/c")
        );
        assert_eq!(normalize(Path::new("/w/../../etc")), PathBuf::from("/etc"));
    }
}
