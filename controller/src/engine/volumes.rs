//! Named volumes owned by a workspace: list, create, remove. Their data is never removed
//! by anything but an explicit `remove_volume`.

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
    ) -> Result<(), EngineError> {
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
        .map(|_| ())
    }

    /// Removes an owned volume and its data. Only called on an explicit request.
    pub async fn remove_volume(
        &self,
        ownership: &Ownership,
        volume: &VolumeSummary,
    ) -> Result<(), EngineError> {
        if !ownership.owns(&volume.labels) {
            return Err(EngineError::NotOwned {
                op: Operation::VolumeRemove,
                id: volume.name.clone(),
            });
        }
        let options = RemoveVolumeOptions { force: false };
        self.call(
            Operation::VolumeRemove,
            Target::Volume(&volume.name),
            self.docker.remove_volume(&volume.name, Some(options)),
        )
        .await
    }
}
