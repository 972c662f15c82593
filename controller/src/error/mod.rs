//! The library's error type. Every variant belongs to one [`Category`], and the exit code
//! is derived from the category alone; there is no free-text catch-all.

use std::io;
use std::path::PathBuf;

use pocket_dock_spec::Diagnostic;

mod image;
mod import;
mod lock;
mod pool;
mod sandbox;
mod snapshot;

pub use image::ImageError;
pub use import::{ImportError, Refusal};
pub use lock::LockError;
pub use pool::PoolError;
pub use sandbox::SandboxError;
pub use snapshot::SnapshotError;

pub use crate::category::{Category, ExitCode};
use crate::engine::EngineError;
use crate::workspace::WorkspaceError;

impl From<PoolError> for Error {
    fn from(e: PoolError) -> Self {
        Error::Pool(Box::new(e))
    }
}

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
    Image(#[from] ImageError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Pool(Box<PoolError>),
    #[error(transparent)]
    Lock(#[from] LockError),
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
    /// Another tool's file could not be imported (`import devcontainer`).
    #[error(transparent)]
    Import(#[from] ImportError),
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
            Error::Pool(e) => e.category(),
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
            Error::Import(_) => Category::InvalidInput,
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
            Error::Import(e) => Some(e.file().display().to_string()),
            _ => None,
        }
    }

    /// What to do next, where there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Engine(e) => e.hint(),
            Error::Workspace(WorkspaceError::NotDeclared { .. }) => None,
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
            Error::File {
                action: "rewrite",
                source: FileCause::Owned(crate::owned_files::OwnedFileError::NotOurs { .. }),
                ..
            } => Some(format!(
                "migrate never writes through a symlink or a hard link: set `apiVersion: {}` in the file by hand (or make it a regular file), then run it again",
                pocket_dock_spec::model::API_VERSION
            )),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ConnectFailure, Operation};
    use std::time::Duration;

    /// The name of `e`'s variant; exhaustive, so a new variant must be added here (and to
    /// the samples and docs/errors.md) before this compiles.
    fn variant(e: &Error) -> &'static str {
        match e {
            Error::Engine(_) => "Engine",
            Error::Workspace(_) => "Workspace",
            Error::Invalid { .. } => "Invalid",
            Error::Incomplete { .. } => "Incomplete",
            Error::Argument { .. } => "Argument",
            Error::NotDeclared { .. } => "NotDeclared",
            Error::Image(_) => "Image",
            Error::Sandbox(_) => "Sandbox",
            Error::Snapshot(_) => "Snapshot",
            Error::Pool(_) => "Pool",
            Error::Lock(_) => "Lock",
            Error::WriterLock(_) => "WriterLock",
            Error::Store(_) => "Store",
            Error::File { .. } => "File",
            Error::Stream { .. } => "Stream",
            Error::Task { .. } => "Task",
            Error::Unsupported(_) => "Unsupported",
            Error::Interrupted => "Interrupted",
            Error::Import(_) => "Import",
        }
    }

    /// One or more instances of every variant, with the category each must have.
    fn samples() -> Vec<(Error, Category)> {
        let io = |kind| io::Error::new(kind, "x");
        let path = PathBuf::from("/w/.pocket-dock/x");
        vec![
            (
                Error::from(EngineError::Unreachable {
                    op: Operation::Ping,
                    socket: "/x".into(),
                    failure: ConnectFailure::Missing,
                    source: None,
                }),
                Category::EngineUnreachable,
            ),
            (
                Error::from(EngineError::Timeout {
                    op: Operation::ExecStream,
                    id: None,
                    after: Duration::from_secs(1),
                }),
                Category::Timeout,
            ),
            (
                Error::from(EngineError::ContainerNotFound {
                    op: Operation::ContainerStart,
                    id: "c".into(),
                }),
                Category::NotFound,
            ),
            (
                Error::from(WorkspaceError::NotDeclared { root: "/w".into() }),
                Category::InvalidInput,
            ),
            (
                Error::Invalid {
                    diagnostics: Vec::new(),
                },
                Category::InvalidInput,
            ),
            (
                Error::Incomplete { refused: "pruned" },
                Category::InvalidInput,
            ),
            (Error::argument("--env", "bad"), Category::InvalidInput),
            (
                Error::NotDeclared {
                    object: "Sandbox/x".into(),
                    problem: "is not declared".into(),
                },
                Category::InvalidInput,
            ),
            (
                Error::from(ImageError::NotPresent { image: "i".into() }),
                Category::InvalidInput,
            ),
            (
                Error::from(SandboxError::Missing { name: "x".into() }),
                Category::NotFound,
            ),
            (Error::from(SandboxError::SessionEnded), Category::Conflict),
            (
                Error::from(SnapshotError::SandboxNotDeclared {
                    sandbox: "x".into(),
                }),
                Category::InvalidInput,
            ),
            (
                Error::from(PoolError::Empty {
                    pool: "p".into(),
                    waited: None,
                }),
                Category::Conflict,
            ),
            (
                Error::from(PoolError::NotClaimed {
                    name: "x".into(),
                    declared: false,
                }),
                Category::NotFound,
            ),
            (
                Error::from(LockError::Held {
                    pid: "1".into(),
                    path: path.clone(),
                }),
                Category::Conflict,
            ),
            (
                Error::from(crate::writer_lock::WriterLockError::TimedOut {
                    holder: crate::writer_lock::Holder {
                        role: "apply".into(),
                        pid: None,
                    },
                    waited: Duration::from_secs(1),
                }),
                Category::Timeout,
            ),
            (
                Error::from(crate::writer_lock::WriterLockError::Io {
                    path: path.clone(),
                    source: io(io::ErrorKind::StorageFull),
                }),
                Category::Storage,
            ),
            (
                Error::from(crate::store::StoreError {
                    path: path.clone(),
                    kind: crate::store::StoreErrorKind::DiskFull,
                    source: None,
                }),
                Category::Storage,
            ),
            (
                Error::file("write", &path, io(io::ErrorKind::PermissionDenied)),
                Category::Storage,
            ),
            (
                Error::file(
                    "write",
                    &path,
                    crate::owned_files::OwnedFileError::Foreign { path: path.clone() },
                ),
                Category::InvalidInput,
            ),
            (
                Error::Stream {
                    action: "write the output",
                    source: io(io::ErrorKind::BrokenPipe),
                },
                Category::Interrupted,
            ),
            (
                Error::Stream {
                    action: "write the output",
                    source: io(io::ErrorKind::StorageFull),
                },
                Category::Storage,
            ),
            (
                Error::Task {
                    task: "the exec task",
                    message: "panicked".into(),
                },
                Category::Internal,
            ),
            (Error::Unsupported(Vec::new()), Category::Unsupported),
            (Error::Interrupted, Category::Interrupted),
            (
                Error::Import(ImportError::Refused {
                    file: ".devcontainer/devcontainer.json".into(),
                    refusals: Vec::new(),
                }),
                Category::InvalidInput,
            ),
        ]
    }

    fn doc() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md");
        std::fs::read_to_string(path).unwrap()
    }

    /// Rows of the markdown table whose header starts with `first`.
    fn table(doc: &str, first: &str) -> Vec<Vec<String>> {
        let mut lines = doc
            .lines()
            .skip_while(|l| !l.starts_with(&format!("| {first} |")));
        lines.next();
        lines
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                l.trim_matches('|')
                    .split(" | ")
                    .map(|c| c.trim().trim_matches('`').to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_category_has_its_documented_name_and_exit_code() {
        let doc = doc();
        let rows = table(&doc, "category");
        assert_eq!(rows.len(), Category::ALL.len(), "{rows:?}");
        for category in Category::ALL {
            let row = rows
                .iter()
                .find(|r| r[0] == format!("{category:?}"))
                .unwrap_or_else(|| panic!("{category:?} is not in docs/errors.md"));
            assert_eq!(row[1], category.as_str(), "{category:?}");
            assert_eq!(
                row[2],
                category.exit_code().code().to_string(),
                "{category:?}"
            );
        }
    }

    #[test]
    fn every_variant_has_its_documented_category_and_exit_code() {
        let doc = doc();
        let rows = table(&doc, "variant");
        let samples = samples();
        for (error, expected) in &samples {
            let name = variant(error);
            assert_eq!(error.category(), *expected, "{name}: {error}");
            assert_eq!(error.exit_code(), expected.exit_code(), "{name}");
            let row = rows
                .iter()
                .find(|r| r[0] == name)
                .unwrap_or_else(|| panic!("{name} is not in docs/errors.md"));
            if name != "Engine" {
                assert!(
                    row[1].contains(&format!("{expected:?}")),
                    "docs/errors.md says {name} is {}, the code says {expected:?}",
                    row[1]
                );
            }
        }
        // Every variant is sampled, and every documented variant exists.
        let sampled: std::collections::BTreeSet<_> =
            samples.iter().map(|(e, _)| variant(e)).collect();
        let documented: std::collections::BTreeSet<_> =
            rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(sampled, documented);
    }
}
