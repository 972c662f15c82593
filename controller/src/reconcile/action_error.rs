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
    /// An `Image`'s build or pull ran out of its time (`build.timeout`/`from.timeout`, or
    /// the `--build-timeout`/`--pull-timeout` default).
    #[error(
        "the {what} of Image/{image} timed out after {}; give it more time with `{field}` on Image/{image}, or `{flag}` for every {what} that sets none",
        super::lifetime::human(*after)
    )]
    ImageTimedOut {
        image: String,
        /// `build` or `pull`.
        what: &'static str,
        field: &'static str,
        flag: &'static str,
        after: std::time::Duration,
    },
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    #[error("the build context of Image/{image} changed during this apply; apply again")]
    ContextChanged { image: String },
    #[error("{reference} is no longer the image {key} was planned to take; apply again")]
    ImageChanged { key: String, reference: String },
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
    /// Podman could not bind a published port: something else listens on it. Named, with
    /// what to do, instead of Podman's own words (which differ by version and network
    /// backend, and bury the port).
    #[error(
        "host port {port} is already in use: stop what listens on it, or publish Sandbox/{sandbox} on another host port (spec.ports[].host), then apply again"
    )]
    PortInUse {
        sandbox: String,
        /// `127.0.0.1:18080/tcp`; every declared port when Podman's message names none.
        port: String,
        op: Operation,
    },
    #[error("Sandbox/{sandbox} was not created: cannot write the strict seccomp profile: {source}")]
    SeccompProfile {
        sandbox: String,
        #[source]
        source: crate::owned_files::OwnedFileError,
    },
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    /// A pool's refill or retirement failed (the error as it was, and its category).
    #[error("{message}")]
    Pool {
        message: String,
        category: &'static str,
    },
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

/// The text of Podman's failure to bind a host port, in every version and network backend
/// seen (Podman 4.3 to 5.x: rootlessport, netavark, CNI's port mapper; Docker too).
const ADDRESS_IN_USE: &str = "address already in use";

impl ActionError {
    /// A container start's failure: [`ActionError::PortInUse`] when Podman could not bind
    /// one of `ports` (declared `(host ip, host port, protocol)`), else the engine's error.
    pub fn from_start(
        sandbox: &str,
        ports: &[(String, u16, &str)],
        error: EngineError,
    ) -> ActionError {
        let message = error.to_string();
        // Without a published port, "address in use" is something else's (aardvark-dns
        // binding its own port, say): the engine's words stand.
        if !message.contains(ADDRESS_IN_USE) || ports.is_empty() {
            return error.into();
        }
        let shown = |(ip, port, protocol): &(String, u16, &str)| format!("{ip}:{port}/{protocol}");
        // The port Podman names (`...:18080: bind: ...`); all of them when it names none.
        let named: Vec<String> = ports
            .iter()
            .filter(|(_, port, _)| mentions_port(&message, *port))
            .map(shown)
            .collect();
        let port = if named.is_empty() {
            ports.iter().map(shown).collect::<Vec<_>>().join(", ")
        } else {
            named.join(", ")
        };
        ActionError::PortInUse {
            sandbox: sandbox.to_string(),
            port,
            op: error.operation(),
        }
    }
}

/// Whether `message` names `port` after a colon (`127.0.0.1:18080`), not as part of a
/// longer number.
fn mentions_port(message: &str, port: u16) -> bool {
    let needle = format!(":{port}");
    message.match_indices(&needle).any(|(i, _)| {
        !message[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

impl ActionError {
    pub fn category(&self) -> &'static str {
        match self {
            ActionError::Engine(e) => e.category().as_str(),
            ActionError::DependencyFailed { .. } | ActionError::DependencyNotReady { .. } => {
                "runtime"
            }
            ActionError::ForeignName { .. }
            | ActionError::ContextChanged { .. }
            | ActionError::ImageChanged { .. }
            | ActionError::PortInUse { .. } => "conflict",
            ActionError::TimedOut | ActionError::ImageTimedOut { .. } => "timeout",
            ActionError::Image(_) | ActionError::UnsafeMount { .. } => "invalid-input",
            ActionError::SnapshotSource { .. } | ActionError::NetworkInUse { .. } => "conflict",
            ActionError::HookFailed { .. } => "runtime",
            ActionError::SeccompProfile { source, .. } => source.category().as_str(),
            ActionError::Secret(e) => e.category().as_str(),
            ActionError::Pool { category, .. } => category,
            ActionError::Internal(_) => "internal",
        }
    }

    /// A pool action's failure: its engine error as it was, anything else by message and
    /// category.
    pub fn pool(error: crate::Error) -> ActionError {
        match error {
            crate::Error::Engine(e) => ActionError::Engine(e),
            e => ActionError::Pool {
                category: e.category().as_str(),
                message: e.to_string(),
            },
        }
    }

    /// An engine timeout of `Image/{image}`'s build or pull named as such, with how to raise
    /// it; any other error as it is.
    pub fn image_timeout(error: EngineError, image: &str, what: &'static str) -> ActionError {
        match error {
            EngineError::Timeout { after, .. } => ActionError::ImageTimedOut {
                image: image.to_string(),
                what,
                field: if what == "pull" {
                    "from.timeout"
                } else {
                    "build.timeout"
                },
                flag: if what == "pull" {
                    "--pull-timeout"
                } else {
                    "--build-timeout"
                },
                after,
            },
            e => e.into(),
        }
    }

    pub fn operation(&self) -> Option<Operation> {
        match self {
            ActionError::Engine(e) => Some(e.operation()),
            ActionError::ImageTimedOut { what, .. } => Some(if *what == "pull" {
                Operation::ImagePull
            } else {
                Operation::ImageBuild
            }),
            ActionError::PortInUse { op, .. } => Some(*op),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_failure(message: &str) -> EngineError {
        EngineError::Runtime {
            op: Operation::ContainerStart,
            id: Some("pd-web".into()),
            status: Some(500),
            message: message.into(),
        }
    }

    #[test]
    fn an_image_timeout_names_the_image_the_time_and_how_to_raise_it() {
        let timeout = |op| EngineError::Timeout {
            op,
            id: Some("localhost/x:1".into()),
            after: std::time::Duration::from_secs(90),
        };
        let build = ActionError::image_timeout(timeout(Operation::ImageBuild), "slow", "build");
        assert_eq!(
            build.to_string(),
            "the build of Image/slow timed out after 1m30s; give it more time with `build.timeout` on Image/slow, or `--build-timeout` for every build that sets none"
        );
        assert_eq!(build.category(), "timeout");
        assert_eq!(build.operation(), Some(Operation::ImageBuild));
        let pull = ActionError::image_timeout(timeout(Operation::ImagePull), "tools", "pull");
        assert!(
            pull.to_string().contains("`from.timeout` on Image/tools")
                && pull.to_string().contains("`--pull-timeout`"),
            "{pull}"
        );
        // Anything else stays the engine's error.
        let other = ActionError::image_timeout(start_failure("boom"), "slow", "build");
        assert!(matches!(other, ActionError::Engine(_)), "{other:?}");
    }

    #[test]
    fn a_taken_host_port_is_named_whatever_podman_calls_it() {
        let ports = [
            ("127.0.0.1".to_string(), 18080, "tcp"),
            ("127.0.0.1".to_string(), 1808, "tcp"),
        ];
        for message in [
            // Podman 4.3 rootless, then rootful (netavark / CNI port mapper).
            "rootlessport listen tcp 127.0.0.1:18080: bind: address already in use",
            "cannot listen on the TCP port: listen tcp4 127.0.0.1:18080: bind: address already in use",
        ] {
            let e = ActionError::from_start("web", &ports, start_failure(message));
            assert!(matches!(e, ActionError::PortInUse { .. }), "{e:?}");
            assert!(
                e.to_string()
                    .starts_with("host port 127.0.0.1:18080/tcp is already in use: "),
                "{e}"
            );
            assert!(e.to_string().contains("Sandbox/web"), "{e}");
            assert_eq!(e.category(), "conflict");
            assert_eq!(e.operation(), Some(Operation::ContainerStart));
        }
        // No port named: every declared one is.
        let e =
            ActionError::from_start("web", &ports, start_failure("bind: address already in use"));
        assert!(
            e.to_string()
                .contains("127.0.0.1:18080/tcp, 127.0.0.1:1808/tcp"),
            "{e}"
        );
        // Anything else stays the engine's error.
        let e = ActionError::from_start("web", &ports, start_failure("no such image"));
        assert!(matches!(e, ActionError::Engine(_)), "{e:?}");
    }
}
