//! The engine layer: everything pocket-dock asks of Podman goes through [`Engine`].
//!
//! Podman serves the Docker-compatible API on its socket; bollard speaks it. The engine adds
//! what bollard does not: socket discovery, typed errors that keep the operation and the
//! object ids, ownership checks before any write, explicit timeouts, bounded exec output
//! streaming, and one verbose log line per API call (`-v`).
//!
//! No connection is held between operations (bollard is built with an idle pool of zero), so
//! a restarted Podman service is picked up by the next call.

mod attach;
mod builds;
pub mod capabilities;
mod containers;
pub mod credentials;
mod error;
mod events;
mod exec;
mod image_files;
pub mod image_names;
mod images;
pub mod labels;
mod networks;
mod operation;
mod output;
mod progress;
mod raw;
mod registry;
pub mod secret_files;
pub mod socket;
mod system;
mod volumes;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bollard::{ClientVersion, Docker};

pub use attach::AttachedExit;
pub use builds::BuildRequest;
pub use capabilities::{
    Capability, CapabilityState, EngineFacts, EngineIdentity, EngineKind, EngineProfile,
};
pub use containers::{
    ContainerConfig, ContainerDetails, ContainerState, ContainerSummary, Endpoint, LogLimit,
    LogsRequest, MountConfig, NetworkMode, OwnedContainer, PODMAN_INIT, PortConfig, PublishedPort,
    RemoveOutcome, RestartMode, SeccompConfig,
};
pub use error::{Category, ConnectFailure, EngineError};
pub use events::{Event, EventStream};
pub use exec::{ExecConfig, ExecId, ExecInput, ExecPhase, ExecResult, ExecState, ExecStream};
pub use images::{
    ImageDetails, ImageSummary, OwnedImage, PullOutcome, may_remove, nameless, owns_image,
};
pub use labels::{Ownership, WorkspaceId};
pub use networks::{NetworkConfig, NetworkSummary, OwnedNetwork};
pub use operation::Operation;
pub use output::{Captured, ExecOutput, OutputChunk, StreamKind};
pub use progress::{OnProgress, Progress, PullTally, Throttle, ignore_progress};
pub use registry::Pushed;
pub use socket::{Candidate, EnvSnapshot, SocketChoice, SocketSource};
pub use system::{ServerInfo, ServerVersion};
pub use volumes::{OwnedVolume, VolumeSummary};

/// The compat API version pocket-dock speaks: the one Podman 4.x serves (Docker 20.10 too).
pub const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Every timeout the engine applies. Nothing waits without one of these, and none is hidden:
/// operations that can take long (stop, pull, exec) take theirs as a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long one API request may take to answer (headers, not a streamed body).
    pub request: Duration,
    /// How long to wait, after an exec's output stream closed, for Podman to report its exit.
    pub exec_exit: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request: Duration::from_secs(60),
            exec_exit: Duration::from_secs(10),
        }
    }
}

/// How to reach Podman.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    pub socket: PathBuf,
    pub timeouts: Timeouts,
}

impl EngineConfig {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        EngineConfig {
            socket: socket.into(),
            timeouts: Timeouts::default(),
        }
    }

    /// The socket `host` names (a `unix://` URL or a path), or else the one the
    /// environment names (`CONTAINER_HOST`, `DOCKER_HOST`), or else the first of the
    /// rootless and rootful sockets that exists.
    pub fn discover(host: Option<&str>) -> Result<Self, EngineError> {
        let choice = socket::discover(host, &EnvSnapshot::from_process(), |p| p.exists())?;
        Ok(EngineConfig::new(choice.path))
    }
}

/// Counts of API calls made through one engine, split by whether they change state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallStats {
    pub reads: u64,
    pub writes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
}

/// A handle on one Podman service. Cheap to clone; clones share their call counters.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    socket: PathBuf,
    timeouts: Timeouts,
    counters: Arc<Counters>,
    /// What the engine is and can do, read at the first call that needs it.
    profile: Arc<tokio::sync::OnceCell<Arc<EngineProfile>>>,
    /// Which engine it is, read at the first call that needs only that (one `/_ping`).
    identity: Arc<tokio::sync::OnceCell<EngineIdentity>>,
    /// Whether the engine's warnings were said (by the identity or the profile, once).
    warned: Arc<std::sync::atomic::AtomicBool>,
}

/// What an API call is about; decides which "not found" a 404 means.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    None,
    Container(&'a str),
    Exec(&'a str),
    Image(&'a str),
    Volume(&'a str),
    Network(&'a str),
    /// Creating a container: a 404 means its image is missing.
    NewContainer {
        name: &'a str,
        image: &'a str,
    },
}

impl Target<'_> {
    fn id(&self) -> Option<String> {
        match *self {
            Target::None => None,
            Target::Container(id)
            | Target::Exec(id)
            | Target::Image(id)
            | Target::Volume(id)
            | Target::Network(id) => Some(id.to_string()),
            Target::NewContainer { name, .. } => Some(name.to_string()),
        }
    }
}

impl Engine {
    /// The engine the environment names (see [`EngineConfig::discover`]), with default
    /// timeouts. No request is made until the first operation.
    pub fn from_env() -> Result<Self, EngineError> {
        Engine::new(&EngineConfig::discover(None)?)
    }

    /// Prepares a handle; no request is made until the first operation.
    pub fn new(config: &EngineConfig) -> Result<Self, EngineError> {
        let socket = config.socket.clone();
        let addr = socket.to_str().ok_or_else(|| EngineError::Unreachable {
            op: Operation::Connect,
            socket: socket.clone(),
            failure: ConnectFailure::Unsupported,
            source: None,
        })?;
        let docker =
            Docker::connect_with_unix(addr, seconds(config.timeouts.request), &API_VERSION)
                .map_err(|err| classify_transport(Operation::Connect, &socket, None, err))?;
        Ok(Engine {
            docker,
            socket,
            timeouts: config.timeouts,
            counters: Arc::default(),
            profile: Arc::default(),
            identity: Arc::default(),
            warned: Arc::default(),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// API calls made so far through this engine (and its clones).
    pub fn stats(&self) -> CallStats {
        CallStats {
            reads: self.counters.reads.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    /// A bollard client whose request timeout covers `extra` on top of the usual one, for
    /// calls that legitimately take longer to answer (a stop waits for the container).
    fn docker_with_extra_time(&self, extra: Duration) -> Docker {
        self.docker
            .clone()
            .with_timeout(self.timeouts.request.saturating_add(extra))
    }

    /// Runs one API call: times it, logs it (visible with `-v`), counts it, maps its error.
    pub(crate) async fn call<T>(
        &self,
        op: Operation,
        target: Target<'_>,
        request: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, EngineError> {
        let started = Instant::now();
        let result = request.await;
        self.record(op, target, started, result.is_ok());
        result.map_err(|err| self.map_error(op, target, err))
    }

    pub(crate) fn record(&self, op: Operation, target: Target<'_>, started: Instant, ok: bool) {
        let counter = if op.is_write() {
            &self.counters.writes
        } else {
            &self.counters.reads
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (method, template) = op.endpoint();
        let id = target.id();
        let path = match &id {
            Some(id) => template.replace("{id}", id),
            None => template.to_string(),
        };
        tracing::debug!(
            target: "pocket_dock::engine",
            method,
            path = %path,
            elapsed = ?started.elapsed(),
            ok,
            "podman api"
        );
    }

    pub(crate) fn map_error(
        &self,
        op: Operation,
        target: Target<'_>,
        err: bollard::errors::Error,
    ) -> EngineError {
        use bollard::errors::Error as B;
        let id = target.id();
        match err {
            B::DockerResponseServerError {
                status_code,
                message,
            } => match (status_code, target) {
                (404, Target::Container(id)) => EngineError::ContainerNotFound {
                    op,
                    id: id.to_string(),
                },
                (404, Target::Exec(id)) => EngineError::ExecNotFound {
                    op,
                    id: id.to_string(),
                },
                (404, Target::Image(reference))
                | (
                    404,
                    Target::NewContainer {
                        image: reference, ..
                    },
                ) => EngineError::ImageNotFound {
                    op,
                    reference: reference.to_string(),
                },
                // Docker refuses to remove a network with endpoints with a 403.
                (409, _) | (403, Target::Network(_)) => EngineError::Conflict {
                    op,
                    id: id.unwrap_or_default(),
                    message,
                },
                // Podman answers some conflicts with a 500; its messages are stable.
                (500, _) if is_conflict_message(&message) => EngineError::Conflict {
                    op,
                    id: id.unwrap_or_default(),
                    message,
                },
                (400, _) => EngineError::InvalidInput { op, id, message },
                (status, _) => EngineError::Runtime {
                    op,
                    id,
                    status: Some(status),
                    message,
                },
            },
            B::RequestTimeoutError => EngineError::Timeout {
                op,
                id,
                after: self.timeouts.request,
            },
            B::JsonDataError { .. } | B::JsonSerdeError { .. } => EngineError::Runtime {
                op,
                id,
                status: None,
                message: "unexpected response from the Podman API".to_string(),
            },
            other => classify_transport(op, &self.socket, id, other),
        }
    }
}

/// How often a listing is taken when what it lists vanishes while the engine reads it.
/// Image listings span every workspace's images (ownership is by name), so another
/// workspace's prune can hit one; five attempts wait a second in all.
const LIST_ATTEMPTS: u32 = 5;

/// Takes a listing again (up to [`LIST_ATTEMPTS`] in all) while it fails with an error
/// `vanished` recognises: Podman reads every object while it lists them, and one removed
/// meanwhile by another client fails the whole list. A list is a read, so this is safe.
pub(crate) async fn list_again<T, Fut>(
    mut list: impl FnMut() -> Fut,
    vanished: impl Fn(&EngineError) -> bool,
) -> Result<T, EngineError>
where
    Fut: std::future::Future<Output = Result<T, EngineError>>,
{
    let mut attempts = 1;
    loop {
        match list().await {
            Err(e) if attempts < LIST_ATTEMPTS && vanished(&e) => {
                // A removal still under way fails a list taken at once as well.
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempts)))
                    .await;
                attempts += 1;
            }
            result => return result,
        }
    }
}

fn is_conflict_message(message: &str) -> bool {
    [
        "is already in use",
        "is being used",
        "has active endpoints",
        "state improper",
        "is not running",
        "is paused",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// Maps a transport-level failure: one that happened before a connection was made is
/// `Unreachable` (with why), any other is `ConnectionLost`.
fn classify_transport(
    op: Operation,
    socket: &Path,
    id: Option<String>,
    err: bollard::errors::Error,
) -> EngineError {
    if let bollard::errors::Error::SocketNotFoundError(_) = err {
        return EngineError::Unreachable {
            op,
            socket: socket.to_path_buf(),
            failure: ConnectFailure::Missing,
            source: None,
        };
    }
    let io_kind = io_error_kind(&err);
    match io_kind.and_then(unreachable_failure) {
        Some(failure) => EngineError::Unreachable {
            op,
            socket: socket.to_path_buf(),
            failure,
            source: io_kind.map(std::io::Error::from),
        },
        None => EngineError::ConnectionLost {
            op,
            socket: socket.to_path_buf(),
            id,
            source: Some(err),
        },
    }
}

/// Maps an io error met while connecting.
pub(crate) fn classify_io(op: Operation, socket: &Path, err: std::io::Error) -> EngineError {
    match unreachable_failure(err.kind()) {
        Some(failure) => EngineError::Unreachable {
            op,
            socket: socket.to_path_buf(),
            failure,
            source: Some(err),
        },
        None => EngineError::Unreachable {
            op,
            socket: socket.to_path_buf(),
            failure: ConnectFailure::Other,
            source: Some(err),
        },
    }
}

/// The io error kinds that mean "could not connect", and what each means to a person.
fn unreachable_failure(kind: std::io::ErrorKind) -> Option<ConnectFailure> {
    match kind {
        std::io::ErrorKind::NotFound => Some(ConnectFailure::Missing),
        std::io::ErrorKind::PermissionDenied => Some(ConnectFailure::PermissionDenied),
        std::io::ErrorKind::ConnectionRefused => Some(ConnectFailure::Refused),
        _ => None,
    }
}

/// The kind of the first `io::Error` in an error's source chain.
fn io_error_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// bollard takes whole seconds; round up so a short timeout never becomes zero.
fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
