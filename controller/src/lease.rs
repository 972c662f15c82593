//! Leases on `run` containers: a `run` without `--keep` removes its container on every exit
//! path but one, SIGKILL. So the container records which process made it (pid and start
//! time, which together name one process even after pids are reused), and a container whose
//! process is gone is swept by the next `run` (and `gc`, and whoever calls
//! [`sweep_expired_runs`]).
//!
//! A lease is judged only where its pid means something: in the same boot (after a reboot
//! every process of the last one is gone) and the same pid namespace (a `run` in another
//! container sees other pids; its lease is left alone). The decision is pure
//! ([`judge`]); reading `/proc` is kept to [`ProcessView::of_this_process`] and
//! [`live_start_time`].

use std::collections::HashMap;

use pocket_dock_spec::Kind;

use crate::engine::labels::ObjectLabels;
use crate::engine::{Engine, EngineError, Ownership, RemoveOutcome};

pub use crate::engine::labels::{LEASE_BOOT, LEASE_PID, LEASE_PID_NS, LEASE_START};

/// Which process holds a container, and where its pid is meaningful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub pid: i64,
    pub start: u64,
    pub boot: String,
    pub pid_ns: String,
}

/// Where this process stands: the boot and the pid namespace it judges leases from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessView {
    pub boot: String,
    pub pid_ns: String,
}

/// What a lease says about its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// Its process still runs: the container is in use.
    Held,
    /// Its process is gone; the container is a leftover. The reason says how that is known.
    Expired(String),
    /// It cannot be judged from here; the container is left alone.
    Unknown(String),
}

impl ProcessView {
    /// This process's view, from `/proc`; `None` when `/proc` cannot tell (then nothing is
    /// judged, and nothing is swept).
    pub fn of_this_process() -> Option<ProcessView> {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let pid_ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
        Some(ProcessView {
            boot: boot.trim().to_string(),
            pid_ns: pid_ns.to_str()?.to_string(),
        })
    }
}

impl Lease {
    /// A lease held by this process; `None` when `/proc` cannot say who it is (the container
    /// is then made without a lease and, like a `--keep` one, never swept).
    pub fn of_this_process() -> Option<Lease> {
        let view = ProcessView::of_this_process()?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (pid, _) = crate::procs::parse_stat(&stat)?;
        Some(Lease {
            pid,
            start: crate::procs::parse_start_time(&stat)?,
            boot: view.boot,
            pid_ns: view.pid_ns,
        })
    }

    /// The labels that record it on a container.
    pub fn labels(&self) -> [(String, String); 4] {
        [
            (LEASE_PID.to_string(), self.pid.to_string()),
            (LEASE_START.to_string(), self.start.to_string()),
            (LEASE_BOOT.to_string(), self.boot.clone()),
            (LEASE_PID_NS.to_string(), self.pid_ns.clone()),
        ]
    }

    /// The lease recorded in `labels`: `None` when there is none (a `--keep` container, or
    /// one made before leases); `Some(Err)` naming what is wrong when it is unreadable.
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<Result<Lease, String>> {
        let [pid, start, boot, pid_ns] =
            [LEASE_PID, LEASE_START, LEASE_BOOT, LEASE_PID_NS].map(|k| labels.get(k));
        if [pid, start, boot, pid_ns].iter().all(Option::is_none) {
            return None;
        }
        let parsed = (|| {
            Some(Lease {
                pid: pid?.parse().ok().filter(|p| *p > 0)?,
                start: start?.parse().ok()?,
                boot: boot.filter(|b| !b.is_empty())?.clone(),
                pid_ns: pid_ns.filter(|n| !n.is_empty())?.clone(),
            })
        })();
        Some(parsed.ok_or_else(|| "its lease labels are incomplete or unreadable".to_string()))
    }
}

/// Whether `lease` is still held, seen from `view`. `start_time_of` gives the start time of
/// a live process of this pid namespace (`None`: no such process).
pub fn judge(
    lease: &Lease,
    view: &ProcessView,
    start_time_of: impl Fn(i64) -> Option<u64>,
) -> LeaseState {
    if lease.boot != view.boot {
        return LeaseState::Expired("its `run` was before the last reboot".to_string());
    }
    if lease.pid_ns != view.pid_ns {
        return LeaseState::Unknown(format!(
            "its `run` (pid {}) is in another pid namespace ({}), whose processes cannot be seen from here",
            lease.pid, lease.pid_ns
        ));
    }
    if start_time_of(lease.pid) == Some(lease.start) {
        LeaseState::Held
    } else {
        LeaseState::Expired(format!("its `run` (pid {}) is gone", lease.pid))
    }
}

/// Judges the lease in a container's labels: `None` when it has none (never swept).
pub fn state_of(
    labels: &HashMap<String, String>,
    view: Option<&ProcessView>,
    start_time_of: impl Fn(i64) -> Option<u64>,
) -> Option<LeaseState> {
    let lease = match Lease::from_labels(labels)? {
        Ok(lease) => lease,
        Err(problem) => return Some(LeaseState::Unknown(problem)),
    };
    Some(match view {
        Some(view) => judge(&lease, view, start_time_of),
        None => LeaseState::Unknown("/proc cannot tell which processes run here".to_string()),
    })
}

/// The start time of a live process of this host's `/proc`.
pub fn live_start_time(pid: i64) -> Option<u64> {
    crate::procs::start_time(pid)
}

/// Removes `ownership`'s `Run` containers whose lease expired (their `run` was killed
/// before it could clean up), at once and without a graceful stop. Returns the names of the
/// containers removed. Containers without a lease (`run --keep`) and leases that cannot be
/// judged are left alone. Every leftover is tried; the first failure is returned after.
///
/// `run` calls this before it starts; `apply` and the controller can call it on each pass:
/// one container list, and one `/proc` read per leased container.
pub async fn sweep_expired_runs(
    engine: &Engine,
    ownership: &Ownership,
) -> Result<Vec<String>, EngineError> {
    let view = ProcessView::of_this_process();
    let mut removed = Vec::new();
    let mut first_error = None;
    for (summary, handle) in engine.list_owned(ownership).await? {
        if ObjectLabels::parse(&summary.labels).is_none_or(|l| l.kind != Kind::Run) {
            continue;
        }
        let Some(LeaseState::Expired(reason)) =
            state_of(&summary.labels, view.as_ref(), live_start_time)
        else {
            continue;
        };
        match engine.remove_container(&handle).await {
            Ok(RemoveOutcome::Removed) => {
                tracing::info!(container = summary.name, "removed a leftover: {reason}");
                removed.push(summary.name);
            }
            // Another sweep got there first.
            Ok(RemoveOutcome::AlreadyGone) => {}
            Err(e) => {
                tracing::warn!(container = summary.name, error = %e, "could not remove a leftover of a killed run");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> ProcessView {
        ProcessView {
            boot: "boot-1".into(),
            pid_ns: "pid:[4026531836]".into(),
        }
    }

    fn lease(pid: i64, start: u64) -> Lease {
        Lease {
            pid,
            start,
            boot: "boot-1".into(),
            pid_ns: "pid:[4026531836]".into(),
        }
    }

    #[test]
    fn a_lease_is_held_while_its_pid_has_its_start_time() {
        let alive = |pid: i64| (pid == 42).then_some(1000);
        assert_eq!(judge(&lease(42, 1000), &view(), alive), LeaseState::Held);
        // The pid was reused by a later process: the holder is gone.
        assert!(matches!(
            judge(&lease(42, 999), &view(), alive),
            LeaseState::Expired(r) if r.contains("pid 42")
        ));
        // No such process at all.
        assert!(matches!(
            judge(&lease(7, 1000), &view(), alive),
            LeaseState::Expired(_)
        ));
    }

    #[test]
    fn another_boot_expires_and_another_namespace_cannot_be_judged() {
        let alive = |_| Some(1000);
        let mut rebooted = lease(42, 1000);
        rebooted.boot = "boot-0".into();
        assert!(matches!(
            judge(&rebooted, &view(), alive),
            LeaseState::Expired(r) if r.contains("reboot")
        ));
        let mut elsewhere = lease(42, 1000);
        elsewhere.pid_ns = "pid:[4026532999]".into();
        assert!(matches!(
            judge(&elsewhere, &view(), |_| None),
            LeaseState::Unknown(_)
        ));
    }

    #[test]
    fn labels_round_trip_and_missing_or_broken_ones_are_told_apart() {
        let l = lease(42, 1000);
        let labels: HashMap<String, String> = l.labels().into_iter().collect();
        assert_eq!(Lease::from_labels(&labels), Some(Ok(l)));
        assert_eq!(Lease::from_labels(&HashMap::new()), None);
        let mut broken = labels.clone();
        broken.insert(LEASE_PID.into(), "x".into());
        assert!(matches!(Lease::from_labels(&broken), Some(Err(_))));
        broken.insert(LEASE_PID.into(), "0".into());
        assert!(matches!(Lease::from_labels(&broken), Some(Err(_))));
        let mut partial = labels;
        partial.remove(LEASE_BOOT);
        assert!(matches!(Lease::from_labels(&partial), Some(Err(_))));
        // An unreadable lease is never taken for an expired one.
        assert!(matches!(
            state_of(&partial, Some(&view()), |_| None),
            Some(LeaseState::Unknown(_))
        ));
        assert_eq!(state_of(&HashMap::new(), Some(&view()), |_| None), None);
        assert!(matches!(
            state_of(&lease_labels(), None, |_| None),
            Some(LeaseState::Unknown(_))
        ));
    }

    fn lease_labels() -> HashMap<String, String> {
        lease(42, 1000).labels().into_iter().collect()
    }

    #[test]
    fn this_process_holds_its_own_lease() {
        let me = Lease::of_this_process().expect("a /proc on Linux");
        assert_eq!(me.pid, i64::from(std::process::id()));
        let view = ProcessView::of_this_process().expect("a /proc on Linux");
        assert_eq!(judge(&me, &view, live_start_time), LeaseState::Held);
    }
}
