//! A container whose own process is the command, run to its end with its output attached:
//! the path of `run` without `--keep`. Attach first (so that no output is missed), start,
//! stream the output until the process ends, then ask for its exit code. No idle process
//! and no exec session: that is Podman's `run --rm`, over the API.

use futures_util::StreamExt;
use std::time::Duration;

use bollard::query_parameters::{AttachContainerOptions, WaitContainerOptions};

use super::output::{ExecOutput, OutputChunk, StreamKind};
use super::{Engine, EngineError, Operation, OwnedContainer, Target};

/// How a started-attached container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachedExit {
    /// The process ran and exited with this code.
    Exited(i64),
    /// The engine could not start the command (127: not found; 126: not executable), as a
    /// shell or `podman run` says it; the engine's message went to stderr.
    NotStarted(i64),
}

impl AttachedExit {
    pub fn code(self) -> i64 {
        match self {
            AttachedExit::Exited(code) | AttachedExit::NotStarted(code) => code,
        }
    }
}

impl Engine {
    /// Starts a created container attached to its stdout and stderr, hands every chunk to
    /// `output` as it arrives, and returns how the process ended. `limit` bounds the whole
    /// run (a timeout is [`EngineError::Timeout`]; the caller removes the container, which
    /// kills the process). A command that cannot start is an exit code, not an error.
    pub async fn start_attached(
        &self,
        container: &OwnedContainer,
        output: &mut ExecOutput,
        limit: Option<Duration>,
    ) -> Result<AttachedExit, EngineError> {
        let run = self.attach_start_and_pump(container, output);
        match limit {
            None => run.await,
            Some(limit) => {
                tokio::time::timeout(limit, run)
                    .await
                    .map_err(|_| EngineError::Timeout {
                        op: Operation::ExecStream,
                        id: Some(container.name().to_string()),
                        after: limit,
                    })?
            }
        }
    }

    async fn attach_start_and_pump(
        &self,
        container: &OwnedContainer,
        output: &mut ExecOutput,
    ) -> Result<AttachedExit, EngineError> {
        let options = AttachContainerOptions {
            stream: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        // Podman prepares the container (the runtime's create) for an attach, so a
        // command that cannot start may be refused here already, or at the start.
        let attached = self
            .call(
                Operation::ContainerAttach,
                Target::Container(container.id()),
                self.docker.attach_container(container.id(), Some(options)),
            )
            .await;
        let started = match attached {
            Ok(attached) => self.start_container(container).await.map(|()| attached),
            Err(e) => Err(e),
        };
        let mut frames = match started {
            Ok(attached) => attached.output,
            Err(e) => {
                let Some(code) = not_startable(&e) else {
                    return Err(e);
                };
                let message = format!(
                    "pocket-dock: the command could not start in the container: {}\n",
                    engine_words(&e).unwrap_or("the engine refused it")
                );
                deliver(output, container, StreamKind::Stderr, message.into_bytes()).await?;
                return Ok(AttachedExit::NotStarted(code));
            }
        };
        // The command's output and its loss or timeout read as an exec's do (`exec output
        // stream`): to the user and to scripts it is the same stream, whichever way the
        // command runs.
        let pump = async {
            while let Some(frame) = frames.next().await {
                let frame = frame.map_err(|source| EngineError::ConnectionLost {
                    op: Operation::ExecStream,
                    socket: self.socket.clone(),
                    id: Some(container.name().to_string()),
                    source: Some(source),
                })?;
                if let Some(chunk) = OutputChunk::from_frame(frame) {
                    deliver(output, container, chunk.stream, chunk.data).await?;
                }
            }
            Ok::<(), EngineError>(())
        };
        // The wait is asked while the output streams, so the exit is seen as soon as the
        // output closes, not one round trip (and one of Podman's state polls) later.
        let wait = self.wait_exit_code(container);
        tokio::pin!(pump, wait);
        let waited = tokio::select! {
            waited = &mut wait => {
                (&mut pump).await?;
                waited
            }
            pumped = &mut pump => {
                pumped?;
                // The output closed, so the process has most likely ended. Podman's wait
                // answers only once the container is cleaned up (its network torn down by
                // a helper process that conmon starts, 150-250 ms), but its state holds the
                // exit code from the moment the process ends: read it there, and the
                // removal that follows does the cleanup in the service. Still running (it
                // closed its output and went on): the wait answers.
                match self.exit_code_if_ended(container).await {
                    Some(code) => Ok(code),
                    None => wait.await,
                }
            }
        };
        match waited {
            Ok(code) => Ok(AttachedExit::Exited(code)),
            // The output closing because the service died must read the same as the stream
            // breaking: one error, whichever way the socket went away.
            Err(e) if e.category() == super::Category::EngineUnreachable => {
                Err(EngineError::ConnectionLost {
                    op: Operation::ExecStream,
                    socket: self.socket.clone(),
                    id: Some(container.name().to_string()),
                    source: None,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Kills a container's processes with SIGKILL at once. A forced removal alone gives a
    /// running container a graceful stop first on Podman 5 and Docker (SIGTERM, then 10 s),
    /// which a process that ignores SIGTERM (a PID 1 without a handler does) waits out.
    /// A container that is not running is fine.
    pub async fn kill_container(&self, container: &OwnedContainer) -> Result<(), EngineError> {
        let options = bollard::query_parameters::KillContainerOptions {
            signal: "KILL".to_string(),
        };
        match self
            .call(
                Operation::ContainerKill,
                Target::Container(container.id()),
                self.docker.kill_container(container.id(), Some(options)),
            )
            .await
        {
            // Not running (any more): nothing to kill.
            Err(EngineError::Conflict { .. }) => Ok(()),
            other => other,
        }
    }

    /// The exit code of a container whose process has ended, from its state; `None` while
    /// it runs or when the engine does not say (the wait answers then).
    async fn exit_code_if_ended(&self, container: &OwnedContainer) -> Option<i64> {
        let details = self.inspect_container(container.id()).await.ok()?;
        match details.state {
            super::ContainerState::Exited => details.exit_code,
            _ => None,
        }
    }

    /// The exit code of a started container, once its process has ended.
    async fn wait_exit_code(&self, container: &OwnedContainer) -> Result<i64, EngineError> {
        let target = Target::Container(container.id());
        if self.identity().await?.is_podman() {
            // Podman's compat wait polls the container's state every 250 ms or so; its own
            // takes the interval, and a run is short: the exit is seen within milliseconds.
            let path = format!(
                "{}/containers/{}/wait?condition=stopped&condition=exited&interval=5ms",
                super::raw::LIBPOD,
                container.id()
            );
            return self
                .raw_json(
                    Operation::ContainerWait,
                    "POST",
                    &path,
                    super::raw::RawBody::Empty,
                    target,
                    // The run's own limit bounds the wait (the caller's timeout).
                    Duration::from_secs(10 * 365 * 24 * 3600),
                )
                .await;
        }
        let options = WaitContainerOptions {
            condition: "not-running".to_string(),
        };
        let started = std::time::Instant::now();
        let answer = self
            .docker
            .wait_container(container.id(), Some(options))
            .next()
            .await;
        let result = match answer {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reads a non-zero exit as an error; it is the answer here.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(e),
            None => {
                self.record(Operation::ContainerWait, target, started, false);
                return Err(EngineError::Runtime {
                    op: Operation::ContainerWait,
                    id: Some(container.name().to_string()),
                    status: None,
                    message: "the engine closed the wait without an exit code".to_string(),
                });
            }
        };
        self.record(Operation::ContainerWait, target, started, result.is_ok());
        result.map_err(|e| self.map_error(Operation::ContainerWait, target, e))
    }
}

async fn deliver(
    output: &mut ExecOutput,
    container: &OwnedContainer,
    stream: StreamKind,
    data: impl Into<bytes::Bytes>,
) -> Result<(), EngineError> {
    output
        .deliver(OutputChunk {
            stream,
            data: data.into(),
        })
        .await
        .map_err(|source| EngineError::OutputSink {
            id: container.name().to_string(),
            source,
        })
}

/// The engine's own words in an error that carries them.
fn engine_words(e: &EngineError) -> Option<&str> {
    match e {
        EngineError::Runtime { message, .. }
        | EngineError::InvalidInput { message, .. }
        | EngineError::Conflict { message, .. } => Some(message),
        _ => None,
    }
}

/// The exit code a shell gives a command the runtime could not start: 127 when it is not
/// found, 126 when it is not executable. `None` for any other failure to start (a real
/// error). The runtimes' own words: runc and crun (Podman), and Docker's.
fn not_startable(e: &EngineError) -> Option<i64> {
    let message = engine_words(e)?.to_ascii_lowercase();
    if !(message.contains("exec") || message.contains("executable")) {
        return None;
    }
    if message.contains("not found") || message.contains("no such file or directory") {
        Some(127)
    } else if message.contains("permission denied") || message.contains("is a directory") {
        Some(126)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_failed(message: &str) -> EngineError {
        EngineError::Runtime {
            op: Operation::ContainerStart,
            id: Some("c".to_string()),
            status: Some(500),
            message: message.to_string(),
        }
    }

    #[test]
    fn a_command_that_cannot_start_reads_as_a_shell_says_it() {
        let runc = "runc: runc create failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: OCI runtime attempted to invoke a command that was not found";
        let crun = "crun: executable file `nosuch` not found in $PATH: No such file or directory: OCI runtime attempted to invoke a command that was not found";
        let docker = "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/etc\": is a directory: unknown";
        let denied = "runc: unable to start container process: exec: \"/tmp/x\": permission denied: OCI permission denied";
        assert_eq!(not_startable(&start_failed(runc)), Some(127));
        assert_eq!(not_startable(&start_failed(crun)), Some(127));
        assert_eq!(not_startable(&start_failed(docker)), Some(126));
        assert_eq!(not_startable(&start_failed(denied)), Some(126));
    }

    #[test]
    fn other_start_failures_stay_errors() {
        for message in [
            "cannot set up the network: address already in use",
            "no such file or directory: /var/lib/containers/storage/overlay",
            "",
        ] {
            assert_eq!(not_startable(&start_failed(message)), None, "{message}");
        }
    }
}
