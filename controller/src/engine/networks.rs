//! Networks owned by a workspace: list (with who is attached), create, remove. Removal takes
//! an [`OwnedNetwork`], a handle made only from a network whose labels name the workspace,
//! and is refused while a container that is not the workspace's is attached.
//!
//! Listing and inspection decode leniently (Podman's and Docker's answers differ in
//! details such as `Created`); create, remove and disconnect go through bollard.

use std::collections::HashMap;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest, NetworkDisconnectRequest};
use pocket_dock_spec::Kind;

use super::labels::{ObjectLabels, Ownership};
use super::{Engine, EngineError, Operation, Target};

/// A network as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetworkSummary {
    pub name: String,
    pub id: String,
    pub labels: HashMap<String, String>,
    pub internal: bool,
    /// The subnets it hands addresses from (CIDR).
    pub subnets: Vec<String>,
    /// The containers attached to it: (id, name).
    pub containers: Vec<(String, String)>,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The engine's name for it.
    pub name: String,
    /// The `Network` object's name (`default` for the workspace's own).
    pub object_name: String,
    pub internal: bool,
    pub subnet: Option<String>,
    /// Recorded as the object's spec hash: a change of settings replaces the network.
    pub spec_hash: String,
}

/// A network this workspace owns: made only by [`Engine::create_network`] and
/// [`OwnedNetwork::check`], after its labels were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedNetwork {
    name: String,
}

impl OwnedNetwork {
    /// The handle of a listed network, when its labels say `ownership` owns it.
    pub fn check(ownership: &Ownership, network: &NetworkSummary) -> Result<Self, EngineError> {
        if !ownership.owns(&network.labels) {
            return Err(EngineError::NotOwned {
                op: Operation::NetworkRemove,
                id: network.name.clone(),
            });
        }
        Ok(OwnedNetwork {
            name: network.name.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A network as Podman's own listing (`/libpod/networks/json`) describes it: no attached
/// containers.
#[derive(serde::Deserialize)]
struct LibpodNetwork {
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    subnets: Option<Vec<LibpodSubnet>>,
}

#[derive(serde::Deserialize)]
struct LibpodSubnet {
    #[serde(default)]
    subnet: Option<String>,
}

impl LibpodNetwork {
    fn into_summary(self) -> NetworkSummary {
        NetworkSummary {
            name: self.name,
            id: self.id,
            labels: self.labels.unwrap_or_default(),
            internal: self.internal,
            subnets: self
                .subnets
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| s.subnet)
                .collect(),
            containers: Vec::new(),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    #[serde(default)]
    internal: bool,
    #[serde(rename = "IPAM", default)]
    ipam: Option<RawIpam>,
    #[serde(default)]
    containers: Option<HashMap<String, RawEndpoint>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawIpam {
    #[serde(default)]
    config: Option<Vec<RawIpamConfig>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawIpamConfig {
    #[serde(default)]
    subnet: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawEndpoint {
    #[serde(default)]
    name: String,
}

impl RawNetwork {
    fn into_summary(self) -> NetworkSummary {
        let mut containers: Vec<(String, String)> = self
            .containers
            .unwrap_or_default()
            .into_iter()
            .map(|(id, e)| (id, e.name))
            .collect();
        containers.sort();
        NetworkSummary {
            name: self.name,
            id: self.id,
            labels: self.labels.unwrap_or_default(),
            internal: self.internal,
            subnets: self
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.subnet)
                .collect(),
            containers,
        }
    }
}

impl Engine {
    /// The networks this workspace owns, each with the containers attached to it, running
    /// or stopped (one container listing per network: a workspace has a few).
    pub async fn list_owned_networks(
        &self,
        ownership: &Ownership,
    ) -> Result<Vec<NetworkSummary>, EngineError> {
        let mut owned = Vec::new();
        for network in self.list_networks(&ownership.filters()).await? {
            if !ownership.owns(&network.labels) {
                continue;
            }
            owned.push(self.with_attached(network).await?);
        }
        Ok(owned)
    }

    /// `network` with every container attached to it, running or stopped (its own
    /// inspection, on Podman, lists only the running ones).
    async fn with_attached(
        &self,
        mut network: NetworkSummary,
    ) -> Result<NetworkSummary, EngineError> {
        let mut containers: Vec<(String, String)> = self
            .containers_on_network(&network.name)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        containers.sort();
        network.containers = containers;
        Ok(network)
    }

    /// Who is on the network `name` now, running or not (`None`: there is no such
    /// network), with its labels read again.
    pub async fn network_now(&self, name: &str) -> Result<Option<NetworkSummary>, EngineError> {
        match self.inspect_network(name).await? {
            Some(network) => Ok(Some(self.with_attached(network).await?)),
            None => Ok(None),
        }
    }

    /// Networks matching every `key=value` label filter, as listed (a listing may not say
    /// who is attached: [`Engine::inspect_network`] does).
    pub async fn list_networks(
        &self,
        label_filter: &[String],
    ) -> Result<Vec<NetworkSummary>, EngineError> {
        let filters = serde_json::json!({ "label": label_filter }).to_string();
        let query = format!("?filters={}", super::raw::percent_encode(&filters));
        // Podman's compat listing works out every network's containers by looking at every
        // container, which made it the slowest read of a no-op apply (150 ms beside 100
        // foreign containers); its own listing does not, and who is attached is read per
        // network anyway (`with_attached`).
        if self.identity().await?.is_podman() {
            let path = format!("/v4.0.0/libpod/networks/json{query}");
            let listed: Vec<LibpodNetwork> =
                self.raw_get_json_at(Operation::NetworkList, &path).await?;
            return Ok(listed
                .into_iter()
                .map(LibpodNetwork::into_summary)
                .collect());
        }
        let path = format!("/networks{query}");
        let listed: Vec<RawNetwork> = self.raw_get_json(Operation::NetworkList, &path).await?;
        Ok(listed.into_iter().map(RawNetwork::into_summary).collect())
    }

    /// One network by name; `None` when there is none.
    pub async fn inspect_network(&self, name: &str) -> Result<Option<NetworkSummary>, EngineError> {
        let path = format!("/networks/{}", super::raw::percent_encode(name));
        match self
            .raw_get_json::<RawNetwork>(Operation::NetworkInspect, &path)
            .await
        {
            Ok(raw) => Ok(Some(raw.into_summary())),
            Err(EngineError::Runtime {
                status: Some(404), ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a network for a `Network` object, labelled as the workspace's.
    pub async fn create_network(
        &self,
        ownership: &Ownership,
        config: &NetworkConfig,
    ) -> Result<OwnedNetwork, EngineError> {
        let labels = ObjectLabels {
            spec_hash: Some(config.spec_hash.clone()),
            ..ObjectLabels::new(ownership, Kind::Network, &config.object_name)
        };
        let request = NetworkCreateRequest {
            name: config.name.clone(),
            driver: Some("bridge".to_string()),
            internal: Some(config.internal),
            ipam: config.subnet.as_ref().map(|subnet| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.clone()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(labels.to_labels()),
            ..Default::default()
        };
        self.call(
            Operation::NetworkCreate,
            Target::Network(&config.name),
            self.docker.create_network(request),
        )
        .await
        .map(|_| OwnedNetwork {
            name: config.name.clone(),
        })
    }

    /// The gateway address of a network (the host's side of its bridge); `None` when there
    /// is no such network or it has no gateway.
    pub async fn network_gateway(
        &self,
        name: &str,
    ) -> Result<Option<std::net::IpAddr>, EngineError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Gateways {
            #[serde(rename = "IPAM", default)]
            ipam: Option<GatewayIpam>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct GatewayIpam {
            #[serde(default)]
            config: Option<Vec<GatewayConfig>>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct GatewayConfig {
            #[serde(default)]
            gateway: Option<String>,
        }
        let path = format!("/networks/{}", super::raw::percent_encode(name));
        match self
            .raw_get_json::<Gateways>(Operation::NetworkInspect, &path)
            .await
        {
            Ok(raw) => Ok(raw
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.gateway?.parse().ok())
                .next()),
            Err(EngineError::Runtime {
                status: Some(404), ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The host's bridge interface of a network (libpod's `network_interface`, e.g.
    /// `podman3`), named when the network is made even before the bridge exists; `None`
    /// when there is no such network or the engine names none. Podman only.
    pub async fn network_interface(&self, name: &str) -> Result<Option<String>, EngineError> {
        #[derive(serde::Deserialize)]
        struct Libpod {
            #[serde(default)]
            network_interface: Option<String>,
        }
        let path = format!(
            "{}/networks/{}/json",
            super::raw::LIBPOD,
            super::raw::percent_encode(name)
        );
        match self
            .raw_get_json_at::<Libpod>(Operation::NetworkInspect, &path)
            .await
        {
            Ok(raw) => Ok(raw.network_interface.filter(|i| !i.is_empty())),
            Err(EngineError::Runtime {
                status: Some(404), ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a sandbox's egress network: internal (no route out), without DNS (Podman's
    /// resolver forwards names out, a channel), on `subnet` with its first address as the
    /// gateway, on which pocket-dock's proxy listens. Podman only (the libpod endpoint).
    pub async fn create_egress_network(
        &self,
        ownership: &Ownership,
        config: &NetworkConfig,
        subnet: &str,
        gateway: &str,
    ) -> Result<OwnedNetwork, EngineError> {
        self.require(super::Capability::Egress, Operation::NetworkCreate)
            .await?;
        let labels = ObjectLabels {
            spec_hash: Some(config.spec_hash.clone()),
            ..ObjectLabels::new(ownership, Kind::Network, &config.object_name)
        };
        let body = serde_json::json!({
            "name": config.name,
            "driver": "bridge",
            "internal": true,
            "dns_enabled": false,
            "subnets": [{"subnet": subnet, "gateway": gateway}],
            "labels": labels.to_labels(),
        })
        .to_string();
        let _: serde_json::Value = self
            .raw_json(
                Operation::NetworkCreate,
                "POST",
                &format!("{}/networks/create", super::raw::LIBPOD),
                super::raw::RawBody::Bytes(body.as_bytes(), "application/json"),
                Target::Network(&config.name),
                self.timeouts.request,
            )
            .await?;
        Ok(OwnedNetwork {
            name: config.name.clone(),
        })
    }

    /// Every subnet of every network the engine has (IPv4 and IPv6, as CIDR text).
    pub async fn all_subnets(&self) -> Result<Vec<String>, EngineError> {
        Ok(self
            .list_networks(&[])
            .await?
            .into_iter()
            .flat_map(|n| n.subnets)
            .collect())
    }

    /// Detaches a container from an owned network (it may be running).
    pub async fn disconnect_network(
        &self,
        network: &OwnedNetwork,
        container: &str,
    ) -> Result<(), EngineError> {
        let request = NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(true),
        };
        self.call(
            Operation::NetworkDisconnect,
            Target::Network(&network.name),
            self.docker.disconnect_network(&network.name, request),
        )
        .await
    }

    /// Removes an owned network. Never forced: with a container still attached the engine
    /// refuses (a conflict), and nothing of that container is touched.
    pub async fn remove_network(&self, network: &OwnedNetwork) -> Result<(), EngineError> {
        self.call(
            Operation::NetworkRemove,
            Target::Network(&network.name),
            self.docker.remove_network(&network.name),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::WorkspaceId;

    #[test]
    fn podmans_own_listing_decodes_without_containers() {
        // As Podman 4.3 and 5.x answer `/libpod/networks/json`.
        let listed = r#"[{"name":"pd-default-e3","id":"9a","driver":"bridge",
            "network_interface":"podman1","created":"2026-12-01T16:46:08Z",
            "subnets":[{"subnet":"10.89.0.0/24","gateway":"10.89.0.1"},{"subnet":"fd00::/64"}],
            "ipv6_enabled":false,"internal":true,"dns_enabled":true,
            "labels":{"pocket-dock.dev/kind":"Network"},"ipam_options":{"driver":"host-local"}},
            {"name":"bare","id":"1"}]"#;
        let n: Vec<NetworkSummary> = serde_json::from_str::<Vec<LibpodNetwork>>(listed)
            .unwrap()
            .into_iter()
            .map(LibpodNetwork::into_summary)
            .collect();
        assert_eq!(n[0].name, "pd-default-e3");
        assert_eq!(n[0].subnets, ["10.89.0.0/24", "fd00::/64"]);
        assert!(n[0].internal);
        assert_eq!(n[0].labels["pocket-dock.dev/kind"], "Network");
        assert!(n[0].containers.is_empty());
        assert!(n[1].subnets.is_empty() && n[1].labels.is_empty() && !n[1].internal);
    }

    #[test]
    fn inspection_decodes_podman_and_docker_answers() {
        let podman = r#"{"Name":"pd-net","Id":"f4","Created":"2026-12-01T04:14:53.7Z","Driver":"bridge",
            "IPAM":{"Driver":"default","Config":[{"Subnet":"10.89.77.0/24","Gateway":"10.89.77.1"}]},
            "Internal":true,"Containers":{"50d6":{"Name":"web1","IPv4Address":"10.89.77.2/24"}},
            "Labels":{"a":"b"}}"#;
        let n = serde_json::from_str::<RawNetwork>(podman)
            .unwrap()
            .into_summary();
        assert_eq!(n.subnets, ["10.89.77.0/24"]);
        assert!(n.internal);
        assert_eq!(n.containers, [("50d6".to_string(), "web1".to_string())]);
        // Docker's list has no containers and may say null for labels.
        let docker =
            r#"{"Name":"x","Id":"1","Labels":null,"IPAM":{"Config":null},"Containers":{}}"#;
        let n = serde_json::from_str::<RawNetwork>(docker)
            .unwrap()
            .into_summary();
        assert!(n.labels.is_empty() && n.subnets.is_empty() && n.containers.is_empty());
    }

    #[test]
    fn only_an_owned_network_gets_a_handle() {
        let own = Ownership::new(WorkspaceId::new("abc"));
        let network = |labels| NetworkSummary {
            name: "pd-default-1".into(),
            id: "1".into(),
            labels,
            internal: false,
            subnets: Vec::new(),
            containers: Vec::new(),
        };
        assert!(OwnedNetwork::check(&own, &network(own.labels_for(Kind::Network, "x"))).is_ok());
        let theirs = Ownership::new(WorkspaceId::new("def")).labels_for(Kind::Network, "x");
        assert!(matches!(
            OwnedNetwork::check(&own, &network(theirs)),
            Err(EngineError::NotOwned { .. })
        ));
    }
}
