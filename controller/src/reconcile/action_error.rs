//! How an action fails. Its own module so that the image actions (`make_images`) and the
//! executor that runs them (`execute`) share it without depending on each other.

use crate::engine::{EngineError, Operation};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("skipped: {dependency} failed")]
    DependencyFailed { dependency: String },
    #[error(
        "a container named {name} exists and is not owned by this workspace; pocket-dock will not touch it"
    )]
    ForeignName { name: String },
    #[error("waiting for {dependency} to be ready")]
    DependencyNotReady { dependency: String },
    #[error("timed out")]
    TimedOut,
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    #[error("the build context of Image/{image} changed during this apply; apply again")]
    ContextChanged { image: String },
    #[error("cannot snapshot Sandbox/{sandbox}: {reason}")]
    SnapshotSource { sandbox: String, reason: String },
    #[error("Sandbox/{sandbox} was not started: {reason}")]
    UnsafeMount { sandbox: String, reason: String },
    #[error("Sandbox/{sandbox}: {}{}", failure.message, tail(&failure.output))]
    HookFailed {
        sandbox: String,
        failure: Box<super::hooks::HookFailure>,
    },
    #[error(
        "network {network} is used by {users}, which this workspace does not own; pocket-dock will not remove or replace it (disconnect them first)"
    )]
    NetworkInUse { network: String, users: String },
    #[error("internal error: {0}")]
    Internal(String),
}

/// `; output ends: …` when there is output.
fn tail(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!("; its output ends: {output}")
    }
}

impl ActionError {
    pub fn category(&self) -> &'static str {
        match self {
            ActionError::Engine(e) => e.category().as_str(),
            ActionError::DependencyFailed { .. } | ActionError::DependencyNotReady { .. } => {
                "runtime"
            }
            ActionError::ForeignName { .. } | ActionError::ContextChanged { .. } => "conflict",
            ActionError::TimedOut => "timeout",
            ActionError::Image(_) | ActionError::UnsafeMount { .. } => "invalid-input",
            ActionError::SnapshotSource { .. } | ActionError::NetworkInUse { .. } => "conflict",
            ActionError::HookFailed { .. } => "runtime",
            ActionError::Internal(_) => "internal",
        }
    }

    pub fn operation(&self) -> Option<Operation> {
        match self {
            ActionError::Engine(e) => Some(e.operation()),
            _ => None,
        }
    }
}
