//! Finding the Podman socket.
//!
//! Order: `--host`, `CONTAINER_HOST`, `DOCKER_HOST` (an explicit address wins and is never
//! second-guessed), then the rootless socket `$XDG_RUNTIME_DIR/podman/podman.sock`, then the
//! rootful `/run/podman/podman.sock`. Discovery is a pure function of an [`EnvSnapshot`] and a
//! file-existence check, so it is tested without touching the process environment.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::{ConnectFailure, EngineError};
use super::operation::Operation;

pub const ROOTFUL_SOCKET: &str = "/run/podman/podman.sock";

/// Where a socket address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SocketSource {
    HostFlag,
    ContainerHost,
    DockerHost,
    Rootless,
    Rootful,
}

impl fmt::Display for SocketSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SocketSource::HostFlag => "--host",
            SocketSource::ContainerHost => "CONTAINER_HOST",
            SocketSource::DockerHost => "DOCKER_HOST",
            SocketSource::Rootless => "rootless default ($XDG_RUNTIME_DIR/podman/podman.sock)",
            SocketSource::Rootful => "rootful default",
        })
    }
}

/// A candidate socket considered during discovery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Candidate {
    pub path: PathBuf,
    pub source: SocketSource,
    pub exists: bool,
}

/// The outcome of discovery: the socket to use, and every candidate looked at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SocketChoice {
    pub path: PathBuf,
    pub source: SocketSource,
    pub candidates: Vec<Candidate>,
}

/// The environment variables discovery reads, captured once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSnapshot {
    pub container_host: Option<String>,
    pub docker_host: Option<String>,
    pub xdg_runtime_dir: Option<PathBuf>,
}

impl EnvSnapshot {
    pub fn from_process() -> Self {
        let non_empty = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
        EnvSnapshot {
            container_host: non_empty("CONTAINER_HOST"),
            docker_host: non_empty("DOCKER_HOST"),
            xdg_runtime_dir: non_empty("XDG_RUNTIME_DIR").map(PathBuf::from),
        }
    }
}

/// Turns `unix:///path`, `unix://path` or a bare absolute path into a socket path.
pub fn parse_host(host: &str) -> Result<PathBuf, EngineError> {
    let unsupported = || EngineError::Unreachable {
        op: Operation::Connect,
        socket: PathBuf::from(host),
        failure: ConnectFailure::Unsupported,
        source: None,
    };
    let path = if let Some(rest) = host.strip_prefix("unix://") {
        rest
    } else if host.starts_with('/') {
        host
    } else {
        return Err(unsupported());
    };
    if path.is_empty() {
        return Err(unsupported());
    }
    Ok(PathBuf::from(path))
}

/// Chooses the socket. An explicit address (flag or variable) is used as given, even if
/// nothing is there yet, so the error names what the user asked for.
pub fn discover(
    host_flag: Option<&str>,
    env: &EnvSnapshot,
    exists: impl Fn(&Path) -> bool,
) -> Result<SocketChoice, EngineError> {
    let explicit = [
        (host_flag.map(str::to_string), SocketSource::HostFlag),
        (env.container_host.clone(), SocketSource::ContainerHost),
        (env.docker_host.clone(), SocketSource::DockerHost),
    ];
    for (value, source) in explicit {
        if let Some(value) = value {
            let path = parse_host(&value)?;
            let exists = exists(&path);
            return Ok(SocketChoice {
                candidates: vec![Candidate {
                    path: path.clone(),
                    source,
                    exists,
                }],
                path,
                source,
            });
        }
    }

    let mut candidates = Vec::new();
    if let Some(dir) = &env.xdg_runtime_dir {
        let path = dir.join("podman").join("podman.sock");
        candidates.push(Candidate {
            exists: exists(&path),
            path,
            source: SocketSource::Rootless,
        });
    }
    let rootful = PathBuf::from(ROOTFUL_SOCKET);
    candidates.push(Candidate {
        exists: exists(&rootful),
        path: rootful,
        source: SocketSource::Rootful,
    });

    // The first existing candidate wins; if none exists, report the first one so that
    // the error names the socket this user would normally have.
    let chosen = candidates
        .iter()
        .find(|c| c.exists)
        .or_else(|| candidates.first())
        .cloned();
    match chosen {
        Some(c) => Ok(SocketChoice {
            path: c.path,
            source: c.source,
            candidates,
        }),
        None => Err(EngineError::Unreachable {
            op: Operation::Connect,
            socket: PathBuf::from(ROOTFUL_SOCKET),
            failure: ConnectFailure::Missing,
            source: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(ch: Option<&str>, dh: Option<&str>, xdg: Option<&str>) -> EnvSnapshot {
        EnvSnapshot {
            container_host: ch.map(String::from),
            docker_host: dh.map(String::from),
            xdg_runtime_dir: xdg.map(PathBuf::from),
        }
    }

    #[test]
    fn flag_beats_variables_and_defaults() {
        let e = env(
            Some("unix:///a.sock"),
            Some("unix:///b.sock"),
            Some("/run/user/1000"),
        );
        let c = discover(Some("unix:///flag.sock"), &e, |_| true).unwrap();
        assert_eq!(c.path, PathBuf::from("/flag.sock"));
        assert_eq!(c.source, SocketSource::HostFlag);
    }

    #[test]
    fn container_host_beats_docker_host() {
        let e = env(Some("unix:///a.sock"), Some("unix:///b.sock"), None);
        let c = discover(None, &e, |_| false).unwrap();
        assert_eq!(c.path, PathBuf::from("/a.sock"));
        assert_eq!(c.source, SocketSource::ContainerHost);
        assert!(!c.candidates[0].exists);
        let e = env(None, Some("/b.sock"), None);
        assert_eq!(
            discover(None, &e, |_| false).unwrap().source,
            SocketSource::DockerHost
        );
    }

    #[test]
    fn rootless_default_is_preferred_when_present() {
        let e = env(None, None, Some("/run/user/1000"));
        let c = discover(None, &e, |p| p.starts_with("/run/user")).unwrap();
        assert_eq!(c.path, PathBuf::from("/run/user/1000/podman/podman.sock"));
        assert_eq!(c.source, SocketSource::Rootless);
        assert_eq!(c.candidates.len(), 2);
    }

    #[test]
    fn rootful_default_is_used_when_rootless_is_absent() {
        let e = env(None, None, Some("/run/user/1000"));
        let c = discover(None, &e, |p| p == Path::new(ROOTFUL_SOCKET)).unwrap();
        assert_eq!(c.source, SocketSource::Rootful);
    }

    #[test]
    fn nothing_present_reports_the_first_candidate() {
        let e = env(None, None, Some("/run/user/1000"));
        let c = discover(None, &e, |_| false).unwrap();
        assert_eq!(c.source, SocketSource::Rootless);
        let c = discover(None, &EnvSnapshot::default(), |_| false).unwrap();
        assert_eq!(c.path, PathBuf::from(ROOTFUL_SOCKET));
    }

    #[test]
    fn host_addresses_must_be_unix_sockets() {
        assert_eq!(
            parse_host("unix:///x/y.sock").unwrap(),
            PathBuf::from("/x/y.sock")
        );
        assert_eq!(parse_host("/x/y.sock").unwrap(), PathBuf::from("/x/y.sock"));
        for bad in ["tcp://127.0.0.1:2375", "unix://", "relative.sock", ""] {
            let err = parse_host(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    EngineError::Unreachable {
                        failure: ConnectFailure::Unsupported,
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }
}
