//! The typed shape of status files. Kept free of the store and the reconciler so that
//! both (and readers such as `get` and `wait`) can use it without an import cycle.
//!
//! Every enum writes the exact strings status files have always held; values this version
//! does not know read back as `Unknown`/`Other` instead of failing.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An object's phase, as `get` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Phase {
    Pending,
    Running,
    Stopped,
    /// A sandbox whose processes are frozen (`state: paused`, or `pocket-dock pause`).
    Paused,
    Exited,
    CrashLoopBackOff,
    Failed,
    /// A one-shot sandbox (`run: once`) whose command exited 0.
    Succeeded,
    Ready,
    /// Workspace: every file is valid.
    Valid,
    /// Workspace: some file has a problem.
    Invalid,
    #[default]
    #[serde(other)]
    Unknown,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Stopped => "Stopped",
            Phase::Paused => "Paused",
            Phase::Exited => "Exited",
            Phase::CrashLoopBackOff => "CrashLoopBackOff",
            Phase::Failed => "Failed",
            Phase::Succeeded => "Succeeded",
            Phase::Ready => "Ready",
            Phase::Valid => "Valid",
            Phase::Invalid => "Invalid",
            Phase::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition's type. `Ready`, `Reconciling` and `Stalled` follow kstatus (the latter two
/// are abnormal-true: `False` when all is well); `Progressing` and `Degraded` are the
/// deprecated names of `Reconciling` and `Stalled`, still written for older readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConditionType {
    Ready,
    Reconciling,
    Stalled,
    /// Deprecated alias of `Reconciling`.
    Progressing,
    /// Deprecated alias of `Stalled`.
    Degraded,
    #[serde(other)]
    Other,
}

impl ConditionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
            ConditionType::Progressing => "Progressing",
            ConditionType::Degraded => "Degraded",
            ConditionType::Other => "Other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    #[serde(other)]
    Unknown,
}

impl ConditionStatus {
    pub fn from_bool(value: Option<bool>) -> Self {
        match value {
            Some(true) => ConditionStatus::True,
            Some(false) => ConditionStatus::False,
            None => ConditionStatus::Unknown,
        }
    }

    /// How `get` shows it: `true`, `false`, `unknown`.
    pub fn as_lower(self) -> &'static str {
        match self {
            ConditionStatus::True => "true",
            ConditionStatus::False => "false",
            ConditionStatus::Unknown => "unknown",
        }
    }
}

/// Why a condition has its status. Error categories (`runtime`, `conflict`, ...) are
/// reasons too, in their lower-case spelling; a reason this version does not know is kept
/// as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Reason {
    AsDeclared,
    Converged,
    Waiting,
    Failed,
    CrashLoop,
    CrashLoopBackOff,
    InvalidSpec,
    NotCreated,
    Created,
    Running,
    ProbePassed,
    ProbeFailed,
    NotProbed,
    Stopped,
    NotRunning,
    Present,
    NotPresent,
    Taken,
    NotTaken,
    /// A one-shot sandbox exited 0.
    Completed,
    /// A one-shot sandbox exited non-zero.
    TaskFailed,
    /// A one-shot sandbox is still running.
    TaskRunning,
    /// A lifecycle hook failed.
    HookFailed,
    /// The kernel killed the main process for going over the memory limit.
    OOMKilled,
    /// Stopped by `lifetime.idleTimeout`.
    IdleTimeout,
    /// Removed by `lifetime.maxLifetime`.
    MaxLifetime,
    /// Its processes are frozen (`state: paused`, `pocket-dock pause`, or by hand).
    Paused,
    /// An error's category (`engine::Category`, or `internal`), as the error reported it.
    Category(String),
    Other(String),
}

const CATEGORIES: [&str; 8] = [
    "connection",
    "not-found",
    "conflict",
    "invalid-input",
    "runtime",
    "timeout",
    "unsupported",
    "internal",
];

impl Reason {
    /// The reason for a failure of `category`.
    pub fn category(category: &str) -> Self {
        Reason::Category(category.to_string())
    }

    pub fn as_str(&self) -> &str {
        match self {
            Reason::AsDeclared => "AsDeclared",
            Reason::Converged => "Converged",
            Reason::Waiting => "Waiting",
            Reason::Failed => "Failed",
            Reason::CrashLoop => "CrashLoop",
            Reason::CrashLoopBackOff => "CrashLoopBackOff",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::NotCreated => "NotCreated",
            Reason::Created => "Created",
            Reason::Running => "Running",
            Reason::ProbePassed => "ProbePassed",
            Reason::ProbeFailed => "ProbeFailed",
            Reason::NotProbed => "NotProbed",
            Reason::Stopped => "Stopped",
            Reason::NotRunning => "NotRunning",
            Reason::Present => "Present",
            Reason::NotPresent => "NotPresent",
            Reason::Taken => "Taken",
            Reason::NotTaken => "NotTaken",
            Reason::Completed => "Completed",
            Reason::TaskFailed => "TaskFailed",
            Reason::TaskRunning => "TaskRunning",
            Reason::HookFailed => "HookFailed",
            Reason::OOMKilled => "OOMKilled",
            Reason::IdleTimeout => "IdleTimeout",
            Reason::MaxLifetime => "MaxLifetime",
            Reason::Paused => "Paused",
            Reason::Category(s) | Reason::Other(s) => s,
        }
    }
}

impl From<String> for Reason {
    fn from(s: String) -> Self {
        let known = [
            Reason::AsDeclared,
            Reason::Converged,
            Reason::Waiting,
            Reason::Failed,
            Reason::CrashLoop,
            Reason::CrashLoopBackOff,
            Reason::InvalidSpec,
            Reason::NotCreated,
            Reason::Created,
            Reason::Running,
            Reason::ProbePassed,
            Reason::ProbeFailed,
            Reason::NotProbed,
            Reason::Stopped,
            Reason::NotRunning,
            Reason::Present,
            Reason::NotPresent,
            Reason::Taken,
            Reason::NotTaken,
            Reason::Completed,
            Reason::TaskFailed,
            Reason::TaskRunning,
            Reason::HookFailed,
            Reason::OOMKilled,
            Reason::IdleTimeout,
            Reason::MaxLifetime,
            Reason::Paused,
        ];
        if let Some(r) = known.into_iter().find(|r| r.as_str() == s) {
            return r;
        }
        if CATEGORIES.contains(&s.as_str()) {
            return Reason::Category(s);
        }
        Reason::Other(s)
    }
}

impl From<Reason> for String {
    fn from(r: Reason) -> Self {
        r.as_str().to_string()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    pub status: ConditionStatus,
    pub reason: Reason,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default)]
    pub last_transition_time: String,
}

impl Condition {
    pub fn new(
        kind: ConditionType,
        status: Option<bool>,
        reason: Reason,
        message: impl Into<String>,
    ) -> Self {
        Condition {
            kind,
            status: ConditionStatus::from_bool(status),
            reason,
            message: message.into(),
            last_transition_time: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub time: String,
}

/// `metadata` of a status file: the object's generation, which increases whenever its
/// spec changes (kept in the state store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub generation: u64,
}

/// One object's status file (`.pocket-dock/status/<kind>/<name>.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    /// The object's generation; absent when the state store could not be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub phase: Phase,
    /// The generation the last completed reconcile acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_spec_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// For `Image` and `Snapshot` objects: the image name sandboxes run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// For `Snapshot` objects: where the image came from (read back from its labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotRecord>,
    /// For sandboxes: how often pocket-dock started it again after it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<u32>,
    /// For sandboxes: the exit code of the last exit, and when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_finished_at: Option<String>,
    /// For a finished one-shot sandbox: the last lines it printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// For sandboxes: the hook that failed in the current container (until its hooks pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_failure: Option<HookFailure>,
    /// For sandboxes: the `lifetime` limit that stopped or removed it, when, and why. It
    /// stays so until its declaration changes (or `apply --resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired: Option<ExpiredStatus>,
    /// For sandboxes held paused: by whom (its declaration, or `pocket-dock pause`) and
    /// since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<PauseRecord>,
    /// For networks: the subnets the engine hands addresses from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// For a running sandbox: the ports Podman publishes for it, as bound (observed, not
    /// declared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortStatus>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
}

/// A `lifetime` expiry in a status file: `{reason, at, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredStatus {
    /// `IdleTimeout` (stopped) or `MaxLifetime` (removed).
    pub reason: Reason,
    /// RFC 3339.
    pub at: String,
    /// `idle for 30m`, `lifetime 8h reached`.
    pub message: String,
}

/// A published port in a status file: `{containerPort, protocol, hostIP, hostPort}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortStatus {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The address it listens on (`0.0.0.0`: every address).
    #[serde(rename = "hostIP")]
    pub host_ip: String,
    pub host_port: u16,
}

impl Status {
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    pub fn generation(&self) -> Option<u64> {
        self.metadata.map(|m| m.generation)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRecord {
    pub sandbox: String,
    #[serde(default)]
    pub sandbox_spec_hash: String,
    #[serde(default)]
    pub sandbox_image: String,
    #[serde(default)]
    pub taken_at: String,
    #[serde(default)]
    pub generation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The workspace's status file (`.pocket-dock/status/workspace.yaml`), as read back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatusFile {
    #[serde(default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub phase: Phase,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub problems: Vec<serde_json::Value>,
}

// ---- Lifetime limits (`spec.lifetime`), kept in the state store ----

/// Which limit acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpiryReason {
    /// Stopped after `idleTimeout` without activity.
    IdleTimeout,
    /// Removed at `maxLifetime`.
    MaxLifetime,
}

impl ExpiryReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryReason::IdleTimeout => "IdleTimeout",
            ExpiryReason::MaxLifetime => "MaxLifetime",
        }
    }
}

/// A limit that acted, for the declaration (document hash) it acted under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiry {
    pub reason: ExpiryReason,
    /// When it acted (ms since the epoch).
    pub at_ms: i64,
    /// Why, in words (`idle for 30m`, `lifetime 8h reached`).
    pub message: String,
}

/// What the state store keeps per sandbox (`lifetimes` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeRecord {
    /// The declaration these times belong to; another one starts a new record.
    pub document_hash: String,
    /// When this declaration was first reconciled (ms since the epoch).
    pub since_ms: i64,
    /// The limit that acted under this declaration, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Expiry>,
}

impl LifetimeRecord {
    /// The record for `document_hash` at `now_ms`: `current` when it is for the same
    /// declaration, else a new one (a changed declaration lifts any expiry). `resume` lifts
    /// it too, and starts the clocks over.
    pub fn for_declaration(
        current: Option<&LifetimeRecord>,
        document_hash: &str,
        now_ms: i64,
        resume: bool,
    ) -> LifetimeRecord {
        match current {
            Some(r) if r.document_hash == document_hash && !resume => r.clone(),
            _ => LifetimeRecord {
                document_hash: document_hash.to_string(),
                since_ms: now_ms,
                expiry: None,
            },
        }
    }
}

/// Exec and session activity in a sandbox, from the state store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Activity {
    /// The last time a command started or ended (ms since the epoch).
    pub last_ms: Option<i64>,
    /// An exec, shell or session is open now (its client process is alive).
    pub live: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRDs (`pocket-dock schema --crds`) declare the status fields their printer
    /// columns and `kubectl wait --for=condition=Ready` read; the status written here must
    /// have them, with those types.
    #[test]
    fn a_status_has_the_shape_the_crds_declare() {
        let mut status = Status {
            kind: "Sandbox".into(),
            name: "web".into(),
            phase: Phase::Ready,
            observed_generation: Some(3),
            observed_spec_hash: Some("sha256:abc".into()),
            ..Status::default()
        };
        for (kind, value) in [
            (ConditionType::Ready, Some(true)),
            (ConditionType::Stalled, Some(false)),
            (ConditionType::Degraded, None),
        ] {
            let mut condition = Condition::new(kind, value, Reason::AsDeclared, "because");
            condition.last_transition_time = "2026-12-01T09:05:24Z".into();
            status.conditions.push(condition);
        }
        let written = serde_json::to_value(&status).unwrap();
        for kind in pocket_dock_spec::schema::DECLARABLE {
            let crd = pocket_dock_spec::crd::crd(kind);
            let schema =
                &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
            let declared = schema["properties"].as_object().unwrap();
            for (field, field_schema) in declared {
                let value = &written[field];
                let ok = match field_schema["type"].as_str().unwrap() {
                    "string" => value.is_string(),
                    "integer" => value.is_u64(),
                    "array" => value.is_array(),
                    other => panic!("status.{field}: type {other}"),
                };
                assert!(ok, "{kind}: status.{field} = {value}");
            }
            let condition = &schema["properties"]["conditions"]["items"];
            let fields = condition["properties"].as_object().unwrap();
            let statuses = condition["properties"]["status"]["enum"]
                .as_array()
                .unwrap();
            for written in written["conditions"].as_array().unwrap() {
                for (key, value) in written.as_object().unwrap() {
                    assert!(fields.contains_key(key), "{kind}: condition field {key}");
                    assert!(value.is_string(), "{kind}: condition.{key} = {value}");
                }
                assert!(statuses.contains(&written["status"]), "{written}");
                for key in condition["required"].as_array().unwrap() {
                    assert!(written.get(key.as_str().unwrap()).is_some(), "{key}");
                }
            }
        }
    }

    #[test]
    fn lifetime_reasons_and_records_read_back() {
        for (text, reason) in [
            ("IdleTimeout", Reason::IdleTimeout),
            ("MaxLifetime", Reason::MaxLifetime),
        ] {
            assert_eq!(Reason::from(text.to_string()), reason);
            assert_eq!(reason.as_str(), text);
        }
        let expired = ExpiredStatus {
            reason: Reason::IdleTimeout,
            at: "2026-12-01T09:05:24Z".into(),
            message: "idle for 2s".into(),
        };
        let value = serde_json::to_value(&expired).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"reason": "IdleTimeout", "at": "2026-12-01T09:05:24Z", "message": "idle for 2s"})
        );
        // A record written by a version that knows more fields still reads.
        let record: LifetimeRecord = serde_json::from_value(serde_json::json!({
            "documentHash": "sha256:a", "sinceMs": 1,
            "expiry": {"reason": "MaxLifetime", "atMs": 2, "message": "lifetime 8h reached"},
            "future": true
        }))
        .unwrap();
        assert_eq!(
            record.expiry.map(|e| e.reason),
            Some(ExpiryReason::MaxLifetime)
        );
    }

    #[test]
    fn enums_keep_their_strings_and_tolerate_new_ones() {
        let c: Condition = serde_json::from_value(serde_json::json!({
            "type": "Degraded", "status": "True", "reason": "runtime", "message": "m",
            "lastTransitionTime": "t"
        }))
        .unwrap();
        assert_eq!(c.kind, ConditionType::Degraded);
        assert_eq!(c.reason, Reason::Category("runtime".into()));
        assert_eq!(
            serde_json::to_value(&c).unwrap()["reason"],
            serde_json::json!("runtime")
        );
        let odd: Condition = serde_json::from_value(serde_json::json!({
            "type": "Flux", "status": "Maybe", "reason": "Whatever"
        }))
        .unwrap();
        assert_eq!(odd.kind, ConditionType::Other);
        assert_eq!(odd.status, ConditionStatus::Unknown);
        assert_eq!(odd.reason, Reason::Other("Whatever".into()));
        for r in ["NotProbed", "CrashLoopBackOff", "AsDeclared", "Taken"] {
            assert_eq!(Reason::from(r.to_string()).as_str(), r);
            assert!(!matches!(Reason::from(r.to_string()), Reason::Other(_)));
        }
    }

    #[test]
    fn an_old_or_partial_status_file_reads_with_defaults() {
        let s: Status = serde_json::from_value(serde_json::json!({
            "kind": "Sandbox", "name": "a", "phase": "Sideways"
        }))
        .unwrap();
        assert_eq!(s.phase, Phase::Unknown);
        assert_eq!(s.generation(), None);
        assert!(s.conditions.is_empty());
        let empty: Status = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(empty.phase, Phase::Unknown);
    }
}

/// Who holds a sandbox paused, and since when: an imperative `pocket-dock pause` (kept in
/// the state store as an override the reconciler honors until `pocket-dock resume`), or
/// its declaration (`state: paused`, shown in status only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseRecord {
    /// `pocket-dock pause` (with the user who ran it), or `spec.state`.
    pub by: String,
    /// When, RFC 3339 (for `pocket-dock pause`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// What is remembered (in the state store) of one sandbox's restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartRecord {
    /// The container these restarts were of; a new container starts a new record.
    pub container_id: String,
    pub restart_count: u32,
    /// How long the next restart waits after an exit; 0 until the first restart.
    pub backoff_ms: u64,
    pub last_exit_code: Option<i64>,
    /// Seconds since the Unix epoch.
    pub last_finished_at: Option<i64>,
    /// When pocket-dock last started it, on this machine's clock (seconds since the epoch).
    #[serde(default)]
    pub restarted_at: Option<i64>,
}

/// Which hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HookPoint {
    #[serde(rename = "postCreate")]
    PostCreate,
    #[serde(rename = "postStart")]
    PostStart,
}

impl HookPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPoint::PostCreate => "postCreate",
            HookPoint::PostStart => "postStart",
        }
    }
}

impl std::fmt::Display for HookPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed hook, as status reports it and the state store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookFailure {
    /// The container it failed in: a new container has not failed.
    pub container_id: String,
    pub hook: HookPoint,
    pub argv: Vec<String>,
    pub exit_code: Option<i64>,
    pub output: String,
    pub message: String,
}
