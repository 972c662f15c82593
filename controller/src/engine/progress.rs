//! What a slow engine operation (a build, a pull, an image load) is doing while it runs:
//! pure data, and the pure tallies that turn Podman's progress streams into it.
//!
//! The engine hands each [`Progress`] to a callback as the stream arrives (nothing is
//! buffered for it); the reconciler passes it on to its observer with the action's key
//! (`Observer::progress`). Byte and layer counts change many times a second, so they are
//! thinned by a [`Throttle`]; a build's steps and a pull's status lines are sent as they come.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A progress report from a build, pull or load.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Progress {
    /// A build began a step, `STEP 3/7: RUN make` (Docker's `Step 3/7 : RUN make` is
    /// reported in Podman's words). `number`/`total` are absent when the line has none.
    Step {
        number: Option<u32>,
        total: Option<u32>,
        text: String,
    },
    /// A pull that reports its layers (the compat API): layers finished of those announced
    /// so far, and bytes downloaded of those announced so far.
    Layers {
        done: u32,
        total: u32,
        bytes: u64,
        bytes_total: u64,
    },
    /// A status line with no counts (Podman's own pull: `Copying blob sha256:…`; a load
    /// that is making its archive).
    Status { text: String },
    /// An archive being sent to the engine (an image load): bytes sent of the total.
    Bytes { done: u64, total: u64 },
}

/// Where an engine call reports its progress.
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// A callback that ignores every report.
pub fn ignore_progress(_: Progress) {}

impl Progress {
    /// The step a build output line starts (`STEP 2/3: RUN …` or Docker's `Step 2/3 : RUN …`),
    /// or `None` for any other line.
    pub fn from_build_line(line: &str) -> Option<Progress> {
        let line = line.trim();
        let text = if line.starts_with("STEP ") {
            line.to_string()
        } else if let Some(rest) = line.strip_prefix("Step ") {
            format!("STEP {}", rest.trim().replacen(" : ", ": ", 1))
        } else {
            return None;
        };
        // `STEP 3/7: …`: the counts, when the line has them.
        let counts = text
            .strip_prefix("STEP ")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.trim().split_once('/'))
            .and_then(|(n, t)| Some((n.parse::<u32>().ok()?, t.parse::<u32>().ok()?)));
        Some(Progress::Step {
            number: counts.map(|c| c.0),
            total: counts.map(|c| c.1),
            text,
        })
    }
}

/// At most one report per `every`, except those that must go (a change of counts, the end).
#[derive(Debug, Clone)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Throttle { every, last: None }
    }

    /// Whether a report made at `now` goes out (`forced`: it must); remembers it if so.
    pub fn due(&mut self, now: Instant, forced: bool) -> bool {
        let due = forced
            || self
                .last
                .is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if due {
            self.last = Some(now);
        }
        due
    }
}

/// How often byte counts are reported.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, Default)]
struct Layer {
    current: u64,
    total: u64,
    done: bool,
}

fn is_finished_layer(status: &str) -> bool {
    matches!(
        status,
        "Pull complete" | "Already exists" | "Download complete"
    )
}

/// The layers a pull's status lines (Docker's and Podman's compat `/images/create`) told
/// of so far.
#[derive(Debug, Clone, Default)]
pub struct PullTally {
    layers: BTreeMap<String, Layer>,
}

impl PullTally {
    /// Takes one status line (`id` is the layer's short id); returns whether the number of
    /// layers, or of finished layers, changed (a report that should not be thinned out).
    pub fn take(
        &mut self,
        id: Option<&str>,
        status: &str,
        current: Option<i64>,
        total: Option<i64>,
    ) -> bool {
        if !Self::is_layer_line(id, status) {
            return false;
        }
        let Some(id) = id else {
            return false;
        };
        let status = status.trim();
        let finished = is_finished_layer(status);
        let before = self.counts();
        let layer = self.layers.entry(id.to_string()).or_default();
        if status == "Downloading" {
            if let Some(t) = total.and_then(|t| u64::try_from(t).ok()).filter(|t| *t > 0) {
                layer.total = t;
            }
            if let Some(c) = current.and_then(|c| u64::try_from(c).ok()) {
                layer.current = if layer.total > 0 {
                    c.min(layer.total)
                } else {
                    c
                };
            }
        }
        if finished && !layer.done {
            layer.done = true;
            layer.current = layer.current.max(layer.total);
        }
        self.counts() != before
    }

    /// Whether a status line is about one layer (`Downloading`, `Pull complete`, …), as
    /// opposed to the pull as a whole (`Pulling from library/x` names the repository, not
    /// a layer; `Digest: …` and `Status: …` have no id).
    pub fn is_layer_line(id: Option<&str>, status: &str) -> bool {
        let status = status.trim();
        id.is_some_and(|i| !i.is_empty())
            && (is_finished_layer(status)
                || matches!(
                    status,
                    "Pulling fs layer"
                        | "Waiting"
                        | "Downloading"
                        | "Verifying Checksum"
                        | "Extracting"
                ))
    }

    /// Whether no layer was announced yet.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Layers finished, and layers announced.
    fn counts(&self) -> (u32, u32) {
        let done = self.layers.values().filter(|l| l.done).count();
        (
            u32::try_from(done).unwrap_or(u32::MAX),
            u32::try_from(self.layers.len()).unwrap_or(u32::MAX),
        )
    }

    /// What the pull has done so far.
    pub fn progress(&self) -> Progress {
        let (done, total) = self.counts();
        Progress::Layers {
            done,
            total,
            bytes: self.layers.values().map(|l| l.current).sum(),
            bytes_total: self.layers.values().map(|l| l.total).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_about_the_whole_pull_are_not_layers() {
        assert!(PullTally::is_layer_line(Some("4abcd"), "Downloading"));
        assert!(PullTally::is_layer_line(Some("4abcd"), " Pull complete "));
        assert!(PullTally::is_layer_line(Some("4abcd"), "Already exists"));
        assert!(!PullTally::is_layer_line(
            Some("1"),
            "Pulling from library/x"
        ));
        assert!(!PullTally::is_layer_line(None, "Digest: sha256:0123"));
        assert!(!PullTally::is_layer_line(None, "Downloading"));
        assert!(!PullTally::is_layer_line(Some(""), "Downloading"));
        let mut tally = PullTally::default();
        assert!(!tally.take(Some("1"), "Pulling from library/x", None, None));
        assert!(tally.is_empty());
    }

    #[test]
    fn build_lines_become_steps_in_podmans_words() {
        assert_eq!(
            Progress::from_build_line("STEP 3/7: RUN make -j4\n"),
            Some(Progress::Step {
                number: Some(3),
                total: Some(7),
                text: "STEP 3/7: RUN make -j4".into()
            })
        );
        assert_eq!(
            Progress::from_build_line("Step 2/9 : COPY a b"),
            Some(Progress::Step {
                number: Some(2),
                total: Some(9),
                text: "STEP 2/9: COPY a b".into()
            })
        );
        // A step line without counts is still a step; other lines are not.
        assert_eq!(
            Progress::from_build_line("STEP x: odd"),
            Some(Progress::Step {
                number: None,
                total: None,
                text: "STEP x: odd".into()
            })
        );
        for other in [
            "",
            "--> 1a2b3c",
            "COMMIT localhost/x",
            "  STEPS 1/2",
            "step 1/2: x",
        ] {
            assert_eq!(Progress::from_build_line(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_pull_tallies_layers_and_bytes_and_says_when_the_counts_change() {
        let mut t = PullTally::default();
        assert!(!t.take(Some("latest"), "Pulling from library/alpine", None, None));
        assert!(!t.take(None, "Digest: sha256:abc", None, None));
        assert!(t.take(Some("a1"), "Pulling fs layer", None, None));
        assert!(t.take(Some("b2"), "Waiting", None, None));
        assert!(!t.take(Some("a1"), "Downloading", Some(100), Some(1000)));
        assert!(!t.take(Some("a1"), "Downloading", Some(600), Some(1000)));
        assert_eq!(
            t.progress(),
            Progress::Layers {
                done: 0,
                total: 2,
                bytes: 600,
                bytes_total: 1000
            }
        );
        assert!(t.take(Some("a1"), "Download complete", None, None));
        // Finished twice counts once.
        assert!(!t.take(Some("a1"), "Pull complete", None, None));
        assert!(t.take(Some("b2"), "Already exists", None, None));
        assert_eq!(
            t.progress(),
            Progress::Layers {
                done: 2,
                total: 2,
                bytes: 1000,
                bytes_total: 1000
            }
        );
        // Hostile counts do not panic or go negative.
        assert!(t.take(Some("c3"), "Downloading", Some(-5), Some(-1)));
        assert!(matches!(t.progress(), Progress::Layers { total: 3, .. }));
    }

    #[test]
    fn the_throttle_lets_one_report_through_per_period_and_every_forced_one() {
        let start = Instant::now();
        let mut t = Throttle::new(Duration::from_millis(250));
        assert!(t.due(start, false), "the first report goes");
        assert!(!t.due(start + Duration::from_millis(100), false));
        assert!(t.due(start + Duration::from_millis(120), true));
        assert!(!t.due(start + Duration::from_millis(300), false));
        assert!(t.due(start + Duration::from_millis(400), false));
    }

    #[test]
    fn progress_serializes_with_a_type_tag() {
        let v = serde_json::to_value(Progress::Bytes { done: 1, total: 2 }).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "bytes", "done": 1, "total": 2})
        );
        let v = serde_json::to_value(Progress::from_build_line("STEP 1/2: FROM x")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "step", "number": 1, "total": 2, "text": "STEP 1/2: FROM x"})
        );
    }
}
