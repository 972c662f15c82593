//! When the controller runs a pass: the debounce of file changes, the settling of Podman
//! events, the periodic resync. Pure: time is passed in, so that a storm of a thousand
//! events a second can be played in a test.
//!
//! Every wait has a maximum: a steady stream of saves is handled at the latest
//! `debounce_max` after it began, and a steady stream of Podman events at the latest
//! `settle_max` after the first one not yet handled. Neither can starve the loop.

use std::time::Instant;

use super::ControllerOptions;

/// What a pass that is due has to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Read the files again first.
    pub reload: bool,
    /// Reconcile everything, not only the queued keys.
    pub full: bool,
}

#[derive(Debug)]
pub struct Schedule {
    options: ControllerOptions,
    files_changed: bool,
    last_file_event: Option<Instant>,
    burst_began: Option<Instant>,
    last_event: Option<Instant>,
    events_began: Option<Instant>,
    full_resync: bool,
    next_resync: Instant,
}

impl Schedule {
    /// At start: the files are read and everything is reconciled once, before anything else
    /// (an object not seen yet would look orphaned).
    pub fn new(now: Instant, options: ControllerOptions) -> Schedule {
        Schedule {
            options,
            files_changed: true,
            last_file_event: None,
            burst_began: None,
            last_event: None,
            events_began: None,
            full_resync: true,
            next_resync: now + options.resync,
        }
    }

    pub fn file_changed(&mut self, now: Instant) {
        self.files_changed = true;
        self.last_file_event = Some(now);
        self.burst_began.get_or_insert(now);
    }

    /// A Podman event put a key on the queue.
    pub fn event(&mut self, now: Instant) {
        self.last_event = Some(now);
        self.events_began.get_or_insert(now);
    }

    /// Everything again: reconnected to Podman (events may be lost), or the resync timer.
    pub fn resync(&mut self) {
        self.full_resync = true;
        self.files_changed = true;
    }

    fn files_quiet(&self, now: Instant) -> bool {
        self.last_file_event
            .is_none_or(|t| now >= t + self.options.debounce)
            || self
                .burst_began
                .is_some_and(|t| now >= t + self.options.debounce_max)
    }

    fn settled(&self, now: Instant) -> bool {
        self.last_event
            .is_none_or(|t| now >= t + self.options.settle)
            || self
                .events_began
                .is_some_and(|t| now >= t + self.options.settle_max)
    }

    /// Whether a pass should run now; `queued` says whether keys wait on the queue (ready
    /// now, or due by now).
    pub fn due(&mut self, now: Instant, queued: bool) -> Option<Due> {
        if now >= self.next_resync {
            self.resync();
        }
        let wanted = self.files_changed || self.full_resync || queued;
        if !(wanted && self.files_quiet(now) && self.settled(now)) {
            return None;
        }
        let due = Due {
            reload: self.files_changed,
            full: self.full_resync,
        };
        if due.reload {
            self.files_changed = false;
            self.last_file_event = None;
            self.burst_began = None;
        }
        if due.full {
            self.full_resync = false;
            self.next_resync = now + self.options.resync;
        }
        self.last_event = None;
        self.events_began = None;
        Some(due)
    }

    /// When to look again: the earliest moment something is wanted, but never before the
    /// files are quiet and the events settled (or their maximum waits ran out), so that a
    /// burst of saves or events is slept through, not spun through. `queue_due` is the
    /// queue's next timer, and `queued` whether keys are ready now.
    pub fn wake_at(&self, now: Instant, queue_due: Option<Instant>, queued: bool) -> Instant {
        let quiet_at = match (self.last_file_event, self.burst_began) {
            (Some(last), Some(began)) => {
                (last + self.options.debounce).min(began + self.options.debounce_max)
            }
            (Some(last), None) => last + self.options.debounce,
            _ => now,
        };
        let settled_at = match (self.last_event, self.events_began) {
            (Some(last), Some(began)) => {
                (last + self.options.settle).min(began + self.options.settle_max)
            }
            (Some(last), None) => last + self.options.settle,
            _ => now,
        };
        let wanted_at = if queued || self.full_resync || self.files_changed {
            now
        } else {
            queue_due.map_or(self.next_resync, |t| t.min(self.next_resync))
        };
        wanted_at.max(quiet_at).max(settled_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::controller::WorkQueue;
    use crate::key::Key;
    use pocket_dock_spec::Kind;

    /// A thousand Podman events a second for ten seconds, over a handful of objects: passes
    /// still run, at least every `settle_max`, and the queue never holds more than the
    /// objects there are.
    #[test]
    fn a_storm_of_events_does_not_starve_the_loop_and_memory_stays_flat() {
        let options = ControllerOptions::default();
        let start = Instant::now();
        let mut schedule = Schedule::new(start, options);
        let mut queue = WorkQueue::new(options.error_policy);
        let mut passes = Vec::new();
        let mut largest = 0;
        for ms in 0..10_000u64 {
            let now = start + Duration::from_millis(ms);
            queue.add(Key::new(Kind::Sandbox, format!("s{}", ms % 7)));
            schedule.event(now);
            largest = largest.max(queue.len());
            let queued = queue.has_ready() || queue.next_due().is_some_and(|t| t <= now);
            if schedule.due(now, queued).is_some() {
                let keys = queue.take_due(now);
                assert!(keys.len() <= 7);
                passes.push(ms);
            }
        }
        assert!(passes.len() >= 15, "{} passes", passes.len());
        let longest_gap = passes.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        // The window opens with the first event after a pass: at most one tick later.
        assert!(
            longest_gap <= u64::try_from(options.settle_max.as_millis()).unwrap() + 1,
            "{longest_gap} ms between passes"
        );
        assert!(largest <= 7, "{largest} keys queued");
    }

    #[test]
    fn a_burst_of_saves_is_one_pass_after_the_debounce_or_at_the_latest_after_its_max() {
        let options = ControllerOptions::default();
        let start = Instant::now();
        let mut schedule = Schedule::new(start, options);
        assert_eq!(
            schedule.due(start, false),
            Some(Due {
                reload: true,
                full: true
            }),
            "everything once at start"
        );
        // Saves every 50 ms for 3 s: quiet never comes, the maximum does.
        let mut passes = 0;
        for ms in (0..3000).step_by(10) {
            let now = start + Duration::from_millis(1000 + ms);
            if ms % 50 == 0 {
                schedule.file_changed(now);
            }
            if let Some(due) = schedule.due(now, false) {
                assert!(due.reload && !due.full);
                passes += 1;
            }
        }
        assert!((2..=4).contains(&passes), "{passes} passes");
        // The last saves of the burst are handled once they are quiet.
        assert!(
            schedule
                .due(start + Duration::from_secs(5), false)
                .is_some()
        );
        // One save: a pass once the files were quiet for the debounce.
        let t = start + Duration::from_secs(10);
        schedule.file_changed(t);
        assert_eq!(schedule.due(t + Duration::from_millis(50), false), None);
        assert!(schedule.due(t + options.debounce, false).is_some());
    }

    /// Between inputs the loop sleeps until a pass can run: never a wake-up time in the past
    /// while a debounce or settle window is open (that would spin).
    #[test]
    fn the_loop_sleeps_through_open_windows_instead_of_spinning() {
        let options = ControllerOptions::default();
        let start = Instant::now();
        let mut schedule = Schedule::new(start, options);
        let _ = schedule.due(start, false);
        let t = start + Duration::from_secs(1);
        schedule.file_changed(t);
        let now = t + Duration::from_millis(10);
        assert_eq!(schedule.due(now, false), None);
        assert_eq!(schedule.wake_at(now, None, false), t + options.debounce);

        schedule.event(now);
        let soon = now + Duration::from_millis(5);
        // Keys are queued, but the events have not settled: wake when they do.
        assert_eq!(schedule.due(soon, true), None);
        let wake = schedule.wake_at(soon, Some(start), true);
        assert!(wake > soon, "{:?}", wake - soon);
        assert_eq!(wake, t + options.debounce);
        // Nothing wanted: the next timer or the resync.
        let _ = schedule.due(t + Duration::from_secs(2), true);
        let idle = t + Duration::from_secs(3);
        assert_eq!(
            schedule.wake_at(idle, Some(idle + Duration::from_secs(7)), false),
            idle + Duration::from_secs(7)
        );
    }

    #[test]
    fn the_resync_timer_reloads_and_reconciles_everything() {
        let options = ControllerOptions::default();
        let start = Instant::now();
        let mut schedule = Schedule::new(start, options);
        let _ = schedule.due(start, false);
        assert_eq!(schedule.due(start + Duration::from_secs(1), false), None);
        assert_eq!(
            schedule.wake_at(start + Duration::from_secs(1), None, false),
            start + options.resync
        );
        assert_eq!(
            schedule.due(start + options.resync, false),
            Some(Due {
                reload: true,
                full: true
            })
        );
    }
}
