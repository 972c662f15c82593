//! Observed state: what Podman runs for this workspace, read in as few calls as possible
//! (one container list, one volume list, one owned-image list, one inspect per distinct
//! image reference); and what images are made from on disk ([`ImageInputs`]: build
//! contexts, the embedded base's busybox), read off the async threads. All of the
//! reconciler's reads happen here, so that `desired` and `plan` stay pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use pocket_dock_spec::Kind;

pub mod inputs;

pub use inputs::ImageInputs;

use super::desired::DesiredSandbox;
use super::desired::{Desired, ImageSource};
use super::restarts::{Exit, RestartRecord};
use crate::engine::labels::ObjectLabels;
use crate::engine::{
    ContainerState, Engine, EngineError, ImageSummary, NetworkSummary, OwnedContainer, Ownership,
    VolumeSummary,
};
use crate::status::types::HookFailure;

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
    /// The bind sources it was created with (`None`: made before they were recorded).
    pub bind_sources: Option<Vec<std::path::PathBuf>>,
    /// How its main process last ended (for crash-loop backoff).
    pub exit: Exit,
    /// The networks it is attached to (`None`: the engine's listing did not say).
    pub networks: Option<Vec<String>>,
    /// The ports Podman says it publishes (what status files and `get -o wide` show).
    pub ports: Vec<crate::engine::PublishedPort>,
    pub handle: OwnedContainer,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Owned `Sandbox` containers by object name (more than one only after an accident).
    pub sandboxes: BTreeMap<String, Vec<ObservedContainer>>,
    pub volumes: BTreeMap<String, VolumeSummary>,
    /// Image reference to image id (`None`: not present).
    pub images: BTreeMap<String, Option<String>>,
    /// Labels of the present images among `images` (snapshot metadata lives there).
    pub image_labels: BTreeMap<String, HashMap<String, String>>,
    /// Every name of the present images among `images` (which workspaces use them).
    pub image_names: BTreeMap<String, Vec<String>>,
    /// Ids of the images this apply's forced rebuild took this workspace's names from
    /// (`plan::displaced_by_rebuild`): removed once nameless and unused.
    pub displaced_images: BTreeSet<String>,
    /// Images carrying this workspace's ownership labels (candidates for pruning).
    pub owned_images: Vec<ImageSummary>,
    /// What the state store remembers of each sandbox's restarts.
    pub restarts: BTreeMap<String, RestartRecord>,
    /// Owned networks by object name.
    pub networks: BTreeMap<String, NetworkSummary>,
    /// The readiness probe's result, for running sandboxes that a `Ready` condition waits
    /// for (probed once per observation).
    pub probes: BTreeMap<String, bool>,
    /// A probe not run counts as passed: for a dry run, which runs none (an exec is a
    /// write) and shows what apply would do once its dependencies are ready.
    pub assume_probes_pass: bool,
    /// The end of a finished one-shot's output, by sandbox.
    pub task_output: BTreeMap<String, String>,
    /// The last failed hook of each sandbox's container (from the state store).
    pub hook_failures: BTreeMap<String, HookFailure>,
    /// When this was observed, seconds since the Unix epoch.
    pub now: i64,
    /// The same, in milliseconds (for `lifetime` limits).
    pub now_ms: i64,
    /// What the state store keeps of each sandbox's lifetime (for its current declaration:
    /// `apply` starts a new record when the declaration changed).
    pub lifetimes: BTreeMap<String, crate::status::types::LifetimeRecord>,
    /// Exec and session activity per sandbox (from the state store).
    pub activity: BTreeMap<String, crate::status::types::Activity>,
    /// Sandboxes an imperative `pocket-dock pause` holds paused (from the state store):
    /// honored by the plan until `pocket-dock resume`.
    pub pauses: BTreeMap<String, crate::status::types::PauseRecord>,
    /// Every container of kind `Pool` (idle members and claimed sandboxes), by pool name.
    pub pools: BTreeMap<String, Vec<crate::reconcile::pool::ObservedMember>>,
    /// How many `run` containers carry a lease (made by a `run` without `--keep`): only
    /// then can there be a leftover of a killed `run` to sweep.
    pub leased_runs: usize,
}

impl Observed {
    /// Records what looking `reference` up found (`None`: not present).
    fn record_image(&mut self, reference: String, found: Option<crate::engine::ImageDetails>) {
        if let Some(image) = &found {
            self.image_labels
                .insert(reference.clone(), image.labels.clone());
            self.image_names
                .insert(reference.clone(), image.repo_tags.clone());
        }
        self.images.insert(reference, found.map(|i| i.id));
    }

    /// The id of the image `reference` names, when present.
    pub fn image_id(&self, reference: &str) -> Option<&str> {
        self.images.get(reference)?.as_deref()
    }
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
        .chain(desired.pools.values().filter_map(|p| p.member.as_ref()))
        .filter_map(|s| match &s.image {
            ImageSource::Reference(r) if !r.is_empty() => Some(r.clone()),
            _ => None,
        })
        .collect();
    refs.extend(
        desired
            .images
            .values()
            .filter(|i| i.problem.is_none() && !i.tag.is_empty())
            .map(|i| i.tag.clone()),
    );
    refs.extend(desired.snapshots.values().map(|s| s.tag.clone()));
    refs
}

/// Each made image's name in this workspace paired with its portable name, where the two
/// differ (builds and snapshots): the portable name is looked up only when the workspace's
/// name is absent or is not on the same image, so a converged workspace costs no more
/// inspects than before portable names.
pub fn portable_names(desired: &Desired) -> Vec<(&str, &str)> {
    desired
        .images
        .values()
        .filter(|i| i.problem.is_none() && !i.tag.is_empty())
        .map(|i| (i.tag.as_str(), i.shared.as_str()))
        .chain(
            desired
                .snapshots
                .values()
                .map(|s| (s.tag.as_str(), s.shared.as_str())),
        )
        .filter(|(tag, shared)| !shared.is_empty() && tag != shared)
        .collect()
}

/// The order in which a reference is looked up locally: by its digest when it pins one
/// (`name@sha256:…`, tag dropped), then as written. Only when none is found does the pull
/// policy decide.
pub fn local_candidates(reference: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((name, digest)) = reference.split_once('@') {
        let (repository, _) = crate::images::split_tag(name);
        out.push(format!("{repository}@{digest}"));
    }
    if !out.contains(&reference.to_string()) {
        out.push(reference.to_string());
    }
    out
}

async fn find_local(
    engine: &Engine,
    reference: &str,
) -> Result<Option<crate::engine::ImageDetails>, EngineError> {
    for candidate in local_candidates(reference) {
        if let Some(found) = engine.find_image(&candidate).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

pub async fn observe(
    engine: &Engine,
    ownership: &Ownership,
    desired: &Desired,
) -> Result<Observed, EngineError> {
    let refs = references(desired);
    let (containers, volumes, owned_images, images, networks) = tokio::join!(
        engine.list_owned(ownership),
        engine.list_owned_volumes(ownership),
        engine.list_owned_images(ownership),
        futures_util::future::join_all(refs.iter().map(|r| find_local(engine, r))),
        engine.list_owned_networks(ownership),
    );
    let mut observed = Observed {
        now: crate::timefmt::unix_now(),
        now_ms: crate::timefmt::unix_now_ms(),
        ..Observed::default()
    };
    let containers = containers?;
    observed.pools = crate::reconcile::pool::members_by_pool(ownership, &containers);
    observed.leased_runs = containers
        .iter()
        .filter(|(summary, _)| {
            summary
                .labels
                .contains_key(crate::engine::labels::LEASE_PID)
                && ObjectLabels::parse(&summary.labels).is_some_and(|l| l.kind == Kind::Run)
        })
        .count();
    for (summary, handle) in containers {
        let Some(labels) = ObjectLabels::parse(&summary.labels).filter(|l| l.kind == Kind::Sandbox)
        else {
            continue;
        };
        observed
            .sandboxes
            .entry(labels.name)
            .or_default()
            .push(ObservedContainer {
                id: summary.id,
                container_name: summary.name,
                state: summary.state,
                spec_hash: labels.spec_hash,
                spec: labels.spec,
                image_id: summary.image_id,
                created: summary.created,
                bind_sources: labels.bind_sources,
                exit: Exit {
                    code: summary.exit_code,
                    oom_killed: summary.oom_killed,
                    started_at: summary.started_at,
                    finished_at: summary.finished_at,
                },
                networks: summary.networks.clone(),
                ports: summary.ports,
                handle,
            });
    }
    for volume in volumes? {
        if let Some(labels) = ObjectLabels::parse(&volume.labels) {
            observed.volumes.insert(labels.name, volume);
        }
    }
    for (reference, found) in refs.into_iter().zip(images) {
        observed.record_image(reference, found?);
    }
    // Portable names: those on the image the workspace's name is on are known already.
    let mut unseen = Vec::new();
    for (tag, shared) in portable_names(desired) {
        let on_same = observed
            .image_names
            .get(tag)
            .is_some_and(|names| names.iter().any(|n| n == shared));
        if on_same {
            let id = observed.images.get(tag).cloned().flatten();
            let labels = observed.image_labels.get(tag).cloned().unwrap_or_default();
            let names = observed.image_names.get(tag).cloned().unwrap_or_default();
            observed.images.insert(shared.to_string(), id);
            observed.image_labels.insert(shared.to_string(), labels);
            observed.image_names.insert(shared.to_string(), names);
        } else if !observed.images.contains_key(shared) {
            unseen.push(shared.to_string());
        }
    }
    let found = futures_util::future::join_all(unseen.iter().map(|r| find_local(engine, r))).await;
    for (reference, found) in unseen.into_iter().zip(found) {
        observed.record_image(reference, found?);
    }
    observed.owned_images = owned_images?;
    for network in networks? {
        if let Some(labels) = ObjectLabels::parse(&network.labels) {
            observed.networks.insert(labels.name, network);
        }
    }
    observed.task_output = finished_task_output(engine, desired, &observed).await;
    Ok(observed)
}

/// The container of `s` that matches its declaration now (name and spec hash), if any.
pub fn current<'a>(s: &DesiredSandbox, observed: &'a Observed) -> Option<&'a ObservedContainer> {
    observed
        .sandboxes
        .get(&s.name)?
        .iter()
        .find(|c| c.container_name == s.container_name)
}

/// How a one-shot sandbox's run ended, when it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    Succeeded,
    Failed(Option<i64>),
}

/// The outcome of a one-shot's current container, once it has run to its end.
pub fn task_outcome(s: &DesiredSandbox, c: &ObservedContainer) -> Option<TaskOutcome> {
    if !s.once || !matches!(c.state, ContainerState::Exited | ContainerState::Dead) {
        return None;
    }
    Some(match c.exit.code {
        Some(0) => TaskOutcome::Succeeded,
        code => TaskOutcome::Failed(code),
    })
}

/// How many lines of a finished one-shot's output its status keeps.
pub const TASK_OUTPUT_LINES: u64 = 20;
/// And at most this many bytes of them (the last ones).
const TASK_OUTPUT_BYTES: usize = 4096;

/// The last lines a finished one-shot printed (stdout and stderr, as they came).
async fn finished_task_output(
    engine: &Engine,
    desired: &Desired,
    observed: &Observed,
) -> BTreeMap<String, String> {
    let tails = desired.sandboxes.values().filter_map(|s| {
        let c = current(s, observed)?;
        task_outcome(s, c)?;
        Some(async move { (s.name.clone(), output_tail(engine, &c.handle).await) })
    });
    futures_util::future::join_all(tails)
        .await
        .into_iter()
        .filter_map(|(name, tail)| Some((name, tail?)))
        .collect()
}

/// A container's last [`TASK_OUTPUT_LINES`] lines, without their timestamps; `None` when
/// they cannot be read (the status then just lacks them).
pub(crate) async fn output_tail(engine: &Engine, c: &OwnedContainer) -> Option<String> {
    use futures_util::StreamExt;
    let request = crate::engine::LogsRequest {
        follow: false,
        since: None,
        tail: Some(TASK_OUTPUT_LINES),
    };
    let mut bytes = Vec::new();
    let mut stream = std::pin::pin!(engine.logs(c, &request));
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.ok()?.data);
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest))
        .collect();
    Some(last_bytes(&lines.join("\n"), TASK_OUTPUT_BYTES))
}

/// The end of `text`, at most `max` bytes, cut at a character boundary.
pub(crate) fn last_bytes(text: &str, max: usize) -> String {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::local_candidates;

    #[test]
    fn a_pinned_reference_is_looked_up_by_digest_first() {
        assert_eq!(
            local_candidates("quay.io/a/b:1.2@sha256:abc"),
            ["quay.io/a/b@sha256:abc", "quay.io/a/b:1.2@sha256:abc"]
        );
        assert_eq!(
            local_candidates("localhost:5000/x@sha256:abc"),
            ["localhost:5000/x@sha256:abc"]
        );
        assert_eq!(local_candidates("busybox:1"), ["busybox:1"]);
    }
}
