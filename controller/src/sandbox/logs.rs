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

/// Writes sandbox `name`'s output to `sink` (stdout and stderr kept apart) until the end
/// of its log, or, when following, until it stops for good or `interrupt` fires.
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
    // The last timestamp shown and how many lines carried it (Podman's timestamps may be
    // whole seconds, so equal stamps are common); a resumed read of the same container
    // skips exactly what was shown.
    let mut last: Option<((i64, u32), usize)> = None;
    let mut previous_container: Option<String> = None;
    let mut first = true;
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
        let mut skip = match (&previous_container, last) {
            (Some(id), Some(last)) if id == container.id() => Some(last),
            _ => None,
        };
        previous_container = Some(container.id().to_string());
        let request = LogsRequest {
            follow: options.follow,
            since,
            tail,
        };
        let mut stream = std::pin::pin!(engine.logs(&container, &request));
        loop {
            let chunk = tokio::select! {
                chunk = stream.next() => chunk,
                () = &mut interrupt => return Ok(()),
            };
            let Some(chunk) = chunk else { break };
            let chunk = chunk?;
            for line in chunk.data.split_inclusive(|b| *b == b'\n') {
                let (stamp, text) = match split_line(line) {
                    Some((stamp, text)) => (Some(stamp), text),
                    None => (None, line),
                };
                if let (Some(s), Some((seen, count))) = (stamp, skip.as_mut()) {
                    if s < *seen {
                        continue;
                    }
                    if s == *seen && *count > 0 {
                        *count -= 1;
                        continue;
                    }
                    skip = None;
                }
                if let Some(s) = stamp {
                    last = match last {
                        Some((l, n)) if l == s => Some((l, n + 1)),
                        _ => Some((s, 1)),
                    };
                }
                let shown = if options.timestamps { line } else { text };
                sink(chunk.stream, shown).map_err(|source| crate::Error::Stream {
                    action: "write the output",
                    source,
                })?;
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
            if found.as_ref().is_some_and(|(d, _)| d.state.is_running()) {
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
        since = last.map(|((s, _), _)| s);
        tail = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
