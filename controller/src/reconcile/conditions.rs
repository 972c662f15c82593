//! Dependency conditions (`dependsOn: [{name, condition}]`) and the states they read: is a
//! sandbox ready, has a one-shot completed. Pure: everything comes from the observation
//! (whose probes and hook records were read by `observe` and `apply`).

use pocket_dock_spec::model::Condition;

use super::desired::{DesiredSandbox, Key};
use super::observe::Observed;
pub use super::observe::{TaskOutcome, current, task_outcome};
use pocket_dock_spec::Kind;

/// Why a dependant may not start yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub reason: String,
    /// It may come true by itself (a probe passing, a task finishing); `false`: only a
    /// change can help (the task failed).
    pub pending: bool,
}

/// Whether `s` is ready now: its current container runs, no hook of it failed, and its
/// readiness probe (if it has one) passed when observed. `Err` says why not.
pub fn readiness(s: &DesiredSandbox, observed: &Observed) -> Result<(), String> {
    let Some(c) = current(s, observed) else {
        return Err("it has no container yet".into());
    };
    if c.spec_hash.as_deref() != Some(s.spec_hash.as_str()) {
        return Err("it is being replaced".into());
    }
    if c.state == crate::engine::ContainerState::Paused {
        return Err(format!(
            "it is paused; `pocket-dock resume {}` thaws it",
            s.name
        ));
    }
    if !c.state.is_running() {
        return Err("it is not running".into());
    }
    if let Some(failure) = observed.hook_failures.get(&s.name)
        && failure.container_id == c.id
    {
        return Err(format!("its {} hook failed", failure.hook));
    }
    let passed = observed
        .probes
        .get(&s.name)
        .copied()
        .unwrap_or(observed.assume_probes_pass);
    if s.probe.is_some() && !passed {
        return Err("its readiness probe has not passed".into());
    }
    Ok(())
}

/// The first condition of `s` that does not hold, with why. `acted_on` says whether the
/// plan changes a sandbox in this round (then its condition cannot hold yet).
pub fn unmet(
    s: &DesiredSandbox,
    sandboxes: &std::collections::BTreeMap<String, DesiredSandbox>,
    observed: &Observed,
    acted_on: impl Fn(&str) -> bool,
) -> Option<Unmet> {
    for dep in &s.depends_on {
        let Some(d) = sandboxes.get(&dep.name) else {
            continue;
        };
        let key = Key::new(Kind::Sandbox, dep.name.clone());
        // A dependency a `lifetime` limit stopped or removed stays so: no condition on it
        // comes true by waiting.
        if dep.condition != Condition::Started
            && let Some(expiry) = observed
                .lifetimes
                .get(&dep.name)
                .filter(|r| r.document_hash == d.document_hash)
                .and_then(|r| r.expiry.as_ref())
        {
            return Some(Unmet {
                reason: format!(
                    "{key} was {} by its lifetime ({}); change its declaration or `apply --resume --only {key}`",
                    match expiry.reason {
                        super::lifetime::ExpiryReason::IdleTimeout => "stopped",
                        super::lifetime::ExpiryReason::MaxLifetime => "removed",
                    },
                    expiry.message
                ),
                pending: false,
            });
        }
        let waiting = |what: &str| Unmet {
            reason: format!("waiting for {key} to {what}"),
            pending: true,
        };
        match dep.condition {
            Condition::Started => {}
            Condition::Ready => {
                if acted_on(&dep.name) {
                    return Some(waiting("be ready"));
                }
                if let Err(why) = readiness(d, observed) {
                    // A failed hook is not run again by itself: only a change helps.
                    let hook_failed = why.contains("hook failed");
                    return Some(Unmet {
                        reason: if hook_failed {
                            format!("{key} is not ready: {why}; fix the hook and apply again")
                        } else {
                            format!("waiting for {key} to be ready ({why})")
                        },
                        pending: !hook_failed,
                    });
                }
            }
            Condition::Completed => {
                if acted_on(&dep.name) {
                    return Some(waiting("complete"));
                }
                let outcome = current(d, observed)
                    .filter(|c| c.spec_hash.as_deref() == Some(d.spec_hash.as_str()))
                    .and_then(|c| task_outcome(d, c));
                match outcome {
                    Some(TaskOutcome::Succeeded) => {}
                    Some(TaskOutcome::Failed(code)) => {
                        let code = code.map_or_else(|| "unknown".to_string(), |c| c.to_string());
                        return Some(Unmet {
                            reason: format!(
                                "{key} failed (exit code {code}); fix it and apply again, or change its spec to run it again"
                            ),
                            pending: false,
                        });
                    }
                    None => return Some(waiting("complete")),
                }
            }
        }
    }
    None
}
