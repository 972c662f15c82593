//! `wait`: block until objects meet a condition, the way `kubectl wait` does, by polling
//! what `get` reads (declarations, Podman, status files, the store's generations).
//!
//! `--for condition=Ready` holds when the status file says `Ready=True` *for the current
//! spec*: its `observedGeneration` equals the generation the spec has now (kstatus), the
//! object exists and, for a sandbox, runs. An object that is not declared is waited for
//! (it may be declared and applied meanwhile) until the timeout. `--for delete` holds when
//! the object's runtime object is gone (its YAML may stay: that is what `delete` does).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use pocket_dock_spec::Kind;
use serde::Serialize;

use crate::declared::Declared;
use crate::engine::{Engine, EngineError};
use crate::key::Key;
use crate::reconcile::desired::Desired;
use crate::reconcile::observe::ImageInputs;
use crate::reconcile::observe::{Observed, observe};
use crate::reconcile::status::StatusFiles;
use crate::status::types::{ConditionStatus, ConditionType, Status};
use crate::store::{GenerationRecord, StateStore};
use crate::workspace::{DIR_NAME, Workspace};

/// kubectl's default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the picture is taken again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("unsupported --for {value:?}: use condition=Ready or delete")]
    BadFor { value: String },
    #[error("could not observe Podman")]
    Observe(#[source] EngineError),
}

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WaitFor {
    Ready,
    Delete,
}

impl FromStr for WaitFor {
    type Err = WaitError;

    /// `condition=Ready` (the condition's name in any case, as kubectl takes it) or
    /// `delete`.
    fn from_str(s: &str) -> Result<Self, WaitError> {
        let bad = || WaitError::BadFor {
            value: s.to_string(),
        };
        match s.split_once('=') {
            None if s == "delete" => Ok(WaitFor::Delete),
            Some(("condition", c)) if c.eq_ignore_ascii_case("ready") => Ok(WaitFor::Ready),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for WaitFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WaitFor::Ready => "condition=Ready",
            WaitFor::Delete => "delete",
        })
    }
}

/// One object as seen at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    pub declared: bool,
    /// Its runtime object (container, volume, image) exists.
    pub present: bool,
    /// For sandboxes: its container runs.
    pub running: bool,
    pub status: Option<Status>,
    /// The generation the declared spec has now (one more than recorded when it changed
    /// since the last apply); `None` when the store has no record to go by.
    pub generation: Option<u64>,
}

/// The generation a spec with `spec_hash` has, given what the store recorded.
pub fn current_generation(record: Option<&GenerationRecord>, spec_hash: &str) -> Option<u64> {
    record.map(|r| {
        if r.spec_hash == spec_hash {
            r.generation
        } else {
            r.generation.saturating_add(1)
        }
    })
}

/// Whether `seen` meets `wait_for`: `Ok(())`, or why not yet.
pub fn decide(kind: Kind, wait_for: WaitFor, seen: &Seen) -> Result<(), String> {
    match wait_for {
        WaitFor::Delete if seen.present => Err("still present".to_string()),
        WaitFor::Delete => Ok(()),
        WaitFor::Ready => {
            if !seen.declared {
                return Err("not declared".to_string());
            }
            let Some(status) = &seen.status else {
                return Err("no status yet (not applied)".to_string());
            };
            let ready = status.condition(ConditionType::Ready);
            match ready.map(|c| c.status) {
                Some(ConditionStatus::True) => {}
                Some(other) => {
                    let c = ready.map_or_else(String::new, |c| {
                        let message = if c.message.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", c.message)
                        };
                        format!(" ({}{message})", c.reason)
                    });
                    return Err(format!("Ready is {other:?}{c}"));
                }
                None => return Err("its status has no Ready condition".to_string()),
            }
            // kstatus: a Ready from an older spec does not count.
            let wanted = seen.generation.or(status.generation());
            if let Some(wanted) = wanted
                && status.observed_generation != Some(wanted)
            {
                return Err(match status.observed_generation {
                    Some(observed) => format!(
                        "its status is for generation {observed}, the spec is at generation {wanted}"
                    ),
                    None => format!("its status predates generation {wanted}"),
                });
            }
            if !seen.present {
                return Err("its runtime object is gone".to_string());
            }
            if kind == Kind::Sandbox && !seen.running {
                return Err("its container is not running".to_string());
            }
            Ok(())
        }
    }
}

/// One target's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetResult {
    pub kind: Kind,
    pub name: String,
    pub met: bool,
    /// Why it is not met (the last reason seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitReport {
    #[serde(rename = "for")]
    pub wait_for: WaitFor,
    pub met: bool,
    pub timed_out: bool,
    pub elapsed_ms: u64,
    pub targets: Vec<TargetResult>,
}

/// What one look finds of every target.
fn look(
    targets: &[Key],
    desired: &Desired,
    observed: &Observed,
    status_files: Option<&StatusFiles>,
    declared: &Declared,
    store: Option<&StateStore>,
) -> BTreeMap<Key, Seen> {
    let hashes: BTreeMap<Key, String> = declared
        .declarations
        .objects
        .iter()
        .map(|o| {
            (
                Key::new(o.kind, o.metadata.name.clone()),
                pocket_dock_spec::hash::document_hash(o, &declared.declarations.settings),
            )
        })
        .collect();
    targets
        .iter()
        .map(|key| {
            let name = key.name.as_str();
            let (declared, present, running) = match key.kind {
                Kind::Sandbox => {
                    let d = desired.sandboxes.get(name);
                    let cs = observed.sandboxes.get(name);
                    let current = match d {
                        Some(s) => cs.and_then(|cs| {
                            cs.iter().find(|c| c.container_name == s.container_name)
                        }),
                        None => cs.and_then(|cs| cs.first()),
                    };
                    (
                        d.is_some(),
                        cs.is_some_and(|cs| !cs.is_empty()),
                        // Paused counts: its status says whether it is held so (Ready).
                        current.is_some_and(|c| c.state.is_up()),
                    )
                }
                Kind::Volume => (
                    desired.volumes.contains_key(name),
                    observed.volumes.contains_key(name),
                    false,
                ),
                Kind::Image => {
                    let d = desired.images.get(name);
                    let present = d.is_some_and(|i| observed.image_id(&i.tag).is_some());
                    (d.is_some(), present, false)
                }
                Kind::Snapshot => {
                    let d = desired.snapshots.get(name);
                    let present = d.is_some_and(|s| observed.image_id(&s.tag).is_some());
                    (d.is_some(), present, false)
                }
                _ => (false, false, false),
            };
            let generation = hashes.get(key).and_then(|hash| {
                let record = store?.generation(key.kind.as_str(), name).ok().flatten();
                current_generation(record.as_ref(), hash)
            });
            let seen = Seen {
                declared,
                present,
                running,
                status: status_files.and_then(|f| f.read(key.kind, name)),
                generation,
            };
            (key.clone(), seen)
        })
        .collect()
}

/// Polls until every target meets `wait_for` or `timeout` runs out. An image or snapshot
/// that is not declared cannot be found by name, so `--for delete` holds for it at once.
pub async fn wait(
    engine: &Engine,
    workspace: &Workspace,
    targets: &[Key],
    wait_for: WaitFor,
    timeout: Duration,
) -> Result<WaitReport, WaitError> {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let dir = workspace.root.join(DIR_NAME);
    let ownership = workspace.ownership();
    loop {
        // A broken file in its last valid version, which stays in effect.
        let (declared, _) = workspace.load_any();
        let store = StateStore::open_existing(&dir).ok().flatten();
        let inputs = ImageInputs::gather(&declared.declarations).await;
        let desired = Desired::from_declarations(&declared.declarations, &ownership, &inputs);
        let observed = observe(engine, &ownership, &desired)
            .await
            .map_err(WaitError::Observe)?;
        let status_files = StatusFiles::open(&dir, false).ok().flatten();
        let seen = look(
            targets,
            &desired,
            &observed,
            status_files.as_ref(),
            &declared,
            store.as_ref(),
        );
        drop(store);
        let results: Vec<TargetResult> = targets
            .iter()
            .map(|key| {
                let verdict = seen.get(key).map_or(Err("not found".to_string()), |s| {
                    decide(key.kind, wait_for, s)
                });
                TargetResult {
                    kind: key.kind,
                    name: key.name.clone(),
                    met: verdict.is_ok(),
                    reason: verdict.err(),
                }
            })
            .collect();
        let met = results.iter().all(|r| r.met);
        let now = tokio::time::Instant::now();
        if met || now >= deadline {
            return Ok(WaitReport {
                wait_for,
                met,
                timed_out: !met,
                elapsed_ms: now.duration_since(started).as_millis() as u64,
                targets: results,
            });
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::types::{Condition, Metadata, Reason};

    fn status(ready: Option<bool>, generation: u64, observed: Option<u64>) -> Status {
        Status {
            kind: "Sandbox".into(),
            name: "x".into(),
            metadata: Some(Metadata { generation }),
            observed_generation: observed,
            conditions: vec![Condition::new(
                ConditionType::Ready,
                ready,
                Reason::Running,
                "",
            )],
            ..Status::default()
        }
    }

    fn seen(status: Option<Status>, generation: Option<u64>) -> Seen {
        Seen {
            declared: true,
            present: true,
            running: true,
            status,
            generation,
        }
    }

    #[test]
    fn for_parses_like_kubectl_and_refuses_the_rest() {
        assert_eq!(
            "condition=Ready".parse::<WaitFor>().unwrap(),
            WaitFor::Ready
        );
        assert_eq!(
            "condition=ready".parse::<WaitFor>().unwrap(),
            WaitFor::Ready
        );
        assert_eq!("delete".parse::<WaitFor>().unwrap(), WaitFor::Delete);
        for bad in [
            "",
            "Ready",
            "condition=",
            "condition=Stalled",
            "jsonpath=x",
            "deleted",
        ] {
            assert!(bad.parse::<WaitFor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ready_needs_true_for_the_current_generation() {
        let cases: Vec<(&str, Seen, bool)> = vec![
            (
                "ready now",
                seen(Some(status(Some(true), 1, Some(1))), Some(1)),
                true,
            ),
            (
                "no store record: the file's own generation",
                seen(Some(status(Some(true), 2, Some(2))), None),
                true,
            ),
            (
                "spec changed since",
                seen(Some(status(Some(true), 1, Some(1))), Some(2)),
                false,
            ),
            (
                "stale observedGeneration",
                seen(Some(status(Some(true), 2, Some(1))), None),
                false,
            ),
            (
                "an old file without generations",
                seen(
                    Some(Status {
                        metadata: None,
                        ..status(Some(true), 0, None)
                    }),
                    None,
                ),
                true,
            ),
            (
                "not ready",
                seen(Some(status(Some(false), 1, Some(1))), Some(1)),
                false,
            ),
            (
                "not probed",
                seen(Some(status(None, 1, Some(1))), Some(1)),
                false,
            ),
            ("no status", seen(None, Some(1)), false),
            (
                "not declared",
                Seen {
                    declared: false,
                    ..seen(Some(status(Some(true), 1, Some(1))), Some(1))
                },
                false,
            ),
            (
                "gone since",
                Seen {
                    present: false,
                    ..seen(Some(status(Some(true), 1, Some(1))), Some(1))
                },
                false,
            ),
            (
                "stopped since",
                Seen {
                    running: false,
                    ..seen(Some(status(Some(true), 1, Some(1))), Some(1))
                },
                false,
            ),
        ];
        for (what, s, met) in cases {
            assert_eq!(
                decide(Kind::Sandbox, WaitFor::Ready, &s).is_ok(),
                met,
                "{what}: {:?}",
                decide(Kind::Sandbox, WaitFor::Ready, &s)
            );
        }
        // Only sandboxes run.
        let volume = Seen {
            running: false,
            ..seen(Some(status(Some(true), 1, Some(1))), Some(1))
        };
        assert!(decide(Kind::Volume, WaitFor::Ready, &volume).is_ok());
    }

    #[test]
    fn delete_holds_once_the_runtime_object_is_gone() {
        assert!(decide(Kind::Sandbox, WaitFor::Delete, &Seen::default()).is_ok());
        let declared_but_deleted = Seen {
            declared: true,
            ..Seen::default()
        };
        assert!(decide(Kind::Sandbox, WaitFor::Delete, &declared_but_deleted).is_ok());
        let present = Seen {
            present: true,
            ..Seen::default()
        };
        assert_eq!(
            decide(Kind::Sandbox, WaitFor::Delete, &present),
            Err("still present".to_string())
        );
    }

    #[test]
    fn the_current_generation_counts_an_unapplied_change() {
        let record = GenerationRecord {
            spec_hash: "a".into(),
            generation: 3,
        };
        assert_eq!(current_generation(Some(&record), "a"), Some(3));
        assert_eq!(current_generation(Some(&record), "b"), Some(4));
        assert_eq!(current_generation(None, "a"), None);
    }
}
