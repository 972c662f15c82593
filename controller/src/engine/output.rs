//! Where exec output goes.
//!
//! One [`ExecOutput`] can capture, call back, feed a channel and log, all at once. Chunks are
//! handed over in the order Podman sent them, so each stream's order is preserved. Nothing
//! reads ahead: the next chunk is read from the socket only after every sink took the last
//! one, so a slow consumer slows the producer (backpressure) instead of growing memory.

use std::io;

use bytes::Bytes;
use tokio::sync::mpsc;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Stdout,
    Stderr,
}

/// A piece of output, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: StreamKind,
    pub data: Bytes,
}

impl OutputChunk {
    /// The chunk of one frame of an attached stream (an exec's or a container's); `None`
    /// for what is not output (echoed input).
    pub(crate) fn from_frame(frame: bollard::container::LogOutput) -> Option<OutputChunk> {
        use bollard::container::LogOutput;
        match frame {
            LogOutput::StdOut { message } | LogOutput::Console { message } => Some(OutputChunk {
                stream: StreamKind::Stdout,
                data: message,
            }),
            LogOutput::StdErr { message } => Some(OutputChunk {
                stream: StreamKind::Stderr,
                data: message,
            }),
            LogOutput::StdIn { .. } => None,
        }
    }
}

/// Captured bytes of one stream. A capture limit, when set, is explicit: bytes past it are
/// counted in `dropped`, never silently lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub dropped: u64,
    /// Every byte the stream produced, captured or not.
    pub total: u64,
}

impl Captured {
    pub fn is_truncated(&self) -> bool {
        self.dropped > 0
    }

    fn push(&mut self, data: &[u8], limit: Option<usize>) {
        self.total += data.len() as u64;
        let room = limit.map_or(data.len(), |l| l.saturating_sub(self.bytes.len()));
        let kept = room.min(data.len());
        self.bytes.extend_from_slice(&data[..kept]);
        self.dropped += (data.len() - kept) as u64;
    }
}

type Callback = Box<dyn FnMut(StreamKind, &[u8]) -> io::Result<()> + Send>;

/// The sinks for one exec's output. Build with the methods; an empty one discards output
/// (still counting bytes).
#[derive(Default)]
pub struct ExecOutput {
    capture: Option<Option<usize>>,
    callback: Option<Callback>,
    channel: Option<mpsc::Sender<OutputChunk>>,
    log: bool,
    pub(crate) stdout: Captured,
    pub(crate) stderr: Captured,
}

impl std::fmt::Debug for ExecOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecOutput")
            .field("capture", &self.capture)
            .field("callback", &self.callback.is_some())
            .field("channel", &self.channel.is_some())
            .field("log", &self.log)
            .finish()
    }
}

impl ExecOutput {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep all output in memory. Use only when the output is known to be small.
    pub fn capture(mut self) -> Self {
        self.capture = Some(None);
        self
    }

    /// Keep at most `limit` bytes of each stream in memory; the rest is counted as dropped.
    pub fn capture_up_to(mut self, limit: usize) -> Self {
        self.capture = Some(Some(limit));
        self
    }

    /// Call `f` with every chunk as it arrives. An error from `f` ends the exec stream.
    pub fn on_chunk(
        mut self,
        f: impl FnMut(StreamKind, &[u8]) -> io::Result<()> + Send + 'static,
    ) -> Self {
        self.callback = Some(Box::new(f));
        self
    }

    /// Send every chunk to a (bounded) channel; a full channel pauses reading. If the
    /// receiver is dropped, the other sinks keep going.
    pub fn channel(mut self, tx: mpsc::Sender<OutputChunk>) -> Self {
        self.channel = Some(tx);
        self
    }

    /// Log every chunk at trace level (target `pocket_dock::exec`).
    pub fn log(mut self) -> Self {
        self.log = true;
        self
    }

    pub(crate) async fn deliver(&mut self, chunk: OutputChunk) -> io::Result<()> {
        let captured = match chunk.stream {
            StreamKind::Stdout => &mut self.stdout,
            StreamKind::Stderr => &mut self.stderr,
        };
        match self.capture {
            Some(limit) => captured.push(&chunk.data, limit),
            None => captured.total += chunk.data.len() as u64,
        }
        if self.log {
            tracing::trace!(
                target: "pocket_dock::exec",
                stream = ?chunk.stream,
                bytes = chunk.data.len(),
                data = %String::from_utf8_lossy(&chunk.data),
                "exec output"
            );
        }
        if let Some(callback) = self.callback.as_mut() {
            callback(chunk.stream, &chunk.data)?;
        }
        if let Some(tx) = &self.channel
            && tx.send(chunk).await.is_err()
        {
            self.channel = None;
        }
        Ok(())
    }

    pub(crate) fn take_captured(&mut self) -> (Captured, Captured) {
        (
            std::mem::take(&mut self.stdout),
            std::mem::take(&mut self.stderr),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn chunk(stream: StreamKind, s: &str) -> OutputChunk {
        OutputChunk {
            stream,
            data: Bytes::copy_from_slice(s.as_bytes()),
        }
    }

    #[tokio::test]
    async fn all_sinks_see_every_chunk_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let (tx, mut rx) = mpsc::channel(8);
        let mut out = ExecOutput::new()
            .capture()
            .channel(tx)
            .on_chunk(move |s, d| {
                seen2
                    .lock()
                    .map_err(|_| io::Error::other("poisoned"))?
                    .push((s, d.to_vec()));
                Ok(())
            });
        out.deliver(chunk(StreamKind::Stdout, "a")).await.unwrap();
        out.deliver(chunk(StreamKind::Stderr, "x")).await.unwrap();
        out.deliver(chunk(StreamKind::Stdout, "b")).await.unwrap();
        let (stdout, stderr) = out.take_captured();
        assert_eq!(stdout.bytes, b"ab");
        assert_eq!(stderr.bytes, b"x");
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert_eq!(rx.recv().await.unwrap(), chunk(StreamKind::Stdout, "a"));
        assert_eq!(rx.recv().await.unwrap(), chunk(StreamKind::Stderr, "x"));
        assert_eq!(rx.recv().await.unwrap(), chunk(StreamKind::Stdout, "b"));
    }

    #[tokio::test]
    async fn capture_limit_counts_what_it_drops() {
        let mut out = ExecOutput::new().capture_up_to(3);
        out.deliver(chunk(StreamKind::Stdout, "ab")).await.unwrap();
        out.deliver(chunk(StreamKind::Stdout, "cdef"))
            .await
            .unwrap();
        let (stdout, _) = out.take_captured();
        assert_eq!(stdout.bytes, b"abc");
        assert_eq!(stdout.dropped, 3);
        assert_eq!(stdout.total, 6);
        assert!(stdout.is_truncated());
    }

    #[tokio::test]
    async fn a_dropped_receiver_does_not_stop_other_sinks() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut out = ExecOutput::new().capture().channel(tx);
        out.deliver(chunk(StreamKind::Stdout, "a")).await.unwrap();
        out.deliver(chunk(StreamKind::Stdout, "b")).await.unwrap();
        assert_eq!(out.take_captured().0.bytes, b"ab");
    }

    #[tokio::test]
    async fn a_failing_callback_is_reported() {
        let mut out = ExecOutput::new().on_chunk(|_, _| Err(io::Error::other("closed")));
        assert!(out.deliver(chunk(StreamKind::Stdout, "a")).await.is_err());
    }
}
