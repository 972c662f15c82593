//! Why an import (`import devcontainer`) wrote nothing.

use std::path::{Path, PathBuf};

/// A key that is refused: nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// The key, e.g. `features` or `runArgs[2]`.
    pub key: String,
    /// 1-based line in devcontainer.json.
    pub line: u32,
    pub reason: String,
}

/// Why a devcontainer.json was not converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Not JSON (with comments and trailing commas), or not an object.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: PathBuf,
        line: u32,
        column: u32,
        message: String,
    },
    /// Keys that need a registry or another tool.
    #[error("{}", refused_message(file, refusals))]
    Refused {
        file: PathBuf,
        refusals: Vec<Refusal>,
    },
}

impl ImportError {
    /// The devcontainer.json concerned.
    pub fn file(&self) -> &Path {
        match self {
            ImportError::Syntax { file, .. } | ImportError::Refused { file, .. } => file,
        }
    }
}

fn refused_message(file: &Path, refusals: &[Refusal]) -> String {
    let mut text = format!(
        "{} cannot be imported ({} refused key{}); nothing was written",
        file.display(),
        refusals.len(),
        if refusals.len() == 1 { "" } else { "s" }
    );
    for r in refusals {
        text.push_str(&format!(
            "\n  {}:{}: {}: {}",
            file.display(),
            r.line,
            r.key,
            r.reason
        ));
    }
    text
}
