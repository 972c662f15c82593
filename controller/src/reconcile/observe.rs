//! Observed state: what Podman runs for this workspace, read in as few calls as possible
//! (one container list, one volume list, one inspect per distinct image reference).

use std::collections::{BTreeMap, BTreeSet};

use pocket_dock_spec::Kind;

use super::desired::{Desired, DesiredImage, ImageSource};
use crate::engine::labels::{KIND, NAME, SPEC, SPEC_HASH};
use crate::engine::{
    ContainerState, Engine, EngineError, OwnedContainer, Ownership, VolumeSummary,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedContainer {
    pub id: String,
    pub container_name: String,
    pub state: ContainerState,
    pub spec_hash: Option<String>,
    /// The effective spec it was created from (JSON), for explaining recreates.
    pub spec: Option<String>,
    pub image_id: String,
    /// Seconds since the Unix epoch.
    pub created: i64,
    pub handle: OwnedContainer,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Owned `Sandbox` containers by object name (more than one only after an accident).
    pub sandboxes: BTreeMap<String, Vec<ObservedContainer>>,
    pub volumes: BTreeMap<String, VolumeSummary>,
    /// Image reference to image id (`None`: not present).
    pub images: BTreeMap<String, Option<String>>,
}

/// Image ids as Podman prints them in different places (`sha256:abc` or `abc`) compare equal.
pub fn same_image(a: &str, b: &str) -> bool {
    a.trim_start_matches("sha256:") == b.trim_start_matches("sha256:")
}

/// The image references whose ids the plan needs.
pub fn references(desired: &Desired) -> BTreeSet<String> {
    let mut refs: BTreeSet<String> = desired
        .sandboxes
        .values()
        .filter_map(|s| match &s.image {
            ImageSource::Reference(r) if !r.is_empty() => Some(r.clone()),
            _ => None,
        })
        .collect();
    refs.extend(desired.images.values().filter_map(|i| match i {
        DesiredImage::Pull { reference } => Some(reference.clone()),
        DesiredImage::Unsupported { .. } => None,
    }));
    refs
}

pub async fn observe(
    engine: &Engine,
    ownership: &Ownership,
    desired: &Desired,
) -> Result<Observed, EngineError> {
    let refs = references(desired);
    let (containers, volumes, images) = tokio::join!(
        engine.list_owned(ownership),
        engine.list_owned_volumes(ownership),
        futures_util::future::join_all(refs.iter().map(|r| engine.find_image(r))),
    );
    let mut observed = Observed::default();
    for (summary, handle) in containers? {
        if summary.labels.get(KIND).map(String::as_str) != Some(Kind::Sandbox.as_str()) {
            continue;
        }
        let Some(name) = summary.labels.get(NAME).cloned() else {
            continue;
        };
        observed
            .sandboxes
            .entry(name)
            .or_default()
            .push(ObservedContainer {
                id: summary.id,
                container_name: summary.name,
                state: summary.state,
                spec_hash: summary.labels.get(SPEC_HASH).cloned(),
                spec: summary.labels.get(SPEC).cloned(),
                image_id: summary.image_id,
                created: summary.created,
                handle,
            });
    }
    for volume in volumes? {
        if let Some(name) = volume.labels.get(NAME).cloned() {
            observed.volumes.insert(name, volume);
        }
    }
    for (reference, found) in refs.into_iter().zip(images) {
        observed.images.insert(reference, found?.map(|i| i.id));
    }
    Ok(observed)
}
