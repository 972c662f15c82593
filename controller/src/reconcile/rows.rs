//! The rows `get` shows: declared and running objects side by side, with what their status
//! files say. Built here so that the CLI only prints.

use std::collections::BTreeMap;

use pocket_dock_spec::Kind;
use serde::Serialize;

use crate::key::Key;
use crate::reconcile::desired::Desired;
use crate::reconcile::observe::Observed;
use crate::reconcile::status::StatusFiles;
use crate::status::types::{ConditionType, Status};

/// One object as `get` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRow {
    pub kind: Kind,
    pub name: String,
    /// `running`, `stopped`, `present`; `absent` or `unknown` for what is not declared.
    pub desired: String,
    /// The container's state, `present` or `absent`.
    pub actual: String,
    /// The status file's phase, `-` without one.
    pub phase: String,
    pub age: String,
    /// The Ready condition: `true`, `false`, `unknown`; `-` without a status file.
    pub ready: String,
    pub restarts: Option<u32>,
    /// A running sandbox's published ports as Podman bound them,
    /// `127.0.0.1:18080->8080/tcp` (`get -o wide`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// A declared sandbox's template (`spec.template`), if it names one (`get -o wide`;
    /// filled in by `Workspace::status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// A declared sandbox's effective security profile, `default` or `locked` (`get -o
    /// wide`): what a template's profile became after the sandbox's own fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// Which rows to keep: a kind, and perhaps one name.
pub type RowFilter = Option<(Kind, Option<String>)>;

/// How long ago `created` (Unix seconds) was, as `get` shows it.
pub fn age(created: i64, now: i64) -> String {
    match (now - created).max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Every declared object, then every running one that nothing declares, as rows. `retained`
/// names the objects whose file is invalid (their last valid version is shown).
pub fn object_rows(
    desired: &Desired,
    observed: &Observed,
    retained: &BTreeMap<Key, String>,
    status_files: Option<&StatusFiles>,
    filter: &RowFilter,
    now: i64,
) -> Vec<ObjectRow> {
    let undeclared = if desired.complete {
        "absent"
    } else {
        "unknown"
    };
    let mut rows = Vec::new();
    let mut push =
        |kind: Kind, name: &str, want: &str, actual: String, age: String, ports: Vec<String>| {
            if filter
                .as_ref()
                .is_some_and(|(k, n)| *k != kind || n.as_deref().is_some_and(|n| n != name))
            {
                return;
            }
            let status = status_files.and_then(|f| f.read(kind, name));
            let phase = status
                .as_ref()
                .map_or_else(|| "-".to_string(), |s| s.phase.as_str().to_string());
            let ready = status
                .as_ref()
                .and_then(|s| s.condition(ConditionType::Ready))
                .map_or("-", |c| c.status.as_lower());
            rows.push(ObjectRow {
                kind,
                name: name.to_string(),
                desired: want.to_string(),
                actual,
                phase,
                age,
                ready: ready.to_string(),
                restarts: status.as_ref().and_then(|s| s.restart_count),
                ports,
                problem: retained
                    .get(&Key::new(kind, name))
                    .map(|problem| format!("{problem}; its last valid version is shown")),
                status,
                template: None,
                profile: None,
            });
        };
    for (name, s) in &desired.sandboxes {
        let current = observed
            .sandboxes
            .get(name)
            .and_then(|cs| cs.iter().find(|c| c.container_name == s.container_name));
        let actual = current.map_or("absent".to_string(), |c| {
            serde_json::to_value(&c.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        });
        push(
            Kind::Sandbox,
            name,
            match (s.once, s.running) {
                (true, true) => "completed",
                (_, true) if super::plan::held_paused(s, observed).is_some() => "paused",
                (_, true) => "running",
                (_, false) => "stopped",
            },
            actual,
            current.map_or("-".into(), |c| age(c.created, now)),
            current
                .filter(|c| c.state.is_running())
                .map(|c| c.ports.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        );
    }
    for (name, cs) in observed
        .sandboxes
        .iter()
        .filter(|(n, _)| !desired.sandboxes.contains_key(*n))
    {
        let created = cs.first().map_or(0, |c| c.created);
        push(
            Kind::Sandbox,
            name,
            undeclared,
            "present".into(),
            age(created, now),
            Vec::new(),
        );
    }
    // Sandboxes claimed from pools: nobody's declaration, shown as `claimed`.
    for m in observed.pools.values().flatten() {
        if let crate::reconcile::pool::MemberState::Claimed(name) = &m.state {
            push(
                Kind::Sandbox,
                name,
                "claimed",
                if m.running { "running" } else { "exited" }.into(),
                age(m.created, now),
                Vec::new(),
            );
        }
    }
    // Pools: `size N` against `R ready, W warming, C claimed`.
    for (name, p) in &desired.pools {
        let members = observed.pools.get(name).map_or(&[][..], Vec::as_slice);
        let j = crate::reconcile::pool::judge(p, members, None, now);
        push(
            Kind::Pool,
            name,
            &format!("size {}", p.size),
            format!(
                "{} ready, {} warming, {} claimed",
                j.ready, j.warming, j.claimed
            ),
            "-".into(),
            Vec::new(),
        );
    }
    let presence = |present: bool| if present { "present" } else { "absent" };
    // Volumes and networks: declared ones, present or not, then undeclared ones present.
    let named = [
        (
            Kind::Volume,
            desired.volumes.keys().collect::<Vec<_>>(),
            observed.volumes.keys().collect::<Vec<_>>(),
        ),
        (
            Kind::Network,
            desired.networks.keys().collect(),
            observed.networks.keys().collect(),
        ),
    ];
    for (kind, declared, present) in named {
        for name in &declared {
            let actual = presence(present.contains(name));
            push(kind, name, "present", actual.into(), "-".into(), Vec::new());
        }
        for name in present.iter().filter(|n| !declared.contains(n)) {
            push(
                kind,
                name,
                undeclared,
                "present".into(),
                "-".into(),
                Vec::new(),
            );
        }
    }
    for (name, image) in &desired.images {
        let actual = presence(observed.image_id(&image.tag).is_some());
        push(
            Kind::Image,
            name,
            "present",
            actual.into(),
            "-".into(),
            Vec::new(),
        );
    }
    for (name, snap) in &desired.snapshots {
        let actual = presence(observed.image_id(&snap.tag).is_some());
        push(
            Kind::Snapshot,
            name,
            "present",
            actual.into(),
            "-".into(),
            Vec::new(),
        );
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(100, 100), "0s");
        assert_eq!(age(0, 119), "119s");
        assert_eq!(age(0, 120), "2m");
        assert_eq!(age(0, 7200), "2h");
        assert_eq!(age(0, 172_800), "2d");
        assert_eq!(age(10, 0), "0s");
    }
}
