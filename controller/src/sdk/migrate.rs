//! `migrate`: rewrites the workspace's documents to the newest `apiVersion`, editing their
//! text in place (`pocket_dock_spec::migrate`) so that comments, order and formatting stay.
//!
//! All or nothing: every document is validated and every file's rewrite is worked out and
//! checked before the first file is written; a file that does not validate, cannot be
//! rewritten in place, or is reached through a symlink refuses the whole run. Each file is
//! then replaced atomically (a temp file in its folder, renamed over it), keeping its mode.

use std::path::{Component, Path, PathBuf};

use pocket_dock_spec::migrate::{Change, migrate};
use pocket_dock_spec::model::API_VERSION;

use crate::Error;
use crate::error::FileCause;
use crate::owned_files::{EntryKind, OwnedDir, OwnedFileError};
use crate::workspace::{DIR_NAME, Workspace};

/// What to migrate.
#[derive(Debug, Clone, Default)]
pub struct MigrateRequest {
    /// Work out and report the changes, write nothing (`--check`).
    pub check: bool,
    /// Only these documents (absolute, or relative to the workspace root); all when empty.
    /// The whole workspace is validated either way.
    pub files: Vec<PathBuf>,
}

/// What `migrate` found and did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateReport {
    /// The version documents were (or would be) rewritten to.
    pub api_version: &'static str,
    /// Whether this was `--check` (nothing written).
    pub check: bool,
    /// Files that change (or would, with `--check`).
    pub changed: usize,
    /// Every document file looked at, sorted, with its changes.
    pub files: Vec<MigratedFile>,
}

impl MigrateReport {
    /// Whether some file is not (or, after `--check`, would not be) of the newest version.
    pub fn pending(&self) -> bool {
        self.check && self.changed > 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigratedFile {
    /// Relative to the workspace root: `.pocket-dock/web.yaml`.
    pub file: PathBuf,
    /// Empty when the file already is of the newest version.
    pub changes: Vec<Change>,
    /// Whether the file was rewritten.
    pub written: bool,
}

/// Where a document can be rewritten: its folder (opened without following symlinks) and
/// name; or why it cannot be.
type Place = Result<(OwnedDir, String), &'static str>;

/// A file whose new text is worked out, and where it can be written.
struct Prepared {
    file: PathBuf,
    old: Vec<u8>,
    new: String,
    changes: Vec<Change>,
    place: Place,
}

impl Workspace {
    /// Rewrites the workspace's documents of an older `apiVersion` to the newest one
    /// (`pocket-dock migrate`); with `check`, only says which would change.
    pub fn migrate(&self, request: &MigrateRequest) -> Result<MigrateReport, Error> {
        let loaded = pocket_dock_spec::load(&self.root);
        if !loaded.is_valid() {
            return Err(Error::Invalid {
                diagnostics: loaded.diagnostics,
            });
        }
        let files = self.selected(&loaded.declarations.files, &request.files)?;
        let mut prepared = Vec::new();
        let mut problems = Vec::new();
        for file in files {
            let (old, place) = self.read(&file)?;
            let text = String::from_utf8(old.clone()).map_err(|e| {
                Error::file(
                    "read",
                    self.root.join(&file),
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?;
            match migrate(&text) {
                Ok(m) => prepared.push(Prepared {
                    file,
                    old,
                    new: m.text,
                    changes: m.changes,
                    place,
                }),
                Err(issue) => problems.push(issue.in_file(&file)),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid {
                diagnostics: problems,
            });
        }
        // Refused before anything is written: a file to rewrite that is not ours to write.
        for p in prepared.iter().filter(|p| !p.changes.is_empty()) {
            if let Err(what) = &p.place {
                let path = self.root.join(&p.file);
                return Err(Error::file(
                    "rewrite",
                    path.clone(),
                    FileCause::Owned(OwnedFileError::NotOurs { path, what }),
                ));
            }
        }
        let mut report = MigrateReport {
            api_version: API_VERSION,
            check: request.check,
            changed: prepared.iter().filter(|p| !p.changes.is_empty()).count(),
            files: Vec::new(),
        };
        for p in prepared {
            let mut written = false;
            if !request.check
                && !p.changes.is_empty()
                && let Ok((dir, name)) = &p.place
            {
                dir.replace_atomic(name, &p.old, p.new.as_bytes())
                    .map_err(|e| Error::file("rewrite", self.root.join(&p.file), e))?;
                written = true;
            }
            report.files.push(MigratedFile {
                file: p.file,
                changes: p.changes,
                written,
            });
        }
        Ok(report)
    }

    /// The loader's files that `wanted` names (all of them when it is empty).
    fn selected(&self, files: &[PathBuf], wanted: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
        if wanted.is_empty() {
            return Ok(files.to_vec());
        }
        let mut selected = Vec::new();
        for path in wanted {
            let absolute = normalized(&self.root.join(path));
            match files
                .iter()
                .find(|f| normalized(&self.root.join(f)) == absolute)
            {
                Some(file) if !selected.contains(file) => selected.push(file.clone()),
                Some(_) => {}
                None => {
                    return Err(Error::argument(
                        "FILE",
                        format!(
                            "{} is not a document of the workspace at {} (a .yaml or .yml file under {DIR_NAME}/)",
                            path.display(),
                            self.root.display()
                        ),
                    ));
                }
            }
        }
        selected.sort();
        Ok(selected)
    }

    /// A document's bytes, and the folder and name to rewrite it by: every folder from
    /// `.pocket-dock/` down opened without following symlinks. A document reached through
    /// a symlink (which the loader reads when it leads inside the workspace) is read
    /// through it, but is not writable.
    fn read(&self, file: &Path) -> Result<(Vec<u8>, Place), Error> {
        let path = self.root.join(file);
        let limit = pocket_dock_spec::yaml::Limits::default().max_bytes as u64;
        let names: Vec<String> = file
            .strip_prefix(DIR_NAME)
            .unwrap_or(file)
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let Some((name, folders)) = names.split_last() else {
            return Err(Error::argument("FILE", "not a document"));
        };
        let owned = |e: OwnedFileError| Error::file("read", &path, e);
        let mut dir = OwnedDir::open(&self.dir()).map_err(owned)?;
        for folder in folders {
            match dir.subdir(folder, false) {
                Ok(Some(sub)) => dir = sub,
                Ok(None) => {
                    return Err(owned(OwnedFileError::io(
                        "open",
                        dir.path().join(folder),
                        std::io::Error::from(std::io::ErrorKind::NotFound),
                    )));
                }
                Err(OwnedFileError::NotOurs { .. }) => {
                    return Ok((
                        read_through_link(&path, limit)?,
                        Err("reached through a symlinked folder"),
                    ));
                }
                Err(e) => return Err(owned(e)),
            }
        }
        match dir.entry(name).map_err(owned)? {
            EntryKind::Symlink => Ok((read_through_link(&path, limit)?, Err("a symlink"))),
            _ => match dir.read(name, limit + 1).map_err(owned)? {
                // Checked again when it is replaced; here so that nothing is written when
                // any file would be refused.
                Some(bytes) if hard_linked(&path) => {
                    Ok((bytes, Err("a hard link to another file")))
                }
                Some(bytes) => Ok((bytes, Ok((dir, name.clone())))),
                None => Err(owned(OwnedFileError::io(
                    "read",
                    path.clone(),
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                ))),
            },
        }
    }
}

/// Whether the regular file at `path` has another name too.
fn hard_linked(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.nlink() > 1)
}

/// `path` without `.` and with `..` applied, lexically.
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A document behind a symlink, which the loader has checked to lead to a regular file in
/// the workspace: opened non-blocking (a FIFO swapped in since is refused unread).
fn read_through_link(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    use rustix::fs::{FileType, Mode, OFlags};
    use std::io::Read;
    let fail = |e: std::io::Error| Error::file("read", path, e);
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| fail(e.into()))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| fail(e.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Error::file(
            "read",
            path,
            OwnedFileError::NotOurs {
                path: path.to_path_buf(),
                what: "not a regular file",
            },
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    Ok(bytes)
}
