//! Build contexts: the files a build sees (after pocket-dock's own exclusions and
//! `.containerignore`/`.dockerignore`), their content hash (which names the image, so an
//! unchanged context is never rebuilt), and the tarball sent to Podman.
//!
//! Every read goes through `nofollow`: the context folder is opened by
//! its canonical path, everything in it relative to that descriptor, and no symlink is ever
//! followed. A symlink in the context is sent as a symlink (as Docker does), never read
//! through.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use pocket_dock_spec::ResolvedPaths;
use pocket_dock_spec::model::Build;

use super::ImageError;
use super::containerfile;
use super::ignore::IgnoreRules;
use super::nofollow::{DirCursor, DirHandle, EntryKind};

/// Where the Containerfile pocket-dock actually builds sits inside the context tarball.
pub const CONTAINERFILE_IN_TAR: &str = ".pocket-dock.Containerfile";

/// Looked for in the context when `build.containerfile` is not set, in this order.
const CONTAINERFILES: [&str; 2] = ["Containerfile", "Dockerfile"];
/// The ignore file of a context: the first of these that exists.
const IGNORE_FILES: [&str; 2] = [".containerignore", ".dockerignore"];

/// A build as declared, with paths resolved against the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecipe {
    /// The context folder: canonical (see [`resolve_folder`]) and inside `workspace_root`.
    pub context: PathBuf,
    /// `None`: `Containerfile`, else `Dockerfile`, in the context. Its folder is canonical,
    /// its name is not resolved (see [`resolve_file`]): a symlink is refused, not followed.
    pub containerfile: Option<PathBuf>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// The base that replaces the first `FROM` (`build.from`), as an image reference.
    pub base: Option<String>,
    /// The canonical workspace root. Its `.pocket-dock/` folder holds files pocket-dock
    /// writes itself, which no context ever includes.
    pub workspace_root: PathBuf,
    /// Sandboxes' secret files inside the workspace (relative to `workspace_root`): never
    /// part of a context, whatever the ignore file says.
    pub secret_files: std::collections::BTreeSet<PathBuf>,
}

/// One entry of a context.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir,
    /// A regular file, with the length and sha256 of the content that was hashed.
    File {
        executable: bool,
        size: u64,
        digest: [u8; 32],
    },
    Symlink(PathBuf),
}

/// A context read from disk: what goes into the tarball, and its hash.
#[derive(Debug, Clone)]
pub struct PreparedBuild {
    /// sha256 hex over everything that decides the build's result.
    pub content_hash: String,
    /// The Containerfile text to build (with `build.from` applied).
    pub containerfile: String,
    root: PathBuf,
    entries: Vec<(String, Entry)>,
}

/// The canonical path of a folder written relative to the workspace root, or the path as
/// written when it cannot be resolved (preparing the build then says why).
pub fn resolve_folder(root: &Path, written: &str) -> PathBuf {
    let joined = root.join(written);
    joined.canonicalize().unwrap_or(joined)
}

/// The path of a file written relative to the workspace root, with its folder made
/// canonical and its own name kept: a symlink there is refused when it is read, not
/// resolved now.
pub fn resolve_file(root: &Path, written: &str) -> PathBuf {
    let joined = root.join(written);
    match (joined.parent(), joined.file_name()) {
        (Some(parent), Some(name)) => parent
            .canonicalize()
            .map(|parent| parent.join(name))
            .unwrap_or(joined),
        _ => joined,
    }
}

/// Whether `path`, relative to the workspace root, is one of the files pocket-dock writes
/// itself in `.pocket-dock/`: the state store (`state.db` and its `-wal`, `-shm` and
/// `.corrupt-…` companions), the `status/` folder and everything in it, `controller.lock`,
/// `writer.lock`, the pools' locks (`pools/`), the secret digests' key `secret-key`, and temporary files (`.tmp-` in the name). They are never part of a build context, and
/// a change to one is not an edit of the workspace.
pub fn is_pocket_dock_own_file(path: &Path) -> bool {
    let mut names = path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.as_encoded_bytes()),
        _ => None,
    });
    if names.next() != Some(crate::workspace::DIR_NAME.as_bytes()) {
        return false;
    }
    let Some(first) = names.next() else {
        return false;
    };
    use crate::workspace::own_files::{
        CONTROLLER_LOCK, EGRESS_DIR, POOLS_DIR, SECCOMP_DIR, SECRET_KEY, STATE_STORE, STATUS_DIR,
        TEMP_MARKER, WRITER_LOCK,
    };
    let marker = TEMP_MARKER.as_bytes();
    let temporary = |name: &[u8]| name.windows(marker.len()).any(|w| w == marker);
    first.starts_with(STATE_STORE.as_bytes())
        || first == STATUS_DIR.as_bytes()
        || first == EGRESS_DIR.as_bytes()
        || first == SECCOMP_DIR.as_bytes()
        || first == POOLS_DIR.as_bytes()
        || first == CONTROLLER_LOCK.as_bytes()
        || first == WRITER_LOCK.as_bytes()
        || first == SECRET_KEY.as_bytes()
        || temporary(first)
        || names.any(temporary)
}

/// Left out unless the ignore file re-includes them (`!.git`): the repository's history,
/// and in a context at the workspace root the declarations, whose edits must not rebuild
/// an image. Applied before the ignore file, whose patterns therefore win.
fn default_exclusions(context_in_workspace: &Path) -> IgnoreRules {
    let mut text = String::from(".git\n");
    if context_in_workspace.as_os_str().is_empty() {
        text.push_str(crate::workspace::DIR_NAME);
    }
    IgnoreRules::parse(&text)
}

/// A context as read from disk, before it is hashed: everything a build's content hash
/// needs from files, so that the hash itself ([`ContextRead::content_hash`]) is pure.
#[derive(Debug)]
pub struct ContextRead {
    containerfile_path: PathBuf,
    containerfile_text: String,
    root: PathBuf,
    /// The ignore file and the walk. Kept as a result so that a missing `FROM` is still
    /// reported before them, as when reading and hashing were one step.
    entries: Result<Vec<(String, Entry)>, ImageError>,
}

impl ContextRead {
    /// The recipe's content hash over what was read (pure): the args, target and base come
    /// from `recipe`, whose `base` may be set after the read.
    pub fn content_hash(&self, recipe: &BuildRecipe) -> Result<String, String> {
        let containerfile = self.containerfile(recipe).map_err(|e| e.to_string())?;
        let entries = self.entries.as_ref().map_err(ToString::to_string)?;
        Ok(recipe.content_hash(&containerfile, entries))
    }

    /// The Containerfile text to build: `build.from` applied.
    fn containerfile(&self, recipe: &BuildRecipe) -> Result<String, ImageError> {
        match &recipe.base {
            Some(base) => containerfile::replace_first_from(&self.containerfile_text, base)
                .ok_or_else(|| ImageError::NoFrom {
                    path: self.containerfile_path.clone(),
                }),
            None => Ok(self.containerfile_text.clone()),
        }
    }

    fn into_prepared(self, recipe: &BuildRecipe) -> Result<PreparedBuild, ImageError> {
        let containerfile = self.containerfile(recipe)?;
        let entries = self.entries?;
        Ok(PreparedBuild {
            content_hash: recipe.content_hash(&containerfile, &entries),
            containerfile,
            root: self.root,
            entries,
        })
    }
}

impl BuildRecipe {
    /// A build as validated: the context and Containerfile paths validation resolved (an
    /// object made by hand, without them, has them resolved here). Resolving reads the file
    /// system, so this runs with the reads (`ImageInputs::read`); reading the context later
    /// refuses a path if a symlink was swapped in since.
    pub fn resolve(build: &Build, resolved: &ResolvedPaths, root: &Path) -> BuildRecipe {
        BuildRecipe {
            context: resolved
                .build_context
                .clone()
                .unwrap_or_else(|| resolve_folder(root, &build.context)),
            containerfile: build.containerfile.as_deref().map(|c| {
                resolved
                    .containerfile
                    .clone()
                    .unwrap_or_else(|| resolve_file(root, c))
            }),
            args: build.args.clone(),
            target: build.target.clone(),
            base: None,
            workspace_root: root.to_path_buf(),
            secret_files: Default::default(),
        }
    }

    /// Reads the context and the Containerfile; hashes them with the args, target and base.
    pub fn prepare(&self) -> Result<PreparedBuild, ImageError> {
        self.read_context()?.into_prepared(self)
    }

    /// Reads the context and the Containerfile (all of a build's file reads), for hashing
    /// later without I/O.
    pub fn read_context(&self) -> Result<ContextRead, ImageError> {
        let context_in_workspace = self.context_in_workspace()?;
        let context = DirHandle::open_canonical(&self.context)?;
        let (path, text) = self.read_containerfile(&context)?;
        let entries = read_ignore_file(&context).and_then(|ignored| {
            let rules = default_exclusions(context_in_workspace).followed_by(ignored);
            walk(context, &rules, context_in_workspace, &self.secret_files)
        });
        Ok(ContextRead {
            containerfile_path: path,
            containerfile_text: text,
            root: self.context.clone(),
            entries,
        })
    }

    fn context_in_workspace(&self) -> Result<&Path, ImageError> {
        self.context
            .strip_prefix(&self.workspace_root)
            .map_err(|_| ImageError::OutsideWorkspace {
                path: self.context.clone(),
                root: self.workspace_root.clone(),
            })
    }

    /// The Containerfile's path and text; a symlink is refused, never followed.
    fn read_containerfile(&self, context: &DirHandle) -> Result<(PathBuf, String), ImageError> {
        let (path, file) = match &self.containerfile {
            Some(path) => (path.clone(), self.open_named_containerfile(context, path)?),
            None => {
                find_default_containerfile(context)?.ok_or_else(|| ImageError::NoContainerfile {
                    context: self.context.clone(),
                })?
            }
        };
        let text = read_text(file, &path)?;
        Ok((path, text))
    }

    /// Opens `build.containerfile`. In the context, it is reached from the context's folder
    /// like every file of it; elsewhere in the workspace, from its own folder, opened by
    /// its canonical path with the same re-check as the context's.
    fn open_named_containerfile(
        &self,
        context: &DirHandle,
        path: &Path,
    ) -> Result<std::fs::File, ImageError> {
        let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(ImageError::NotRegularFile {
                path: path.to_path_buf(),
            });
        };
        let file = if let Ok(inside) = folder.strip_prefix(&self.context) {
            let folders = normal_names(inside).ok_or_else(|| ImageError::NoLongerCanonical {
                path: path.to_path_buf(),
                resolved: folder.to_path_buf(),
            })?;
            DirCursor::new(context)
                .dir(&folders)?
                .open_regular_file(name)?
        } else if folder.starts_with(&self.workspace_root) {
            DirHandle::open_canonical(folder)?.open_regular_file(name)?
        } else {
            return Err(ImageError::OutsideWorkspace {
                path: path.to_path_buf(),
                root: self.workspace_root.clone(),
            });
        };
        file.ok_or_else(|| ImageError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
    }

    fn content_hash(&self, containerfile: &str, entries: &[(String, Entry)]) -> String {
        let mut hasher = Sha256::new();
        let mut field = |name: &str, value: &[u8]| {
            hasher.update(name.as_bytes());
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value);
        };
        field("version", b"pocket-dock build 1");
        field("containerfile", containerfile.as_bytes());
        for (k, v) in &self.args {
            field("arg", k.as_bytes());
            field("value", v.as_bytes());
        }
        field("target", self.target.as_deref().unwrap_or("").as_bytes());
        for (rel, entry) in entries {
            match entry {
                Entry::Dir => field("dir", rel.as_bytes()),
                Entry::Symlink(target) => {
                    field("symlink", rel.as_bytes());
                    field("target", target.as_os_str().as_encoded_bytes());
                }
                Entry::File {
                    executable, digest, ..
                } => {
                    field(if *executable { "exe" } else { "file" }, rel.as_bytes());
                    field("content", digest);
                }
            }
        }
        super::hex(&hasher.finalize())
    }
}

/// The path's components as names, if it has nothing but names (no `..`, no root).
fn normal_names(path: &Path) -> Option<Vec<&OsStr>> {
    path.components()
        .map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect()
}

/// The first of `Containerfile` and `Dockerfile` in the context, opened.
fn find_default_containerfile(
    context: &DirHandle,
) -> Result<Option<(PathBuf, std::fs::File)>, ImageError> {
    for name in CONTAINERFILES {
        if let Some(file) = context.open_regular_file(name)? {
            return Ok(Some((context.path().join(name), file)));
        }
    }
    Ok(None)
}

fn read_text(file: std::fs::File, path: &Path) -> Result<String, ImageError> {
    std::io::read_to_string(file).map_err(|source| ImageError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The context's ignore rules; an ignore file that is a symlink is refused.
fn read_ignore_file(context: &DirHandle) -> Result<IgnoreRules, ImageError> {
    for name in IGNORE_FILES {
        if let Some(file) = context.open_regular_file(name)? {
            let text = read_text(file, &context.path().join(name))?;
            return Ok(IgnoreRules::parse(&text));
        }
    }
    Ok(IgnoreRules::default())
}

/// A folder being walked: its handle, the path prefix of its entries, the names left.
struct Frame {
    dir: DirHandle,
    prefix: String,
    names: std::vec::IntoIter<String>,
}

impl Frame {
    fn new(dir: DirHandle, prefix: String) -> Result<Frame, ImageError> {
        let names = dir.sorted_names()?.into_iter();
        Ok(Frame { dir, prefix, names })
    }
}

/// Collects the context's entries in sorted order (a folder before what is in it), leaving
/// out pocket-dock's own files and what the rules exclude, and hashes every file read. A
/// loop over a stack of open folders rather than recursion, so depth costs no call stack.
fn walk(
    context: DirHandle,
    rules: &IgnoreRules,
    context_in_workspace: &Path,
    secret_files: &std::collections::BTreeSet<PathBuf>,
) -> Result<Vec<(String, Entry)>, ImageError> {
    let mut entries = Vec::new();
    let mut stack = vec![Frame::new(context, String::new())?];
    while let Some(frame) = stack.last_mut() {
        let Some(name) = frame.names.next() else {
            stack.pop();
            continue;
        };
        let rel = format!("{}{name}", frame.prefix);
        let in_workspace = context_in_workspace.join(&rel);
        if is_pocket_dock_own_file(&in_workspace) || secret_files.contains(&in_workspace) {
            continue;
        }
        // Gone since the folder was listed: not part of this context.
        let Some(kind) = frame.dir.kind_of(&name)? else {
            continue;
        };
        let excluded = rules.excludes(&rel);
        match kind {
            EntryKind::Dir => {
                if excluded && !rules.may_reinclude_under(&rel) {
                    continue;
                }
                if !excluded {
                    entries.push((rel.clone(), Entry::Dir));
                }
                let dir = frame.dir.open_dir(&name)?;
                stack.push(Frame::new(dir, format!("{rel}/"))?);
            }
            _ if excluded => {}
            EntryKind::Symlink => {
                let target = frame.dir.read_link(&name)?;
                entries.push((rel, Entry::Symlink(target)));
            }
            EntryKind::File { executable } => {
                let file = frame.dir.open_file(&name)?;
                let mut reader = HashingReader::new(file);
                std::io::copy(&mut reader, &mut std::io::sink()).map_err(|source| {
                    ImageError::Read {
                        path: frame.dir.path().join(&name),
                        source,
                    }
                })?;
                let (size, digest) = reader.finish();
                entries.push((
                    rel,
                    Entry::File {
                        executable,
                        size,
                        digest,
                    },
                ));
            }
            // FIFOs, sockets and devices are left out, never opened (opening a FIFO blocks).
            // Docker never reads them either: its classic builder sends FIFOs and devices
            // as empty header-only entries and drops sockets. They have no content a COPY
            // could use, and a rootless build cannot create device nodes anyway.
            EntryKind::Special => {}
        }
    }
    Ok(entries)
}

/// Hashes and counts what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// How many bytes were read, and their sha256.
    fn finish(self) -> (u64, [u8; 32]) {
        (self.count, self.hasher.finalize().into())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Splits a context-relative entry path into its folders and its name.
fn folders_and_name(rel: &str) -> (Vec<&OsStr>, &str) {
    match rel.rsplit_once('/') {
        Some((folders, name)) => (folders.split('/').map(OsStr::new).collect(), name),
        None => (Vec::new(), rel),
    }
}

impl PreparedBuild {
    /// The context tarball: the entries (fixed owner and time; modes 0644/0755) plus the
    /// Containerfile to build at [`CONTAINERFILE_IN_TAR`]. Files are read again the way
    /// they were hashed; one whose content is no longer what was hashed fails the build
    /// ([`ImageError::FileChanged`]) rather than sending a context that does not match its
    /// name.
    pub fn tarball(&self) -> Result<Vec<u8>, ImageError> {
        let context = DirHandle::open_canonical(&self.root)?;
        let mut folders = DirCursor::new(&context);
        let mut builder = tar::Builder::new(Vec::new());
        let io = |source| ImageError::Read {
            path: self.root.clone(),
            source,
        };
        for (rel, entry) in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            match entry {
                Entry::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, rel, std::io::empty())
                        .map_err(io)?;
                }
                Entry::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, rel, target).map_err(io)?;
                }
                Entry::File {
                    executable,
                    size,
                    digest,
                } => {
                    let (parents, name) = folders_and_name(rel);
                    let dir = folders.dir(&parents)?;
                    let path = dir.path().join(name);
                    let file = dir.open_file(name)?;
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(if *executable { 0o755 } else { 0o644 });
                    header.set_size(*size);
                    // Never more than was hashed; less, or other bytes, is checked below.
                    let mut reader = HashingReader::new(file.take(*size));
                    builder
                        .append_data(&mut header, rel, &mut reader)
                        .map_err(|source| ImageError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    if reader.finish() != (*size, *digest) {
                        return Err(ImageError::FileChanged { path });
                    }
                }
            }
        }
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(self.containerfile.len() as u64);
        builder
            .append_data(
                &mut header,
                CONTAINERFILE_IN_TAR,
                self.containerfile.as_bytes(),
            )
            .map_err(io)?;
        let mut out = builder.into_inner().map_err(io)?;
        out.flush().map_err(io)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::{Duration, Instant};

    /// A temporary folder by its canonical path, as the workspace root always is.
    fn workspace() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        (dir, root)
    }

    fn recipe(dir: &Path) -> BuildRecipe {
        BuildRecipe {
            context: dir.to_path_buf(),
            containerfile: None,
            args: BTreeMap::new(),
            target: None,
            base: None,
            workspace_root: dir.to_path_buf(),
            secret_files: Default::default(),
        }
    }

    fn hash(recipe: &BuildRecipe) -> String {
        recipe.prepare().unwrap().content_hash
    }

    fn tar_names(prepared: &PreparedBuild) -> Vec<String> {
        let tar = prepared.tarball().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_hash_follows_content_args_and_base_but_not_ignored_files_or_mtimes() {
        let (_keep, root) = workspace();
        let root = root.as_path();
        std::fs::write(root.join("Containerfile"), "FROM x\nCOPY . /app\n").unwrap();
        std::fs::write(root.join("a.txt"), "one").unwrap();
        std::fs::create_dir(root.join("logs")).unwrap();
        std::fs::write(root.join("logs/x.log"), "noise").unwrap();
        std::fs::write(root.join(".containerignore"), "logs\n").unwrap();
        let r = recipe(root);
        let first = r.prepare().unwrap().content_hash;
        assert_eq!(first, r.prepare().unwrap().content_hash, "stable");

        std::fs::write(root.join("logs/x.log"), "more noise").unwrap();
        assert_eq!(first, r.prepare().unwrap().content_hash, "ignored");
        let file = std::fs::File::options()
            .write(true)
            .open(root.join("a.txt"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(
            first,
            r.prepare().unwrap().content_hash,
            "mtime is not content"
        );

        std::fs::write(root.join("a.txt"), "two").unwrap();
        let edited = r.prepare().unwrap().content_hash;
        assert_ne!(first, edited, "content");

        let mut with_arg = recipe(root);
        with_arg.args.insert("LEVEL".into(), "1".into());
        assert_ne!(edited, with_arg.prepare().unwrap().content_hash, "args");
        let mut with_base = recipe(root);
        with_base.base = Some("localhost/base:1".into());
        let based = with_base.prepare().unwrap();
        assert_ne!(edited, based.content_hash, "base");
        assert!(based.containerfile.starts_with("FROM localhost/base:1\n"));
        let mut with_target = recipe(root);
        with_target.target = Some("dev".into());
        assert_ne!(
            edited,
            with_target.prepare().unwrap().content_hash,
            "target"
        );
    }

    #[test]
    fn the_tarball_holds_the_context_and_the_containerfile_to_build() {
        let (_keep, root) = workspace();
        let root = root.as_path();
        std::fs::write(root.join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f"), "data").unwrap();
        std::fs::write(root.join("skip.tmp"), "x").unwrap();
        std::fs::write(root.join(".dockerignore"), "*.tmp\n").unwrap();
        let prepared = recipe(root).prepare().unwrap();
        assert_eq!(
            tar_names(&prepared),
            [
                ".dockerignore",
                "Dockerfile",
                "sub",
                "sub/f",
                CONTAINERFILE_IN_TAR
            ]
        );
    }

    #[test]
    fn a_missing_containerfile_is_a_clear_error() {
        let (_keep, root) = workspace();
        let err = recipe(&root).prepare().unwrap_err();
        assert!(err.to_string().contains("no Containerfile"), "{err}");
    }

    /// A workspace whose root is the context, with every kind of file pocket-dock writes.
    fn workspace_with_own_files(root: &Path) {
        write(root, "Containerfile", "FROM x\nCOPY . /app\n");
        write(root, "app.txt", "app");
        write(root, ".pocket-dock/state.db", "db");
        write(root, ".pocket-dock/state.db-wal", "wal");
        write(root, ".pocket-dock/state.db.corrupt-2026", "old");
        write(root, ".pocket-dock/status/sandbox/a.yaml", "phase: Running");
        write(root, ".pocket-dock/controller.lock", "");
        write(root, ".pocket-dock/secret-key", "key");
        write(root, ".pocket-dock/images/web.yaml.tmp-42", "half");
        write(root, ".pocket-dock/web.yaml", "kind: Sandbox");
        write(root, ".git/HEAD", "ref: refs/heads/main");
    }

    const OWN_FILES: [&str; 7] = [
        ".pocket-dock/state.db",
        ".pocket-dock/state.db-wal",
        ".pocket-dock/state.db.corrupt-2026",
        ".pocket-dock/status/sandbox/a.yaml",
        ".pocket-dock/controller.lock",
        ".pocket-dock/secret-key",
        ".pocket-dock/images/web.yaml.tmp-42",
    ];

    #[test]
    fn a_sandboxs_secret_file_is_never_in_a_context() {
        let (_keep, root) = workspace();
        write(&root, "Containerfile", "FROM x\nCOPY . /app\n");
        write(&root, "app.txt", "app");
        write(&root, "secrets/token", "s3cret");
        write(&root, ".containerignore", "!secrets\n");
        let mut r = recipe(&root);
        r.secret_files.insert(PathBuf::from("secrets/token"));
        let first = hash(&r);
        write(&root, "secrets/token", "rotated");
        assert_eq!(first, hash(&r), "the secret is not part of the context");
        let names = tar_names(&r.prepare().unwrap());
        assert!(!names.iter().any(|n| n.contains("token")), "{names:?}");
    }

    #[test]
    fn pocket_dock_files_and_git_are_not_in_a_context_at_the_root() {
        let (_keep, root) = workspace();
        workspace_with_own_files(&root);
        let r = recipe(&root);
        let first = hash(&r);
        for rel in OWN_FILES
            .iter()
            .chain(&[".pocket-dock/web.yaml", ".git/HEAD"])
        {
            write(&root, rel, "changed by the apply");
            assert_eq!(first, hash(&r), "{rel} is not part of the context");
        }
        write(&root, ".pocket-dock/state.db-shm", "new");
        assert_eq!(first, hash(&r), "a new companion of the store");
        assert_eq!(
            tar_names(&r.prepare().unwrap()),
            ["Containerfile", "app.txt", CONTAINERFILE_IN_TAR]
        );
        write(&root, "app.txt", "edited");
        assert_ne!(first, hash(&r), "the workspace's own files still count");
    }

    #[test]
    fn the_ignore_file_brings_git_and_declarations_back_but_never_own_files() {
        let (_keep, root) = workspace();
        workspace_with_own_files(&root);
        let r = recipe(&root);
        write(&root, ".containerignore", "!.git\n");
        let with_git = tar_names(&r.prepare().unwrap());
        assert!(with_git.contains(&".git/HEAD".to_string()), "{with_git:?}");
        let before = hash(&r);
        write(&root, ".git/HEAD", "ref: refs/heads/other");
        assert_ne!(before, hash(&r), "re-included .git is hashed");

        write(
            &root,
            ".containerignore",
            "!.pocket-dock\n!.pocket-dock/**\n!**/state.db*\n",
        );
        let names = tar_names(&r.prepare().unwrap());
        assert!(
            names.contains(&".pocket-dock/web.yaml".to_string()),
            "{names:?}"
        );
        for own in OWN_FILES {
            assert!(!names.iter().any(|n| n == own), "{own} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("status")), "{names:?}");
        let before = hash(&r);
        for own in OWN_FILES {
            write(&root, own, "changed again");
        }
        assert_eq!(before, hash(&r));
    }

    #[test]
    fn only_the_files_pocket_dock_writes_are_its_own() {
        for own in OWN_FILES
            .iter()
            .chain(&[".pocket-dock/status", "./.pocket-dock/state.db-shm"])
        {
            assert!(is_pocket_dock_own_file(Path::new(own)), "{own}");
        }
        for not_own in [
            ".pocket-dock",
            ".pocket-dock/web.yaml",
            ".pocket-dock/snapshots/snap.yaml",
            ".pocket-dock/statusquo.yaml",
            "state.db",
            "sub/.pocket-dock/state.db",
            "status/a.yaml",
        ] {
            assert!(!is_pocket_dock_own_file(Path::new(not_own)), "{not_own}");
        }
    }

    #[test]
    fn a_context_in_a_subfolder_keeps_its_own_dot_folders_but_not_git() {
        let (_keep, root) = workspace();
        write(&root, "app/Containerfile", "FROM x\n");
        write(&root, "app/.pocket-dock/notes", "user data");
        write(&root, "app/.git/HEAD", "ref");
        write(&root, ".pocket-dock/state.db", "db");
        let mut r = recipe(&root.join("app"));
        r.workspace_root = root.clone();
        assert_eq!(
            tar_names(&r.prepare().unwrap()),
            [
                ".pocket-dock",
                ".pocket-dock/notes",
                "Containerfile",
                CONTAINERFILE_IN_TAR
            ]
        );
    }

    #[test]
    fn a_containerfile_or_ignore_file_that_is_a_symlink_is_refused() {
        let (_keep, root) = workspace();
        let (_outside_keep, outside) = workspace();
        write(&outside, "secret", "FROM secret\n");
        symlink(outside.join("secret"), root.join("Containerfile")).unwrap();
        let err = recipe(&root).prepare().unwrap_err();
        assert!(matches!(err, ImageError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("is a symlink"), "{err}");

        std::fs::remove_file(root.join("Containerfile")).unwrap();
        write(&root, "Containerfile", "FROM x\n");
        symlink(outside.join("secret"), root.join(".dockerignore")).unwrap();
        let err = recipe(&root).prepare().unwrap_err();
        assert!(matches!(err, ImageError::Symlink { .. }), "{err}");

        std::fs::remove_file(root.join(".dockerignore")).unwrap();
        let mut named = recipe(&root);
        symlink(outside.join("secret"), root.join("build.Containerfile")).unwrap();
        named.containerfile = Some(resolve_file(&root, "build.Containerfile"));
        let err = named.prepare().unwrap_err();
        assert!(matches!(err, ImageError::Symlink { .. }), "{err}");
    }

    #[test]
    fn a_containerfile_elsewhere_in_the_workspace_is_read_but_not_outside_it() {
        let (_keep, root) = workspace();
        write(&root, "app/main.sh", "echo");
        write(&root, "files/app.Containerfile", "FROM y\n");
        let mut r = recipe(&root.join("app"));
        r.workspace_root = root.clone();
        r.containerfile = Some(resolve_file(&root, "app/../files/app.Containerfile"));
        assert_eq!(r.prepare().unwrap().containerfile, "FROM y\n");

        let (_outside_keep, outside) = workspace();
        write(&outside, "Containerfile", "FROM z\n");
        r.containerfile = Some(outside.join("Containerfile"));
        let err = r.prepare().unwrap_err();
        assert!(matches!(err, ImageError::OutsideWorkspace { .. }), "{err}");
    }

    #[test]
    fn a_symlink_is_carried_as_a_symlink_never_followed() {
        let (_keep, root) = workspace();
        let (_outside_keep, outside) = workspace();
        write(&outside, "data/secret", "one");
        write(&root, "Containerfile", "FROM x\n");
        symlink(outside.join("data/secret"), root.join("file-link")).unwrap();
        symlink(outside.join("data"), root.join("dir-link")).unwrap();
        let r = recipe(&root);
        let prepared = r.prepare().unwrap();
        let tar = prepared.tarball().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let links: Vec<(String, tar::EntryType, Option<PathBuf>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e.link_name().unwrap().map(|l| l.into_owned());
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                    link,
                )
            })
            .filter(|(name, _, _)| name.ends_with("-link"))
            .collect();
        assert_eq!(
            links,
            [
                (
                    "dir-link".into(),
                    tar::EntryType::Symlink,
                    Some(outside.join("data"))
                ),
                (
                    "file-link".into(),
                    tar::EntryType::Symlink,
                    Some(outside.join("data/secret"))
                ),
            ]
        );
        write(&outside, "data/secret", "two");
        write(&outside, "data/more", "new");
        assert_eq!(
            prepared.content_hash,
            hash(&r),
            "the target's content is not hashed"
        );
    }

    #[test]
    fn special_files_in_the_context_are_left_out_without_blocking() {
        let (_keep, root) = workspace();
        write(&root, "Containerfile", "FROM x\n");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("pipe"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        let socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
        let start = Instant::now();
        let prepared = recipe(&root).prepare().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(
            tar_names(&prepared),
            ["Containerfile", CONTAINERFILE_IN_TAR]
        );
        drop(socket);
    }

    #[test]
    fn a_context_whose_path_was_swapped_for_a_symlink_is_refused() {
        let (_keep, root) = workspace();
        let (_outside_keep, outside) = workspace();
        write(&root, "app/Containerfile", "FROM x\n");
        write(&outside, "app/Containerfile", "FROM evil\n");
        let mut r = recipe(&resolve_folder(&root, "app"));
        r.workspace_root = root.clone();
        assert!(r.prepare().is_ok());
        std::fs::rename(root.join("app"), root.join("app.old")).unwrap();
        symlink(outside.join("app"), root.join("app")).unwrap();
        let err = r.prepare().unwrap_err();
        assert!(matches!(err, ImageError::NoLongerCanonical { .. }), "{err}");
        assert!(err.to_string().contains("now resolves to"), "{err}");
    }

    #[test]
    fn a_context_outside_the_workspace_is_refused() {
        let (_keep, root) = workspace();
        let (_outside_keep, outside) = workspace();
        write(&outside, "Containerfile", "FROM x\n");
        let mut r = recipe(&outside);
        r.workspace_root = root;
        let err = r.prepare().unwrap_err();
        assert!(matches!(err, ImageError::OutsideWorkspace { .. }), "{err}");
    }

    #[test]
    fn a_file_changed_after_hashing_fails_the_tarball() {
        let (_keep, root) = workspace();
        write(&root, "Containerfile", "FROM x\n");
        write(&root, "data", "hashed content");
        let prepared = recipe(&root).prepare().unwrap();
        write(&root, "data", "other content!");
        let err = prepared.tarball().unwrap_err();
        assert!(matches!(err, ImageError::FileChanged { .. }), "{err}");
        write(&root, "data", "short");
        let err = prepared.tarball().unwrap_err();
        assert!(matches!(err, ImageError::FileChanged { .. }), "{err}");

        write(&root, "data", "hashed content");
        std::fs::remove_file(root.join("data")).unwrap();
        symlink("/etc/hostname", root.join("data")).unwrap();
        let err = prepared.tarball().unwrap_err();
        assert!(matches!(err, ImageError::Symlink { .. }), "{err}");
    }

    #[test]
    fn paths_are_resolved_against_the_workspace() {
        let (_keep, root) = workspace();
        write(&root, "app/Containerfile", "FROM x\n");
        symlink("app", root.join("app-link")).unwrap();
        assert_eq!(resolve_folder(&root, "."), root);
        assert_eq!(resolve_folder(&root, "app-link"), root.join("app"));
        assert_eq!(resolve_folder(&root, "missing"), root.join("missing"));
        assert_eq!(
            resolve_file(&root, "app-link/Containerfile"),
            root.join("app/Containerfile")
        );
        assert_eq!(
            resolve_file(&root, "app/../app-link"),
            root.join("app-link"),
            "the file's own name is never resolved"
        );
    }
}
