//! Why a warm pool could not do what was asked (`claim`, `release`, a refill).

use std::path::PathBuf;
use std::time::Duration;

use crate::category::Category;

/// Why a pool could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(
        "Pool/{pool} has no ready member{}; wait for it to refill (`pocket-dock apply` or a running controller refills it), or claim without --no-cold",
        waited.map(|w| format!(" after waiting {}", crate::timefmt::human(w))).unwrap_or_default()
    )]
    Empty {
        pool: String,
        waited: Option<Duration>,
    },
    #[error("Pool/{pool} cannot make members: {problem}")]
    Unusable { pool: String, problem: String },
    #[error("Sandbox/{name} is declared in this workspace; claim under another name (--name)")]
    NameDeclared { name: String },
    #[error(
        "a container named {container} (Sandbox/{name}) exists already; claim under another name (--name), or release it first"
    )]
    NameTaken { name: String, container: String },
    #[error(
        "Sandbox/{name} is not a claimed sandbox of this workspace{}",
        if *declared { " (it is declared: remove it with `pocket-dock delete`)" } else { "" }
    )]
    NotClaimed { name: String, declared: bool },
    #[error("a pool member of Pool/{pool} could not be made")]
    Member {
        pool: String,
        /// The category of what failed (an engine error keeps its own).
        category: Category,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("Pool/{pool}'s new member did not become ready within {}", crate::timefmt::human(*waited))]
    NotReady { pool: String, waited: Duration },
    #[error("cannot lock {}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another claim held {} for longer than {}", path.display(), crate::timefmt::human(*waited))]
    LockTimeout { path: PathBuf, waited: Duration },
    #[error(transparent)]
    Unsafe(#[from] crate::owned_files::OwnedFileError),
}

impl PoolError {
    pub fn category(&self) -> Category {
        match self {
            PoolError::Empty { .. }
            | PoolError::NameDeclared { .. }
            | PoolError::NameTaken { .. }
            | PoolError::Unsafe(_) => Category::Conflict,
            PoolError::Unusable { .. } => Category::InvalidInput,
            PoolError::NotClaimed { .. } => Category::NotFound,
            PoolError::Member { category, .. } => *category,
            PoolError::NotReady { .. } | PoolError::LockTimeout { .. } => Category::Timeout,
            PoolError::Lock { .. } => Category::Storage,
        }
    }
}
