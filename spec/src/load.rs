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
/// Files are read until they hold this many bytes in all (each file is also capped, at
/// [`yaml::Limits::max_bytes`]): so that loading a workspace stays within a few hundred MB.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;

/// Where an object was declared.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
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
    /// The host paths validation resolved for it. What was validated is what is used: these,
    /// not the paths as written, go to Podman and to builds.
    pub resolved: ResolvedPaths,
}

/// Host paths of one object as validation resolved them: symlinks followed, and checked to
/// stay inside the workspace root (unless a mount allows otherwise). Absolute.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPaths {
    /// Bind mount sources, by the mount's index in `spec.mounts`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mounts: BTreeMap<usize, PathBuf>,
    /// An `Image` build's context folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_context: Option<PathBuf>,
    /// An `Image` build's `containerfile`, when one is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containerfile: Option<PathBuf>,
    /// A sandbox's `security.seccomp` profile file, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<PathBuf>,
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
    /// Whether `objects` is the whole picture: every file was found, parsed and validated.
    /// Only a complete picture proves that an object is no longer wanted, so nothing is
    /// pruned when this is false.
    pub complete: bool,
    /// Where the `Workspace` document is, if there is one.
    pub workspace_source: Option<Source>,
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
    /// False when a folder could not be listed, a symlinked folder was not followed, or the
    /// file list was cut at [`MAX_FILES`]: files that exist may be missing from
    /// `declarations.files`. (Problems with one file name that file in their diagnostic.)
    pub discovery_complete: bool,
    /// Files that did not parse but have a `kind: Workspace` line: the workspace's defaults
    /// may be in one of them.
    pub unparsed_workspace_files: Vec<PathBuf>,
}

impl Loaded {
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Files that have at least one problem.
    pub fn invalid_files(&self) -> std::collections::BTreeSet<&Path> {
        self.diagnostics.iter().map(|d| d.file.as_path()).collect()
    }
}

/// Objects that count as declared although their file is not readable now: the last valid
/// version of a broken file, which stays in effect. References to them are not reported as
/// unknown.
pub type KnownElsewhere = std::collections::BTreeSet<(Kind, String)>;

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
    /// For a Sandbox that names a template: where its merged fields came from. `node` and
    /// `object.spec` are then the merged ones.
    pub template: Option<crate::template::Origin>,
    /// For a declared Template whose chain resolves: its merged fields as a sandbox spec,
    /// checked by validation as a sandbox's are.
    pub shape: Option<crate::template::Shape>,
}

/// Loads the workspace whose root is `root` (the folder holding `.pocket-dock/`).
pub fn load(root: &Path) -> Loaded {
    load_with(root, &KnownElsewhere::new())
}

/// [`load`], with objects that are declared in files that cannot be read now (their last
/// valid version stays in effect) counted as declared for references.
pub fn load_with(root: &Path, known_elsewhere: &KnownElsewhere) -> Loaded {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut diagnostics = Vec::new();
    let discovery = discover(&root, &mut diagnostics);
    let schemas: BTreeMap<Kind, Schema> = DECLARABLE
        .iter()
        .map(|&k| (k, schema::document_schema(k)))
        .collect();

    let mut entries = Vec::new();
    let mut unparsed_workspace_files = Vec::new();
    let mut discovery = discovery;
    let mut bytes = 0usize;
    for (i, file) in discovery.files.iter().enumerate() {
        if bytes > MAX_TOTAL_BYTES {
            // The files not read now are treated as not found: their last valid versions
            // stay in effect, and nothing is pruned.
            diagnostics.push(Diagnostic {
                file: file.clone(),
                line: 1,
                column: 1,
                path: String::new(),
                code: "too-many-bytes",
                message: format!(
                    "not read, nor the {} files after it: the workspace's YAML files hold more than {MAX_TOTAL_BYTES} bytes",
                    discovery.files.len() - i - 1
                ),
                hint: Some("keep only declarations under .pocket-dock/".into()),
            });
            discovery.files.truncate(i);
            discovery.complete = false;
            break;
        }
        if load_file(
            &root,
            file,
            &schemas,
            &mut entries,
            &mut diagnostics,
            &mut bytes,
        ) {
            unparsed_workspace_files.push(file.clone());
        }
    }
    crate::template::apply(&mut entries, known_elsewhere, &mut diagnostics);
    let validated = validate::validate(&root, &entries, known_elsewhere, &mut diagnostics);
    crate::template::after_validate(&mut entries, &mut diagnostics);
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    diagnostics.dedup();

    let workspace_source = entries
        .iter()
        .find(|e| e.object.kind == Kind::Workspace)
        .map(|e| e.object.source.clone());
    let mut resolved = validated.resolved;
    Loaded {
        declarations: Declarations {
            root,
            objects: entries
                .into_iter()
                .filter(|e| e.complete && e.object.kind != Kind::Workspace)
                .map(|mut e| {
                    if let Some(paths) = resolved.remove(&e.object.source) {
                        e.object.resolved = paths;
                    }
                    e.object
                })
                .collect(),
            workspace_name: validated.workspace_name,
            settings: validated.settings,
            files: discovery.files,
            complete: diagnostics.is_empty() && discovery.complete,
            workspace_source,
        },
        discovery_complete: discovery.complete,
        diagnostics,
        unparsed_workspace_files,
    }
}

/// The YAML files of a workspace, and whether that list is all of them.
struct Discovery {
    files: Vec<PathBuf>,
    complete: bool,
}

/// At most this many folder entries are looked at; beyond, the file list is incomplete.
const MAX_ENTRIES: usize = 100_000;

/// Every `*.yaml`/`*.yml` file under `.pocket-dock/`, sorted, relative to `root`. Skips the
/// status folder and hidden files and folders (editor swap files). Never follows a
/// symlinked folder; reads a symlinked YAML file only when it leads to a regular file inside
/// the workspace. Anything named like a document that is not a regular file (a FIFO, a
/// device, a dangling link) is a problem of that file, found without opening it.
fn discover(root: &Path, diagnostics: &mut Vec<Diagnostic>) -> Discovery {
    let top = root.join(DIR_NAME);
    let relative = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_path_buf();
    let mut report = |path: &Path, code: &'static str, message: String, hint: &str| {
        diagnostics.push(Diagnostic {
            file: relative(path),
            line: 1,
            column: 1,
            path: String::new(),
            code,
            message,
            hint: (!hint.is_empty()).then(|| hint.to_string()),
        });
    };
    let incomplete = |files| Discovery {
        files,
        complete: false,
    };
    match std::fs::symlink_metadata(&top) {
        Ok(meta) if meta.is_dir() => {}
        Ok(meta) if meta.file_type().is_symlink() => {
            report(
                &top,
                "symlinked-folder",
                format!(
                    "{DIR_NAME} is a symlink; pocket-dock writes status and state inside it and never writes through a symlink"
                ),
                "make it a real folder (move the files in)",
            );
            return incomplete(Vec::new());
        }
        Ok(_) => {
            report(
                &top,
                "not-a-folder",
                format!("{DIR_NAME} is not a folder"),
                "",
            );
            return incomplete(Vec::new());
        }
        Err(e) => {
            let (code, message, hint) = if e.kind() == std::io::ErrorKind::NotFound {
                (
                    "missing-folder",
                    format!("there is no {DIR_NAME} folder"),
                    "create it with `pocket-dock init`",
                )
            } else {
                (
                    "unreadable-folder",
                    format!("cannot read the folder: {e}"),
                    "",
                )
            };
            report(&top, code, message, hint);
            return incomplete(Vec::new());
        }
    }

    let mut found = Vec::new();
    let mut complete = true;
    let mut seen = 0usize;
    // Folders already walked, by their real path: a symlinked folder is followed once, so a
    // link loop ends and no document is read twice.
    let mut walked: std::collections::BTreeSet<PathBuf> = top.canonicalize().into_iter().collect();
    let status = top.join(STATUS_DIR);
    let mut pending = vec![top.clone()];
    while let Some(dir) = pending.pop() {
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) => {
                report(
                    &dir,
                    "unreadable-folder",
                    format!("cannot list the folder: {e}"),
                    "fix its permissions; until then nothing is pruned",
                );
                complete = false;
                continue;
            }
        };
        for entry in listing {
            seen += 1;
            if seen > MAX_ENTRIES {
                report(
                    &top,
                    "too-many-files",
                    format!("more than {MAX_ENTRIES} entries under {DIR_NAME}"),
                    "keep only declarations there",
                );
                return incomplete(sorted(found));
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    report(
                        &dir,
                        "unreadable-folder",
                        format!("cannot list the folder: {e}"),
                        "",
                    );
                    complete = false;
                    break;
                }
            };
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let is_document = name.ends_with(".yaml") || name.ends_with(".yml");
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    // Vanished since the listing, or unreadable: it may have been a folder
                    // of documents, so the list is not known to be complete.
                    report(
                        &path,
                        "unreadable",
                        format!("cannot tell what this is: {e}"),
                        "",
                    );
                    complete = false;
                    continue;
                }
            };
            if file_type.is_dir() {
                if !(dir == top && name == STATUS_DIR) {
                    if let Ok(real) = path.canonicalize() {
                        walked.insert(real);
                    }
                    pending.push(path);
                }
            } else if file_type.is_file() {
                if is_document {
                    found.push(relative(&path));
                }
            } else if file_type.is_symlink() {
                if dir == top && name == STATUS_DIR {
                    continue; // generated content; the status writer reports the link
                }
                match symlink_target(root, &path) {
                    SymlinkTarget::Folder(real) if real.starts_with(&status) => {}
                    SymlinkTarget::Folder(real) => {
                        if walked.insert(real) {
                            pending.push(path);
                        }
                    }
                    SymlinkTarget::Outside(target) if target.is_dir() => {
                        report(
                            &path,
                            "outside-workspace",
                            format!(
                                "the folder is a symlink to {}, outside the workspace root, and is not followed",
                                target.display()
                            ),
                            "copy the folder into the workspace; until then nothing is pruned",
                        );
                        complete = false;
                    }
                    _ if !is_document => {}
                    SymlinkTarget::File => found.push(relative(&path)),
                    SymlinkTarget::Outside(target) => report(
                        &path,
                        "outside-workspace",
                        format!(
                            "the file is a symlink to {}, outside the workspace root",
                            target.display()
                        ),
                        "copy the file into the workspace",
                    ),
                    SymlinkTarget::Special(what) => report(
                        &path,
                        "not-a-regular-file",
                        format!("the file is a symlink to {what}; only regular files are read"),
                        "replace it with a regular file",
                    ),
                    SymlinkTarget::Dangling(e) => report(
                        &path,
                        "unreadable",
                        format!("the file is a symlink that leads nowhere ({e})"),
                        "fix or remove the link",
                    ),
                }
            } else if is_document {
                report(
                    &path,
                    "not-a-regular-file",
                    format!(
                        "the file is {}; only regular files are read",
                        special_kind(&file_type)
                    ),
                    "replace it with a regular file",
                );
            }
        }
    }
    let mut found = sorted(found);
    if found.len() > MAX_FILES {
        report(
            &top,
            "too-many-files",
            format!(
                "{} YAML files, more than the limit of {MAX_FILES}",
                found.len()
            ),
            "until there are fewer, nothing is pruned",
        );
        found.truncate(MAX_FILES);
        complete = false;
    }
    Discovery {
        files: found,
        complete,
    }
}

fn sorted(mut files: Vec<PathBuf>) -> Vec<PathBuf> {
    files.sort();
    files
}

enum SymlinkTarget {
    /// A folder inside the workspace, by its real path.
    Folder(PathBuf),
    File,
    Outside(PathBuf),
    Special(&'static str),
    Dangling(std::io::Error),
}

/// What a symlink under `.pocket-dock/` leads to (following it; never opening it).
fn symlink_target(root: &Path, link: &Path) -> SymlinkTarget {
    let meta = match std::fs::metadata(link) {
        Ok(meta) => meta,
        Err(e) => return SymlinkTarget::Dangling(e),
    };
    if !meta.is_file() && !meta.is_dir() {
        return SymlinkTarget::Special(special_kind(&meta.file_type()));
    }
    match link.canonicalize() {
        Ok(target) if !target.starts_with(root) => SymlinkTarget::Outside(target),
        Ok(target) if meta.is_dir() => SymlinkTarget::Folder(target),
        Ok(_) => SymlinkTarget::File,
        Err(e) => SymlinkTarget::Dangling(e),
    }
}

fn special_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Reads a document file without ever blocking on it: opened non-blocking, checked to be a
/// regular file on the opened descriptor (a FIFO or device swapped in after discovery is
/// refused unread), and read up to one byte past `max_bytes`.
fn read_document(
    path: &Path,
    root: &Path,
    max_bytes: usize,
) -> Result<Vec<u8>, (&'static str, String)> {
    use rustix::fs::{FileType, Mode, OFlags};
    use std::io::Read;
    let unreadable = |e: std::io::Error| ("unreadable", format!("cannot read the file: {e}"));
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| unreadable(e.into()))?;
    // What was opened is checked, not what discovery saw: a link swapped since for one
    // that leads outside the workspace is refused before a byte is read.
    if let Ok(opened) = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    )) && !opened.starts_with(root)
    {
        return Err((
            "outside-workspace",
            format!(
                "the file leads to {}, outside the workspace root",
                opened.display()
            ),
        ));
    }
    let stat = rustix::fs::fstat(&fd).map_err(|e| unreadable(e.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err((
            "not-a-regular-file",
            "the file is not a regular file; only regular files are read".into(),
        ));
    }
    let too_large = |size: u64| {
        (
            "file-too-large",
            format!("file is {size} bytes, over the limit of {max_bytes} bytes"),
        )
    };
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if size > max_bytes as u64 {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    std::fs::File::from(fd)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
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
    bytes_read: &mut usize,
) -> bool {
    let start = Loc { line: 1, column: 1 };
    let limits = Limits::default();
    let read = read_document(&root.join(file), root, limits.max_bytes);
    if let Ok(bytes) = &read {
        *bytes_read = bytes_read.saturating_add(bytes.len());
    }
    let text = match read.map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => {
            diagnostics.push(file_issue(
                file,
                start,
                "not-utf8",
                "the file is not UTF-8 text".into(),
            ));
            return false;
        }
        Err((code, message)) => {
            diagnostics.push(file_issue(file, start, code, message));
            return false;
        }
    };
    let documents = match yaml::parse(&text, limits) {
        Ok(docs) => docs,
        Err(e) => {
            diagnostics.push(Issue::from(e).in_file(file));
            return mentions_workspace_kind(&text);
        }
    };
    for doc in documents {
        if let Some(entry) = decode_document(file, doc.root, schemas, diagnostics) {
            entries.push(entry);
        }
    }
    false
}

/// Whether a line of `text` reads `kind: Workspace`: a file that does not parse may still
/// declare the workspace's defaults, which every sandbox's effective spec depends on.
fn mentions_workspace_kind(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start_matches([' ', '-', '{', '\t']);
        line.strip_prefix("kind:")
            .or_else(|| line.strip_prefix("\"kind\":"))
            .is_some_and(|v| v.trim().trim_matches(['"', '\'', ',', '}']) == "Workspace")
    })
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
    // A valid document (the usual case) is decoded as it is, without a copy of its tree.
    let pruned = if complete {
        std::borrow::Cow::Borrowed(&root)
    } else {
        std::borrow::Cow::Owned(prune(&root, &issues))
    };
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
        Kind::Network => Spec::Network(decode(&pruned, "spec", file, sink)?),
        Kind::Workspace => Spec::Workspace(decode(&pruned, "spec", file, sink)?),
        Kind::Template => Spec::Template(decode(&pruned, "spec", file, sink)?),
        Kind::Pool => Spec::Pool(decode(&pruned, "spec", file, sink)?),
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
            resolved: ResolvedPaths::default(),
        },
        node: root,
        complete,
        pruned: issues.iter().map(|i| i.path.clone()).collect(),
        template: None,
        shape: None,
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

pub(crate) fn remove_path(node: &mut Node, segs: &[crate::diagnostic::Seg]) {
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
