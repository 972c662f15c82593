//! Service-level calls: ping, version, info, and the engine profile built from them.

use std::sync::Arc;

use super::capabilities::{EngineFacts, EngineIdentity, EngineProfile};
use super::raw::LIBPOD;
use super::{Engine, EngineError, Operation, Target};

/// What the service says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerVersion {
    /// `Podman Engine`, or `Docker Engine` when the socket belongs to Docker.
    pub product: String,
    pub version: String,
    /// The compat (Docker) API version served.
    pub api_version: String,
    pub min_api_version: String,
    pub os: String,
    pub arch: String,
}

impl ServerVersion {
    pub fn is_podman(&self) -> bool {
        self.product.contains("Podman")
    }
}

/// The parts of `/info` pocket-dock uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerInfo {
    pub rootless: bool,
    pub runtime: Option<String>,
    pub storage_driver: Option<String>,
}

impl Engine {
    pub async fn ping(&self) -> Result<(), EngineError> {
        self.call(Operation::Ping, Target::None, self.docker.ping())
            .await
            .map(|_| ())
    }

    pub async fn version(&self) -> Result<ServerVersion, EngineError> {
        let raw = self
            .call(Operation::Version, Target::None, self.docker.version())
            .await?;
        let components = raw.components.unwrap_or_default();
        let engine = components
            .iter()
            .find(|c| c.name.contains("Engine"))
            .or_else(|| components.first());
        Ok(ServerVersion {
            product: engine.map_or_else(|| "unknown".to_string(), |c| c.name.clone()),
            version: raw.version.unwrap_or_default(),
            api_version: raw.api_version.unwrap_or_default(),
            min_api_version: raw.min_api_version.unwrap_or_default(),
            os: raw.os.unwrap_or_default(),
            arch: raw.arch.unwrap_or_default(),
        })
    }

    /// The engine's kind, version and capabilities, read at the first call and kept for the
    /// life of this handle (and its clones). Its warnings are logged once, here (or by
    /// [`Engine::identity`] before).
    pub async fn profile(&self) -> Result<Arc<EngineProfile>, EngineError> {
        let profile = self
            .profile
            .get_or_try_init(|| async {
                let profile = EngineProfile::derive(&self.facts().await?);
                self.warn_once(&profile.warnings);
                Ok::<_, EngineError>(Arc::new(profile))
            })
            .await?;
        Ok(profile.clone())
    }

    /// Which engine answers: Podman's from one `/_ping` (its `Libpod-Api-Version` header),
    /// anything else's from the full [`Engine::profile`]. Kept like the profile. For calls
    /// whose only question is Podman or Docker: the profile's `/version` and `/info` make
    /// Podman gather its host facts, which costs more than most of the calls that need it.
    pub async fn identity(&self) -> Result<EngineIdentity, EngineError> {
        if let Some(profile) = self.profile.get() {
            return Ok(EngineIdentity::of_profile(profile));
        }
        let identity = self
            .identity
            .get_or_try_init(|| async {
                let headers = self.ping_headers().await?;
                let found = EngineIdentity::from_headers(
                    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                );
                match found {
                    Some(identity) => {
                        self.warn_once(&identity.warnings());
                        Ok::<_, EngineError>(identity)
                    }
                    None => Ok(EngineIdentity::of_profile(&*self.profile().await?)),
                }
            })
            .await?;
        Ok(identity.clone())
    }

    fn warn_once(&self, warnings: &[String]) {
        if self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        for warning in warnings {
            tracing::warn!(target: "pocket_dock::engine", "{warning}");
        }
    }

    /// Fails with `Unsupported` (before any request for `op` is made) when the engine lacks
    /// `capability`.
    pub async fn require(
        &self,
        capability: super::Capability,
        op: Operation,
    ) -> Result<Arc<EngineProfile>, EngineError> {
        let profile = self.profile().await?;
        match profile.state(capability) {
            Some(state) if !state.available => Err(EngineError::Unsupported {
                op,
                capability,
                engine: profile.describe(),
                detail: state.detail.clone(),
                fix: state.fix.clone(),
            }),
            _ => Ok(profile),
        }
    }

    /// What the engine says about itself. Podman (told by its `/_ping` headers): its
    /// `/libpod/info`, which has all the profile needs (version, rootless, network backend,
    /// DNS, seccomp). Docker, or a Podman whose `/libpod/info` says less: `/version` and
    /// `/info` (asked together), and Podman's `/libpod/info` for what only it reports.
    /// Each of these reads makes Podman gather its host facts (it runs conmon, the runtime
    /// and netavark for their versions): one instead of three is most of an apply's cost.
    pub async fn facts(&self) -> Result<EngineFacts, EngineError> {
        let headers = self.ping_headers().await?;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let libpod_path = format!("{LIBPOD}/info");
        let pinged_podman =
            EngineIdentity::from_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .is_some();
        if pinged_podman
            && let Ok(libpod) = self
                .raw_get_json_at::<LibpodInfo>(Operation::Info, &libpod_path)
                .await
            && let Some(facts) = podman_facts(libpod, header("Api-Version").unwrap_or_default())
        {
            return Ok(facts);
        }
        let (version, raw) = tokio::join!(
            self.version(),
            self.raw_get_json::<RawInfo>(Operation::Info, "/info"),
        );
        let (version, raw) = (version?, raw?);
        let mut facts = EngineFacts {
            product: version.product.clone(),
            version: version.version.clone(),
            api_version: version.api_version.clone(),
            rootless: raw.rootless.unwrap_or(false)
                || raw
                    .security_options
                    .iter()
                    .any(|o| o.split(',').any(|part| part == "name=rootless")),
            containerd_store: raw.driver_status.iter().flatten().any(|pair| {
                pair.first().map(String::as_str) == Some("driver-type")
                    && pair.get(1).map(String::as_str) == Some("io.containerd.snapshotter.v1")
            }),
            security_options: raw.security_options,
            ..EngineFacts::default()
        };
        if version.is_podman() {
            // Optional: an older Podman that answers differently keeps the defaults.
            if let Ok(libpod) = self
                .raw_get_json_at::<LibpodInfo>(Operation::Info, &libpod_path)
                .await
            {
                add_libpod_facts(&mut facts, libpod.host);
            }
        }
        Ok(facts)
    }

    /// Reads `/info` raw: Podman reports rootless mode as a top-level `Rootless` field that
    /// the Docker models do not have; Docker's rootless mode shows in `SecurityOptions`.
    pub async fn info(&self) -> Result<ServerInfo, EngineError> {
        let raw: RawInfo = self.raw_get_json(Operation::Info, "/info").await?;
        let docker_rootless = raw
            .security_options
            .iter()
            .any(|o| o.split(',').any(|part| part == "name=rootless"));
        Ok(ServerInfo {
            rootless: raw.rootless.unwrap_or(false) || docker_rootless,
            runtime: raw.default_runtime,
            storage_driver: raw.driver,
        })
    }
}

#[derive(Debug, serde::Deserialize)]
struct RawInfo {
    #[serde(rename = "Rootless")]
    rootless: Option<bool>,
    #[serde(rename = "SecurityOptions", default)]
    security_options: Vec<String>,
    #[serde(rename = "DefaultRuntime")]
    default_runtime: Option<String>,
    #[serde(rename = "Driver")]
    driver: Option<String>,
    /// Docker: `[["driver-type", "io.containerd.snapshotter.v1"]]` with containerd's store.
    #[serde(rename = "DriverStatus", default)]
    driver_status: Option<Vec<Vec<String>>>,
}

/// The parts of Podman's `/libpod/info` the profile uses.
#[derive(Debug, serde::Deserialize)]
struct LibpodInfo {
    host: LibpodHost,
    version: Option<LibpodVersion>,
}

#[derive(Debug, serde::Deserialize)]
struct LibpodVersion {
    #[serde(rename = "Version")]
    version: Option<String>,
}

/// A Podman's facts from its `/libpod/info` alone; `None` when it lacks the version or
/// whether it is rootless (then `/version` and `/info` are read as for Docker).
fn podman_facts(libpod: LibpodInfo, api_version: String) -> Option<EngineFacts> {
    let version = libpod.version?.version.filter(|v| !v.is_empty())?;
    let rootless = libpod.host.security.as_ref()?.rootless?;
    let mut facts = EngineFacts {
        product: "Podman Engine".to_string(),
        version,
        api_version,
        rootless,
        ..EngineFacts::default()
    };
    add_libpod_facts(&mut facts, libpod.host);
    Some(facts)
}

/// What only Podman reports: its network backend, whether it has DNS, seccomp.
fn add_libpod_facts(facts: &mut EngineFacts, host: LibpodHost) {
    facts.network_backend = host.network_backend;
    facts.dns_available = host
        .network_backend_info
        .and_then(|i| i.dns)
        .map(|dns| !dns.path.unwrap_or_default().is_empty());
    facts.seccomp_enabled = host.security.and_then(|s| s.seccomp_enabled);
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LibpodHost {
    network_backend: Option<String>,
    network_backend_info: Option<NetworkBackendInfo>,
    security: Option<LibpodSecurity>,
}

#[derive(Debug, serde::Deserialize)]
struct NetworkBackendInfo {
    dns: Option<DnsInfo>,
}

#[derive(Debug, serde::Deserialize)]
struct DnsInfo {
    path: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LibpodSecurity {
    seccomp_enabled: Option<bool>,
    rootless: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_podman_profile_needs_only_its_libpod_info() {
        let info: LibpodInfo = serde_json::from_str(
            r#"{"host": {"networkBackend": "netavark",
                         "networkBackendInfo": {"dns": {"path": "/usr/lib/podman/aardvark-dns"}},
                         "security": {"rootless": false, "seccompEnabled": true}},
                "version": {"APIVersion": "4.3.1", "Version": "4.3.1"}}"#,
        )
        .unwrap();
        let facts = podman_facts(info, "1.41".to_string()).unwrap();
        assert_eq!(facts.product, "Podman Engine");
        assert_eq!(facts.version, "4.3.1");
        assert_eq!(facts.api_version, "1.41");
        assert!(!facts.rootless);
        assert_eq!(facts.network_backend.as_deref(), Some("netavark"));
        assert_eq!(facts.dns_available, Some(true));
        assert_eq!(facts.seccomp_enabled, Some(true));
        let profile = EngineProfile::derive(&facts);
        assert!(profile.is_podman() && profile.tested && profile.warnings.is_empty());

        // Without the version or the rootless flag, the compat reads are needed.
        for partial in [
            r#"{"host": {"security": {"rootless": true}}}"#,
            r#"{"host": {"security": {}}, "version": {"Version": "5.4.2"}}"#,
            r#"{"host": {}, "version": {"Version": "5.4.2"}}"#,
        ] {
            let info: LibpodInfo = serde_json::from_str(partial).unwrap();
            assert!(podman_facts(info, String::new()).is_none(), "{partial}");
        }
    }
}
