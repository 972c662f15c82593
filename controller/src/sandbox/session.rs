//! Programmatic shell sessions for tools and agents: start a shell in a sandbox, run
//! commands one after another, read their output as it comes, and know when each has
//! finished and with which exit code.
//!
//! How completion is known: each command is sent as one compound line,
//!
//! ```text
//! { COMMAND
//! } ; __pd=$? ; printf '\n%s %d\n' MARKER "$__pd" ; printf '\n%s\n' MARKER >&2
//! ```
//!
//! where MARKER is `__pocket_dock_<32 random hex>__`, new for every command. The shell reads
//! the whole line before running it, so a command that reads its standard input gets what
//! the client writes next ([`Session::write_input`]), not the marker. Output that merely
//! looks like a prompt, or like a marker of another command, cannot end a command: only the
//! exact random marker at the start of a line, on both streams, does.
//!
//! Best effort, by design: this is for commands that run and finish. Full-screen programs,
//! programs that read all of their standard input, and unterminated quotes or braces (the
//! shell then waits for more) are not supported; a per-command timeout bounds them.
//!
//! Cleanup: the shell and everything it starts carry `POCKET_DOCK_SESSION=<id>` in their
//! environment, and the session is registered in the state store with the client's pid. A
//! session closes its processes when closed; if the client dies, the next reconcile kills
//! what is left of sessions whose client is gone.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::Sandbox;
use crate::engine::{EngineError, ExecConfig, ExecId, ExecInput, ExecStream, StreamKind};
use crate::store::{Event, Outcome as EventOutcome, Source, StateStore};

/// Appends `event` to the event log of the workspace folder `log`, when there is one.
fn record(log: Option<&Path>, event: Event) {
    if let Some(dir) = log {
        crate::store::record_in(dir, &[event]);
    }
}

/// Notes a session command as activity in `sandbox` (`lifetime.idleTimeout`), when the
/// workspace folder is known. An open session is activity anyway (it is registered).
fn touch(log: Option<&Path>, sandbox: &str) {
    let Some(dir) = log else {
        return;
    };
    if let Ok((store, _)) = StateStore::open(dir)
        && let Err(e) = store.touch_activity(sandbox)
    {
        tracing::warn!(error = %e, "could not note the session command as activity");
    }
}

/// The environment variable every process of a session carries.
pub const SESSION_ENV: &str = "POCKET_DOCK_SESSION";

/// What finished a command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandResult {
    /// `None` when the timeout ran out (the command's processes were killed).
    pub exit_code: Option<i64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
    /// The command ended the shell (`exit`); the session is closed.
    pub session_ended: bool,
}

/// A running shell in a sandbox.
pub struct Session {
    sandbox: Sandbox,
    id: String,
    exec: ExecId,
    input: ExecInput,
    output: ExecStream,
    ended: bool,
    /// The workspace folder whose event log each command is appended to.
    log: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sandbox", &self.sandbox.name())
            .field("id", &self.id)
            .finish()
    }
}

/// 16 random bytes as hex, from the kernel.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        // No /dev/urandom: time and pid still make a marker no command will guess.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..16].copy_from_slice(&(nanos ^ u128::from(std::process::id())).to_le_bytes());
    }
    crate::engine::labels::hex(&bytes)
}

/// The line that runs `command` and then reports its status on both streams.
pub fn wrap(command: &str, marker: &str) -> String {
    format!(
        "{{ printf '\\n%s\\n' {marker}_begin ; {command}\n}} ; __pd=$? ; printf '\\n%s %d\\n' {marker} \"$__pd\" ; printf '\\n%s\\n' {marker} >&2\n"
    )
}

/// Where the command's own stdout starts: after the begin line, which the shell prints once
/// it has read the whole command (input sent before then could be read as commands).
fn find_begin(buffer: &[u8], marker: &str) -> Option<usize> {
    let needle = format!("\n{marker}_begin\n");
    buffer
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .map(|at| at + needle.len())
}

/// Finds the end of a command in one stream's buffered output. Returns the output before
/// the marker and, on stdout, the exit code; `None` while the marker has not arrived.
fn find_marker(buffer: &[u8], marker: &str, with_code: bool) -> Option<(usize, Option<i64>)> {
    let needle = format!("\n{marker}");
    let at = buffer
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())?;
    let rest = &buffer[at + needle.len()..];
    let end = rest.iter().position(|b| *b == b'\n')?;
    let code = if with_code {
        let text = std::str::from_utf8(&rest[..end]).ok()?.trim();
        Some(text.parse().ok()?)
    } else {
        None
    };
    Some((at, code))
}

/// How much of a buffer can be passed on without splitting a marker that may be arriving.
fn safe_prefix(buffer: &[u8], marker: &str) -> usize {
    buffer.len().saturating_sub(marker.len() + 1)
}

impl Sandbox {
    /// Starts `shell` (`sh` when `None`) as a session, registered in `registry` (so that a
    /// reconcile can clean up after a client that died).
    pub async fn open_session(
        &self,
        shell: Option<&str>,
        registry: Option<&StateStore>,
    ) -> Result<Session, crate::Error> {
        let id = random_hex();
        let config = ExecConfig {
            cmd: vec![shell.unwrap_or("sh").to_string()],
            env: vec![format!("{SESSION_ENV}={id}")],
            stdin: true,
            ..ExecConfig::default()
        };
        let exec = self.engine.exec_create(&self.container, &config).await?;
        let (output, input) = self.engine.exec_start_interactive(&exec, false).await?;
        if let Some(store) = registry {
            let _ = store.touch_activity(&self.name);
            let me = i64::from(std::process::id());
            let registered = store.record_session(
                &id,
                &self.name,
                me,
                crate::procs::start_time(me).unwrap_or(0),
            );
            if let Err(e) = registered {
                tracing::warn!(error = %e, "session not registered; a crash would leave its processes");
            }
        }
        let log = registry.and_then(|store| store.folder().map(Path::to_path_buf));
        record(
            log.as_deref(),
            Event::new(Source::Session, "open")
                .object("Sandbox", self.name.clone())
                .detail(serde_json::json!({ "session": id, "shell": config.cmd })),
        );
        Ok(Session {
            sandbox: self.clone(),
            id,
            exec,
            input,
            output,
            ended: false,
            log,
        })
    }
}

impl Session {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The sandbox the session's shell runs in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub fn has_ended(&self) -> bool {
        self.ended
    }

    /// Runs `command`, passing output to `on_output` as it arrives (each stream in order),
    /// until it finishes or `timeout` runs out (then its processes are killed, the session
    /// stays usable only if the shell survived).
    pub async fn run(
        &mut self,
        command: &str,
        timeout: Option<Duration>,
        on_output: impl FnMut(StreamKind, &[u8]),
    ) -> Result<CommandResult, crate::Error> {
        self.run_with_input(command, timeout, on_output, None).await
    }

    /// [`run`](Self::run), also passing whatever arrives on `input` to the shell's standard
    /// input while the command runs (for commands that read it, line by line).
    pub async fn run_with_input(
        &mut self,
        command: &str,
        timeout: Option<Duration>,
        on_output: impl FnMut(StreamKind, &[u8]),
        input: Option<&mut tokio::sync::mpsc::Receiver<Vec<u8>>>,
    ) -> Result<CommandResult, crate::Error> {
        let started = Instant::now();
        let result = self
            .run_unrecorded(command, timeout, on_output, input)
            .await;
        // The command text, as `exec` keeps its argv (a secret's value replaced by its
        // name); never the session's environment.
        let command = match self.sandbox.container().secrets() {
            Some(secrets) => crate::secrets::redact(&[command.to_string()], &secrets.read_values())
                .pop()
                .unwrap_or_default(),
            None => command.to_string(),
        };
        let command = command.as_str();
        let event = Event::new(Source::Session, "command")
            .object("Sandbox", self.sandbox.name().to_string())
            .duration(started.elapsed());
        let event = match &result {
            Ok(r) => event
                .outcome(match r.exit_code {
                    Some(0) => EventOutcome::Ok,
                    Some(_) => EventOutcome::Failed,
                    None => EventOutcome::Killed,
                })
                .detail(serde_json::json!({
                    "session": self.id,
                    "command": command,
                    "exit_code": r.exit_code,
                    "stdout_bytes": r.stdout.len(),
                    "stderr_bytes": r.stderr.len(),
                })),
            Err(e) => event
                .failed_with(e.category(), e)
                .detail(serde_json::json!({ "session": self.id, "command": command })),
        };
        record(self.log.as_deref(), event);
        touch(self.log.as_deref(), self.sandbox.name());
        result
    }

    async fn run_unrecorded(
        &mut self,
        command: &str,
        timeout: Option<Duration>,
        mut on_output: impl FnMut(StreamKind, &[u8]),
        mut input: Option<&mut tokio::sync::mpsc::Receiver<Vec<u8>>>,
    ) -> Result<CommandResult, crate::Error> {
        let started = Instant::now();
        if self.ended {
            return Err(super::SandboxError::SessionEnded.into());
        }
        let marker = format!("__pocket_dock_{}__", random_hex());
        let lost = |source| crate::Error::Stream {
            action: "write to the session's shell",
            source,
        };
        self.input
            .write_all(wrap(command, &marker).as_bytes())
            .await
            .map_err(lost)?;
        self.input.flush().await.map_err(lost)?;

        let mut result = CommandResult {
            exit_code: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            duration: Duration::ZERO,
            session_ended: false,
        };
        let mut pending = [Vec::new(), Vec::new()];
        let mut done = [false, false];
        let mut begun = false;
        let mut early_input: Vec<Vec<u8>> = Vec::new();
        let mut deadline = timeout.map(|t| started + t);
        let far = Instant::now() + Duration::from_secs(60 * 60 * 24 * 365);
        let mut timed_out = false;
        while !(done[0] && done[1]) {
            let chunk = tokio::select! {
                chunk = self.output.next_chunk() => chunk,
                () = tokio::time::sleep_until(deadline.unwrap_or(far).into()) => {
                    if timed_out {
                        break; // the markers never came: the shell is gone or stuck
                    }
                    // Kill what the command started, then read on (silently) to its end
                    // markers, so that nothing of it leaks into the next command.
                    self.kill_children().await;
                    timed_out = true;
                    deadline = Some(Instant::now() + Duration::from_secs(2));
                    continue;
                }
                data = async {
                    match input.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    match data {
                        Some(data) if !begun => early_input.push(data),
                        Some(data) => {
                            self.input.write_all(&data).await.map_err(lost)?;
                            self.input.flush().await.map_err(lost)?;
                        }
                        None => input = None, // the sender is gone: no more input
                    }
                    continue;
                }
            };
            let Some(chunk) = chunk else {
                // The shell exited (`exit N`, or it was killed): what it wrote is the end.
                self.ended = true;
                for (i, stream) in [StreamKind::Stdout, StreamKind::Stderr]
                    .into_iter()
                    .enumerate()
                {
                    if !done[i] && !pending[i].is_empty() {
                        on_output(stream, &pending[i]);
                        let all = std::mem::take(&mut pending[i]);
                        match stream {
                            StreamKind::Stdout => result.stdout.extend(all),
                            StreamKind::Stderr => result.stderr.extend(all),
                        }
                    }
                }
                let state = self.sandbox.engine.wait_exec_exit(&self.exec).await?;
                result.exit_code = Some(state);
                result.session_ended = true;
                break;
            };
            let chunk = chunk?;
            let i = match chunk.stream {
                StreamKind::Stdout => 0,
                StreamKind::Stderr => 1,
            };
            if done[i] {
                continue; // output after the marker belongs to nobody (nothing runs now)
            }
            pending[i].extend_from_slice(&chunk.data);
            if i == 0 && !begun {
                let Some(start) = find_begin(&pending[0], &marker) else {
                    continue;
                };
                pending[0].drain(..start);
                begun = true;
                for data in early_input.drain(..) {
                    self.input.write_all(&data).await.map_err(lost)?;
                    self.input.flush().await.map_err(lost)?;
                }
            }
            let found = find_marker(&pending[i], &marker, i == 0);
            let upto = match found {
                Some((at, code)) => {
                    done[i] = true;
                    if i == 0 {
                        result.exit_code = code;
                    }
                    at
                }
                None => safe_prefix(&pending[i], &marker),
            };
            if upto > 0 && !timed_out {
                on_output(chunk.stream, &pending[i][..upto]);
                let out = if i == 0 {
                    &mut result.stdout
                } else {
                    &mut result.stderr
                };
                out.extend_from_slice(&pending[i][..upto]);
            }
            if done[i] {
                pending[i].clear();
            } else {
                pending[i].drain(..upto);
            }
        }
        if timed_out {
            result.exit_code = None;
        }
        result.duration = started.elapsed();
        Ok(result)
    }

    /// Writes raw input to the shell's standard input (for a command that reads it).
    pub async fn write_input(&mut self, data: &[u8]) -> Result<(), crate::Error> {
        let lost = |source| crate::Error::Stream {
            action: "write to the session's shell",
            source,
        };
        self.input.write_all(data).await.map_err(lost)?;
        self.input.flush().await.map_err(lost)
    }

    /// Kills what the shell started, leaving the shell.
    async fn kill_children(&self) {
        let Ok(state) = self.sandbox.engine.exec_inspect(&self.exec).await else {
            return;
        };
        // Only a running shell's pid is its own: once it exited, the number may be reused.
        if let (crate::engine::ExecPhase::Running, Some(shell)) = (state.phase, state.pid) {
            let mut tree = self
                .sandbox
                .in_sandbox(crate::procs::tree(shell, &crate::procs::process_table()));
            tree.retain(|p| *p != shell);
            crate::procs::kill_on_host(&tree);
        }
    }

    /// Ends the shell and every process of the session, and unregisters it.
    pub async fn close(mut self, registry: Option<&StateStore>) -> Result<(), crate::Error> {
        if !self.ended {
            let _ = self.input.write_all(b"exit 0\n").await;
            let _ = self.input.shutdown().await;
            let drained = tokio::time::timeout(Duration::from_secs(2), async {
                while self.output.next_chunk().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                self.kill_children().await;
            }
        }
        let swept = match sweep(&self.sandbox, &self.id).await {
            // The sandbox was removed or stopped under the session (`delete`, `reset`, a
            // recreate): its processes ended with it, and there is nothing left to sweep.
            Err(e) if self.sandbox.is_gone_or_stopped(&e).await => Ok(0),
            other => other,
        };
        let event = Event::new(Source::Session, "close")
            .object("Sandbox", self.sandbox.name().to_string())
            .detail(serde_json::json!({ "session": self.id }));
        let event = match &swept {
            Ok(_) => event,
            Err(e) => event.failed(e.category().as_str(), e.to_string()),
        };
        crate::store::record_or_warn(registry, &event);
        if let Some(store) = registry {
            let _ = store.touch_activity(self.sandbox.name());
        }
        swept?;
        if let Some(store) = registry {
            let _ = store.forget_session(&self.id);
        }
        Ok(())
    }
}

/// Kills every process in `sandbox` that belongs to session `id`: from the host when it
/// can, else from inside the container. Returns how many were found from the host.
pub async fn sweep(sandbox: &Sandbox, id: &str) -> Result<usize, EngineError> {
    let entry = format!("{SESSION_ENV}={id}");
    let pids = sandbox.in_sandbox(crate::procs::with_environment(&entry));
    if !pids.is_empty() && crate::procs::kill_on_host(&pids) {
        return Ok(pids.len());
    }
    // From inside: the id is our own hex, never user input.
    let script = format!(
        "for p in /proc/[0-9]*; do if tr '\\000' '\\n' < $p/environ 2>/dev/null | grep -qx '{entry}'; then kill -9 ${{p#/proc/}} 2>/dev/null; fi; done; true"
    );
    sandbox
        .engine
        .exec_run(
            &sandbox.container,
            &ExecConfig::new(["sh", "-c", &script]),
            crate::engine::ExecOutput::new(),
            Some(Duration::from_secs(10)),
        )
        .await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_ends_a_command_only_at_a_line_start_with_its_code() {
        let m = "__pocket_dock_ab__";
        assert_eq!(
            find_marker(b"out\n\n__pocket_dock_ab__ 3\n", m, true),
            Some((4, Some(3)))
        );
        assert_eq!(
            find_marker(b"\n__pocket_dock_ab__ 0", m, true),
            None,
            "line not complete"
        );
        assert_eq!(
            find_marker(b"x __pocket_dock_ab__ 0\n", m, true),
            None,
            "not at a line start"
        );
        assert_eq!(
            find_marker(b"\n__pocket_dock_cd__ 0\n", m, true),
            None,
            "another marker"
        );
        assert_eq!(
            find_marker(b"\n__pocket_dock_ab__\n", m, false),
            Some((0, None))
        );
        assert_eq!(safe_prefix(b"abc", m), 0);
    }

    #[test]
    fn commands_are_wrapped_whole() {
        let line = wrap("echo hi", "M");
        assert_eq!(
            line,
            "{ printf '\\n%s\\n' M_begin ; echo hi\n} ; __pd=$? ; printf '\\n%s %d\\n' M \"$__pd\" ; printf '\\n%s\\n' M >&2\n"
        );
        assert_eq!(find_begin(b"\nM_begin\nout", "M"), Some(9));
        assert_ne!(random_hex(), random_hex());
        assert_eq!(random_hex().len(), 32);
    }
}
