//! Service-level calls: ping, version, info.

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
}
