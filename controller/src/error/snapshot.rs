//! Why a snapshot document cannot be written.

use std::path::PathBuf;

use crate::owned_files::OwnedFileError;

/// Why a snapshot document cannot be written; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot name {name:?}: {problem}")]
    InvalidName { name: String, problem: String },
    #[error("Sandbox/{sandbox} is not declared in this workspace (see `pocket-dock get`)")]
    SandboxNotDeclared { sandbox: String },
    #[error("Snapshot/{name} is declared in {}; bump its generation there and apply", file.display())]
    DeclaredElsewhere { name: String, file: PathBuf },
    #[error("Snapshot/{name} snapshots Sandbox/{declared}, not {requested}; pick another name")]
    OtherSandbox {
        name: String,
        declared: String,
        requested: String,
    },
    #[error("{source}: bump the generation of Snapshot/{name} there by hand and apply")]
    NotOurs {
        name: String,
        #[source]
        source: OwnedFileError,
    },
    #[error("cannot write {}: {source}", file.display())]
    Write {
        file: PathBuf,
        #[source]
        source: OwnedFileError,
    },
}

impl SnapshotError {
    pub fn category(&self) -> crate::Category {
        match self {
            SnapshotError::InvalidName { .. }
            | SnapshotError::SandboxNotDeclared { .. }
            | SnapshotError::DeclaredElsewhere { .. }
            | SnapshotError::OtherSandbox { .. } => crate::Category::InvalidInput,
            SnapshotError::NotOurs { source, .. } | SnapshotError::Write { source, .. } => {
                source.category()
            }
        }
    }
}
