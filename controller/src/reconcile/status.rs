//! Status sidecar files: `.pocket-dock/status/<kind>/<name>.yaml`, one per object, written
//! atomically (temp file + rename) and only when their content changed. Condition transition
//! times are carried over from the previous file while a condition keeps its status and reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pocket_dock_spec::Kind;
use serde::Serialize;

use super::desired::{Desired, Key};
use super::execute::ActionOutcome;
use super::observe::Observed;
use super::plan::Plan;
use crate::timefmt::now_rfc3339;
use crate::yaml_out::to_yaml;

pub const STATUS_DIR: &str = "status";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub last_transition_time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub category: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub message: String,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub kind: String,
    pub name: String,
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_spec_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// For `Image` and `Snapshot` objects: the image name sandboxes run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// For `Snapshot` objects: where the image came from (read back from its labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotRecord>,
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRecord {
    pub sandbox: String,
    pub sandbox_spec_hash: String,
    pub sandbox_image: String,
    pub taken_at: String,
    pub generation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl SnapshotRecord {
    /// Reads the record from a snapshot image's labels.
    pub fn from_labels(labels: &std::collections::HashMap<String, String>) -> Option<Self> {
        use super::make_images::*;
        let get = |k: &str| labels.get(k).cloned();
        Some(SnapshotRecord {
            sandbox: get(SNAPSHOT_SOURCE)?,
            sandbox_spec_hash: get(SNAPSHOT_SOURCE_SPEC_HASH).unwrap_or_default(),
            sandbox_image: get(SNAPSHOT_SOURCE_IMAGE).unwrap_or_default(),
            taken_at: get(SNAPSHOT_TAKEN_AT).unwrap_or_default(),
            generation: get(SNAPSHOT_GENERATION).unwrap_or_default(),
            description: get(SNAPSHOT_DESCRIPTION),
        })
    }
}

/// What the last apply learned about one object beyond the observation.
#[derive(Debug, Default)]
pub struct Findings<'a> {
    pub errors: BTreeMap<Key, &'a ActionOutcome>,
    pub blocked: BTreeMap<Key, String>,
    /// Sandboxes whose readiness probe passed during this apply.
    pub ready: Vec<Key>,
    /// Sandboxes whose readiness probe did not pass while waiting, and why.
    pub not_ready: BTreeMap<Key, String>,
    /// Objects whose declaring file is invalid (their last valid version is in effect).
    pub invalid: BTreeMap<Key, String>,
}

impl<'a> Findings<'a> {
    pub fn new(plan: &Plan, outcomes: &'a [ActionOutcome]) -> Self {
        let mut findings = Findings::default();
        for o in outcomes {
            match &o.result {
                // Skipped for a failed dependency: it waits (the failure is the other's).
                Err(super::execute::ActionError::DependencyFailed { dependency }) => {
                    findings.blocked.insert(
                        o.action.key.clone(),
                        format!("waiting for {dependency}, which failed"),
                    );
                }
                Err(_) => {
                    findings.errors.insert(o.action.key.clone(), o);
                }
                Ok(()) => {}
            }
        }
        for b in &plan.blocked {
            findings.blocked.insert(b.key.clone(), b.reason.clone());
        }
        findings
    }
}

fn condition(kind: &str, ok: Option<bool>, reason: &str, message: impl Into<String>) -> Condition {
    Condition {
        kind: kind.to_string(),
        status: match ok {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        }
        .to_string(),
        reason: reason.to_string(),
        message: message.into(),
        last_transition_time: String::new(),
    }
}

/// Every declared object's status after an apply.
pub fn compute(desired: &Desired, observed: &Observed, findings: &Findings<'_>) -> Vec<Status> {
    let mut out = Vec::new();
    let failure = |key: &Key| {
        findings
            .errors
            .get(key)
            .and_then(|o| o.result.as_ref().err())
            .map(|e| LastError {
                category: e.category().to_string(),
                operation: e.operation().map(|op| op.as_str().to_string()),
                message: e.to_string(),
                time: String::new(),
            })
    };
    let finish = |key: &Key,
                  phase: &str,
                  ready: Condition,
                  extra: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )| {
        let last_error = failure(key);
        let blocked = findings.blocked.get(key);
        let progressing = match (blocked, &last_error) {
            (Some(reason), _) => condition("Progressing", Some(true), "Waiting", reason.clone()),
            (None, Some(_)) => condition("Progressing", Some(false), "Failed", ""),
            (None, None) => condition("Progressing", Some(false), "Converged", ""),
        };
        let degraded = match (&last_error, findings.invalid.get(key)) {
            (Some(e), _) => condition("Degraded", Some(true), &e.category, e.message.clone()),
            (None, Some(problem)) => condition(
                "Degraded",
                Some(true),
                "InvalidSpec",
                format!("{problem}; the last valid version stays in effect"),
            ),
            (None, None) => condition("Degraded", Some(false), "AsDeclared", ""),
        };
        Status {
            kind: key.kind.as_str().to_string(),
            name: key.name.clone(),
            phase: if last_error.is_some() {
                "Failed".to_string()
            } else {
                phase.to_string()
            },
            observed_spec_hash: extra.0,
            container_id: extra.1,
            container_name: extra.2,
            image_id: extra.3,
            image: None,
            snapshot: None,
            conditions: vec![ready, progressing, degraded],
            last_error,
        }
    };
    for (name, s) in &desired.sandboxes {
        let key = Key::new(Kind::Sandbox, name.clone());
        let current = observed
            .sandboxes
            .get(name)
            .and_then(|cs| cs.iter().find(|c| c.container_name == s.container_name));
        let (phase, ready) = match current {
            None if findings.blocked.contains_key(&key) => (
                "Pending",
                condition(
                    "Ready",
                    Some(false),
                    "Waiting",
                    findings.blocked[&key].clone(),
                ),
            ),
            None => ("Pending", condition("Ready", Some(false), "NotCreated", "")),
            Some(c) if c.state.is_running() => match &s.probe {
                None => ("Running", condition("Ready", Some(true), "Running", "")),
                Some(_) if findings.ready.contains(&key) => {
                    ("Running", condition("Ready", Some(true), "ProbePassed", ""))
                }
                Some(_) if findings.not_ready.contains_key(&key) => (
                    "Running",
                    condition(
                        "Ready",
                        Some(false),
                        "ProbeFailed",
                        findings.not_ready[&key].clone(),
                    ),
                ),
                Some(_) => (
                    "Running",
                    condition(
                        "Ready",
                        None,
                        "NotProbed",
                        "run `apply --wait` (or the controller) to probe readiness",
                    ),
                ),
            },
            Some(_) if !s.running => (
                "Stopped",
                condition("Ready", Some(false), "Stopped", "declared stopped"),
            ),
            Some(c) => (
                "Exited",
                condition(
                    "Ready",
                    Some(false),
                    "NotRunning",
                    format!("container is {:?}", c.state).to_lowercase(),
                ),
            ),
        };
        let extra = (
            current.and_then(|c| c.spec_hash.clone()),
            current.map(|c| c.id.clone()),
            current.map(|c| c.container_name.clone()),
            current.map(|c| c.image_id.clone()),
        );
        out.push(finish(&key, phase, ready, extra));
    }
    for name in desired.volumes.keys() {
        let key = Key::new(Kind::Volume, name.clone());
        let present = observed.volumes.contains_key(name);
        let ready = condition(
            "Ready",
            Some(present),
            if present { "Created" } else { "NotCreated" },
            "",
        );
        let volume = observed.volumes.get(name).map(|v| v.name.clone());
        out.push(finish(
            &key,
            if present { "Ready" } else { "Pending" },
            ready,
            (None, None, volume, None),
        ));
    }
    for (name, image) in &desired.images {
        let key = Key::new(Kind::Image, name.clone());
        let id = observed.image_id(&image.tag).map(str::to_string);
        let (phase, ready) = match (&id, findings.blocked.get(&key)) {
            (Some(_), _) => (
                "Ready",
                condition("Ready", Some(true), "Present", image.tag.clone()),
            ),
            (None, Some(reason)) => (
                "Pending",
                condition("Ready", Some(false), "Waiting", reason.clone()),
            ),
            (None, None) => (
                "Pending",
                condition("Ready", Some(false), "NotPresent", image.tag.clone()),
            ),
        };
        let mut status = finish(&key, phase, ready, (None, None, None, id));
        status.image = (!image.tag.is_empty()).then(|| image.tag.clone());
        out.push(status);
    }
    for (name, snap) in &desired.snapshots {
        let key = Key::new(Kind::Snapshot, name.clone());
        let id = observed.image_id(&snap.tag).map(str::to_string);
        let (phase, ready) = match (&id, findings.blocked.get(&key)) {
            (Some(_), _) => (
                "Ready",
                condition(
                    "Ready",
                    Some(true),
                    "Taken",
                    format!("generation {}", snap.generation),
                ),
            ),
            (None, Some(reason)) => (
                "Pending",
                condition("Ready", Some(false), "Waiting", reason.clone()),
            ),
            (None, None) => ("Pending", condition("Ready", Some(false), "NotTaken", "")),
        };
        let mut status = finish(&key, phase, ready, (None, None, None, id));
        status.image = Some(snap.tag.clone());
        status.snapshot = observed
            .image_labels
            .get(&snap.tag)
            .and_then(SnapshotRecord::from_labels);
        out.push(status);
    }
    out
}

pub fn status_path(pocket_dock_dir: &Path, kind: Kind, name: &str) -> PathBuf {
    pocket_dock_dir
        .join(STATUS_DIR)
        .join(kind.as_str().to_lowercase())
        .join(format!("{name}.yaml"))
}

/// Reads a status file back (for carrying transition times over, and for `get`).
pub fn read(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let docs = pocket_dock_spec::yaml::parse(&text, Default::default()).ok()?;
    docs.into_iter().next().map(|d| d.root.to_json())
}

/// Writes every status that changed; removes status files of objects no longer declared.
/// Returns how many files were written.
pub fn write_all(pocket_dock_dir: &Path, statuses: &mut [Status]) -> std::io::Result<usize> {
    let now = now_rfc3339();
    let mut written = 0;
    let mut keep: BTreeMap<PathBuf, ()> = BTreeMap::new();
    for status in statuses.iter_mut() {
        let Ok(kind) = status.kind.parse::<Kind>() else {
            continue;
        };
        let path = status_path(pocket_dock_dir, kind, &status.name);
        keep.insert(path.clone(), ());
        let previous = read(&path);
        for c in &mut status.conditions {
            let old = previous.as_ref().and_then(|p| {
                p["conditions"]
                    .as_array()?
                    .iter()
                    .find(|o| o["type"] == c.kind.as_str())
                    .cloned()
            });
            c.last_transition_time = match old {
                Some(o) if o["status"] == c.status.as_str() && o["reason"] == c.reason.as_str() => {
                    o["lastTransitionTime"].as_str().unwrap_or(&now).to_string()
                }
                _ => now.clone(),
            };
        }
        if let Some(e) = &mut status.last_error {
            let old = previous.as_ref().map(|p| &p["lastError"]);
            e.time = match old {
                Some(o) if o["message"] == e.message.as_str() => {
                    o["time"].as_str().unwrap_or(&now).to_string()
                }
                _ => now.clone(),
            };
        }
        let value = serde_json::to_value(&*status).unwrap_or_default();
        let text = format!(
            "# Generated by pocket-dock; do not edit.\n{}",
            to_yaml(&value)
        );
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        write_atomic(&path, &text)?;
        written += 1;
    }
    prune(pocket_dock_dir, &keep);
    Ok(written)
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("yaml.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn prune(pocket_dock_dir: &Path, keep: &BTreeMap<PathBuf, ()>) {
    let Ok(kinds) = std::fs::read_dir(pocket_dock_dir.join(STATUS_DIR)) else {
        return;
    };
    for kind_dir in kinds.flatten() {
        let Ok(files) = std::fs::read_dir(kind_dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "yaml") && !keep.contains_key(&path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
