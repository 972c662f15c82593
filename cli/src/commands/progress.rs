//! Live lines for slow actions (builds, pulls, image loads) on a terminal.
//!
//! When stderr is a terminal and the output is text, each running build, pull, load or
//! commit keeps one line on stderr, redrawn in place: the object, what it does, the step or
//! the layers and bytes so far, and the time it has taken. Several actions running at once
//! each keep their own line. A finished action's line is cleared and its usual permanent
//! line is printed above the live ones. Anything else written meanwhile (the log, when
//! `-v` asks for it) goes above the live lines too ([`Screen::suspend`]).
//!
//! With no terminal on stderr, or with `--output json`, nothing is drawn: the text output is
//! exactly what it always was, and JSON has its `started`/`progress`/`action` events.
//!
//! The text of a line is a pure function of what the action reported and how long it has
//! run ([`describe`], [`elapsed_text`]); indicatif only draws it.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use pocket_dock::Observer;
use pocket_dock::engine::Progress;
use pocket_dock::reconcile::{Action, ActionOutcome, Key, Op};

use super::OutputFormat;
use super::apply::Printer;

/// Where live lines are drawn: stderr, when it is a terminal and the output is text.
#[derive(Debug, Clone)]
pub struct Screen {
    bars: MultiProgress,
    /// stdout is the same kind of place (a terminal): the "building …" lines that say an
    /// action started are replaced by its live line rather than printed as well.
    stdout_is_terminal: bool,
}

impl Screen {
    /// A screen when stderr is a terminal that can move its cursor (`TERM` is not `dumb`)
    /// and `format` is text; `None` otherwise.
    pub fn detect(format: OutputFormat) -> Option<Screen> {
        let text = matches!(format, OutputFormat::Text | OutputFormat::Wide);
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        (text && !dumb && std::io::stderr().is_terminal()).then(|| Screen {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            stdout_is_terminal: std::io::stdout().is_terminal(),
        })
    }

    /// Runs `f` with the live lines taken away (they are drawn again after): for writing
    /// anything else to the terminal.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bars.suspend(f)
    }
}

/// The log's writer: stderr, with the live lines (if any) out of the way while it writes.
pub struct LogWriter(Option<Screen>);

impl LogWriter {
    pub fn new(screen: Option<Screen>) -> Self {
        LogWriter(screen)
    }
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let write = || std::io::stderr().lock().write_all(buf);
        match &self.0 {
            Some(screen) => screen.suspend(write),
            None => write(),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// What a slow action is doing, in the words of its live line (`building`, `pulling`, …);
/// `None` for the quick ones, which get no live line.
pub fn verb(op: &Op) -> Option<&'static str> {
    match op {
        Op::Pull { .. } => Some("pulling"),
        Op::Build { .. } => Some("building"),
        Op::LoadEmbedded { .. } => Some("loading"),
        Op::Commit { .. } => Some("committing"),
        _ => None,
    }
}

/// The text of a live line, less its elapsed time: the object, the verb and the latest
/// progress report.
pub fn describe(subject: &str, verb: &str, progress: Option<&Progress>) -> String {
    let head = format!("{subject:<28} {verb}");
    let detail = match progress {
        None => return head,
        Some(Progress::Step { text, .. }) => text.clone(),
        Some(Progress::Layers {
            done,
            total,
            bytes,
            bytes_total,
        }) => {
            let layers = format!("{done}/{total} layer{}", if *total == 1 { "" } else { "s" });
            if *bytes_total > 0 {
                format!("{layers}, {} of {}", size(*bytes), size(*bytes_total))
            } else {
                layers
            }
        }
        Some(Progress::Status { text }) => text.clone(),
        Some(Progress::Bytes { done, total }) if done >= total => {
            format!("{} sent, Podman is loading it", size(*total))
        }
        Some(Progress::Bytes { done, total }) => {
            format!("{} of {} sent", size(*done), size(*total))
        }
        // A kind of report this version does not know how to say: the verb alone.
        Some(_) => return head,
    };
    format!("{head}: {detail}")
}

/// Elapsed time as the live line shows it: whole seconds under a minute (`0s`, `12s`),
/// then minutes and seconds (`2m05s`).
pub fn elapsed_text(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// A byte count in binary units, one decimal (`512 B`, `3.4 MiB`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A live line for one slow step outside an apply (`run`'s pull of a missing image):
/// drawn at the first report, gone at [`OneLine::clear`] (the command's first output, or
/// its end).
pub struct OneLine {
    screen: Screen,
    subject: String,
    verb: &'static str,
    bar: Mutex<Option<ProgressBar>>,
}

impl OneLine {
    pub fn new(screen: &Screen, subject: impl Into<String>, verb: &'static str) -> Self {
        OneLine {
            screen: screen.clone(),
            subject: subject.into(),
            verb,
            bar: Mutex::new(None),
        }
    }

    /// Shows `progress` (drawing the line if this is the first report).
    pub fn report(&self, progress: &Progress) {
        let Ok(mut bar) = self.bar.lock() else {
            return;
        };
        let bar = bar.get_or_insert_with(|| {
            let bar = self
                .screen
                .bars
                .add(ProgressBar::new_spinner().with_style(style()));
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        bar.set_message(describe(&self.subject, self.verb, Some(progress)));
    }

    /// Takes the line away, if one is drawn.
    pub fn clear(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
            self.screen.bars.remove(&bar);
        }
    }
}

/// One running action's live line.
struct Running {
    bar: ProgressBar,
    verb: &'static str,
}

/// Prints actions as [`Printer`] does, and on a [`Screen`] keeps a live line for each
/// running slow action.
pub struct LivePrinter {
    printer: Printer,
    screen: Screen,
    running: Mutex<BTreeMap<Key, Running>>,
}

/// The observer for commands that apply: live lines on a terminal, else the [`Printer`].
pub fn observer(format: OutputFormat, screen: Option<&Screen>) -> Arc<dyn Observer> {
    let printer = Printer { format };
    match screen {
        Some(screen) if matches!(format, OutputFormat::Text | OutputFormat::Wide) => {
            Arc::new(LivePrinter {
                printer,
                screen: screen.clone(),
                running: Mutex::new(BTreeMap::new()),
            })
        }
        _ => Arc::new(printer),
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {wide_msg} {since}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "since",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&elapsed_text(state.elapsed()));
            },
        )
}

impl Observer for LivePrinter {
    fn started(&self, action: &Action) {
        let Some(verb) = verb(&action.op) else {
            return;
        };
        if !self.screen.stdout_is_terminal {
            // stdout goes elsewhere (a file, a pipe): it gets its usual lines.
            self.printer.started(action);
        }
        let bar = self
            .screen
            .bars
            .add(ProgressBar::new_spinner().with_style(style()));
        bar.set_message(describe(&action.key.to_string(), verb, None));
        bar.enable_steady_tick(Duration::from_millis(100));
        if let Ok(mut running) = self.running.lock() {
            running.insert(action.key.clone(), Running { bar, verb });
        }
    }

    fn progress(&self, key: &Key, progress: &Progress) {
        if let Ok(running) = self.running.lock()
            && let Some(r) = running.get(key)
        {
            r.bar
                .set_message(describe(&key.to_string(), r.verb, Some(progress)));
        }
    }

    fn finished(&self, outcome: &ActionOutcome) {
        let done = self
            .running
            .lock()
            .ok()
            .and_then(|mut running| running.remove(&outcome.action.key));
        if let Some(r) = done {
            r.bar.finish_and_clear();
            self.screen.bars.remove(&r.bar);
        }
        self.screen.suspend(|| self.printer.finished(outcome));
    }

    fn waiting(&self, blocked: &pocket_dock::reconcile::Blocked) {
        self.screen.suspend(|| self.printer.waiting(blocked));
    }

    fn waiting_for_writer(&self, holder: &pocket_dock::writer_lock::Holder) {
        self.screen
            .suspend(|| self.printer.waiting_for_writer(holder));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pocket_dock_spec::Kind;

    fn key(kind: Kind, name: &str) -> Key {
        Key {
            kind,
            name: name.into(),
        }
    }

    #[test]
    fn a_live_line_says_the_object_the_verb_and_the_latest_report() {
        let web = key(Kind::Image, "web");
        assert_eq!(
            describe(&web.to_string(), "building", None),
            "Image/web                    building"
        );
        assert_eq!(
            describe(
                &web.to_string(),
                "building",
                Progress::from_build_line("STEP 3/7: RUN make -j4").as_ref()
            ),
            "Image/web                    building: STEP 3/7: RUN make -j4"
        );
        let layers = Progress::Layers {
            done: 2,
            total: 5,
            bytes: 3 * 1024 * 1024 + 400 * 1024,
            bytes_total: 40 * 1024 * 1024,
        };
        assert_eq!(
            describe("Sandbox/db", "pulling", Some(&layers)),
            "Sandbox/db                   pulling: 2/5 layers, 3.4 MiB of 40.0 MiB"
        );
        let one = Progress::Layers {
            done: 0,
            total: 1,
            bytes: 0,
            bytes_total: 0,
        };
        assert_eq!(
            describe("Image/a", "pulling", Some(&one)),
            "Image/a                      pulling: 0/1 layer"
        );
        let status = Progress::Status {
            text: "Copying blob sha256:1234".into(),
        };
        assert_eq!(
            describe("Image/a", "pulling", Some(&status)),
            "Image/a                      pulling: Copying blob sha256:1234"
        );
        assert_eq!(
            describe(
                "Image/base",
                "loading",
                Some(&Progress::Bytes {
                    done: 512,
                    total: 2048
                })
            ),
            "Image/base                   loading: 512 B of 2.0 KiB sent"
        );
        assert_eq!(
            describe(
                "Image/base",
                "loading",
                Some(&Progress::Bytes {
                    done: 2048,
                    total: 2048
                })
            ),
            "Image/base                   loading: 2.0 KiB sent, Podman is loading it"
        );
    }

    #[test]
    fn elapsed_time_and_sizes_read_well() {
        assert_eq!(elapsed_text(Duration::from_millis(850)), "0s");
        assert_eq!(elapsed_text(Duration::from_secs(12)), "12s");
        assert_eq!(elapsed_text(Duration::from_secs(125)), "2m05s");
        assert_eq!(elapsed_text(Duration::from_secs(3600)), "60m00s");
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(size(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn only_slow_actions_get_a_live_line() {
        assert_eq!(verb(&Op::Build { tag: "t".into() }), Some("building"));
        assert_eq!(
            verb(&Op::Pull {
                reference: "r".into()
            }),
            Some("pulling")
        );
        assert_eq!(verb(&Op::LoadEmbedded { tag: "t".into() }), Some("loading"));
        assert_eq!(verb(&Op::Start), None);
        assert_eq!(verb(&Op::CreateVolume), None);
    }

    #[test]
    fn each_slow_action_has_a_line_from_its_start_to_its_end_and_quick_ones_none() {
        let live = LivePrinter {
            printer: Printer {
                format: OutputFormat::Text,
            },
            screen: Screen {
                bars: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
                stdout_is_terminal: true,
            },
            running: Mutex::new(BTreeMap::new()),
        };
        let action = |name: &str, op: Op| Action {
            key: key(Kind::Image, name),
            op,
            reason: "image not present".into(),
            changes: Vec::new(),
        };
        let a = action("a", Op::Build { tag: "t".into() });
        let b = action(
            "b",
            Op::Pull {
                reference: "r".into(),
            },
        );
        let quick = action(
            "c",
            Op::Tag {
                source: "s".into(),
                tag: "t".into(),
            },
        );
        for started in [&a, &b, &quick] {
            live.started(started);
        }
        let message = |k: &Key| {
            live.running
                .lock()
                .unwrap()
                .get(k)
                .map(|r| r.bar.message().to_string())
        };
        assert_eq!(
            live.running.lock().unwrap().len(),
            2,
            "the tag gets no line"
        );
        let step = Progress::from_build_line("STEP 2/3: RUN x").unwrap();
        live.progress(&a.key, &step);
        // A report for an object with no line (or no longer one) is dropped.
        live.progress(&quick.key, &step);
        assert_eq!(
            message(&a.key).as_deref(),
            Some("Image/a                      building: STEP 2/3: RUN x")
        );
        assert_eq!(
            message(&b.key).as_deref(),
            Some("Image/b                      pulling")
        );
        let end = |action: &Action| ActionOutcome {
            action: action.clone(),
            result: Ok(()),
            elapsed: Duration::from_millis(5),
        };
        live.finished(&end(&a));
        assert_eq!(message(&a.key), None);
        assert!(message(&b.key).is_some(), "the other line stays");
        live.finished(&end(&b));
        live.finished(&end(&quick));
        assert!(live.running.lock().unwrap().is_empty());
    }

    #[test]
    fn a_single_line_is_drawn_at_the_first_report_and_cleared_once() {
        let screen = Screen {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            stdout_is_terminal: true,
        };
        let line = OneLine::new(&screen, "alpine:3", "pulling");
        let drawn = |l: &OneLine| {
            l.bar
                .lock()
                .unwrap()
                .as_ref()
                .map(|b| b.message().to_string())
        };
        assert_eq!(drawn(&line), None, "nothing before a report");
        line.clear();
        line.report(&Progress::Status {
            text: "Copying blob sha256:1".into(),
        });
        assert_eq!(
            drawn(&line).as_deref(),
            Some("alpine:3                     pulling: Copying blob sha256:1")
        );
        line.clear();
        line.clear();
        assert_eq!(drawn(&line), None);
    }

    #[test]
    fn the_log_writer_without_a_screen_writes_straight_through() {
        use std::io::Write as _;
        let mut w = LogWriter::new(None);
        assert_eq!(w.write(b"").unwrap(), 0);
        w.flush().unwrap();
    }
}
