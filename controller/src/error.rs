//! The library's error type and the one place where errors become exit codes.

use crate::engine::{Category, EngineError};
use crate::workspace::WorkspaceError;

/// Documented process exit codes. A command's own exit code (`run`, `exec`) is passed
/// through as is instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ExitCode {
    Success,
    /// `diff`: changes are pending.
    ChangesPending,
    /// Bad usage or an invalid spec; nothing was changed.
    InvalidInput,
    /// The Podman socket could not be reached (or the connection broke).
    EngineUnreachable,
    /// An operation failed, or convergence did not complete.
    Failed,
    /// An explicit timeout ran out.
    TimedOut,
    /// Interrupted by SIGINT/SIGTERM (128 + 2).
    Interrupted,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::ChangesPending => 1,
            ExitCode::InvalidInput => 2,
            ExitCode::EngineUnreachable => 3,
            ExitCode::Failed => 4,
            ExitCode::TimedOut => 5,
            ExitCode::Interrupted => 130,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error("{message}")]
    Usage { message: String },
    #[error("interrupted")]
    Interrupted,
    #[error(transparent)]
    Lock(#[from] crate::controller::LockError),
    #[error(transparent)]
    WriterLock(#[from] crate::writer_lock::WriterLockError),
    /// The state store cannot be opened or written (read-only, permissions, disk full,
    /// busy, corrupt and held, refused).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The declarations need capabilities the engine lacks; nothing was changed.
    #[error("{}", unsupported_message(.0))]
    Unsupported(Vec<crate::requirements::Unmet>),
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
    /// The broad class of the failure, as shown in `--output json`.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Engine(e) => e.category().as_str(),
            Error::Workspace(_) | Error::Usage { .. } | Error::Image(_) => {
                Category::InvalidInput.as_str()
            }
            Error::Interrupted => "interrupted",
            Error::Lock(_) => Category::Conflict.as_str(),
            Error::WriterLock(crate::writer_lock::WriterLockError::TimedOut { .. }) => {
                Category::Timeout.as_str()
            }
            Error::WriterLock(_) => Category::Runtime.as_str(),
            Error::Store(_) => Category::Runtime.as_str(),
            Error::Unsupported(_) => Category::Unsupported.as_str(),
            Error::Sandbox(crate::sandbox::SandboxError::Missing { .. }) => {
                Category::NotFound.as_str()
            }
            Error::Sandbox(_) => Category::Conflict.as_str(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Engine(e) => match e.category() {
                Category::Connection => ExitCode::EngineUnreachable,
                Category::Timeout => ExitCode::TimedOut,
                Category::InvalidInput | Category::Unsupported => ExitCode::InvalidInput,
                Category::NotFound | Category::Conflict | Category::Runtime => ExitCode::Failed,
            },
            Error::Workspace(_) | Error::Usage { .. } | Error::Image(_) | Error::Unsupported(_) => {
                ExitCode::InvalidInput
            }
            Error::Interrupted => ExitCode::Interrupted,
            Error::WriterLock(crate::writer_lock::WriterLockError::TimedOut { .. }) => {
                ExitCode::TimedOut
            }
            Error::Lock(_) | Error::Sandbox(_) | Error::WriterLock(_) | Error::Store(_) => {
                ExitCode::Failed
            }
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Engine(e) => e.hint(),
            Error::Workspace(_) => Some("pass -C with an existing folder".to_string()),
            Error::WriterLock(crate::writer_lock::WriterLockError::TimedOut { .. }) => {
                Some("run again once it is done, or give a longer --timeout".to_string())
            }
            Error::WriterLock(crate::writer_lock::WriterLockError::Io { source, .. }) => {
                match source.kind() {
                    std::io::ErrorKind::ReadOnlyFilesystem => Some(
                        "the .pocket-dock folder is on a read-only file system: remount it read-write, or work in a writable copy of the workspace".to_string(),
                    ),
                    std::io::ErrorKind::PermissionDenied => Some(
                        "this user may not write the .pocket-dock folder (after a `sudo pocket-dock`?): give it back with `sudo chown -R $(id -u):$(id -g) .pocket-dock`".to_string(),
                    ),
                    _ => None,
                }
            }
            Error::Store(e) => e.hint(),
            Error::Unsupported(_) => Some(
                "`pocket-dock doctor` shows what this engine can do; see docs/compatibility.md"
                    .to_string(),
            ),
            Error::Usage { .. }
            | Error::Interrupted
            | Error::Lock(_)
            | Error::WriterLock(_)
            | Error::Image(_)
            | Error::Sandbox(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ConnectFailure, Operation};
    use std::time::Duration;

    #[test]
    fn categories_map_to_documented_exit_codes() {
        let unreachable = Error::from(EngineError::Unreachable {
            op: Operation::Ping,
            socket: "/x".into(),
            failure: ConnectFailure::Missing,
            source: None,
        });
        assert_eq!(unreachable.exit_code().code(), 3);
        let timeout = Error::from(EngineError::Timeout {
            op: Operation::ExecStream,
            id: None,
            after: Duration::from_secs(1),
        });
        assert_eq!(timeout.exit_code().code(), 5);
        let missing = Error::from(EngineError::ContainerNotFound {
            op: Operation::ContainerStart,
            id: "c".into(),
        });
        assert_eq!(missing.exit_code().code(), 4);
        let usage = Error::Usage {
            message: "bad".into(),
        };
        assert_eq!(usage.exit_code().code(), 2);
        assert_eq!(Error::Interrupted.exit_code().code(), 130);
    }
}
