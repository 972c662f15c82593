//! The one error taxonomy. Every error type of the library says which [`Category`] it
//! belongs to, and the process exit code is derived from the category alone
//! ([`Category::exit_code`]): a new error variant cannot invent its own exit code.
//!
//! A leaf module: it imports nothing from the crate, so every layer can use it.

use std::fmt;

/// Broad classes of failure, as shown in `--output json` (`error.category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// The request or the declarations are wrong (bad argument, invalid document, an object
    /// that is not declared); nothing was changed.
    InvalidInput,
    /// The engine lacks a capability the request needs (checked before anything changes).
    Unsupported,
    /// The engine's socket could not be reached, or the connection broke.
    EngineUnreachable,
    /// The engine accepted the request but failed to carry it out.
    EngineFailure,
    /// The container, exec session, image or object does not exist.
    NotFound,
    /// The object exists but is in the wrong state, a name is taken, someone else holds
    /// what is needed (a lock), or something that is not pocket-dock's stands in the way.
    Conflict,
    /// An explicit timeout ran out.
    Timeout,
    /// Stopped by SIGINT/SIGTERM, or the reader of the output went away.
    Interrupted,
    /// A local file, stream or the state store could not be read or written (read-only,
    /// full, permissions, corrupt).
    Storage,
    /// A defect or an unexpected condition inside pocket-dock (a task that panicked).
    Internal,
}

impl Category {
    /// Every category, in documentation order.
    pub const ALL: [Category; 10] = [
        Category::InvalidInput,
        Category::Unsupported,
        Category::EngineUnreachable,
        Category::EngineFailure,
        Category::NotFound,
        Category::Conflict,
        Category::Timeout,
        Category::Interrupted,
        Category::Storage,
        Category::Internal,
    ];

    /// The name in `--output json`. The engine categories keep the names they had before
    /// the taxonomy was unified (`connection`, `runtime`): scripts match on them.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::InvalidInput => "invalid-input",
            Category::Unsupported => "unsupported",
            Category::EngineUnreachable => "connection",
            Category::EngineFailure => "runtime",
            Category::NotFound => "not-found",
            Category::Conflict => "conflict",
            Category::Timeout => "timeout",
            Category::Interrupted => "interrupted",
            Category::Storage => "storage",
            Category::Internal => "internal",
        }
    }

    /// The documented process exit code of a command that fails this way.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Category::InvalidInput | Category::Unsupported => ExitCode::InvalidInput,
            Category::EngineUnreachable => ExitCode::EngineUnreachable,
            Category::EngineFailure
            | Category::NotFound
            | Category::Conflict
            | Category::Storage
            | Category::Internal => ExitCode::Failed,
            Category::Timeout => ExitCode::TimedOut,
            Category::Interrupted => ExitCode::Interrupted,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Documented process exit codes. A command's own exit code (`run`, `exec`) is passed
/// through as is instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ExitCode {
    Success,
    /// `diff`: changes are pending.
    ChangesPending,
    /// Bad usage or an invalid spec; nothing was changed.
    InvalidInput,
    /// The engine's socket could not be reached (or the connection broke).
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
