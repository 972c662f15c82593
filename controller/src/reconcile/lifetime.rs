//! Sandbox time limits (`spec.lifetime`): when a sandbox has idled for `idleTimeout` it is
//! stopped, when it has lived for `maxLifetime` it is removed, and either stays so (an
//! *expiry*, kept in the state store) until its declaration changes. Pure: every time is
//! passed in, in milliseconds since the Unix epoch.
//!
//! The clocks:
//! - the lifetime starts at the later of the container's creation and the moment the
//!   current declaration (its document hash) was first reconciled ([`LifetimeRecord::since_ms`]);
//! - the idle clock starts at the latest of the container's start, the last activity (an
//!   `exec`, `shell` or session command starting or ending) and `since_ms`; while an exec or
//!   session is open there is no idling at all.
//!
//! Container times are whole seconds (as Podman lists them); they are rounded up, so that a
//! limit never acts early.

use std::time::Duration;

/// What the limits need to know of a sandbox's current container (times in whole seconds
/// since the epoch, as Podman lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerTimes {
    pub created: i64,
    pub started_at: Option<i64>,
    pub running: bool,
}

/// A sandbox's declared limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub idle_timeout: Option<Duration>,
    pub max_lifetime: Option<Duration>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.idle_timeout.is_none() && self.max_lifetime.is_none()
    }
}

pub use crate::status::types::{Activity, Expiry, ExpiryReason, LifetimeRecord};

/// What the limits say about a sandbox now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No limit, or no container to limit.
    Unlimited,
    /// Within its limits; look again after `check_in` (the nearest deadline, or
    /// `idleTimeout` while it is busy: its clock starts only when the activity ends).
    Alive { check_in: Option<Duration> },
    /// A limit is reached now: stop (idle) or remove (lifetime) the container.
    Due(Expiry),
}

pub use crate::timefmt::human;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A container time in whole seconds, as the end of that second in milliseconds.
fn rounded_up(secs: i64) -> i64 {
    secs.saturating_mul(1000).saturating_add(999)
}

/// Judges one sandbox's current container against its limits at `now_ms`. `since_ms` is
/// [`LifetimeRecord::since_ms`]. A sandbox past both limits is removed (`MaxLifetime`).
pub fn judge(
    limits: Limits,
    since_ms: i64,
    container: Option<ContainerTimes>,
    activity: Activity,
    now_ms: i64,
) -> Verdict {
    let Some(c) = container else {
        return Verdict::Unlimited;
    };
    if limits.is_empty() {
        return Verdict::Unlimited;
    }
    let mut check_in: Option<i64> = None;
    let mut sooner = |at: i64| {
        let wait = at.saturating_sub(now_ms).max(0);
        check_in = Some(check_in.map_or(wait, |c| c.min(wait)));
    };
    if let Some(max) = limits.max_lifetime {
        let born = rounded_up(c.created).max(since_ms);
        let end = born.saturating_add(ms(max));
        if now_ms >= end {
            return Verdict::Due(Expiry {
                reason: ExpiryReason::MaxLifetime,
                at_ms: now_ms,
                message: format!("lifetime {} reached", human(max)),
            });
        }
        sooner(end);
    }
    if let Some(idle) = limits.idle_timeout
        && c.running
    {
        if activity.live {
            sooner(now_ms.saturating_add(ms(idle)));
        } else {
            let started = c.started_at.map_or(i64::MIN, rounded_up);
            let quiet_since = started
                .max(activity.last_ms.unwrap_or(i64::MIN))
                .max(since_ms);
            let end = quiet_since.saturating_add(ms(idle));
            if now_ms >= end {
                return Verdict::Due(Expiry {
                    reason: ExpiryReason::IdleTimeout,
                    at_ms: now_ms,
                    message: format!("idle for {}", human(idle)),
                });
            }
            sooner(end);
        }
    }
    Verdict::Alive {
        check_in: check_in.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(created: i64, started: i64, running: bool) -> ContainerTimes {
        ContainerTimes {
            created,
            started_at: Some(started),
            running,
        }
    }

    const IDLE_30M: Limits = Limits {
        idle_timeout: Some(Duration::from_secs(1800)),
        max_lifetime: Some(Duration::from_secs(8 * 3600)),
    };

    fn at(secs: i64) -> i64 {
        secs * 1000
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(human(Duration::from_secs(1800)), "30m");
        assert_eq!(human(Duration::from_secs(8 * 3600)), "8h");
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::from_secs(2)), "2s");
        assert_eq!(human(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn the_idle_clock_starts_at_the_start_and_moves_with_activity() {
        let c = container(0, 100, true);
        let quiet = Activity::default();
        // Started at 100 s (rounded up to 100.999): due at 1900.999.
        assert_eq!(
            judge(IDLE_30M, 0, Some(c), quiet, at(1900)),
            Verdict::Alive {
                check_in: Some(Duration::from_millis(999))
            }
        );
        let Verdict::Due(expiry) = judge(IDLE_30M, 0, Some(c), quiet, at(1901)) else {
            panic!("idle");
        };
        assert_eq!(expiry.reason, ExpiryReason::IdleTimeout);
        assert_eq!(expiry.message, "idle for 30m");
        // An exec at 1000 s moves the deadline to 2800 s.
        let active = Activity {
            last_ms: Some(at(1000)),
            live: false,
        };
        assert_eq!(
            judge(IDLE_30M, 0, Some(c), active, at(1901)),
            Verdict::Alive {
                check_in: Some(Duration::from_secs(899))
            }
        );
        // A session open now: never idle, looked at again after a whole idleTimeout.
        let live = Activity {
            last_ms: Some(at(10)),
            live: true,
        };
        assert_eq!(
            judge(IDLE_30M, 0, Some(c), live, at(5000)),
            Verdict::Alive {
                check_in: Some(Duration::from_secs(1800))
            }
        );
        // A declaration reconciled later than the start counts from then.
        assert!(matches!(
            judge(IDLE_30M, at(1500), Some(c), quiet, at(1901)),
            Verdict::Alive { .. }
        ));
    }

    #[test]
    fn a_stopped_container_does_not_idle_but_still_ages() {
        let c = container(0, 100, false);
        assert_eq!(
            judge(IDLE_30M, 0, Some(c), Activity::default(), at(5000)),
            Verdict::Alive {
                check_in: Some(Duration::from_millis(8 * 3_600_000 + 999 - 5_000_000))
            }
        );
        let Verdict::Due(expiry) = judge(IDLE_30M, 0, Some(c), Activity::default(), at(28_801))
        else {
            panic!("too old");
        };
        assert_eq!(
            (expiry.reason, expiry.message.as_str()),
            (ExpiryReason::MaxLifetime, "lifetime 8h reached")
        );
    }

    #[test]
    fn activity_never_extends_the_lifetime_and_no_limit_is_no_verdict() {
        let c = container(0, 0, true);
        let live = Activity {
            last_ms: Some(at(28_800)),
            live: true,
        };
        assert!(matches!(
            judge(IDLE_30M, 0, Some(c), live, at(28_801)),
            Verdict::Due(Expiry {
                reason: ExpiryReason::MaxLifetime,
                ..
            })
        ));
        assert_eq!(
            judge(Limits::default(), 0, Some(c), live, at(99_999)),
            Verdict::Unlimited
        );
        assert_eq!(
            judge(IDLE_30M, 0, None, live, at(99_999)),
            Verdict::Unlimited
        );
    }

    #[test]
    fn a_new_declaration_or_a_resume_lifts_the_expiry_and_restarts_the_clock() {
        let expired = LifetimeRecord {
            document_hash: "a".into(),
            since_ms: 5,
            expiry: Some(Expiry {
                reason: ExpiryReason::IdleTimeout,
                at_ms: 10,
                message: "idle for 30m".into(),
            }),
        };
        assert_eq!(
            LifetimeRecord::for_declaration(Some(&expired), "a", 99, false),
            expired
        );
        let fresh = LifetimeRecord {
            document_hash: "b".into(),
            since_ms: 99,
            expiry: None,
        };
        assert_eq!(
            LifetimeRecord::for_declaration(Some(&expired), "b", 99, false),
            fresh
        );
        assert_eq!(
            LifetimeRecord::for_declaration(Some(&expired), "a", 99, true).expiry,
            None
        );
        assert_eq!(LifetimeRecord::for_declaration(None, "b", 99, false), fresh);
    }
}
