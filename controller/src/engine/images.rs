//! Images: inspect, existence, pull-if-missing.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{CreateImageOptions, ListImagesOptions};
use futures_util::StreamExt;

use super::{Engine, EngineError, Operation, Target};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageDetails {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub size: Option<i64>,
    pub labels: HashMap<String, String>,
}

/// Whether `pull_if_missing` had to pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullOutcome {
    Present(ImageDetails),
    Pulled(ImageDetails),
}

impl PullOutcome {
    pub fn image(&self) -> &ImageDetails {
        match self {
            PullOutcome::Present(i) | PullOutcome::Pulled(i) => i,
        }
    }
}

/// Splits a reference into the `fromImage` and `tag` the pull API wants. A reference with
/// neither tag nor digest means `latest` (the API would otherwise pull every tag).
pub(crate) fn split_reference(reference: &str) -> (String, String) {
    if let Some((repo, digest)) = reference.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => {
            let colon = last_slash + i;
            (
                reference[..colon].to_string(),
                reference[colon + 1..].to_string(),
            )
        }
        None => (reference.to_string(), "latest".to_string()),
    }
}

/// One row of an image listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageSummary {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub labels: HashMap<String, String>,
    pub size: i64,
    /// Seconds since the Unix epoch.
    pub created: i64,
}

/// One name of an image this workspace may remove: made only by [`OwnedImage::check`] (a
/// listed image) and [`Engine::inspect_owned_image`], after the image's labels and names were
/// checked ([`may_remove`]). Removing it removes that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedImage {
    reference: String,
}

/// Whether an image is `ownership`'s: pocket-dock made it (`managed-by`) and it carries one of
/// the workspace's names (`localhost/pocket-dock/<workspace id>/…`), or no name at all (a
/// build a rebuild left behind: nobody can name it any more, so whoever finds it unused may
/// remove it). See `images::names`.
pub fn owns_image(
    ownership: &super::Ownership,
    labels: &HashMap<String, String>,
    names: &[String],
) -> bool {
    managed(labels)
        && (nameless(names)
            || super::image_names::claimants(names).contains(ownership.workspace.as_str()))
}

/// Whether an image has no name left (Podman lists such an image as `<none>:<none>`).
pub fn nameless(names: &[String]) -> bool {
    names.iter().all(|n| n == "<none>:<none>")
}

fn managed(labels: &HashMap<String, String>) -> bool {
    labels.get(super::labels::MANAGED_BY).map(String::as_str)
        == Some(super::labels::MANAGED_BY_VALUE)
}

/// Whether `ownership` may remove the name `reference` of an image with these labels and
/// names: one of its own names, or a portable name once no other workspace has a name on
/// the image. Never a name of another workspace, the embedded base's, or one a user gave.
pub fn may_remove(
    ownership: &super::Ownership,
    image_id: &str,
    labels: &HashMap<String, String>,
    names: &[String],
    reference: &str,
) -> bool {
    use super::image_names::Claim;
    let mine = ownership.workspace.as_str();
    fn id(r: &str) -> &str {
        r.trim_start_matches("sha256:")
    }
    if nameless(names) {
        // Only by its id (see `owns_image`).
        return managed(labels) && !reference.is_empty() && id(image_id) == id(reference);
    }
    managed(labels)
        && names.iter().any(|n| n == reference)
        && match super::image_names::claim(reference) {
            Claim::Workspace(id) => id == mine,
            Claim::Portable => super::image_names::claimants(names)
                .into_iter()
                .all(|c| c == mine),
            Claim::Other => false,
        }
}

impl OwnedImage {
    /// The handle of `reference`, one of a listed image's names, when `ownership` may
    /// remove it ([`may_remove`]); `NotOwned` otherwise.
    pub fn check(
        ownership: &super::Ownership,
        image: &ImageSummary,
        reference: &str,
    ) -> Result<Self, EngineError> {
        Self::checked(
            ownership,
            &image.id,
            &image.labels,
            &image.repo_tags,
            reference,
        )
    }

    fn checked(
        ownership: &super::Ownership,
        image_id: &str,
        labels: &HashMap<String, String>,
        names: &[String],
        reference: &str,
    ) -> Result<Self, EngineError> {
        if !may_remove(ownership, image_id, labels, names, reference) {
            return Err(EngineError::NotOwned {
                op: Operation::ImageRemove,
                id: reference.to_string(),
            });
        }
        Ok(OwnedImage {
            reference: reference.to_string(),
        })
    }

    pub fn reference(&self) -> &str {
        &self.reference
    }
}

impl Engine {
    /// The image `reference` names, as a handle, when `ownership` owns it (inspected now,
    /// so a name moved to another image meanwhile is refused); `NotOwned` otherwise.
    pub async fn inspect_owned_image(
        &self,
        ownership: &super::Ownership,
        reference: &str,
    ) -> Result<OwnedImage, EngineError> {
        let image = self.inspect_image(reference).await?;
        // Inspected by this very name, which it therefore has (Docker lists only tags), or
        // by its id.
        let mut names = image.repo_tags.clone();
        let by_id =
            image.id.trim_start_matches("sha256:") == reference.trim_start_matches("sha256:");
        if !by_id && !names.iter().any(|n| n == reference) {
            names.push(reference.to_string());
        }
        OwnedImage::checked(ownership, &image.id, &image.labels, &names, reference)
    }

    /// Lists images matching every `key=value` label filter (all images when empty).
    pub async fn list_images(
        &self,
        label_filter: &[String],
    ) -> Result<Vec<ImageSummary>, EngineError> {
        let options = ListImagesOptions {
            filters: (!label_filter.is_empty())
                .then(|| HashMap::from([("label".to_string(), label_filter.to_vec())])),
            ..Default::default()
        };
        let raw = super::list_again(
            || {
                self.call(
                    Operation::ImageList,
                    Target::None,
                    self.docker.list_images(Some(options.clone())),
                )
            },
            |e| matches!(e, EngineError::Runtime { message, .. } if message.contains("image not known")),
        )
        .await?;
        Ok(raw
            .into_iter()
            .map(|i| ImageSummary {
                id: i.id,
                repo_tags: i.repo_tags,
                labels: i.labels,
                size: i.size,
                created: i.created,
            })
            .collect())
    }

    /// Images pocket-dock made that carry one of `ownership`'s names ([`owns_image`]).
    pub async fn list_owned_images(
        &self,
        ownership: &super::Ownership,
    ) -> Result<Vec<ImageSummary>, EngineError> {
        let filter = format!(
            "{}={}",
            super::labels::MANAGED_BY,
            super::labels::MANAGED_BY_VALUE
        );
        let mut images = self.list_images(&[filter]).await?;
        images.retain(|i| owns_image(ownership, &i.labels, &i.repo_tags));
        Ok(images)
    }

    pub async fn inspect_image(&self, reference: &str) -> Result<ImageDetails, EngineError> {
        let raw = self
            .call(
                Operation::ImageInspect,
                Target::Image(reference),
                self.docker.inspect_image(reference),
            )
            .await?;
        Ok(ImageDetails {
            id: raw.id.unwrap_or_default(),
            repo_tags: raw.repo_tags.unwrap_or_default(),
            repo_digests: raw.repo_digests.unwrap_or_default(),
            size: raw.size,
            labels: raw.config.and_then(|c| c.labels).unwrap_or_default(),
        })
    }

    /// `Ok(None)` when there is no such image.
    pub async fn find_image(&self, reference: &str) -> Result<Option<ImageDetails>, EngineError> {
        match self.inspect_image(reference).await {
            Ok(image) => Ok(Some(image)),
            Err(EngineError::ImageNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pulls `reference` unless it is already present. `timeout` bounds the whole pull.
    pub async fn pull_if_missing(
        &self,
        reference: &str,
        timeout: Duration,
    ) -> Result<PullOutcome, EngineError> {
        self.pull_if_missing_with(reference, timeout, None).await
    }

    /// Pulls `reference` without credentials, logging progress at info level.
    pub async fn pull(&self, reference: &str, timeout: Duration) -> Result<(), EngineError> {
        self.pull_with(reference, timeout, None).await
    }

    /// Pulls through the compat `/images/create`, with `auth` as `X-Registry-Auth`.
    pub(crate) async fn pull_compat(
        &self,
        reference: &str,
        timeout: Duration,
        auth: Option<&super::credentials::RegistryAuth>,
        on_progress: super::progress::OnProgress<'_>,
    ) -> Result<(), EngineError> {
        let (from_image, tag) = split_reference(reference);
        let options = CreateImageOptions {
            from_image: Some(from_image),
            tag: Some(tag),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let docker = self.docker_with_extra_time(timeout);
        let pull = async {
            let credentials = auth.map(super::credentials::RegistryAuth::docker_credentials);
            let mut progress = docker.create_image(Some(options), None, credentials);
            let mut tally = super::progress::PullTally::default();
            let mut throttle = super::progress::Throttle::new(super::progress::PROGRESS_EVERY);
            while let Some(item) = progress.next().await {
                match item {
                    Ok(info) => {
                        if let Some(status) = info.status {
                            tracing::info!(target: "pocket_dock::engine", image = reference, "{status}");
                            let detail = info.progress_detail.unwrap_or_default();
                            let counts_changed = tally.take(
                                info.id.as_deref(),
                                &status,
                                detail.current,
                                detail.total,
                            );
                            if !super::progress::PullTally::is_layer_line(
                                info.id.as_deref(),
                                &status,
                            ) {
                                // `Pulling from …`, `Digest: …`, `Status: …`: what the pull
                                // is at, when it has no layers to count (a small or
                                // already stored image) as much as when it has.
                                on_progress(super::progress::Progress::Status {
                                    text: status.trim().to_string(),
                                });
                            } else if !tally.is_empty()
                                && throttle.due(std::time::Instant::now(), counts_changed)
                            {
                                on_progress(tally.progress());
                            }
                        }
                    }
                    // Podman 4 and Docker report a failed pull inside a 200 stream; Podman 5
                    // answers it with an error status instead (500 for an unreachable
                    // registry, 404 for an unknown image). Both are the same failure.
                    Err(
                        bollard::errors::Error::DockerStreamError { error: message }
                        | bollard::errors::Error::DockerResponseServerError { message, .. },
                    ) => {
                        return Err(super::credentials::pull_failure(reference, message));
                    }
                    Err(other) => {
                        return Err(self.map_error(
                            Operation::ImagePull,
                            Target::Image(reference),
                            other,
                        ));
                    }
                }
            }
            Ok(())
        };
        let result = match tokio::time::timeout(timeout, pull).await {
            Ok(result) => result,
            Err(_) => Err(EngineError::Timeout {
                op: Operation::ImagePull,
                id: Some(reference.to_string()),
                after: timeout,
            }),
        };
        self.record(
            Operation::ImagePull,
            Target::Image(reference),
            started,
            result.is_ok(),
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_into_repository_and_tag() {
        let s = |r: &str| {
            let (a, b) = split_reference(r);
            (a, b)
        };
        assert_eq!(s("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(s("quay.io/a/b:1.2"), ("quay.io/a/b".into(), "1.2".into()));
        assert_eq!(
            s("localhost:5000/x"),
            ("localhost:5000/x".into(), "latest".into())
        );
        assert_eq!(
            s("localhost:5000/x:2"),
            ("localhost:5000/x".into(), "2".into())
        );
        assert_eq!(
            s("quay.io/a@sha256:abc"),
            ("quay.io/a".into(), "sha256:abc".into())
        );
    }
}

#[cfg(test)]
mod owned_tests {
    use super::*;
    use crate::engine::{Ownership, WorkspaceId};
    use pocket_dock_spec::Kind;

    #[test]
    fn only_an_owned_image_name_gets_a_handle() {
        let own = Ownership::new(WorkspaceId::new("abc"));
        let image = |labels, names: &[&str]| ImageSummary {
            id: "sha256:1".into(),
            repo_tags: names.iter().map(|n| n.to_string()).collect(),
            labels,
            size: 0,
            created: 0,
        };
        let made = crate::engine::labels::ImageLabels::new(Kind::Image, "x").to_labels();
        let mine = "localhost/pocket-dock/abc/x:1";
        let theirs = "localhost/pocket-dock/def/x:1";
        let portable = "localhost/pocket-dock/images/x:1";
        let ours = image(made.clone(), &[mine, portable]);
        let handle = OwnedImage::check(&own, &ours, mine).unwrap();
        assert_eq!(handle.reference(), mine);
        // The portable name too, while no other workspace has a name on the image.
        assert!(OwnedImage::check(&own, &ours, portable).is_ok());
        // A name the image does not have is not a handle on it.
        assert!(OwnedImage::check(&own, &ours, "docker.io/library/x:1").is_err());
        // Shared with another workspace: our name goes, theirs and the portable one stay.
        let shared = image(made.clone(), &[mine, theirs, portable]);
        assert!(OwnedImage::check(&own, &shared, mine).is_ok());
        for keep in [theirs, portable] {
            assert!(matches!(
                OwnedImage::check(&own, &shared, keep),
                Err(EngineError::NotOwned { .. })
            ));
        }
        // Not made by pocket-dock, or another workspace's only: never.
        let foreign = image(HashMap::new(), &[mine]);
        let only_theirs = image(made.clone(), &[theirs, portable]);
        assert!(OwnedImage::check(&own, &foreign, mine).is_err());
        assert!(OwnedImage::check(&own, &only_theirs, theirs).is_err());
        assert!(OwnedImage::check(&own, &only_theirs, portable).is_err());
        assert!(owns_image(&own, &made, &ours.repo_tags));
        assert!(!owns_image(&own, &made, &only_theirs.repo_tags));
        // An image a rebuild left without a name: by its id only.
        let left = image(made.clone(), &[]);
        assert!(owns_image(&own, &made, &left.repo_tags));
        assert!(OwnedImage::check(&own, &left, "sha256:1").is_ok());
        assert!(OwnedImage::check(&own, &left, "sha256:2").is_err());
        assert!(OwnedImage::check(&own, &image(HashMap::new(), &[]), "sha256:1").is_err());
        // Images of earlier versions (workspace labels in the config) are owned by name too.
        let legacy = image(own.labels_for(Kind::Image, "x"), &[mine]);
        assert!(OwnedImage::check(&own, &legacy, mine).is_ok());
    }
}
