//! Templates: a `Template` holds sandbox fields, a Sandbox names one with `spec.template`,
//! and a template can extend one other. Pure: the chain of a name, the merge rule, the
//! built-in templates, and the pass that gives every templated Sandbox its merged spec while
//! loading (so that validation, hashes, status, `get` and exports only ever see merged specs).
//!
//! The merge rule, applied base-first along the `extends` chain and then with the sandbox's
//! own fields:
//! - mappings (`env`, `resources`, `security`, `lifetime`, ...) merge key by key, recursively;
//! - lists (`mounts`, `ports`, `command`, `networks`, ...) and scalars replace whole, and so
//!   does a value whose type differs from the one it replaces (`network: none` over
//!   `network: {egress: [...]}`);
//! - `null` removes what the layers below set for that field (`lifetime: null`,
//!   `resources: {memory: null}`); a key of `env` cannot be removed, only given another value;
//! - exclusive groups: setting `image` removes an inherited `imageFrom` and the reverse, and
//!   in `imageFrom`, `image` and `snapshot` replace each other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value as Json};

use crate::diagnostic::{Diagnostic, FieldPath, Issue, closest};
use crate::kind::Kind;
use crate::load::{Declarations, Entry, KnownElsewhere, Source};
use crate::model::{SandboxSpec, Spec, TemplateSpec};
use crate::yaml::{self, Key, Loc, Node, Value};

/// The most templates in one chain (the named template and those it extends).
pub const MAX_CHAIN: usize = 8;

/// The annotation that describes a built-in template (and, optionally, a declared one).
pub const DESCRIPTION_ANNOTATION: &str = "pocket-dock.dev/description";

/// The built-in templates' documents.
pub const BUILTIN_YAML: &str = include_str!("templates/builtin.yaml");

/// A template shipped in the binary.
#[derive(Debug, Clone, PartialEq)]
pub struct Builtin {
    pub name: String,
    pub description: String,
    pub spec: TemplateSpec,
}

/// The built-in templates, parsed once from [`BUILTIN_YAML`] (a test holds that file valid;
/// were it not, there would simply be no built-ins, never a panic).
pub fn builtins() -> &'static [Builtin] {
    static BUILTINS: OnceLock<Vec<Builtin>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        let Ok(documents) = yaml::parse(BUILTIN_YAML, yaml::Limits::default()) else {
            return Vec::new();
        };
        documents
            .iter()
            .filter_map(|doc| {
                let metadata = doc.root.get("metadata")?;
                let name = metadata.get("name")?.as_str()?.to_string();
                let description = metadata
                    .get("annotations")
                    .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
                    .and_then(Node::as_str)
                    .unwrap_or_default()
                    .to_string();
                let spec = serde_json::from_value(doc.root.get("spec")?.to_json()).ok()?;
                Some(Builtin {
                    name,
                    description,
                    spec,
                })
            })
            .collect()
    })
}

/// The built-in template called `name`, if there is one.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    builtins().iter().find(|b| b.name == name)
}

/// Why a template name does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// No template of that name is declared or built in.
    #[error("unknown template `{name}`{}", closest.as_ref().map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default())]
    Unknown {
        name: String,
        /// The template whose `extends` names it, when it is not the first of the chain.
        extended_by: Option<String>,
        closest: Option<String>,
    },
    /// The chain comes back to a template already in it.
    #[error("templates extend each other in a cycle: {}", chain.join(" → "))]
    Cycle { chain: Vec<String> },
    /// The chain is longer than [`MAX_CHAIN`].
    #[error("the `extends` chain {} is longer than {MAX_CHAIN} templates", chain.join(" → "))]
    TooDeep { chain: Vec<String> },
    /// The merged fields are not a sandbox spec (a bug of the merge: each part was checked).
    #[error("the merged spec of template `{name}` is not a sandbox spec: {message}")]
    Invalid { name: String, message: String },
}

/// One template of a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Link<'a> {
    pub name: String,
    pub spec: &'a TemplateSpec,
    pub builtin: bool,
}

/// The templates a chain can draw on: the built-ins and the declared ones. A declared
/// template with a built-in's name is refused by validation; here the built-in wins.
#[derive(Debug, Clone, Default)]
pub struct Catalog<'a> {
    declared: BTreeMap<&'a str, &'a TemplateSpec>,
}

impl<'a> Catalog<'a> {
    /// The first declaration of each name.
    pub fn new(templates: impl IntoIterator<Item = (&'a str, &'a TemplateSpec)>) -> Self {
        let mut declared = BTreeMap::new();
        for (name, spec) in templates {
            declared.entry(name).or_insert(spec);
        }
        Catalog { declared }
    }

    /// The declared templates of loaded declarations.
    pub fn of(declarations: &'a Declarations) -> Self {
        Catalog::new(declarations.objects.iter().filter_map(|o| match &o.spec {
            Spec::Template(t) => Some((o.metadata.name.as_str(), t)),
            _ => None,
        }))
    }

    pub fn get(&self, name: &str) -> Option<Link<'a>> {
        if let Some(b) = builtin(name) {
            return Some(Link {
                name: name.to_string(),
                spec: &b.spec,
                builtin: true,
            });
        }
        self.declared.get(name).map(|spec| Link {
            name: name.to_string(),
            spec,
            builtin: false,
        })
    }

    /// Every name, built-ins first.
    pub fn names(&self) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = builtins().iter().map(|b| b.name.as_str()).collect();
        names.extend(
            self.declared
                .keys()
                .copied()
                .filter(|n| builtin(n).is_none()),
        );
        names
    }

    /// The chain of `name`: the template itself first, then what it extends, and so on.
    pub fn chain(&self, name: &str) -> Result<Vec<Link<'a>>, TemplateError> {
        let mut chain: Vec<Link<'a>> = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(current) = next {
            if chain.iter().any(|l| l.name == current) {
                let mut names: Vec<String> = chain.iter().map(|l| l.name.clone()).collect();
                names.push(current);
                return Err(TemplateError::Cycle { chain: names });
            }
            if chain.len() == MAX_CHAIN {
                let mut names: Vec<String> = chain.iter().map(|l| l.name.clone()).collect();
                names.push(current);
                return Err(TemplateError::TooDeep { chain: names });
            }
            let Some(link) = self.get(&current) else {
                let names = self.names();
                return Err(TemplateError::Unknown {
                    closest: closest(&current, names.iter().copied()).map(str::to_string),
                    name: current,
                    extended_by: chain.last().map(|l| l.name.clone()),
                });
            };
            next = link.spec.extends.clone();
            chain.push(link);
        }
        Ok(chain)
    }

    /// The sandbox fields of `name`'s chain, merged base-first, as a located tree whose
    /// every location is `loc`.
    pub fn merged_fields(&self, name: &str, loc: Loc) -> Result<Node, TemplateError> {
        let chain = self.chain(name)?;
        Ok(merge_chain(&chain, loc))
    }
}

fn merge_chain(chain: &[Link<'_>], loc: Loc) -> Node {
    let mut merged = Node {
        loc,
        value: Value::Map(Vec::new()),
        plain: None,
    };
    for link in chain.iter().rev() {
        merge(&mut merged, &from_json_map(&link.spec.sandbox, loc));
    }
    merged
}

/// The effective sandbox spec of the template `name` of `declarations` (declared or built
/// in): its `extends` chain merged base-first by the merge rule (see the module
/// documentation). `template` is not set in the result; nothing else is defaulted (for that,
/// [`crate::hash::effective_sandbox`]). This is what a sandbox naming the template and
/// adding no fields of its own gets.
pub fn resolve(declarations: &Declarations, name: &str) -> Result<SandboxSpec, TemplateError> {
    let catalog = Catalog::of(declarations);
    let merged = catalog.merged_fields(name, Loc::default())?;
    serde_json::from_value(merged.to_json()).map_err(|e| TemplateError::Invalid {
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// A template of the workspace or a built-in, as `template list` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    pub builtin: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Where it is declared (none for a built-in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// The built-ins, then the declared templates in file order.
pub fn list(declarations: &Declarations) -> Vec<Listed> {
    let mut out: Vec<Listed> = builtins()
        .iter()
        .map(|b| Listed {
            name: b.name.clone(),
            extends: b.spec.extends.clone(),
            builtin: true,
            description: b.description.clone(),
            source: None,
        })
        .collect();
    for o in &declarations.objects {
        if let Spec::Template(t) = &o.spec {
            out.push(Listed {
                name: o.metadata.name.clone(),
                extends: t.extends.clone(),
                builtin: false,
                description: o
                    .metadata
                    .annotations
                    .get(DESCRIPTION_ANNOTATION)
                    .cloned()
                    .unwrap_or_default(),
                source: Some(o.source.clone()),
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The merge rule

/// Groups of keys of which a spec holds at most one: setting one replaces the others. By
/// the path of the mapping (below the sandbox spec) they are keys of.
const EXCLUSIVE: &[(&[&str], &[&str])] = &[
    (&[], &["image", "imageFrom"]),
    (&["imageFrom"], &["image", "snapshot"]),
];

/// Applies `over` onto `base` (both sandbox spec mappings) by the merge rule.
pub fn merge(base: &mut Node, over: &Node) {
    merge_at(base, over, &mut Vec::new());
}

fn merge_at<'o>(base: &mut Node, over: &'o Node, path: &mut Vec<&'o str>) {
    let (Value::Map(base_entries), Value::Map(over_entries)) = (&mut base.value, &over.value)
    else {
        *base = over.clone();
        return;
    };
    for (key, value) in over_entries {
        let name = key.name.as_str();
        for (at, group) in EXCLUSIVE {
            if *at == path.as_slice() && group.contains(&name) {
                base_entries.retain(|(k, _)| k.name == name || !group.contains(&k.name.as_str()));
            }
        }
        let existing = base_entries.iter().position(|(k, _)| k.name == name);
        match (existing, &value.value) {
            (Some(i), Value::Null) => {
                base_entries.remove(i);
            }
            (None, Value::Null) => {}
            (Some(i), Value::Map(_)) if matches!(base_entries[i].1.value, Value::Map(_)) => {
                path.push(name);
                merge_at(&mut base_entries[i].1, value, path);
                path.pop();
                base_entries[i].0 = key.clone();
            }
            (Some(i), _) => base_entries[i] = (key.clone(), value.clone()),
            (None, _) => base_entries.push((key.clone(), value.clone())),
        }
    }
}

/// A located tree of JSON, every location `loc`.
fn from_json(json: &Json, loc: Loc) -> Node {
    let value = match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::Seq(items.iter().map(|i| from_json(i, loc)).collect()),
        Json::Object(map) => return from_json_map(map, loc),
    };
    Node {
        loc,
        value,
        plain: None,
    }
}

fn from_json_map(map: &Map<String, Json>, loc: Loc) -> Node {
    Node {
        loc,
        value: Value::Map(
            map.iter()
                .map(|(k, v)| {
                    (
                        Key {
                            name: k.clone(),
                            loc,
                        },
                        from_json(v, loc),
                    )
                })
                .collect(),
        ),
        plain: None,
    }
}

/// A template's fields as a tree for [`Origin`] (which only asks what paths it has, so one
/// copy serves every sandbox).
fn shared(fields: &Map<String, Json>) -> std::sync::Arc<Node> {
    std::sync::Arc::new(from_json_map(fields, Loc::default()))
}

/// How many values a template's fields hold (each a node of a merged tree).
fn count(fields: &Map<String, Json>) -> usize {
    let mut n = 0;
    let mut pending: Vec<&Json> = fields.values().collect();
    while let Some(v) = pending.pop() {
        n += 1;
        match v {
            Json::Array(items) => pending.extend(items),
            Json::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    n
}

/// The most nodes that merging templates may make in one load, in all: a template of
/// 100,000 values named by 10,000 sandboxes must end in an error, not in a billion nodes.
pub const MAX_MERGED_NODES: usize = 250_000;

fn has_path(node: &Node, path: &[crate::diagnostic::Seg]) -> bool {
    use crate::diagnostic::Seg;
    let mut node = node;
    for seg in path {
        let next = match (seg, &node.value) {
            (Seg::Key(k), _) => node.get(k),
            (Seg::Index(i), Value::Seq(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------------------
// Loading

/// Where a templated sandbox's fields came from, to say which template contributed a field a
/// problem is about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Origin {
    /// The sandbox's own `spec`, as written.
    own: Node,
    /// The templates of the chain, most derived first, with their sandbox fields.
    chain: Vec<(String, std::sync::Arc<Node>)>,
    /// Where the declared templates of the chain are.
    sources: Vec<(String, Source)>,
}

impl Origin {
    /// The template that set the field at `path` (a document path, `spec.…`), when the
    /// sandbox did not set it itself.
    pub(crate) fn contributor(&self, path: &FieldPath) -> Option<&str> {
        use crate::diagnostic::Seg;
        let rest = match path.0.split_first() {
            Some((Seg::Key(k), rest)) if k == "spec" && !rest.is_empty() => rest,
            _ => return None,
        };
        if has_path(&self.own, rest) {
            return None;
        }
        self.chain
            .iter()
            .find(|(_, fields)| has_path(fields, rest))
            .map(|(name, _)| name.as_str())
    }
}

/// A declared template's merged fields as a sandbox spec, for validation.
pub(crate) struct Shape {
    /// The template as a sandbox document for validation: its node is the template's
    /// document with `spec` replaced by the merged fields (its own at their lines, the
    /// inherited ones at its `extends:` line), `template` says where inherited fields came
    /// from; its object's spec is a placeholder (the spec is `spec` below).
    pub entry: Box<Entry>,
    pub spec: SandboxSpec,
    /// How many templates the chain has (bases are checked first).
    pub depth: usize,
}

fn shape(e: &Entry, chain: &[Link<'_>]) -> Option<Shape> {
    let inherited = chain.get(1..).unwrap_or_default();
    let loc = crate::validate::locate(&e.node, &spec_path().key("extends"));
    let mut merged = merge_chain(inherited, loc);
    let own = e
        .node
        .get("spec")
        .and_then(|s| s.get("sandbox"))
        .cloned()
        .unwrap_or(Node {
            loc: e.node.loc,
            value: Value::Map(Vec::new()),
            plain: None,
        });
    merge(&mut merged, &own);
    let spec: SandboxSpec = serde_json::from_value(merged.to_json()).ok()?;
    let mut node = e.node.clone();
    if let Value::Map(entries) = &mut node.value
        && let Some((_, s)) = entries.iter_mut().find(|(k, _)| k.name == "spec")
    {
        *s = merged;
    }
    let origin = (!inherited.is_empty()).then(|| Origin {
        own,
        chain: inherited
            .iter()
            .map(|l| (l.name.clone(), shared(&l.spec.sandbox)))
            .collect(),
        sources: Vec::new(),
    });
    let mut pruned = e.pruned.clone();
    pruned.push(spec_path().key("image"));
    pruned.push(spec_path().key("imageFrom"));
    Some(Shape {
        entry: Box::new(Entry {
            object: crate::load::Object {
                kind: Kind::Template,
                metadata: e.object.metadata.clone(),
                spec: Spec::Volume(crate::model::VolumeSpec {}),
                source: e.object.source.clone(),
                resolved: crate::load::ResolvedPaths::default(),
            },
            node,
            complete: e.complete,
            pruned,
            template: origin,
            shape: None,
        }),
        spec,
        depth: chain.len(),
    })
}

fn spec_path() -> FieldPath {
    FieldPath::root().key("spec")
}

/// Checks the declared templates and gives every Sandbox that names a template its merged
/// spec (and a tree to locate problems in, where what a template contributed sits on the
/// sandbox's `template:` line). A sandbox whose template does not resolve, or whose
/// template's file has problems, gets a problem at its `template:` line and is not offered
/// as a declaration: its last valid version (merged with the template as it was) stays in
/// effect, and nothing is pruned.
pub(crate) fn apply(
    entries: &mut [Entry],
    known_elsewhere: &KnownElsewhere,
    out: &mut Vec<Diagnostic>,
) {
    let files_with_problems: BTreeSet<std::path::PathBuf> =
        out.iter().map(|d| d.file.clone()).collect();
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.object.kind == Kind::Template {
            first.entry(e.object.metadata.name.clone()).or_insert(i);
        }
    }
    // Templates that cannot be used now: structural problems, or problems in their file.
    let broken: BTreeMap<String, Source> = first
        .iter()
        .filter(|(_, i)| {
            let e = &entries[**i];
            !e.complete || files_with_problems.contains(&e.object.source.file)
        })
        .map(|(name, i)| (name.clone(), entries[*i].object.source.clone()))
        .collect();
    let catalog_specs: Vec<(String, TemplateSpec)> = first
        .iter()
        .filter(|(name, _)| !broken.contains_key(*name))
        .filter_map(|(name, i)| match &entries[*i].object.spec {
            Spec::Template(t) => Some((name.clone(), t.clone())),
            _ => None,
        })
        .collect();
    let catalog = Catalog::new(catalog_specs.iter().map(|(n, t)| (n.as_str(), t)));
    let unusable = |name: &str| -> Option<String> {
        if let Some(source) = broken.get(name) {
            return Some(format!(
                "template `{name}` ({source}) has problems now; until they are fixed this sandbox keeps its last valid version"
            ));
        }
        known_elsewhere.contains(&(Kind::Template, name.to_string())).then(|| {
            format!(
                "template `{name}` is declared in a file that has problems now; until they are fixed this sandbox keeps its last valid version"
            )
        })
    };

    // What merging may still make (see MAX_MERGED_NODES), and each template's size.
    let mut budget = MAX_MERGED_NODES;
    let sizes: BTreeMap<&str, usize> = catalog
        .names()
        .into_iter()
        .filter_map(|n| Some((n, count(&catalog.get(n)?.spec.sandbox))))
        .collect();
    let cost = |chain: &[Link<'_>]| -> usize {
        chain
            .iter()
            .map(|l| sizes.get(l.name.as_str()).copied().unwrap_or(0))
            .sum()
    };
    let too_large = format!(
        "the templates of this workspace expand to more than {MAX_MERGED_NODES} values in all; this one is not merged"
    );

    // The templates themselves.
    let mut shapes: Vec<(usize, Shape)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Spec::Template(t) = &e.object.spec else {
            continue;
        };
        let name = e.object.metadata.name.as_str();
        let file = &e.object.source.file;
        let at = |path: &FieldPath| crate::validate::locate(&e.node, path);
        if builtin(name).is_some() {
            let path = FieldPath::root().key("metadata").key("name");
            out.push(
                Issue::new(
                    at(&path),
                    path,
                    "reserved-template-name",
                    format!("`{name}` is the name of a built-in template"),
                )
                .hint(format!(
                    "choose another name; to build on it, write `extends: {name}`"
                ))
                .in_file(file),
            );
            continue;
        }
        if t.sandbox.contains_key("template") {
            let path = spec_path().key("sandbox").key("template");
            out.push(
                Issue::new(
                    at(&path),
                    path,
                    "template-in-template",
                    "a template's sandbox cannot name a template",
                )
                .hint("use `extends:` beside `sandbox:`")
                .in_file(file),
            );
        }
        // A duplicate is reported as such; a broken template is reported in its file.
        if first.get(name) != Some(&i) || broken.contains_key(name) {
            continue;
        }
        if let Ok(chain) = catalog.chain(name) {
            match budget.checked_sub(cost(&chain)) {
                Some(left) => {
                    budget = left;
                    shapes.extend(shape(e, &chain).map(|s| (i, s)));
                }
                None => {
                    let path = spec_path().key("sandbox");
                    out.push(
                        Issue::new(at(&path), path, "too-large", too_large.clone())
                            .hint("keep templates small, or name them from fewer sandboxes")
                            .in_file(file),
                    );
                }
            }
        }
        if t.extends.is_none() {
            continue;
        }
        let path = spec_path().key("extends");
        // Each problem of a chain is reported once, at the template that can fix it: an
        // unknown name where it is named, a cycle at each of its members.
        let result = match catalog.chain(name) {
            Err(TemplateError::Unknown {
                name: missing,
                extended_by,
                ..
            }) if unusable(&missing).is_some() || extended_by.as_deref() != Some(name) => {
                continue;
            }
            Err(TemplateError::Cycle { chain })
                if chain.last().map(String::as_str) != Some(name) =>
            {
                continue;
            }
            other => other.map(|_| ()),
        };
        let Err(error) = result else { continue };
        let (code, hint) = match &error {
            TemplateError::Unknown { closest, .. } => (
                "unknown-reference",
                Some(closest.as_ref().map_or_else(
                    || format!("templates: {}", catalog.names().join(", ")),
                    |c| format!("did you mean `{c}`?"),
                )),
            ),
            TemplateError::Cycle { .. } => (
                "template-cycle",
                Some("remove `extends` from one template of the cycle".to_string()),
            ),
            TemplateError::TooDeep { .. } => ("template-chain-too-deep", None),
            TemplateError::Invalid { .. } => ("invalid", None),
        };
        let message = match &error {
            TemplateError::Unknown { name: missing, .. } => {
                format!("`extends` names template `{missing}`, which is not declared")
            }
            other => other.to_string(),
        };
        let mut issue = Issue::new(at(&path), path, code, message);
        if let Some(hint) = hint {
            issue = issue.hint(hint);
        }
        out.push(issue.in_file(file));
    }

    for (i, shape) in shapes {
        entries[i].shape = Some(shape);
    }

    // The sandboxes that name one. Each template's tree for `Origin` is made once.
    let mut trees: BTreeMap<String, std::sync::Arc<Node>> = BTreeMap::new();
    let entries_sources: Vec<Source> = entries.iter().map(|e| e.object.source.clone()).collect();
    for e in entries
        .iter_mut()
        .filter(|e| e.object.kind == Kind::Sandbox)
    {
        let Spec::Sandbox(spec) = &e.object.spec else {
            continue;
        };
        let Some(name) = spec.template.clone() else {
            continue;
        };
        let path = spec_path().key("template");
        let loc = crate::validate::locate(&e.node, &path);
        let file = e.object.source.file.clone();
        let problem = |code: &'static str, message: String, hint: Option<String>| {
            let issue = Issue::new(loc, path.clone(), code, message);
            match hint {
                Some(h) => issue.hint(h),
                None => issue,
            }
            .in_file(&file)
        };
        let chain = match catalog.chain(&name) {
            Ok(chain) => chain,
            Err(error) => {
                let missing = match &error {
                    TemplateError::Unknown { name, .. } => Some(name.as_str()),
                    _ => None,
                };
                let diagnostic = match missing.and_then(unusable) {
                    Some(message) => problem("template-unusable", message, None),
                    None => match error {
                        TemplateError::Unknown {
                            name: missing,
                            extended_by: None,
                            closest,
                        } => problem(
                            "unknown-reference",
                            format!("unknown template `{missing}`"),
                            Some(closest.map_or_else(
                                || format!("templates: {}", catalog.names().join(", ")),
                                |c| format!("did you mean `{c}`?"),
                            )),
                        ),
                        other => problem(
                            "template-unresolved",
                            format!("template `{name}` cannot be used: {other}"),
                            None,
                        ),
                    },
                };
                out.push(diagnostic);
                e.complete = false;
                // What the template would have given is unknown: checks for absent fields
                // stay quiet, as for a field removed for a structural problem.
                e.pruned.push(spec_path());
                continue;
            }
        };
        match budget.checked_sub(cost(&chain)) {
            Some(left) => budget = left,
            None => {
                out.push(problem(
                    "too-large",
                    too_large.clone(),
                    Some("keep templates small, or name them from fewer sandboxes".into()),
                ));
                e.complete = false;
                e.pruned.push(spec_path());
                continue;
            }
        }
        let mut merged = merge_chain(&chain, loc);
        let mut own = e.node.get("spec").cloned().unwrap_or(Node {
            loc: e.node.loc,
            value: Value::Map(Vec::new()),
            plain: None,
        });
        // A document with structural problems: merged without the fields they are about,
        // as it was decoded.
        for path in &e.pruned {
            use crate::diagnostic::Seg;
            let segs: Vec<Seg> = path
                .0
                .iter()
                .take_while(|s| matches!(s, Seg::Key(_)))
                .cloned()
                .collect();
            if let Some((Seg::Key(first), rest)) = segs.split_first()
                && first == "spec"
                && !rest.is_empty()
            {
                crate::load::remove_path(&mut own, rest);
            }
        }
        merge(&mut merged, &own);
        let decoded: Result<SandboxSpec, _> = serde_json::from_value(merged.to_json());
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                if e.complete {
                    out.push(problem(
                        "invalid",
                        format!(
                            "the spec merged with template `{name}` is not a sandbox spec: {error}"
                        ),
                        None,
                    ));
                }
                e.complete = false;
                continue;
            }
        };
        if let Value::Map(entries) = &mut e.node.value {
            match entries.iter_mut().find(|(k, _)| k.name == "spec") {
                Some((_, spec)) => *spec = merged,
                None => entries.push((
                    Key {
                        name: "spec".into(),
                        loc,
                    },
                    merged,
                )),
            }
        }
        e.object.spec = Spec::Sandbox(decoded);
        e.template = Some(Origin {
            own,
            chain: chain
                .iter()
                .map(|l| {
                    let tree = trees
                        .entry(l.name.clone())
                        .or_insert_with(|| shared(&l.spec.sandbox));
                    (l.name.clone(), std::sync::Arc::clone(tree))
                })
                .collect(),
            sources: chain
                .iter()
                .filter(|l| !l.builtin)
                .filter_map(|l| {
                    let i = first.get(&l.name)?;
                    Some((l.name.clone(), entries_sources[*i].clone()))
                })
                .collect(),
        });
    }
}

/// After validation: a sandbox merged with a template whose file has problems (found by
/// any check) is not offered either, so that the template's last valid version and the
/// sandbox's stay together.
pub(crate) fn after_validate(entries: &mut [Entry], out: &mut Vec<Diagnostic>) {
    let files_with_problems: BTreeSet<std::path::PathBuf> =
        out.iter().map(|d| d.file.clone()).collect();
    for e in entries.iter_mut() {
        let Some(origin) = &e.template else { continue };
        let file = &e.object.source.file;
        if files_with_problems.contains(file) {
            continue;
        }
        let Some((name, source)) = origin
            .sources
            .iter()
            .find(|(_, s)| files_with_problems.contains(&s.file))
        else {
            continue;
        };
        let path = spec_path().key("template");
        let loc = crate::validate::locate(&e.node, &path);
        let message = format!(
            "template `{name}` ({source}) has problems now; until they are fixed this sandbox keeps its last valid version"
        );
        out.push(Issue::new(loc, path, "template-unusable", message).in_file(file));
        e.complete = false;
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
