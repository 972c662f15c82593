//! The library's error type. Every variant belongs to one [`Category`], and the exit code
//! is derived from the category alone; there is no free-text catch-all.

use std::io;
use std::path::PathBuf;

use pocket_dock_spec::Diagnostic;

pub use crate::category::{Category, ExitCode};
use crate::engine::EngineError;
use crate::workspace::WorkspaceError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// Documents under `.pocket-dock/` are invalid; nothing was changed. The diagnostics
    /// carry file:line for each problem.
    #[error(
        "{} invalid: {} problem{}; nothing was changed (see `pocket-dock validate`)",
        crate::workspace::DIR_NAME,
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    )]
    Invalid { diagnostics: Vec<Diagnostic> },
    /// The declarations may be incomplete (a folder that could not be read, too many
    /// files), so nothing that depends on knowing all of them (pruning, gc) was done.
    #[error(
        "nothing was {refused}: the declarations may be incomplete (a folder under .pocket-dock/ could not be read, or there are too many files); see `pocket-dock validate`"
    )]
    Incomplete { refused: &'static str },
    /// A command-line or API argument is wrong.
    #[error("{problem}")]
    Argument {
        argument: &'static str,
        problem: String,
    },
    /// The request names an object this workspace does not declare (or cannot make).
    #[error("{object} {problem}")]
    NotDeclared { object: String, problem: String },
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error(transparent)]
    Lock(#[from] crate::controller::LockError),
    #[error(transparent)]
    WriterLock(#[from] crate::writer_lock::WriterLockError),
    /// The state store cannot be opened or written (read-only, permissions, disk full,
    /// busy, corrupt and held, refused).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A file pocket-dock writes (or a folder it reads) could not be used.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: FileCause,
    },
    /// Writing to, or reading from, a stream the caller gave (stdout, a session's pipes).
    #[error("cannot {action}: {source}")]
    Stream {
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// A background task of pocket-dock's own failed (panicked or was cancelled).
    #[error("internal error: {task} failed: {message}")]
    Task { task: &'static str, message: String },
    /// The declarations need capabilities the engine lacks; nothing was changed.
    #[error("{}", unsupported_message(.0))]
    Unsupported(Vec<crate::requirements::Unmet>),
    #[error("interrupted")]
    Interrupted,
}

/// Why a file could not be used: the OS said so, or it is not pocket-dock's to touch.
#[derive(Debug, thiserror::Error)]
pub enum FileCause {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Owned(#[from] crate::owned_files::OwnedFileError),
}

fn unsupported_message(unmet: &[crate::requirements::Unmet]) -> String {
    let mut text = format!(
        "the engine cannot do what the workspace declares ({} unmet need{}); nothing was changed",
        unmet.len(),
        if unmet.len() == 1 { "" } else { "s" }
    );
    for u in unmet {
        text.push_str(&format!("\n  {u}"));
    }
    text
}

impl Error {
    /// A wrong argument, named.
    pub fn argument(argument: &'static str, problem: impl Into<String>) -> Self {
        Error::Argument {
            argument,
            problem: problem.into(),
        }
    }

    /// An I/O failure on `path` while doing `action`.
    pub fn file(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<FileCause>,
    ) -> Self {
        Error::File {
            action,
            path: path.into(),
            source: source.into(),
        }
    }

    /// A background task that did not finish.
    pub fn task(task: &'static str, error: tokio::task::JoinError) -> Self {
        Error::Task {
            task,
            message: error.to_string(),
        }
    }

    /// The broad class of the failure, as shown in `--output json`.
    pub fn category(&self) -> Category {
        match self {
            Error::Engine(e) => e.category(),
            Error::Workspace(e) => e.category(),
            Error::Invalid { .. }
            | Error::Incomplete { .. }
            | Error::Argument { .. }
            | Error::NotDeclared { .. } => Category::InvalidInput,
            Error::Image(e) => e.category(),
            Error::Sandbox(e) => e.category(),
            Error::Snapshot(e) => e.category(),
            Error::Lock(e) => e.category(),
            Error::WriterLock(e) => e.category(),
            Error::Store(_) => Category::Storage,
            Error::File { source, .. } => match source {
                FileCause::Io(_) => Category::Storage,
                FileCause::Owned(e) => e.category(),
            },
            Error::Stream { source, .. } => stream_category(source),
            Error::Task { .. } => Category::Internal,
            Error::Unsupported(_) => Category::Unsupported,
            Error::Interrupted => Category::Interrupted,
        }
    }

    /// The documented exit code: the category's, always.
    pub fn exit_code(&self) -> ExitCode {
        self.category().exit_code()
    }

    /// The operation that failed, where one engine call did.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            Error::Engine(e) => Some(e.operation().as_str()),
            _ => None,
        }
    }

    /// The container, exec session, image, object or file the failure is about.
    pub fn subject(&self) -> Option<String> {
        match self {
            Error::Engine(e) => e.subject().map(str::to_string),
            Error::NotDeclared { object, .. } => Some(object.clone()),
            Error::File { path, .. } => Some(path.display().to_string()),
            Error::Store(e) => Some(e.path.display().to_string()),
            _ => None,
        }
    }

    /// What to do next, where there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Engine(e) => e.hint(),
            Error::Workspace(_) => Some("pass -C with an existing folder".to_string()),
            Error::WriterLock(crate::writer_lock::WriterLockError::TimedOut { .. }) => {
                Some("run again once it is done, or give a longer --timeout".to_string())
            }
            Error::WriterLock(crate::writer_lock::WriterLockError::Io { source, .. }) => {
                io_hint(source.kind())
            }
            Error::File {
                source: FileCause::Io(source),
                ..
            } => io_hint(source.kind()),
            Error::Store(e) => e.hint(),
            Error::Unsupported(_) => Some(
                "`pocket-dock doctor` shows what this engine can do; see docs/compatibility.md"
                    .to_string(),
            ),
            Error::Task { .. } => Some(
                "this is a bug in pocket-dock; please report it with the output of -v".to_string(),
            ),
            _ => None,
        }
    }
}

/// A reader that went away (a closed pipe) ended the work; anything else is local I/O.
pub(crate) fn stream_category(source: &io::Error) -> Category {
    match source.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Category::Interrupted,
        _ => Category::Storage,
    }
}

fn io_hint(kind: io::ErrorKind) -> Option<String> {
    match kind {
        io::ErrorKind::ReadOnlyFilesystem => Some(
            "the .pocket-dock folder is on a read-only file system: remount it read-write, or work in a writable copy of the workspace".to_string(),
        ),
        io::ErrorKind::PermissionDenied => Some(
            "this user may not write the .pocket-dock folder (after a `sudo pocket-dock`?): give it back with `sudo chown -R $(id -u):$(id -g) .pocket-dock`".to_string(),
        ),
        io::ErrorKind::StorageFull => Some("free some space, then run again".to_string()),
        _ => None,
    }
}
