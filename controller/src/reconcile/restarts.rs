//! Crash-loop backoff: a sandbox that keeps exiting is started again later and later, the
//! way kubelet does it (CrashLoopBackOff). Pure: time and what is remembered are passed in.
//!
//! The first restart after an exit is immediate (a sandbox stopped by hand is back at once);
//! each restart after that waits for the current delay since the container exited, and
//! doubles it, from [`CrashLoopPolicy::initial`] up to [`CrashLoopPolicy::cap`]. A container
//! that ran for [`CrashLoopPolicy::reset_after`] before it exited starts over.

use std::time::Duration;

/// The numbers, in one place: kubelet's (10 s doubling to 5 min; reset after 10 min of
/// running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashLoopPolicy {
    pub initial: Duration,
    pub cap: Duration,
    pub reset_after: Duration,
}

impl Default for CrashLoopPolicy {
    fn default() -> Self {
        CrashLoopPolicy {
            initial: Duration::from_secs(10),
            cap: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

pub use crate::status::types::RestartRecord;

/// How a container ended, as Podman reports it (seconds since the Unix epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exit {
    pub code: Option<i64>,
    /// The kernel killed it for going over its memory limit.
    pub oom_killed: bool,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// Whether an exited container that should run is started now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    StartNow,
    /// In back-off: start it once `after` has passed (from now).
    Wait {
        after: Duration,
        backoff: Duration,
    },
}

/// How long the container ran before it exited, by the engine's clock alone (so that a
/// skew between the engine's clock and this one cancels out).
fn ran(exit: Exit) -> Option<i64> {
    match (exit.started_at, exit.finished_at) {
        (Some(s), Some(f)) if f >= s => Some(f - s),
        _ => None,
    }
}

/// The current delay for `container_id`, or zero: no record, another container's record,
/// or a run long enough to start over.
fn current_backoff(
    record: Option<&RestartRecord>,
    container_id: &str,
    exit: Exit,
    now: i64,
    policy: CrashLoopPolicy,
) -> Duration {
    let Some(record) = record.filter(|r| r.container_id == container_id) else {
        return Duration::ZERO;
    };
    // Without the engine's times, the time since the last start is an upper bound.
    let ran = ran(exit).or_else(|| record.restarted_at.map(|r| now - r));
    let reset = i64::try_from(policy.reset_after.as_secs()).unwrap_or(i64::MAX);
    if ran.is_some_and(|r| r >= reset) {
        return Duration::ZERO;
    }
    Duration::from_millis(record.backoff_ms)
}

/// When the container exited, on this machine's clock: when it was last started here, plus
/// how long it ran by the engine's clock; without a start time of ours, the engine's exit
/// time (never later than now).
fn exited_at(record: Option<&RestartRecord>, exit: Exit, now: i64) -> i64 {
    match (record.and_then(|r| r.restarted_at), ran(exit)) {
        (Some(restarted), Some(ran)) => restarted.saturating_add(ran).min(now),
        (Some(restarted), None) => restarted,
        (None, _) => exit.finished_at.map_or(now, |f| f.min(now)),
    }
}

/// Decides for an exited container that should run, at `now` (seconds since the epoch).
pub fn decide(
    record: Option<&RestartRecord>,
    container_id: &str,
    exit: Exit,
    now: i64,
    policy: CrashLoopPolicy,
) -> Decision {
    let backoff = current_backoff(record, container_id, exit, now, policy);
    if backoff.is_zero() {
        return Decision::StartNow;
    }
    let record = record.filter(|r| r.container_id == container_id);
    let finished = exited_at(record, exit, now);
    let due = finished.saturating_add(i64::try_from(backoff.as_secs()).unwrap_or(i64::MAX));
    if now >= due {
        Decision::StartNow
    } else {
        Decision::Wait {
            after: Duration::from_secs((due - now).unsigned_abs()),
            backoff,
        }
    }
}

/// The record after `container_id` was started again at `now` following `exit`.
pub fn after_restart(
    record: Option<&RestartRecord>,
    container_id: &str,
    exit: Exit,
    now: i64,
    policy: CrashLoopPolicy,
) -> RestartRecord {
    let backoff = current_backoff(record, container_id, exit, now, policy);
    let next = if backoff.is_zero() {
        policy.initial
    } else {
        (backoff * 2).min(policy.cap)
    };
    let count = record
        .filter(|r| r.container_id == container_id)
        .map_or(0, |r| r.restart_count);
    RestartRecord {
        container_id: container_id.to_string(),
        restart_count: count.saturating_add(1),
        backoff_ms: u64::try_from(next.as_millis()).unwrap_or(u64::MAX),
        last_exit_code: exit.code,
        last_finished_at: exit.finished_at,
        restarted_at: Some(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "c1";

    fn exit(started: i64, finished: i64) -> Exit {
        Exit {
            code: Some(1),
            oom_killed: false,
            started_at: Some(started),
            finished_at: Some(finished),
        }
    }

    /// Drives a container that exits 1 s after every start, on a fake clock, and returns
    /// the times (seconds) it was started at.
    fn starts_of_a_crashing_container(until: i64) -> Vec<i64> {
        let policy = CrashLoopPolicy::default();
        let mut record: Option<RestartRecord> = None;
        let mut starts = vec![0];
        let mut now = 0;
        while now < until {
            let started = *starts.last().unwrap_or(&0);
            let finished = started + 1;
            now = now.max(finished);
            match decide(record.as_ref(), ID, exit(started, finished), now, policy) {
                Decision::StartNow => {
                    record = Some(after_restart(
                        record.as_ref(),
                        ID,
                        exit(started, finished),
                        now,
                        policy,
                    ));
                    starts.push(now);
                }
                Decision::Wait { after, .. } => {
                    now += i64::try_from(after.as_secs()).unwrap();
                }
            }
        }
        starts
    }

    #[test]
    fn a_crashing_container_is_restarted_after_10_20_40_s_capped_at_5_min() {
        let starts = starts_of_a_crashing_container(2000);
        let gaps: Vec<i64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        // Each gap is the run (1 s) plus the wait: none, then 10, 20, 40, ... 300.
        assert_eq!(&gaps[..8], [1, 11, 21, 41, 81, 161, 301, 301]);
        // At most 6 starts in any 30 s.
        assert!(starts.iter().filter(|&&t| t < 30).count() <= 6);
    }

    #[test]
    fn ten_minutes_of_running_start_the_backoff_over() {
        let policy = CrashLoopPolicy::default();
        let record = RestartRecord {
            container_id: ID.into(),
            restart_count: 7,
            backoff_ms: 300_000,
            ..RestartRecord::default()
        };
        let long_run = exit(0, 600);
        assert_eq!(
            decide(Some(&record), ID, long_run, 600, policy),
            Decision::StartNow
        );
        let next = after_restart(Some(&record), ID, long_run, 600, policy);
        assert_eq!(next.backoff_ms, 10_000);
        assert_eq!(next.restart_count, 8);

        let short_run = exit(0, 30);
        assert_eq!(
            decide(Some(&record), ID, short_run, 60, policy),
            Decision::Wait {
                after: Duration::from_secs(270),
                backoff: Duration::from_secs(300)
            }
        );
    }

    #[test]
    fn a_new_container_starts_a_new_record() {
        let policy = CrashLoopPolicy::default();
        let record = RestartRecord {
            container_id: "old".into(),
            restart_count: 3,
            backoff_ms: 40_000,
            ..RestartRecord::default()
        };
        assert_eq!(
            decide(Some(&record), ID, exit(0, 1), 1, policy),
            Decision::StartNow
        );
        assert_eq!(
            after_restart(Some(&record), ID, exit(0, 1), 1, policy).restart_count,
            1
        );
    }

    /// The engine's clock may differ from this one (a remote socket, a VM): the wait is
    /// measured from our own start time plus how long the engine says it ran.
    #[test]
    fn a_skewed_engine_clock_neither_spins_nor_stalls_the_backoff() {
        let policy = CrashLoopPolicy::default();
        for skew in [-600, 0, 600] {
            let record = RestartRecord {
                container_id: ID.into(),
                restart_count: 1,
                backoff_ms: 20_000,
                restarted_at: Some(1000),
                ..RestartRecord::default()
            };
            // Started by us at 1000, ran 2 s by the engine's (skewed) clock.
            let e = exit(1000 + skew, 1002 + skew);
            assert_eq!(
                decide(Some(&record), ID, e, 1005, policy),
                Decision::Wait {
                    after: Duration::from_secs(17),
                    backoff: Duration::from_secs(20)
                },
                "skew {skew}"
            );
            assert_eq!(
                decide(Some(&record), ID, e, 1022, policy),
                Decision::StartNow
            );
        }
        // An engine that reports no times at all: from our start, not from every look.
        let record = RestartRecord {
            container_id: ID.into(),
            restart_count: 1,
            backoff_ms: 10_000,
            restarted_at: Some(1000),
            ..RestartRecord::default()
        };
        let unknown = Exit::default();
        assert!(matches!(
            decide(Some(&record), ID, unknown, 1004, policy),
            Decision::Wait { .. }
        ));
        assert_eq!(
            decide(Some(&record), ID, unknown, 1010, policy),
            Decision::StartNow
        );
    }
}
