//! Executing image actions: builds, the embedded base, snapshot commits and image pruning.

use std::collections::BTreeMap;

use pocket_dock_spec::Kind;

use super::action_error::ActionError;
use super::desired::{Desired, ImageOrigin};
use super::observe::Observed;
use crate::engine::labels::{ImageLabels, ObjectLabels, SnapshotLabels};
use crate::engine::{
    BuildRequest, Engine, EngineError, OnProgress, Operation, OwnedImage, Ownership, Progress,
};
use crate::images::{self, ImageError, context::CONTAINERFILE_IN_TAR, embedded};
use crate::timefmt::now_rfc3339;

pub use crate::engine::labels::CONTENT_HASH;

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ActionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ActionError::Internal(e.to_string()))?
        .map_err(ActionError::from)
}

/// How a build runs: its time limit, whether it ignores the layer cache, where its
/// progress goes.
pub struct BuildHow<'a> {
    pub timeout: std::time::Duration,
    pub no_cache: bool,
    pub on_progress: OnProgress<'a>,
}

/// Builds `Image/name` as `tag`. The context is read again: if it changed since the plan
/// (its hash no longer gives `tag`), the build is refused rather than mislabelled.
pub async fn build(
    engine: &Engine,
    ownership: &Ownership,
    desired: &Desired,
    name: &str,
    tag: &str,
    how: BuildHow<'_>,
) -> Result<(), ActionError> {
    let BuildHow {
        timeout,
        no_cache,
        on_progress,
    } = how;
    let Some(ImageOrigin::Build(recipe)) = desired.images.get(name).map(|i| &i.origin) else {
        return Err(ActionError::Internal(format!(
            "Image/{name} is not a build"
        )));
    };
    let (args, target) = (recipe.args.clone(), recipe.target.clone());
    let recipe = recipe.clone();
    let context_changed = || ActionError::ContextChanged {
        image: name.to_string(),
    };
    let (prepared, tar) = blocking(move || {
        let prepared = recipe.prepare()?;
        let tar = prepared.tarball()?;
        Ok((prepared, tar))
    })
    .await
    .map_err(|e| match e {
        // A file edited between hashing and packing: the same conflict as below.
        ActionError::Image(ImageError::FileChanged { .. }) => context_changed(),
        e => e,
    })?;
    if images::build_tag(ownership, name, &prepared.content_hash) != tag {
        return Err(context_changed());
    }
    // No workspace among the labels: they are part of the image's id (see `images::names`).
    let labels: BTreeMap<String, String> = ImageLabels {
        content_hash: Some(prepared.content_hash.clone()),
        ..ImageLabels::new(Kind::Image, name)
    }
    .to_labels()
    .into_iter()
    .collect();
    let shared = images::portable_build_tag(name, &prepared.content_hash);
    engine
        .build_image_with_progress(
            &BuildRequest {
                tag,
                context_tar: &tar,
                containerfile: CONTAINERFILE_IN_TAR,
                args: &args,
                target: target.as_deref(),
                labels: &labels,
                timeout,
                no_cache,
            },
            on_progress,
        )
        .await
        .map_err(|e| ActionError::image_timeout(e, name, "build"))?;
    engine.tag_image(tag, &shared).await?;
    Ok(())
}

/// Gives the image present as `source` the name `tag`, after checking it is what the plan
/// took it for (pocket-dock made it, for this object; see `plan::same_build`).
pub async fn tag(
    engine: &Engine,
    key: &crate::key::Key,
    source: &str,
    tag: &str,
) -> Result<(), ActionError> {
    let image = engine.inspect_image(source).await?;
    let made_for = ImageLabels::parse(&image.labels).map(|l| (l.kind, l.name));
    if made_for.as_ref() != Some(&(key.kind, key.name.clone())) {
        return Err(ActionError::ImageChanged {
            key: key.to_string(),
            reference: source.to_string(),
        });
    }
    engine.tag_image(&image.id, tag).await?;
    Ok(())
}

/// Builds the embedded base in Rust and loads it; checks Podman gives it the expected id.
pub async fn load_embedded(
    engine: &Engine,
    tag: &str,
    on_progress: OnProgress<'_>,
) -> Result<(), ActionError> {
    on_progress(Progress::Status {
        text: "assembling the base image".to_string(),
    });
    let base = blocking(|| embedded::build(&embedded::BaseInput::find()?)).await?;
    if base.tag != tag {
        return Err(ActionError::ContextChanged {
            image: "base".into(),
        });
    }
    engine
        .load_image_bytes_with_progress(&base.archive, on_progress)
        .await?;
    let loaded = engine.inspect_image(tag).await?;
    if loaded.id.trim_start_matches("sha256:") != base.image_id.trim_start_matches("sha256:") {
        return Err(ActionError::Engine(EngineError::Runtime {
            op: Operation::ImageLoad,
            id: Some(tag.to_string()),
            status: None,
            message: format!(
                "Podman gave the base image id {} instead of {}",
                loaded.id, base.image_id
            ),
        }));
    }
    Ok(())
}

/// Commits `Snapshot/name`'s running (or paused) source sandbox to `tag`, never pausing,
/// unpausing or changing it.
pub async fn commit(
    engine: &Engine,
    ownership: &Ownership,
    desired: &Desired,
    name: &str,
    tag: &str,
) -> Result<(), ActionError> {
    let Some(snap) = desired.snapshots.get(name) else {
        return Err(ActionError::Internal(format!(
            "Snapshot/{name} is not declared"
        )));
    };
    let source_failure = |reason: &str| ActionError::SnapshotSource {
        sandbox: snap.sandbox.clone(),
        reason: reason.to_string(),
    };
    let Some(sandbox) = desired.sandboxes.get(&snap.sandbox) else {
        return Err(source_failure("it is not declared"));
    };
    let found = engine
        .find_owned_by_name(
            ownership,
            &sandbox.container_name,
            Operation::ContainerCommit,
        )
        .await?;
    let Some((details, handle)) = found else {
        return Err(source_failure("it has no container"));
    };
    // A paused source is committed as it is (frozen: its files hold still); the commit
    // itself never pauses (see `Engine::commit_container`).
    if !details.state.is_up() {
        return Err(source_failure("it is not running"));
    }
    let source_spec_hash = ObjectLabels::parse(&details.labels)
        .and_then(|l| l.spec_hash)
        .unwrap_or_default();
    let labels: BTreeMap<String, String> = ImageLabels {
        snapshot: Some(SnapshotLabels {
            source: snap.sandbox.clone(),
            source_spec_hash,
            source_image: details.image_id.clone(),
            taken_at: now_rfc3339(),
            generation: snap.generation.to_string(),
            description: snap.description.clone(),
        }),
        ..ImageLabels::new(Kind::Snapshot, name)
    }
    .to_labels()
    .into_iter()
    .collect();
    let (repository, tag_part) = images::split_tag(tag);
    engine
        .commit_container(&handle, repository, tag_part, &labels)
        .await?;
    Ok(())
}

/// Removes one image name, of an image observed with this workspace's labels. Gone already
/// is fine; an image a container still uses is kept (logged) and tried again on the next
/// apply.
pub async fn remove(
    engine: &Engine,
    ownership: &Ownership,
    observed: &Observed,
    reference: &str,
) -> Result<(), ActionError> {
    let listed = observed
        .owned_images
        .iter()
        .find(|i| i.repo_tags.iter().any(|t| t == reference));
    // An image with no name left (see `plan::untagged_images`): by its id, the labels
    // checked again as it is inspected.
    let untagged = || {
        observed
            .owned_images
            .iter()
            .any(|i| i.id == reference && crate::engine::nameless(&i.repo_tags))
    };
    if listed.is_none() && untagged() {
        return match engine.remove_owned_image(ownership, reference).await {
            Ok(()) | Err(EngineError::ImageNotFound { .. }) => Ok(()),
            Err(EngineError::Conflict { message, .. }) => {
                tracing::warn!(image = reference, "kept: {message}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        };
    }
    let Some(listed) = listed else {
        return Err(ActionError::Engine(EngineError::NotOwned {
            op: Operation::ImageRemove,
            id: reference.to_string(),
        }));
    };
    let image = OwnedImage::check(ownership, listed, reference)?;
    match engine.remove_image(&image).await {
        Ok(()) | Err(EngineError::ImageNotFound { .. }) => Ok(()),
        Err(EngineError::Conflict { message, .. }) => {
            tracing::warn!(image = reference, "kept: {message}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
