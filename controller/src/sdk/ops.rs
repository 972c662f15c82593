//! What a workspace can do: plan, apply, delete, snapshot. Each is one call, the same one
//! the CLI makes; the CLI only parses arguments and prints.

use std::sync::Arc;
use std::time::Instant;

use pocket_dock_spec::Kind;

use super::Valid;
use super::snapshot::{SnapshotReport, SnapshotRequest};
use crate::engine::OwnedVolume;
use crate::engine::labels::ObjectLabels;
use crate::engine::{Engine, EngineProfile};
use crate::gc::{self, GcOptions, GcPlan, GcReport, Refusal};
use crate::reconcile::{
    self, ApplyOptions, ApplyReport, Key, NoObserver, Observer, Plan, Readiness,
};
use crate::requirements::{Unmet, requirements, unmet};
use crate::store::{
    AuditHead, AuditReport, Event, EventQuery, EventRecord, Source, StateStore, record_in,
};
use crate::workspace::Workspace;
use crate::writer_lock::WriterLock;
use crate::{Error, Result};

/// What `delete` removes: one object's runtime objects, or every sandbox container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteRequest {
    /// A sandbox's container or a volume (and its data), by key.
    One(Key),
    /// Every sandbox container of this workspace; with `volumes`, every named volume and its
    /// data too.
    All { volumes: bool },
    /// The declared objects `--only`/`--selector` match: their containers, and the volumes
    /// among them with their data. Not their dependencies: deleting a sandbox leaves the
    /// database it depends on alone.
    Selected(reconcile::Selection),
}

/// One runtime object `delete` removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    pub key: Key,
    /// The container's or volume's name in the engine.
    pub object: String,
    /// A volume's data went with it.
    pub data_deleted: bool,
    /// A sandbox's open `session`s (their clients still running) that ended with its
    /// container: their shells and processes went with it.
    #[serde(skip_serializing_if = "is_zero")]
    pub sessions_ended: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What gc found, and (unless a dry run) what removing it did.
#[derive(Debug)]
pub struct GcOutcome {
    pub plan: GcPlan,
    pub report: Option<GcReport>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DeleteReport {
    pub removed: Vec<Removed>,
    /// What was asked for and left alone, and why (a network a stranger's container is on).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<KeptObject>,
}

/// One runtime object `delete` left in place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeptObject {
    pub key: Key,
    pub object: String,
    pub reason: String,
}

/// `validate`: every document checked, and (when an engine was given and the documents
/// are valid) every declaration the engine cannot serve.
#[derive(Debug)]
pub struct Validation {
    pub loaded: pocket_dock_spec::Loaded,
    /// The engine asked, and what it lacks; `None` when no engine was given or the
    /// documents are invalid (an invalid file is the first fix).
    pub engine: Option<(Arc<EngineProfile>, Vec<Unmet>)>,
}

impl Validation {
    /// Every document valid, and nothing the engine lacks.
    pub fn valid(&self) -> bool {
        self.loaded.is_valid() && self.unmet().is_empty()
    }

    pub fn unmet(&self) -> &[Unmet] {
        self.engine.as_ref().map_or(&[], |(_, u)| u.as_slice())
    }
}

impl Workspace {
    /// Checks every document under `.pocket-dock/` and reports all problems; with an
    /// engine, also what it cannot serve, at the file and line that declares it.
    pub async fn validate(&self, engine: Option<&Engine>) -> Result<Validation> {
        let loaded = pocket_dock_spec::load(&self.root);
        let engine = match engine {
            Some(engine) if loaded.is_valid() => {
                let profile = engine.profile().await?;
                let unmet = unmet(&requirements(&loaded.declarations.objects), &profile);
                Some((profile, unmet))
            }
            _ => None,
        };
        Ok(Validation { loaded, engine })
    }

    /// What `apply` would do now, and why; changes nothing (no lock, no writes).
    pub async fn plan(&self, engine: &Engine) -> Result<Plan> {
        let valid = self.load()?;
        let options = ApplyOptions {
            dry_run: true,
            ..ApplyOptions::default()
        };
        let report = reconcile::apply(
            engine,
            self,
            valid.declarations(),
            options,
            Arc::new(NoObserver),
        )
        .await?;
        Ok(report.plan)
    }

    /// Converges: makes the engine run what the declarations say. Takes the workspace's
    /// writer lock first, then loads, so that what it acts on is what the files say once no
    /// one else writes; any invalid document stops it before anything changes.
    pub async fn apply(&self, engine: &Engine, options: ApplyOptions) -> Result<ApplyReport> {
        self.apply_observed(engine, options, Arc::new(NoObserver))
            .await
    }

    /// [`apply`](Self::apply), telling `observer` about every action as it starts and ends.
    pub async fn apply_observed(
        &self,
        engine: &Engine,
        options: ApplyOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<ApplyReport> {
        let started = Instant::now();
        let _lock = if options.dry_run {
            None
        } else {
            let deadline = match (options.timeout, options.readiness) {
                (Some(t), _) => Some(started + t),
                (None, Readiness::Wait) => Some(started + reconcile::DEFAULT_WAIT),
                _ => None,
            };
            Some(
                self.lock_writer(options.writer_role(), deadline, &*observer)
                    .await?,
            )
        };
        let valid = self.load()?;
        self.apply_valid(engine, &valid, options, observer).await
    }

    /// Applies declarations loaded already (the caller holds the writer lock when it
    /// matters: see [`apply`](Self::apply)).
    pub async fn apply_valid(
        &self,
        engine: &Engine,
        valid: &Valid,
        options: ApplyOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<ApplyReport> {
        let options = ApplyOptions {
            lock_held: options.lock_held || !options.dry_run,
            ..options
        };
        reconcile::apply(engine, self, valid.declarations(), options, observer).await
    }

    /// Writes (or bumps the generation of) `.pocket-dock/snapshots/NAME.yaml`, then applies
    /// that one object: the document is the record, the image follows from it.
    pub async fn snapshot(
        &self,
        engine: &Engine,
        request: &SnapshotRequest,
        options: ApplyOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<SnapshotReport> {
        let deadline = options.timeout.map(|t| Instant::now() + t);
        let _lock = self.lock_writer("snapshot", deadline, &*observer).await?;
        let valid = self.load()?;
        super::snapshot::snapshot(engine, self, &valid, request, options, observer).await
    }

    /// Removes owned runtime objects (containers, volumes); the YAML stays, so the next
    /// apply creates them again. Only objects carrying this workspace's labels are touched.
    pub async fn delete(
        &self,
        engine: &Engine,
        request: &DeleteRequest,
        deadline: Option<Instant>,
        observer: &dyn Observer,
    ) -> Result<DeleteReport> {
        let ownership = self.ownership();
        // One writer at a time (a declared workspace only: without .pocket-dock/ there is no
        // lock to share, and nothing else writes).
        let _lock = if self.declared {
            Some(self.lock_writer("delete", deadline, observer).await?)
        } else {
            None
        };
        // Resolved under the lock, against what is declared now (the last valid version of
        // a broken file included); matching nothing fails before anything is removed.
        let selected = match request {
            DeleteRequest::Selected(selection) => {
                Some(selection.resolve(&self.load_any().0.declarations)?)
            }
            _ => None,
        };
        let wants = |kind: Kind, name: &str| match request {
            DeleteRequest::One(key) => key.kind == kind && key.name == name,
            DeleteRequest::All { volumes } => {
                kind == Kind::Sandbox || kind == Kind::Network || (kind == Kind::Volume && *volumes)
            }
            DeleteRequest::Selected(_) => selected
                .as_ref()
                .is_some_and(|s| s.contains(&Key::new(kind, name))),
        };
        // Open sessions are counted (and the records of dead clients' forgotten) as their
        // sandbox goes: the report says they ended with it.
        let sessions = if self.declared {
            StateStore::open_existing(&self.dir()).ok().flatten()
        } else {
            None
        };
        let mut report = DeleteReport::default();
        // Each removal goes to the event log, a failed one too, before its error is
        // returned (recording never fails the command).
        let mut events = Vec::new();
        for (summary, handle) in engine.list_owned(&ownership).await? {
            let Some(ObjectLabels { kind, name, .. }) = ObjectLabels::parse(&summary.labels) else {
                continue;
            };
            // A claimed pool member is the sandbox its container is named for; with
            // `--all`, idle members go too (the next apply makes them again).
            let claimed = (kind == Kind::Pool)
                .then(|| crate::pool::sandbox_of_container_name(&ownership, &summary.name))
                .flatten();
            let idle_member = kind == Kind::Pool
                && claimed.is_none()
                && matches!(request, DeleteRequest::All { .. });
            let (kind, name) = match &claimed {
                Some(sandbox) => (Kind::Sandbox, sandbox.as_str()),
                None => (kind, name.as_str()),
            };
            if (kind == Kind::Sandbox && wants(kind, name)) || idle_member {
                let started = Instant::now();
                let result = engine.remove_container(&handle).await;
                let object = format!("container {}", summary.name);
                events.push(delete_event(kind, name, &object, started, &result));
                if let Err(e) = result {
                    record_in(&self.dir(), &events);
                    return Err(e.into());
                }
                report.removed.push(Removed {
                    key: Key::new(kind, name),
                    object: summary.name.clone(),
                    data_deleted: false,
                    sessions_ended: end_sessions(sessions.as_ref(), name),
                });
            }
        }
        let volumes_wanted = match request {
            DeleteRequest::One(key) => key.kind == Kind::Volume,
            DeleteRequest::All { volumes } => *volumes,
            DeleteRequest::Selected(_) => selected
                .as_ref()
                .is_some_and(|s| s.iter().any(|k| k.kind == Kind::Volume)),
        };
        if volumes_wanted {
            for volume in engine.list_owned_volumes(&ownership).await? {
                let Some(ObjectLabels { name, .. }) = ObjectLabels::parse(&volume.labels) else {
                    continue;
                };
                if wants(Kind::Volume, &name) {
                    let started = Instant::now();
                    let result = match OwnedVolume::check(&ownership, &volume) {
                        Ok(owned) => engine.remove_volume(&owned).await,
                        Err(e) => Err(e),
                    };
                    let object = format!("volume {}", volume.name);
                    events.push(delete_event(Kind::Volume, &name, &object, started, &result));
                    if let Err(e) = result {
                        record_in(&self.dir(), &events);
                        return Err(e.into());
                    }
                    report.removed.push(Removed {
                        key: Key::new(Kind::Volume, name),
                        object: volume.name.clone(),
                        data_deleted: true,
                        sessions_ended: 0,
                    });
                }
            }
        }
        // Networks go with their sandboxes (they hold no data); one that a container of
        // someone else's still uses is refused by the engine and reported.
        let networks_wanted = match request {
            DeleteRequest::One(key) => key.kind == Kind::Network,
            DeleteRequest::All { .. } => true,
            DeleteRequest::Selected(_) => selected
                .as_ref()
                .is_some_and(|s| s.iter().any(|k| k.kind == Kind::Network)),
        };
        if networks_wanted {
            for network in engine.list_owned_networks(&ownership).await? {
                let Some(ObjectLabels { name, .. }) = ObjectLabels::parse(&network.labels) else {
                    continue;
                };
                if !wants(Kind::Network, &name) {
                    continue;
                }
                // Whoever is still attached once the sandboxes are gone is not ours to
                // detach: the network stays, and the report says who holds it.
                let attached = engine
                    .inspect_network(&network.name)
                    .await?
                    .map(|n| n.containers)
                    .unwrap_or_default();
                if !attached.is_empty() {
                    let users: Vec<&str> = attached.iter().map(|(_, n)| n.as_str()).collect();
                    report.kept.push(KeptObject {
                        key: Key::new(Kind::Network, name),
                        object: network.name.clone(),
                        reason: format!("in use by {}", users.join(", ")),
                    });
                    continue;
                }
                let started = Instant::now();
                let result = match crate::engine::OwnedNetwork::check(&ownership, &network) {
                    Ok(owned) => engine.remove_network(&owned).await,
                    Err(e) => Err(e),
                };
                let object = format!("network {}", network.name);
                events.push(delete_event(
                    Kind::Network,
                    &name,
                    &object,
                    started,
                    &result,
                ));
                if let Err(e) = result {
                    record_in(&self.dir(), &events);
                    return Err(e.into());
                }
                // An egress network's host firewall rules go with it.
                if crate::egress::is_egress_network(&name) {
                    crate::egress::unguard_host(&network.name).await;
                }
                report.removed.push(Removed {
                    key: Key::new(Kind::Network, name),
                    object: network.name.clone(),
                    data_deleted: false,
                    sessions_ended: 0,
                });
            }
        }
        record_in(&self.dir(), &events);
        // The egress proxy stops serving networks that are gone (and exits with none left).
        for warning in crate::egress::prune(engine, &self.dir()).await {
            tracing::warn!("{warning}");
        }
        Ok(report)
    }

    /// Collects what pocket-dock made and nothing declares any more: plans (`dry_run`: only
    /// that), then removes through the ownership checks. Refused whole unless every file is
    /// valid and the picture complete.
    pub async fn gc(
        &self,
        engine: &Engine,
        options: GcOptions,
        dry_run: bool,
        deadline: Option<Instant>,
        observer: &dyn Observer,
    ) -> Result<GcOutcome> {
        // One writer at a time, from before the declarations are read: what it finds
        // undeclared is what the files say once no one else writes.
        let _lock = if self.declared && !dry_run {
            Some(self.lock_writer("gc", deadline, observer).await?)
        } else {
            None
        };
        let desired = gc::load_desired(self)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Invalid(diagnostics) => Error::Invalid { diagnostics },
                Refusal::Incomplete => Error::Incomplete {
                    refused: "collected",
                },
            })?;
        let plan = gc::survey(engine, self, desired.as_ref(), options).await?;
        let report = if dry_run {
            None
        } else {
            Some(gc::execute(engine, self, &plan).await)
        };
        Ok(GcOutcome { plan, report })
    }

    /// The workspace's state store: the event log (`events`), the exec history, the
    /// session registry. Created when missing; the warning says what was moved aside.
    pub fn state_store(&self) -> Result<(StateStore, Option<String>)> {
        Ok(StateStore::open(&self.dir())?)
    }

    /// The event log: every action of apply, the controller, delete, snapshot, gc, run,
    /// exec and sessions that `query` selects.
    pub fn events(&self, query: &EventQuery) -> Result<Vec<EventRecord>> {
        let (store, _) = self.state_store()?;
        Ok(store.events(query)?)
    }

    /// Checks the event log's hash chains (`pocket-dock audit verify`): the first row that was
    /// changed, deleted or reordered, if any; and that `expected_head`, a head recorded
    /// earlier, is still in the log unchanged. `None` when the workspace has no state store
    /// (nothing was ever recorded; none is created). A log from before the chains is chained
    /// first, once.
    pub fn audit_verify(&self, expected_head: Option<&AuditHead>) -> Result<Option<AuditReport>> {
        match StateStore::open_existing(&self.dir())? {
            None if expected_head.is_some() => Ok(Some(AuditReport::without_log(expected_head))),
            None => Ok(None),
            Some(store) => Ok(Some(store.verify_audit(expected_head)?)),
        }
    }

    /// Takes the workspace's writer lock as `role`, telling `observer` whom it waits for.
    pub async fn lock_writer(
        &self,
        role: &str,
        deadline: Option<Instant>,
        observer: &dyn Observer,
    ) -> Result<WriterLock> {
        Ok(WriterLock::acquire(&self.dir(), role, deadline, |holder| {
            observer.waiting_for_writer(holder)
        })
        .await?)
    }
}

/// How many sessions of `sandbox` had a live client, now that its container is gone; the
/// records of those whose client is gone are forgotten (their processes went with it, so no
/// reconcile has anything left to sweep). Live clients forget their own as they close.
fn end_sessions(store: Option<&StateStore>, sandbox: &str) -> usize {
    let Some(store) = store else { return 0 };
    let of_sandbox: Vec<(String, String, i64, u64)> = store
        .sessions()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, s, _, _)| s == sandbox)
        .collect();
    let total = of_sandbox.len();
    let orphans = crate::sandbox::orphaned_sessions(of_sandbox);
    for (id, _) in &orphans {
        let _ = store.forget_session(id);
    }
    total - orphans.len()
}

fn delete_event<T>(
    kind: Kind,
    name: &str,
    runtime_object: &str,
    started: Instant,
    result: &std::result::Result<T, crate::engine::EngineError>,
) -> Event {
    Event::new(Source::Delete, "remove")
        .object(kind.as_str(), name)
        .reason(format!("pocket-dock delete: {runtime_object}"))
        .duration(started.elapsed())
        .result(result, |e| e.category().as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_sandbox_counts_its_live_sessions_and_forgets_the_dead_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let me = i64::from(std::process::id());
        let started = crate::procs::start_time(me).unwrap();
        store.record_session("live", "web", me, started).unwrap();
        // A client that is gone: no such process (pid 0 never has a /proc entry here),
        // or a reused pid (another start time).
        store.record_session("dead", "web", 0, 1).unwrap();
        store
            .record_session("reused", "web", me, started + 1)
            .unwrap();
        store.record_session("other", "db", me, started).unwrap();
        assert_eq!(end_sessions(Some(&store), "web"), 1);
        let mut left: Vec<String> = store
            .sessions()
            .unwrap()
            .into_iter()
            .map(|(id, ..)| id)
            .collect();
        left.sort();
        // The live client forgets its own as it closes; another sandbox's are untouched.
        assert_eq!(left, ["live", "other"]);
        assert_eq!(end_sessions(Some(&store), "nothing"), 0);
        assert_eq!(end_sessions(None, "web"), 0);
    }
}
