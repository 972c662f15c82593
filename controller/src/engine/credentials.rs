//! Registry credentials as the engine takes them (pure): a [`RegistryAuth`] and the
//! `X-Registry-Auth` header it becomes, the registry a reference names, and whether a
//! registry is this machine's loopback. Reading them from a `pullSecret` is
//! `crate::registry_auth`'s.

use base64::Engine as _;

use super::{EngineError, Operation};

/// Docker Hub's canonical registry name, and the other names auth files use for it.
pub const DOCKER_HUB: &str = "docker.io";
pub(crate) const DOCKER_HUB_ALIASES: [&str; 3] =
    ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Credentials for one registry. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub(crate) username: String,
    pub(crate) password: String,
    /// The registry they are for, as the reference names it (`host[:port]`).
    pub(crate) server: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .finish()
    }
}

impl RegistryAuth {
    pub fn new(username: String, password: String, server: String) -> Self {
        RegistryAuth {
            username,
            password,
            server,
        }
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The `X-Registry-Auth` header value both engines read: base64url of
    /// `{"username", "password", "serveraddress"}`.
    pub fn header(&self) -> String {
        let json = serde_json::json!({
            "username": self.username,
            "password": self.password,
            "serveraddress": self.server,
        });
        base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
    }

    /// The same, as bollard's credentials (for the compat pull).
    pub fn docker_credentials(&self) -> bollard::auth::DockerCredentials {
        bollard::auth::DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
            serveraddress: Some(self.server.clone()),
            ..Default::default()
        }
    }
}

/// The registry a reference pulls from, Docker's way: the first path component when it
/// has a `.` or a `:` or is `localhost`, else Docker Hub.
pub fn registry_host(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            if DOCKER_HUB_ALIASES.contains(&first) {
                DOCKER_HUB.to_string()
            } else {
                first.to_string()
            }
        }
        _ => DOCKER_HUB.to_string(),
    }
}

/// The repository path under its registry (`library/` added for Docker Hub's short names),
/// for auth entries scoped to a namespace (`host/team`).
pub(crate) fn repository_path(reference: &str) -> String {
    let host = registry_host(reference);
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let rest = match without_digest.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            rest.to_string()
        }
        _ => without_digest.to_string(),
    };
    // Drop a tag from the last component.
    let rest = match rest.rfind('/') {
        Some(slash) => match rest[slash..].find(':') {
            Some(colon) => rest[..slash + colon].to_string(),
            None => rest,
        },
        None => rest.split(':').next().unwrap_or(&rest).to_string(),
    };
    if host == DOCKER_HUB && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    }
}

/// Whether a registry host is this machine's loopback (`localhost`, `127.0.0.0/8`,
/// `[::1]`, with or without a port). pocket-dock talks plain HTTP to those without TLS
/// verification, as Docker does; every other registry needs HTTPS (or the engine's own
/// `registries.conf` / `insecure-registries` setting).
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if name == "localhost" {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Whether an engine's or registry's message means the registry refused the credentials
/// (or wanted some).
pub(crate) fn is_auth_failure(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "unauthorized",
        "authentication required",
        "no basic auth credentials",
        "incorrect username or password",
        "requested access to the resource is denied",
        "pull access denied",
        "denied: ",
        "401 ",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The error for a failed pull's message: an authentication failure or a plain failure.
pub(crate) fn pull_failure(reference: &str, message: String) -> EngineError {
    if is_auth_failure(&message) {
        EngineError::RegistryAuth {
            op: Operation::ImagePull,
            registry: registry_host(reference),
            reference: reference.to_string(),
            message,
        }
    } else {
        EngineError::PullFailed {
            reference: reference.to_string(),
            message,
        }
    }
}
