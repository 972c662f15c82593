//! What a pass decided for each key, in the spirit of kube-runtime's `Action`: come back
//! after a while, or wait for a change. Pure: a function of the apply's report.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::ControllerOptions;
use crate::key::Key;
use crate::reconcile::ApplyReport;

/// When a key is reconciled again, if nothing else queues it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Look again after this long (a wait for readiness or a dependency, a crash-loop
    /// back-off, a retry).
    After(Duration),
    /// Converged: only an input (a file, a Podman event, the resync) brings it back.
    AwaitChange,
}

impl Requeue {
    /// The earlier of two decisions (waiting for a change is the latest of all).
    pub fn earliest(self, other: Requeue) -> Requeue {
        match (self, other) {
            (Requeue::After(a), Requeue::After(b)) => Requeue::After(a.min(b)),
            (Requeue::After(a), Requeue::AwaitChange)
            | (Requeue::AwaitChange, Requeue::After(a)) => Requeue::After(a),
            (Requeue::AwaitChange, Requeue::AwaitChange) => Requeue::AwaitChange,
        }
    }
}

/// One key's result in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// An action on it failed: the error policy adds a retry, and its backoff goes on.
    /// Otherwise its backoff starts over.
    pub failed: bool,
    /// When to look again whatever the error policy says.
    pub requeue: Requeue,
}

/// Each key's decision after a pass over `only` (everything when `None`): a failed action
/// goes to the error policy; waiting for a dependency or for readiness comes back after
/// `recheck`; a crash loop when its back-off ends; a sandbox with a `lifetime` limit at its
/// next deadline; the rest (converged, or keys taken with
/// nothing to do) waits for a change.
pub fn decide(
    report: &ApplyReport,
    only: Option<&BTreeSet<Key>>,
    options: &ControllerOptions,
) -> BTreeMap<Key, Decision> {
    let mut decisions: BTreeMap<Key, Decision> = BTreeMap::new();
    let mut note = |key: &Key, failed: bool, requeue: Requeue| {
        let d = decisions.entry(key.clone()).or_insert(Decision {
            failed: false,
            requeue: Requeue::AwaitChange,
        });
        d.failed |= failed;
        d.requeue = d.requeue.earliest(requeue);
    };
    for key in only.into_iter().flatten() {
        note(key, false, Requeue::AwaitChange);
    }
    for o in &report.outcomes {
        note(&o.action.key, false, Requeue::AwaitChange);
    }
    for o in report.failures() {
        note(&o.action.key, true, Requeue::AwaitChange);
    }
    let recheck = Requeue::After(options.recheck);
    // Skipped because a dependency is not ready yet: the dependency may become ready without
    // any event (a probe passing is not one).
    for o in report.waiting() {
        note(&o.action.key, false, recheck);
    }
    for b in &report.plan.blocked {
        note(&b.key, false, recheck);
    }
    for (key, _) in &report.not_ready {
        note(key, false, recheck);
    }
    // A `lifetime` deadline: the controller wakes for it (it is no event).
    for check in &report.plan.lifetime_checks {
        note(
            &check.key,
            false,
            Requeue::After(Duration::from_millis(check.in_ms)),
        );
    }
    for crash in &report.plan.crash_loops {
        note(
            &crash.key,
            false,
            Requeue::After(Duration::from_millis(crash.retry_in_ms)),
        );
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::plan::{Blocked, CrashLoop, LifetimeCheck};
    use crate::reconcile::{Action, ActionError, ActionOutcome, Op, Plan};
    use pocket_dock_spec::Kind;

    fn key(n: &str) -> Key {
        Key::new(Kind::Sandbox, n)
    }

    fn outcome(name: &str, result: Result<(), ActionError>) -> ActionOutcome {
        ActionOutcome {
            action: Action {
                key: key(name),
                op: Op::Create { start: true },
                reason: "not found".into(),
                changes: Vec::new(),
            },
            result,
            elapsed: Duration::ZERO,
        }
    }

    fn report(outcomes: Vec<ActionOutcome>, plan: Plan) -> ApplyReport {
        ApplyReport {
            failed_tasks: Vec::new(),
            waited_out: false,
            failed_hooks: Vec::new(),
            plan,
            outcomes,
            statuses: Vec::new(),
            orphans: Vec::new(),
            warnings: Vec::new(),
            elapsed: Duration::ZERO,
            calls: Default::default(),
            status_files_written: 0,
            status_errors: Vec::new(),
            not_ready: vec![(key("probed"), "probe failed".into())],
            waited: false,
        }
    }

    #[test]
    fn each_key_gets_its_own_decision() {
        let options = ControllerOptions::default();
        let plan = Plan {
            blocked: vec![Blocked {
                key: key("blocked"),
                reason: "waiting for Image/base".into(),
                pending: false,
            }],
            crash_loops: vec![CrashLoop {
                key: key("looping"),
                restart_count: 2,
                last_exit_code: Some(1),
                backoff_ms: 20_000,
                retry_in_ms: 17_000,
            }],
            lifetime_checks: vec![LifetimeCheck {
                key: key("limited"),
                in_ms: 1_500,
            }],
            ..Plan::default()
        };
        let r = report(
            vec![
                outcome("ok", Ok(())),
                outcome("broken", Err(ActionError::Internal("boom".into()))),
                outcome(
                    "dependant",
                    Err(ActionError::DependencyNotReady {
                        dependency: "Sandbox/probed".into(),
                    }),
                ),
            ],
            plan,
        );
        let only: BTreeSet<Key> = [key("ok"), key("untouched")].into();
        let d = decide(&r, Some(&only), &options);
        let get = |n: &str| d.get(&key(n)).copied();
        let converged = Decision {
            failed: false,
            requeue: Requeue::AwaitChange,
        };
        let waiting = Decision {
            failed: false,
            requeue: Requeue::After(options.recheck),
        };
        assert_eq!(get("ok"), Some(converged));
        assert_eq!(get("untouched"), Some(converged));
        assert_eq!(
            get("broken"),
            Some(Decision {
                failed: true,
                requeue: Requeue::AwaitChange
            })
        );
        assert_eq!(get("dependant"), Some(waiting));
        assert_eq!(get("blocked"), Some(waiting));
        assert_eq!(get("probed"), Some(waiting));
        assert_eq!(
            get("looping"),
            Some(Decision {
                failed: false,
                requeue: Requeue::After(Duration::from_secs(17))
            })
        );
        assert_eq!(
            get("limited"),
            Some(Decision {
                failed: false,
                requeue: Requeue::After(Duration::from_millis(1_500))
            }),
            "woken at its next lifetime deadline"
        );
        assert_eq!(d.len(), 8);
    }

    #[test]
    fn the_earliest_requeue_wins_and_awaiting_a_change_is_the_latest() {
        let (s1, s2) = (
            Requeue::After(Duration::from_secs(1)),
            Requeue::After(Duration::from_secs(2)),
        );
        assert_eq!(s2.earliest(s1), s1);
        assert_eq!(Requeue::AwaitChange.earliest(s2), s2);
        assert_eq!(s1.earliest(Requeue::AwaitChange), s1);
        assert_eq!(
            Requeue::AwaitChange.earliest(Requeue::AwaitChange),
            Requeue::AwaitChange
        );
    }
}
