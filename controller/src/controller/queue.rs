//! The work queue: keys, not events. A key queued twice is reconciled once; a key that
//! failed comes back after an exponential, jittered, capped backoff, reset by a success.
//! Pure: time is passed in, so tests drive it without sleeping.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::requeue::Requeue;
use crate::key::Key;

/// Exponential backoff with jitter: `base * 2^attempt`, capped, then scaled by a factor in
/// [0.8, 1.2) drawn from a small deterministic generator (no global random state).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
            seed: seed | 1,
        }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(20));
        let capped = exp.min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: cheap, deterministic per queue, good enough for spreading retries.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = 0.8 + (self.seed % 400) as f64 / 1000.0;
        Some(capped.mul_f64(jitter))
    }
}

#[derive(Debug)]
pub struct WorkQueue {
    ready: BTreeSet<Key>,
    /// Keys to come back at a given time (retries, waits).
    later: BTreeMap<Key, Instant>,
    backoffs: BTreeMap<Key, Backoff>,
    policy: ErrorPolicy,
    seed: u64,
}

impl WorkQueue {
    pub fn new(policy: ErrorPolicy) -> Self {
        WorkQueue {
            ready: BTreeSet::new(),
            later: BTreeMap::new(),
            backoffs: BTreeMap::new(),
            policy,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Queues `key` now (a pending retry of it is superseded).
    pub fn add(&mut self, key: Key) {
        self.later.remove(&key);
        self.ready.insert(key);
    }

    /// Queues `key` at `at` unless it is already due earlier.
    pub fn add_at(&mut self, key: Key, at: Instant) {
        if self.ready.contains(&key) {
            return;
        }
        let entry = self.later.entry(key).or_insert(at);
        if at < *entry {
            *entry = at;
        }
    }

    /// Moves every key due by `now` to ready and takes them all.
    pub fn take_due(&mut self, now: Instant) -> BTreeSet<Key> {
        let due: Vec<Key> = self
            .later
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.later.remove(&key);
            self.ready.insert(key);
        }
        std::mem::take(&mut self.ready)
    }

    /// When the next delayed key is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.later.values().min().copied()
    }

    /// How many keys are queued (ready or delayed).
    pub fn len(&self) -> usize {
        self.ready.len() + self.later.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Records a failed reconcile of `key`: it comes back when the error policy says (after
    /// its next backoff).
    pub fn failed(&mut self, key: &Key, now: Instant) -> Requeue {
        let seed = self
            .seed
            .wrapping_add(self.backoffs.len() as u64 * 0x2545_F491);
        let policy = self.policy;
        let backoff = self
            .backoffs
            .entry(key.clone())
            .or_insert_with(|| policy.backoff(seed));
        let requeue = policy.on_error(backoff);
        if let Requeue::After(delay) = requeue {
            self.add_at(key.clone(), now + delay);
        }
        requeue
    }

    /// Records a successful reconcile of `key`: its backoff starts over.
    pub fn succeeded(&mut self, key: &Key) {
        self.backoffs.remove(key);
    }
}

/// Decides when a failure is tried again, as kube-runtime's `error_policy` does: after an
/// exponential backoff (`base` doubled with each failure in a row, capped at `max`, then
/// jittered by -20% to +20%), which a success resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl ErrorPolicy {
    /// A fresh backoff for one key; `seed` spreads the jitter of different keys.
    pub fn backoff(&self, seed: u64) -> Backoff {
        Backoff::new(self.base, self.max, seed)
    }

    /// What to do after a failure, given the key's backoff so far. Every failure is retried
    /// today: a permanent one (a foreign container's name) may be fixed by hand, and nothing
    /// else would look at it again before the resync.
    pub fn on_error(&self, backoff: &mut Backoff) -> Requeue {
        Requeue::After(backoff.next().unwrap_or(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pocket_dock_spec::Kind;

    fn key(n: &str) -> Key {
        Key::new(Kind::Sandbox, n)
    }

    fn queue(base: Duration, max: Duration) -> WorkQueue {
        WorkQueue::new(ErrorPolicy { base, max })
    }

    fn delay(r: Requeue) -> Duration {
        match r {
            Requeue::After(d) => d,
            Requeue::AwaitChange => Duration::MAX,
        }
    }

    #[test]
    fn a_key_queued_twice_is_taken_once() {
        let mut q = queue(Duration::from_millis(100), Duration::from_secs(30));
        q.add(key("a"));
        q.add(key("a"));
        q.add(key("b"));
        let now = Instant::now();
        assert_eq!(q.take_due(now).len(), 2);
        assert!(q.take_due(now).is_empty());
    }

    #[test]
    fn failures_back_off_exponentially_with_jitter_up_to_the_cap_and_reset_on_success() {
        let mut q = queue(Duration::from_millis(100), Duration::from_secs(2));
        let start = Instant::now();
        let delays: Vec<Duration> = (0..8).map(|_| delay(q.failed(&key("a"), start))).collect();
        for (i, d) in delays.iter().enumerate() {
            let nominal = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(2));
            assert!(
                *d >= nominal.mul_f64(0.8) && *d < nominal.mul_f64(1.2),
                "attempt {i}: {d:?} vs {nominal:?}"
            );
        }
        assert!(q.take_due(start).is_empty(), "not due yet");
        assert_eq!(q.take_due(start + Duration::from_secs(3)).len(), 1);
        q.succeeded(&key("a"));
        let first = delay(q.failed(&key("a"), start));
        assert!(
            first < Duration::from_millis(120),
            "reset after success: {first:?}"
        );
    }

    #[test]
    fn adding_now_supersedes_a_pending_retry_and_earliest_time_wins() {
        let mut q = queue(Duration::from_millis(100), Duration::from_secs(30));
        let now = Instant::now();
        q.add_at(key("a"), now + Duration::from_secs(10));
        q.add_at(key("a"), now + Duration::from_secs(1));
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(1)));
        q.add(key("a"));
        assert_eq!(q.next_due(), None);
        assert!(q.has_ready());
    }
}
