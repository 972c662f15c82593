//! Named volumes owned by a workspace: list, create, remove. Their data is never removed
//! by anything but an explicit `remove_volume`, which takes an [`OwnedVolume`]: a handle
//! made only from a volume whose labels name the workspace.

use std::collections::HashMap;

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};
use pocket_dock_spec::Kind;

use super::labels::Ownership;
use super::{Engine, EngineError, Operation, Target};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VolumeSummary {
    pub name: String,
    pub labels: HashMap<String, String>,
    pub mountpoint: String,
}

/// A volume this workspace owns: made only by [`Engine::create_volume`] and
/// [`OwnedVolume::check`], after its labels were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedVolume {
    name: String,
}

impl OwnedVolume {
    /// The handle of a listed volume, when its labels say `ownership` owns it; `NotOwned`
    /// otherwise.
    pub fn check(ownership: &Ownership, volume: &VolumeSummary) -> Result<Self, EngineError> {
        if !ownership.owns(&volume.labels) {
            return Err(EngineError::NotOwned {
                op: Operation::VolumeRemove,
                id: volume.name.clone(),
            });
        }
        Ok(OwnedVolume {
            name: volume.name.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Engine {
    /// The volumes this workspace owns.
    pub async fn list_owned_volumes(
        &self,
        ownership: &Ownership,
    ) -> Result<Vec<VolumeSummary>, EngineError> {
        let mut volumes = self.list_volumes(&ownership.filters()).await?;
        volumes.retain(|v| ownership.owns(&v.labels));
        Ok(volumes)
    }

    /// Volumes matching every `key=value` label filter.
    pub async fn list_volumes(
        &self,
        label_filter: &[String],
    ) -> Result<Vec<VolumeSummary>, EngineError> {
        let options = ListVolumesOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                label_filter.to_vec(),
            )])),
        };
        let listed = self
            .call(
                Operation::VolumeList,
                Target::None,
                self.docker.list_volumes(Some(options)),
            )
            .await?;
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeSummary {
                name: v.name,
                labels: v.labels,
                mountpoint: v.mountpoint,
            })
            .collect())
    }

    /// Creates a volume named `volume_name` for the `Volume` object `object_name`.
    pub async fn create_volume(
        &self,
        ownership: &Ownership,
        object_name: &str,
        volume_name: &str,
    ) -> Result<OwnedVolume, EngineError> {
        let request = VolumeCreateRequest {
            name: Some(volume_name.to_string()),
            labels: Some(ownership.labels_for(Kind::Volume, object_name)),
            ..Default::default()
        };
        self.call(
            Operation::VolumeCreate,
            Target::Volume(volume_name),
            self.docker.create_volume(request),
        )
        .await
        .map(|_| OwnedVolume {
            name: volume_name.to_string(),
        })
    }

    /// Removes an owned volume and its data. Only called on an explicit request.
    pub async fn remove_volume(&self, volume: &OwnedVolume) -> Result<(), EngineError> {
        let options = RemoveVolumeOptions { force: false };
        self.call(
            Operation::VolumeRemove,
            Target::Volume(&volume.name),
            self.docker.remove_volume(&volume.name, Some(options)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::WorkspaceId;

    #[test]
    fn only_an_owned_volume_gets_a_handle() {
        let own = Ownership::new(WorkspaceId::new("abc"));
        let volume = |labels| VolumeSummary {
            name: "pd-data".into(),
            labels,
            mountpoint: String::new(),
        };
        let ours = volume(own.labels_for(Kind::Volume, "data"));
        assert_eq!(OwnedVolume::check(&own, &ours).unwrap().name(), "pd-data");
        let theirs =
            volume(Ownership::new(WorkspaceId::new("def")).labels_for(Kind::Volume, "data"));
        let foreign = volume(HashMap::from([("app".to_string(), "db".to_string())]));
        for other in [theirs, foreign] {
            assert!(matches!(
                OwnedVolume::check(&own, &other),
                Err(EngineError::NotOwned { .. })
            ));
        }
    }
}
