//! The plan: a pure function from (desired, observed) to an ordered list of actions, each
//! with its reason. Printable before anything runs (`diff`, `apply --dry-run`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use pocket_dock_spec::Kind;

use super::desired::{Desired, DesiredImage, DesiredSandbox, ImageSource, Key};
use super::observe::{Observed, ObservedContainer, same_image};

/// What to do to one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "op")]
pub enum Op {
    /// Pull an image reference that is not present.
    Pull {
        reference: String,
    },
    CreateVolume,
    /// Create the sandbox's container, and start it when it should run.
    Create {
        start: bool,
    },
    Start,
    Stop,
    /// Remove and create again (and start when it should run).
    Recreate {
        start: bool,
    },
    /// Remove a container: no longer declared, or a stray duplicate.
    Remove {
        container: String,
    },
    RemoveVolume,
}

impl Op {
    pub fn verb(&self) -> &'static str {
        match self {
            Op::Pull { .. } => "pull",
            Op::CreateVolume | Op::Create { .. } => "create",
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Recreate { .. } => "recreate",
            Op::Remove { .. } | Op::RemoveVolume => "remove",
        }
    }

    /// `+` create, `~` change, `-` remove.
    pub fn sign(&self) -> char {
        match self {
            Op::Pull { .. } | Op::CreateVolume | Op::Create { .. } => '+',
            Op::Start | Op::Stop | Op::Recreate { .. } => '~',
            Op::Remove { .. } | Op::RemoveVolume => '-',
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
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub blocked: Vec<Blocked>,
    /// Undeclared volumes left alone because `--prune-volumes` was not given.
    pub kept_volumes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanOptions {
    pub prune_volumes: bool,
}

/// The image id a sandbox should run, if it can be known now. `Err` explains why the
/// sandbox must wait.
fn resolved_image(
    s: &DesiredSandbox,
    desired: &Desired,
    observed: &Observed,
) -> Result<Option<String>, String> {
    match &s.image {
        ImageSource::Reference(r) => Ok(observed.images.get(r).cloned().flatten()),
        ImageSource::Object(key) if key.kind == Kind::Image => {
            match desired.images.get(&key.name) {
                Some(DesiredImage::Pull { reference }) => {
                    Ok(observed.images.get(reference).cloned().flatten())
                }
                Some(DesiredImage::Unsupported { .. }) => {
                    Err(format!("waiting for {key}, which this version cannot make"))
                }
                None => Err(format!("{key} is not declared")),
            }
        }
        ImageSource::Object(key) => {
            Err(format!("waiting for {key}, which this version cannot take"))
        }
    }
}

/// The reference a sandbox's image is pulled by (plain, or through an `Image` object).
pub fn image_reference(s: &DesiredSandbox, desired: &Desired) -> Option<String> {
    match &s.image {
        ImageSource::Reference(r) => Some(r.clone()),
        ImageSource::Object(key) if key.kind == Kind::Image => {
            match desired.images.get(&key.name) {
                Some(DesiredImage::Pull { reference }) => Some(reference.clone()),
                _ => None,
            }
        }
        ImageSource::Object(_) => None,
    }
}

/// Sandboxes in an order where every dependency comes first (ties by name).
pub fn dependency_order(desired: &Desired) -> Vec<&DesiredSandbox> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    let mut pending: Vec<&DesiredSandbox> = desired.sandboxes.values().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|s| {
            let ready = s
                .depends_on
                .iter()
                .all(|d| done.contains(d.as_str()) || !desired.sandboxes.contains_key(d));
            if ready {
                done.insert(&s.name);
                order.push(*s);
            }
            !ready
        });
        if pending.len() == before {
            // A cycle (validation reports it); keep going in name order.
            order.append(&mut pending);
        }
    }
    order
}

pub fn plan(desired: &Desired, observed: &Observed, options: PlanOptions) -> Plan {
    let mut plan = Plan::default();

    // 1. Containers that should not exist: undeclared, or strays next to the right one.
    for (name, containers) in &observed.sandboxes {
        let declared = desired.sandboxes.get(name);
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
    let mut pulls: BTreeMap<String, Key> = BTreeMap::new();
    for (name, image) in &desired.images {
        match image {
            DesiredImage::Pull { reference } => {
                pulls
                    .entry(reference.clone())
                    .or_insert_with(|| Key::new(Kind::Image, name.clone()));
            }
            DesiredImage::Unsupported { reason } => plan.blocked.push(Blocked {
                key: Key::new(Kind::Image, name.clone()),
                reason: reason.clone(),
            }),
        }
    }
    for (name, reason) in &desired.snapshots {
        plan.blocked.push(Blocked {
            key: Key::new(Kind::Snapshot, name.clone()),
            reason: reason.clone(),
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

    // 3. Sandboxes, dependencies first.
    for s in dependency_order(desired) {
        let key = Key::new(Kind::Sandbox, s.name.clone());
        let image = match resolved_image(s, desired, observed) {
            Ok(image) => image,
            Err(reason) => {
                plan.blocked.push(Blocked { key, reason });
                continue;
            }
        };
        let current = observed
            .sandboxes
            .get(&s.name)
            .and_then(|cs| cs.iter().find(|c| c.container_name == s.container_name));
        if let Some(action) = sandbox_action(s, current, image.as_deref(), key) {
            plan.actions.push(action);
        }
    }

    // 4. Volumes no longer declared: removed only when asked, since that deletes data.
    for name in observed
        .volumes
        .keys()
        .filter(|n| !desired.volumes.contains_key(*n))
    {
        if options.prune_volumes {
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

fn sandbox_action(
    s: &DesiredSandbox,
    current: Option<&ObservedContainer>,
    image: Option<&str>,
    key: Key,
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
        return Some(Action {
            key,
            op: Op::Recreate { start: s.running },
            reason: "spec changed".into(),
            changes: spec_changes(c.spec.as_deref(), &s.spec),
        });
    }
    if let Some(image) = image
        && !same_image(&c.image_id, image)
    {
        return Some(Action {
            key,
            op: Op::Recreate { start: s.running },
            reason: "image changed".into(),
            changes: vec![Change {
                path: "image".into(),
                old: Some(short_id(&c.image_id)),
                new: Some(short_id(image)),
            }],
        });
    }
    let running = c.state.is_running();
    match (s.running, running) {
        (true, false) => Some(Action {
            key,
            op: Op::Start,
            reason: format!("not running ({})", state_name(&c.state)),
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

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Field-level differences between the spec a container was made from and the declared one.
pub fn spec_changes(old: Option<&str>, new: &serde_json::Value) -> Vec<Change> {
    let Some(old) = old.and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok()) else {
        return vec![Change {
            path: "spec".into(),
            old: None,
            new: Some("(previous spec not recorded)".into()),
        }];
    };
    let mut changes = Vec::new();
    diff_values("spec", &old, new, &mut changes);
    changes
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
            Op::Remove { container } => {
                if let Some(cs) = next.sandboxes.get_mut(name) {
                    cs.retain(|c| &c.container_name != container);
                    if cs.is_empty() {
                        next.sandboxes.remove(name);
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
                    state: if s.running {
                        ContainerState::Running
                    } else {
                        ContainerState::Exited
                    },
                    spec_hash: Some(s.spec_hash.clone()),
                    spec: Some(s.spec.to_string()),
                    image_id: image,
                    created: 0,
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
            spec: serde_json::json!({"env": {"A": hash}}),
            running,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            volumes: volumes.iter().map(|v| v.to_string()).collect(),
            probe: None,
        }
    }

    fn container(name: &str, hash: &str, state: ContainerState, image: &str) -> ObservedContainer {
        ObservedContainer {
            id: format!("id-{name}"),
            container_name: format!("pd-{name}"),
            state,
            spec_hash: Some(hash.into()),
            spec: Some(serde_json::json!({"env": {"A": hash}}).to_string()),
            image_id: image.into(),
            created: 0,
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
            ..Desired::default()
        }
    }

    fn ops(plan: &Plan) -> Vec<String> {
        plan.actions
            .iter()
            .map(|a| format!("{} {}", a.op.verb(), a.key))
            .collect()
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
            "spec.env.A: \"old\" -> \"new\""
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
            (
                vec!["start Sandbox/web".to_string()],
                "not running (exited)"
            )
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
        let p = plan(&Desired::default(), &o, PlanOptions::default());
        assert_eq!(ops(&p), ["remove Sandbox/old"]);
        assert_eq!(p.actions[0].reason, "no longer declared");
        assert_eq!(p.kept_volumes, ["data"]);
        let p = plan(
            &Desired::default(),
            &o,
            PlanOptions {
                prune_volumes: true,
            },
        );
        assert_eq!(ops(&p), ["remove Sandbox/old", "remove Volume/data"]);
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

    #[test]
    fn objects_this_version_cannot_make_block_their_dependants() {
        let mut s = sandbox("web", "h", true, &[], &[]);
        s.image = ImageSource::Object(Key::new(Kind::Image, "tools"));
        let mut d = desired(vec![s], &[]);
        d.images.insert(
            "tools".into(),
            DesiredImage::Unsupported {
                reason: "no builds yet".into(),
            },
        );
        let p = plan(&d, &Observed::default(), PlanOptions::default());
        assert!(p.is_empty());
        let blocked: Vec<String> = p.blocked.iter().map(|b| b.key.to_string()).collect();
        assert_eq!(blocked, ["Image/tools", "Sandbox/web"]);
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
            declared in prop::collection::btree_map("[a-e]", (any::<bool>(), 0u8..3, prop::collection::vec("[a-e]", 0..3), any::<bool>()), 0..5),
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
                    sandbox(name, &format!("h{hash}"), *running, &deps, &vols)
                })
                .collect();
            let vols: Vec<&str> = volumes_declared.iter().map(String::as_str).collect();
            let d = desired(sandboxes, &vols);
            let mut o = Observed::default();
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
            let options = PlanOptions { prune_volumes };
            let first = plan(&d, &o, options);
            let after = simulate(&d, &o, &first);
            let second = plan(&d, &after, options);
            prop_assert!(second.is_empty(), "second plan: {:?}\nfirst: {:?}", ops(&second), ops(&first));
        }
    }
}
