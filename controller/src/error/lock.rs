//! Why the controller's lock cannot be taken.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another controller (pid {pid}) is already running for this workspace ({path}); stop it first"
    )]
    Held { pid: String, path: PathBuf },
    /// `.pocket-dock` or the lock file is a symlink (or not a regular file).
    #[error(transparent)]
    Unsafe(#[from] crate::owned_files::OwnedFileError),
    #[error("cannot open the controller lock {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    pub fn category(&self) -> crate::Category {
        match self {
            LockError::Held { .. } | LockError::Unsafe(_) => crate::Category::Conflict,
            LockError::Io { .. } => crate::Category::Storage,
        }
    }
}
