//! Executing a plan: idempotent actions, in dependency levels (removals, volumes and pulls
//! first; then sandboxes by `dependsOn` depth; volume removals last), independent objects in
//! parallel with bounded concurrency. A failure blocks only the objects that depend on the
//! failed one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

mod pool;

pub use super::action_error::ActionError;
use super::desired::{BindSource, Desired, DesiredSandbox, Key};
use super::make_images;
use super::observe::Observed;
use super::plan::{Action, Op, Plan, image_reference};
use crate::engine::{Engine, EngineError, Operation, OwnedContainer, Ownership, SeccompConfig};
pub use pool::RefillReport;
pub(crate) use pool::{CLAIM_LOCK, LOCK_WAIT, list_members, lock, make_member, refill, the_pool};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteOptions {
    pub concurrency: usize,
    /// Before a sandbox starts, wait for the sandboxes it depends on to be ready (their
    /// readiness probes pass), until the deadline.
    pub wait_ready: bool,
    /// When everything must be done by.
    pub deadline: Option<Instant>,
    /// When dependencies must be ready by (with `wait_ready`).
    pub ready_deadline: Option<Instant>,
    pub stop_grace: Duration,
    /// What a pull may take when its `Image` declares no `from.timeout`.
    pub pull_timeout: Duration,
    /// What a build may take when its `Image` declares no `build.timeout`.
    pub build_timeout: Duration,
    /// Builds ignore the engine's layer cache (`apply --no-cache`).
    pub no_cache: bool,
}

/// What a build or a pull may take unless told otherwise.
pub const DEFAULT_IMAGE_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            concurrency: 8,
            wait_ready: false,
            deadline: None,
            ready_deadline: None,
            stop_grace: Duration::from_secs(10),
            pull_timeout: DEFAULT_IMAGE_TIMEOUT,
            build_timeout: DEFAULT_IMAGE_TIMEOUT,
            no_cache: false,
        }
    }
}

/// How one action ended.
#[derive(Debug)]
pub struct ActionOutcome {
    pub action: Action,
    pub result: Result<(), ActionError>,
    pub elapsed: Duration,
}

/// Told about every action as it starts and ends (the CLI prints, the store journals).
/// Every method does nothing unless overridden; [`NoObserver`] overrides none.
pub trait Observer: Send + Sync {
    fn started(&self, _action: &Action) {}
    fn finished(&self, _outcome: &ActionOutcome) {}
    /// A slow action (a build, a pull, the embedded base's load) tells what it is doing,
    /// as the engine streams it: a build's steps as they start, a pull's layers and bytes
    /// or status lines, a load's bytes sent (counts a few times a second at most). Called
    /// between the action's `started` and `finished`, from its task: return quickly.
    fn progress(&self, _key: &Key, _progress: &crate::engine::Progress) {}
    /// Another writer holds the workspace; this apply waits for it (told once).
    fn waiting_for_writer(&self, _holder: &crate::writer_lock::Holder) {}
    /// An object waits for a dependency's condition (told once per object and reason;
    /// `apply` keeps looking until its deadline).
    fn waiting(&self, _blocked: &super::plan::Blocked) {}
    /// A sandbox's hooks ran (after a create or start): each run, and the failure that
    /// stopped them, if one did (`None` with runs: they all passed).
    fn hooks_ran(
        &self,
        _key: &Key,
        _runs: &[super::hooks::HookRun],
        _failure: Option<&super::hooks::HookFailure>,
    ) {
    }
}

/// The default observer: sees everything, says nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

struct Ctx {
    engine: Engine,
    ownership: Ownership,
    desired: Desired,
    observed: Observed,
    options: ExecuteOptions,
    /// Sandboxes whose readiness probe passed during this execution.
    ready: tokio::sync::Mutex<BTreeSet<String>>,
    observer: Arc<dyn Observer>,
    /// One egress proxy sync at a time (sandboxes are created concurrently).
    egress_sync: tokio::sync::Mutex<()>,
}

/// Runs `plan`; returns one outcome per action (skipped ones included).
pub async fn execute(
    engine: &Engine,
    ownership: &Ownership,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
    options: ExecuteOptions,
    observer: Arc<dyn Observer>,
) -> Vec<ActionOutcome> {
    let ctx = Arc::new(Ctx {
        engine: engine.clone(),
        ownership: ownership.clone(),
        desired: desired.clone(),
        observed: observed.clone(),
        options,
        ready: tokio::sync::Mutex::new(BTreeSet::new()),
        observer: observer.clone(),
        egress_sync: tokio::sync::Mutex::new(()),
    });
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut failed: BTreeSet<Key> = BTreeSet::new();
    let mut outcomes = Vec::new();
    for level in levels(plan, desired) {
        let mut tasks = tokio::task::JoinSet::new();
        for action in level {
            if let Some(dependency) = failed_dependency(&action, desired, &failed) {
                let outcome = ActionOutcome {
                    action,
                    result: Err(ActionError::DependencyFailed {
                        dependency: dependency.to_string(),
                    }),
                    elapsed: Duration::ZERO,
                };
                observer.finished(&outcome);
                failed.insert(outcome.action.key.clone());
                outcomes.push(outcome);
                continue;
            }
            let ctx = ctx.clone();
            let semaphore = semaphore.clone();
            let observer = observer.clone();
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                observer.started(&action);
                let started = Instant::now();
                let result = match ctx.options.deadline {
                    Some(deadline) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        tokio::time::timeout(left, run_action(&ctx, &action))
                            .await
                            .unwrap_or(Err(ActionError::TimedOut))
                    }
                    None => run_action(&ctx, &action).await,
                };
                let outcome = ActionOutcome {
                    action,
                    result,
                    elapsed: started.elapsed(),
                };
                observer.finished(&outcome);
                outcome
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(outcome) => {
                    if outcome.result.is_err() {
                        failed.insert(outcome.action.key.clone());
                    }
                    outcomes.push(outcome);
                }
                Err(e) => tracing::error!(error = %e, "an action task failed to complete"),
            }
        }
    }
    outcomes
}

/// Groups actions into levels that can run in parallel: removals, volumes and pulls first;
/// then every object after what it depends on (an image after the one it builds on, a
/// sandbox after its image, volumes and `dependsOn`, a snapshot after its sandbox); image
/// removals one at a time in plan order (newest first); volume removals last.
fn levels(plan: &Plan, desired: &Desired) -> Vec<Vec<Action>> {
    let mut depths: BTreeMap<Key, usize> = BTreeMap::new();
    let mut by_level: BTreeMap<usize, Vec<Action>> = BTreeMap::new();
    let removals_from = usize::MAX / 2;
    let mut image_removals = 0;
    for action in &plan.actions {
        let level = match &action.op {
            Op::Remove { .. }
            | Op::CreateVolume
            | Op::CreateNetwork
            | Op::RecreateNetwork
            | Op::Pull { .. } => 0,
            Op::RemoveVolume => usize::MAX,
            Op::RemoveNetwork => usize::MAX - 1,
            Op::RemoveImage { .. } => {
                image_removals += 1;
                removals_from + image_removals
            }
            _ => 1 + depth(&action.key, desired, &mut depths),
        };
        by_level.entry(level).or_default().push(action.clone());
    }
    by_level.into_values().collect()
}

/// How many dependency steps lie under `key` (a dependency in a cycle, which validation
/// reports, counts as a leaf). Iterative: the depth of a chain comes from user input.
fn depth(key: &Key, desired: &Desired, memo: &mut BTreeMap<Key, usize>) -> usize {
    let mut visiting: BTreeSet<Key> = BTreeSet::new();
    let mut stack: Vec<(Key, bool)> = vec![(key.clone(), false)];
    while let Some((k, expanded)) = stack.pop() {
        if memo.contains_key(&k) {
            continue;
        }
        if expanded {
            let d = desired
                .dependencies(&k)
                .iter()
                .map(|dep| memo.get(dep).map_or(1, |d| d + 1))
                .max()
                .unwrap_or(0);
            visiting.remove(&k);
            memo.insert(k, d);
        } else if visiting.insert(k.clone()) {
            let deps = desired.dependencies(&k);
            stack.push((k, true));
            for dep in deps {
                if !memo.contains_key(&dep) && !visiting.contains(&dep) {
                    stack.push((dep, false));
                }
            }
        }
    }
    memo.get(key).copied().unwrap_or(0)
}

/// The first failed object this action depends on, if any.
fn failed_dependency<'a>(
    action: &Action,
    desired: &Desired,
    failed: &'a BTreeSet<Key>,
) -> Option<&'a Key> {
    if matches!(
        action.op,
        Op::Remove { .. }
            | Op::Pull { .. }
            | Op::RemoveImage { .. }
            | Op::RemoveVolume
            | Op::RemoveNetwork
    ) {
        return None;
    }
    let deps = desired.dependencies(&action.key);
    failed
        .iter()
        .find(|k| **k == action.key || deps.contains(k))
}

/// The credentials for pulling `Image/name` from `reference`, read now from its pull
/// secret (none when it names none, or when its auth file has no entry for the registry).
fn pull_auth(
    ctx: &Ctx,
    key: &Key,
    reference: &str,
) -> Result<Option<crate::registry_auth::RegistryAuth>, ActionError> {
    // An Image's own (or the Workspace's, resolved into it); a sandbox's plain `image`
    // reference: the Workspace's.
    let secret = if key.kind == pocket_dock_spec::Kind::Image {
        ctx.desired
            .images
            .get(&key.name)
            .and_then(|i| i.pull_secret.as_ref())
    } else {
        ctx.desired.pull_secret.as_ref()
    };
    let Some((owner, secret)) = secret else {
        return Ok(None);
    };
    let root = ctx.ownership.root().map_or_else(
        || std::path::PathBuf::from("."),
        std::path::Path::to_path_buf,
    );
    Ok(crate::registry_auth::load(&root, owner, secret, reference)?)
}

async fn run_action(ctx: &Ctx, action: &Action) -> Result<(), ActionError> {
    let engine = &ctx.engine;
    let name = &action.key.name;
    let on_progress = |p: crate::engine::Progress| ctx.observer.progress(&action.key, &p);
    match &action.op {
        Op::AddMembers { .. } | Op::RemoveMember { .. } => {
            let Some(root) = ctx.ownership.root() else {
                return Err(ActionError::Internal(
                    "a pool needs its workspace folder (for its locks)".to_string(),
                ));
            };
            let dir = root.join(crate::workspace::DIR_NAME);
            let result = match &action.op {
                Op::RemoveMember { container } => {
                    pool::retire(engine, &ctx.ownership, &dir, container).await
                }
                _ => pool::refill(engine, &ctx.ownership, &dir, &ctx.desired, name, true)
                    .await
                    .map(drop),
            };
            result.map_err(ActionError::pool)
        }
        Op::Pull { reference } => {
            let auth = pull_auth(ctx, &action.key, reference)?;
            // An `Image` object's own `from.timeout` wins over the apply's default.
            let declared = (action.key.kind == pocket_dock_spec::Kind::Image)
                .then(|| ctx.desired.image_timeouts.get(name))
                .flatten();
            let timeout = declared.copied().unwrap_or(ctx.options.pull_timeout);
            match engine
                .pull_with_progress(reference, timeout, auth.as_ref(), &on_progress)
                .await
            {
                Ok(()) => Ok(()),
                Err(e) if action.key.kind == pocket_dock_spec::Kind::Image => {
                    Err(ActionError::image_timeout(e, name, "pull"))
                }
                Err(e) => Err(e.into()),
            }
        }
        Op::CreateVolume => {
            let volume = ctx
                .desired
                .volumes
                .get(name)
                .map(|v| v.volume_name.clone())
                .unwrap_or_default();
            engine.create_volume(&ctx.ownership, name, &volume).await?;
            Ok(())
        }
        Op::RemoveVolume => {
            if let Some(volume) = ctx.observed.volumes.get(name) {
                let owned = crate::engine::OwnedVolume::check(&ctx.ownership, volume)?;
                engine.remove_volume(&owned).await?;
            }
            Ok(())
        }
        Op::CreateNetwork => {
            let n = network(ctx, name)?;
            create_network(ctx, n).await
        }
        Op::RecreateNetwork => replace_network(ctx, network(ctx, name)?).await,
        Op::RemoveNetwork => remove_network(ctx, name).await,
        Op::Connect { networks } => {
            let s = sandbox(ctx, name)?;
            let Some(c) = find_observed(ctx, name, &s.container_name) else {
                return Ok(());
            };
            let crate::engine::NetworkMode::Joined(endpoints) = &s.config.network else {
                return Ok(());
            };
            for endpoint in endpoints.iter().filter(|e| networks.contains(&e.network)) {
                engine.connect_network(&c, endpoint).await?;
            }
            Ok(())
        }
        Op::Remove { container } => {
            if let Some(c) = find_observed(ctx, name, container) {
                engine.remove_container(&c).await?;
            }
            Ok(())
        }
        Op::Stop => {
            let s = sandbox(ctx, name)?;
            if let Some(c) = find_observed(ctx, name, &s.container_name) {
                // A frozen process cannot handle SIGTERM: thawed first, so that it gets its
                // graceful stop.
                if observed_state(ctx, name, &s.container_name)
                    == Some(crate::engine::ContainerState::Paused)
                {
                    engine.unpause_container(&c).await?;
                }
                engine.stop_container(&c, ctx.options.stop_grace).await?;
            }
            Ok(())
        }
        Op::Pause => {
            let s = sandbox(ctx, name)?;
            if let Some(c) = find_observed(ctx, name, &s.container_name) {
                engine.pause_container(&c).await?;
            }
            Ok(())
        }
        Op::Unpause => {
            let s = sandbox(ctx, name)?;
            if let Some(c) = find_observed(ctx, name, &s.container_name) {
                engine.unpause_container(&c).await?;
            }
            Ok(())
        }
        Op::Start => {
            let s = sandbox(ctx, name)?;
            if let Some(c) = find_observed(ctx, name, &s.container_name) {
                dependencies_ready(ctx, s).await?;
                recheck_mounted(ctx, s, &c).await?;
                // A port taken on the host is not fixed by making the container again.
                match engine
                    .start_container(&c)
                    .await
                    .map_err(|e| start_error(s, e))
                {
                    Ok(()) => {}
                    // Never started (made by an apply that was killed before it started
                    // it): nothing in it is worth keeping, and Podman may hold half-made
                    // state for it (an address its network plugin still counts as taken),
                    // so it is made again rather than failing at every apply.
                    Err(ActionError::Engine(e))
                        if e.category() == crate::engine::Category::EngineFailure
                            && never_started(ctx, name, &s.container_name) =>
                    {
                        tracing::info!(sandbox = %name, error = %e, "a container that never ran would not start; making it again");
                        engine.remove_container(&c).await?;
                        // The new container ran its hooks as it started.
                        return create(ctx, s, true).await.map(drop);
                    }
                    Err(e) => return Err(e),
                }
                let first_start = never_started(ctx, name, &s.container_name);
                run_hooks(ctx, s, &c, first_start).await?;
                pause_if_held(ctx, s, &c).await?;
            }
            Ok(())
        }
        Op::Create { start } => {
            let s = sandbox(ctx, name)?;
            if *start {
                dependencies_ready(ctx, s).await?;
            }
            create(ctx, s, *start).await.map(drop)
        }
        Op::Build { tag } => {
            make_images::build(
                engine,
                &ctx.ownership,
                &ctx.desired,
                name,
                tag,
                make_images::BuildHow {
                    // `build.timeout` wins over the apply's default.
                    timeout: ctx
                        .desired
                        .image_timeouts
                        .get(name)
                        .copied()
                        .unwrap_or(ctx.options.build_timeout),
                    no_cache: ctx.options.no_cache,
                    on_progress: &on_progress,
                },
            )
            .await
        }
        Op::LoadEmbedded { tag } => make_images::load_embedded(engine, tag, &on_progress).await,
        Op::Tag { source, tag } => make_images::tag(engine, &action.key, source, tag).await,
        Op::Commit { tag } => {
            make_images::commit(engine, &ctx.ownership, &ctx.desired, name, tag).await
        }
        Op::RemoveImage { reference } => {
            make_images::remove(engine, &ctx.ownership, &ctx.observed, reference).await
        }
        Op::Recreate { start } => {
            let s = sandbox(ctx, name)?;
            if *start {
                dependencies_ready(ctx, s).await?;
            }
            if let Some(c) = find_observed(ctx, name, &s.container_name) {
                engine.remove_container(&c).await?;
            }
            create(ctx, s, *start).await.map(drop)
        }
    }
}

fn sandbox<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a DesiredSandbox, ActionError> {
    ctx.desired.sandboxes.get(name).ok_or_else(|| {
        ActionError::Engine(EngineError::InvalidInput {
            op: Operation::ContainerCreate,
            id: Some(name.to_string()),
            message: "the sandbox is not declared".into(),
        })
    })
}

fn never_started(ctx: &Ctx, name: &str, container_name: &str) -> bool {
    ctx.observed.sandboxes.get(name).is_some_and(|cs| {
        cs.iter().any(|c| {
            c.container_name == container_name && c.state == crate::engine::ContainerState::Created
        })
    })
}

fn observed_state(
    ctx: &Ctx,
    name: &str,
    container_name: &str,
) -> Option<crate::engine::ContainerState> {
    ctx.observed
        .sandboxes
        .get(name)?
        .iter()
        .find(|c| c.container_name == container_name)
        .map(|c| c.state.clone())
}

fn find_observed(ctx: &Ctx, name: &str, container_name: &str) -> Option<OwnedContainer> {
    ctx.observed
        .sandboxes
        .get(name)?
        .iter()
        .find(|c| c.container_name == container_name)
        .map(|c| c.handle.clone())
}

/// What was validated is what is used: every bind source is re-checked right before a
/// create or start, so a symlink swapped in since (from inside a sandbox that mounts the
/// workspace, say) cannot make it reach elsewhere.
fn recheck_sources(s: &DesiredSandbox) -> Result<(), ActionError> {
    for source in &s.bind_sources {
        source
            .recheck()
            .map_err(|reason| ActionError::UnsafeMount {
                sandbox: s.name.clone(),
                reason,
            })?;
    }
    Ok(())
}

/// Before starting a container that exists: what it really mounts (as Podman recorded it
/// when it was created, which the runtime resolves again at every start) must still be
/// what was validated.
async fn recheck_mounted(
    ctx: &Ctx,
    s: &DesiredSandbox,
    c: &OwnedContainer,
) -> Result<(), ActionError> {
    recheck_sources(s)?;
    let details = ctx.engine.inspect_container(c.id()).await?;
    for (path, target) in details.bind_mounts {
        // Only the declared mounts: Podman adds its own (the init binary, say).
        let Some(declared) = s.bind_sources.iter().find(|b| b.target == target) else {
            continue;
        };
        let mounted = BindSource {
            path,
            target,
            within: declared.within.clone(),
        };
        mounted
            .recheck()
            .map_err(|reason| ActionError::UnsafeMount {
                sandbox: s.name.clone(),
                reason,
            })?;
    }
    Ok(())
}

/// Makes one pool member's container (`s` is the pool's member with the member's own
/// name and id): the same steps as a declared sandbox's container (bind sources checked,
/// the seccomp profile written, created, started, hooks run), outside a plan.
pub(crate) async fn create_member(
    engine: &Engine,
    ownership: &Ownership,
    desired: &Desired,
    s: &DesiredSandbox,
) -> Result<OwnedContainer, ActionError> {
    let ctx = Ctx {
        engine: engine.clone(),
        ownership: ownership.clone(),
        desired: desired.clone(),
        observed: Observed::default(),
        options: ExecuteOptions::default(),
        ready: tokio::sync::Mutex::new(BTreeSet::new()),
        observer: Arc::new(super::NoObserver),
        egress_sync: tokio::sync::Mutex::new(()),
    };
    // What `apply` makes before the sandboxes that need it (a pool claimed cold before its
    // first apply): its networks and named volumes. Images are not pulled or built here.
    for attachment in &s.networks {
        if let Some(n) = desired.networks.get(&attachment.name)
            && engine.network_now(&n.network_name).await?.is_none()
        {
            create_network(&ctx, n).await?;
        }
    }
    if !s.volumes.is_empty() {
        let present: BTreeSet<String> = engine
            .list_owned_volumes(ownership)
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect();
        for volume in &s.volumes {
            if let Some(v) = desired.volumes.get(volume)
                && !present.contains(&v.volume_name)
            {
                engine
                    .create_volume(ownership, volume, &v.volume_name)
                    .await?;
            }
        }
    }
    create(&ctx, s, true).await
}

async fn create(ctx: &Ctx, s: &DesiredSandbox, start: bool) -> Result<OwnedContainer, ActionError> {
    recheck_sources(s)?;
    if let Some(SeccompConfig::Profile { path, json }) = &s.config.seccomp
        && json == super::seccomp::STRICT_JSON
        && let Some(state_dir) = path.parent().and_then(Path::parent)
    {
        super::seccomp::write_strict_profile(state_dir).map_err(|source| {
            ActionError::SeccompProfile {
                sandbox: s.name.clone(),
                source,
            }
        })?;
    }
    let mut config = s.config.clone();
    config.image = image_reference(s, &ctx.desired).unwrap_or_default();
    if let Some(secrets) = &s.secrets {
        crate::secrets::remove_earlier_folders(&secrets.label.dir, &s.name);
        crate::secrets::write_files(&secrets.label.dir, &secrets.values)?;
    }
    if s.egress.is_some() {
        // Pointed at the proxy on its egress network's gateway (known once the network is).
        let network = network(ctx, &crate::egress::network_name(&s.name))?;
        let gateway = ctx
            .engine
            .network_gateway(&network.network_name)
            .await?
            .ok_or_else(|| {
                ActionError::Internal(format!(
                    "egress network {} has no gateway address for the proxy",
                    network.network_name
                ))
            })?;
        config.env.extend(crate::egress::proxy_env(gateway));
        // The proxy serves it before it starts (its hooks may need the way out).
        if let Some(root) = ctx.ownership.root() {
            let _one = ctx.egress_sync.lock().await;
            let pd = root.join(crate::workspace::DIR_NAME);
            for warning in super::egress_sync::sync(&ctx.engine, &pd, &ctx.desired).await {
                tracing::warn!("{warning}");
            }
        }
    }
    let container = match ctx.engine.create_container(&ctx.ownership, &config).await {
        Ok(c) => c,
        Err(EngineError::Conflict {
            op: Operation::ContainerCreate,
            ..
        }) => {
            // The name is taken. By a container of ours (a crashed earlier apply created it
            // after we looked)? Then replace it; by anyone else's, never touch it.
            match ctx
                .engine
                .find_owned_by_name(
                    &ctx.ownership,
                    &s.container_name,
                    Operation::ContainerRemove,
                )
                .await
            {
                Ok(Some((_, ours))) => {
                    ctx.engine.remove_container(&ours).await?;
                    ctx.engine.create_container(&ctx.ownership, &config).await?
                }
                Ok(None) => ctx.engine.create_container(&ctx.ownership, &config).await?,
                Err(EngineError::NotOwned { .. }) => {
                    return Err(ActionError::ForeignName {
                        name: s.container_name.clone(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(secrets) = &s.secrets
        && let Err(e) = give_secrets(ctx, s, secrets, &container).await
    {
        // Never left half-made: the container goes, and its files with it.
        if let Err(removal) = ctx.engine.remove_container(&container).await {
            tracing::warn!(container = %s.container_name, error = %removal, "could not remove it");
        }
        return Err(e);
    }
    if start {
        recheck_sources(s)?;
        ctx.engine
            .start_container(&container)
            .await
            .map_err(|e| start_error(s, e))?;
        run_hooks(ctx, s, &container, true).await?;
        pause_if_held(ctx, s, &container).await?;
    }
    Ok(container)
}

/// After a start (and its hooks): a sandbox held paused (`state: paused`, or `pocket-dock
/// pause`) is frozen now, so that it never runs unpaused until the next round.
async fn pause_if_held(
    ctx: &Ctx,
    s: &DesiredSandbox,
    container: &OwnedContainer,
) -> Result<(), ActionError> {
    if super::plan::held_paused(s, &ctx.observed).is_some() {
        ctx.engine.pause_container(container).await?;
    }
    Ok(())
}

/// Gives a new container's secret files to its user, as the host sees that user through
/// the container's user namespace (Podman's `IDMappings`), so that a file of mode 0400 is
/// readable by the sandbox's processes and by no other user of it. The user must be
/// numeric (`uid[:gid]`, or none: the image's, root by default): a name would need the
/// image's `/etc/passwd`.
async fn give_secrets(
    ctx: &Ctx,
    s: &DesiredSandbox,
    secrets: &super::desired::DesiredSecrets,
    container: &OwnedContainer,
) -> Result<(), ActionError> {
    use crate::secrets::{SecretError, chown_files, map_id, numeric_user};
    let refuse = |reason: String| SecretError::User {
        sandbox: s.name.clone(),
        reason,
    };
    let (user, uid_map, gid_map) = ctx.engine.container_user(container).await?;
    let (uid, gid) = numeric_user(&user).ok_or_else(|| {
        refuse(format!(
            "it runs as user `{user}`, a name; set a numeric `user` (uid or uid:gid) so that its secret files can be given to it"
        ))
    })?;
    let host_uid = map_id(uid, &uid_map)
        .ok_or_else(|| refuse(format!("its user {uid} is not mapped to the host")))?;
    let host_gid = map_id(gid, &gid_map)
        .ok_or_else(|| refuse(format!("its group {gid} is not mapped to the host")))?;
    if !rustix::process::geteuid().is_root() {
        // Rootless: files are this user's, which is the container's root; no other
        // user of the container can be given them.
        if uid == 0 {
            return Ok(());
        }
        return Err(refuse(format!(
            "rootless Podman can give secret files only to the container's root user, not to {uid}"
        ))
        .into());
    }
    chown_files(&secrets.label.dir, &secrets.label.names, host_uid, host_gid)?;
    Ok(())
}

/// After a start: `postCreate` on the container's first start, then `postStart`. Each run
/// goes to the observer (the event log), and so does the outcome (status reads it).
async fn run_hooks(
    ctx: &Ctx,
    s: &DesiredSandbox,
    container: &OwnedContainer,
    first_start: bool,
) -> Result<(), ActionError> {
    use super::hooks::{HookPoint, run};
    let Some(hooks) = &s.hooks else {
        return Ok(());
    };
    let key = Key::new(pocket_dock_spec::Kind::Sandbox, s.name.clone());
    let mut all = Vec::new();
    let points: &[HookPoint] = if first_start {
        &[HookPoint::PostCreate, HookPoint::PostStart]
    } else {
        &[HookPoint::PostStart]
    };
    for &point in points {
        let (runs, failure) = run(&ctx.engine, container, hooks, point).await;
        all.extend(runs);
        if let Some(failure) = failure {
            ctx.observer.hooks_ran(&key, &all, Some(&failure));
            return Err(ActionError::HookFailed {
                sandbox: s.name.clone(),
                failure: Box::new(failure),
            });
        }
    }
    if !all.is_empty() {
        // A later start's `postStart` passing does not undo a `postCreate` that failed in
        // this container: its setup never completed.
        let standing = ctx.observed.hook_failures.get(&s.name).filter(|f| {
            !first_start
                && f.container_id == container.id()
                && f.hook == super::hooks::HookPoint::PostCreate
        });
        ctx.observer.hooks_ran(&key, &all, standing);
    }
    Ok(())
}

fn network<'a>(
    ctx: &'a Ctx,
    name: &str,
) -> Result<&'a super::desired::DesiredNetwork, ActionError> {
    ctx.desired.networks.get(name).ok_or_else(|| {
        ActionError::Internal(format!("Network/{name} is not among the desired networks"))
    })
}

async fn create_network(ctx: &Ctx, n: &super::desired::DesiredNetwork) -> Result<(), ActionError> {
    let config = crate::engine::NetworkConfig {
        name: n.network_name.clone(),
        object_name: n.name.clone(),
        internal: n.internal,
        subnet: n.subnet.clone(),
        spec_hash: n.spec_hash.clone(),
    };
    let created = if n.egress {
        create_egress_network(ctx, &config).await
    } else {
        ctx.engine.create_network(&ctx.ownership, &config).await
    };
    match created {
        Ok(_) => Ok(()),
        Err(EngineError::Conflict { .. }) => {
            // The name is taken: by ours with these settings (made after we looked), fine;
            // by anything else, never touched.
            match ctx.engine.inspect_network(&n.network_name).await? {
                Some(existing)
                    if ctx.ownership.owns(&existing.labels)
                        && crate::engine::labels::ObjectLabels::parse(&existing.labels)
                            .and_then(|l| l.spec_hash)
                            .as_deref()
                            == Some(n.spec_hash.as_str()) =>
                {
                    Ok(())
                }
                _ => Err(ActionError::ForeignName {
                    name: n.network_name.clone(),
                }),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// A sandbox's egress network, on a subnet clear of the engine's networks and the host's
/// routes (Podman names no gateway for an internal network without DNS unless asked).
async fn create_egress_network(
    ctx: &Ctx,
    config: &crate::engine::NetworkConfig,
) -> Result<crate::engine::OwnedNetwork, EngineError> {
    use crate::egress::subnet;
    use sha2::{Digest, Sha256};
    let mut used: Vec<subnet::Net> = ctx
        .engine
        .all_subnets()
        .await?
        .iter()
        .filter_map(|s| subnet::Net::parse(s))
        .collect();
    used.extend(subnet::host_routes(
        &std::fs::read_to_string("/proc/net/route").unwrap_or_default(),
    ));
    let seed = Sha256::digest(config.name.as_bytes())[0];
    let Some(net) = subnet::pick(&used, seed) else {
        return Err(EngineError::InvalidInput {
            op: Operation::NetworkCreate,
            id: Some(config.name.clone()),
            message: format!(
                "no free /24 left in {}/{} for an egress network",
                subnet::POOL.0,
                subnet::POOL.1
            ),
        });
    };
    ctx.engine
        .create_egress_network(
            &ctx.ownership,
            config,
            &net.to_string(),
            &net.gateway().to_string(),
        )
        .await
}

/// The network `name` as it is now (who is attached, running or stopped, and its labels
/// read again), as an owned handle; `None` when it is gone. Checked here, right before a
/// write, rather than trusting the observation the plan was made from.
async fn network_now(
    ctx: &Ctx,
    name: &str,
) -> Result<Option<(crate::engine::NetworkSummary, crate::engine::OwnedNetwork)>, ActionError> {
    let Some(now) = ctx.engine.network_now(name).await? else {
        return Ok(None);
    };
    let owned = crate::engine::OwnedNetwork::check(&ctx.ownership, &now)?;
    Ok(Some((now, owned)))
}

/// The containers on a network that are not this workspace's sandboxes; refused (named)
/// when there are any: pocket-dock never detaches or removes someone else's container.
fn refuse_foreign_users(
    ctx: &Ctx,
    network: &crate::engine::NetworkSummary,
) -> Result<(), ActionError> {
    let ours = our_container_ids(ctx);
    let foreign: Vec<String> = network
        .containers
        .iter()
        .filter(|(id, _)| !ours.contains(id.as_str()))
        .map(|(id, name)| {
            if name.is_empty() {
                id.clone()
            } else {
                name.clone()
            }
        })
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(ActionError::NetworkInUse {
        network: network.name.clone(),
        users: foreign.join(", "),
    })
}

fn our_container_ids(ctx: &Ctx) -> BTreeSet<&str> {
    ctx.observed
        .sandboxes
        .values()
        .flatten()
        .map(|c| c.id.as_str())
        .collect()
}

/// Replaces a network whose settings changed: refused while anyone else is on it; this
/// workspace's own sandboxes (running or stopped) are detached first, and made again on
/// the new one right after (their spec hash includes the network's settings).
async fn replace_network(ctx: &Ctx, n: &super::desired::DesiredNetwork) -> Result<(), ActionError> {
    if let Some((now, owned)) = network_now(ctx, &n.network_name).await? {
        refuse_foreign_users(ctx, &now)?;
        for (id, _) in &now.containers {
            match ctx.engine.disconnect_network(&owned, id).await {
                Ok(()) => {}
                Err(e) if e.category() == crate::engine::Category::NotFound => {}
                Err(EngineError::Runtime {
                    status: Some(404), ..
                }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        ctx.engine.remove_network(&owned).await?;
        if n.egress {
            crate::egress::unguard_host(&n.network_name).await;
        }
    }
    create_network(ctx, n).await
}

/// Removes a network nothing declares or joins, unless someone else is on it.
async fn remove_network(ctx: &Ctx, name: &str) -> Result<(), ActionError> {
    let Some(observed) = ctx.observed.networks.get(name) else {
        return Ok(());
    };
    let Some((now, owned)) = network_now(ctx, &observed.name).await? else {
        return Ok(()); // gone already: what was asked for
    };
    refuse_foreign_users(ctx, &now)?;
    match ctx.engine.remove_network(&owned).await {
        Ok(()) => {}
        Err(EngineError::Runtime {
            status: Some(404), ..
        }) => {}
        Err(e) => return Err(e.into()),
    }
    // An egress network's host firewall rules go with it (the bridge's name may be reused).
    if crate::egress::is_egress_network(name) {
        crate::egress::unguard_host(&observed.name).await;
    }
    Ok(())
}

/// A start's failure, a host port that is taken named as such.
fn start_error(s: &DesiredSandbox, error: EngineError) -> ActionError {
    let ports: Vec<(String, u16, &str)> = s
        .config
        .ports
        .iter()
        .map(|p| (p.host_ip.clone(), p.host, p.protocol))
        .collect();
    ActionError::from_start(&s.name, &ports, error)
}

/// With `--wait`: the sandboxes `s` depends on must be ready before it starts (compose's
/// `service_healthy`). Each is probed until its probe passes; one that is not ready by the
/// deadline makes `s` wait (reported as waiting, not as a failure of `s`).
async fn dependencies_ready(ctx: &Ctx, s: &DesiredSandbox) -> Result<(), ActionError> {
    if !ctx.options.wait_ready {
        return Ok(());
    }
    for dependency in s.depends_on.iter().map(|d| &d.name) {
        let Some(d) = ctx.desired.sandboxes.get(dependency) else {
            continue;
        };
        let Some(probe) = &d.probe else {
            continue;
        };
        if ctx.ready.lock().await.contains(dependency) {
            continue;
        }
        let not_ready = || ActionError::DependencyNotReady {
            dependency: format!("Sandbox/{dependency}"),
        };
        loop {
            // Made or restarted earlier in this apply: found again by name.
            let found = ctx
                .engine
                .find_owned_by_name(&ctx.ownership, &d.container_name, Operation::ExecCreate)
                .await?;
            // A dependency that does not run will not become ready while this apply waits
            // (nothing else may start it meanwhile): waiting for it would only hold the
            // workspace until the deadline.
            let Some((details, c)) = found.filter(|(d, _)| d.state.is_running()) else {
                return Err(not_ready());
            };
            let _ = details;
            if matches!(
                super::probes::run_probe(&ctx.engine, &c, probe).await,
                Ok(0)
            ) {
                ctx.ready.lock().await.insert(dependency.clone());
                break;
            }
            let next = Instant::now() + probe.interval;
            if ctx.options.ready_deadline.is_none_or(|d| next >= d) {
                return Err(not_ready());
            }
            tokio::time::sleep(probe.interval).await;
        }
    }
    Ok(())
}
