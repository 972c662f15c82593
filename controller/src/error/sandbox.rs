//! Why a sandbox cannot be worked in.

/// Why a sandbox cannot be worked in.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("Sandbox/{name} has no container; run `pocket-dock apply` first")]
    Missing { name: String },
    #[error("Sandbox/{name} is not running ({state}); declare `state: running` and apply")]
    NotRunning { name: String, state: String },
    /// A `lifetime` limit stopped or removed it, and it stays so until its declaration
    /// changes or it is resumed.
    #[error(
        "Sandbox/{name} was {what} at {at} ({why}); run `pocket-dock apply --resume --only Sandbox/{name}` to start it again"
    )]
    Expired {
        name: String,
        /// `stopped` or `removed`.
        what: &'static str,
        /// `idle for 30m`, `lifetime 8h reached`.
        why: String,
        at: String,
    },
    /// Its processes are frozen (`state: paused`, `pocket-dock pause`, or by hand): a
    /// command in it would hang until it is resumed.
    #[error("Sandbox/{name} is paused{by}; run `pocket-dock resume {name}` first")]
    Paused {
        name: String,
        /// ` (by pocket-dock pause at …)`, or empty.
        by: String,
    },
    /// `resume` of a sandbox its declaration holds paused: the file is pocket-dock's input,
    /// never edited by it.
    #[error(
        "Sandbox/{name} is declared `state: paused` at {file}:{line}; change it to `state: running` (or remove it) and run `pocket-dock apply`"
    )]
    DeclaredPaused {
        name: String,
        file: std::path::PathBuf,
        line: u32,
    },
    /// The session's shell has exited; open a new session.
    #[error("the session has ended")]
    SessionEnded,
}

impl SandboxError {
    pub fn category(&self) -> crate::Category {
        match self {
            SandboxError::Missing { .. } => crate::Category::NotFound,
            SandboxError::NotRunning { .. }
            | SandboxError::Paused { .. }
            | SandboxError::DeclaredPaused { .. }
            | SandboxError::Expired { .. }
            | SandboxError::SessionEnded => crate::Category::Conflict,
        }
    }
}
