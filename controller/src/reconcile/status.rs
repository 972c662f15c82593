//! Status sidecar files: `.pocket-dock/status/<kind>/<name>.yaml`, one per object, and
//! `.pocket-dock/status/workspace.yaml` with the workspace's current problems. Written
//! atomically (temp file, fsync, rename, fsync of the folder) and only when their content
//! changed, through [`OwnedDir`]: never through a symlink, and only over regular files that
//! pocket-dock wrote. Condition transition times are carried over from the previous file
//! while a condition keeps its status and reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pocket_dock_spec::Kind;
use serde::Serialize;

use super::desired::{Desired, Key};
use super::execute::ActionOutcome;
use super::observe::Observed;
use super::plan::Plan;
use crate::owned_files::{EntryKind, OwnedDir, OwnedFileError, is_temp_name};
use crate::timefmt::now_rfc3339;
use pocket_dock_spec::to_yaml;

pub const STATUS_DIR: &str = crate::workspace::own_files::STATUS_DIR;

pub use crate::status::types::{
    Condition, ConditionType, ExpiredStatus, LastError, Metadata, Phase, PortStatus, Reason,
    SnapshotRecord, Status,
};

/// Reads a snapshot's record from its image's labels.
pub fn snapshot_record_from_labels(
    labels: &std::collections::HashMap<String, String>,
) -> Option<SnapshotRecord> {
    let s = crate::engine::labels::SnapshotLabels::parse(labels)?;
    Some(SnapshotRecord {
        sandbox: s.source,
        sandbox_spec_hash: s.source_spec_hash,
        sandbox_image: s.source_image,
        taken_at: s.taken_at,
        generation: s.generation,
        description: s.description,
    })
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
    /// Sandboxes in crash-loop back-off, and why.
    pub crash_loops: BTreeMap<Key, String>,
    /// Sandboxes a `lifetime` limit stopped or removed.
    pub expired: BTreeMap<Key, super::plan::Expired>,
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
                Err(e @ super::execute::ActionError::DependencyNotReady { .. }) => {
                    findings.blocked.insert(o.action.key.clone(), e.to_string());
                }
                // Kept as the sandbox's hook failure (`Ready=False, HookFailed`) until its
                // hooks pass: the container runs, so it is not `Failed`.
                Err(super::execute::ActionError::HookFailed { .. }) => {}
                Err(_) => {
                    findings.errors.insert(o.action.key.clone(), o);
                }
                Ok(()) => {}
            }
        }
        for b in &plan.blocked {
            findings.blocked.insert(b.key.clone(), b.reason.clone());
        }
        for c in &plan.crash_loops {
            findings.crash_loops.insert(c.key.clone(), c.reason());
        }
        for e in &plan.expired {
            findings.expired.insert(e.key.clone(), e.clone());
        }
        findings
    }
}

fn condition(
    kind: ConditionType,
    ok: Option<bool>,
    reason: Reason,
    message: impl Into<String>,
) -> Condition {
    Condition::new(kind, ok, reason, message)
}

/// The kstatus conditions of one object from what the apply found: `Reconciling` (true
/// while it waits for something), `Stalled` (true when it cannot progress without a
/// change), then their deprecated aliases `Progressing` and `Degraded`, identical but for
/// the type.
pub fn progress_conditions(
    blocked: Option<&str>,
    last_error: Option<&LastError>,
    crash_loop: Option<&str>,
    invalid: Option<&str>,
) -> [Condition; 4] {
    let reconciling = match (blocked, last_error) {
        (Some(reason), _) => condition(
            ConditionType::Reconciling,
            Some(true),
            Reason::Waiting,
            reason,
        ),
        (None, Some(_)) => condition(ConditionType::Reconciling, Some(false), Reason::Failed, ""),
        (None, None) => condition(
            ConditionType::Reconciling,
            Some(false),
            Reason::Converged,
            "",
        ),
    };
    let stalled = match (last_error, crash_loop, invalid) {
        (Some(e), _, _) => condition(
            ConditionType::Stalled,
            Some(true),
            Reason::category(&e.category),
            e.message.clone(),
        ),
        (None, Some(why), _) => {
            condition(ConditionType::Stalled, Some(true), Reason::CrashLoop, why)
        }
        (None, None, Some(problem)) => condition(
            ConditionType::Stalled,
            Some(true),
            Reason::InvalidSpec,
            format!("{problem}; the last valid version stays in effect"),
        ),
        (None, None, None) => {
            condition(ConditionType::Stalled, Some(false), Reason::AsDeclared, "")
        }
    };
    let alias = |c: &Condition, kind| Condition { kind, ..c.clone() };
    let progressing = alias(&reconciling, ConditionType::Progressing);
    let degraded = alias(&stalled, ConditionType::Degraded);
    [reconciling, stalled, progressing, degraded]
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
                  phase: Phase,
                  ready: Condition,
                  extra: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )| {
        let last_error = failure(key);
        let [reconciling, stalled, progressing, degraded] = progress_conditions(
            findings.blocked.get(key).map(String::as_str),
            last_error.as_ref(),
            findings.crash_loops.get(key).map(String::as_str),
            findings.invalid.get(key).map(String::as_str),
        );
        Status {
            kind: key.kind.as_str().to_string(),
            name: key.name.clone(),
            metadata: None,
            observed_generation: None,
            phase: if last_error.is_some() {
                Phase::Failed
            } else {
                phase
            },
            observed_spec_hash: extra.0,
            container_id: extra.1,
            container_name: extra.2,
            image_id: extra.3,
            image: None,
            snapshot: None,
            restart_count: None,
            last_exit_code: None,
            last_finished_at: None,
            output: None,
            hook_failure: None,
            expired: None,
            paused: None,
            subnets: Vec::new(),
            ports: Vec::new(),
            conditions: vec![ready, reconciling, stalled, progressing, degraded],
            last_error,
        }
    };
    for (name, s) in &desired.sandboxes {
        let key = Key::new(Kind::Sandbox, name.clone());
        let current = observed
            .sandboxes
            .get(name)
            .and_then(|cs| cs.iter().find(|c| c.container_name == s.container_name));
        let hook_failure = current.and_then(|c| {
            observed
                .hook_failures
                .get(name)
                .filter(|f| f.container_id == c.id)
        });
        // A run of an older spec says nothing about this one (its re-run may be waiting).
        let task = current
            .filter(|c| c.spec_hash.as_deref() == Some(s.spec_hash.as_str()))
            .and_then(|c| super::conditions::task_outcome(s, c));
        let (phase, ready) = match current {
            Some(_) if task == Some(super::conditions::TaskOutcome::Succeeded) => (
                Phase::Succeeded,
                condition(
                    ConditionType::Ready,
                    Some(true),
                    Reason::Completed,
                    "exited 0",
                ),
            ),
            Some(c)
                if !c.state.is_running() && oom_kill(&c.exit, s.config.memory_bytes).is_some() =>
            {
                (
                    if task.is_some() {
                        Phase::Failed
                    } else {
                        Phase::Exited
                    },
                    condition(
                        ConditionType::Ready,
                        Some(false),
                        Reason::OOMKilled,
                        oom_kill(&c.exit, s.config.memory_bytes).unwrap_or_default(),
                    ),
                )
            }
            Some(c) if matches!(task, Some(super::conditions::TaskOutcome::Failed(_))) => (
                Phase::Failed,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::TaskFailed,
                    c.exit.code.map_or_else(
                        || "it failed".to_string(),
                        |code| format!("exit code {code}"),
                    ),
                ),
            ),
            Some(c) if s.once && c.state.is_running() => (
                Phase::Running,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::TaskRunning,
                    "running to completion",
                ),
            ),
            Some(c) if c.state.is_running() && hook_failure.is_some() => {
                let f = hook_failure.map(|f| {
                    let code = f
                        .exit_code
                        .map_or_else(String::new, |c| format!(" (exit code {c})"));
                    let output = if f.output.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", f.output)
                    };
                    format!("{}{code}{output}", f.message)
                });
                (
                    Phase::Running,
                    condition(
                        ConditionType::Ready,
                        Some(false),
                        Reason::HookFailed,
                        f.unwrap_or_default(),
                    ),
                )
            }
            Some(_) if findings.crash_loops.contains_key(&key) => (
                Phase::CrashLoopBackOff,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::CrashLoopBackOff,
                    findings.crash_loops[&key].clone(),
                ),
            ),
            Some(c) if c.state == crate::engine::ContainerState::Paused => {
                match (s.running, super::plan::held_paused(s, observed)) {
                    (true, Some(held)) => (
                        Phase::Paused,
                        condition(
                            ConditionType::Ready,
                            Some(true),
                            Reason::Paused,
                            held.reason(),
                        ),
                    ),
                    (running, _) => (
                        Phase::Paused,
                        condition(
                            ConditionType::Ready,
                            Some(false),
                            Reason::Paused,
                            if running {
                                "paused, declared running: the next apply thaws it"
                            } else {
                                "paused, declared stopped: the next apply stops it"
                            },
                        ),
                    ),
                }
            }
            None if findings.blocked.contains_key(&key) => (
                Phase::Pending,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::Waiting,
                    findings.blocked[&key].clone(),
                ),
            ),
            None => (
                Phase::Pending,
                condition(ConditionType::Ready, Some(false), Reason::NotCreated, ""),
            ),
            Some(c) if c.state.is_running() => match &s.probe {
                None => (
                    Phase::Running,
                    condition(ConditionType::Ready, Some(true), Reason::Running, ""),
                ),
                Some(_) if findings.ready.contains(&key) => (
                    Phase::Running,
                    condition(ConditionType::Ready, Some(true), Reason::ProbePassed, ""),
                ),
                Some(_) if findings.not_ready.contains_key(&key) => (
                    Phase::Running,
                    condition(
                        ConditionType::Ready,
                        Some(false),
                        Reason::ProbeFailed,
                        findings.not_ready[&key].clone(),
                    ),
                ),
                Some(_) => (
                    Phase::Running,
                    condition(
                        ConditionType::Ready,
                        None,
                        Reason::NotProbed,
                        "run `apply --wait` (or the controller) to probe readiness",
                    ),
                ),
            },
            Some(_) if !s.running => (
                Phase::Stopped,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::Stopped,
                    "declared stopped",
                ),
            ),
            Some(c) => (
                Phase::Exited,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::NotRunning,
                    format!("container is {:?}", c.state).to_lowercase(),
                ),
            ),
        };
        // A `lifetime` limit that acted says so, whatever the container's state.
        let (phase, ready) = match findings.expired.get(&key) {
            Some(e) => (
                Phase::Stopped,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    match e.expiry.reason {
                        super::lifetime::ExpiryReason::IdleTimeout => Reason::IdleTimeout,
                        super::lifetime::ExpiryReason::MaxLifetime => Reason::MaxLifetime,
                    },
                    e.reason(),
                ),
            ),
            None => (phase, ready),
        };
        let extra = (
            current.and_then(|c| c.spec_hash.clone()),
            current.map(|c| c.id.clone()),
            current.map(|c| c.container_name.clone()),
            current.map(|c| c.image_id.clone()),
        );
        let mut status = finish(&key, phase, ready, extra);
        status.expired = findings.expired.get(&key).map(|e| ExpiredStatus {
            reason: Reason::from(e.expiry.reason.as_str().to_string()),
            at: crate::timefmt::rfc3339(u64::try_from(e.expiry.at_ms / 1000).unwrap_or(0)),
            message: e.expiry.message.clone(),
        });
        status.paused = match super::plan::held_paused(s, observed) {
            Some(super::plan::Held::ByCommand) => observed.pauses.get(name).cloned(),
            Some(super::plan::Held::ByDeclaration) => Some(crate::status::types::PauseRecord {
                by: "spec.state".into(),
                at: None,
            }),
            None => None,
        };
        if let Some(c) = current {
            let record = observed
                .restarts
                .get(name)
                .filter(|r| r.container_id == c.id);
            status.restart_count = Some(record.map_or(0, |r| r.restart_count));
            // The last exit: the current one while it is down, else the one it restarted from.
            let (code, finished) = if c.state.is_running() {
                (
                    record.and_then(|r| r.last_exit_code),
                    record.and_then(|r| r.last_finished_at),
                )
            } else {
                (c.exit.code, c.exit.finished_at)
            };
            status.last_exit_code = code;
            status.last_finished_at = finished.map(|t| crate::timefmt::rfc3339(t.unsigned_abs()));
            if task.is_some() {
                status.output = observed.task_output.get(name).cloned();
            }
            status.hook_failure = hook_failure.cloned();
            // What Podman bound, not what the spec asks: a port is listed only while it is.
            if c.state.is_running() {
                status.ports = c
                    .ports
                    .iter()
                    .map(|p| PortStatus {
                        container_port: p.container_port,
                        protocol: p.protocol.clone(),
                        host_ip: p.host_ip.clone(),
                        host_port: p.host_port,
                    })
                    .collect();
            }
        }
        out.push(status);
    }
    for (name, n) in &desired.networks {
        let key = Key::new(Kind::Network, name.clone());
        let current = observed.networks.get(name);
        let held = current
            .and_then(|c| crate::engine::labels::ObjectLabels::parse(&c.labels))
            .and_then(|l| l.spec_hash);
        let current_settings = held.as_deref() == Some(n.spec_hash.as_str());
        let (phase, ready) = match (current, findings.blocked.get(&key)) {
            (Some(_), _) if current_settings => (
                Phase::Ready,
                condition(ConditionType::Ready, Some(true), Reason::Created, ""),
            ),
            (_, Some(reason)) => (
                Phase::Pending,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::Waiting,
                    reason.clone(),
                ),
            ),
            _ => (
                Phase::Pending,
                condition(ConditionType::Ready, Some(false), Reason::NotCreated, ""),
            ),
        };
        let mut status = finish(
            &key,
            phase,
            ready,
            (held, None, current.map(|c| c.name.clone()), None),
        );
        status.subnets = current.map(|c| c.subnets.clone()).unwrap_or_default();
        out.push(status);
    }
    for name in desired.volumes.keys() {
        let key = Key::new(Kind::Volume, name.clone());
        let present = observed.volumes.contains_key(name);
        let ready = condition(
            ConditionType::Ready,
            Some(present),
            if present {
                Reason::Created
            } else {
                Reason::NotCreated
            },
            "",
        );
        let volume = observed.volumes.get(name).map(|v| v.name.clone());
        out.push(finish(
            &key,
            if present {
                Phase::Ready
            } else {
                Phase::Pending
            },
            ready,
            (None, None, volume, None),
        ));
    }
    for (name, image) in &desired.images {
        let key = Key::new(Kind::Image, name.clone());
        let id = observed.image_id(&image.tag).map(str::to_string);
        let (phase, ready) = match (&id, findings.blocked.get(&key)) {
            (Some(_), _) => (
                Phase::Ready,
                condition(
                    ConditionType::Ready,
                    Some(true),
                    Reason::Present,
                    image.tag.clone(),
                ),
            ),
            (None, Some(reason)) => (
                Phase::Pending,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::Waiting,
                    reason.clone(),
                ),
            ),
            (None, None) => (
                Phase::Pending,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::NotPresent,
                    image.tag.clone(),
                ),
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
                Phase::Ready,
                condition(
                    ConditionType::Ready,
                    Some(true),
                    Reason::Taken,
                    format!("generation {}", snap.generation),
                ),
            ),
            (None, Some(reason)) => (
                Phase::Pending,
                condition(
                    ConditionType::Ready,
                    Some(false),
                    Reason::Waiting,
                    reason.clone(),
                ),
            ),
            (None, None) => (
                Phase::Pending,
                condition(ConditionType::Ready, Some(false), Reason::NotTaken, ""),
            ),
        };
        let mut status = finish(&key, phase, ready, (None, None, None, id));
        status.image = Some(snap.tag.clone());
        status.snapshot = observed
            .image_labels
            .get(&snap.tag)
            .and_then(snapshot_record_from_labels);
        out.push(status);
    }
    out
}

/// The workspace's own status file: `.pocket-dock/status/workspace.yaml`.
pub const WORKSPACE_FILE: &str = "workspace.yaml";

/// Every status file starts with this line; pocket-dock replaces or deletes only files that
/// do (and only regular files).
const HEADER: &str = "# Generated by pocket-dock; do not edit.\n";

/// Status files larger than this are not pocket-dock's.
const MAX_STATUS_BYTES: u64 = 1024 * 1024;

fn kind_folder(kind: Kind) -> String {
    kind.as_str().to_lowercase()
}

fn file_name(name: &str) -> String {
    format!("{name}.yaml")
}

fn is_ours(head: &[u8]) -> bool {
    head.starts_with(HEADER.as_bytes())
}

/// Kinds that have status files, by folder name.
fn status_kinds() -> impl Iterator<Item = Kind> {
    [
        Kind::Sandbox,
        Kind::Image,
        Kind::Snapshot,
        Kind::Volume,
        Kind::Network,
    ]
    .into_iter()
}

/// The status folder, opened without following symlinks.
pub struct StatusFiles {
    dir: OwnedDir,
}

impl StatusFiles {
    /// Opens `.pocket-dock/status` (creating it when `create`); `None` when it does not
    /// exist. A symlink at either level is refused.
    pub fn open(pocket_dock_dir: &Path, create: bool) -> Result<Option<Self>, OwnedFileError> {
        let top = OwnedDir::open(pocket_dock_dir)?;
        Ok(top
            .subdir(STATUS_DIR, create)?
            .map(|dir| StatusFiles { dir }))
    }

    fn kind_dir(&self, kind: Kind, create: bool) -> Result<Option<OwnedDir>, OwnedFileError> {
        self.dir.subdir(&kind_folder(kind), create)
    }

    /// An object's status as last written, if it can be read; fields a file lacks (an
    /// older version wrote it) take their defaults.
    pub fn read(&self, kind: Kind, name: &str) -> Option<Status> {
        serde_json::from_value(self.read_value(kind, name)?).ok()
    }

    /// An object's status file as it is, untyped.
    pub fn read_value(&self, kind: Kind, name: &str) -> Option<serde_json::Value> {
        let dir = self.kind_dir(kind, false).ok()??;
        parse(&dir.read(&file_name(name), MAX_STATUS_BYTES).ok()??)
    }

    /// The workspace's status (its current problems), if it can be read.
    pub fn read_workspace(&self) -> Option<crate::status::types::WorkspaceStatusFile> {
        serde_json::from_value(parse(
            &self.dir.read(WORKSPACE_FILE, MAX_STATUS_BYTES).ok()??,
        )?)
        .ok()
    }
}

fn parse(bytes: &[u8]) -> Option<serde_json::Value> {
    let text = std::str::from_utf8(bytes).ok()?;
    let docs = pocket_dock_spec::yaml::parse(text, Default::default()).ok()?;
    docs.into_iter().next().map(|d| d.root.to_json())
}

/// What writing status files did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub files: usize,
    /// Entries that are not pocket-dock's (a symlink, a FIFO, a foreign file), and were left
    /// alone: reported, never acted on.
    pub skipped: Vec<String>,
    /// Status files that could not be written (a full disk, a read-only folder): errors.
    pub failed: Vec<String>,
}

impl Written {
    fn note(&mut self, e: OwnedFileError) {
        match e {
            OwnedFileError::Io { .. } => self.failed.push(e.to_string() + &io_cause(&e)),
            _ => self.skipped.push(e.to_string()),
        }
    }
}

/// The cause of an I/O error, for a message that names it in one line.
fn io_cause(e: &OwnedFileError) -> String {
    std::error::Error::source(e).map_or_else(String::new, |c| format!(": {c}"))
}

/// Carries condition transition times (and the last error's time) over from the previous
/// version of a status while a condition keeps its status and reason.
fn carry_times(
    conditions: &mut [Condition],
    last_error: Option<&mut LastError>,
    previous: Option<&PreviousTimes>,
    now: &str,
) {
    for c in conditions {
        let old = previous.and_then(|p| p.conditions.iter().find(|o| o.kind == c.kind));
        c.last_transition_time = match old {
            Some(o)
                if o.status == c.status
                    && o.reason == c.reason
                    && !o.last_transition_time.is_empty() =>
            {
                o.last_transition_time.clone()
            }
            _ => now.to_string(),
        };
    }
    if let Some(e) = last_error {
        e.time = match previous.and_then(|p| p.last_error.as_ref()) {
            Some(o) if o.message == e.message && !o.time.is_empty() => o.time.clone(),
            _ => now.to_string(),
        };
    }
}

/// What a previous status file says about its times (any status file, the workspace's too).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreviousTimes {
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    last_error: Option<LastError>,
    #[serde(default)]
    observed_generation: Option<u64>,
}

fn previous_times(bytes: &[u8]) -> Option<PreviousTimes> {
    serde_json::from_value(parse(bytes)?).ok()
}

/// Writes `value` as `name` in `dir` when its text changed; true when written.
fn write_if_changed(
    dir: &OwnedDir,
    name: &str,
    previous: Option<&[u8]>,
    value: &serde_json::Value,
) -> Result<bool, OwnedFileError> {
    let text = format!("{HEADER}{}", to_yaml(value));
    if previous == Some(text.as_bytes()) {
        return Ok(false);
    }
    dir.write_atomic(name, text.as_bytes(), is_ours)?;
    Ok(true)
}

/// The status folder, created if need be; `None` (with the reason in `skipped`) when it
/// cannot be used.
fn open_for_writing(pocket_dock_dir: &Path, written: &mut Written) -> Option<StatusFiles> {
    match StatusFiles::open(pocket_dock_dir, true) {
        Ok(files) => files,
        Err(e) => {
            let message = format!("status files not written: {e}{}", io_cause(&e));
            match e {
                OwnedFileError::Io { .. } => written.failed.push(message),
                _ => written.skipped.push(message),
            }
            None
        }
    }
}

/// Writes every status that changed. With `prune` (the declarations are the complete
/// picture), removes the status files of objects no longer declared; without it, none. Only
/// regular files that pocket-dock wrote are replaced or removed; anything else found in the
/// status folder is reported in `skipped` and left alone.
pub fn write_all(pocket_dock_dir: &Path, statuses: &mut [Status], prune: bool) -> Written {
    let mut written = Written::default();
    let Some(files) = open_for_writing(pocket_dock_dir, &mut written) else {
        return written;
    };
    let now = now_rfc3339();
    let mut kind_dirs: BTreeMap<Kind, Option<OwnedDir>> = BTreeMap::new();
    let mut keep: BTreeSet<(Kind, String)> = BTreeSet::new();
    for status in statuses.iter_mut() {
        let Ok(kind) = status.kind.parse::<Kind>() else {
            continue;
        };
        let name = file_name(&status.name);
        keep.insert((kind, name.clone()));
        let dir = kind_dirs
            .entry(kind)
            .or_insert_with(|| match files.kind_dir(kind, true) {
                Ok(dir) => dir,
                Err(e) => {
                    written.note(e);
                    None
                }
            });
        let Some(dir) = dir else { continue };
        let previous = match dir.read(&name, MAX_STATUS_BYTES) {
            Ok(previous) => previous,
            Err(e) => {
                written.note(e);
                continue;
            }
        };
        let previous_value = previous.as_deref().and_then(previous_times);
        carry_times(
            &mut status.conditions,
            status.last_error.as_mut(),
            previous_value.as_ref(),
            &now,
        );
        if status.observed_generation.is_none() {
            status.observed_generation =
                previous_value.as_ref().and_then(|p| p.observed_generation);
        }
        let value = serde_json::to_value(&*status).unwrap_or_default();
        match write_if_changed(dir, &name, previous.as_deref(), &value) {
            Ok(true) => written.files += 1,
            Ok(false) => {}
            Err(e) => written.note(e),
        }
    }
    sweep(&files, &keep, prune, &mut written.skipped);
    written
}

/// Looks over the status folder: cleans up stale temp files, reports what is not
/// pocket-dock's, and (with `prune`) removes status files of objects in no `keep`.
fn sweep(
    files: &StatusFiles,
    keep: &BTreeSet<(Kind, String)>,
    prune: bool,
    skipped: &mut Vec<String>,
) {
    let _ = files.dir.clean_temp_files();
    let Ok(entries) = files.dir.list() else {
        return;
    };
    let folders: BTreeMap<String, Kind> = status_kinds().map(|k| (kind_folder(k), k)).collect();
    for (name, entry) in entries {
        let path = files.dir.path().join(&name);
        match (entry, folders.get(&name)) {
            (EntryKind::Folder, Some(&kind)) => match files.kind_dir(kind, false) {
                Ok(Some(dir)) => sweep_kind(&dir, kind, keep, prune, skipped),
                Ok(None) => {}
                Err(e) => skipped.push(e.to_string()),
            },
            (EntryKind::File, None) if name == WORKSPACE_FILE || is_temp_name(&name) => {}
            (EntryKind::Folder, None) => skipped.push(format!(
                "{} is not a folder pocket-dock made; it was left alone",
                path.display()
            )),
            (EntryKind::File, None) => {}
            (other, _) => skipped.push(format!(
                "{} is {}, not something pocket-dock made; it was left alone",
                path.display(),
                describe(other)
            )),
        }
    }
}

fn sweep_kind(
    dir: &OwnedDir,
    kind: Kind,
    keep: &BTreeSet<(Kind, String)>,
    prune: bool,
    skipped: &mut Vec<String>,
) {
    let _ = dir.clean_temp_files();
    let Ok(entries) = dir.list() else {
        return;
    };
    for (name, entry) in entries {
        match entry {
            EntryKind::File if is_temp_name(&name) || !name.ends_with(".yaml") => {}
            EntryKind::File => {
                if prune
                    && !keep.contains(&(kind, name.clone()))
                    && let Err(e) = dir.remove(&name, is_ours)
                {
                    skipped.push(e.to_string());
                }
            }
            other => skipped.push(format!(
                "{} is {}, not something pocket-dock made; it was left alone",
                dir.path().join(&name).display(),
                describe(other)
            )),
        }
    }
}

fn describe(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Absent => "gone",
        EntryKind::File => "a regular file",
        EntryKind::Folder => "a folder",
        EntryKind::Symlink => "a symlink",
        EntryKind::Special(what) => what,
    }
}

/// The workspace's status: whether its declarations are valid, and every current problem
/// with its file and line. Problems are cleared when they are fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatus {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Valid`, or `Invalid` while any file has a problem.
    pub phase: Phase,
    pub conditions: Vec<Condition>,
    pub problems: Vec<pocket_dock_spec::Diagnostic>,
}

impl WorkspaceStatus {
    pub fn new(name: Option<String>, problems: Vec<pocket_dock_spec::Diagnostic>) -> Self {
        let files: BTreeSet<&Path> = problems.iter().map(|d| d.file.as_path()).collect();
        let stalled = if problems.is_empty() {
            condition(ConditionType::Stalled, Some(false), Reason::AsDeclared, "")
        } else {
            condition(
                ConditionType::Stalled,
                Some(true),
                Reason::InvalidSpec,
                format!(
                    "{} in {}; objects of invalid files keep their last valid version, and nothing is pruned until every file is valid",
                    plural(problems.len(), "problem"),
                    plural(files.len(), "file")
                ),
            )
        };
        WorkspaceStatus {
            kind: "Workspace",
            name,
            phase: if problems.is_empty() {
                Phase::Valid
            } else {
                Phase::Invalid
            },
            // `Degraded` is the deprecated alias of `Stalled`.
            conditions: vec![
                stalled.clone(),
                Condition {
                    kind: ConditionType::Degraded,
                    ..stalled
                },
            ],
            problems,
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Writes `.pocket-dock/status/workspace.yaml` when it changed.
pub fn write_workspace(pocket_dock_dir: &Path, mut status: WorkspaceStatus) -> Written {
    let mut written = Written::default();
    let Some(files) = open_for_writing(pocket_dock_dir, &mut written) else {
        return written;
    };
    let previous = match files.dir.read(WORKSPACE_FILE, MAX_STATUS_BYTES) {
        Ok(previous) => previous,
        Err(e) => {
            written.note(e);
            return written;
        }
    };
    let previous_value = previous.as_deref().and_then(previous_times);
    carry_times(
        &mut status.conditions,
        None,
        previous_value.as_ref(),
        &now_rfc3339(),
    );
    let value = serde_json::to_value(&status).unwrap_or_default();
    match write_if_changed(&files.dir, WORKSPACE_FILE, previous.as_deref(), &value) {
        Ok(true) => written.files += 1,
        Ok(false) => {}
        Err(e) => written.note(e),
    }
    written
}

/// Why a sandbox's main process was killed for memory, when it was: the engine says so,
/// or (Podman 4.x on cgroup v1 does not) it died of SIGKILL (exit 137) under a memory
/// limit, which in a sandbox nothing but the kernel's OOM killer sends unless someone runs
/// `kill -9` by hand; the message says which.
fn oom_kill(exit: &super::restarts::Exit, limit: Option<u64>) -> Option<String> {
    let limit_text = limit.map_or_else(String::new, |b| format!(" ({} MiB)", b >> 20));
    let fix = "raise `resources.memory` or use less";
    if exit.oom_killed {
        return Some(format!(
            "killed by the kernel: it went over its memory limit{limit_text}; {fix}"
        ));
    }
    (exit.code == Some(137) && limit.is_some()).then(|| {
        format!(
            "killed by SIGKILL (exit 137) under its memory limit{limit_text}: the kernel's OOM \
             killer, most likely (this engine does not report OOM kills); {fix}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oom_kill_is_what_the_engine_says_or_a_sigkill_under_a_memory_limit() {
        let mut exit = super::super::restarts::Exit {
            code: Some(137),
            ..Default::default()
        };
        assert_eq!(
            oom_kill(&exit, None),
            None,
            "a SIGKILL without a limit is someone's kill -9"
        );
        let inferred = oom_kill(&exit, Some(32 << 20)).unwrap();
        assert!(
            inferred.contains("32 MiB") && inferred.contains("most likely"),
            "{inferred}"
        );
        exit.oom_killed = true;
        let reported = oom_kill(&exit, Some(32 << 20)).unwrap();
        assert!(!reported.contains("most likely"), "{reported}");
        exit = Default::default();
        exit.code = Some(1);
        assert_eq!(oom_kill(&exit, Some(32 << 20)), None);
    }

    fn error(category: &str) -> LastError {
        LastError {
            category: category.into(),
            operation: None,
            message: "it broke".into(),
            time: String::new(),
        }
    }

    /// (case, blocked, error, crash loop, invalid) -> (Reconciling, Stalled) status and reason.
    #[test]
    fn kstatus_conditions_and_their_deprecated_aliases() {
        use crate::status::types::ConditionStatus::{self, False, True};
        let build = error("invalid-input");
        type Expected<'a> = (ConditionStatus, &'a str);
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a LastError>,
            Option<&'a str>,
            Option<&'a str>,
            Expected<'a>,
            Expected<'a>,
        );
        let cases: Vec<Case> = vec![
            (
                "converged",
                None,
                None,
                None,
                None,
                (False, "Converged"),
                (False, "AsDeclared"),
            ),
            (
                "waiting for a dependency",
                Some("waiting for db"),
                None,
                None,
                None,
                (True, "Waiting"),
                (False, "AsDeclared"),
            ),
            (
                "failed build",
                None,
                Some(&build),
                None,
                None,
                (False, "Failed"),
                (True, "invalid-input"),
            ),
            (
                "crash loop",
                None,
                None,
                Some("back-off 10s"),
                None,
                (False, "Converged"),
                (True, "CrashLoop"),
            ),
            (
                "invalid file",
                None,
                None,
                None,
                Some("bad field"),
                (False, "Converged"),
                (True, "InvalidSpec"),
            ),
            (
                "blocked and failed",
                Some("waiting"),
                Some(&build),
                None,
                None,
                (True, "Waiting"),
                (True, "invalid-input"),
            ),
        ];
        for (case, blocked, err, crash, invalid, reconciling, stalled) in cases {
            let [r, s, p, d] = progress_conditions(blocked, err, crash, invalid);
            assert_eq!(
                (r.kind, s.kind),
                (ConditionType::Reconciling, ConditionType::Stalled)
            );
            assert_eq!((r.status, r.reason.as_str()), reconciling, "{case}");
            assert_eq!((s.status, s.reason.as_str()), stalled, "{case}");
            assert_eq!(
                p,
                Condition {
                    kind: ConditionType::Progressing,
                    ..r
                },
                "{case}"
            );
            assert_eq!(
                d,
                Condition {
                    kind: ConditionType::Degraded,
                    ..s
                },
                "{case}"
            );
        }
    }

    #[test]
    fn a_status_file_keeps_its_field_names_and_reads_back_typed() {
        let mut status = Status {
            kind: "Sandbox".into(),
            name: "web".into(),
            metadata: Some(Metadata { generation: 2 }),
            phase: Phase::Running,
            observed_generation: Some(2),
            restart_count: Some(0),
            conditions: vec![Condition::new(
                ConditionType::Ready,
                Some(true),
                Reason::Running,
                "",
            )],
            ..Status::default()
        };
        status.conditions[0].last_transition_time = "2026-01-01T00:00:00Z".into();
        let text = to_yaml(&serde_json::to_value(&status).unwrap());
        assert_eq!(
            text,
            "conditions:\n- lastTransitionTime: \"2026-01-01T00:00:00Z\"\n  reason: Running\n  status: \"True\"\n  type: Ready\nkind: Sandbox\nmetadata:\n  generation: 2\nname: web\nobservedGeneration: 2\nphase: Running\nrestartCount: 0\n"
        );
        let back: Status = serde_json::from_value(parse(text.as_bytes()).unwrap()).unwrap();
        assert_eq!(back, status);
    }
}
