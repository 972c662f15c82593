//! `reset`: a sandbox made again from its declaration. Its container goes (through the
//! ownership checks, as `delete` removes it), then that one sandbox is applied again, with
//! what it needs (a selection: its image, volumes, networks, `dependsOn`), nothing pruned.
//! Its named volumes keep their data unless asked; a volume another declared sandbox
//! mounts too is never removed from under it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use pocket_dock_spec::model::{MountType, Spec};
use pocket_dock_spec::{Declarations, Kind};

use crate::engine::labels::ObjectLabels;
use crate::engine::{Engine, OwnedVolume};
use crate::reconcile::{ApplyOptions, ApplyReport, Key, Observer, Selection};
use crate::store::{Event, Source, record_in};
use crate::workspace::Workspace;
use crate::{Error, Result};

/// What to reset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetRequest {
    /// The declared sandbox.
    pub sandbox: String,
    /// Also remove the named volumes it mounts (their data goes), so that they are made
    /// again empty.
    pub volumes: bool,
    /// The volumes the caller agreed to remove (what [`Workspace::reset_volumes`] listed).
    /// Under the writer lock the list is worked out again: when it differs (a declaration
    /// changed meanwhile) nothing is done. `None`: no such check (`--yes`).
    pub confirmed: Option<Vec<String>>,
    /// Give up waiting for another writer after this long, and bound the apply.
    pub timeout: Option<std::time::Duration>,
}

/// What `reset` did.
#[derive(Debug, serde::Serialize)]
pub struct ResetReport {
    pub sandbox: String,
    /// The containers removed (engine names).
    pub removed_containers: Vec<String>,
    /// The `Volume` objects removed with their data (created again empty by the apply).
    pub removed_volumes: Vec<String>,
    /// The `Volume` objects it mounts whose data was kept.
    pub kept_volumes: Vec<String>,
    /// The apply of the sandbox that followed.
    #[serde(skip)]
    pub apply: ApplyReport,
}

/// The `Volume` objects `sandbox` mounts, in name order; an error when the sandbox is not
/// declared (with the closest name), or when `volumes` (they are to be removed) and another
/// declared sandbox mounts one of them too (naming it). Pure.
pub fn sandbox_volumes(
    declarations: &Declarations,
    sandbox: &str,
    volumes: bool,
) -> Result<Vec<String>> {
    let mounted = |spec: &Spec| -> BTreeSet<String> {
        match spec {
            Spec::Sandbox(s) => s
                .mounts
                .iter()
                .filter(|m| m.kind == MountType::Volume)
                .filter_map(|m| m.source.clone())
                .collect(),
            _ => BTreeSet::new(),
        }
    };
    let sandboxes: Vec<(&str, &Spec)> = declarations
        .objects
        .iter()
        .filter(|o| o.kind == Kind::Sandbox)
        .map(|o| (o.metadata.name.as_str(), &o.spec))
        .collect();
    let Some((_, spec)) = sandboxes.iter().find(|(name, _)| *name == sandbox) else {
        let hint = pocket_dock_spec::diagnostic::closest(sandbox, sandboxes.iter().map(|s| s.0))
            .map_or_else(String::new, |c| format!("; did you mean `{c}`?"));
        let names: Vec<&str> = sandboxes.iter().map(|s| s.0).collect();
        let listed = if names.is_empty() {
            "this workspace declares no Sandbox".to_string()
        } else {
            format!("declared sandboxes: {}", names.join(", "))
        };
        return Err(Error::NotDeclared {
            object: format!("Sandbox/{sandbox}"),
            problem: format!(
                "is not declared, so it cannot be reset{hint} ({listed}); nothing was changed"
            ),
        });
    };
    let mine = mounted(spec);
    if volumes {
        for volume in &mine {
            let others: Vec<&str> = sandboxes
                .iter()
                .filter(|(name, _)| *name != sandbox)
                .filter(|(_, spec)| mounted(spec).contains(volume))
                .map(|(name, _)| *name)
                .collect();
            if !others.is_empty() {
                let named: Vec<String> = others.iter().map(|n| format!("Sandbox/{n}")).collect();
                return Err(Error::argument(
                    "--volumes",
                    format!(
                        "Volume/{volume} is also mounted by {}; resetting Sandbox/{sandbox} with --volumes would delete data they use, so nothing was changed (reset without --volumes keeps it, or `pocket-dock delete volume/{volume}` when every sandbox on it may lose it)",
                        named.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(mine.into_iter().collect())
}

impl Workspace {
    /// The named volumes `reset` of `sandbox` touches: what `--volumes` would remove (the
    /// list a person confirms). Refuses what [`sandbox_volumes`] refuses.
    pub fn reset_volumes(&self, sandbox: &str, volumes: bool) -> Result<Vec<String>> {
        let valid = self.load()?;
        sandbox_volumes(valid.declarations(), sandbox, volumes)
    }

    /// Makes `Sandbox/{request.sandbox}` again from its declaration: under the writer lock,
    /// its container is removed, then (with `volumes`) the named volumes it mounts, then the
    /// sandbox is applied again with what it needs. Each removal and the apply's actions go
    /// to the event log (source `reset`).
    pub async fn reset(
        &self,
        engine: &Engine,
        request: &ResetRequest,
        observer: Arc<dyn Observer>,
    ) -> Result<ResetReport> {
        let started = Instant::now();
        let deadline = request.timeout.map(|t| started + t);
        let _lock = self.lock_writer("reset", deadline, &*observer).await?;
        let valid = self.load()?;
        let volumes = sandbox_volumes(valid.declarations(), &request.sandbox, request.volumes)?;
        if request.volumes
            && let Some(confirmed) = &request.confirmed
            && *confirmed != volumes
        {
            return Err(Error::argument(
                "--volumes",
                format!(
                    "the volumes of Sandbox/{} changed since they were confirmed ({} now); nothing was changed, run reset again",
                    request.sandbox,
                    if volumes.is_empty() {
                        "none".to_string()
                    } else {
                        volumes.join(", ")
                    }
                ),
            ));
        }
        let ownership = self.ownership();
        let mut removed_containers = Vec::new();
        let mut removed_volumes = Vec::new();
        let mut events = Vec::new();
        let event = |kind: Kind, name: &str, what: String, started: Instant| {
            Event::new(Source::Reset, "remove")
                .object(kind.as_str(), name)
                .reason(format!("pocket-dock reset: {what}"))
                .duration(started.elapsed())
        };
        // Every container of the sandbox (a stray next to the current one too).
        for (summary, handle) in engine.list_owned(&ownership).await? {
            let Some(labels) = ObjectLabels::parse(&summary.labels) else {
                continue;
            };
            if labels.kind != Kind::Sandbox || labels.name != request.sandbox {
                continue;
            }
            let at = Instant::now();
            let result = engine.remove_container(&handle).await;
            let what = format!("container {}", summary.name);
            events.push(
                event(Kind::Sandbox, &request.sandbox, what, at)
                    .result(&result, |e| e.category().as_str().to_string()),
            );
            if let Err(e) = result {
                record_in(&self.dir(), &events);
                return Err(e.into());
            }
            removed_containers.push(summary.name.clone());
        }
        if request.volumes && !volumes.is_empty() {
            for volume in engine.list_owned_volumes(&ownership).await? {
                let Some(labels) = ObjectLabels::parse(&volume.labels) else {
                    continue;
                };
                if labels.kind != Kind::Volume || !volumes.contains(&labels.name) {
                    continue;
                }
                let at = Instant::now();
                let result = match OwnedVolume::check(&ownership, &volume) {
                    Ok(owned) => engine.remove_volume(&owned).await,
                    Err(e) => Err(e),
                };
                let what = format!("volume {}, data deleted", volume.name);
                events.push(
                    event(Kind::Volume, &labels.name, what, at)
                        .result(&result, |e| e.category().as_str().to_string()),
                );
                if let Err(e) = result {
                    record_in(&self.dir(), &events);
                    return Err(e.into());
                }
                removed_volumes.push(labels.name.clone());
            }
        }
        record_in(&self.dir(), &events);
        let options = ApplyOptions {
            writer: "reset",
            lock_held: true,
            timeout: request.timeout.map(|t| t.saturating_sub(started.elapsed())),
            selection: Some(Selection {
                only: BTreeSet::from([Key::new(Kind::Sandbox, request.sandbox.clone())]),
                ..Selection::default()
            }),
            // A sandbox its `lifetime` stopped or removed is made again too, as
            // `apply --resume --only Sandbox/NAME` would.
            resume: true,
            ..ApplyOptions::default()
        };
        let apply = self.apply_valid(engine, &valid, options, observer).await?;
        Ok(ResetReport {
            sandbox: request.sandbox.clone(),
            removed_containers,
            removed_volumes,
            kept_volumes: if request.volumes { Vec::new() } else { volumes },
            apply,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn declarations(yaml: &str) -> Declarations {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(".pocket-dock");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("all.yaml"), yaml).unwrap();
        let loaded = pocket_dock_spec::load(root.path());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        loaded.declarations
    }

    const DOCS: &str = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: notes}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: cache}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: web}\nspec:\n  image: x:1\n  mounts:\n  - {type: volume, source: notes, target: /notes}\n  - {type: volume, source: cache, target: /cache}\n  - {type: tmpfs, target: /tmp}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: worker}\nspec:\n  image: x:1\n  mounts:\n  - {type: volume, source: cache, target: /cache}\n";

    #[test]
    fn a_reset_names_its_volumes_and_refuses_to_delete_one_another_sandbox_uses() {
        let d = declarations(DOCS);
        assert_eq!(
            sandbox_volumes(&d, "web", false).unwrap(),
            ["cache", "notes"]
        );
        let shared = sandbox_volumes(&d, "web", true).unwrap_err();
        assert_eq!(shared.category(), crate::Category::InvalidInput);
        assert!(
            shared
                .to_string()
                .contains("Volume/cache is also mounted by Sandbox/worker"),
            "{shared}"
        );
        let unknown = sandbox_volumes(&d, "webb", false).unwrap_err();
        assert!(
            unknown.to_string().contains("did you mean `web`"),
            "{unknown}"
        );
        assert!(sandbox_volumes(&d, "worker", false).is_ok());
    }
}
