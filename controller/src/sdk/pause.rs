//! `pause` and `resume`: a sandbox's processes frozen (the cgroup freezer, `podman pause`)
//! or thawed, memory kept.
//!
//! pocket-dock never edits a file it did not write, so an imperative `pause` of a declared
//! sandbox is an override in the state store (`pauses`): the reconciler keeps the sandbox
//! paused until `resume` forgets it, and status says who paused it and when. A sandbox whose
//! declaration says `state: paused` is resumed by editing that file (`resume` refuses and
//! names the line). A sandbox nothing declares (one claimed from a pool) is paused and
//! resumed in the engine alone: no reconciler acts on it.

use std::time::Instant;

use pocket_dock_spec::Kind;
use pocket_dock_spec::model::{DesiredState, Spec};

use crate::engine::{ContainerState, Engine, Operation};
use crate::error::SandboxError;
use crate::reconcile::NoObserver;
use crate::status::types::PauseRecord;
use crate::store::{Event, Source, StateStore, record_in};
use crate::workspace::Workspace;
use crate::{Error, Result};

/// What `pause` or `resume` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PauseReport {
    pub sandbox: String,
    /// `paused` or `running`: the state it is in now.
    pub state: &'static str,
    /// It was in that state already: the engine was not asked to change it.
    pub unchanged: bool,
    /// Declared in a file: the pause is an override in the state store that `apply` and
    /// the controller honor until `resume`. `false`: undeclared (claimed from a pool), only
    /// the engine was told.
    pub declared: bool,
    /// Who holds it paused (`pause`): `pocket-dock pause (user NAME)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When it was paused (`pause`), RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// The line of `state: paused` in the document that starts at `line` of `text` (1-based),
/// or `line` itself when it cannot be told. Pure.
pub fn state_line(text: &str, line: u32) -> u32 {
    let start = usize::try_from(line.max(1) - 1).unwrap_or(0);
    for (i, l) in text.lines().enumerate().skip(start) {
        if i > start && l.trim_start().starts_with("---") {
            break;
        }
        let t = l.trim_start();
        if t.starts_with("state:") && t.contains("paused") {
            return u32::try_from(i + 1).unwrap_or(line);
        }
    }
    line
}

fn who() -> String {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| rustix::process::geteuid().as_raw().to_string());
    format!("pocket-dock pause (user {user})")
}

impl Workspace {
    /// Freezes `name`'s processes. Declared: the pause is recorded as an override the
    /// reconciler honors until [`Workspace::resume`]. Pausing a paused sandbox is not an
    /// error (`unchanged`). A sandbox that is not running cannot be paused (Conflict).
    pub async fn pause(&self, engine: &Engine, name: &str) -> Result<PauseReport> {
        let _writer = self.lock_writer("pause", None, &NoObserver).await?;
        let started = Instant::now();
        let (declared, _) = self.load_any();
        let is_declared = declared
            .declarations
            .objects
            .iter()
            .any(|o| o.kind == Kind::Sandbox && o.metadata.name == name);
        let (state, handle) = self
            .find_container(engine, name, Operation::ContainerPause)
            .await?;
        if !matches!(state, ContainerState::Running | ContainerState::Paused) {
            return Err(SandboxError::NotRunning {
                name: name.to_string(),
                state: format!("{state:?}").to_lowercase(),
            }
            .into());
        }
        let record = PauseRecord {
            by: who(),
            at: Some(crate::timefmt::rfc3339(
                u64::try_from(crate::timefmt::unix_now_ms() / 1000).unwrap_or(0),
            )),
        };
        let store = if is_declared {
            let (store, _) = StateStore::open(&self.dir())?;
            // An earlier pause's record stands (who paused it first, and when).
            let kept = store.pauses()?.remove(name);
            let record = kept.unwrap_or(record.clone());
            store.save_pause(name, Some(&record))?;
            Some((store, record))
        } else {
            None
        };
        let unchanged = state == ContainerState::Paused;
        let result = if unchanged {
            Ok(())
        } else {
            engine.pause_container(&handle).await
        };
        record_in(
            &self.dir(),
            &[Event::new(Source::Pause, "pause")
                .object(Kind::Sandbox.as_str(), name)
                .duration(started.elapsed())
                .result(&result, |e| e.category().as_str().to_string())],
        );
        if let Err(e) = result {
            // Not paused: nothing holds it so.
            if let Some((store, _)) = &store {
                store.save_pause(name, None)?;
            }
            return Err(e.into());
        }
        let (by, at) = match store {
            Some((_, record)) => (Some(record.by), record.at),
            None => (Some(record.by), record.at),
        };
        Ok(PauseReport {
            sandbox: name.to_string(),
            state: "paused",
            unchanged,
            declared: is_declared,
            by,
            at,
        })
    }

    /// Thaws `name`. Refused (nothing changed) when its declaration says `state: paused`:
    /// the error names the file and line to edit. A `pocket-dock pause` override is
    /// forgotten, and the resume counts as activity for `lifetime.idleTimeout` (time spent
    /// paused is not idle time that stops it at once).
    pub async fn resume(&self, engine: &Engine, name: &str) -> Result<PauseReport> {
        let _writer = self.lock_writer("resume", None, &NoObserver).await?;
        let started = Instant::now();
        let (declared, _) = self.load_any();
        let object = declared
            .declarations
            .objects
            .iter()
            .find(|o| o.kind == Kind::Sandbox && o.metadata.name == name);
        if let Some(o) = object
            && let Spec::Sandbox(spec) = &o.spec
            && spec.state == DesiredState::Paused
        {
            let text = std::fs::read_to_string(self.root.join(&o.source.file)).unwrap_or_default();
            return Err(SandboxError::DeclaredPaused {
                name: name.to_string(),
                file: o.source.file.clone(),
                line: state_line(&text, o.source.line),
            }
            .into());
        }
        let (state, handle) = self
            .find_container(engine, name, Operation::ContainerUnpause)
            .await?;
        if object.is_some() {
            let (store, _) = StateStore::open(&self.dir())?;
            store.save_pause(name, None)?;
            if state == ContainerState::Paused {
                store.touch_activity(name)?;
            }
        }
        let unchanged = match state {
            ContainerState::Paused => false,
            ContainerState::Running => true,
            other => {
                return Err(SandboxError::NotRunning {
                    name: name.to_string(),
                    state: format!("{other:?}").to_lowercase(),
                }
                .into());
            }
        };
        let result = if unchanged {
            Ok(())
        } else {
            engine.unpause_container(&handle).await
        };
        record_in(
            &self.dir(),
            &[Event::new(Source::Pause, "resume")
                .object(Kind::Sandbox.as_str(), name)
                .duration(started.elapsed())
                .result(&result, |e| e.category().as_str().to_string())],
        );
        result?;
        Ok(PauseReport {
            sandbox: name.to_string(),
            state: "running",
            unchanged,
            declared: object.is_some(),
            by: None,
            at: None,
        })
    }

    /// The container of sandbox `name` (declared or claimed: found by the container-name
    /// scheme), with its state.
    async fn find_container(
        &self,
        engine: &Engine,
        name: &str,
        intended: Operation,
    ) -> Result<(ContainerState, crate::engine::OwnedContainer)> {
        let ownership = self.ownership();
        let container_name = ownership.container_name(Kind::Sandbox, name);
        match engine
            .find_owned_by_name(&ownership, &container_name, intended)
            .await?
        {
            Some((details, handle)) => Ok((details.state, handle)),
            None => Err(Error::from(SandboxError::Missing {
                name: name.to_string(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::state_line;

    #[test]
    fn the_line_of_state_paused_is_found_in_its_document() {
        let text = "apiVersion: x\nkind: Sandbox\nmetadata:\n  name: a\nspec:\n  image: x\n  state: paused\n---\nkind: Sandbox\nspec:\n  state: paused\n";
        assert_eq!(state_line(text, 1), 7);
        assert_eq!(state_line(text, 9), 11);
        // Not found: the document's own line.
        assert_eq!(state_line("kind: Sandbox\n", 1), 1);
    }
}
