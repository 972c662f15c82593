//! Why a snapshot (or fork) document cannot be written.

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
    /// `fork`: the new sandbox's name is taken (declared, or a container has it).
    #[error("{what}; pick another name for the fork (nothing was changed)")]
    ForkNameTaken { name: String, what: String },
    /// `fork`: the source is not declared (a sandbox claimed from a pool, or a typo).
    #[error(
        "Sandbox/{sandbox} is not declared in this workspace: a fork is taken through a Snapshot of a declared sandbox (a sandbox claimed from a pool cannot be forked yet; nothing was changed)"
    )]
    ForkSourceNotDeclared { sandbox: String },
    /// `fork`: the source mounts data a fork would share, and no flag says what to do.
    #[error(
        "Sandbox/{sandbox} mounts {}; a fork sharing them could change its data. Pass --share-mounts to mount them in the fork too, or --drop-mounts to leave them out (their contents are not in the snapshot); nothing was changed",
        mounts.join(", ")
    )]
    ForkSharedMounts {
        sandbox: String,
        mounts: Vec<String>,
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
            | SnapshotError::OtherSandbox { .. }
            | SnapshotError::ForkSourceNotDeclared { .. }
            | SnapshotError::ForkSharedMounts { .. } => crate::Category::InvalidInput,
            SnapshotError::ForkNameTaken { .. } => crate::Category::Conflict,
            SnapshotError::NotOurs { source, .. } | SnapshotError::Write { source, .. } => {
                source.category()
            }
        }
    }
}
