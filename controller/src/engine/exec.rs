//! Exec sessions: create, start with attached output, inspect, and `exec_run` which does all
//! three and returns the exit code.
//!
//! Lifecycle: `Created` (made, not started) -> `Running` -> `Exited(code)`. Podman reports a
//! created and a finished exec alike (`Running: false, ExitCode: 0`) except for `CanRemove`,
//! which it sets once the process has exited; Docker leaves `ExitCode` null until then.

use std::pin::Pin;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::{Stream, StreamExt};

use super::output::{Captured, ExecOutput, OutputChunk};
use super::{Engine, EngineError, Operation, OwnedContainer, Target};

/// What to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    /// argv; never passed through a shell.
    pub cmd: Vec<String>,
    /// `KEY=VALUE` pairs added to the container's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// Attach the process's standard input (see [`Engine::exec_start_interactive`]).
    pub stdin: bool,
    /// Give the process a terminal (stdout and stderr are then one stream).
    pub tty: bool,
}

impl ExecConfig {
    pub fn new(cmd: impl IntoIterator<Item = impl Into<String>>) -> Self {
        ExecConfig {
            cmd: cmd.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExecId(String);

impl ExecId {
    pub fn new(id: impl Into<String>) -> Self {
        ExecId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ExecId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecPhase {
    Created,
    Running,
    Exited(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecState {
    pub id: ExecId,
    pub container_id: String,
    pub phase: ExecPhase,
    pub pid: Option<i64>,
    /// The exit code as reported, meaningful once the exec has run.
    pub exit_code: Option<i64>,
}

/// How an exec ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    pub exec_id: ExecId,
    pub exit_code: i64,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
}

/// An exec's standard input.
pub type ExecInput = Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

type RawStream = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// The attached output of a started exec. It ends when the process exits.
pub struct ExecStream {
    engine: Engine,
    id: ExecId,
    inner: RawStream,
}

impl std::fmt::Debug for ExecStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecStream").field("id", &self.id).finish()
    }
}

impl ExecStream {
    pub fn exec_id(&self) -> &ExecId {
        &self.id
    }

    /// The next chunk, `None` once the exec's output is closed. A broken connection is
    /// always the same error: `ConnectionLost` for `exec output stream` of this exec.
    pub async fn next_chunk(&mut self) -> Option<Result<OutputChunk, EngineError>> {
        loop {
            let chunk = match self.inner.next().await? {
                Ok(frame) => match OutputChunk::from_frame(frame) {
                    Some(chunk) => chunk,
                    None => continue,
                },
                Err(err) => return Some(Err(self.engine.stream_broken(&self.id, Some(err)))),
            };
            return Some(Ok(chunk));
        }
    }
}

impl Engine {
    pub async fn exec_create(
        &self,
        container: &OwnedContainer,
        config: &ExecConfig,
    ) -> Result<ExecId, EngineError> {
        if config.cmd.is_empty() {
            return Err(EngineError::InvalidInput {
                op: Operation::ExecCreate,
                id: Some(container.name().to_string()),
                message: "an exec needs a command".to_string(),
            });
        }
        // Variables from secrets are read from their files by a shell in front of the
        // command, as for the main process: no value enters the exec's configuration.
        let cmd = match container.secrets() {
            Some(secrets) if !secrets.env.is_empty() => {
                super::secret_files::wrap_command(&secrets.env, config.cmd.clone())
            }
            _ => config.cmd.clone(),
        };
        let options = CreateExecOptions {
            cmd: Some(cmd),
            env: (!config.env.is_empty()).then(|| config.env.clone()),
            working_dir: config.workdir.clone(),
            user: config.user.clone(),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(config.stdin),
            tty: Some(config.tty),
            ..Default::default()
        };
        let created = self
            .call(
                Operation::ExecCreate,
                Target::Container(container.id()),
                self.docker.create_exec(container.id(), options),
            )
            .await?;
        Ok(ExecId(created.id))
    }

    /// Starts an exec and attaches to its output.
    pub async fn exec_start(&self, id: &ExecId) -> Result<ExecStream, EngineError> {
        Ok(self.exec_start_interactive(id, false).await?.0)
    }

    /// Starts an exec created with `stdin` and attaches to its input and output. Closing
    /// (dropping) the input ends the process's standard input.
    pub async fn exec_start_interactive(
        &self,
        id: &ExecId,
        tty: bool,
    ) -> Result<(ExecStream, ExecInput), EngineError> {
        let options = StartExecOptions {
            detach: false,
            tty,
            output_capacity: Some(64 * 1024),
        };
        let started = self
            .call(
                Operation::ExecStart,
                Target::Exec(id.as_str()),
                self.docker.start_exec(id.as_str(), Some(options)),
            )
            .await?;
        match started {
            StartExecResults::Attached { output, input } => Ok((
                ExecStream {
                    engine: self.clone(),
                    id: id.clone(),
                    inner: output,
                },
                input,
            )),
            StartExecResults::Detached => Err(EngineError::Runtime {
                op: Operation::ExecStart,
                id: Some(id.to_string()),
                status: None,
                message: "Podman detached an exec that was started attached".to_string(),
            }),
        }
    }

    /// Tells an exec's terminal its new size.
    pub async fn exec_resize(&self, id: &ExecId, rows: u16, cols: u16) -> Result<(), EngineError> {
        let options = bollard::exec::ResizeExecOptions {
            height: rows,
            width: cols,
        };
        self.call(
            Operation::ExecResize,
            Target::Exec(id.as_str()),
            self.docker.resize_exec(id.as_str(), options),
        )
        .await
    }

    pub async fn exec_inspect(&self, id: &ExecId) -> Result<ExecState, EngineError> {
        let raw = self
            .call(
                Operation::ExecInspect,
                Target::Exec(id.as_str()),
                self.docker.inspect_exec(id.as_str()),
            )
            .await?;
        let running = raw.running.unwrap_or(false);
        let podman = self.identity().await?.is_podman();
        let phase = match (running, raw.can_remove, raw.exit_code) {
            (true, _, _) => ExecPhase::Running,
            (false, Some(true), code) => ExecPhase::Exited(code.unwrap_or(0)),
            (false, _, None) => ExecPhase::Created,
            // Docker sets the exit code only once the process has exited.
            (false, _, Some(code)) if !podman => ExecPhase::Exited(code),
            // Podman: not removable yet, so never started.
            (false, _, Some(_)) => ExecPhase::Created,
        };
        Ok(ExecState {
            id: id.clone(),
            container_id: raw.container_id.unwrap_or_default(),
            phase,
            pid: raw.pid.filter(|p| *p > 0),
            exit_code: raw.exit_code,
        })
    }

    /// Runs `config` in `container`, feeding `output`, and returns the exit code with what
    /// was captured. `timeout` bounds the whole run (`None`: no limit, by the caller's
    /// explicit choice). On timeout the client stops reading; the process itself is not
    /// killed by this call.
    pub async fn exec_run(
        &self,
        container: &OwnedContainer,
        config: &ExecConfig,
        mut output: ExecOutput,
        timeout: Option<Duration>,
    ) -> Result<ExecResult, EngineError> {
        let started = Instant::now();
        let id = self.exec_create(container, config).await?;
        let run = async {
            let mut stream = self.exec_start(&id).await?;
            self.pump(&mut stream, &mut output).await
        };
        let exit_code = match timeout {
            Some(limit) => {
                tokio::time::timeout(limit, run)
                    .await
                    .map_err(|_| EngineError::Timeout {
                        op: Operation::ExecStream,
                        id: Some(id.to_string()),
                        after: limit,
                    })??
            }
            None => run.await?,
        };
        let (stdout, stderr) = output.take_captured();
        Ok(ExecResult {
            exec_id: id,
            exit_code,
            stdout,
            stderr,
            duration: started.elapsed(),
        })
    }

    /// Feeds an exec's output to `output` until it closes; then the exit code.
    pub(crate) async fn pump(
        &self,
        stream: &mut ExecStream,
        output: &mut ExecOutput,
    ) -> Result<i64, EngineError> {
        while let Some(chunk) = stream.next_chunk().await {
            output
                .deliver(chunk?)
                .await
                .map_err(|source| EngineError::OutputSink {
                    id: stream.id.to_string(),
                    source,
                })?;
        }
        self.wait_exec_exit(&stream.id).await
    }

    /// After the output closed: the exit code, once Podman has recorded it.
    pub(crate) async fn wait_exec_exit(&self, id: &ExecId) -> Result<i64, EngineError> {
        let deadline = Instant::now() + self.timeouts.exec_exit;
        let mut pause = Duration::from_millis(2);
        loop {
            let state = match self.exec_inspect(id).await {
                Ok(state) => state,
                // The stream closing because the service died must read the same as the
                // stream breaking: one error, whichever way the socket went away.
                Err(e) if e.category() == super::Category::EngineUnreachable => {
                    return Err(self.stream_broken(id, None));
                }
                Err(e) => return Err(e),
            };
            // This exec was started, so "not running" means it has exited.
            match state.phase {
                ExecPhase::Exited(code) => return Ok(code),
                ExecPhase::Created => return Ok(state.exit_code.unwrap_or(0)),
                ExecPhase::Running => {}
            }
            if Instant::now() >= deadline {
                return Err(EngineError::Timeout {
                    op: Operation::ExecInspect,
                    id: Some(id.to_string()),
                    after: self.timeouts.exec_exit,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    pub(crate) fn stream_broken(
        &self,
        id: &ExecId,
        source: Option<bollard::errors::Error>,
    ) -> EngineError {
        EngineError::ConnectionLost {
            op: Operation::ExecStream,
            socket: self.socket.clone(),
            id: Some(id.to_string()),
            source,
        }
    }
}
