//! `exec`: a command in a running sandbox, output streamed to any mix of sinks, exit code
//! passed through, every run recorded in the history. A timeout or an interrupt kills the
//! remote process tree, not only the client's reading of it.

use std::future::Future;
use std::time::{Duration, Instant};

use super::Sandbox;
use crate::engine::{Captured, EngineError, ExecConfig, ExecId, ExecOutput, Operation};
use crate::store::{HistoryEntry, StateStore};
use crate::timefmt::now_rfc3339;

/// What to run. `cmd` is argv: it is never joined into a shell string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    /// `KEY=VALUE` pairs added to the sandbox's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// Kill the command (and what it started) after this long.
    pub timeout: Option<Duration>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "end", content = "value")]
pub enum ExecEnd {
    Exited(i64),
    /// Killed when the timeout ran out.
    TimedOut(Duration),
    /// Killed because the caller's interrupt fired (Ctrl-C).
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct ExecReport {
    pub end: ExecEnd,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
    /// Processes killed in the sandbox (after a timeout or an interrupt).
    pub killed: usize,
}

impl ExecReport {
    pub fn exit_code(&self) -> Option<i64> {
        match self.end {
            ExecEnd::Exited(code) => Some(code),
            _ => None,
        }
    }
}

impl Sandbox {
    /// Runs `request`, feeding `output`, until it exits, its timeout runs out, or
    /// `interrupt` fires; the last two kill the remote processes. With `history`, the run
    /// is recorded (command, exit code, duration, times, output sizes).
    pub async fn exec(
        &self,
        request: &ExecRequest,
        output: ExecOutput,
        interrupt: impl Future<Output = ()>,
        history: Option<&StateStore>,
    ) -> Result<ExecReport, crate::Error> {
        let started_at = now_rfc3339();
        // Open while it runs: activity for the sandbox's `lifetime.idleTimeout`.
        let _open = history.map(|store| OpenCommand::begin(store, &self.name));
        let (report, id) = self.run_exec(request, output, interrupt).await?;
        if let Some(store) = history {
            let entry = HistoryEntry {
                sandbox: self.name.clone(),
                // A secret's value typed on the command line is recorded as its name.
                command: match self.container.secrets() {
                    Some(secrets) => crate::secrets::redact(&request.cmd, &secrets.read_values()),
                    None => request.cmd.clone(),
                },
                exit_code: report.exit_code(),
                duration_ms: i64::try_from(report.duration.as_millis()).unwrap_or(i64::MAX),
                started_at,
                finished_at: now_rfc3339(),
                stdout_bytes: report.stdout.total as i64,
                stderr_bytes: report.stderr.total as i64,
            };
            if let Err(e) = store.record_history(&entry) {
                tracing::warn!(error = %e, "could not record the command in the history");
            }
        }
        timed_out_is_an_error(report, &id)
    }

    /// The run itself (no history: it holds nothing that cannot cross threads).
    async fn run_exec(
        &self,
        request: &ExecRequest,
        mut output: ExecOutput,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(ExecReport, ExecId), crate::Error> {
        let config = ExecConfig {
            cmd: request.cmd.clone(),
            env: request.env.clone(),
            workdir: request.workdir.clone(),
            user: request.user.clone(),
            ..ExecConfig::default()
        };
        let started = Instant::now();
        let id = self.engine.exec_create(&self.container, &config).await?;
        let end = {
            let engine = &self.engine;
            let id = &id;
            let output = &mut output;
            let pump = async move {
                let mut stream = engine.exec_start(id).await?;
                engine.pump(&mut stream, output).await
            };
            let limit = async {
                match request.timeout {
                    Some(t) => tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                code = pump => ExecEnd::Exited(code?),
                () = limit => ExecEnd::TimedOut(request.timeout.unwrap_or_default()),
                () = interrupt => ExecEnd::Interrupted,
            }
        };
        let killed = match end {
            ExecEnd::Exited(_) => 0,
            _ => self.kill_exec(&id).await?,
        };
        let (stdout, stderr) = output.take_captured();
        let report = ExecReport {
            end,
            stdout,
            stderr,
            duration: started.elapsed(),
            killed,
        };
        Ok((report, id))
    }
}

/// A command open in a sandbox, as the state store knows it (`lifetime.idleTimeout` does
/// not run out under it); ended when dropped, whichever way the command ends.
pub struct OpenCommand<'a> {
    store: &'a StateStore,
    sandbox: &'a str,
    open: Option<crate::store::OpenActivity>,
}

impl<'a> OpenCommand<'a> {
    pub fn begin(store: &'a StateStore, sandbox: &'a str) -> Self {
        let open = store
            .begin_activity(sandbox)
            .map_err(|e| tracing::warn!(error = %e, "could not note the command as activity"))
            .ok();
        OpenCommand {
            store,
            sandbox,
            open,
        }
    }
}

impl Drop for OpenCommand<'_> {
    fn drop(&mut self) {
        if let Some(open) = self.open.take()
            && let Err(e) = self.store.end_activity(self.sandbox, open)
        {
            tracing::warn!(error = %e, "could not note the end of the command as activity");
        }
    }
}

/// A run whose timeout ran out is a typed timeout error (its processes were killed).
fn timed_out_is_an_error(report: ExecReport, id: &ExecId) -> Result<ExecReport, crate::Error> {
    match report.end {
        ExecEnd::TimedOut(after) => Err(EngineError::Timeout {
            op: Operation::ExecStream,
            id: Some(id.to_string()),
            after,
        }
        .into()),
        _ => Ok(report),
    }
}

/// A command started with [`Sandbox::spawn`]: its chunks as they come, its buffered output
/// and exit when it ends, and a way to stop it, all from one handle.
pub struct ExecHandle {
    chunks: Option<tokio::sync::mpsc::Receiver<crate::engine::OutputChunk>>,
    task: tokio::task::JoinHandle<Result<ExecReport, crate::Error>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ExecHandle {
    /// The next chunk of output (either stream, each in order); `None` once it ended.
    pub async fn next_chunk(&mut self) -> Option<crate::engine::OutputChunk> {
        self.chunks.as_mut()?.recv().await
    }

    /// Kills the command and everything it started in the sandbox.
    pub fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for the end: exit code and the buffered output (chunks not read are still in
    /// it; reading stops pausing the command once this is called).
    pub async fn wait(mut self) -> Result<ExecReport, crate::Error> {
        self.chunks = None;
        self.task
            .await
            .map_err(|e| crate::Error::task("the exec task", e))?
    }
}

impl Sandbox {
    /// Starts `request` in the background. Output is buffered (up to `capture_limit` bytes a
    /// stream, reported as dropped beyond), offered chunk by chunk through the handle (a
    /// bounded channel: not reading pauses the command), and logged at trace level, at once.
    pub fn spawn(&self, request: ExecRequest, capture_limit: usize) -> ExecHandle {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sandbox = self.clone();
        let task = tokio::spawn(async move {
            let output = ExecOutput::new()
                .capture_up_to(capture_limit)
                .channel(tx)
                .log();
            let stopped = async {
                if stop_rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let (report, id) = sandbox.run_exec(&request, output, stopped).await?;
            timed_out_is_an_error(report, &id)
        });
        ExecHandle {
            chunks: Some(rx),
            task,
            stop: Some(stop_tx),
        }
    }
}
