//! Every timing of the controller, in one place. `Default` is what `pocket-dock controller`
//! runs with; tests shorten them.

use std::time::Duration;

pub use super::queue::ErrorPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerOptions {
    /// A full resync this often, whatever else happens.
    pub resync: Duration,
    /// A burst of file writes is one change once the files were quiet this long...
    pub debounce: Duration,
    /// ...or once this long has passed since the burst began (a steady stream of saves must
    /// not starve reconciles).
    pub debounce_max: Duration,
    /// Podman events that arrive together are handled together after this long...
    pub settle: Duration,
    /// ...or once this long has passed since the first of them (a storm of events must not
    /// starve reconciles).
    pub settle_max: Duration,
    /// Objects waiting for something (a dependency, readiness) are looked at again after this.
    pub recheck: Duration,
    /// A container that exited is looked at again this long after its exit event: Docker can
    /// send `die` before its container list shows the exit.
    pub exit_recheck: Duration,
    /// When a failed object, or a failed pass, is tried again.
    pub error_policy: ErrorPolicy,
    /// When the Podman event stream is followed again after it broke (every reconnect is
    /// followed by a full resync).
    pub reconnect: ErrorPolicy,
    /// How long an object must stay gone from the declarations before it is pruned.
    pub prune_grace: Duration,
    /// How often a hold on pruning is looked at again while git works.
    pub git_poll: Duration,
    /// How old a git `index.lock` may be and still be taken for a git operation at work.
    pub stale_git_lock: Duration,
    /// On shutdown, how long a pass under way may take to finish.
    pub shutdown_grace: Duration,
    /// What a build may take when its `Image` sets no `build.timeout` (10 minutes when
    /// `None`; `controller --build-timeout`).
    pub build_timeout: Option<Duration>,
    /// What a pull may take when its `Image` sets no `from.timeout` (10 minutes when
    /// `None`; `controller --pull-timeout`).
    pub pull_timeout: Option<Duration>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            resync: Duration::from_secs(300),
            debounce: Duration::from_millis(100),
            debounce_max: Duration::from_secs(1),
            settle: Duration::from_millis(20),
            settle_max: Duration::from_millis(500),
            recheck: Duration::from_secs(2),
            exit_recheck: Duration::from_millis(500),
            error_policy: ErrorPolicy {
                base: Duration::from_millis(200),
                max: Duration::from_secs(30),
            },
            // Capped at 2 s (2.4 s with jitter): a Podman that comes back is followed, and
            // everything resynced, within about 3 s of its return.
            reconnect: ErrorPolicy {
                base: Duration::from_millis(100),
                max: Duration::from_secs(2),
            },
            prune_grace: super::current::PRUNE_GRACE,
            git_poll: Duration::from_secs(1),
            stale_git_lock: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(3),
            build_timeout: None,
            pull_timeout: None,
        }
    }
}
