//! The engine's typed errors.
//!
//! Every error names the operation that failed and, where one applies, the container,
//! exec or image it was about. Messages are deterministic: the same failure always prints
//! the same text (transport details stay in the `#[source]` chain, shown with `-v`).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::category::Category;

use super::capabilities::Capability;
use super::operation::Operation;

/// Why the socket could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectFailure {
    /// No socket file at that path.
    Missing,
    /// The socket exists but this user may not open it.
    PermissionDenied,
    /// The socket exists but nothing listens on it.
    Refused,
    /// The address is not a unix socket pocket-dock can use.
    Unsupported,
    /// Any other transport failure while connecting.
    Other,
}

impl ConnectFailure {
    pub fn describe(self) -> &'static str {
        match self {
            ConnectFailure::Missing => "no such socket",
            ConnectFailure::PermissionDenied => "permission denied",
            ConnectFailure::Refused => "connection refused (is the Podman service running?)",
            ConnectFailure::Unsupported => "unsupported address",
            ConnectFailure::Other => "connection failed",
        }
    }
}

/// An error from the engine layer.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach Podman at {socket}: {}", failure.describe())]
    Unreachable {
        op: Operation,
        socket: PathBuf,
        failure: ConnectFailure,
        #[source]
        source: Option<io::Error>,
    },

    #[error("connection to Podman at {socket} was lost during {op}")]
    ConnectionLost {
        op: Operation,
        socket: PathBuf,
        id: Option<String>,
        #[source]
        source: Option<bollard::errors::Error>,
    },

    #[error("container {id} not found ({op})")]
    ContainerNotFound { op: Operation, id: String },

    #[error("exec session {id} not found ({op})")]
    ExecNotFound { op: Operation, id: String },

    #[error("image {reference} not found ({op})")]
    ImageNotFound { op: Operation, reference: String },

    /// Podman refused: the object is in a state that does not allow it (or a name is
    /// taken). `message` is Podman's (or pocket-dock's own, where it found the conflict).
    #[error("{}{} failed: {message}", op.doing(), fmt_subject(id))]
    Conflict {
        op: Operation,
        id: String,
        message: String,
    },

    #[error("container {id} is not owned by this pocket-dock workspace; refusing to {op} it")]
    NotOwned { op: Operation, id: String },

    #[error("{}{} failed: {message}", op.doing(), fmt_id(id))]
    InvalidInput {
        op: Operation,
        id: Option<String>,
        message: String,
    },

    #[error("pulling {reference} failed: {message}")]
    PullFailed { reference: String, message: String },

    /// The registry refused the request for want of (valid) credentials.
    #[error(
        "authentication required/denied for {registry}: {op} of {reference} was refused ({message}); give credentials with `pullSecret` on the Image or the Workspace"
    )]
    RegistryAuth {
        op: Operation,
        /// `host[:port]`, as the reference names it.
        registry: String,
        reference: String,
        message: String,
    },

    #[error("pushing {reference} failed: {message}")]
    PushFailed { reference: String, message: String },

    #[error("building {image} failed{}: {message}", step.as_deref().map(|s| format!(" at {s}")).unwrap_or_default())]
    BuildFailed {
        image: String,
        /// The Containerfile step that failed (`STEP 2/4: RUN make`), when known.
        step: Option<String>,
        message: String,
        /// The last lines of build output before the failure.
        output: String,
    },

    #[error("{}{} failed: {message}", op.doing(), fmt_id(id))]
    Runtime {
        op: Operation,
        id: Option<String>,
        status: Option<u16>,
        message: String,
    },

    #[error("{}{} timed out after {}", op.doing(), fmt_id(id), fmt_duration(*after))]
    Timeout {
        op: Operation,
        id: Option<String>,
        after: Duration,
    },

    #[error("{engine} cannot do {op}: it lacks {capability} ({detail})")]
    Unsupported {
        op: Operation,
        capability: Capability,
        /// `docker 20.10.24`.
        engine: String,
        detail: String,
        fix: Option<String>,
    },

    #[error("writing exec output of {id} failed")]
    OutputSink {
        id: String,
        #[source]
        source: io::Error,
    },
}

fn fmt_id(id: &Option<String>) -> String {
    id.as_deref().map(fmt_subject).unwrap_or_default()
}

/// ` <id>`, a full 64-digit id cut to the 12 digits Podman shows (the whole id stays in
/// [`EngineError::subject`]); nothing for an empty one.
fn fmt_subject(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if id.is_empty() {
        String::new()
    } else if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!(" {}", &hex[..12])
    } else {
        format!(" {id}")
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl EngineError {
    pub fn category(&self) -> Category {
        match self {
            EngineError::Unreachable { .. } | EngineError::ConnectionLost { .. } => {
                Category::EngineUnreachable
            }
            EngineError::ContainerNotFound { .. }
            | EngineError::ExecNotFound { .. }
            | EngineError::ImageNotFound { .. } => Category::NotFound,
            EngineError::Conflict { .. } | EngineError::NotOwned { .. } => Category::Conflict,
            EngineError::InvalidInput { .. } | EngineError::RegistryAuth { .. } => {
                Category::InvalidInput
            }
            EngineError::PushFailed { .. }
            | EngineError::PullFailed { .. }
            | EngineError::BuildFailed { .. }
            | EngineError::Runtime { .. }
            | EngineError::OutputSink { .. } => Category::EngineFailure,
            EngineError::Timeout { .. } => Category::Timeout,
            EngineError::Unsupported { .. } => Category::Unsupported,
        }
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        match self {
            EngineError::Unreachable { op, .. }
            | EngineError::ConnectionLost { op, .. }
            | EngineError::ContainerNotFound { op, .. }
            | EngineError::ExecNotFound { op, .. }
            | EngineError::ImageNotFound { op, .. }
            | EngineError::Conflict { op, .. }
            | EngineError::NotOwned { op, .. }
            | EngineError::InvalidInput { op, .. }
            | EngineError::RegistryAuth { op, .. }
            | EngineError::Runtime { op, .. }
            | EngineError::Timeout { op, .. }
            | EngineError::Unsupported { op, .. } => *op,
            EngineError::PullFailed { .. } => Operation::ImagePull,
            EngineError::PushFailed { .. } => Operation::ImagePush,
            EngineError::BuildFailed { .. } => Operation::ImageBuild,
            EngineError::OutputSink { .. } => Operation::ExecStream,
        }
    }

    /// The container, exec session or image the failure is about, if any.
    pub fn subject(&self) -> Option<&str> {
        match self {
            EngineError::Unreachable { .. } | EngineError::Unsupported { .. } => None,
            EngineError::ConnectionLost { id, .. }
            | EngineError::InvalidInput { id, .. }
            | EngineError::Runtime { id, .. }
            | EngineError::Timeout { id, .. } => id.as_deref(),
            EngineError::ContainerNotFound { id, .. }
            | EngineError::ExecNotFound { id, .. }
            | EngineError::Conflict { id, .. }
            | EngineError::NotOwned { id, .. }
            | EngineError::OutputSink { id, .. } => Some(id),
            EngineError::ImageNotFound { reference, .. }
            | EngineError::PullFailed { reference, .. }
            | EngineError::PushFailed { reference, .. }
            | EngineError::RegistryAuth { reference, .. } => Some(reference),
            EngineError::BuildFailed { image, .. } => Some(image),
        }
    }

    /// What a person can try next, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::Unreachable {
                socket, failure, ..
            } => Some(match failure {
                ConnectFailure::Missing | ConnectFailure::Refused => format!(
                    "start the service with `podman system service --time=0 unix://{}` \
                     (or `systemctl --user start podman.socket`), or point --host at a running one; \
                     `pocket-dock doctor` shows what was tried",
                    socket.display()
                ),
                ConnectFailure::PermissionDenied => {
                    "run as a user allowed to open that socket, or use your rootless socket \
                     ($XDG_RUNTIME_DIR/podman/podman.sock)"
                        .to_string()
                }
                ConnectFailure::Unsupported => {
                    "use a unix socket address: --host unix:///path/to/podman.sock".to_string()
                }
                ConnectFailure::Other => "run `pocket-dock doctor` for details".to_string(),
            }),
            EngineError::ConnectionLost { .. } => Some(
                "the Podman service stopped or restarted; check `podman system service` and retry"
                    .to_string(),
            ),
            EngineError::ImageNotFound { reference, .. } => Some(format!(
                "build or import {reference} first, or check the reference (`podman images`)"
            )),
            EngineError::PullFailed { .. } => Some(
                "check the reference and network access to its registry, or use a local image"
                    .to_string(),
            ),
            EngineError::RegistryAuth { registry, .. } => Some(format!(
                "`pullSecret: {{file: PATH}}` names an auth.json with an entry for {registry} \
                 (`pullSecret: {{env: VARIABLE}}` a variable holding one); `image push` also \
                 takes `--authfile PATH`. If credentials were given, check them"
            )),
            EngineError::PushFailed { .. } => Some(
                "check the reference, that the registry is reachable and accepts the push"
                    .to_string(),
            ),
            EngineError::BuildFailed { .. } => Some(
                "fix the Containerfile step shown above and apply again; `-v` streams the build"
                    .to_string(),
            ),
            EngineError::Unsupported { fix, .. } => fix.clone(),
            EngineError::Timeout {
                op: Operation::ImagePull,
                ..
            } => Some(
                "give pulls more time with --pull-timeout (10m by default), or `from.timeout` on an Image"
                    .to_string(),
            ),
            EngineError::Timeout {
                op: Operation::ImageBuild,
                ..
            } => Some(
                "give builds more time with `build.timeout` on the Image, or --build-timeout (10m by default)"
                    .to_string(),
            ),
            // Podman's own words, after pocket-dock's: where to look next.
            EngineError::Runtime { .. } => Some(
                "the text after `failed:` is Podman's; `pocket-dock doctor` checks the Podman \
                 setup, and -v shows every call made to it"
                    .to_string(),
            ),
            EngineError::NotOwned { .. } => Some(
                "pocket-dock only changes containers it created; rename or remove the other \
                 container yourself"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podmans_words_come_after_what_pocket_dock_was_doing() {
        let id = "88a22c0e6a70533e13ce50b635691de95e60276c31541a63937203d9b93925a4";
        let runtime = EngineError::Runtime {
            op: Operation::ContainerStart,
            id: Some(id.to_string()),
            status: Some(500),
            message: "netavark: No such file or directory (os error 2)".into(),
        };
        assert_eq!(
            runtime.to_string(),
            "starting container 88a22c0e6a70 failed: netavark: No such file or directory (os error 2)"
        );
        assert!(runtime.hint().is_some_and(|h| h.contains("doctor")));
        // The whole id stays where machines read it.
        assert_eq!(runtime.subject(), Some(id));
        let conflict = EngineError::Conflict {
            op: Operation::ExecCreate,
            id: "pd-web-33ef04c0".into(),
            message: "container state improper".into(),
        };
        assert_eq!(
            conflict.to_string(),
            "starting a command in container pd-web-33ef04c0 failed: container state improper"
        );
        let no_id = EngineError::Conflict {
            op: Operation::NetworkRemove,
            id: String::new(),
            message: "network has active endpoints".into(),
        };
        assert_eq!(
            no_id.to_string(),
            "removing network failed: network has active endpoints"
        );
        let invalid = EngineError::InvalidInput {
            op: Operation::ContainerCreate,
            id: None,
            message: "invalid reference format".into(),
        };
        assert_eq!(
            invalid.to_string(),
            "creating container failed: invalid reference format"
        );
        let timeout = EngineError::Timeout {
            op: Operation::ExecStream,
            id: Some("abc".into()),
            after: Duration::from_secs(30),
        };
        assert_eq!(
            timeout.to_string(),
            "reading the output of command abc timed out after 30s"
        );
    }
}
