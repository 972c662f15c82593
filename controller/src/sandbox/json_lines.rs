//! The session protocol as JSON lines, for tools in any language. One request per line in,
//! one event per line out:
//!
//! ```text
//! -> {"id": "1", "run": "make test", "timeout": "5m"}    run a command (timeout optional)
//! -> {"input": "yes\n"}                                  bytes for a command reading stdin
//! -> {"close": true}                                     end the session (so does EOF)
//! <- {"event": "started", "session": "…", "sandbox": "box"}
//! <- {"id": "1", "stream": "stdout", "data": "…"}        output as it comes
//! <- {"id": "1", "exit": 0, "duration_ms": 12}           done (exit null: timed out)
//! <- {"event": "closed"}
//! ```

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::Session;
use crate::engine::StreamKind;
use crate::store::StateStore;

/// Requests in the order they came: input reaches the command that runs when it is read,
/// never one that comes later.
enum Request {
    Run {
        id: Value,
        command: String,
        timeout: Option<Duration>,
    },
    Input(Vec<u8>),
    Close,
}

/// Where events go: one writer drains them in order, so output of a running command and
/// complaints about a bad request line never interleave mid-line.
type Events = mpsc::UnboundedSender<Value>;

impl Session {
    /// Serves the JSON-lines protocol: requests from `reader`, events to `writer`, until
    /// a `close` request, the end of `reader`, or the shell's exit. The session is closed
    /// (and forgotten by `registry`) at the end. A request that is not understood gets an
    /// error event and the session goes on.
    pub async fn serve_json_lines<R, W>(
        self,
        reader: R,
        writer: W,
        registry: Option<&StateStore>,
    ) -> crate::Result<()>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let (events, events_rx) = mpsc::unbounded_channel::<Value>();
        let serving = async move {
            let (runs_tx, runs) = mpsc::channel::<Request>(64);
            let reading = read_requests(reader, runs_tx, events.clone());
            let serving = self.serve(runs, events, registry);
            tokio::pin!(reading, serving);
            let mut reading_done = false;
            loop {
                tokio::select! {
                    result = &mut serving => break result,
                    () = &mut reading, if !reading_done => reading_done = true,
                }
            }
        };
        let (result, ()) = tokio::join!(serving, write_events(writer, events_rx));
        result
    }

    async fn serve(
        mut self,
        mut runs: mpsc::Receiver<Request>,
        events: Events,
        registry: Option<&StateStore>,
    ) -> crate::Result<()> {
        let emit = |value: Value| {
            let _ = events.send(value);
        };
        emit(json!({"event": "started", "session": self.id(), "sandbox": self.sandbox().name()}));
        let mut held: Option<Request> = None;
        loop {
            let request = match held.take() {
                Some(r) => r,
                None => match runs.recv().await {
                    Some(r) => r,
                    None => break,
                },
            };
            let (id, command, timeout) = match request {
                Request::Run {
                    id,
                    command,
                    timeout,
                } => (id, command, timeout),
                Request::Input(data) => {
                    // Nothing runs: it is for the shell itself.
                    self.write_input(&data).await?;
                    continue;
                }
                Request::Close => break,
            };
            let on_output = |stream: StreamKind, data: &[u8]| {
                let name = match stream {
                    StreamKind::Stdout => "stdout",
                    StreamKind::Stderr => "stderr",
                };
                emit(json!({"id": id, "stream": name, "data": String::from_utf8_lossy(data)}));
            };
            let (input_tx, mut input) = mpsc::channel::<Vec<u8>>(64);
            let result = {
                let run = self.run_with_input(&command, timeout, on_output, Some(&mut input));
                tokio::pin!(run);
                loop {
                    tokio::select! {
                        result = &mut run => break result,
                        next = runs.recv(), if held.is_none() => match next {
                            Some(Request::Input(data)) => { let _ = input_tx.send(data).await; }
                            Some(other) => held = Some(other),
                            None => held = Some(Request::Close),
                        },
                    }
                }
            };
            match result {
                Ok(done) => {
                    emit(json!({
                        "id": id,
                        "exit": done.exit_code,
                        "timed_out": done.exit_code.is_none(),
                        "duration_ms": done.duration.as_millis() as u64,
                    }));
                    if done.session_ended {
                        emit(json!({"event": "closed", "reason": "the shell exited"}));
                        if let Some(store) = registry {
                            let _ = store.forget_session(self.id());
                        }
                        return Ok(());
                    }
                }
                Err(e) => {
                    emit(json!({"id": id, "event": "error", "message": e.to_string()}));
                    return Err(e);
                }
            }
        }
        self.close(registry).await?;
        emit(json!({"event": "closed"}));
        Ok(())
    }
}

/// Reads request lines until the end of `reader` or a `close`; always ends with a close.
async fn read_requests<R: AsyncBufRead + Unpin>(
    reader: R,
    runs: mpsc::Sender<Request>,
    events: Events,
) {
    let emit = |value: Value| {
        let _ = events.send(value);
    };
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let request: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                emit(json!({"event": "error", "message": format!("not JSON: {e}")}));
                continue;
            }
        };
        let next = if let Some(data) = request["input"].as_str() {
            Request::Input(data.as_bytes().to_vec())
        } else if let Some(command) = request["run"].as_str() {
            let timeout = match request["timeout"]
                .as_str()
                .map(pocket_dock_spec::parse_duration)
            {
                Some(Ok(t)) => Some(t),
                Some(Err(e)) => {
                    emit(
                        json!({"id": request["id"], "event": "error", "message": format!("timeout: {e}")}),
                    );
                    continue;
                }
                None => None,
            };
            Request::Run {
                id: request["id"].clone(),
                command: command.to_string(),
                timeout,
            }
        } else if request["close"].as_bool() == Some(true) {
            break;
        } else {
            emit(json!({"event": "error", "message": "expected run, input or close"}));
            continue;
        };
        if runs.send(next).await.is_err() {
            return;
        }
    }
    let _ = runs.send(Request::Close).await;
}

/// Writes events, one line each, flushed as they come. A writer that fails (a reader that
/// went away) stops the writing, not the session: its processes are still cleaned up.
async fn write_events<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut events: mpsc::UnboundedReceiver<Value>,
) {
    let mut open = true;
    while let Some(event) = events.recv().await {
        if !open {
            continue;
        }
        let line = format!("{event}\n");
        open = writer.write_all(line.as_bytes()).await.is_ok() && writer.flush().await.is_ok();
    }
}
