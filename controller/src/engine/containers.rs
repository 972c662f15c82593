//! Containers: list, inspect, create (stopped), start, stop, remove.
//!
//! Writes take an [`OwnedContainer`], which only this module can make: from a container it
//! created, or from an inspect or list whose labels say this workspace owns it. So "never
//! modify a container without our ownership labels" is checked by the compiler, not by
//! remembering to call a check.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, StopContainerOptions,
};
use pocket_dock_spec::Kind;

use super::labels::Ownership;
use super::{Engine, EngineError, Operation, Target};

/// A container's run state, as Podman reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Stopping,
    Exited,
    Removing,
    Dead,
    Unknown(String),
}

impl ContainerState {
    fn parse(s: &str) -> Self {
        match s {
            "created" | "configured" | "initialized" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "stopping" => ContainerState::Stopping,
            "exited" | "stopped" => ContainerState::Exited,
            "removing" => ContainerState::Removing,
            "dead" => ContainerState::Dead,
            other => ContainerState::Unknown(other.to_string()),
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, ContainerState::Running)
    }
}

/// One row of a container listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerSummary {
    pub id: String,
    /// The primary name, without Docker's leading slash.
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub state: ContainerState,
    pub labels: HashMap<String, String>,
}

/// What an inspect tells about one container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerDetails {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub state: ContainerState,
    pub exit_code: Option<i64>,
    pub pid: Option<i64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub labels: HashMap<String, String>,
}

/// A container this workspace owns. Only the engine makes these (see module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedContainer {
    id: String,
    name: String,
}

impl OwnedContainer {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The network a container joins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// Podman's default network.
    #[default]
    Default,
    /// No network at all, only loopback.
    None,
}

/// What to create. The engine adds the ownership labels; `labels` may add more (never
/// override them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    pub name: String,
    pub kind: Kind,
    pub object_name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub network: NetworkMode,
    /// Run Podman's init (catatonit) as PID 1, so SIGTERM stops the container at once.
    pub init: bool,
}

impl ContainerConfig {
    /// A container that stays up doing nothing until stopped, for execs to run in.
    pub fn idle(kind: Kind, object_name: &str, container_name: &str, image: &str) -> Self {
        ContainerConfig {
            name: container_name.to_string(),
            kind,
            object_name: object_name.to_string(),
            image: image.to_string(),
            entrypoint: None,
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            env: BTreeMap::new(),
            workdir: None,
            user: None,
            labels: BTreeMap::new(),
            network: NetworkMode::Default,
            init: true,
        }
    }
}

/// Whether `remove` found something to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    Removed,
    AlreadyGone,
}

fn label_filters(filters: &[String]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), filters.to_vec())])
}

fn summary_from(raw: bollard::models::ContainerSummary) -> ContainerSummary {
    let name = raw
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    ContainerSummary {
        id: raw.id.unwrap_or_default(),
        name,
        image: raw.image.unwrap_or_default(),
        image_id: raw.image_id.unwrap_or_default(),
        state: ContainerState::parse(raw.state.as_ref().map_or("", |s| s.as_ref())),
        labels: raw.labels.unwrap_or_default(),
    }
}

impl Engine {
    /// Lists containers (running and stopped) matching every `key=value` label filter.
    pub async fn list_containers(
        &self,
        label_filter: &[String],
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(label_filters(label_filter)),
            ..Default::default()
        };
        let raw = self
            .call(
                Operation::ContainerList,
                Target::None,
                self.docker.list_containers(Some(options)),
            )
            .await?;
        Ok(raw.into_iter().map(summary_from).collect())
    }

    /// Lists the containers this workspace owns, with a handle usable for writes.
    pub async fn list_owned(
        &self,
        ownership: &Ownership,
    ) -> Result<Vec<(ContainerSummary, OwnedContainer)>, EngineError> {
        let listed = self.list_containers(&ownership.filters()).await?;
        Ok(listed
            .into_iter()
            // The server filtered already; checking again costs nothing and means a
            // misbehaving filter can never hand out a write handle.
            .filter(|c| ownership.owns(&c.labels))
            .map(|c| {
                let owned = OwnedContainer {
                    id: c.id.clone(),
                    name: c.name.clone(),
                };
                (c, owned)
            })
            .collect())
    }

    /// Inspects any container by id or name (reading is allowed for every container).
    pub async fn inspect_container(&self, id: &str) -> Result<ContainerDetails, EngineError> {
        let raw = self
            .call(
                Operation::ContainerInspect,
                Target::Container(id),
                self.docker.inspect_container(id, None),
            )
            .await?;
        let state = raw.state.unwrap_or_default();
        let config = raw.config.unwrap_or_default();
        Ok(ContainerDetails {
            id: raw.id.unwrap_or_default(),
            name: raw
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: config.image.unwrap_or_default(),
            image_id: raw.image.unwrap_or_default(),
            state: ContainerState::parse(state.status.as_ref().map_or("", |s| s.as_ref())),
            exit_code: state.exit_code,
            pid: state.pid.filter(|p| *p > 0),
            started_at: state.started_at,
            finished_at: state.finished_at,
            labels: config.labels.unwrap_or_default(),
        })
    }

    /// Inspects a container and hands out a write handle only if this workspace owns it.
    pub async fn inspect_owned(
        &self,
        ownership: &Ownership,
        id: &str,
        intended: Operation,
    ) -> Result<(ContainerDetails, OwnedContainer), EngineError> {
        let details = self.inspect_container(id).await?;
        if !ownership.owns(&details.labels) {
            return Err(EngineError::NotOwned {
                op: intended,
                id: details.name,
            });
        }
        let owned = OwnedContainer {
            id: details.id.clone(),
            name: details.name.clone(),
        };
        Ok((details, owned))
    }

    /// Creates a container (not started) carrying this workspace's ownership labels.
    pub async fn create_container(
        &self,
        ownership: &Ownership,
        config: &ContainerConfig,
    ) -> Result<OwnedContainer, EngineError> {
        let mut all_labels: HashMap<String, String> = config.labels.clone().into_iter().collect();
        // Ownership labels are applied last so that nothing can override them.
        all_labels.extend(ownership.labels_for(config.kind, &config.object_name));

        let body = ContainerCreateBody {
            image: Some(config.image.clone()),
            entrypoint: config.entrypoint.clone(),
            cmd: config.cmd.clone(),
            env: Some(config.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: config.workdir.clone(),
            user: config.user.clone(),
            labels: Some(all_labels),
            host_config: Some(HostConfig {
                init: Some(config.init),
                network_mode: match config.network {
                    NetworkMode::Default => None,
                    NetworkMode::None => Some("none".to_string()),
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(config.name.clone()),
            ..Default::default()
        };
        let created = self
            .call(
                Operation::ContainerCreate,
                Target::NewContainer {
                    name: &config.name,
                    image: &config.image,
                },
                self.docker.create_container(Some(options), body),
            )
            .await?;
        Ok(OwnedContainer {
            id: created.id,
            name: config.name.clone(),
        })
    }

    /// Starts a container; starting a running one is a no-op.
    pub async fn start_container(&self, c: &OwnedContainer) -> Result<(), EngineError> {
        self.call(
            Operation::ContainerStart,
            Target::Container(&c.id),
            self.docker.start_container(&c.id, None),
        )
        .await
    }

    /// Stops a container, giving it `grace` to exit after SIGTERM before SIGKILL.
    /// Stopping a stopped container is a no-op.
    pub async fn stop_container(
        &self,
        c: &OwnedContainer,
        grace: Duration,
    ) -> Result<(), EngineError> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        let docker = self.docker_with_extra_time(grace);
        self.call(
            Operation::ContainerStop,
            Target::Container(&c.id),
            docker.stop_container(&c.id, Some(options)),
        )
        .await
    }

    /// Removes a container, killing it first if it runs. Its named volumes are kept.
    pub async fn remove_container(&self, c: &OwnedContainer) -> Result<RemoveOutcome, EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: false,
            ..Default::default()
        };
        let result = self
            .call(
                Operation::ContainerRemove,
                Target::Container(&c.id),
                self.docker.remove_container(&c.id, Some(options)),
            )
            .await;
        match result {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(EngineError::ContainerNotFound { .. }) => Ok(RemoveOutcome::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// Looks for an owned container by its container name; `None` if there is none.
    /// A container of that name that this workspace does not own is a `NotOwned` error.
    pub async fn find_owned_by_name(
        &self,
        ownership: &Ownership,
        container_name: &str,
        intended: Operation,
    ) -> Result<Option<(ContainerDetails, OwnedContainer)>, EngineError> {
        match self
            .inspect_owned(ownership, container_name, intended)
            .await
        {
            Ok(found) => Ok(Some(found)),
            Err(EngineError::ContainerNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_state_names_map_to_docker_states() {
        assert_eq!(ContainerState::parse("configured"), ContainerState::Created);
        assert_eq!(ContainerState::parse("stopped"), ContainerState::Exited);
        assert_eq!(ContainerState::parse("running"), ContainerState::Running);
        assert_eq!(
            ContainerState::parse("weird"),
            ContainerState::Unknown("weird".into())
        );
    }
}
