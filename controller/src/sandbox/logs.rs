//! A sandbox's output (`logs`), optionally followed. Following survives the controller (or
//! an `apply`) restarting or recreating the sandbox: when the container stops, pocket-dock
//! waits briefly for a running one under the same name and carries on where it left off,
//! skipping lines it already showed.

use std::future::Future;
use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use pocket_dock_spec::Kind;

use super::SandboxError;
use crate::engine::{Engine, LogsRequest, Operation, Ownership, StreamKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsOptions {
    pub follow: bool,
    /// Only output newer than this.
    pub since: Option<Duration>,
    /// Only the last N lines (of the first container read).
    pub tail: Option<u64>,
    /// Keep each line's timestamp.
    pub timestamps: bool,
    /// When following: how long to wait for the sandbox to run again after it stopped.
    pub resume_within: Duration,
}

impl Default for LogsOptions {
    fn default() -> Self {
        LogsOptions {
            follow: false,
            since: None,
            tail: None,
            timestamps: false,
            resume_within: Duration::from_secs(10),
        }
    }
}

/// `(seconds, nanoseconds)` of an RFC 3339 timestamp with an optional fraction.
pub fn parse_timestamp(text: &str) -> Option<(i64, u32)> {
    let secs = crate::timefmt::parse_rfc3339(text)?;
    let nanos = match text.split_once('.') {
        Some((_, rest)) => {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            format!("{digits:0<9}").get(..9)?.parse().ok()?
        }
        None => 0,
    };
    Some((secs, nanos))
}

/// Splits `"<timestamp> <text>"`; `None` for a line without a timestamp.
fn split_line(line: &[u8]) -> Option<((i64, u32), &[u8])> {
    let space = line.iter().position(|b| *b == b' ')?;
    let stamp = std::str::from_utf8(&line[..space]).ok()?;
    Some((parse_timestamp(stamp)?, &line[space + 1..]))
}

/// Lines shown with the newest stamp, remembered as hashes, at most this many (past it,
/// a re-read skips by count alone).
const RECENT_CAP: usize = 10_000;

/// What has been shown: the newest stamp and the lines that carried it, in order. Stamps
/// are often equal (Podman's compat API gives whole seconds; conmon stamps every line of
/// one read alike), so a read that starts at or before it skips the lines it recognises.
/// Recognises, not counts: after conmon emptied the log file, lines of the same second in
/// the new file are new even though as many of that second were shown before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Shown {
    last: Option<(i64, u32)>,
    /// Hashes of the lines shown with `last`, in order (at most [`RECENT_CAP`]).
    recent: Vec<u64>,
    /// How many lines were shown with `last`.
    count: usize,
}

/// What a read that starts at or before the last shown line leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Skip {
    shown: Shown,
    /// Where in `shown.recent` the read's lines of the newest stamp begin: 0, or later
    /// when conmon emptied the file within that second and the earlier ones are gone.
    start: usize,
    /// Lines of the newest stamp recognised so far.
    matched: usize,
}

impl Shown {
    /// What a new read of the same container skips.
    fn skip(&self) -> Option<Skip> {
        self.last.map(|_| Skip {
            shown: self.clone(),
            start: 0,
            matched: 0,
        })
    }

    /// Whether a line is new, given what `skip` says was shown before the read began.
    /// Lines without a stamp always show.
    fn admit(&mut self, stamp: Option<(i64, u32)>, line: u64, skip: &mut Option<Skip>) -> bool {
        if let (Some(s), Some(k)) = (stamp, skip.as_mut())
            && let Some(seen) = k.shown.last
        {
            if s < seen {
                return false;
            }
            if s == seen && k.start + k.matched < k.shown.count {
                let recent = &k.shown.recent;
                if k.matched == 0 && recent.first().is_some_and(|h| *h != line) {
                    // The file was emptied within that second: the read begins with the
                    // first line of the new file, shown (if at all) later than the first.
                    if let Some(j) = recent.iter().position(|h| *h == line) {
                        k.start = j;
                    }
                }
                match recent.get(k.start + k.matched) {
                    // Shown already (or past what is remembered: counted).
                    Some(h) if *h == line => {
                        k.matched += 1;
                        return false;
                    }
                    None => {
                        k.matched += 1;
                        return false;
                    }
                    // Not what was shown: everything from here on is new.
                    Some(_) => *skip = None,
                }
            } else {
                *skip = None;
            }
        }
        if let Some(s) = stamp {
            if self.last != Some(s) {
                self.last = Some(s);
                self.recent.clear();
                self.count = 0;
            }
            if self.recent.len() < RECENT_CAP {
                self.recent.push(line);
            }
            self.count += 1;
        }
        true
    }
}

/// The lines a followed Docker log showed last, to drop what its follower repeats: Docker
/// 20.10's `json-file` follower sends some lines again when it moves to the next file.
/// Its stamps have nanoseconds, so an equal stamp, stream and text is the same line.
#[derive(Debug, Default)]
struct Repeats {
    seen: std::collections::HashSet<((i64, u32), u64)>,
    order: std::collections::VecDeque<((i64, u32), u64)>,
}

impl Repeats {
    const KEPT: usize = 4096;

    /// Whether this line was shown already; remembers it if not.
    fn repeated(&mut self, stamp: Option<(i64, u32)>, line: u64) -> bool {
        let Some(stamp) = stamp else { return false };
        if !self.seen.insert((stamp, line)) {
            return true;
        }
        self.order.push_back((stamp, line));
        if self.order.len() > Self::KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        false
    }
}

/// A line's identity for [`Shown`]: its stream and text (the stamp is compared apart).
fn line_hash(stream: StreamKind, text: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    matches!(stream, StreamKind::Stderr).hash(&mut h);
    text.hash(&mut h);
    h.finish()
}

/// How often a followed Podman log is read again, and how many of its newest lines each
/// read asks for (more only when those do not reach back to what was shown).
const POLL_EVERY: Duration = Duration::from_millis(100);
const POLL_TAIL: u64 = 1000;

/// A log line as read: stream, stamp, the whole line (stamp included) and where its text
/// starts.
struct Line {
    stream: StreamKind,
    stamp: Option<(i64, u32)>,
    bytes: Vec<u8>,
    text_at: usize,
}

/// One non-following read of a container's log, line by line as it arrives (the whole of a
/// large log is never held); `Ok(false)` when `interrupt` fired first.
async fn each_line<F: Future<Output = ()>>(
    engine: &Engine,
    container: &crate::engine::OwnedContainer,
    request: &LogsRequest,
    interrupt: &mut std::pin::Pin<&mut F>,
    mut each: impl FnMut(Line) -> Result<(), crate::Error>,
) -> Result<bool, crate::Error> {
    let mut stream = std::pin::pin!(engine.logs(container, request));
    loop {
        let chunk = tokio::select! {
            chunk = stream.next() => chunk,
            () = &mut *interrupt => return Ok(false),
        };
        let Some(chunk) = chunk else {
            return Ok(true);
        };
        let chunk = chunk?;
        for line in chunk.data.split_inclusive(|b| *b == b'\n') {
            let (stamp, text_at) = match split_line(line) {
                Some((stamp, text)) => (Some(stamp), line.len() - text.len()),
                None => (None, 0),
            };
            each(Line {
                stream: chunk.stream,
                stamp,
                bytes: line.to_vec(),
                text_at,
            })?;
        }
    }
}

/// Whether a read of the newest `POLL_TAIL` lines holds everything after what was shown:
/// it starts before the last line shown. Not when it starts within a group of equal stamps
/// (which of them were shown?), nor on a file emptied since (all of it is new), nor just
/// because it is short: Podman 4's backwards reader can leave out a file's first lines
/// (fixed in 4.7). Then the whole file is read, forwards.
fn reaches_back(lines: &[Line], shown: &Shown) -> bool {
    match (shown.last, lines.first().and_then(|l| l.stamp)) {
        (Some(seen), Some(first)) => first < seen,
        _ => false,
    }
}

/// Writes sandbox `name`'s output to `sink` (stdout and stderr kept apart) until the end
/// of its log, or, when following, until it stops for good or `interrupt` fires.
///
/// Following reads Docker's stream, which follows its own rotated files (lines it sends
/// twice as it moves on are dropped, see [`Repeats`]). Podman's conmon
/// empties a full log file at once, and Podman's own follower (which polls the file every
/// 250 ms and does not finish the old file when it reopens) can miss whole files around
/// that; on Podman the log is read again every [`POLL_EVERY`] instead, newest lines first,
/// back to the last line shown. What this still misses is what was written between the last
/// read and the moment conmon emptied the file: at most [`POLL_EVERY`]'s worth of output,
/// once per `maxSize` x `maxFiles` of output. A new `logs` shows all that is kept.
pub async fn logs(
    engine: &Engine,
    ownership: &Ownership,
    name: &str,
    options: &LogsOptions,
    mut sink: impl FnMut(StreamKind, &[u8]) -> io::Result<()>,
    interrupt: impl Future<Output = ()>,
) -> Result<(), crate::Error> {
    tokio::pin!(interrupt);
    let container_name = ownership.container_name(Kind::Sandbox, name);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut since = options.since.map(|d| now - d.as_secs() as i64);
    let mut tail = options.tail;
    let mut shown = Shown::default();
    let mut previous_container: Option<String> = None;
    let mut first = true;
    let mut write = |stream: StreamKind, line: &[u8], text_at: usize| {
        let out = if options.timestamps {
            line
        } else {
            &line[text_at..]
        };
        sink(stream, out).map_err(|source| crate::Error::Stream {
            action: "write the output",
            source,
        })
    };
    loop {
        let found = engine
            .find_owned_by_name(ownership, &container_name, Operation::ContainerLogs)
            .await?;
        let Some((_, container)) = found else {
            if first {
                return Err(SandboxError::Missing {
                    name: name.to_string(),
                }
                .into());
            }
            return Ok(());
        };
        first = false;
        // A new container (recreated) has a log of its own: nothing in it was shown.
        let mut skip = match &previous_container {
            Some(id) if id == container.id() => shown.skip(),
            _ => None,
        };
        previous_container = Some(container.id().to_string());
        let podman = engine.profile().await?.is_podman();
        if options.follow && podman {
            // Podman: read what is there, then read again until the container stops.
            let mut request = LogsRequest {
                follow: false,
                since,
                tail,
            };
            let mut polling = false;
            loop {
                let running = engine
                    .find_owned_by_name(ownership, &container_name, Operation::ContainerLogs)
                    .await?
                    .is_some_and(|(d, c)| c.id() == container.id() && d.state.is_up());
                // Polling: the newest lines (at most POLL_TAIL), and when they do not reach
                // back to what was shown, everything since, forwards.
                let mut newest = Vec::new();
                let mut whole = None;
                if polling {
                    let read = each_line(engine, &container, &request, &mut interrupt, |l| {
                        newest.push(l);
                        Ok(())
                    })
                    .await?;
                    if !read {
                        return Ok(());
                    }
                    if !reaches_back(&newest, &shown) {
                        newest.clear();
                        whole = Some(LogsRequest {
                            follow: false,
                            since: shown.last.map(|(s, _)| s.saturating_sub(1)),
                            tail: None,
                        });
                    }
                } else {
                    whole = Some(request.clone());
                }
                let mut offer = |line: Line| {
                    let hash = line_hash(line.stream, &line.bytes[line.text_at..]);
                    if shown.admit(line.stamp, hash, &mut skip) {
                        write(line.stream, &line.bytes, line.text_at)?;
                    }
                    Ok(())
                };
                newest.into_iter().try_for_each(&mut offer)?;
                let read = match &whole {
                    Some(r) => each_line(engine, &container, r, &mut interrupt, &mut offer).await?,
                    None => true,
                };
                if !read {
                    return Ok(());
                }
                if !running {
                    break;
                }
                skip = shown.skip();
                polling = true;
                request = LogsRequest {
                    follow: false,
                    since: None,
                    tail: Some(POLL_TAIL),
                };
                tokio::select! {
                    () = tokio::time::sleep(POLL_EVERY) => {}
                    () = &mut interrupt => return Ok(()),
                }
            }
        } else {
            let request = LogsRequest {
                follow: options.follow,
                since,
                tail,
            };
            let mut repeats = Repeats::default();
            let read = each_line(engine, &container, &request, &mut interrupt, |line| {
                let hash = line_hash(line.stream, &line.bytes[line.text_at..]);
                if options.follow && repeats.repeated(line.stamp, hash) {
                    return Ok(());
                }
                if shown.admit(line.stamp, hash, &mut skip) {
                    write(line.stream, &line.bytes, line.text_at)?;
                }
                Ok(())
            })
            .await?;
            if !read {
                return Ok(());
            }
        }
        if !options.follow {
            return Ok(());
        }
        // The container stopped: wait for it (or its replacement) to run again.
        let deadline = Instant::now() + options.resume_within;
        let back = loop {
            let found = engine
                .find_owned_by_name(ownership, &container_name, Operation::ContainerLogs)
                .await?;
            if found.as_ref().is_some_and(|(d, _)| d.state.is_up()) {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                () = &mut interrupt => return Ok(()),
            }
        };
        if !back {
            return Ok(());
        }
        since = shown.last.map(|(s, _)| s);
        tail = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offers `lines` (stamp second, text) as one read, with what was shown before it;
    /// returns the texts shown.
    fn read(shown: &mut Shown, lines: &[(i64, &str)]) -> Vec<String> {
        let mut skip = shown.skip();
        lines
            .iter()
            .filter(|(s, text)| {
                shown.admit(
                    Some((*s, 0)),
                    line_hash(StreamKind::Stdout, text.as_bytes()),
                    &mut skip,
                )
            })
            .map(|(_, text)| text.to_string())
            .collect()
    }

    #[test]
    fn a_re_read_skips_what_was_shown_even_within_one_second() {
        let mut shown = Shown::default();
        assert_eq!(
            read(&mut shown, &[(1, "a"), (2, "b"), (2, "c")]),
            ["a", "b", "c"]
        );
        // The same file, grown: only the new lines, equal stamps included.
        assert_eq!(
            read(
                &mut shown,
                &[(1, "a"), (2, "b"), (2, "c"), (2, "d"), (3, "e")]
            ),
            ["d", "e"]
        );
        assert_eq!(
            read(&mut shown, &[(2, "d"), (3, "e")]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn lines_of_the_same_second_in_an_emptied_file_are_new() {
        let mut shown = Shown::default();
        assert_eq!(
            read(&mut shown, &[(5, "old 1"), (5, "old 2")]),
            ["old 1", "old 2"]
        );
        // conmon emptied the file within that second: its lines are not the ones shown.
        assert_eq!(
            read(&mut shown, &[(5, "new 1"), (5, "new 2"), (6, "new 3")]),
            ["new 1", "new 2", "new 3"]
        );
        assert_eq!(shown.count, 1);
    }

    #[test]
    fn a_file_emptied_within_a_second_is_read_on_from_the_line_shown_last() {
        let mut shown = Shown::default();
        assert_eq!(
            read(&mut shown, &[(5, "old 1"), (5, "old 2")]),
            ["old 1", "old 2"]
        );
        // Emptied; the new file's first line was shown by the next read...
        assert_eq!(read(&mut shown, &[(5, "new 1")]), ["new 1"]);
        // ...and the one after it shows only what came since.
        assert_eq!(
            read(&mut shown, &[(5, "new 1"), (5, "new 2"), (6, "new 3")]),
            ["new 2", "new 3"]
        );
    }

    #[test]
    fn a_repeated_docker_line_is_dropped_once_seen() {
        let mut repeats = Repeats::default();
        let a = line_hash(StreamKind::Stdout, b"a\n");
        assert!(!repeats.repeated(Some((1, 5)), a));
        assert!(
            !repeats.repeated(Some((1, 6)), a),
            "same text, later: a new line"
        );
        assert!(repeats.repeated(Some((1, 5)), a));
        assert!(!repeats.repeated(None, a), "no stamp: always shown");
        assert!(!repeats.repeated(None, a));
    }

    #[test]
    fn timestamps_parse_with_any_fraction() {
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.5Z"),
            Some((1, 500_000_000))
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.123456789Z"),
            Some((1, 123_456_789))
        );
        assert_eq!(parse_timestamp("1970-01-01T00:00:02Z"), Some((2, 0)));
        assert!(
            parse_timestamp("1970-01-01T00:00:01.5Z") > parse_timestamp("1970-01-01T00:00:01.12Z")
        );
        assert_eq!(parse_timestamp("nonsense"), None);
        assert_eq!(
            split_line(b"1970-01-01T00:00:03Z hello world\n"),
            Some(((3, 0), &b"hello world\n"[..]))
        );
        assert_eq!(split_line(b"no stamp here\n"), None);
    }
}
