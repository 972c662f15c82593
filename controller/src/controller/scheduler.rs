//! The scheduler: which keys a pass reconciles, and when. It joins the debounce and resync
//! timers ([`Schedule`]), the work queue with its per-key backoff ([`WorkQueue`]), the second
//! look at exited containers, and each pass's requeue decisions. Pure: every method takes
//! `now`, so a fake clock drives the tests; the loop only sleeps until [`Scheduler::wake_at`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use pocket_dock_spec::Kind;

use super::ControllerOptions;
use super::queue::WorkQueue;
use super::requeue::{Decision, Requeue};
use super::schedule::{Due, Schedule};
use crate::key::Key;

/// The queue key that stands for "everything" (a full pass that has to be tried again); its
/// backoff is that of whole passes.
const FULL_PASS: &str = "*";

fn full_pass() -> Key {
    Key::new(Kind::Workspace, FULL_PASS)
}

/// What a pass reconciles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Everything (at start, on a resync, or a full pass tried again).
    All,
    /// These keys (and, through `apply`, what depends on them).
    Keys(BTreeSet<Key>),
}

impl Work {
    /// As `ApplyOptions::only` takes it.
    pub fn only(&self) -> Option<BTreeSet<Key>> {
        match self {
            Work::All => None,
            Work::Keys(keys) => Some(keys.clone()),
        }
    }
}

#[derive(Debug)]
pub struct Scheduler {
    options: ControllerOptions,
    schedule: Schedule,
    queue: WorkQueue,
    /// Exited containers' keys, queued again at that time as if an event came then.
    exits: BTreeSet<(Instant, Key)>,
}

impl Scheduler {
    /// Starts with a reload and a full pass due at once.
    pub fn new(now: Instant, options: ControllerOptions) -> Scheduler {
        Scheduler {
            options,
            schedule: Schedule::new(now, options),
            queue: WorkQueue::new(options.error_policy),
            exits: BTreeSet::new(),
        }
    }

    /// Something under `.pocket-dock/` changed: reload once the files are quiet.
    pub fn file_changed(&mut self, now: Instant) {
        self.schedule.file_changed(now);
    }

    /// An input named `key` (a Podman event, an edit in a build context).
    pub fn changed(&mut self, key: Key, now: Instant) {
        self.queue.add(key);
        self.schedule.event(now);
    }

    /// A container of `key` exited: now, and once more after `exit_recheck`.
    pub fn exited(&mut self, key: Key, now: Instant) {
        self.exits
            .insert((now + self.options.exit_recheck, key.clone()));
        self.changed(key, now);
    }

    /// Everything again, files included (reconnected to Podman: events may be lost).
    pub fn resync(&mut self) {
        self.schedule.resync();
    }

    /// Queues `key` now, without opening a settle window (a reload found it changed, a hold
    /// on pruning ended).
    pub fn add(&mut self, key: Key) {
        self.queue.add(key);
    }

    /// Whether a pass is due at `now`, and whether it reads the files first. When it does,
    /// the caller reloads, [`add`](Self::add)s what changed, then [`take`](Self::take)s.
    pub fn due(&mut self, now: Instant) -> Option<Due> {
        let fired: Vec<(Instant, Key)> = self
            .exits
            .iter()
            .take_while(|(at, _)| *at <= now)
            .cloned()
            .collect();
        for entry in fired {
            self.exits.remove(&entry);
            self.changed(entry.1, now);
        }
        let queued = self.queue.has_ready() || self.queue.next_due().is_some_and(|t| t <= now);
        self.schedule.due(now, queued)
    }

    /// Takes the work of a due pass: everything for a full pass (what was queued is part of
    /// it), else the queued keys; `None` when nothing is left to do.
    pub fn take(&mut self, now: Instant, due: Due) -> Option<Work> {
        let taken = self.queue.take_due(now);
        if due.full || taken.contains(&full_pass()) {
            Some(Work::All)
        } else if taken.is_empty() {
            None
        } else {
            Some(Work::Keys(taken))
        }
    }

    /// When the loop has to look again, at the latest (an input may come earlier).
    pub fn wake_at(&self, now: Instant) -> Instant {
        let wake = self
            .schedule
            .wake_at(now, self.queue.next_due(), self.queue.has_ready());
        match self.exits.first() {
            Some((at, _)) => wake.min((*at).max(now)),
            None => wake,
        }
    }

    /// Applies a finished pass's decisions at `now`; returns the retries the error policy
    /// chose for the failed keys (for the log).
    pub fn finished(
        &mut self,
        now: Instant,
        decisions: &BTreeMap<Key, Decision>,
    ) -> Vec<(Key, Requeue)> {
        self.queue.succeeded(&full_pass());
        let mut retries = Vec::new();
        for (key, decision) in decisions {
            if decision.failed {
                retries.push((key.clone(), self.queue.failed(key, now)));
            } else {
                self.queue.succeeded(key);
            }
            if let Requeue::After(delay) = decision.requeue {
                self.queue.add_at(key.clone(), now + delay);
            }
        }
        retries
    }

    /// A pass that could not run (the writer lock, the engine or the store failed) comes back
    /// whole after the error policy's backoff for passes: events may have been missed
    /// meanwhile, and a whole pass includes its keys.
    pub fn pass_failed(&mut self, now: Instant) -> Requeue {
        self.queue.failed(&full_pass(), now)
    }

    /// How many keys are queued (ready or delayed).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(n: &str) -> Key {
        Key::new(Kind::Sandbox, n)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs the start-up pass (reload + everything) at `start`.
    fn started(start: Instant) -> Scheduler {
        let mut s = Scheduler::new(start, ControllerOptions::default());
        let due = s.due(start).expect("a pass at start");
        assert!(due.reload && due.full);
        assert_eq!(s.take(start, due), Some(Work::All));
        s.finished(start, &BTreeMap::new());
        s
    }

    /// The pass at `now`, if one is due (reloading finds nothing changed).
    fn pass(s: &mut Scheduler, now: Instant) -> Option<Work> {
        let due = s.due(now)?;
        s.take(now, due)
    }

    fn decision(failed: bool, requeue: Requeue) -> BTreeMap<Key, Decision> {
        [(key("a"), Decision { failed, requeue })].into()
    }

    #[test]
    fn a_burst_of_saves_is_coalesced_into_one_reload() {
        let start = Instant::now();
        let mut s = started(start);
        let t = start + Duration::from_secs(1);
        for i in 0..5 {
            s.file_changed(t + ms(20 * i));
        }
        assert_eq!(
            s.due(t + ms(150)),
            None,
            "still within 100 ms of the last save"
        );
        assert_eq!(s.wake_at(t + ms(150)), t + ms(180));
        let due = s.due(t + ms(180)).expect("quiet now");
        assert!(due.reload && !due.full);
        // The reload found one changed key.
        s.add(key("a"));
        assert_eq!(
            s.take(t + ms(180), due),
            Some(Work::Keys([key("a")].into()))
        );
        assert_eq!(s.due(t + ms(500)), None, "one pass for the whole burst");
    }

    #[test]
    fn a_requeue_after_fires_at_its_time_and_not_before() {
        let start = Instant::now();
        let mut s = started(start);
        let t = start + Duration::from_secs(1);
        s.changed(key("a"), t);
        assert_eq!(
            pass(&mut s, t + ms(20)),
            Some(Work::Keys([key("a")].into()))
        );
        let done = t + ms(100);
        s.finished(
            done,
            &decision(false, Requeue::After(Duration::from_secs(2))),
        );
        assert_eq!(s.wake_at(done), done + Duration::from_secs(2));
        assert_eq!(s.due(done + ms(1999)), None);
        assert_eq!(
            pass(&mut s, done + Duration::from_secs(2)),
            Some(Work::Keys([key("a")].into()))
        );
    }

    #[test]
    fn awaiting_a_change_never_fires_on_its_own_until_the_resync() {
        let start = Instant::now();
        let options = ControllerOptions::default();
        let mut s = started(start);
        s.changed(key("a"), start + ms(10));
        assert!(pass(&mut s, start + ms(30)).is_some());
        s.finished(start + ms(40), &decision(false, Requeue::AwaitChange));
        assert_eq!(s.queued(), 0);
        assert_eq!(s.wake_at(start + ms(40)), start + options.resync);
        for secs in 1..300 {
            assert_eq!(
                s.due(start + Duration::from_secs(secs)),
                None,
                "at {secs} s"
            );
        }
        let due = s.due(start + options.resync).expect("the resync");
        assert!(due.reload && due.full);
        assert_eq!(s.take(start + options.resync, due), Some(Work::All));
    }

    #[test]
    fn the_error_policy_backs_off_doubling_to_its_cap_and_a_success_resets_it() {
        let start = Instant::now();
        let options = ControllerOptions::default();
        let mut s = started(start);
        let mut now = start + Duration::from_secs(1);
        let mut delays = Vec::new();
        for _ in 0..10 {
            let retries = s.finished(now, &decision(true, Requeue::AwaitChange));
            let [(k, Requeue::After(delay))] = retries.as_slice() else {
                panic!("{retries:?}");
            };
            assert_eq!(k, &key("a"));
            delays.push(*delay);
            assert_eq!(s.wake_at(now), now + *delay);
            assert_eq!(s.due(now + *delay - ms(1)), None);
            now += *delay;
            assert_eq!(pass(&mut s, now), Some(Work::Keys([key("a")].into())));
        }
        for (i, d) in delays.iter().enumerate() {
            let nominal = (options.error_policy.base * (1 << i)).min(options.error_policy.max);
            assert!(
                *d >= nominal.mul_f64(0.8) && *d < nominal.mul_f64(1.2),
                "retry {i}: {d:?} vs {nominal:?}"
            );
        }
        s.finished(now, &decision(false, Requeue::AwaitChange));
        let retries = s.finished(now, &decision(true, Requeue::AwaitChange));
        assert!(
            matches!(retries[0].1, Requeue::After(d) if d < ms(240)),
            "reset: {retries:?}"
        );
    }

    #[test]
    fn a_failed_key_that_also_waits_comes_back_at_the_earlier_time() {
        let start = Instant::now();
        let mut s = started(start);
        let now = start + Duration::from_secs(1);
        s.finished(now, &decision(true, Requeue::After(ms(50))));
        assert_eq!(s.wake_at(now), now + ms(50));
    }

    #[test]
    fn an_exit_is_looked_at_again_after_exit_recheck() {
        let start = Instant::now();
        let options = ControllerOptions::default();
        let mut s = started(start);
        let t = start + Duration::from_secs(1);
        s.exited(key("a"), t);
        assert_eq!(s.due(t), None, "events settle first");
        assert_eq!(
            pass(&mut s, t + options.settle),
            Some(Work::Keys([key("a")].into()))
        );
        s.finished(t + ms(100), &BTreeMap::new());
        assert_eq!(s.wake_at(t + ms(100)), t + options.exit_recheck);
        let again = t + options.exit_recheck;
        assert_eq!(s.due(again), None, "the second look settles like an event");
        assert_eq!(
            pass(&mut s, again + options.settle),
            Some(Work::Keys([key("a")].into()))
        );
        assert_eq!(s.wake_at(again + options.settle), start + options.resync);
    }

    #[test]
    fn a_failed_pass_comes_back_whole_after_its_backoff() {
        let start = Instant::now();
        let mut s = Scheduler::new(start, ControllerOptions::default());
        let due = s.due(start).expect("start");
        let work = s.take(start, due).expect("everything");
        assert_eq!(work, Work::All);
        let Requeue::After(delay) = s.pass_failed(start) else {
            panic!("retried");
        };
        assert_eq!(s.due(start + delay - ms(1)), None);
        assert_eq!(pass(&mut s, start + delay), Some(Work::All));

        let now = start + Duration::from_secs(10);
        s.changed(key("a"), now);
        let work = pass(&mut s, now + ms(20)).expect("a");
        assert_eq!(work, Work::Keys([key("a")].into()));
        let Requeue::After(delay) = s.pass_failed(now + ms(20)) else {
            panic!("retried");
        };
        assert!(
            delay > ms(300),
            "the second failure in a row backs off further"
        );
        assert_eq!(pass(&mut s, now + ms(20) + delay - ms(1)), None);
        assert_eq!(pass(&mut s, now + ms(20) + delay), Some(Work::All));
    }

    /// A thousand Podman events a second for ten seconds, over a handful of objects: passes
    /// still run, at least every `settle_max`, and never more keys than there are objects.
    #[test]
    fn a_storm_of_events_does_not_starve_the_scheduler() {
        let options = ControllerOptions::default();
        let start = Instant::now();
        let mut s = started(start);
        let mut passes = Vec::new();
        for ms in 0..10_000u64 {
            let now = start + Duration::from_millis(ms);
            s.changed(key(&format!("s{}", ms % 7)), now);
            assert!(s.queued() <= 7);
            if let Some(Work::Keys(keys)) = pass(&mut s, now) {
                assert!(keys.len() <= 7);
                passes.push(ms);
            }
        }
        let longest = passes.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        assert!(passes.len() >= 15, "{} passes", passes.len());
        assert!(
            u128::from(longest) <= options.settle_max.as_millis() + 1,
            "{longest} ms"
        );
    }
}
