//! The plan: a pure function from (desired, observed) to an ordered list of actions, each
//! with its reason. Printable before anything runs (`diff`, `apply --dry-run`).
//!
//! No I/O: no Podman call, no file read, no clock (the time is `Observed::now`). Everything
//! it needs was read by `observe` and computed by `desired`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use pocket_dock_spec::Kind;

use pocket_dock_spec::model::PullPolicy;

use super::desired::{
    Desired, DesiredImage, DesiredSandbox, DesiredSnapshot, ImageOrigin, ImageSource, Key,
};
use super::lifetime;
use super::observe::{Observed, ObservedContainer, same_image};
use super::order::in_dependency_order;
use super::restarts;
use crate::engine::labels::{ImageLabels, ObjectLabels};

/// What to do to one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "op")]
pub enum Op {
    /// Pull an image reference (not present, or `pullPolicy: Always`).
    Pull {
        reference: String,
    },
    /// Build an `Image` from its Containerfile, tagged with its content hash.
    Build {
        tag: String,
    },
    /// Build the embedded base image in Rust and load it.
    LoadEmbedded {
        tag: String,
    },
    /// Commit a `Snapshot`'s source sandbox to the generation's tag.
    Commit {
        tag: String,
    },
    /// Give an image that is present as `source` the name `tag`: a build another checkout
    /// made or a bundle brought (found by its portable name) gets this workspace's name, a
    /// build made before portable names gets its portable name, a bundled snapshot nobody
    /// has claimed gets this workspace's name.
    Tag {
        source: String,
        tag: String,
    },
    /// Remove an image name this workspace made and no longer references.
    RemoveImage {
        reference: String,
    },
    CreateVolume,
    /// Create a network (the workspace's `default`, or a `Network` object).
    CreateNetwork,
    /// Remove and create a network whose settings changed (its members move with it).
    RecreateNetwork,
    /// Create the sandbox's container, and start it when it should run.
    Create {
        start: bool,
    },
    Start,
    Stop,
    /// Freeze a running sandbox's processes (`state: paused`, or `pocket-dock pause`).
    Pause,
    /// Thaw a paused sandbox (declared running and not held by `pocket-dock pause`).
    Unpause,
    /// Attach a running sandbox to networks it should be on and is not (made before
    /// networks existed, or disconnected by hand), with its names there.
    Connect {
        networks: Vec<String>,
    },
    /// Remove and create again (and start when it should run).
    Recreate {
        start: bool,
    },
    /// Remove a container: no longer declared, or a stray duplicate.
    Remove {
        container: String,
    },
    RemoveVolume,
    /// Remove a network no longer declared or joined (never while others use it).
    RemoveNetwork,
    /// Make members of a pool until it has its size (counted again, under the pool's
    /// refill lock, when it runs: concurrent refills never overfill).
    AddMembers {
        count: u32,
    },
    /// Retire an idle pool member (old generation, idle past `maxIdle`, not running, more
    /// than `size`, or its pool deleted): renamed under the claim lock so that no claim can
    /// take it, then removed. A member claimed meanwhile is left alone.
    RemoveMember {
        container: String,
    },
}

impl Op {
    pub fn verb(&self) -> &'static str {
        match self {
            Op::Pull { .. } => "pull",
            Op::Build { .. } => "build",
            Op::LoadEmbedded { .. } => "load",
            Op::Commit { .. } => "commit",
            Op::Tag { .. } => "tag",
            Op::AddMembers { .. } => "fill",
            Op::RemoveMember { .. } => "remove",
            Op::CreateVolume | Op::CreateNetwork | Op::Create { .. } => "create",
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Pause => "pause",
            Op::Unpause => "unpause",
            Op::Connect { .. } => "connect",
            Op::Recreate { .. } | Op::RecreateNetwork => "recreate",
            Op::Remove { .. } | Op::RemoveVolume | Op::RemoveNetwork | Op::RemoveImage { .. } => {
                "remove"
            }
        }
    }

    /// `+` create, `~` change, `-` remove.
    pub fn sign(&self) -> char {
        match self {
            Op::Pull { .. }
            | Op::Build { .. }
            | Op::LoadEmbedded { .. }
            | Op::Commit { .. }
            | Op::Tag { .. }
            | Op::CreateVolume
            | Op::CreateNetwork
            | Op::AddMembers { .. }
            | Op::Create { .. } => '+',
            Op::Start
            | Op::Stop
            | Op::Pause
            | Op::Unpause
            | Op::Connect { .. }
            | Op::Recreate { .. }
            | Op::RecreateNetwork => '~',
            Op::Remove { .. }
            | Op::RemoveVolume
            | Op::RemoveNetwork
            | Op::RemoveImage { .. }
            | Op::RemoveMember { .. } => '-',
        }
    }
}

/// One field that differs between the running container and the declaration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub path: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.old, &self.new) {
            (Some(old), Some(new)) => write!(f, "{}: {old} -> {new}", self.path),
            (None, Some(new)) => write!(f, "{}: added {new}", self.path),
            (Some(old), None) => write!(f, "{}: removed {old}", self.path),
            (None, None) => write!(f, "{}", self.path),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Action {
    pub key: Key,
    #[serde(flatten)]
    pub op: Op,
    pub reason: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// Objects the plan cannot act on, and why (they are reported, and wait).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Blocked {
    pub key: Key,
    pub reason: String,
    /// It may come unblocked by itself (a dependency's condition that is not met yet): an
    /// apply keeps looking until its deadline. `false`: only a change can help.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

impl Blocked {
    fn new(key: Key, reason: impl Into<String>) -> Self {
        Blocked {
            key,
            reason: reason.into(),
            pending: false,
        }
    }
}

/// An undeclared object that was not pruned because the declarations are not the complete
/// picture: a file is invalid (its objects may be among these), or the file list was cut.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Kept {
    pub key: Key,
    pub reason: String,
}

/// Why undeclared objects are kept while the declarations are incomplete.
pub const INCOMPLETE: &str =
    "not pruned: some declarations could not be read or are invalid, so it may still be wanted";

/// A sandbox that keeps exiting, waiting out its back-off before it is started again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrashLoop {
    pub key: Key,
    pub restart_count: u32,
    pub last_exit_code: Option<i64>,
    /// The current delay between an exit and the next start.
    pub backoff_ms: u64,
    /// When it is started again, from the observation.
    pub retry_in_ms: u64,
}

impl CrashLoop {
    /// `back-off 20s restarting failed container (exit code 1, 3 restarts)`, as kubelet says it.
    pub fn reason(&self) -> String {
        let exit = self
            .last_exit_code
            .map_or_else(String::new, |c| format!("exit code {c}, "));
        format!(
            "back-off {}s restarting failed container ({exit}{} restart{}); next start in {}s",
            self.backoff_ms / 1000,
            self.restart_count,
            if self.restart_count == 1 { "" } else { "s" },
            self.retry_in_ms.div_ceil(1000)
        )
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub blocked: Vec<Blocked>,
    /// Undeclared volumes left alone because `--prune-volumes` was not given.
    pub kept_volumes: Vec<String>,
    /// Undeclared objects left alone, and why: the declarations are incomplete, or (a
    /// network) a container that is not this workspace's uses it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Kept>,
    /// Sandboxes in crash-loop back-off: not started now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crash_loops: Vec<CrashLoop>,
    /// Sandboxes a `lifetime` limit acted on (or acts on in this plan): held stopped or
    /// removed until their declaration changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired: Vec<Expired>,
    /// Sandboxes with a `lifetime` limit still to come: when to look at them again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lifetime_checks: Vec<LifetimeCheck>,
}

/// A sandbox whose `lifetime` limit acted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expired {
    pub key: Key,
    #[serde(flatten)]
    pub expiry: lifetime::Expiry,
    /// `true`: recorded in the state store by an earlier reconcile (nothing to do);
    /// `false`: this plan's stop or remove makes it so.
    pub recorded: bool,
}

impl Expired {
    /// How status and `get` say it.
    pub fn reason(&self) -> String {
        let when = crate::timefmt::rfc3339(u64::try_from(self.expiry.at_ms / 1000).unwrap_or(0));
        let (what, field) = match self.expiry.reason {
            lifetime::ExpiryReason::IdleTimeout => ("stopped", "idleTimeout"),
            lifetime::ExpiryReason::MaxLifetime => ("removed", "maxLifetime"),
        };
        format!(
            "{what} at {when}: {} ({field}); it stays {what} until its declaration changes or `pocket-dock apply --resume --only {}`",
            self.expiry.message, self.key
        )
    }
}

/// When a sandbox's next `lifetime` deadline comes (or, while it is busy, when to look
/// again).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LifetimeCheck {
    pub key: Key,
    pub in_ms: u64,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanOptions {
    pub prune_volumes: bool,
    /// Pull `pullPolicy: Always` images (once per apply: its first round only).
    pub pull_always: bool,
    pub crash_loop: restarts::CrashLoopPolicy,
}

/// The image id a sandbox should run, if it can be known now (`Ok(None)`: it is made in
/// this apply). `Err` explains why the sandbox must wait.
fn resolved_image(
    s: &DesiredSandbox,
    desired: &Desired,
    observed: &Observed,
    blocked: &BTreeMap<Key, String>,
) -> Result<Option<String>, String> {
    if let ImageSource::Object(key) = &s.image {
        if blocked.contains_key(key) {
            return Err(format!("waiting for {key}"));
        }
        if desired.object_tag(key).is_none() {
            return Err(format!("{key} is not declared"));
        }
    }
    let reference = image_reference(s, desired).unwrap_or_default();
    Ok(observed.image_id(&reference).map(str::to_string))
}

/// The local reference a sandbox's container is created from: its plain reference, or the
/// tag of its `Image` or `Snapshot` object.
pub fn image_reference(s: &DesiredSandbox, desired: &Desired) -> Option<String> {
    match &s.image {
        ImageSource::Reference(r) => Some(r.clone()),
        ImageSource::Object(key) => desired.object_tag(key).map(str::to_string),
    }
}

/// Pools: the members of pools no longer declared go (only on a complete picture; never a
/// claimed one); each declared pool's members are judged (`pool::judge`) and the missing
/// made, once what they need (image, volumes, networks) does not wait.
fn plan_pools(
    desired: &Desired,
    observed: &Observed,
    plan: &mut Plan,
    blocked: &mut BTreeMap<Key, String>,
) {
    use crate::reconcile::pool::MemberState;
    for (name, members) in &observed.pools {
        if desired.pools.contains_key(name) {
            continue;
        }
        let key = Key::new(Kind::Pool, name.clone());
        let idle: Vec<_> = members
            .iter()
            .filter(|m| {
                matches!(
                    m.state,
                    MemberState::Ready | MemberState::Warming | MemberState::Retiring
                )
            })
            .collect();
        if idle.is_empty() {
            continue;
        }
        if !desired.complete {
            plan.kept.push(Kept {
                key,
                reason: INCOMPLETE.to_string(),
            });
            continue;
        }
        for m in idle {
            plan.actions.push(Action {
                key: key.clone(),
                op: Op::RemoveMember {
                    container: m.container_name.clone(),
                },
                reason: "pool no longer declared".to_string(),
                changes: Vec::new(),
            });
        }
    }
    for p in desired.pools.values() {
        let key = Key::new(Kind::Pool, p.name.clone());
        let Some(member) = &p.member else {
            let reason = p.problem.clone().unwrap_or_default();
            blocked.insert(key.clone(), reason.clone());
            plan.blocked.push(Blocked::new(key, reason));
            continue;
        };
        if let Some(dep) = desired
            .dependencies(&key)
            .into_iter()
            .find(|d| blocked.contains_key(d))
        {
            let reason = format!("waiting for {dep}");
            blocked.insert(key.clone(), reason.clone());
            plan.blocked.push(Blocked::new(key, reason));
            continue;
        }
        let image = match resolved_image(member, desired, observed, blocked) {
            Ok(image) => image,
            Err(reason) => {
                blocked.insert(key.clone(), reason.clone());
                plan.blocked.push(Blocked::new(key, reason));
                continue;
            }
        };
        let members = observed.pools.get(&p.name).map_or(&[][..], Vec::as_slice);
        let judged = crate::reconcile::pool::judge(p, members, image.as_deref(), observed.now);
        for (container, reason) in judged.remove {
            plan.actions.push(Action {
                key: key.clone(),
                op: Op::RemoveMember { container },
                reason,
                changes: Vec::new(),
            });
        }
        if judged.missing > 0 {
            plan.actions.push(Action {
                key,
                op: Op::AddMembers {
                    count: judged.missing,
                },
                reason: format!(
                    "{} of {} members ready or warming",
                    judged.ready + judged.warming,
                    p.size
                ),
                changes: Vec::new(),
            });
        }
    }
}

/// Sandboxes in an order where every `dependsOn` comes first.
pub fn dependency_order(desired: &Desired) -> Vec<&DesiredSandbox> {
    in_dependency_order(
        desired.sandboxes.values(),
        |s| s.name.as_str(),
        |s| s.depends_on.iter().map(|d| d.name.as_str()).collect(),
    )
}

pub fn plan(desired: &Desired, observed: &Observed, options: PlanOptions) -> Plan {
    let mut plan = Plan::default();

    // 1. Containers that should not exist: undeclared, or strays next to the right one. An
    // undeclared one is pruned only when the declarations are complete: until then it may
    // belong to a file that does not parse.
    for (name, containers) in &observed.sandboxes {
        let declared = desired.sandboxes.get(name);
        if declared.is_none() && !desired.complete {
            plan.kept.push(Kept {
                key: Key::new(Kind::Sandbox, name.clone()),
                reason: INCOMPLETE.to_string(),
            });
            continue;
        }
        for c in containers {
            let keep = declared.is_some_and(|d| d.container_name == c.container_name);
            if !keep {
                plan.actions.push(Action {
                    key: Key::new(Kind::Sandbox, name.clone()),
                    op: Op::Remove {
                        container: c.container_name.clone(),
                    },
                    reason: if declared.is_some() {
                        format!(
                            "stray container {} next to the declared one",
                            c.container_name
                        )
                    } else {
                        "no longer declared".to_string()
                    },
                    changes: Vec::new(),
                });
            }
        }
    }

    // 2. Volumes, then images to pull.
    for (name, _) in desired
        .volumes
        .iter()
        .filter(|(n, _)| !observed.volumes.contains_key(*n))
    {
        plan.actions.push(Action {
            key: Key::new(Kind::Volume, name.clone()),
            op: Op::CreateVolume,
            reason: "not found".to_string(),
            changes: Vec::new(),
        });
    }
    let mut blocked: BTreeMap<Key, String> = BTreeMap::new();
    plan_networks(desired, observed, &mut plan, &mut blocked);
    plan_images(desired, observed, options, &mut plan, &mut blocked);
    plan_snapshots(desired, observed, &mut plan, &mut blocked);

    // 3. Sandboxes, dependencies first.
    let mut pending: BTreeSet<Key> = BTreeSet::new();
    for s in dependency_order(desired) {
        let key = Key::new(Kind::Sandbox, s.name.clone());
        // A `lifetime` limit that acted holds it as it left it; one that is due acts now.
        if plan_lifetime(s, observed, &mut plan) {
            continue;
        }
        // What it needs that waits, it waits for too (pending when that is).
        if let Some(dep) = desired
            .dependencies(&key)
            .into_iter()
            .find(|d| blocked.contains_key(d))
        {
            let reason = format!("waiting for {dep}");
            blocked.insert(key.clone(), reason.clone());
            if pending.contains(&dep) {
                pending.insert(key.clone());
            }
            plan.blocked.push(Blocked {
                pending: pending.contains(&key),
                ..Blocked::new(key, reason)
            });
            continue;
        }
        // A secret that cannot be read: nothing is made or changed for it.
        if let Some(problem) = &s.problem {
            blocked.insert(key.clone(), problem.clone());
            plan.blocked.push(Blocked::new(key, problem.clone()));
            continue;
        }
        let image = match resolved_image(s, desired, observed, &blocked) {
            Ok(image) => image,
            Err(reason) => {
                blocked.insert(key.clone(), reason.clone());
                plan.blocked.push(Blocked::new(key, reason));
                continue;
            }
        };
        let current = observed
            .sandboxes
            .get(&s.name)
            .and_then(|cs| cs.iter().find(|c| c.container_name == s.container_name));
        // A build, the embedded base or a snapshot that is absent is made in this apply under
        // a new content-addressed name, so the container's image changes; a pulled reference
        // is judged after the pull (it may turn out to be the image the container has).
        let made_here = match &s.image {
            ImageSource::Reference(_) => None,
            ImageSource::Object(key) => match desired.images.get(&key.name) {
                Some(i)
                    if key.kind == Kind::Image && matches!(i.origin, ImageOrigin::Pull { .. }) =>
                {
                    None
                }
                _ => image_reference(s, desired),
            },
        };
        let hold = held_paused(s, observed);
        let Some(mut action) = sandbox_action(
            s,
            current,
            image.as_deref(),
            made_here.as_deref(),
            key,
            hold,
        ) else {
            continue;
        };
        name_images(&mut action.changes, s, desired, observed);
        // A start waits for the conditions of its dependencies (a container that runs
        // already is left alone).
        if starts(&action.op) {
            let acted_on = |name: &str| {
                plan.actions
                    .iter()
                    .any(|a| a.key.kind == Kind::Sandbox && a.key.name == name)
            };
            if let Some(unmet) = super::conditions::unmet(s, &desired.sandboxes, observed, acted_on)
            {
                blocked.insert(action.key.clone(), unmet.reason.clone());
                if unmet.pending {
                    pending.insert(action.key.clone());
                }
                plan.blocked.push(Blocked {
                    pending: unmet.pending,
                    ..Blocked::new(action.key, unmet.reason)
                });
                continue;
            }
        }
        // A container that exited is started again at once the first time, later and later
        // after that (crash-loop backoff).
        if let (Op::Start, Some(c)) = (&action.op, current) {
            let record = observed.restarts.get(&s.name);
            let decision =
                restarts::decide(record, &c.id, c.exit, observed.now, options.crash_loop);
            if let restarts::Decision::Wait { after, backoff } = decision {
                plan.crash_loops.push(CrashLoop {
                    key: action.key,
                    restart_count: record
                        .filter(|r| r.container_id == c.id)
                        .map_or(0, |r| r.restart_count),
                    last_exit_code: c.exit.code,
                    backoff_ms: millis(backoff),
                    retry_in_ms: millis(after),
                });
                continue;
            }
        }
        plan.actions.push(action);
    }
    // Snapshots whose source sandbox waits, wait too.
    for snap in desired.snapshots.values() {
        let source = Key::new(Kind::Sandbox, snap.sandbox.clone());
        let key = Key::new(Kind::Snapshot, snap.name.clone());
        if blocked.contains_key(&source)
            && let Some(i) = plan.actions.iter().position(|a| a.key == key)
        {
            plan.actions.remove(i);
            plan.blocked
                .push(Blocked::new(key, format!("waiting for {source}")));
            continue;
        }
        // A source its lifetime removed has nothing to commit until it is made again.
        if plan
            .expired
            .iter()
            .any(|e| e.key == source && e.expiry.reason == lifetime::ExpiryReason::MaxLifetime)
            && let Some(i) = plan.actions.iter().position(|a| a.key == key)
        {
            plan.actions.remove(i);
            plan.blocked.push(Blocked::new(
                key,
                format!("its source {source} was removed by its lifetime"),
            ));
        }
    }

    plan_pools(desired, observed, &mut plan, &mut blocked);

    prune_images(desired, observed, &mut plan);

    // 4. Volumes no longer declared: removed only when asked, since that deletes data.
    for name in observed
        .volumes
        .keys()
        .filter(|n| !desired.volumes.contains_key(*n))
    {
        if options.prune_volumes && desired.complete {
            plan.actions.push(Action {
                key: Key::new(Kind::Volume, name.clone()),
                op: Op::RemoveVolume,
                reason: "no longer declared (--prune-volumes)".to_string(),
                changes: Vec::new(),
            });
        } else {
            plan.kept_volumes.push(name.clone());
        }
    }
    plan
}

/// A sandbox's `lifetime`: an expiry recorded for its current declaration holds it (no
/// action at all: not started, not created again); a limit reached now stops (idle) or
/// removes (lifetime) its container; otherwise when to look again is noted. `true` when the
/// sandbox is dealt with here.
fn plan_lifetime(s: &DesiredSandbox, observed: &Observed, plan: &mut Plan) -> bool {
    let key = Key::new(Kind::Sandbox, s.name.clone());
    let record = observed
        .lifetimes
        .get(&s.name)
        .filter(|r| r.document_hash == s.document_hash);
    if let Some(expiry) = record.and_then(|r| r.expiry.clone()) {
        plan.expired.push(Expired {
            key,
            expiry,
            recorded: true,
        });
        return true;
    }
    let current = observed
        .sandboxes
        .get(&s.name)
        .and_then(|cs| cs.iter().find(|c| c.container_name == s.container_name));
    let since = record.map_or(observed.now_ms, |r| r.since_ms);
    let activity = observed.activity.get(&s.name).copied().unwrap_or_default();
    let times = current.map(|c| lifetime::ContainerTimes {
        created: c.created,
        started_at: c.exit.started_at,
        running: c.state.is_running(),
    });
    match lifetime::judge(s.limits, since, times, activity, observed.now_ms) {
        lifetime::Verdict::Unlimited => false,
        lifetime::Verdict::Alive { check_in } => {
            // At least daily: a limit of years never becomes a timer that overflows.
            if let Some(wait) = check_in {
                plan.lifetime_checks.push(LifetimeCheck {
                    key,
                    in_ms: millis(wait).min(86_400_000),
                });
            }
            false
        }
        lifetime::Verdict::Due(expiry) => {
            let Some(c) = current else {
                return false;
            };
            let (op, field) = match expiry.reason {
                lifetime::ExpiryReason::IdleTimeout => (Op::Stop, "idleTimeout"),
                lifetime::ExpiryReason::MaxLifetime => (
                    Op::Remove {
                        container: c.container_name.clone(),
                    },
                    "maxLifetime",
                ),
            };
            plan.actions.push(Action {
                key: key.clone(),
                op,
                reason: format!("{} ({field})", expiry.message),
                changes: Vec::new(),
            });
            plan.expired.push(Expired {
                key,
                expiry,
                recorded: false,
            });
            true
        }
    }
}

/// Whether `s` is to be held paused: declared `state: paused`, or paused by `pocket-dock
/// pause` (an override in the state store, until `pocket-dock resume`). A one-shot never is.
pub fn held_paused(s: &DesiredSandbox, observed: &Observed) -> Option<Held> {
    if !s.running || s.once {
        return None;
    }
    if observed.pauses.contains_key(&s.name) {
        Some(Held::ByCommand)
    } else if s.paused {
        Some(Held::ByDeclaration)
    } else {
        None
    }
}

/// Who holds a sandbox paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// `state: paused` in its declaration.
    ByDeclaration,
    /// `pocket-dock pause` (until `pocket-dock resume`).
    ByCommand,
}

impl Held {
    pub fn reason(self) -> &'static str {
        match self {
            Held::ByDeclaration => "declared paused",
            Held::ByCommand => "paused by `pocket-dock pause`",
        }
    }
}

/// Whether an action starts a sandbox's container.
fn starts(op: &Op) -> bool {
    matches!(
        op,
        Op::Start | Op::Create { start: true } | Op::Recreate { start: true }
    )
}

/// Networks: the missing are made, those whose settings changed are made again (refused
/// while a container that is not this workspace's is on them), the undeclared removed
/// once the declarations are complete and nobody else uses them.
fn plan_networks(
    desired: &Desired,
    observed: &Observed,
    plan: &mut Plan,
    blocked: &mut BTreeMap<Key, String>,
) {
    let ours: BTreeSet<&str> = observed
        .sandboxes
        .values()
        .flatten()
        .map(|c| c.id.as_str())
        .collect();
    let foreign = |n: &crate::engine::NetworkSummary| -> Vec<String> {
        n.containers
            .iter()
            .filter(|(id, _)| !ours.contains(id.as_str()))
            .map(|(id, name)| {
                if name.is_empty() {
                    id.clone()
                } else {
                    name.clone()
                }
            })
            .collect()
    };
    for (name, n) in &desired.networks {
        let key = Key::new(Kind::Network, name.clone());
        let Some(current) = observed.networks.get(name) else {
            plan.actions.push(Action {
                key,
                op: Op::CreateNetwork,
                reason: "not found".to_string(),
                changes: Vec::new(),
            });
            continue;
        };
        let held = ObjectLabels::parse(&current.labels).and_then(|l| l.spec_hash);
        if held.as_deref() == Some(n.spec_hash.as_str()) {
            continue;
        }
        let users = foreign(current);
        if !users.is_empty() {
            let reason = format!(
                "its settings changed, but {} (not this workspace's) use it; disconnect them to let it be replaced",
                users.join(", ")
            );
            blocked.insert(key.clone(), reason.clone());
            plan.blocked.push(Blocked::new(key, reason));
            continue;
        }
        plan.actions.push(Action {
            key,
            op: Op::RecreateNetwork,
            reason: "settings changed".to_string(),
            changes: network_changes(current, n),
        });
    }
    for (name, current) in &observed.networks {
        if desired.networks.contains_key(name) {
            continue;
        }
        let key = Key::new(Kind::Network, name.clone());
        if !desired.complete {
            plan.kept.push(Kept {
                key,
                reason: INCOMPLETE.to_string(),
            });
            continue;
        }
        let users = foreign(current);
        if users.is_empty() {
            plan.actions.push(Action {
                key,
                op: Op::RemoveNetwork,
                reason: "no longer declared or joined".to_string(),
                changes: Vec::new(),
            });
        } else {
            plan.kept.push(Kept {
                key,
                reason: format!(
                    "not removed: {} (not this workspace's) use it",
                    users.join(", ")
                ),
            });
        }
    }
}

fn network_changes(
    current: &crate::engine::NetworkSummary,
    n: &super::desired::DesiredNetwork,
) -> Vec<Change> {
    let mut changes = Vec::new();
    if current.internal != n.internal {
        changes.push(Change {
            path: "spec.internal".into(),
            old: Some(current.internal.to_string()),
            new: Some(n.internal.to_string()),
        });
    }
    if let Some(subnet) = &n.subnet
        && !current.subnets.contains(subnet)
    {
        changes.push(Change {
            path: "spec.subnet".into(),
            old: current.subnets.first().cloned(),
            new: Some(subnet.clone()),
        });
    }
    changes
}

/// Pulls, builds and loads for `Image` objects and plain references; records what waits.
fn plan_images(
    desired: &Desired,
    observed: &Observed,
    options: PlanOptions,
    plan: &mut Plan,
    blocked: &mut BTreeMap<Key, String>,
) {
    let mut pulls: BTreeMap<String, Key> = BTreeMap::new();
    for image in image_order(desired) {
        let key = Key::new(Kind::Image, image.name.clone());
        let waiting_on = image
            .parent
            .as_ref()
            .map(|p| Key::new(Kind::Image, p.clone()))
            .filter(|p| blocked.contains_key(p));
        let reason = match (&image.problem, waiting_on) {
            (Some(problem), _) => Some(problem.clone()),
            (None, Some(parent)) => Some(format!("waiting for {parent}")),
            (None, None) => None,
        };
        if let Some(reason) = reason {
            blocked.insert(key.clone(), reason.clone());
            plan.blocked.push(Blocked::new(key, reason));
            continue;
        }
        let present = observed.image_id(&image.tag).is_some();
        let op = match &image.origin {
            ImageOrigin::Pull { policy } => match (policy, present) {
                (PullPolicy::Always, _) if options.pull_always => {
                    plan.actions.push(Action {
                        key,
                        op: Op::Pull {
                            reference: image.tag.clone(),
                        },
                        reason: "pullPolicy: Always".to_string(),
                        changes: Vec::new(),
                    });
                    continue;
                }
                (PullPolicy::Never, false) => {
                    let reason = format!(
                        "{} is not present and pullPolicy is Never; load it (`pocket-dock image import`)",
                        image.tag
                    );
                    blocked.insert(key.clone(), reason.clone());
                    plan.blocked.push(Blocked::new(key, reason));
                    continue;
                }
                _ => {
                    pulls.entry(image.tag.clone()).or_insert(key);
                    continue;
                }
            },
            ImageOrigin::Build(_) if present => {
                // A build made before portable names (or whose portable name was removed)
                // gets it back: its `build.from` children start from that name.
                if observed
                    .images
                    .get(&image.shared)
                    .is_some_and(Option::is_none)
                {
                    plan.actions.push(Action {
                        key,
                        op: Op::Tag {
                            source: image.tag.clone(),
                            tag: image.shared.clone(),
                        },
                        reason: "its portable name is missing".to_string(),
                        changes: Vec::new(),
                    });
                }
                continue;
            }
            _ if present => continue,
            ImageOrigin::Build(_) if same_build(image, observed) => {
                plan.actions.push(Action {
                    key,
                    op: Op::Tag {
                        source: image.shared.clone(),
                        tag: image.tag.clone(),
                    },
                    reason: format!(
                        "present as {} (made by another checkout, or imported)",
                        image.shared
                    ),
                    changes: Vec::new(),
                });
                continue;
            }
            ImageOrigin::Build(_) => Op::Build {
                tag: image.tag.clone(),
            },
            ImageOrigin::Embedded => Op::LoadEmbedded {
                tag: image.tag.clone(),
            },
        };
        let reason = if matches!(op, Op::Build { .. }) && earlier_build(image, observed) {
            "its Containerfile, context or parent image changed"
        } else {
            "image not present"
        };
        plan.actions.push(Action {
            key,
            op,
            reason: reason.to_string(),
            changes: Vec::new(),
        });
    }
    for s in desired.sandboxes.values() {
        if let ImageSource::Reference(r) = &s.image {
            pulls
                .entry(r.clone())
                .or_insert_with(|| Key::new(Kind::Sandbox, s.name.clone()));
        }
    }
    for (reference, key) in pulls {
        if observed.images.get(&reference).is_some_and(Option::is_none) {
            plan.actions.push(Action {
                key,
                op: Op::Pull {
                    reference: reference.clone(),
                },
                reason: "image not present".to_string(),
                changes: Vec::new(),
            });
        }
    }
}

/// Whether this workspace has a build of `image` made from other content: the one a new
/// build replaces (what is said of the build, and of removing the old one after it).
fn earlier_build(image: &DesiredImage, observed: &Observed) -> bool {
    observed.owned_images.iter().any(|i| {
        !i.repo_tags.contains(&image.tag)
            && ImageLabels::parse(&i.labels)
                .is_some_and(|l| l.kind == Kind::Image && l.name == image.name)
    })
}

/// Whether the image under a build's portable name is that build: pocket-dock made it for
/// an `Image` of that name, from the content hash the name was made from.
fn same_build(image: &DesiredImage, observed: &Observed) -> bool {
    if observed.image_id(&image.shared).is_none() {
        return false;
    }
    let (_, short_hash) = crate::images::split_tag(&image.shared);
    observed
        .image_labels
        .get(&image.shared)
        .and_then(ImageLabels::parse)
        .is_some_and(|l| {
            l.kind == Kind::Image
                && l.name == image.name
                && l.content_hash.is_some_and(|h| h.starts_with(short_hash))
        })
}

/// Whether a snapshot generation is present under its portable name (a bundle brought it)
/// as that generation of a snapshot of that name, and no workspace has claimed it: a
/// snapshot is a sandbox's state, so one that another workspace on this engine committed or
/// took is never taken for this one's.
fn unclaimed_snapshot(snap: &DesiredSnapshot, observed: &Observed) -> bool {
    if observed.image_id(&snap.shared).is_none() {
        return false;
    }
    let labels = observed
        .image_labels
        .get(&snap.shared)
        .and_then(ImageLabels::parse);
    let matches = labels.is_some_and(|l| {
        l.kind == Kind::Snapshot
            && l.name == snap.name
            && l.snapshot
                .is_some_and(|s| s.generation == snap.generation.to_string())
    });
    let names = observed.image_names.get(&snap.shared);
    matches && names.is_none_or(|n| crate::images::claimants(n).is_empty())
}

/// `apply --rebuild`/`--rebuild-all`: which `Image` objects to make again, whether or not
/// they are present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Rebuild {
    #[default]
    Nothing,
    /// These, and every image built on them.
    Images(BTreeSet<String>),
    /// Every declared `Image`.
    All,
}

impl Rebuild {
    /// The declared images named (all of them for `All`); unknown names are the caller's
    /// to refuse before this.
    pub fn named(&self, desired: &Desired) -> BTreeSet<String> {
        match self {
            Rebuild::Nothing => BTreeSet::new(),
            Rebuild::Images(names) => names
                .iter()
                .filter(|n| desired.images.contains_key(*n))
                .cloned()
                .collect(),
            Rebuild::All => desired.images.keys().cloned().collect(),
        }
    }
}

/// The images a forced rebuild makes again: those `named` and every image built on them
/// (`build.from`, at any depth). Not their parents, not their siblings.
pub fn rebuild_closure(desired: &Desired, named: &BTreeSet<String>) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = named
        .iter()
        .filter(|n| desired.images.contains_key(*n))
        .cloned()
        .collect();
    // Parents come first, so one pass reaches every depth.
    for image in image_order(desired) {
        if image.parent.as_ref().is_some_and(|p| set.contains(p)) {
            set.insert(image.name.clone());
        }
    }
    set
}

/// Adds a forced rebuild to an apply's first plan: a build (or pull, or load of the
/// embedded base) of every image in the [`rebuild_closure`] of `named` that the plan does
/// not make already and that does not wait. `--no-cache` is the executor's: the plan says
/// what is made, not how. Sandboxes on an image that comes out with a new id are recreated
/// in the next round, which sees the new id (a full cache hit keeps the id: nothing moves).
pub fn force_rebuilds(plan: &mut Plan, desired: &Desired, named: &BTreeSet<String>) {
    let set = rebuild_closure(desired, named);
    let mut added = Vec::new();
    for image in image_order(desired)
        .into_iter()
        .filter(|i| set.contains(&i.name))
    {
        let key = Key::new(Kind::Image, image.name.clone());
        if plan.blocked.iter().any(|b| b.key == key) {
            continue;
        }
        let op = match &image.origin {
            // `pullPolicy: Never` is never pulled, forced or not.
            ImageOrigin::Pull {
                policy: PullPolicy::Never,
            } => continue,
            ImageOrigin::Pull { .. } => Op::Pull {
                reference: image.tag.clone(),
            },
            ImageOrigin::Build(_) => Op::Build {
                tag: image.tag.clone(),
            },
            ImageOrigin::Embedded => Op::LoadEmbedded {
                tag: image.tag.clone(),
            },
        };
        // Made by this plan anyway (absent, or `pullPolicy: Always`).
        if plan.actions.iter().any(|a| a.op == op) {
            continue;
        }
        // Taking the image another checkout made would not make it again: the build gives
        // both names instead.
        plan.actions
            .retain(|a| !(a.key == key && matches!(a.op, Op::Tag { .. })));
        let reason = match &image.parent {
            Some(parent) if !named.contains(&image.name) => {
                format!("built on Image/{parent}, which is rebuilt (--rebuild)")
            }
            _ => "forced by --rebuild".to_string(),
        };
        added.push(Action {
            key,
            op,
            reason,
            changes: Vec::new(),
        });
    }
    // Shown with the other image actions: before sandboxes, snapshots and pruning.
    let at = plan
        .actions
        .iter()
        .position(|a| {
            matches!(a.op, Op::RemoveImage { .. })
                || (matches!(a.key.kind, Kind::Sandbox | Kind::Snapshot)
                    && !matches!(a.op, Op::Remove { .. }))
        })
        .unwrap_or(plan.actions.len());
    plan.actions.splice(at..at, added);
}

/// Images in an order where every `build.from` parent comes first.
pub fn image_order(desired: &Desired) -> Vec<&DesiredImage> {
    in_dependency_order(
        desired.images.values(),
        |i| i.name.as_str(),
        |i| i.parent.as_deref().into_iter().collect(),
    )
}

/// Commits for snapshot generations not taken yet.
fn plan_snapshots(
    desired: &Desired,
    observed: &Observed,
    plan: &mut Plan,
    blocked: &mut BTreeMap<Key, String>,
) {
    for snap in desired.snapshots.values() {
        let key = Key::new(Kind::Snapshot, snap.name.clone());
        if observed.image_id(&snap.tag).is_some() {
            continue;
        }
        if unclaimed_snapshot(snap, observed) {
            plan.actions.push(Action {
                key,
                op: Op::Tag {
                    source: snap.shared.clone(),
                    tag: snap.tag.clone(),
                },
                reason: format!(
                    "generation {} present as {} (imported)",
                    snap.generation, snap.shared
                ),
                changes: Vec::new(),
            });
            continue;
        }
        if !desired.sandboxes.contains_key(&snap.sandbox) {
            let reason = format!("its source Sandbox/{} is not declared", snap.sandbox);
            blocked.insert(key.clone(), reason.clone());
            plan.blocked.push(Blocked::new(key, reason));
            continue;
        }
        plan.actions.push(Action {
            key,
            op: Op::Commit {
                tag: snap.tag.clone(),
            },
            reason: format!(
                "generation {}, from Sandbox/{}",
                snap.generation, snap.sandbox
            ),
            changes: Vec::new(),
        });
    }
}

/// An image name this workspace made that nothing declares any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreferencedImage {
    /// The `Image` or `Snapshot` object it was made for.
    pub key: Key,
    pub reference: String,
    /// Why it goes, in words that name what replaced it where something did.
    pub reason: String,
}

/// Names of images this workspace uses that nothing declares any more: builds whose
/// content changed or whose `Image` is gone, and snapshots of removed `Snapshot` objects
/// (a declared snapshot keeps its older generations). The workspace's own names go; an
/// image's portable name goes with them only when no other workspace has a name on it (it
/// is theirs too). Never a name a user gave, nor the embedded base's. Newest first, so
/// that an image goes before the one it was built from. Whether they may go (only when
/// `desired.complete`) is the caller's to decide; `apply` and `gc` share this rule.
pub fn unreferenced_images(
    desired: &Desired,
    owned_images: &[crate::engine::ImageSummary],
) -> Vec<UnreferencedImage> {
    let wanted: BTreeSet<&str> = desired
        .images
        .values()
        .flat_map(|i| [i.tag.as_str(), i.shared.as_str()])
        .chain(
            desired
                .snapshots
                .values()
                .flat_map(|s| [s.tag.as_str(), s.shared.as_str()]),
        )
        .collect();
    let mine = desired.image_repository_prefix.as_str();
    let mut owned: Vec<&crate::engine::ImageSummary> = owned_images.iter().collect();
    owned.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    let mut out = Vec::new();
    for image in owned {
        let Some(ImageLabels { kind, name, .. }) = ImageLabels::parse(&image.labels) else {
            continue;
        };
        let name = &name;
        if kind == Kind::Snapshot && desired.snapshots.contains_key(name) {
            continue;
        }
        if !matches!(kind, Kind::Image | Kind::Snapshot) {
            continue;
        }
        // An Image that cannot be made now (an unreadable context, no busybox) has no
        // current name to compare with: none of its names is removed on a guess.
        if kind == Kind::Image
            && desired
                .images
                .get(name)
                .is_some_and(|i| i.problem.is_some())
        {
            continue;
        }
        let is_mine = |tag: &str| crate::images::split_tag(tag).0.starts_with(mine);
        let others_use_it = image.repo_tags.iter().any(|t| {
            matches!(crate::images::claim(t), crate::images::Claim::Workspace(_)) && !is_mine(t)
        });
        // Ours first, then the portable name: the image goes with its last name.
        let ours = image.repo_tags.iter().filter(|t| is_mine(t));
        let portable = image.repo_tags.iter().filter(|t| {
            !others_use_it && crate::images::claim(t) == crate::images::Claim::Portable
        });
        let unwanted: Vec<&String> = ours
            .chain(portable)
            .filter(|t| !wanted.contains(t.as_str()))
            .collect();
        // A portable name goes only when this workspace lets go of the image entirely.
        let keeps_image = image
            .repo_tags
            .iter()
            .any(|t| is_mine(t) && wanted.contains(t.as_str()));
        for tag in unwanted {
            if keeps_image && !is_mine(tag) {
                continue;
            }
            out.push(UnreferencedImage {
                key: Key::new(kind, name.clone()),
                reference: tag.clone(),
                reason: unreferenced_reason(desired, kind, name, !is_mine(tag)),
            });
        }
    }
    out
}

/// Why an image name of `kind`/`name` that nothing declares any more goes: the name that
/// replaced it when the object is still declared (a build whose content changed), else
/// that the object is gone. `portable`: the name is the build's portable one (what bundles
/// and other checkouts know it by), replaced by the new build's portable name.
fn unreferenced_reason(desired: &Desired, kind: Kind, name: &str, portable: bool) -> String {
    match (kind, desired.images.get(name)) {
        (Kind::Image, Some(current)) if portable => {
            format!(
                "the old build's portable name, replaced by {}",
                current.shared
            )
        }
        (Kind::Image, Some(current)) => format!("the old build, replaced by {}", current.tag),
        _ => format!("{kind}/{name} is no longer declared"),
    }
}

/// Why an image left without a name by a rebuild is removed.
pub const UNTAGGED: &str = "an earlier build of it, left without a name";

/// The ids a forced rebuild takes this workspace's names from: what each rebuilt image's
/// name points at now. Only these are ever removed by id ([`untagged_images`]): a nameless
/// image is nobody's claim, so one this apply did not leave behind is not its to remove.
pub fn displaced_by_rebuild(
    desired: &Desired,
    observed: &Observed,
    named: &BTreeSet<String>,
) -> BTreeSet<String> {
    rebuild_closure(desired, named)
        .iter()
        .filter_map(|name| observed.image_id(&desired.images.get(name)?.tag))
        .map(str::to_string)
        .collect()
}

/// The images this apply's forced rebuild left without a name (`displaced_images`) that
/// no container of the workspace runs: the ids, newest first. One a container still runs
/// goes once that container is recreated.
pub fn untagged_images(observed: &Observed) -> Vec<(Key, String)> {
    let in_use: BTreeSet<&str> = observed
        .sandboxes
        .values()
        .flatten()
        .map(|c| c.image_id.trim_start_matches("sha256:"))
        .collect();
    let mut owned: Vec<&crate::engine::ImageSummary> = observed
        .owned_images
        .iter()
        .filter(|i| crate::engine::nameless(&i.repo_tags))
        .filter(|i| {
            let id = i.id.trim_start_matches("sha256:");
            observed
                .displaced_images
                .iter()
                .any(|d| d.trim_start_matches("sha256:") == id)
        })
        .filter(|i| !in_use.contains(i.id.trim_start_matches("sha256:")))
        .collect();
    owned.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    owned
        .into_iter()
        .filter_map(|i| {
            let labels = ImageLabels::parse(&i.labels)?;
            (labels.kind == Kind::Image).then(|| (Key::new(Kind::Image, labels.name), i.id.clone()))
        })
        .collect()
}

/// Removes the [`unreferenced_images`], or keeps them while the declarations are incomplete.
fn prune_images(desired: &Desired, observed: &Observed, plan: &mut Plan) {
    for (key, id) in untagged_images(observed) {
        if desired.complete {
            plan.actions.push(Action {
                key,
                op: Op::RemoveImage { reference: id },
                reason: UNTAGGED.to_string(),
                changes: Vec::new(),
            });
        }
    }
    for image in unreferenced_images(desired, &observed.owned_images) {
        if !desired.complete {
            if !plan.kept.iter().any(|k| k.key == image.key) {
                plan.kept.push(Kept {
                    key: image.key,
                    reason: INCOMPLETE.to_string(),
                });
            }
        } else {
            plan.actions.push(Action {
                key: image.key,
                op: Op::RemoveImage {
                    reference: image.reference,
                },
                reason: image.reason,
                changes: Vec::new(),
            });
        }
    }
}

fn sandbox_action(
    s: &DesiredSandbox,
    current: Option<&ObservedContainer>,
    image: Option<&str>,
    made_here: Option<&str>,
    key: Key,
    hold: Option<Held>,
) -> Option<Action> {
    let Some(c) = current else {
        return Some(Action {
            key,
            op: Op::Create { start: s.running },
            reason: "not found".into(),
            changes: Vec::new(),
        });
    };
    if c.spec_hash.as_deref() != Some(s.spec_hash.as_str()) {
        let changes = spec_changes(c.spec.as_deref(), &s.spec);
        return Some(Action {
            key,
            op: Op::Recreate { start: s.running },
            reason: recreate_reason(&changes),
            changes,
        });
    }
    let desired_sources: Vec<&std::path::Path> =
        s.bind_sources.iter().map(|b| b.path.as_path()).collect();
    if let Some(recorded) = &c.bind_sources
        && recorded
            .iter()
            .map(|p| p.as_path())
            .ne(desired_sources.iter().copied())
    {
        return Some(Action {
            key,
            op: Op::Recreate { start: s.running },
            reason: "bind mount source changed".into(),
            changes: vec![Change {
                path: "mounts".into(),
                old: Some(format!("{recorded:?}")),
                new: Some(format!("{desired_sources:?}")),
            }],
        });
    }
    // Not on a network it should be on: made before networks existed (on Podman's own), or
    // disconnected by hand. Attached while it runs, container and names kept (a one-shot's
    // run is over: nothing to attach).
    if let (crate::engine::NetworkMode::Joined(endpoints), Some(attached), true) = (
        &s.config.network,
        &c.networks,
        c.state.is_running() && !s.once,
    ) {
        let missing: Vec<String> = endpoints
            .iter()
            .map(|e| e.network.clone())
            .filter(|n| !attached.contains(n))
            .collect();
        if !missing.is_empty() {
            return Some(Action {
                key,
                reason: "not on its networks".into(),
                changes: vec![Change {
                    path: "networks".into(),
                    old: Some(attached.join(",")),
                    new: Some(
                        endpoints
                            .iter()
                            .map(|e| e.network.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                }],
                op: Op::Connect { networks: missing },
            });
        }
    }
    let image_changed = match (image, made_here) {
        (Some(image), _) => (!same_image(&c.image_id, image)).then(|| short_id(image)),
        (None, made) => made.map(str::to_string),
    };
    if let Some(new) = image_changed {
        return Some(Action {
            key,
            op: Op::Recreate { start: s.running },
            reason: "image changed".into(),
            changes: vec![Change {
                path: "image".into(),
                old: Some(short_id(&c.image_id)),
                new: Some(new),
            }],
        });
    }
    // Paused: stopped when declared stopped (the executor thaws it first), kept while
    // something holds it paused, thawed otherwise (paused by hand, or `state: running`).
    if c.state == crate::engine::ContainerState::Paused {
        return match (s.running, hold) {
            (false, _) => Some(Action {
                key,
                op: Op::Stop,
                reason: "declared stopped".into(),
                changes: Vec::new(),
            }),
            (true, Some(_)) => None,
            (true, None) => Some(Action {
                key,
                op: Op::Unpause,
                reason: "paused, declared running".into(),
                changes: Vec::new(),
            }),
        };
    }
    let running = c.state.is_running();
    if let (true, true, Some(held)) = (s.running, running, hold) {
        return Some(Action {
            key,
            op: Op::Pause,
            reason: held.reason().into(),
            changes: Vec::new(),
        });
    }
    match (s.running, running) {
        // A one-shot that ran is done: never started again (a new spec makes a new one).
        (true, false) if s.once && c.state != crate::engine::ContainerState::Created => None,
        (true, false) => Some(Action {
            key,
            op: Op::Start,
            reason: format!("not running: {}", state_name(&c.state)),
            changes: Vec::new(),
        }),
        (false, true) => Some(Action {
            key,
            op: Op::Stop,
            reason: "declared stopped".into(),
            changes: Vec::new(),
        }),
        _ => None,
    }
}

fn state_name(state: &crate::engine::ContainerState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{state:?}").to_lowercase())
}

/// An `image` change names the images by the names people know them by: the old one by
/// its name in this workspace (it goes once nothing runs it), the new one by the reference
/// the sandbox declares. An id stays where no name is known.
fn name_images(changes: &mut [Change], s: &DesiredSandbox, desired: &Desired, observed: &Observed) {
    for change in changes.iter_mut().filter(|c| c.path == "image") {
        if let Some(old) = &change.old
            && let Some(name) = image_name(old, desired, observed)
        {
            change.old = Some(name);
        }
        if let Some(new) = &change.new
            && is_short_id(new)
            && let Some(reference) = image_reference(s, desired)
        {
            change.new = Some(reference);
        }
    }
}

/// A name of the owned image whose id starts with `short` (this workspace's own first).
fn image_name(short: &str, desired: &Desired, observed: &Observed) -> Option<String> {
    if !is_short_id(short) {
        return None;
    }
    let image = observed
        .owned_images
        .iter()
        .find(|i| i.id.trim_start_matches("sha256:").starts_with(short))?;
    let mine = desired.image_repository_prefix.as_str();
    image
        .repo_tags
        .iter()
        .find(|t| !mine.is_empty() && t.starts_with(mine))
        .or_else(|| image.repo_tags.first())
        .cloned()
}

/// What [`short_id`] makes: 12 hex digits.
fn is_short_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// "spec changed", or which secrets changed when only their values did.
fn recreate_reason(changes: &[Change]) -> String {
    let rotated: Vec<&str> = changes
        .iter()
        .filter_map(|c| c.path.strip_prefix("spec.secrets."))
        .filter_map(|rest| rest.strip_suffix(".value"))
        .collect();
    match rotated.as_slice() {
        [] => "spec changed".into(),
        names if names.len() == changes.len() => {
            let named: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("secret {} changed", named.join(", "))
        }
        names => {
            let named: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("spec changed (and secret {})", named.join(", "))
        }
    }
}

/// Field-level differences between the spec a container was made from and the declared one.
/// No value of `env` is ever shown (an earlier version's label holds them as written, this
/// one as digests): an entry is named as added, removed or changed. Secrets are compared by
/// name, a changed value named `spec.secrets.NAME.value`.
pub fn spec_changes(old: Option<&str>, new: &serde_json::Value) -> Vec<Change> {
    let Some(mut old) = old.and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok()) else {
        return vec![Change {
            path: "spec".into(),
            old: None,
            new: Some("(previous spec not recorded)".into()),
        }];
    };
    let mut new = new.clone();
    let mut changes = Vec::new();
    env_changes(&mut old, &mut new, &mut changes);
    secret_changes(&mut old, &mut new, &mut changes);
    diff_values("spec", &old, &new, &mut changes);
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

/// Takes `env` out of both specs and reports its keys without values.
fn env_changes(old: &mut serde_json::Value, new: &mut serde_json::Value, out: &mut Vec<Change>) {
    let take = |v: &mut serde_json::Value| {
        v.as_object_mut()
            .and_then(|o| o.remove("env"))
            .and_then(|e| match e {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            })
            .unwrap_or_default()
    };
    let (a, b) = (take(old), take(new));
    let hidden = |v: &serde_json::Value| match v {
        // A reference names a secret, not a value: it can be shown.
        serde_json::Value::Object(_) => v.to_string(),
        _ => super::desired::HIDDEN.to_string(),
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let path = format!("spec.env.{k}");
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => {}
            // Written by an earlier version (a value, not a digest): not comparable, and
            // never shown. The spec hash alone decides whether it changed.
            (Some(serde_json::Value::String(x)), Some(serde_json::Value::String(_)))
                if !x.starts_with(crate::secrets::DIGEST_PREFIX) => {}
            (x, y) => out.push(Change {
                path,
                old: x.map(hidden),
                new: y.map(hidden),
            }),
        }
    }
}

/// Takes `secrets` out of both specs and compares them by name.
fn secret_changes(old: &mut serde_json::Value, new: &mut serde_json::Value, out: &mut Vec<Change>) {
    let take = |v: &mut serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        let list = v
            .as_object_mut()
            .and_then(|o| o.remove("secrets"))
            .and_then(|e| match e {
                serde_json::Value::Array(items) => Some(items),
                _ => None,
            })
            .unwrap_or_default();
        list.into_iter()
            .filter_map(|item| {
                let name = item.get("name")?.as_str()?.to_string();
                Some((name, item))
            })
            .collect()
    };
    let (a, b) = (take(old), take(new));
    let source = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("digest");
            o.remove("name");
        }
        v.to_string()
    };
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        match (a.get(name), b.get(name)) {
            (Some(x), Some(y)) => {
                if source(x) != source(y) {
                    out.push(Change {
                        path: format!("spec.secrets.{name}"),
                        old: Some(source(x)),
                        new: Some(source(y)),
                    });
                } else if x.get("digest") != y.get("digest") {
                    out.push(Change {
                        path: format!("spec.secrets.{name}.value"),
                        old: Some(super::desired::HIDDEN.to_string()),
                        new: Some("(rotated)".to_string()),
                    });
                }
            }
            (x, y) => out.push(Change {
                path: format!("spec.secrets.{name}"),
                old: x.map(source),
                new: y.map(source),
            }),
        }
    }
}

fn diff_values(
    path: &str,
    old: &serde_json::Value,
    new: &serde_json::Value,
    out: &mut Vec<Change>,
) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let sub = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_values(&sub, x, y, out),
                    (x, y) => out.push(Change {
                        path: sub,
                        old: x.map(Value::to_string),
                        new: y.map(Value::to_string),
                    }),
                }
            }
        }
        (a, b) if a != b => out.push(Change {
            path: path.to_string(),
            old: Some(a.to_string()),
            new: Some(b.to_string()),
        }),
        _ => {}
    }
}

/// The observed state a successful execution of `plan` leads to, computed without Podman.
/// Used by the property test "planning again against the result plans nothing".
#[cfg(test)]
pub fn simulate(desired: &Desired, observed: &Observed, plan: &Plan) -> Observed {
    use crate::engine::{ContainerState, OwnedContainer, VolumeSummary};
    let mut next = observed.clone();
    for action in &plan.actions {
        let name = &action.key.name;
        match &action.op {
            Op::Pull { reference } => {
                next.images.insert(
                    reference.clone(),
                    Some(format!("sha256:pulled-{reference}")),
                );
            }
            Op::Build { tag } | Op::LoadEmbedded { tag } | Op::Commit { tag } => {
                let id = Some(format!("sha256:made-{tag}"));
                if let Some(image) = desired.images.get(name) {
                    next.images.insert(image.shared.clone(), id.clone());
                }
                next.images.insert(tag.clone(), id);
            }
            Op::Tag { source, tag } => {
                let id = next.images.get(source).cloned().flatten();
                next.images.insert(tag.clone(), id);
            }
            Op::RemoveImage { reference } => {
                for image in &mut next.owned_images {
                    image.repo_tags.retain(|t| t != reference);
                }
            }
            Op::CreateVolume => {
                if let Some(v) = desired.volumes.get(name) {
                    next.volumes.insert(
                        name.clone(),
                        VolumeSummary {
                            name: v.volume_name.clone(),
                            labels: Default::default(),
                            mountpoint: String::new(),
                        },
                    );
                }
            }
            Op::RemoveVolume => {
                next.volumes.remove(name);
            }
            Op::CreateNetwork | Op::RecreateNetwork => {
                if let Some(n) = desired.networks.get(name) {
                    let labels = crate::engine::labels::ObjectLabels {
                        spec_hash: Some(n.spec_hash.clone()),
                        ..crate::engine::labels::ObjectLabels::new(
                            &crate::engine::Ownership::new(crate::engine::WorkspaceId::new("sim")),
                            Kind::Network,
                            name,
                        )
                    };
                    next.networks.insert(
                        name.clone(),
                        crate::engine::NetworkSummary {
                            name: n.network_name.clone(),
                            id: n.network_name.clone(),
                            labels: labels.to_labels(),
                            internal: n.internal,
                            subnets: n.subnet.iter().cloned().collect(),
                            containers: Vec::new(),
                        },
                    );
                }
            }
            Op::RemoveNetwork => {
                next.networks.remove(name);
            }
            Op::Remove { container } => {
                if let Some(cs) = next.sandboxes.get_mut(name) {
                    cs.retain(|c| &c.container_name != container);
                    if cs.is_empty() {
                        next.sandboxes.remove(name);
                    }
                }
            }
            Op::Connect { .. } => {}
            Op::RemoveMember { container } => {
                if let Some(ms) = next.pools.get_mut(name) {
                    ms.retain(|m| &m.container_name != container);
                }
            }
            Op::AddMembers { count } => {
                let Some(p) = desired.pools.get(name) else {
                    continue;
                };
                let own = crate::engine::Ownership::new(crate::engine::WorkspaceId::new("sim"));
                let image_id = p
                    .member
                    .as_ref()
                    .and_then(|m| image_reference(m, desired))
                    .and_then(|r| next.image_id(&r).map(str::to_string))
                    .unwrap_or_default();
                let ms = next.pools.entry(name.clone()).or_default();
                for i in 0..*count {
                    let id = format!("sim{}-{i}", ms.len());
                    let container_name =
                        crate::reconcile::pool::member_names(&own, name, &id).ready;
                    ms.push(crate::reconcile::pool::ObservedMember {
                        pool: name.clone(),
                        member_id: id,
                        state: crate::reconcile::pool::MemberState::Ready,
                        container_id: format!("id-{container_name}"),
                        handle: OwnedContainer::for_tests(&container_name),
                        container_name,
                        running: true,
                        spec_hash: p.generation().map(str::to_string),
                        image_id: image_id.clone(),
                        created: next.now,
                    });
                }
            }
            Op::Pause | Op::Unpause => {
                let paused = action.op == Op::Pause;
                if let (Some(s), Some(cs)) =
                    (desired.sandboxes.get(name), next.sandboxes.get_mut(name))
                {
                    for c in cs
                        .iter_mut()
                        .filter(|c| c.container_name == s.container_name)
                    {
                        c.state = if paused {
                            ContainerState::Paused
                        } else {
                            ContainerState::Running
                        };
                    }
                }
            }
            Op::Create { .. } | Op::Recreate { .. } | Op::Start | Op::Stop => {
                let Some(s) = desired.sandboxes.get(name) else {
                    continue;
                };
                let image = image_reference(s, desired)
                    .and_then(|r| next.images.get(&r).cloned().flatten())
                    .unwrap_or_default();
                let cs = next.sandboxes.entry(name.clone()).or_default();
                cs.retain(|c| c.container_name != s.container_name);
                cs.push(ObservedContainer {
                    id: format!("id-{}", s.container_name),
                    container_name: s.container_name.clone(),
                    // A start of a sandbox held paused ends paused (`execute` pauses it).
                    state: if s.running && held_paused(s, observed).is_some() {
                        ContainerState::Paused
                    } else if s.running {
                        ContainerState::Running
                    } else {
                        ContainerState::Exited
                    },
                    spec_hash: Some(s.spec_hash.clone()),
                    spec: Some(s.spec.to_string()),
                    image_id: image,
                    created: 0,
                    bind_sources: Some(s.bind_sources.iter().map(|b| b.path.clone()).collect()),
                    exit: Default::default(),
                    ports: Vec::new(),
                    networks: None,
                    handle: OwnedContainer::for_tests(&s.container_name),
                });
            }
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::{ContainerConfig, ContainerState, OwnedContainer, VolumeSummary};
    use crate::reconcile::desired::{DesiredVolume, ImageSource};
    use proptest::prelude::*;

    fn sandbox(
        name: &str,
        hash: &str,
        running: bool,
        deps: &[&str],
        volumes: &[&str],
    ) -> DesiredSandbox {
        DesiredSandbox {
            name: name.into(),
            container_name: format!("pd-{name}"),
            image: ImageSource::Reference("img:1".into()),
            config: ContainerConfig::idle(Kind::Sandbox, name, &format!("pd-{name}"), ""),
            spec_hash: hash.into(),
            spec: serde_json::json!({"workdir": hash}),
            running,
            paused: false,
            once: false,
            depends_on: deps
                .iter()
                .map(|d| pocket_dock_spec::model::Dependency::started(*d))
                .collect(),
            volumes: volumes.iter().map(|v| v.to_string()).collect(),
            networks: Vec::new(),
            hooks: None,
            bind_sources: Vec::new(),
            probe: None,
            document_hash: format!("doc-{hash}"),
            limits: Default::default(),
            secrets: None,
            problem: None,
            egress: None,
        }
    }

    fn container(name: &str, hash: &str, state: ContainerState, image: &str) -> ObservedContainer {
        ObservedContainer {
            id: format!("id-{name}"),
            container_name: format!("pd-{name}"),
            state,
            spec_hash: Some(hash.into()),
            spec: Some(serde_json::json!({"workdir": hash}).to_string()),
            image_id: image.into(),
            created: 0,
            bind_sources: None,
            exit: Default::default(),
            networks: None,
            ports: Vec::new(),
            handle: OwnedContainer::for_tests(&format!("pd-{name}")),
        }
    }

    fn desired(sandboxes: Vec<DesiredSandbox>, volumes: &[&str]) -> Desired {
        Desired {
            sandboxes: sandboxes.into_iter().map(|s| (s.name.clone(), s)).collect(),
            volumes: volumes
                .iter()
                .map(|v| {
                    (
                        v.to_string(),
                        DesiredVolume {
                            name: v.to_string(),
                            volume_name: format!("pd-{v}"),
                        },
                    )
                })
                .collect(),
            complete: true,
            ..Desired::default()
        }
    }

    fn ops(plan: &Plan) -> Vec<String> {
        plan.actions
            .iter()
            .map(|a| format!("{} {}", a.op.verb(), a.key))
            .collect()
    }

    fn observed_web(state: ContainerState) -> Observed {
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:img".into()));
        o.sandboxes.insert(
            "web".into(),
            vec![container("web", "h", state, "sha256:img")],
        );
        o
    }

    #[test]
    fn a_sandbox_declared_paused_is_made_then_paused_and_stays_so() {
        let mut s = sandbox("web", "h", true, &[], &[]);
        s.paused = true;
        let d = desired(vec![s], &[]);
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:img".into()));
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(ops(&p), ["create Sandbox/web"]);
        let after = simulate(&d, &o, &p);
        assert_eq!(after.sandboxes["web"][0].state, ContainerState::Paused);
        assert!(plan(&d, &after, PlanOptions::default()).is_empty());
        // Thawed by hand: paused again. A running one: paused, never recreated.
        let p = plan(
            &d,
            &observed_web(ContainerState::Running),
            PlanOptions::default(),
        );
        assert_eq!(ops(&p), ["pause Sandbox/web"]);
        assert_eq!(p.actions[0].reason, "declared paused");
    }

    #[test]
    fn a_paused_container_is_thawed_unless_something_holds_it_paused() {
        let d = desired(vec![sandbox("web", "h", true, &[], &[])], &[]);
        let paused = observed_web(ContainerState::Paused);
        let p = plan(&d, &paused, PlanOptions::default());
        assert_eq!(ops(&p), ["unpause Sandbox/web"]);
        // `pocket-dock pause` holds it: nothing to do; a running one is paused.
        let mut held = paused.clone();
        held.pauses.insert(
            "web".into(),
            crate::status::types::PauseRecord {
                by: "pocket-dock pause (user t)".into(),
                at: None,
            },
        );
        assert!(plan(&d, &held, PlanOptions::default()).is_empty());
        let mut running = observed_web(ContainerState::Running);
        running.pauses = held.pauses.clone();
        let p = plan(&d, &running, PlanOptions::default());
        assert_eq!(ops(&p), ["pause Sandbox/web"]);
        assert_eq!(p.actions[0].reason, "paused by `pocket-dock pause`");
        // Declared stopped: stopped (the executor thaws it first), whatever holds it.
        let stopped = desired(vec![sandbox("web", "h", false, &[], &[])], &[]);
        assert_eq!(
            ops(&plan(&stopped, &held, PlanOptions::default())),
            ["stop Sandbox/web"]
        );
    }

    #[test]
    fn from_nothing_volumes_and_pulls_come_first_then_dependencies_in_order() {
        let d = desired(
            vec![
                sandbox("web", "h", true, &["db"], &["data"]),
                sandbox("db", "h", true, &[], &[]),
            ],
            &["data"],
        );
        let mut o = Observed::default();
        o.images.insert("img:1".into(), None);
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(
            ops(&p),
            [
                "create Volume/data",
                "pull Sandbox/db",
                "create Sandbox/db",
                "create Sandbox/web"
            ]
        );
        assert!(p.actions.iter().all(|a| !a.reason.is_empty()));
    }

    #[test]
    fn a_converged_workspace_plans_nothing() {
        let d = desired(vec![sandbox("web", "h", true, &[], &[])], &[]);
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:aaa".into()));
        o.sandboxes.insert(
            "web".into(),
            vec![container("web", "h", ContainerState::Running, "aaa")],
        );
        assert!(
            plan(&d, &o, PlanOptions::default()).is_empty(),
            "sha256: prefixes do not matter"
        );
    }

    #[test]
    fn env_values_are_never_shown_and_a_rotated_secret_is_named() {
        use serde_json::json;
        let digest = |n: u8| format!("{}{}", crate::secrets::DIGEST_PREFIX, n);
        // An earlier version's label holds values: never shown, not compared.
        let old = json!({"env": {"A": "hunter2", "B": "same"}, "workdir": "/a"}).to_string();
        let new = json!({"env": {"A": digest(1), "B": digest(2), "C": digest(3)}, "workdir": "/b"});
        let changes = spec_changes(Some(&old), &new);
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "spec.env.C: added (hidden)",
                "spec.workdir: \"/a\" -> \"/b\""
            ]
        );
        // Digests on both sides: a changed one is named, without values.
        let old = json!({"env": {"A": digest(1), "R": {"valueFrom": {"secret": "s"}}}}).to_string();
        let new = json!({"env": {"A": digest(9)}});
        let shown: Vec<String> = spec_changes(Some(&old), &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "spec.env.A: (hidden) -> (hidden)",
                "spec.env.R: removed {\"valueFrom\":{\"secret\":\"s\"}}"
            ]
        );
        // Only a secret's value changed: the reason names it.
        let old = json!({"secrets": [{"name": "tok", "file": "t", "digest": digest(1)}]});
        let new = json!({"secrets": [{"name": "tok", "file": "t", "digest": digest(2)}]});
        let changes = spec_changes(Some(&old.to_string()), &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].to_string(),
            "spec.secrets.tok.value: (hidden) -> (rotated)"
        );
        assert_eq!(recreate_reason(&changes), "secret `tok` changed");
        let moved = json!({"secrets": [{"name": "tok", "file": "u", "digest": digest(2)}]});
        let changes = spec_changes(Some(&old.to_string()), &moved);
        assert_eq!(
            changes[0].to_string(),
            "spec.secrets.tok: {\"file\":\"t\"} -> {\"file\":\"u\"}"
        );
        assert_eq!(recreate_reason(&changes), "spec changed");
    }

    #[test]
    fn a_sandbox_whose_secret_cannot_be_read_is_blocked_and_left_alone() {
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:aaa".into()));
        o.sandboxes.insert(
            "web".into(),
            vec![container(
                "web",
                "old",
                ContainerState::Running,
                "sha256:aaa",
            )],
        );
        let mut s = sandbox("web", "new", true, &[], &[]);
        s.problem = Some("secret `tok` of Sandbox/web: cannot read /x: gone".into());
        let p = plan(&desired(vec![s], &[]), &o, PlanOptions::default());
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.blocked.len(), 1);
        assert!(p.blocked[0].reason.contains("secret `tok`"));
    }

    #[test]
    fn drift_recreates_with_a_field_diff_or_starts_or_stops() {
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:aaa".into()));
        o.sandboxes.insert(
            "web".into(),
            vec![container(
                "web",
                "old",
                ContainerState::Running,
                "sha256:aaa",
            )],
        );
        let p = plan(
            &desired(vec![sandbox("web", "new", true, &[], &[])], &[]),
            &o,
            PlanOptions::default(),
        );
        assert_eq!(ops(&p), ["recreate Sandbox/web"]);
        assert_eq!(p.actions[0].reason, "spec changed");
        assert_eq!(
            p.actions[0].changes[0].to_string(),
            "spec.workdir: \"old\" -> \"new\""
        );

        o.sandboxes.insert(
            "web".into(),
            vec![container("web", "h", ContainerState::Running, "sha256:bbb")],
        );
        let p = plan(
            &desired(vec![sandbox("web", "h", true, &[], &[])], &[]),
            &o,
            PlanOptions::default(),
        );
        assert_eq!(
            (ops(&p), p.actions[0].reason.as_str()),
            (vec!["recreate Sandbox/web".to_string()], "image changed")
        );

        o.sandboxes.insert(
            "web".into(),
            vec![container("web", "h", ContainerState::Exited, "sha256:aaa")],
        );
        let p = plan(
            &desired(vec![sandbox("web", "h", true, &[], &[])], &[]),
            &o,
            PlanOptions::default(),
        );
        assert_eq!(
            (ops(&p), p.actions[0].reason.as_str()),
            (vec!["start Sandbox/web".to_string()], "not running: exited")
        );

        o.sandboxes.insert(
            "web".into(),
            vec![container("web", "h", ContainerState::Running, "sha256:aaa")],
        );
        let p = plan(
            &desired(vec![sandbox("web", "h", false, &[], &[])], &[]),
            &o,
            PlanOptions::default(),
        );
        assert_eq!(ops(&p), ["stop Sandbox/web"]);
    }

    #[test]
    fn a_sandbox_that_keeps_exiting_waits_out_its_back_off() {
        let d = desired(vec![sandbox("web", "h", true, &[], &[])], &[]);
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:img".into()));
        let mut c = container("web", "h", ContainerState::Exited, "sha256:img");
        c.exit = restarts::Exit {
            code: Some(1),
            oom_killed: false,
            started_at: Some(990),
            finished_at: Some(995),
        };
        o.sandboxes.insert("web".into(), vec![c.clone()]);
        o.now = 1000;
        // First exit: started again at once.
        assert_eq!(
            ops(&plan(&d, &o, PlanOptions::default())),
            ["start Sandbox/web"]
        );
        // After a restart (10 s back-off now), 5 s after the exit: it waits 5 s more.
        o.restarts.insert(
            "web".into(),
            restarts::RestartRecord {
                container_id: c.id.clone(),
                restart_count: 1,
                backoff_ms: 10_000,
                last_exit_code: Some(1),
                last_finished_at: Some(980),
                restarted_at: None,
            },
        );
        let p = plan(&d, &o, PlanOptions::default());
        assert!(p.actions.is_empty());
        assert_eq!(p.crash_loops.len(), 1);
        assert_eq!(p.crash_loops[0].retry_in_ms, 5_000);
        assert_eq!(
            p.crash_loops[0].reason(),
            "back-off 10s restarting failed container (exit code 1, 1 restart); next start in 5s"
        );
        o.now = 1005;
        assert_eq!(
            ops(&plan(&d, &o, PlanOptions::default())),
            ["start Sandbox/web"]
        );
    }

    fn limited(name: &str) -> DesiredSandbox {
        let mut s = sandbox(name, "h", true, &[], &[]);
        s.limits = lifetime::Limits {
            idle_timeout: Some(std::time::Duration::from_secs(1800)),
            max_lifetime: Some(std::time::Duration::from_secs(8 * 3600)),
        };
        s
    }

    /// The declaration `doc-h` first reconciled at `ms`.
    fn reconciled_since(ms: i64) -> lifetime::LifetimeRecord {
        lifetime::LifetimeRecord {
            document_hash: "doc-h".into(),
            since_ms: ms,
            expiry: None,
        }
    }

    fn started_at(mut c: ObservedContainer, secs: i64) -> ObservedContainer {
        c.created = secs;
        c.exit.started_at = Some(secs);
        c
    }

    #[test]
    fn an_idle_sandbox_is_stopped_and_stays_stopped_until_its_declaration_changes() {
        let d = desired(vec![limited("web")], &[]);
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:img".into()));
        let running = started_at(
            container("web", "h", ContainerState::Running, "sha256:img"),
            0,
        );
        o.sandboxes.insert("web".into(), vec![running.clone()]);
        o.lifetimes.insert("web".into(), reconciled_since(0));
        // 20 minutes in: nothing to do, woken again when the 30 minutes are up.
        o.now_ms = 1_200_000;
        let p = plan(&d, &o, PlanOptions::default());
        assert!(p.actions.is_empty());
        assert_eq!(p.lifetime_checks[0].in_ms, 600_999);
        // 31 minutes in: stopped, with the reason.
        o.now_ms = 1_860_000;
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(ops(&p), ["stop Sandbox/web"]);
        assert_eq!(p.actions[0].reason, "idle for 30m (idleTimeout)");
        assert_eq!(
            (p.expired[0].recorded, p.expired[0].expiry.reason),
            (false, lifetime::ExpiryReason::IdleTimeout)
        );
        // An exec 10 minutes ago keeps it alive.
        o.activity.insert(
            "web".into(),
            lifetime::Activity {
                last_ms: Some(1_260_000),
                live: false,
            },
        );
        assert!(plan(&d, &o, PlanOptions::default()).actions.is_empty());
        o.activity.clear();

        // Once stopped and recorded, nothing starts it again: not the plan, not later passes.
        let stopped = started_at(
            container("web", "h", ContainerState::Exited, "sha256:img"),
            0,
        );
        o.sandboxes.insert("web".into(), vec![stopped]);
        o.lifetimes.insert(
            "web".into(),
            lifetime::LifetimeRecord {
                document_hash: "doc-h".into(),
                since_ms: 0,
                expiry: p.expired[0].expiry.clone().into(),
            },
        );
        o.now_ms = 9_000_000;
        let held = plan(&d, &o, PlanOptions::default());
        assert!(held.actions.is_empty(), "{:?}", ops(&held));
        assert!(held.expired[0].recorded);
        assert!(held.expired[0].reason().starts_with("stopped at "));
        assert!(held.expired[0].reason().contains(
            "idle for 30m (idleTimeout); it stays stopped until its declaration changes or `pocket-dock apply --resume --only Sandbox/web`"
        ));
        // A dependant waiting for it to be ready is told why, and does not wait in vain.
        let mut app = sandbox("app", "h", true, &[], &[]);
        app.depends_on = vec![pocket_dock_spec::model::Dependency {
            name: "web".into(),
            condition: pocket_dock_spec::model::Condition::Ready,
        }];
        let with_app = desired(vec![limited("web"), app], &[]);
        let p = plan(&with_app, &o, PlanOptions::default());
        let blocked = &p.blocked[0];
        assert_eq!(blocked.key, Key::new(Kind::Sandbox, "app"));
        assert!(!blocked.pending);
        assert!(
            blocked
                .reason
                .contains("was stopped by its lifetime (idle for 30m)")
        );

        // Another declaration: the record no longer holds, and it is started.
        let mut edited = limited("web");
        edited.document_hash = "doc-h2".into();
        let p = plan(&desired(vec![edited], &[]), &o, PlanOptions::default());
        assert_eq!(ops(&p), ["start Sandbox/web"]);
    }

    #[test]
    fn at_its_lifetime_a_sandbox_is_removed_and_not_created_again() {
        let d = desired(vec![limited("web")], &[]);
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:img".into()));
        let mut busy = started_at(
            container("web", "h", ContainerState::Running, "sha256:img"),
            0,
        );
        busy.exit.started_at = Some(28_000);
        o.sandboxes.insert("web".into(), vec![busy]);
        o.lifetimes.insert("web".into(), reconciled_since(0));
        o.activity.insert(
            "web".into(),
            lifetime::Activity {
                last_ms: None,
                live: true,
            },
        );
        o.now_ms = 28_801_000;
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(ops(&p), ["remove Sandbox/web"]);
        assert_eq!(p.actions[0].reason, "lifetime 8h reached (maxLifetime)");
        assert_eq!(
            p.actions[0].op,
            Op::Remove {
                container: "pd-web".into()
            }
        );
        o.sandboxes.clear();
        o.lifetimes.insert(
            "web".into(),
            lifetime::LifetimeRecord {
                document_hash: "doc-h".into(),
                since_ms: 0,
                expiry: Some(p.expired[0].expiry.clone()),
            },
        );
        let mut with_snapshot = d.clone();
        with_snapshot.snapshots.insert(
            "snap".into(),
            super::super::desired::DesiredSnapshot {
                name: "snap".into(),
                sandbox: "web".into(),
                generation: 1,
                description: None,
                tag: "localhost/pocket-dock/ws/snap:gen-1".into(),
                shared: "localhost/pocket-dock/snapshots/snap:gen-1".into(),
            },
        );
        o.images
            .insert("localhost/pocket-dock/ws/snap:gen-1".into(), None);
        let p = plan(&with_snapshot, &o, PlanOptions::default());
        assert!(p.actions.is_empty(), "{:?}", ops(&p));
        assert_eq!(
            p.expired[0].expiry.reason,
            lifetime::ExpiryReason::MaxLifetime
        );
        assert_eq!(
            p.blocked[0].reason,
            "its source Sandbox/web was removed by its lifetime"
        );
        // A declaration reconciled later counts from then: a record since 1 h ago keeps a
        // container made 8 h ago alive.
        o.lifetimes.insert(
            "web".into(),
            lifetime::LifetimeRecord {
                document_hash: "doc-h".into(),
                since_ms: 28_801_000 - 3_600_000,
                expiry: None,
            },
        );
        o.sandboxes.insert(
            "web".into(),
            vec![started_at(
                container("web", "h", ContainerState::Running, "sha256:img"),
                0,
            )],
        );
        o.activity.insert(
            "web".into(),
            lifetime::Activity {
                last_ms: Some(28_800_000),
                live: false,
            },
        );
        assert!(plan(&d, &o, PlanOptions::default()).actions.is_empty());
    }

    #[test]
    fn a_bind_source_that_resolves_elsewhere_now_recreates_the_container() {
        let mut web = sandbox("web", "h", true, &[], &[]);
        web.bind_sources = vec![super::super::desired::BindSource {
            path: "/ws/data-real".into(),
            target: "/data".into(),
            within: Some("/ws".into()),
        }];
        let d = desired(vec![web], &[]);
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:img".into()));
        let mut c = container("web", "h", ContainerState::Running, "sha256:img");
        c.bind_sources = Some(vec!["/ws/data".into()]);
        o.sandboxes.insert("web".into(), vec![c.clone()]);
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(ops(&p), ["recreate Sandbox/web"]);
        assert_eq!(p.actions[0].reason, "bind mount source changed");
        // The same sources, or none recorded (made by an older version): nothing to do.
        for recorded in [Some(vec!["/ws/data-real".into()]), None] {
            c.bind_sources = recorded;
            o.sandboxes.insert("web".into(), vec![c.clone()]);
            assert!(plan(&d, &o, PlanOptions::default()).is_empty());
        }
    }

    #[test]
    fn undeclared_containers_are_removed_but_volumes_only_when_asked() {
        let mut o = Observed::default();
        o.sandboxes.insert(
            "old".into(),
            vec![container("old", "h", ContainerState::Running, "a")],
        );
        o.volumes.insert(
            "data".into(),
            VolumeSummary {
                name: "pd-data".into(),
                labels: Default::default(),
                mountpoint: String::new(),
            },
        );
        let nothing = desired(Vec::new(), &[]);
        let p = plan(&nothing, &o, PlanOptions::default());
        assert_eq!(ops(&p), ["remove Sandbox/old"]);
        assert_eq!(p.actions[0].reason, "no longer declared");
        assert_eq!(p.kept_volumes, ["data"]);
        let prune_volumes = PlanOptions {
            prune_volumes: true,
            ..PlanOptions::default()
        };
        let p = plan(&nothing, &o, prune_volumes);
        assert_eq!(ops(&p), ["remove Sandbox/old", "remove Volume/data"]);

        // An incomplete picture (a file does not parse) proves nothing is unwanted.
        let incomplete = Desired {
            complete: false,
            ..nothing
        };
        let p = plan(&incomplete, &o, prune_volumes);
        assert!(p.is_empty(), "{:?}", ops(&p));
        assert_eq!(
            p.kept,
            [Kept {
                key: Key::new(Kind::Sandbox, "old"),
                reason: INCOMPLETE.to_string()
            }]
        );
        assert_eq!(p.kept_volumes, ["data"]);
    }

    #[test]
    fn a_stray_container_next_to_the_declared_one_is_removed() {
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("a".into()));
        let mut stray = container("web", "h", ContainerState::Running, "a");
        stray.container_name = "pd-web-old".into();
        o.sandboxes.insert(
            "web".into(),
            vec![stray, container("web", "h", ContainerState::Running, "a")],
        );
        let p = plan(
            &desired(vec![sandbox("web", "h", true, &[], &[])], &[]),
            &o,
            PlanOptions::default(),
        );
        assert_eq!(ops(&p), ["remove Sandbox/web"]);
        assert!(matches!(&p.actions[0].op, Op::Remove { container } if container == "pd-web-old"));
    }

    fn image(name: &str, origin: ImageOrigin, tag: &str, parent: Option<&str>) -> DesiredImage {
        DesiredImage {
            name: name.into(),
            origin,
            tag: tag.into(),
            shared: tag.into(),
            parent: parent.map(str::to_string),
            problem: None,
            pull_secret: None,
        }
    }

    fn build_origin() -> ImageOrigin {
        ImageOrigin::Build(crate::images::BuildRecipe {
            context: "/nowhere".into(),
            containerfile: None,
            args: Default::default(),
            target: None,
            base: None,
            workspace_root: "/".into(),
            secret_files: Default::default(),
        })
    }

    #[test]
    fn an_image_that_cannot_be_made_blocks_its_dependants() {
        let mut s = sandbox("web", "h", true, &[], &[]);
        s.image = ImageSource::Object(Key::new(Kind::Image, "step-2"));
        let mut d = desired(vec![s], &[]);
        let mut broken = image("step-1", build_origin(), "", None);
        broken.problem = Some("no Containerfile".into());
        d.images.insert("step-1".into(), broken);
        d.images.insert(
            "step-2".into(),
            image("step-2", build_origin(), "t2", Some("step-1")),
        );
        // Its names from before stay: which one is current cannot be known now.
        d.image_repository_prefix = "localhost/pocket-dock/ws/".into();
        let o = Observed {
            owned_images: vec![crate::engine::ImageSummary {
                id: "sha256:old".into(),
                repo_tags: vec!["localhost/pocket-dock/ws/step-1:0123".into()],
                labels: crate::engine::Ownership::new(crate::engine::WorkspaceId::new("ws"))
                    .labels_for(Kind::Image, "step-1"),
                size: 0,
                created: 1,
            }],
            ..Observed::default()
        };
        let p = plan(&d, &o, PlanOptions::default());
        assert!(p.is_empty(), "{:?}", ops(&p));
        let blocked: Vec<String> = p.blocked.iter().map(|b| b.key.to_string()).collect();
        assert_eq!(blocked, ["Image/step-1", "Image/step-2", "Sandbox/web"]);
        assert_eq!(p.blocked[1].reason, "waiting for Image/step-1");
    }

    #[test]
    fn acting_on_an_image_acts_on_what_is_built_on_it_and_runs_it() {
        let mut s = sandbox("web", "h", true, &[], &[]);
        s.image = ImageSource::Object(Key::new(Kind::Image, "step-2"));
        let mut d = desired(vec![s, sandbox("other", "h", true, &[], &[])], &[]);
        for (name, parent) in [
            ("step-1", None),
            ("step-2", Some("step-1")),
            ("step-3", Some("step-2")),
        ] {
            d.images
                .insert(name.into(), image(name, build_origin(), name, parent));
        }
        let only = BTreeSet::from([Key::new(Kind::Image, "step-2")]);
        let all: Vec<String> = d
            .with_dependants(&only)
            .iter()
            .map(Key::to_string)
            .collect();
        assert_eq!(all, ["Sandbox/web", "Image/step-2", "Image/step-3"]);
    }

    #[test]
    fn an_absent_build_is_built_and_its_sandbox_recreated_in_the_same_apply() {
        let mut s = sandbox("web", "h", true, &[], &[]);
        s.image = ImageSource::Object(Key::new(Kind::Image, "app"));
        let mut d = desired(vec![s], &[]);
        d.images.insert(
            "app".into(),
            image("app", build_origin(), "repo/app:new", None),
        );
        let mut o = Observed::default();
        o.images.insert("repo/app:new".into(), None);
        o.sandboxes.insert(
            "web".into(),
            vec![container("web", "h", ContainerState::Running, "sha256:old")],
        );
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(ops(&p), ["build Image/app", "recreate Sandbox/web"]);
        let after = simulate(&d, &o, &p);
        assert!(plan(&d, &after, PlanOptions::default()).is_empty());
    }

    /// base -> step-1 -> step-2 -> step-3, and base -> sibling; `web` runs step-2, `side`
    /// runs sibling; everything present and current.
    fn chain() -> (Desired, Observed) {
        let on = |name: &str, image: &str| {
            let mut s = sandbox(name, "h", true, &[], &[]);
            s.image = ImageSource::Object(Key::new(Kind::Image, image));
            s
        };
        let mut d = desired(vec![on("web", "step-2"), on("side", "sibling")], &[]);
        d.image_repository_prefix = "localhost/pocket-dock/ws/".into();
        let mut o = Observed::default();
        for (name, parent) in [
            ("base", None),
            ("step-1", Some("base")),
            ("step-2", Some("step-1")),
            ("step-3", Some("step-2")),
            ("sibling", Some("base")),
        ] {
            let origin = if parent.is_none() {
                ImageOrigin::Embedded
            } else {
                build_origin()
            };
            d.images.insert(
                name.into(),
                image(name, origin, &format!("t-{name}"), parent),
            );
            o.images
                .insert(format!("t-{name}"), Some(format!("sha256:{name}-1")));
        }
        for (name, image) in [("web", "step-2"), ("side", "sibling")] {
            o.sandboxes.insert(
                name.into(),
                vec![container(
                    name,
                    "h",
                    ContainerState::Running,
                    &format!("sha256:{image}-1"),
                )],
            );
        }
        (d, o)
    }

    #[test]
    fn a_forced_rebuild_takes_the_images_built_on_it_not_its_parents_or_siblings() {
        let (d, o) = chain();
        let named = BTreeSet::from(["step-1".to_string()]);
        let closure: Vec<String> = rebuild_closure(&d, &named).into_iter().collect();
        assert_eq!(closure, ["step-1", "step-2", "step-3"]);
        // Unknown names are the caller's to refuse; here they are simply not declared.
        let unknown = BTreeSet::from(["nope".to_string()]);
        assert!(rebuild_closure(&d, &unknown).is_empty());

        let mut p = plan(&d, &o, PlanOptions::default());
        assert!(p.is_empty(), "{:?}", ops(&p));
        force_rebuilds(&mut p, &d, &named);
        assert_eq!(
            ops(&p),
            [
                "build Image/step-1",
                "build Image/step-2",
                "build Image/step-3"
            ]
        );
        assert_eq!(p.actions[0].reason, "forced by --rebuild");
        assert_eq!(
            p.actions[1].reason,
            "built on Image/step-1, which is rebuilt (--rebuild)"
        );
        // Nothing is built twice: one named with its parent is built once, as named.
        let mut p = plan(&d, &o, PlanOptions::default());
        force_rebuilds(
            &mut p,
            &d,
            &BTreeSet::from(["step-1".to_string(), "step-2".to_string()]),
        );
        assert_eq!(p.actions.len(), 3);
        assert_eq!(p.actions[1].reason, "forced by --rebuild");
        // Every origin has its own way of being made again; `pullPolicy: Never` none.
        let mut d = d;
        for (name, policy) in [("pulled", PullPolicy::Always), ("kept", PullPolicy::Never)] {
            d.images.insert(
                name.into(),
                image(
                    name,
                    ImageOrigin::Pull { policy },
                    &format!("r/{name}:1"),
                    None,
                ),
            );
        }
        let mut o = o;
        o.images.insert("r/kept:1".into(), Some("sha256:k".into()));
        o.images
            .insert("r/pulled:1".into(), Some("sha256:p".into()));
        let mut p = plan(&d, &o, PlanOptions::default());
        force_rebuilds(&mut p, &d, &Rebuild::All.named(&d));
        assert_eq!(
            ops(&p),
            [
                "load Image/base",
                "pull Image/pulled",
                "build Image/sibling",
                "build Image/step-1",
                "build Image/step-2",
                "build Image/step-3"
            ]
        );
    }

    #[test]
    fn a_rebuild_moves_only_the_sandboxes_whose_image_id_changed() {
        let (d, mut o) = chain();
        // A full cache hit: the same ids. Nothing moves.
        assert!(plan(&d, &o, PlanOptions::default()).is_empty());
        // step-1 and step-2 came out new; sibling did not.
        o.images
            .insert("t-step-1".into(), Some("sha256:step-1-2".into()));
        o.images
            .insert("t-step-2".into(), Some("sha256:step-2-2".into()));
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(ops(&p), ["recreate Sandbox/web"]);
        assert_eq!(p.actions[0].reason, "image changed");
    }

    #[test]
    fn an_edited_build_names_the_old_image_and_the_new_one_in_every_line() {
        let (mut d, mut o) = chain();
        let old_id = format!("sha256:{}", "ab".repeat(32));
        let (old, old_portable) = (
            "localhost/pocket-dock/ws/step-3:old",
            "localhost/pocket-dock/images/step-3:old",
        );
        let (new, new_portable) = (
            "localhost/pocket-dock/ws/step-3:new",
            "localhost/pocket-dock/images/step-3:new",
        );
        let step3 = d.images.get_mut("step-3").unwrap();
        step3.tag = new.into();
        step3.shared = new_portable.into();
        let mut on = sandbox("tool", "h", true, &[], &[]);
        on.image = ImageSource::Object(Key::new(Kind::Image, "step-3"));
        d.sandboxes.insert("tool".into(), on);
        o.images.insert(new.into(), None);
        o.images.insert(new_portable.into(), None);
        o.sandboxes.insert(
            "tool".into(),
            vec![container("tool", "h", ContainerState::Running, &old_id)],
        );
        o.owned_images = vec![crate::engine::ImageSummary {
            id: old_id.clone(),
            repo_tags: vec![old_portable.into(), old.into()],
            labels: crate::engine::Ownership::new(crate::engine::WorkspaceId::new("ws"))
                .labels_for(Kind::Image, "step-3"),
            size: 0,
            created: 1,
        }];
        let p = plan(&d, &o, PlanOptions::default());
        let lines: Vec<String> = p
            .actions
            .iter()
            .map(|a| {
                let what = match &a.op {
                    Op::RemoveImage { reference } => format!(" {reference}"),
                    _ => String::new(),
                };
                let changes: Vec<String> = a.changes.iter().map(|c| format!("; {c}")).collect();
                format!(
                    "{} {}{what} ({}){}",
                    a.op.verb(),
                    a.key,
                    a.reason,
                    changes.concat()
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "build Image/step-3 (its Containerfile, context or parent image changed)"
                    .to_string(),
                format!("recreate Sandbox/tool (image changed); image: {old} -> {new}"),
                format!("remove Image/step-3 {old} (the old build, replaced by {new})"),
                format!(
                    "remove Image/step-3 {old_portable} (the old build's portable name, replaced by {new_portable})"
                ),
            ]
        );
        // Gone from the declarations: said so, by kind and name.
        d.sandboxes.remove("tool");
        d.images.remove("step-3");
        let p = plan(&d, &o, PlanOptions::default());
        let reasons: Vec<&str> = p.actions.iter().map(|a| a.reason.as_str()).collect();
        assert!(
            reasons
                .iter()
                .all(|r| *r == "Image/step-3 is no longer declared" || *r == "no longer declared"),
            "{reasons:?}"
        );
        // A snapshot generation to take says which, of what.
        d.snapshots.insert(
            "snap".into(),
            super::super::desired::DesiredSnapshot {
                name: "snap".into(),
                sandbox: "web".into(),
                generation: 2,
                description: None,
                tag: "localhost/pocket-dock/ws/snap:gen-2".into(),
                shared: "localhost/pocket-dock/snapshots/snap:gen-2".into(),
            },
        );
        let p = plan(&d, &o, PlanOptions::default());
        let commit = p
            .actions
            .iter()
            .find(|a| matches!(a.op, Op::Commit { .. }))
            .unwrap();
        assert_eq!(commit.reason, "generation 2, from Sandbox/web");
    }

    #[test]
    fn an_image_left_without_a_name_goes_once_no_container_runs_it() {
        let (d, mut o) = chain();
        let labels = crate::engine::Ownership::new(crate::engine::WorkspaceId::new("ws"))
            .labels_for(Kind::Image, "step-2");
        let untagged = |id: &str, tags: Vec<String>| crate::engine::ImageSummary {
            id: id.into(),
            repo_tags: tags,
            labels: labels.clone(),
            size: 0,
            created: 1,
        };
        // The old step-2 still runs in web: kept.
        o.displaced_images.insert("sha256:step-2-1".into());
        o.owned_images = vec![untagged("sha256:step-2-1", vec!["<none>:<none>".into()])];
        let p = plan(&d, &o, PlanOptions::default());
        assert!(p.is_empty(), "{:?}", ops(&p));
        // Once web runs the new build, the old one goes, by id.
        o.displaced_images.clear();
        o.images
            .insert("t-step-2".into(), Some("sha256:step-2-2".into()));
        o.sandboxes.insert(
            "web".into(),
            vec![container(
                "web",
                "h",
                ContainerState::Running,
                "sha256:step-2-2",
            )],
        );
        o.owned_images = vec![untagged("sha256:step-2-1", Vec::new())];
        // Only an image this apply's rebuild left without a name: one anybody else left is
        // nobody's to remove.
        let p = plan(&d, &o, PlanOptions::default());
        assert!(p.is_empty(), "{:?}", ops(&p));
        o.displaced_images.insert("sha256:step-2-1".into());
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(ops(&p), ["remove Image/step-2"]);
        assert_eq!(
            p.actions[0].op,
            Op::RemoveImage {
                reference: "sha256:step-2-1".into()
            }
        );
        assert_eq!(p.actions[0].reason, UNTAGGED);
        // Not while the declarations are incomplete.
        let incomplete = Desired {
            complete: false,
            ..d
        };
        let p = plan(&incomplete, &o, PlanOptions::default());
        assert!(p.is_empty(), "{:?}", ops(&p));
    }

    #[test]
    fn snapshots_wait_for_a_declared_source_and_old_builds_are_pruned_newest_first() {
        let mut d = desired(vec![sandbox("web", "h", true, &[], &[])], &[]);
        d.image_repository_prefix = "localhost/pocket-dock/ws/".into();
        d.snapshots.insert(
            "snap".into(),
            super::super::desired::DesiredSnapshot {
                name: "snap".into(),
                sandbox: "gone".into(),
                generation: 1,
                description: None,
                tag: "localhost/pocket-dock/ws/snap:gen-1".into(),
                shared: "localhost/pocket-dock/snapshots/snap:gen-1".into(),
            },
        );
        let mut o = Observed::default();
        o.images.insert("img:1".into(), Some("sha256:img".into()));
        o.sandboxes.insert(
            "web".into(),
            vec![container("web", "h", ContainerState::Running, "sha256:img")],
        );
        let owned = |tag: &str, created: i64, kind: &str| crate::engine::ImageSummary {
            id: format!("sha256:{tag}"),
            repo_tags: vec![tag.to_string()],
            labels: crate::engine::Ownership::new(crate::engine::WorkspaceId::new("ws"))
                .labels_for(kind.parse().unwrap_or(Kind::Image), "x"),
            size: 0,
            created,
        };
        o.owned_images = vec![
            owned("localhost/pocket-dock/ws/x:old-1", 1, "Image"),
            owned("localhost/pocket-dock/ws/x:old-2", 2, "Image"),
            // A user's image built on ours carries our labels but not our repository.
            owned("localhost/mine:1", 3, "Image"),
        ];
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(p.blocked.len(), 1);
        assert!(p.blocked[0].reason.contains("Sandbox/gone is not declared"));
        let removed: Vec<String> = p
            .actions
            .iter()
            .filter_map(|a| match &a.op {
                Op::RemoveImage { reference } => Some(reference.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            removed,
            [
                "localhost/pocket-dock/ws/x:old-2",
                "localhost/pocket-dock/ws/x:old-1"
            ]
        );

        d.complete = false;
        let p = plan(&d, &o, PlanOptions::default());
        assert!(
            !p.actions
                .iter()
                .any(|a| matches!(a.op, Op::RemoveImage { .. })),
            "an incomplete picture prunes no image"
        );
        assert_eq!(p.kept.len(), 1);
        assert_eq!(p.kept[0].key, Key::new(Kind::Image, "x"));
    }

    #[test]
    fn a_moved_tag_is_pulled_first_and_judged_after_the_pull() {
        let mut o = Observed::default();
        o.images.insert("img:1".into(), None);
        o.sandboxes.insert(
            "web".into(),
            vec![container("web", "h", ContainerState::Running, "sha256:old")],
        );
        let d = desired(vec![sandbox("web", "h", true, &[], &[])], &[]);
        let p = plan(&d, &o, PlanOptions::default());
        assert_eq!(
            ops(&p),
            ["pull Sandbox/web"],
            "no recreate before the new id is known"
        );
        let after = simulate(&d, &o, &p);
        assert_eq!(
            ops(&plan(&d, &after, PlanOptions::default())),
            ["recreate Sandbox/web"],
            "the next round sees the new image"
        );
    }

    fn arb_state() -> impl Strategy<Value = ContainerState> {
        prop::sample::select(vec![
            ContainerState::Running,
            ContainerState::Exited,
            ContainerState::Created,
            ContainerState::Paused,
        ])
    }

    proptest! {
        /// Whatever the starting point, the plan leads to a state where the next plan is empty.
        #[test]
        fn planning_against_the_planned_result_plans_nothing(
            declared in prop::collection::btree_map("[a-e]", (0u8..3, 0u8..3, prop::collection::vec("[a-e]", 0..3), any::<bool>()), 0..5),
            overrides in prop::collection::btree_set("[a-e]", 0..3),
            existing in prop::collection::btree_map("[a-g]", (arb_state(), 0u8..3, any::<bool>(), any::<bool>()), 0..6),
            volumes_declared in prop::collection::btree_set("[v-x]", 0..3),
            volumes_existing in prop::collection::btree_set("[v-z]", 0..3),
            image_present in any::<bool>(),
            prune_volumes in any::<bool>(),
        ) {
            let sandboxes = declared
                .iter()
                .map(|(name, (running, hash, deps, uses_volume))| {
                    let deps: Vec<&str> = deps.iter().map(String::as_str).filter(|d| d < &name.as_str()).collect();
                    let vols: Vec<&str> = if *uses_volume { volumes_declared.iter().map(String::as_str).take(1).collect() } else { vec![] };
                    // 0 stopped, 1 running, 2 paused.
                    let mut s = sandbox(name, &format!("h{hash}"), *running > 0, &deps, &vols);
                    s.paused = *running == 2;
                    s
                })
                .collect();
            let vols: Vec<&str> = volumes_declared.iter().map(String::as_str).collect();
            let d = desired(sandboxes, &vols);
            let mut o = Observed::default();
            for name in &overrides {
                o.pauses.insert(name.clone(), crate::status::types::PauseRecord { by: "test".into(), at: None });
            }
            // An image in use by a container is always present (Podman keeps it).
            let in_use = !existing.is_empty();
            o.images.insert("img:1".into(), (image_present || in_use).then(|| "sha256:img".to_string()));
            for (name, (state, hash, same_image, stray)) in &existing {
                let image = if *same_image { "sha256:img" } else { "sha256:other" };
                let mut c = container(name, &format!("h{hash}"), state.clone(), image);
                if *stray {
                    c.container_name = format!("pd-{name}-stray");
                }
                o.sandboxes.entry(name.clone()).or_default().push(c);
            }
            for v in &volumes_existing {
                o.volumes.insert(v.clone(), VolumeSummary { name: format!("pd-{v}"), labels: Default::default(), mountpoint: String::new() });
            }
            let options = PlanOptions { prune_volumes, pull_always: false, ..PlanOptions::default() };
            let first = plan(&d, &o, options);
            let after = simulate(&d, &o, &first);
            let second = plan(&d, &after, options);
            prop_assert!(second.is_empty(), "second plan: {:?}\nfirst: {:?}", ops(&second), ops(&first));
        }
    }
}
