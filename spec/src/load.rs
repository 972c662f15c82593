//! Loading a workspace: find the documents under `.pocket-dock/`, parse them, check their
//! structure against the schemas, decode them, and validate them one by one and together.
//! Every problem is collected; nothing stops at the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value as Schema;

use crate::diagnostic::{Diagnostic, FieldPath, Issue, closest};
use crate::kind::Kind;
use crate::model::{Metadata, Spec, WorkspaceSpec};
use crate::schema::{self, DECLARABLE};
use crate::structure::Checker;
use crate::validate;
use crate::yaml::{self, Limits, Loc, Node, Value};

/// The folder under the workspace root that holds the documents.
pub const DIR_NAME: &str = ".pocket-dock";
/// Generated content inside it that the loader never reads.
pub const STATUS_DIR: &str = "status";
/// At most this many YAML files are read from one workspace.
pub const MAX_FILES: usize = 10_000;

/// Where an object was declared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Source {
    /// Relative to the workspace root, e.g. `.pocket-dock/web.yaml`.
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One declared object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: Kind,
    pub metadata: Metadata,
    pub spec: Spec,
    pub source: Source,
}

impl Object {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}

/// Everything declared in a workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Declarations {
    /// Canonical workspace root.
    pub root: PathBuf,
    /// Objects in file order (files sorted by path), Workspace documents excluded.
    pub objects: Vec<Object>,
    /// The `Workspace` document's name and settings, if there is one.
    pub workspace_name: Option<String>,
    pub settings: WorkspaceSpec,
    /// Every file read, relative to the root, sorted.
    pub files: Vec<PathBuf>,
}

impl Declarations {
    pub fn get(&self, kind: Kind, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.kind == kind && o.metadata.name == name)
    }
}

/// The result of loading: what was understood, and every problem found.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub declarations: Declarations,
    /// Sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }
}

/// A decoded document together with its tree, kept for locating later problems.
pub(crate) struct Entry {
    pub object: Object,
    pub node: Node,
    /// False when the document had structural problems and was decoded from what was left
    /// after removing the offending fields: it is checked and can be referred to, but it is
    /// not offered as a declaration.
    pub complete: bool,
    /// Paths removed from (or missing in) the document before decoding.
    pub pruned: Vec<FieldPath>,
}

/// Loads the workspace whose root is `root` (the folder holding `.pocket-dock/`).
pub fn load(root: &Path) -> Loaded {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut diagnostics = Vec::new();
    let files = discover(&root, &mut diagnostics);
    let schemas: BTreeMap<Kind, Schema> = DECLARABLE
        .iter()
        .map(|&k| (k, schema::document_schema(k)))
        .collect();

    let mut entries = Vec::new();
    for file in &files {
        load_file(&root, file, &schemas, &mut entries, &mut diagnostics);
    }
    let (workspace_name, settings) = validate::validate(&root, &entries, &mut diagnostics);
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    diagnostics.dedup();

    Loaded {
        declarations: Declarations {
            root,
            objects: entries
                .into_iter()
                .filter(|e| e.complete && e.object.kind != Kind::Workspace)
                .map(|e| e.object)
                .collect(),
            workspace_name,
            settings,
            files,
        },
        diagnostics,
    }
}

/// Every `*.yaml`/`*.yml` file under `.pocket-dock/`, sorted, relative to `root`; skipping
/// the status folder, hidden files and folders (editor swap files), and symlinked folders.
fn discover(root: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.join(DIR_NAME)];
    while let Some(dir) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in listing.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if file_type.is_dir() {
                let is_status = dir == root.join(DIR_NAME) && name == STATUS_DIR;
                if !is_status {
                    pending.push(path);
                }
            } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
                && (file_type.is_file() || path.is_file())
            {
                found.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    found.sort();
    if found.len() > MAX_FILES {
        diagnostics.push(Diagnostic {
            file: PathBuf::from(DIR_NAME),
            line: 1,
            column: 1,
            path: String::new(),
            code: "too-many-files",
            message: format!(
                "{} YAML files, more than the limit of {MAX_FILES}",
                found.len()
            ),
            hint: None,
        });
        found.truncate(MAX_FILES);
    }
    found
}

fn file_issue(file: &Path, loc: Loc, code: &'static str, message: String) -> Diagnostic {
    Issue::new(loc, FieldPath::root(), code, message).in_file(file)
}

fn load_file(
    root: &Path,
    file: &Path,
    schemas: &BTreeMap<Kind, Schema>,
    entries: &mut Vec<Entry>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let start = Loc { line: 1, column: 1 };
    let limits = Limits::default();
    let full = root.join(file);
    let unreadable = |e: std::io::Error| {
        file_issue(
            file,
            start,
            "unreadable",
            format!("cannot read the file: {e}"),
        )
    };
    match std::fs::metadata(&full) {
        Ok(meta) if meta.len() > limits.max_bytes as u64 => {
            diagnostics.push(file_issue(
                file,
                start,
                "file-too-large",
                format!(
                    "file is {} bytes, over the limit of {} bytes",
                    meta.len(),
                    limits.max_bytes
                ),
            ));
            return;
        }
        Ok(_) => {}
        Err(e) => return diagnostics.push(unreadable(e)),
    }
    let text = match std::fs::read(&full).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => {
            diagnostics.push(file_issue(
                file,
                start,
                "not-utf8",
                "the file is not UTF-8 text".into(),
            ));
            return;
        }
        Err(e) => return diagnostics.push(unreadable(e)),
    };
    let documents = match yaml::parse(&text, limits) {
        Ok(docs) => docs,
        Err(e) => {
            diagnostics.push(Issue::from(e).in_file(file));
            return;
        }
    };
    for doc in documents {
        if let Some(entry) = decode_document(file, doc.root, schemas, diagnostics) {
            entries.push(entry);
        }
    }
}

fn decode_document(
    file: &Path,
    root: Node,
    schemas: &BTreeMap<Kind, Schema>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Entry> {
    let doc_loc = root.loc;
    let mut issues = Vec::new();
    if !matches!(root.value, Value::Map(_)) {
        issues.push(Issue::new(
            doc_loc,
            FieldPath::root(),
            "not-a-document",
            format!(
                "a document must be a mapping with apiVersion, kind, metadata and spec, found {}",
                root.describe()
            ),
        ));
    }
    let kind = issues
        .is_empty()
        .then(|| document_kind(&root, &mut issues))
        .flatten();
    if let Some(kind) = kind {
        let schema = schemas.get(&kind)?;
        issues.extend(Checker::new(schema).check_document(&root, doc_loc));
    }
    let complete = issues.is_empty();
    // Decode what is left once the offending fields are removed, so that semantic checks
    // still run; if that fails too, the structural report stands alone.
    let pruned = prune(&root, &issues);
    diagnostics.extend(issues.iter().cloned().map(|i| i.in_file(file)));
    let mut decode_errors = Vec::new();
    let sink = if complete {
        &mut *diagnostics
    } else {
        &mut decode_errors
    };
    let kind = kind?;
    let metadata: Metadata = decode(&pruned, "metadata", file, sink)?;
    let spec = match kind {
        Kind::Sandbox => Spec::Sandbox(decode(&pruned, "spec", file, sink)?),
        Kind::Image => Spec::Image(decode(&pruned, "spec", file, sink)?),
        Kind::Snapshot => Spec::Snapshot(decode(&pruned, "spec", file, sink)?),
        Kind::Volume => Spec::Volume(decode(&pruned, "spec", file, sink)?),
        Kind::Workspace => Spec::Workspace(decode(&pruned, "spec", file, sink)?),
        Kind::Run => return None,
    };
    Some(Entry {
        object: Object {
            kind,
            metadata,
            spec,
            source: Source {
                file: file.to_path_buf(),
                line: doc_loc.line,
                column: doc_loc.column,
            },
        },
        node: root,
        complete,
        pruned: issues.iter().map(|i| i.path.clone()).collect(),
    })
}

/// A copy of `root` without the fields that the issues point at. A problem inside a list
/// removes the whole list field (removing one item would shift the others' indices).
fn prune(root: &Node, issues: &[Issue]) -> Node {
    let mut pruned = root.clone();
    for issue in issues {
        let mut segs = issue.path.0.clone();
        if issue.code == "missing-field" {
            continue;
        }
        while matches!(segs.last(), Some(crate::diagnostic::Seg::Index(_))) {
            segs.pop();
        }
        if let Some(pos) = segs
            .iter()
            .position(|s| matches!(s, crate::diagnostic::Seg::Index(_)))
        {
            segs.truncate(pos);
        }
        remove_path(&mut pruned, &segs);
    }
    pruned
}

fn remove_path(node: &mut Node, segs: &[crate::diagnostic::Seg]) {
    let Some((crate::diagnostic::Seg::Key(first), rest)) = segs.split_first() else {
        return;
    };
    let Value::Map(entries) = &mut node.value else {
        return;
    };
    if rest.is_empty() {
        entries.retain(|(k, _)| &k.name != first);
    } else if let Some((_, child)) = entries.iter_mut().find(|(k, _)| &k.name == first) {
        remove_path(child, rest);
    }
}

/// The document's declarable kind, or an issue saying why there is none.
fn document_kind(root: &Node, issues: &mut Vec<Issue>) -> Option<Kind> {
    let path = FieldPath::root().key("kind");
    let Some(node) = root.get("kind") else {
        issues.push(Issue::new(
            root.loc,
            path,
            "missing-field",
            "missing required field `kind`",
        ));
        return None;
    };
    let names: Vec<&str> = DECLARABLE.iter().map(|k| k.as_str()).collect();
    let Some(text) = node.as_str() else {
        issues.push(Issue::new(
            node.loc,
            path,
            "wrong-type",
            format!("expected a string, found {}", node.describe()),
        ));
        return None;
    };
    match DECLARABLE.iter().find(|k| k.as_str() == text) {
        Some(kind) => Some(*kind),
        None => {
            let issue = Issue::new(
                node.loc,
                path,
                "unknown-kind",
                format!("unknown kind `{text}`"),
            );
            issues.push(match closest(text, names.iter().copied()) {
                Some(near) => issue.hint(format!("did you mean `{near}`?")),
                None => issue.hint(format!("expected one of: {}", names.join(", "))),
            });
            None
        }
    }
}

/// Decodes one top-level field; it was checked structurally, so a failure here is a bug in
/// the schema or the types, reported at the document rather than panicking.
fn decode<T: DeserializeOwned>(
    root: &Node,
    field: &str,
    file: &Path,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    let loc = root.get(field).map_or(root.loc, |n| n.loc);
    let json = match root.get(field).map(Node::to_json).unwrap_or_default() {
        serde_json::Value::Null => serde_json::json!({}),
        other => other,
    };
    match serde_json::from_value(json) {
        Ok(value) => Some(value),
        Err(e) => {
            diagnostics.push(
                Issue::new(loc, FieldPath::root().key(field), "invalid", e.to_string())
                    .in_file(file),
            );
            None
        }
    }
}
