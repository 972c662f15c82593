//! Importing other tools' files as `.pocket-dock/` documents: each importer is a pure
//! function from text to [`Imported`] (the documents to write and everything it did not
//! carry over); [`write`] puts them on disk without following symlinks or overwriting
//! files it did not make.

pub mod compose;
pub mod devcontainer;

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::owned_files::{EntryKind, OwnedDir, OwnedFileError};

/// The first line of every file an importer writes: a file that starts with it is the
/// importer's to replace.
pub const HEADER_PREFIX: &str = "# Imported by pocket-dock";

/// Something of the source file that is worth a line: not carried over (a skip), or carried
/// over differently from how the source tool would run it (a warning).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Note {
    /// 1-based line of the key in the source file.
    pub line: u32,
    /// The key's path, e.g. `services.web.privileged`.
    pub path: String,
    pub reason: String,
}

/// One file to write, by its name in the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub name: String,
    pub text: String,
}

/// What an import produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Imported {
    /// Sorted by name.
    pub files: Vec<OutFile>,
    /// Keys not carried over, sorted by line.
    pub skipped: Vec<Note>,
    /// Keys carried over with a difference worth knowing, sorted by line.
    pub warnings: Vec<Note>,
}

/// Writes `files` into `dir` (created when missing; never a symlink). A file that exists
/// and does not start with [`HEADER_PREFIX`] is left alone and nothing is written, unless
/// `force`. Returns the paths written.
pub fn write(dir: &Path, files: &[OutFile], force: bool) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::file("create the folder", dir, e))?;
    let out = OwnedDir::open(dir).map_err(|e| Error::file("open", dir, e))?;
    let ours = |head: &[u8]| force || head.starts_with(HEADER_PREFIX.as_bytes());
    // Every refusal before any write: an import is written whole or not at all.
    for file in files {
        let refusal = match out.entry(&file.name).map_err(owned(dir))? {
            EntryKind::Absent => None,
            EntryKind::File => match out.read(&file.name, 4096).map_err(owned(dir))? {
                Some(head) if !ours(&head) => Some(OwnedFileError::Foreign {
                    path: dir.join(&file.name),
                }),
                _ => None,
            },
            kind => Some(OwnedFileError::NotOurs {
                path: dir.join(&file.name),
                what: kind.describe(),
            }),
        };
        if let Some(refusal) = refusal {
            return Err(Error::file("write", dir.join(&file.name), refusal));
        }
    }
    let mut written = Vec::new();
    for file in files {
        out.write_atomic(&file.name, file.text.as_bytes(), ours)
            .map_err(|e| Error::file("write", dir.join(&file.name), e))?;
        written.push(dir.join(&file.name));
    }
    Ok(written)
}

fn owned(dir: &Path) -> impl Fn(OwnedFileError) -> Error + '_ {
    move |e| Error::file("inspect", dir, e)
}
